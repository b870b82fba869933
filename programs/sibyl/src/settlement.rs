//! Money movements shared by the instructions that settle a request or a
//! dispute, so that every path pays and refunds the same way.
use crate::{
    errors::SibylError,
    events::{PayoutRedirected, RequestFinalized, WrongCommitmentRefunded},
    math::{self, FeeSplit},
    request_signer_seeds,
    state::{Config, Dispute, DisputeOutcome, InferenceRequest, Model, Operator, RequestStatus},
    token_ops::{payout_account, TokenCtx},
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use core::cell::RefCell;

/// Where one settlement pays each party: the token account recorded for it
/// (when the request was made, the operator or model registered, the
/// challenge posted), so that nobody can make a cranker pay for accounts or
/// steer a payment elsewhere. A recorded account that can no longer take a
/// payment sends that party's share to the model's fee vault, so that no
/// party can block a settlement others wait on.
pub struct Payouts<'info> {
    request: Pubkey,
    fee_vault: InterfaceAccount<'info, TokenAccount>,
    redirected: RefCell<Vec<PayoutRedirected>>,
}

impl<'info> Payouts<'info> {
    pub fn new(request: Pubkey, fee_vault: &InterfaceAccount<'info, TokenAccount>) -> Self {
        Payouts {
            request,
            fee_vault: fee_vault.clone(),
            redirected: RefCell::new(Vec::new()),
        }
    }

    /// The account to pay `party`'s share into: `recorded`, or the fee vault.
    pub fn to(&self, recorded: &AccountInfo<'info>, party: Pubkey) -> AccountInfo<'info> {
        let (account, redirected) = payout_account(recorded, &party, &self.fee_vault);
        let mut events = self.redirected.borrow_mut();
        if redirected && !events.iter().any(|event| event.account == recorded.key()) {
            events.push(PayoutRedirected {
                request: self.request,
                party,
                account: recorded.key(),
            });
        }
        account
    }

    /// The events of the payouts that went to the fee vault.
    pub fn redirected(self) -> Vec<PayoutRedirected> {
        self.redirected.into_inner()
    }
}

/// A request's escrow and what is needed to empty and close it.
pub struct Escrow<'a, 'info> {
    pub request: &'a Account<'info, InferenceRequest>,
    pub escrow: &'a InterfaceAccount<'info, TokenAccount>,
    pub tokens: TokenCtx<'a, 'info>,
    /// The requester's wallet: it paid the escrow's rent and gets it back.
    pub rent_receiver: AccountInfo<'info>,
}

impl<'info> Escrow<'_, 'info> {
    /// Pays the fee out (protocol fee into the model's fee vault, royalty,
    /// the rest to `payee`) and closes the escrow. Tokens anyone sent to the
    /// escrow beyond the fee go to `payee` too: a token account with a balance
    /// cannot be closed, so an exit that left them would revert forever.
    pub fn pay_fee(
        &self,
        payee: &AccountInfo<'info>,
        publisher: &AccountInfo<'info>,
        fee_vault: &InterfaceAccount<'info, TokenAccount>,
    ) -> Result<FeeSplit> {
        let split = math::split_fee(
            self.request.fee,
            self.request.protocol_fee_bps,
            self.request.royalty_bps,
        )?;
        let donated = self.donated()?;
        self.release(fee_vault, split.protocol_fee)?;
        self.release(publisher, split.royalty)?;
        self.release(payee, math::add(split.payee, donated)?)?;
        self.close()?;
        Ok(split)
    }

    /// Returns everything the escrow holds (the fee, and whatever anyone sent
    /// to it) to the requester and closes the escrow.
    pub fn refund(&self, requester_token: &impl ToAccountInfo<'info>) -> Result<u64> {
        let held = self.escrow.amount;
        self.release(requester_token, held)?;
        self.close()?;
        Ok(held)
    }

    /// What the escrow holds beyond the fee. Only the request PDA can move
    /// tokens out (the payment mint has no permanent delegate), so the escrow
    /// never holds less than the fee.
    fn donated(&self) -> Result<u64> {
        math::sub(self.escrow.amount, self.request.fee)
    }

    fn release(&self, to: &impl ToAccountInfo<'info>, amount: u64) -> Result<()> {
        let nonce = self.request.nonce.to_le_bytes();
        let seeds = request_signer_seeds!(self.request, nonce);
        self.tokens.transfer_signed(
            self.escrow,
            to,
            self.request.to_account_info(),
            &[&seeds],
            amount,
        )
    }

    fn close(&self) -> Result<()> {
        let nonce = self.request.nonce.to_le_bytes();
        let seeds = request_signer_seeds!(self.request, nonce);
        self.tokens.close_signed(
            self.escrow,
            self.rent_receiver.clone(),
            self.request.to_account_info(),
            &[&seeds],
        )
    }
}

