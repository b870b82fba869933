use crate::{
    callback,
    errors::SibylError,
    events::{DisputeArbitrated, OperatorSlashed},
    settlement::*,
    state::DisputeOutcome,
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct Arbitrate<'info> {
    #[account(
        constraint = authority.key() == settle.config.authority @ SibylError::NotAuthority,
    )]
    pub authority: Signer<'info>,
    pub settle: SettleDispute<'info>,
}

/// The authority decides an inconclusive dispute before its arbitration
/// deadline, to any of the three outcomes; the settlement is the same as a
/// voted one.
pub fn handler<'info>(
    ctx: Context<'info, Arbitrate<'info>>,
    outcome: DisputeOutcome,
) -> Result<()> {
    let settle = &mut ctx.accounts.settle;
    require!(
        settle.dispute.outcome == DisputeOutcome::Inconclusive,
        SibylError::DisputeNotInconclusive
    );
    require!(
        Clock::get()?.slot <= settle.dispute.arbitration_deadline_slot,
        SibylError::ArbitrationDeadlinePassed
    );
    require!(
        matches!(
            outcome,
            DisputeOutcome::OperatorUpheld
                | DisputeOutcome::ChallengerUpheld
                | DisputeOutcome::CommitmentRejected
        ),
        SibylError::InvalidArbitration
    );
    let request = settle.request.key();
    let dispute = settle.dispute.key();
    let operator = settle.operator.key();
    let (settlement, redirected) = settle.apply(outcome)?;
    emit_cpi!(DisputeArbitrated {
        request,
        dispute,
        outcome,
    });
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
    // The result is final: call the consumer, if one was named. A consumer
    // whose callback keeps failing cannot hold the decision back until the
    // deadline refunds everyone (see `Dispute::arbitration_grace_end`).
    let settle = &ctx.accounts.settle;
    let callback = callback::deliver(
        &settle.request,
        ctx.remaining_accounts,
        settle.dispute.arbitration_grace_end(),
        Clock::get()?.slot,
    )?;
    if let Some(event) = callback {
        emit_cpi!(event);
    }
    Ok(())
}
