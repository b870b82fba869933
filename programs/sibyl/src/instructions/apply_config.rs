use crate::{events::ConfigParamsApplied, state::Config};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct ApplyConfig<'info> {
    /// Anyone may apply a change whose timelock has passed.
    pub cranker: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
}

/// Makes the parameters `update_config` scheduled current, once the
/// unbonding period in force when they were scheduled has passed. Requests
/// and disputes already open keep the terms they copied when they opened.
pub fn handler(ctx: Context<ApplyConfig>) -> Result<()> {
    let params = ctx
        .accounts
        .config
        .apply_pending_params(Clock::get()?.slot)?;
    emit_cpi!(ConfigParamsApplied { params });
    Ok(())
}
