use crate::{
    errors::SibylError,
    events::ResultChallenged,
    hashing, math,
    state::{Config, Dispute, DisputeOutcome, InferenceRequest, Operator, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
#[instruction(output: Vec<u8>)]
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
    /// `init_if_needed` so that a second challenge reaches the request's
    /// status check (`RequestNotCommitted`) instead of failing in the system
    /// program; the status check guarantees the account is fresh when used.
    #[account(
        init_if_needed,
        payer = challenger,
        space = Dispute::space(request.max_output_bytes),
        seeds = [Dispute::SEED, request.key().as_ref()],
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

/// Disputes a committed result inside its window, posting the bond and the
/// output the challenger believes is correct.
pub fn handler(ctx: Context<Challenge>, output: Vec<u8>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let config = &accounts.config;
    let request = &mut accounts.request;
    let slot = Clock::get()?.slot;
    require!(
        slot <= request.challenge_deadline_slot,
        SibylError::ChallengeWindowClosed
    );
    require!(
        accounts.challenger.key() != accounts.operator.authority,
        SibylError::SelfChallenge
    );
    require!(!output.is_empty(), SibylError::EmptyOutput);
    require!(
        output.len() <= request.max_output_bytes as usize,
        SibylError::OutputTooLarge
    );
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
    // The committing operator cannot vote, so its stake is not eligible.
    let eligible_stake = config
        .total_active_stake
        .saturating_sub(accounts.operator.stake);
    accounts.dispute.set_inner(Dispute {
        request: request.key(),
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
        vote_count: 0,
        unclaimed_votes: 0,
        outcome: DisputeOutcome::Open,
        arbitration_deadline_slot: 0,
        reward_pool: 0,
        reward_stake_unclaimed: 0,
        challenger_output_hash,
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
        vote_deadline_slot,
    };
    emit_cpi!(event);
    Ok(())
}
