use crate::{errors::BountyError, state::Bounty};
use anchor_lang::prelude::*;
use sibyl_consumer::read_final_result;

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
    /// CHECK: a Sibyl inference request; `read_final_result` checks its owner,
    /// type, status, model and age.
    pub request: UncheckedAccount<'info>,
}

/// Reads the finalized result and pays the claimant if it wins.
pub fn handler(ctx: Context<ClaimWithResult>) -> Result<()> {
    let bounty = &mut ctx.accounts.bounty;
    let result = read_final_result(
        &ctx.accounts.request,
        &bounty.model_hash,
        Some(bounty.max_age_slots),
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
        result.request,
        false,
    )?;
    Ok(())
}