/// Every account a dispute's settlement may touch, whichever side wins.
/// Shared by `resolve_dispute` (the votes decide) and `arbitrate` (the
/// authority decides).
#[derive(Accounts)]
pub struct SettleDispute<'info> {
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        constraint = request.status == RequestStatus::Challenged @ SibylError::RequestNotChallenged,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(
        mut,
        seeds = [crate::constants::ESCROW_SEED, request.key().as_ref()],
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
    #[account(address = request.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
    /// CHECK: the requester's wallet, receives the escrow's rent.
    #[account(mut, address = request.requester @ SibylError::WrongParty)]
    pub requester: UncheckedAccount<'info>,
    /// CHECK: the challenger's wallet, receives the dispute's rent.
    #[account(mut, address = dispute.challenger @ SibylError::WrongParty)]
    pub challenger: UncheckedAccount<'info>,
    // The payout accounts recorded for each party, checked when paid (see
    // `Payouts`). `dup`: one party may hold several roles (a publisher that
    // is also the operator or the challenger), so they may coincide; Sibyl
    // only moves tokens into them by CPI and never writes them itself.
    /// CHECK: the operator's recorded payout account.
    #[account(mut, dup, address = operator.payout_token @ SibylError::WrongPayoutAccount)]
    pub operator_token: UncheckedAccount<'info>,
    /// CHECK: the challenger's recorded payout account.
    #[account(mut, dup, address = dispute.challenger_token @ SibylError::WrongPayoutAccount)]
    pub challenger_token: UncheckedAccount<'info>,
    /// CHECK: the request's recorded refund account, refunded when the
    /// commitment is rejected and no output confirmed.
    #[account(mut, dup, address = request.refund_token @ SibylError::WrongPayoutAccount)]
    pub requester_token: UncheckedAccount<'info>,
    /// CHECK: the model's recorded royalty account.
    #[account(mut, dup, address = model.payout_token @ SibylError::WrongPayoutAccount)]
    pub publisher_token: UncheckedAccount<'info>,
    /// The model's protocol-fee vault.
    #[account(
        mut,
        seeds = [crate::constants::FEE_VAULT_SEED, model.key().as_ref()],
        bump = model.fee_vault_bump,
    )]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.stake_vault)]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.bond_vault)]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// What a decided dispute did, for its events.
pub enum DisputeSettlement {
    /// An output is final and the fee was paid to its author.
    Paid {
        /// Whose output became final: the operator's or the challenger's authority.
        payee: Pubkey,
        fee: FeeSplit,
        /// Stake taken from the operator (zero when it was upheld).
        slashed: u64,
    },
    /// The commitment was rejected and no output confirmed: the requester
    /// was refunded and the request closed.
    Refunded { refunded: u64, slashed: u64 },
}

impl DisputeSettlement {
    /// The event of a final output paid for, if one was.
    pub fn finalized_event(&self, request: &Account<InferenceRequest>) -> Option<RequestFinalized> {
        let DisputeSettlement::Paid { payee, fee, .. } = *self else {
            return None;
        };
        Some(RequestFinalized {
            request: request.key(),
            payee,
            output_hash: request.output_hash,
            payee_amount: fee.payee,
            royalty: fee.royalty,
            protocol_fee: fee.protocol_fee,
            overturned: request.status == RequestStatus::Overturned,
        })
    }

    /// The event of the requester's refund, if the commitment was rejected.
    pub fn refund_event(
        &self,
        request: Pubkey,
        dispute: Pubkey,
    ) -> Option<WrongCommitmentRefunded> {
        let DisputeSettlement::Refunded { refunded, .. } = *self else {
            return None;
        };
        Some(WrongCommitmentRefunded {
            request,
            dispute,
            refunded,
        })
    }

    /// Stake taken from the operator.
    pub fn slashed(&self) -> u64 {
        match *self {
            DisputeSettlement::Paid { slashed, .. }
            | DisputeSettlement::Refunded { slashed, .. } => slashed,
        }
    }
}

