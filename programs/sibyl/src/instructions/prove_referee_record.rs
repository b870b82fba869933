use crate::{
    errors::SibylError,
    events::{RefereeGameDecided, RefereeStepProven},
    state::{GamePhase, GameSubject, Model, RefereeGame},
};
use anchor_lang::prelude::*;
use sibyl_sdk::referee::{commit, record::MAX_RECORD_BYTES};

#[event_cpi]
#[derive(Accounts)]
pub struct ProveRefereeRecord<'info> {
    /// Anyone may prove it (the party that the step will prove right has
    /// reason to).
    pub prover: Signer<'info>,
    #[account(mut, has_one = model @ SibylError::WrongModel)]
    pub game: Box<Account<'info, RefereeGame>>,
    pub model: Box<Account<'info, Model>>,
}

/// Proves the record of the node the game found (for `Outputs`, the node
/// that makes the output found) against the model's graph root, so that the
/// program knows its op, its operands and its shape.
pub fn handler(
    ctx: Context<ProveRefereeRecord>,
    record: Vec<u8>,
    proof: Vec<[u8; 32]>,
) -> Result<()> {
    let game = &mut ctx.accounts.game;
    require!(
        game.phase == GamePhase::Record,
        SibylError::RefereeWrongMove
    );
    require!(
        Clock::get()?.slot <= game.deadline_slot,
        SibylError::RefereeMoveLate
    );
    let referee = ctx
        .accounts
        .model
        .referee
        .as_ref()
        .ok_or(SibylError::NotRefereeModel)?;
    let node = match game.subject {
        GameSubject::Trace => game.item,
        GameSubject::Outputs => referee
            .output_nodes
            .get(game.item as usize)
            .map(|&node| u64::from(node))
            .ok_or(SibylError::RefereeProofInvalid)?,
    };
    require!(
        record.len() <= MAX_RECORD_BYTES
            && proof.len() == commit::depth(u64::from(referee.node_count)) as usize
            && commit::verify(commit::leaf(&record), node, &proof, &referee.graph_root),
        SibylError::RefereeProofInvalid
    );
    let advance = game.accept_record(record, Clock::get()?.slot)?;
    let event = RefereeStepProven {
        game: game.key(),
        phase: advance.phase,
        operands: 0,
    };
    emit_cpi!(event);
    if advance.decided {
        let event = RefereeGameDecided {
            game: game.key(),
            outcome: game.outcome,
            timed_out: false,
        };
        emit_cpi!(event);
    }
    Ok(())
}
