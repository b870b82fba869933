use crate::{errors::SibylError, events::PauseChanged, state::Config};
use anchor_lang::prelude::*;

/// Accounts of `pause` and `unpause`.
#[event_cpi]
#[derive(Accounts)]
pub struct SetPaused<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [Config::SEED],
        bump = config.bump,
        has_one = authority @ SibylError::NotAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
}

/// Pausing refuses new requests, commits and registrations; challenges, votes
/// and every settlement keep working so that nobody's funds are held hostage.
pub fn handler(ctx: Context<SetPaused>, paused: bool) -> Result<()> {
    ctx.accounts.config.paused = paused;
    emit_cpi!(PauseChanged { paused });
    Ok(())
}
