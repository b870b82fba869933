use crate::{
    errors::SibylError,
    events::VoteClaimed,
    settlement::close_dispute_if_done,
    state::{Config, Dispute, Operator, Vote},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct ClaimVote<'info> {
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
    #[account(
        mut,
        close = authority,
        seeds = [Vote::SEED, dispute.key().as_ref(), operator.key().as_ref()],
        bump = vote.bump,
        has_one = dispute @ SibylError::WrongDispute,
        has_one = operator @ SibylError::WrongOperator,
    )]
    pub vote: Box<Account<'info, Vote>>,
    /// CHECK: the challenger's wallet, receives the dispute's rent when the
    /// last vote is claimed.
    #[account(mut, address = dispute.challenger @ SibylError::WrongParty)]
    pub challenger: UncheckedAccount<'info>,
    #[account(
        mut,
        constraint = authority_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = authority_token.owner == authority.key() @ SibylError::WrongTokenOwner,
    )]
    pub authority_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.bond_vault)]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// After settlement, a voter closes its vote record: a winning vote takes its
/// stake-weighted share of the forfeit, any vote frees the operator's stake
/// for withdrawal and returns the record's rent.
pub fn handler(ctx: Context<ClaimVote>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    require!(accounts.dispute.is_settled(), SibylError::DisputeNotSettled);
    let vote = &accounts.vote;
    let reward = if accounts.dispute.vote_won(vote.side) {
        accounts.dispute.take_reward_share(vote.weight)?
    } else {
        0
    };
    TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    }
    .transfer_from_vault(
        &accounts.bond_vault,
        &accounts.authority_token,
        &accounts.config,
        reward,
    )?;
    accounts.operator.open_votes = accounts
        .operator
        .open_votes
        .checked_sub(1)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    accounts.dispute.unclaimed_votes = accounts
        .dispute
        .unclaimed_votes
        .checked_sub(1)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    close_dispute_if_done(&accounts.dispute, accounts.challenger.to_account_info())?;
    let event = VoteClaimed {
        dispute: accounts.dispute.key(),
        operator: accounts.operator.key(),
        reward,
    };
    emit_cpi!(event);
    Ok(())
}
