//! Money movements shared by the instructions that settle a request or a
//! dispute, so that every path pays and refunds the same way.
use crate::{
    errors::SibylError,
    math::{self, FeeSplit},
    request_signer_seeds,
    state::{
        Config, Dispute, DisputeOutcome, InferenceRequest, Model, Operator, RequestStatus, VoteSide,
    },
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

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
        payee: &InterfaceAccount<'info, TokenAccount>,
        publisher: &InterfaceAccount<'info, TokenAccount>,
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
    pub fn refund(&self, requester_token: &InterfaceAccount<'info, TokenAccount>) -> Result<u64> {
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

    fn release(&self, to: &InterfaceAccount<'info, TokenAccount>, amount: u64) -> Result<()> {
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
    // `dup`: one party may hold several roles (a publisher that is also the
    // operator or the challenger), so payees' token accounts may coincide;
    // Sibyl only moves tokens into them by CPI and never writes them itself.
    #[account(
        mut,
        dup,
        constraint = operator_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = operator_token.owner == operator.authority @ SibylError::WrongTokenOwner,
    )]
    pub operator_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        dup,
        constraint = challenger_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = challenger_token.owner == dispute.challenger @ SibylError::WrongTokenOwner,
    )]
    pub challenger_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        dup,
        constraint = publisher_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = publisher_token.owner == model.publisher @ SibylError::WrongTokenOwner,
    )]
    pub publisher_token: Box<InterfaceAccount<'info, TokenAccount>>,
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

/// What a decided dispute paid, for its events.
pub struct DisputeSettlement {
    /// Whose output became final: the operator's or the challenger's authority.
    pub payee: Pubkey,
    pub fee: FeeSplit,
    /// Stake taken from the operator (zero when it was upheld).
    pub slashed: u64,
}

impl<'info> SettleDispute<'info> {
    /// Applies a decided outcome: pays the fee to the side whose output
    /// stands, forfeits the loser's bond or slashes the operator, reserves the
    /// winning voters' share, and closes what is no longer needed.
    pub fn apply(&mut self, outcome: DisputeOutcome) -> Result<DisputeSettlement> {
        let winner = match outcome {
            DisputeOutcome::OperatorUpheld => VoteSide::Operator,
            DisputeOutcome::ChallengerUpheld => VoteSide::Challenger,
            _ => return err!(SibylError::InvalidArbitration),
        };
        let tokens = TokenCtx {
            mint: &self.mint,
            token_program: &self.token_program,
        };
        let dispute = &mut self.dispute;
        let operator = &mut self.operator;
        let mut slashed = 0;
        let (payee_token, payee) = match winner {
            VoteSide::Operator => {
                // The bond is forfeited: the voters' share stays in the bond
                // vault as their pool, the rest goes to the operator.
                let bond = dispute.bond;
                let pool = dispute.reserve_voter_rewards(bond, winner)?;
                tokens.transfer_from_vault(
                    &self.bond_vault,
                    &self.operator_token,
                    &self.config,
                    math::sub(bond, pool)?,
                )?;
                operator.disputes_won = operator.disputes_won.saturating_add(1);
                operator.requests_served = operator.requests_served.saturating_add(1);
                self.request.status = RequestStatus::Finalized;
                (&self.operator_token, operator.authority)
            }
            VoteSide::Challenger => {
                let (amount, from_active) = operator.slash(dispute.slash_bps)?;
                self.config.remove_active_stake(from_active)?;
                slashed = amount;
                let pool = dispute.reserve_voter_rewards(amount, winner)?;
                tokens.transfer_from_vault(
                    &self.stake_vault,
                    &self.bond_vault,
                    &self.config,
                    pool,
                )?;
                tokens.transfer_from_vault(
                    &self.stake_vault,
                    &self.challenger_token,
                    &self.config,
                    math::sub(amount, pool)?,
                )?;
                // The challenger was right: its bond comes back.
                tokens.transfer_from_vault(
                    &self.bond_vault,
                    &self.challenger_token,
                    &self.config,
                    dispute.bond,
                )?;
                operator.disputes_lost = operator.disputes_lost.saturating_add(1);
                self.request.output = dispute.challenger_output.clone();
                self.request.output_hash = dispute.challenger_output_hash;
                self.request.status = RequestStatus::Overturned;
                (&self.challenger_token, dispute.challenger)
            }
        };
        operator.close_commitment()?;
        dispute.outcome = outcome;
        let fee = Escrow {
            request: &self.request,
            escrow: &self.escrow,
            tokens,
            rent_receiver: self.requester.to_account_info(),
        }
        .pay_fee(payee_token, &self.publisher_token, &self.fee_vault)?;
        close_dispute_if_done(&self.dispute, self.challenger.to_account_info())?;
        Ok(DisputeSettlement {
            payee,
            fee,
            slashed,
        })
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
