use crate::{
    errors::BountyError,
    state::{Bounty, BountyNotWon},
};
use anchor_lang::prelude::*;
use sibyl_sdk::{read_final_result, verify_callback, CallbackData};

/// The accounts Sibyl passes: its callback authority (signer), the request,
/// then what the claimant named at request time: the bounty and itself.
#[derive(Accounts)]
pub struct SibylCallback<'info> {
    /// CHECK: must be Sibyl's callback authority and a signer (`verify_callback`).
    pub callback_authority: UncheckedAccount<'info>,
    /// CHECK: read with `read_final_result` (owner, type, status, model).
    pub request: UncheckedAccount<'info>,
    #[account(
        mut,
        seeds = [Bounty::SEED, bounty.sponsor.as_ref(), bounty.id.to_le_bytes().as_ref()],
        bump = bounty.bump,
    )]
    pub bounty: Account<'info, Bounty>,
    /// CHECK: paid only if it is the request's requester.
    #[account(mut)]
    pub claimant: UncheckedAccount<'info>,
}

/// Pays the claimant if the final result wins. Only a forged call fails:
/// a result that does not win is recorded and the settlement goes on, since
/// failing here would fail Sibyl's `finalize`.
pub fn handler(ctx: Context<SibylCallback>, data: CallbackData) -> Result<()> {
    let accounts = &ctx.accounts;
    verify_callback(
        &accounts.callback_authority,
        &accounts.request,
        ctx.program_id,
        &[&accounts.bounty.to_account_info(), &accounts.claimant],
    )?;
    require_keys_eq!(
        data.request,
        ctx.accounts.request.key(),
        BountyError::CallbackRequestMismatch
    );
    let bounty = &mut ctx.accounts.bounty;
    let result = read_final_result(&ctx.accounts.request, &bounty.model_hash, None)?;
    let wins = bounty.winner.is_none()
        && result.requester == ctx.accounts.claimant.key()
        && bounty.is_won_by(&result);
    if !wins {
        emit!(BountyNotWon {
            bounty: bounty.key(),
            request: ctx.accounts.request.key(),
        });
        return Ok(());
    }
    let bounty_info = bounty.to_account_info();
    bounty.pay(
        &bounty_info,
        &ctx.accounts.claimant.to_account_info(),
        ctx.accounts.request.key(),
        true,
    )?;
    Ok(())
}
