use crate::{errors::SibylError, events::AuthorityAccepted, state::Config};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct AcceptAuthority<'info> {
    /// The key `update_config` proposed.
    pub new_authority: Signer<'info>,
    #[account(
        mut,
        seeds = [Config::SEED],
        bump = config.bump,
        constraint = config.pending_authority == new_authority.key() @ SibylError::NotPendingAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
}

/// The proposed authority takes over governance (the second of two steps).
pub fn handler(ctx: Context<AcceptAuthority>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    let previous = config.authority;
    config.authority = config.pending_authority;
    config.pending_authority = Pubkey::default();
    let event = AuthorityAccepted {
        previous,
        authority: config.authority,
    };
    emit_cpi!(event);
    Ok(())
}
