use crate::{errors::BountyError, state::Bounty};
use anchor_lang::prelude::*;
use sibyl_sdk::InferenceRequest;

#[derive(Accounts)]
pub struct ClaimWithResult<'info> {
    #[account(mut)]
    pub claimant: Signer<'info>,
    #[account(
        mut,
        seeds = [Bounty::SEED, bounty.sponsor.as_ref(), bounty.id.to_le_bytes().as_ref()],
        bump = bounty.bump,
        constraint = bounty.winner.is_none() @ BountyError::AlreadyWon,
    )]
    pub bounty: Account<'info, Bounty>,
    /// A Sibyl inference request (Anchor checks its owner and type);
    /// `final_result_no_older_than` checks its status, model and age.
    pub request: Box<Account<'info, InferenceRequest>>,
}

/// Reads the finalized result and pays the claimant if it wins.
pub fn handler(ctx: Context<ClaimWithResult>) -> Result<()> {
    let bounty = &mut ctx.accounts.bounty;
    let result = ctx.accounts.request.final_result_no_older_than(
        &Clock::get()?,
        bounty.max_age_slots,
        &bounty.model_hash,
    )?;
    require_keys_eq!(
        result.requester,
        ctx.accounts.claimant.key(),
        BountyError::ClaimantNotRequester
    );
    require!(bounty.is_won_by(&result), BountyError::NotTargetDigit);
    let bounty_info = bounty.to_account_info();
    bounty.pay(
        &bounty_info,
        &ctx.accounts.claimant.to_account_info(),
        ctx.accounts.request.key(),
        false,
    )?;
    Ok(())
}
