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
    /// New parameters (validated as a whole).
    pub params: Option<ConfigParams>,
    /// Hands governance to another key.
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
        params.validate()?;
        config.params = params;
    }
    if let Some(authority) = args.new_authority {
        config.authority = authority;
    }
    if let Some(treasury) = &ctx.accounts.new_treasury {
        config.treasury = treasury.key();
    }
    let event = ConfigUpdated {
        authority: config.authority,
        treasury: config.treasury,
        params: config.params,
    };
    emit_cpi!(event);
    Ok(())
}
