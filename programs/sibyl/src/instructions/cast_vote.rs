use crate::{
    errors::SibylError,
    events::VoteCast,
    math,
    state::{Config, Dispute, DisputeOutcome, Operator, Vote, VoteSide},
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct CastVote<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [Operator::SEED, authority.key().as_ref()],
        bump = operator.bump,
        has_one = authority @ SibylError::WrongOperator,
    )]
    pub operator: Box<Account<'info, Operator>>,
    #[account(
        mut,
        seeds = [Dispute::SEED, dispute.model.as_ref(), dispute.request_sequence.to_le_bytes().as_ref()],
        bump = dispute.bump,
    )]
    pub dispute: Box<Account<'info, Dispute>>,
    /// Created on the first vote; an existing record means "already voted",
    /// answered with a named error rather than the system program's.
    #[account(
        init_if_needed,
        payer = authority,
        space = 8 + Vote::INIT_SPACE,
        seeds = [Vote::SEED, dispute.key().as_ref(), operator.key().as_ref()],
        bump,
    )]
    pub vote: Box<Account<'info, Vote>>,
    pub system_program: Program<'info, System>,
}

/// An eligible operator (not a party, staked before the dispute opened)
/// commits to its verdict, weighted by the stake it had bonded before the
/// dispute opened: `commitment` is `hashing::vote_commitment` of its side
/// and a secret salt, revealed with `reveal_vote` once the vote window has
/// closed.
pub fn handler(ctx: Context<CastVote>, commitment: [u8; 32]) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let dispute = &mut accounts.dispute;
    let operator = &mut accounts.operator;
    require!(accounts.vote.weight == 0, SibylError::AlreadyVoted);
    require!(
        dispute.outcome == DisputeOutcome::Open,
        SibylError::DisputeNotOpen
    );
    let slot = Clock::get()?.slot;
    require!(
        slot <= dispute.vote_deadline_slot,
        SibylError::VoteWindowClosed
    );
    // Any stake bonded before the dispute opened may vote; the dispute's
    // eligible stake is the same stake, less the parties'.
    let weight = dispute.voting_weight(&operator.key(), operator, &accounts.authority.key())?;
    dispute.stake_committed = math::add(dispute.stake_committed, weight)?;
    dispute.vote_count = dispute
        .vote_count
        .checked_add(1)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    dispute.unclaimed_votes = dispute
        .unclaimed_votes
        .checked_add(1)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    operator.open_votes = operator
        .open_votes
        .checked_add(1)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    operator.votes_cast = operator.votes_cast.saturating_add(1);
    accounts.vote.set_inner(Vote {
        dispute: dispute.key(),
        operator: operator.key(),
        commitment,
        revealed: false,
        side: VoteSide::Neither,
        weight,
        output_hash: [0; 32],
        cast_slot: slot,
        bump: ctx.bumps.vote,
    });
    let event = VoteCast {
        dispute: dispute.key(),
        operator: operator.key(),
        weight,
    };
    emit_cpi!(event);
    Ok(())
}
