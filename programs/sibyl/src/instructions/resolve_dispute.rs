use crate::{
    callback,
    errors::SibylError,
    events::{DisputeResolved, OperatorSlashed},
    math,
    settlement::*,
    state::DisputeOutcome,
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct ResolveDispute<'info> {
    /// Anyone may crank a decided dispute.
    pub cranker: Signer<'info>,
    pub settle: SettleDispute<'info>,
}

/// Settles a dispute by its revealed votes: after the reveal window, or as
/// soon as the vote window has closed and every committed vote is revealed.
/// Without a quorum or a threshold the dispute becomes inconclusive and
/// waits for arbitration until its deadline.
pub fn handler<'info>(ctx: Context<'info, ResolveDispute<'info>>) -> Result<()> {
    let settle = &mut ctx.accounts.settle;
    require!(
        settle.dispute.outcome == DisputeOutcome::Open,
        SibylError::DisputeNotOpen
    );
    let slot = Clock::get()?.slot;
    require!(
        slot > settle.dispute.vote_deadline_slot,
        SibylError::VoteWindowOpen
    );
    // Every vote may be revealed until the reveal deadline: settling before
    // would shut out (and penalize) an honest voter slower to reveal than
    // the others. Only when every committed vote is revealed can nothing
    // more come.
    require!(
        slot > settle.dispute.reveal_deadline_slot || settle.dispute.all_revealed()?,
        SibylError::VoteWindowOpen
    );
    let outcome = settle
        .dispute
        .tally(true)?
        .ok_or_else(|| error!(SibylError::VoteWindowOpen))?;

    let request = settle.request.key();
    let dispute = settle.dispute.key();
    let resolved = |arbitration_deadline_slot| DisputeResolved {
        request,
        dispute,
        outcome,
        stake_for_operator: settle.dispute.stake_for_operator,
        stake_for_challenger: settle.dispute.stake_for_challenger,
        stake_for_neither: settle.dispute.stake_for_neither,
        arbitration_deadline_slot,
    };
    if outcome == DisputeOutcome::Inconclusive {
        let deadline = math::add(slot, settle.config.params.arbitration_window_slots)?;
        let event = resolved(Some(deadline));
        settle.dispute.outcome = DisputeOutcome::Inconclusive;
        settle.dispute.inconclusive_slot = slot;
        settle.dispute.arbitration_deadline_slot = deadline;
        emit_cpi!(event);
        return Ok(());
    }
    let resolved = resolved(None);

    let operator = settle.operator.key();
    let (settlement, redirected) = settle.apply(outcome)?;
    emit_cpi!(resolved);
    for event in redirected {
        emit_cpi!(event);
    }
    if settlement.slashed() > 0 {
        emit_cpi!(OperatorSlashed {
            operator,
            dispute,
            amount: settlement.slashed(),
        });
    }
    if let Some(event) = settlement.refund_event(request, dispute) {
        emit_cpi!(event);
        return Ok(());
    }
    if let Some(event) = settlement.finalized_event(&settle.request) {
        emit_cpi!(event);
    }
    // The result is final: call the consumer, if one was named. The grace
    // period counts from the reveal deadline, which no settlement by vote
    // can come much before.
    let settle = &ctx.accounts.settle;
    let callback = callback::deliver(
        &settle.request,
        ctx.remaining_accounts,
        callback::grace_end(settle.dispute.reveal_deadline_slot),
        Clock::get()?.slot,
    )?;
    if let Some(event) = callback {
        emit_cpi!(event);
    }
    Ok(())
}
