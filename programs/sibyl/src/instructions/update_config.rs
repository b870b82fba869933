use crate::{
    errors::SibylError,
    events::ConfigUpdated,
    state::{Config, ConfigParams},
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

/// What `update_config` changes; `None` keeps the current value.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct UpdateConfigArgs {
    /// New parameters (validated as a whole). They apply with `apply_config`
    /// once the current unbonding period has passed, replacing any change
    /// still waiting.
    pub params: Option<ConfigParams>,
    /// Proposes another key as authority; it takes over by signing
    /// `accept_authority`, so a mistyped key never strands governance.
    pub new_authority: Option<Pubkey>,
}

#[event_cpi]
#[derive(Accounts)]
pub struct UpdateConfig<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [Config::SEED],
        bump = config.bump,
        has_one = authority @ SibylError::NotAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
    /// A new treasury, if it changes.
    #[account(
        constraint = new_treasury.mint == config.payment_mint @ SibylError::WrongMint,
    )]
    pub new_treasury: Option<Box<InterfaceAccount<'info, TokenAccount>>>,
}

pub fn handler(ctx: Context<UpdateConfig>, args: UpdateConfigArgs) -> Result<()> {
    let config = &mut ctx.accounts.config;
    if let Some(params) = args.params {
        config.schedule_params(params, Clock::get()?.slot)?;
    }
    if let Some(authority) = args.new_authority {
        config.pending_authority = authority;
    }
    if let Some(treasury) = &ctx.accounts.new_treasury {
        config.treasury = treasury.key();
    }
    let event = ConfigUpdated {
        authority: config.authority,
        treasury: config.treasury,
        params: config.params,
        pending_params: config.pending_params,
        pending_params_slot: config.pending_params_slot,
        pending_authority: config.pending_authority,
    };
    emit_cpi!(event);
    Ok(())
}
