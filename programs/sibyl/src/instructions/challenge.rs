use crate::{
    errors::SibylError,
    events::ResultChallenged,
    hashing, math,
    state::{Config, Dispute, DisputeOutcome, InferenceRequest, Model, Operator, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
#[instruction(sequence: u64, output: Vec<u8>)]
pub struct Challenge<'info> {
    #[account(mut)]
    pub challenger: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        constraint = request.status == RequestStatus::Committed @ SibylError::RequestNotCommitted,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(address = request.operator @ SibylError::WrongOperator)]
    pub operator: Box<Account<'info, Operator>>,
    #[account(address = request.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
    /// CHECK: the challenger's operator account, if it has one (its stake,
    /// which cannot vote in this dispute, leaves the eligible stake). Fixed by
    /// its seeds, so a staked challenger cannot leave it out.
    #[account(seeds = [Operator::SEED, challenger.key().as_ref()], bump)]
    pub challenger_operator: UncheckedAccount<'info>,
    /// `init_if_needed` so that a second challenge reaches the request's
    /// status check (`RequestNotCommitted`) instead of failing in the system
    /// program; the status check guarantees the account is fresh when used.
    #[account(
        init_if_needed,
        payer = challenger,
        space = Dispute::space(request.max_output_bytes),
        seeds = [Dispute::SEED, request.model.as_ref(), request.sequence.to_le_bytes().as_ref()],
        bump,
    )]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(
        mut,
        constraint = challenger_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = challenger_token.owner == challenger.key() @ SibylError::WrongTokenOwner,
    )]
    pub challenger_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.bond_vault)]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// The active stake of an operator account, or zero where the address holds
/// no operator (the seeds constraint has fixed the address).
fn operator_stake_of(account: &UncheckedAccount) -> Result<u64> {
    if account.owner != &crate::ID || account.data_is_empty() {
        return Ok(0);
    }
    let data = account.try_borrow_data()?;
    Ok(Operator::try_deserialize(&mut data.as_ref())?.stake)
}

/// Disputes a committed result inside its window, posting the bond and the
/// result the challenger believes is correct, with its whole output's
/// SHA-256.
pub fn handler(
    ctx: Context<Challenge>,
    sequence: u64,
    output: Vec<u8>,
    whole_output_sha256: [u8; 32],
) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let config = &accounts.config;
    let request = &mut accounts.request;
    // The challenger judged one instance's commitment.
    require!(
        request.is_instance(sequence),
        SibylError::RequestInstanceMismatch
    );
    require!(
        accounts.model.referee.is_none(),
        SibylError::RefereeModelUsesGame
    );
    let slot = Clock::get()?.slot;
    // Watchers without the bytes cannot judge; the window restarts in full
    // once the demanded input is written.
    require!(!request.awaiting_input(), SibylError::InputAwaitingUpload);
    // Voters must all have the bytes: a URI may serve some of them only.
    require!(
        !request.is_by_reference() || request.input_complete(),
        SibylError::InputNotOnChain
    );
    require!(
        slot <= request.challenge_deadline_slot,
        SibylError::ChallengeWindowClosed
    );
    require!(
        accounts.challenger.key() != accounts.operator.authority,
        SibylError::SelfChallenge
    );
    accounts
        .model
        .check_output(&output, request.max_output_bytes)?;
    accounts
        .model
        .check_whole_output_hash(&output, &whole_output_sha256)?;
    let challenger_output_hash =
        hashing::output_hash(&request.model_hash, &request.input_hash, &output);
    require!(
        challenger_output_hash != request.output_hash,
        SibylError::ChallengeSameOutput
    );

    let bond = config.params.challenge_bond;
    TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    }
    .transfer_from_wallet(
        &accounts.challenger_token,
        &accounts.bond_vault,
        &accounts.challenger,
        bond,
    )?;
    let vote_deadline_slot = math::add(slot, config.params.vote_window_slots)?;
    // The parties cannot vote, so their stake is not eligible; every other
    // active stake can (with the weight it holds now, at most).
    let eligible_stake = config
        .total_active_stake
        .saturating_sub(accounts.operator.stake)
        .saturating_sub(operator_stake_of(&accounts.challenger_operator)?);
    accounts.dispute.set_inner(Dispute {
        request: request.key(),
        model: request.model,
        request_sequence: request.sequence,
        operator: accounts.operator.key(),
        challenger: accounts.challenger.key(),
        bond,
        opened_slot: slot,
        vote_deadline_slot,
        eligible_stake,
        quorum_bps: config.params.quorum_bps,
        threshold_bps: config.params.threshold_bps,
        voter_reward_bps: config.params.voter_reward_bps,
        slash_bps: config.params.slash_bps,
        stake_for_operator: 0,
        stake_for_challenger: 0,
        stake_for_neither: 0,
        vote_count: 0,
        unclaimed_votes: 0,
        outcome: DisputeOutcome::Open,
        arbitration_deadline_slot: 0,
        reward_pool: 0,
        reward_stake_unclaimed: 0,
        challenger_output_hash,
        challenger_whole_output_sha256: whole_output_sha256,
        challenger_token: accounts.challenger_token.key(),
        // Revealing lasts as long as committing did.
        reveal_deadline_slot: math::add(vote_deadline_slot, config.params.vote_window_slots)?,
        stake_committed: 0,
        inconclusive_slot: 0,
        bump: ctx.bumps.dispute,
        challenger_output: output,
    });
    request.status = RequestStatus::Challenged;
    let event = ResultChallenged {
        request: request.key(),
        dispute: accounts.dispute.key(),
        challenger: accounts.challenger.key(),
        bond,
        challenger_output_hash,
        challenger_whole_output_sha256: whole_output_sha256,
        vote_deadline_slot,
        reveal_deadline_slot: accounts.dispute.reveal_deadline_slot,
        eligible_stake,
        quorum_bps: config.params.quorum_bps,
        threshold_bps: config.params.threshold_bps,
    };
    emit_cpi!(event);
    Ok(())
}
