use crate::{
    errors::SibylError,
    events::RefereeGameOpened,
    state::{
        Config, GameOutcome, GamePhase, GameSubject, InferenceRequest, Model, Operator,
        RefereeGame, RequestStatus,
    },
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use sibyl_sdk::referee::commit;

#[event_cpi]
#[derive(Accounts)]
#[instruction(sequence: u64)]
pub struct OpenRefereeGame<'info> {
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
    /// One game per challenger and request instance; any number of
    /// challengers, so that a decoy that loses on purpose cannot shield a
    /// wrong commitment from an honest one.
    #[account(
        init,
        payer = challenger,
        space = 8 + RefereeGame::INIT_SPACE,
        seeds = [RefereeGame::SEED, request.model.as_ref(), sequence.to_le_bytes().as_ref(), challenger.key().as_ref()],
        bump,
    )]
    pub game: Box<Account<'info, RefereeGame>>,
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

/// Disputes a referee model's commitment inside its window: the challenger
/// posts the bond, its own trace root and the root over its outputs. The
/// game descends the traces where they differ; where they are the same, the
/// outputs (an operator whose result is not its own trace's).
pub fn handler(
    ctx: Context<OpenRefereeGame>,
    sequence: u64,
    trace_root: [u8; 32],
    output_root: [u8; 32],
) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let request = &mut accounts.request;
    require!(
        request.is_instance(sequence),
        SibylError::RequestInstanceMismatch
    );
    let referee = accounts
        .model
        .referee
        .as_ref()
        .ok_or(SibylError::NotRefereeModel)?;
    let slot = Clock::get()?.slot;
    require!(
        slot <= request.challenge_deadline_slot,
        SibylError::ChallengeWindowClosed
    );
    require!(
        accounts.challenger.key() != accounts.operator.authority,
        SibylError::SelfChallenge
    );
    // The commitment was checked to be the canonical encoding of integer
    // outputs of the model's specs.
    let operator_output_root =
        commit::output_root(&request.output).ok_or(SibylError::OutputNotCanonical)?;
    let (subject, items) = if trace_root != request.trace_root {
        (GameSubject::Trace, u64::from(referee.node_count))
    } else if output_root != operator_output_root {
        (GameSubject::Outputs, referee.output_nodes.len() as u64)
    } else {
        return err!(SibylError::RefereeNothingDisputed);
    };

    let bond = accounts.config.params.challenge_bond;
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
    let game = &mut accounts.game;
    game.request = request.key();
    game.model = request.model;
    game.request_sequence = request.sequence;
    game.operator = accounts.operator.key();
    game.operator_authority = accounts.operator.authority;
    game.challenger = accounts.challenger.key();
    game.challenger_token = accounts.challenger_token.key();
    game.bond = bond;
    game.slash_bps = accounts.config.params.slash_bps;
    game.opened_slot = slot;
    game.outcome = GameOutcome::Open;
    game.phase = GamePhase::Items;
    game.trace_roots = [request.trace_root, trace_root];
    game.output_roots = [operator_output_root, output_root];
    game.bump = ctx.bumps.game;
    game.begin(subject, items, slot)?;
    request.open_games = request
        .open_games
        .checked_add(1)
        .ok_or(SibylError::MathOverflow)?;
    let event = RefereeGameOpened {
        request: request.key(),
        game: game.key(),
        challenger: game.challenger,
        bond,
        trace_root,
        output_root,
        subject,
        phase: game.phase,
        deadline_slot: game.deadline_slot,
    };
    emit_cpi!(event);
    Ok(())
}
