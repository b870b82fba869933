use crate::{
    constants::ESCROW_SEED,
    errors::SibylError,
    events::ArbitrationExpired,
    settlement::{close_dispute_if_done, Escrow},
    state::{Config, Dispute, DisputeOutcome, InferenceRequest, Operator, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct ExpireArbitration<'info> {
    /// Anyone may crank an unarbitrated dispute past its deadline.
    pub cranker: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = requester,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        constraint = request.status == RequestStatus::Challenged @ SibylError::RequestNotChallenged,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(
        mut,
        seeds = [ESCROW_SEED, request.key().as_ref()],
        bump = request.escrow_bump,
    )]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        seeds = [Dispute::SEED, request.model.as_ref(), request.sequence.to_le_bytes().as_ref()],
        bump = dispute.bump,
        has_one = request @ SibylError::WrongDispute,
        has_one = operator @ SibylError::WrongOperator,
    )]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(mut)]
    pub operator: Box<Account<'info, Operator>>,
    /// CHECK: the requester's wallet, receives the rent of the request and escrow.
    #[account(mut, address = request.requester @ SibylError::WrongParty)]
    pub requester: UncheckedAccount<'info>,
    /// CHECK: the challenger's wallet, receives the dispute's rent.
    #[account(mut, address = dispute.challenger @ SibylError::WrongParty)]
    pub challenger: UncheckedAccount<'info>,
    // `dup`: one party may hold several roles (a publisher that is also the
    // operator or the challenger), so payees' token accounts may coincide;
    // Sibyl only moves tokens into them by CPI and never writes them itself.
    #[account(
        mut,
        dup,
        constraint = requester_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = requester_token.owner == request.requester @ SibylError::WrongTokenOwner,
    )]
    pub requester_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        dup,
        constraint = challenger_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = challenger_token.owner == dispute.challenger @ SibylError::WrongTokenOwner,
    )]
    pub challenger_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.bond_vault)]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Nobody decided: the requester gets the fee back, the challenger its bond,
/// and nobody is slashed.
pub fn handler(ctx: Context<ExpireArbitration>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    require!(
        accounts.dispute.outcome == DisputeOutcome::Inconclusive,
        SibylError::DisputeNotInconclusive
    );
    require!(
        Clock::get()?.slot > accounts.dispute.arbitration_deadline_slot,
        SibylError::ArbitrationDeadlineNotReached
    );
    let tokens = TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    };
    tokens.transfer_from_vault(
        &accounts.bond_vault,
        &accounts.challenger_token,
        &accounts.config,
        accounts.dispute.bond,
    )?;
    let refunded = Escrow {
        request: &accounts.request,
        escrow: &accounts.escrow,
        tokens,
        rent_receiver: accounts.requester.to_account_info(),
    }
    .refund(&accounts.requester_token)?;
    accounts.operator.close_commitment()?;
    accounts.dispute.outcome = DisputeOutcome::Refunded;
    close_dispute_if_done(&accounts.dispute, accounts.challenger.to_account_info())?;
    let event = ArbitrationExpired {
        request: accounts.request.key(),
        dispute: accounts.dispute.key(),
        refunded,
    };
    emit_cpi!(event);
    Ok(())
}
