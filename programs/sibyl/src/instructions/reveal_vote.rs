use crate::{
    errors::SibylError,
    events::VoteRevealed,
    hashing,
    state::{Dispute, DisputeOutcome, Vote, VoteSide},
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct RevealVote<'info> {
    /// Anyone who knows the side and the salt may reveal (the voter's node,
    /// usually); the commitment binds them to the voter.
    pub revealer: Signer<'info>,
    #[account(
        mut,
        seeds = [Dispute::SEED, dispute.model.as_ref(), dispute.request_sequence.to_le_bytes().as_ref()],
        bump = dispute.bump,
    )]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(
        mut,
        seeds = [Vote::SEED, dispute.key().as_ref(), vote.operator.as_ref()],
        bump = vote.bump,
        has_one = dispute @ SibylError::WrongDispute,
    )]
    pub vote: Box<Account<'info, Vote>>,
}

/// After the vote window and until the reveal deadline, a committed vote is
/// opened: its side and salt must hash to its commitment, and its weight
/// then counts for that side.
pub fn handler(
    ctx: Context<RevealVote>,
    side: VoteSide,
    salt: [u8; 32],
    output_hash: [u8; 32],
) -> Result<()> {
    let dispute = &mut ctx.accounts.dispute;
    let vote = &mut ctx.accounts.vote;
    require!(
        dispute.outcome == DisputeOutcome::Open,
        SibylError::DisputeNotOpen
    );
    let slot = Clock::get()?.slot;
    require!(
        slot > dispute.vote_deadline_slot,
        SibylError::RevealWindowNotOpen
    );
    require!(
        slot <= dispute.reveal_deadline_slot,
        SibylError::RevealWindowClosed
    );
    require!(vote.weight > 0, SibylError::NoVoteCommitted);
    require!(!vote.revealed, SibylError::AlreadyRevealed);
    require!(
        hashing::vote_commitment(&dispute.key(), &vote.operator, side, &salt) == vote.commitment,
        SibylError::CommitmentMismatch
    );
    dispute.count_vote(side, vote.weight)?;
    vote.revealed = true;
    vote.side = side;
    vote.output_hash = output_hash;
    let event = VoteRevealed {
        dispute: dispute.key(),
        operator: vote.operator,
        side,
        weight: vote.weight,
    };
    emit_cpi!(event);
    Ok(())
}
