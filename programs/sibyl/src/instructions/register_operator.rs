use crate::{
    errors::SibylError,
    events::OperatorRegistered,
    state::{Config, Operator},
    token_ops::{payout_owner, TokenCtx},
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct RegisterOperator<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        init,
        payer = authority,
        space = 8 + Operator::INIT_SPACE,
        seeds = [Operator::SEED, authority.key().as_ref()],
        bump,
    )]
    pub operator: Box<Account<'info, Operator>>,
    /// Pays the stake.
    #[account(
        mut,
        constraint = authority_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = authority_token.owner == authority.key() @ SibylError::WrongTokenOwner,
    )]
    pub authority_token: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The wallet the operator is paid to: the node key itself, or another
    /// wallet, which signs to consent (no one can make a wallet an
    /// operator's payout wallet, and so a party to its disputes, unasked).
    pub payout_authority: Signer<'info>,
    /// Where settlements pay the operator and withdrawn stake goes.
    #[account(
        constraint = payout_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = payout_token.owner == payout_authority.key() @ SibylError::WrongTokenOwner,
    )]
    pub payout_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.stake_vault)]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<RegisterOperator>, stake: u64) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    accounts.config.require_not_paused()?;
    require!(
        stake >= accounts.config.params.min_operator_stake,
        SibylError::StakeBelowMinimum
    );
    TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    }
    .transfer_from_wallet(
        &accounts.authority_token,
        &accounts.stake_vault,
        &accounts.authority,
        stake,
    )?;
    let payout_authority = payout_owner(
        &accounts.payout_token,
        &accounts.config.payment_mint,
        accounts.token_program.key,
    )?;
    accounts.config.add_active_stake(stake)?;
    let slot = Clock::get()?.slot;
    accounts.operator.set_inner(Operator {
        authority: accounts.authority.key(),
        stake: 0,
        pending_unstake: 0,
        unstake_unlock_slot: 0,
        open_commitments: 0,
        open_votes: 0,
        requests_served: 0,
        disputes_won: 0,
        disputes_lost: 0,
        votes_cast: 0,
        registered_slot: slot,
        stake_increases: Default::default(),
        payout_token: accounts.payout_token.key(),
        payout_authority,
        bump: ctx.bumps.operator,
        output_url: String::new(),
    });
    accounts.operator.add_stake(slot, stake)?;
    let event = OperatorRegistered {
        operator: accounts.operator.key(),
        authority: accounts.authority.key(),
        payout_authority,
        payout_token: accounts.payout_token.key(),
        stake,
    };
    emit_cpi!(event);
    Ok(())
}
