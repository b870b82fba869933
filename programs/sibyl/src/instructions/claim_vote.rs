use crate::{
    constants::{FEE_VAULT_SEED, VOTE_PENALTY_BPS},
    errors::SibylError,
    events::VoteClaimed,
    math,
    settlement::{close_dispute_if_done, Payouts},
    state::{Config, Dispute, Model, Operator, Vote},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct ClaimVote<'info> {
    /// Anyone may claim a settled vote: what it earns goes to the voter's
    /// payout account and the record's rent to the voter, so the crank can
    /// close every vote, and a voter cannot dodge a penalty by never
    /// claiming.
    pub claimer: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(mut, address = vote.operator @ SibylError::WrongOperator)]
    pub operator: Box<Account<'info, Operator>>,
    /// CHECK: the voter's wallet, which paid the vote record's rent.
    #[account(mut, address = operator.authority @ SibylError::WrongParty)]
    pub voter: UncheckedAccount<'info>,
    #[account(
        mut,
        seeds = [Dispute::SEED, dispute.model.as_ref(), dispute.request_sequence.to_le_bytes().as_ref()],
        bump = dispute.bump,
    )]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(
        mut,
        close = voter,
        seeds = [Vote::SEED, dispute.key().as_ref(), vote.operator.as_ref()],
        bump = vote.bump,
        has_one = dispute @ SibylError::WrongDispute,
    )]
    pub vote: Box<Account<'info, Vote>>,
    /// CHECK: the challenger's wallet, receives the dispute's rent when the
    /// last vote is claimed.
    #[account(mut, address = dispute.challenger @ SibylError::WrongParty)]
    pub challenger: UncheckedAccount<'info>,
    /// CHECK: the voter's recorded payout account, checked when paid (see
    /// `Payouts`).
    #[account(mut, address = operator.payout_token @ SibylError::WrongPayoutAccount)]
    pub voter_token: UncheckedAccount<'info>,
    #[account(address = dispute.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
    /// The model's protocol-fee vault: takes penalties, and a reward whose
    /// payout account can no longer.
    #[account(mut, seeds = [FEE_VAULT_SEED, model.key().as_ref()], bump = model.fee_vault_bump)]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.stake_vault)]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.bond_vault)]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// After settlement, closes a vote record: a winning revealed vote takes its
/// stake-weighted share of the forfeit; a vote never revealed, or revealed
/// for a side the decided outcome went against, costs its operator
/// `VOTE_PENALTY_BPS` of its weight (to the model's fee vault); every vote
/// frees the operator's stake for withdrawal and returns the record's rent.
pub fn handler(ctx: Context<ClaimVote>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    require!(accounts.dispute.is_settled(), SibylError::DisputeNotSettled);
    let vote = &accounts.vote;
    let tokens = TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    };
    let won = vote.revealed && accounts.dispute.vote_won(vote.side);
    let reward = if won {
        accounts.dispute.take_reward_share(vote.weight)?
    } else {
        0
    };
    let payouts = Payouts::new(accounts.dispute.request, &accounts.fee_vault);
    let voter_token = payouts.to(&accounts.voter_token, accounts.operator.payout_authority);
    tokens.transfer_from_vault(&accounts.bond_vault, &voter_token, &accounts.config, reward)?;
    let penalty = if vote.is_penalized(&accounts.dispute) {
        let (taken, from_active) = accounts
            .operator
            .take_stake(math::bps_of(vote.weight, VOTE_PENALTY_BPS)?)?;
        accounts.config.remove_active_stake(from_active)?;
        tokens.transfer_from_vault(
            &accounts.stake_vault,
            &*accounts.fee_vault,
            &accounts.config,
            taken,
        )?;
        taken
    } else {
        0
    };
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
        penalty,
    };
    emit_cpi!(event);
    for event in payouts.redirected() {
        emit_cpi!(event);
    }
    Ok(())
}
