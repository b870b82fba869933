use crate::{
    constants::{ESCROW_SEED, FEE_VAULT_SEED},
    errors::SibylError,
    events::RequestVoided,
    settlement::{Escrow, Payouts},
    state::{Config, InferenceRequest, Model, Operator, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct VoidRequest<'info> {
    /// Anyone may crank a void.
    pub cranker: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = requester,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(
        mut,
        seeds = [ESCROW_SEED, request.key().as_ref()],
        bump = request.escrow_bump,
    )]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The operator that committed, when one did: its open commitment is
    /// dropped. Required for a committed request.
    #[account(mut, address = request.operator @ SibylError::WrongOperator)]
    pub operator: Option<Box<Account<'info, Operator>>>,
    /// CHECK: the requester's wallet, receives the rent of both closed accounts.
    #[account(mut, address = request.requester @ SibylError::WrongParty)]
    pub requester: UncheckedAccount<'info>,
    /// CHECK: the request's recorded refund account, checked when paid (see
    /// `Payouts`).
    #[account(mut, address = request.refund_token @ SibylError::WrongPayoutAccount)]
    pub requester_token: UncheckedAccount<'info>,
    #[account(address = request.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
    /// The model's protocol-fee vault: takes the refund if the refund
    /// account can no longer.
    #[account(mut, seeds = [FEE_VAULT_SEED, model.key().as_ref()], bump = model.fee_vault_bump)]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// A demanded input was not written within its window. Availability was the
/// requester's to provide, and the operator may have had the real bytes, so
/// nobody is paid or slashed: the fee goes back to the requester, a
/// commitment is dropped, and both accounts close. No dispute can be open:
/// `challenge` is refused while an input is awaited.
pub fn handler(ctx: Context<VoidRequest>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    require!(
        accounts.request.is_voidable(Clock::get()?.slot),
        SibylError::NotVoidable
    );
    let dropped = match accounts.request.status {
        RequestStatus::Pending => None,
        RequestStatus::Committed => {
            let operator = accounts
                .operator
                .as_mut()
                .ok_or_else(|| error!(SibylError::WrongOperator))?;
            operator.close_commitment()?;
            Some(operator.key())
        }
        _ => return err!(SibylError::NotVoidable),
    };
    let payouts = Payouts::new(accounts.request.key(), &accounts.fee_vault);
    let requester_token = payouts.to(&accounts.requester_token, accounts.request.requester);
    let refunded = Escrow {
        request: &accounts.request,
        escrow: &accounts.escrow,
        tokens: TokenCtx {
            mint: &accounts.mint,
            token_program: &accounts.token_program,
        },
        rent_receiver: accounts.requester.to_account_info(),
    }
    .refund(&requester_token)?;
    let event = RequestVoided {
        request: accounts.request.key(),
        refunded,
        operator: dropped,
    };
    emit_cpi!(event);
    for event in payouts.redirected() {
        emit_cpi!(event);
    }
    Ok(())
}