impl<'info> SettleDispute<'info> {
    /// Applies a decided outcome: forfeits the loser's bond or slashes the
    /// operator, reserves the winning voters' share, pays the fee to the
    /// author of the output that stands (or refunds the requester when none
    /// does), and closes what is no longer needed. Also returns the payouts
    /// that went to the fee vault.
    pub fn apply(
        &mut self,
        outcome: DisputeOutcome,
    ) -> Result<(DisputeSettlement, Vec<PayoutRedirected>)> {
        let payouts = Payouts::new(self.request.key(), &self.fee_vault);
        let (publisher_token, publisher_party) =
            (self.publisher_token.to_account_info(), self.model.publisher);
        let publisher = || payouts.to(&publisher_token, publisher_party);
        let settlement = match outcome {
            DisputeOutcome::OperatorUpheld => {
                // The bond is forfeited: the voters' share stays in the bond
                // vault as their pool, the rest goes to the operator.
                let operator_token =
                    payouts.to(&self.operator_token, self.operator.payout_authority);
                let bond = self.dispute.bond;
                let pool = self.dispute.reserve_voter_rewards(bond, outcome)?;
                self.tokens().transfer_from_vault(
                    &self.bond_vault,
                    &operator_token,
                    &self.config,
                    math::sub(bond, pool)?,
                )?;
                let operator = &mut self.operator;
                operator.disputes_won = operator.disputes_won.saturating_add(1);
                operator.requests_served = operator.requests_served.saturating_add(1);
                self.request.status = RequestStatus::Finalized;
                let fee = self
                    .escrow()
                    .pay_fee(&operator_token, &publisher(), &self.fee_vault)?;
                DisputeSettlement::Paid {
                    payee: self.operator.payout_authority,
                    fee,
                    slashed: 0,
                }
            }
            DisputeOutcome::ChallengerUpheld => {
                let challenger_token = payouts.to(&self.challenger_token, self.dispute.challenger);
                let (slashed, rest) = self.slash_operator(outcome)?;
                self.tokens().transfer_from_vault(
                    &self.stake_vault,
                    &challenger_token,
                    &self.config,
                    rest,
                )?;
                self.return_bond(&challenger_token)?;
                self.request.output = self.dispute.challenger_output.clone();
                self.request.output_hash = self.dispute.challenger_output_hash;
                self.request.whole_output_sha256 = self.dispute.challenger_whole_output_sha256;
                self.request.status = RequestStatus::Overturned;
                let fee =
                    self.escrow()
                        .pay_fee(&challenger_token, &publisher(), &self.fee_vault)?;
                DisputeSettlement::Paid {
                    payee: self.dispute.challenger,
                    fee,
                    slashed,
                }
            }
            DisputeOutcome::CommitmentRejected => {
                // Nobody's output is confirmed, so nobody who posted one
                // profits from the slash: beyond the voters' share it goes
                // to the protocol (the model's fee vault). A decoy that
                // shares the operator's purse cannot win it back.
                let challenger_token = payouts.to(&self.challenger_token, self.dispute.challenger);
                let requester_token = payouts.to(&self.requester_token, self.request.requester);
                let (slashed, rest) = self.slash_operator(outcome)?;
                self.tokens().transfer_from_vault(
                    &self.stake_vault,
                    &*self.fee_vault,
                    &self.config,
                    rest,
                )?;
                self.return_bond(&challenger_token)?;
                let refunded = self.escrow().refund(&requester_token)?;
                self.request.close(self.requester.to_account_info())?;
                DisputeSettlement::Refunded { refunded, slashed }
            }
            _ => return err!(SibylError::InvalidArbitration),
        };
        self.operator.close_commitment()?;
        self.dispute.outcome = outcome;
        close_dispute_if_done(&self.dispute, self.challenger.to_account_info())?;
        Ok((settlement, payouts.redirected()))
    }

    /// Takes `slash_bps` of the operator's stake and moves the voters'
    /// share into the bond vault as their pool; returns the amount slashed
    /// and what is left of it in the stake vault.
    fn slash_operator(&mut self, outcome: DisputeOutcome) -> Result<(u64, u64)> {
        let (amount, from_active) = self.operator.slash(self.dispute.slash_bps)?;
        self.config.remove_active_stake(from_active)?;
        self.operator.disputes_lost = self.operator.disputes_lost.saturating_add(1);
        let pool = self.dispute.reserve_voter_rewards(amount, outcome)?;
        self.tokens().transfer_from_vault(
            &self.stake_vault,
            &*self.bond_vault,
            &self.config,
            pool,
        )?;
        Ok((amount, math::sub(amount, pool)?))
    }

    /// The challenger was right that the commitment was wrong: its bond
    /// comes back.
    fn return_bond(&self, challenger_token: &AccountInfo<'info>) -> Result<()> {
        self.tokens().transfer_from_vault(
            &self.bond_vault,
            challenger_token,
            &self.config,
            self.dispute.bond,
        )
    }

    fn tokens(&self) -> TokenCtx<'_, 'info> {
        TokenCtx {
            mint: &self.mint,
            token_program: &self.token_program,
        }
    }

    fn escrow(&self) -> Escrow<'_, 'info> {
        Escrow {
            request: &self.request,
            escrow: &self.escrow,
            tokens: self.tokens(),
            rent_receiver: self.requester.to_account_info(),
        }
    }
}

/// Closes a settled dispute once no vote record needs it any more; its rent
/// returns to the challenger who paid it.
pub fn close_dispute_if_done<'info>(
    dispute: &Account<'info, Dispute>,
    challenger: AccountInfo<'info>,
) -> Result<()> {
    if dispute.is_settled() && dispute.unclaimed_votes == 0 {
        dispute.close(challenger)?;
    }
    Ok(())
}
