use crate::{
    callback::CallbackSpec,
    constants::{ESCROW_SEED, MAX_INPUT_BYTES, MAX_ONCHAIN_INPUT_BYTES},
    errors::SibylError,
    events::InferenceRequested,
    hashing, math,
    state::{Config, InferenceRequest, Model, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

/// An input named by its hash and where to fetch it, instead of carried.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct InputReference {
    /// SHA-256 of the input's canonical encoding (the request's input hash).
    pub sha256: [u8; 32],
    /// Where nodes fetch it (see `InferenceRequest::is_valid_input_uri`).
    pub uri: String,
}

/// A request for one inference.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct RequestInferenceArgs {
    /// Makes the request PDA unique per requester.
    pub nonce: u64,
    /// Fee to escrow; at least the model's price.
    pub fee: u64,
    /// Total input length in bytes.
    pub input_len: u32,
    /// The input, or its first bytes when it does not fit one transaction
    /// (the rest follows with `write_input`); empty when `input_reference`
    /// names it.
    pub input: Vec<u8>,
    /// The input by hash and URI: nodes fetch it, and the requester writes
    /// it on chain only if a node demands it (`demand_input`).
    pub input_reference: Option<InputReference>,
    /// A consumer program to call with the final result, and its accounts.
    pub callback: Option<CallbackSpec>,
    /// The longest challenge window the requester accepts: the request fails
    /// if the model's window (which its publisher may change) is longer.
    pub max_challenge_window_slots: Option<u64>,
}

#[event_cpi]
#[derive(Accounts)]
#[instruction(args: RequestInferenceArgs)]
pub struct RequestInference<'info> {
    #[account(mut)]
    pub requester: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [Model::SEED, model.model_hash.as_ref()],
        bump = model.bump,
    )]
    pub model: Box<Account<'info, Model>>,
    #[account(
        init,
        payer = requester,
        space = InferenceRequest::space(
            args.input_reference.as_ref().map_or(0, |reference| reference.uri.len()),
            args.input.len(),
            model.max_output_bytes,
        ),
        seeds = [InferenceRequest::SEED, requester.key().as_ref(), args.nonce.to_le_bytes().as_ref()],
        bump,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(
        init,
        payer = requester,
        seeds = [ESCROW_SEED, request.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = request,
        token::token_program = token_program,
    )]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Pays the fee; every refund of the request goes back to it.
    #[account(
        mut,
        constraint = requester_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = requester_token.owner == requester.key() @ SibylError::WrongTokenOwner,
    )]
    pub requester_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<RequestInference>, args: RequestInferenceArgs) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let config = &accounts.config;
    let model = &mut accounts.model;
    config.require_not_paused()?;
    require!(!model.retired, SibylError::ModelRetired);
    require!(args.fee >= model.price, SibylError::FeeBelowPrice);
    require!(args.input_len > 0, SibylError::EmptyInput);
    require!(
        args.input_len <= model.max_input_bytes && args.input_len <= MAX_INPUT_BYTES,
        SibylError::InputTooLarge
    );
    require!(
        args.input.len() <= args.input_len as usize,
        SibylError::InputOverflow
    );
    require!(
        config.params.protocol_fee_bps as u64 + model.royalty_bps as u64
            <= crate::constants::BPS_DENOMINATOR,
        SibylError::FeeSplitTooLarge
    );

    if let Some(callback) = &args.callback {
        require!(callback.is_valid(), SibylError::InvalidCallback);
    }

    let challenge_window_slots = model.challenge_window_slots(config.params.challenge_window_slots);
    if let Some(ceiling) = args.max_challenge_window_slots {
        require!(
            challenge_window_slots <= ceiling,
            SibylError::ChallengeWindowAboveCeiling
        );
    }

    let (input_hash, input_uri) = match args.input_reference {
        Some(InputReference { sha256, uri }) => {
            require!(model.referee.is_none(), SibylError::RefereeInputByReference);
            require!(
                args.input.is_empty()
                    && sha256 != [0; 32]
                    && InferenceRequest::is_valid_input_uri(&uri),
                SibylError::InvalidInputReference
            );
            (sha256, uri)
        }
        None => {
            // Carried inputs are bounded by the program's heap.
            require!(
                args.input_len <= MAX_ONCHAIN_INPUT_BYTES,
                SibylError::InputTooLarge
            );
            let hash = if args.input.len() == args.input_len as usize {
                hashing::input_hash(&args.input)
            } else {
                [0; 32]
            };
            (hash, String::new())
        }
    };
    let slot = Clock::get()?.slot;
    model.request_count = model
        .request_count
        .checked_add(1)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    accounts.request.set_inner(InferenceRequest {
        requester: accounts.requester.key(),
        model: model.key(),
        model_hash: model.model_hash,
        nonce: args.nonce,
        status: RequestStatus::Pending,
        fee: args.fee,
        protocol_fee_bps: config.params.protocol_fee_bps,
        royalty_bps: model.royalty_bps,
        challenge_window_slots,
        created_slot: slot,
        sequence: model.request_count,
        deadline_slot: math::add(slot, config.params.request_timeout_slots)?,
        input_len: args.input_len,
        input_hash,
        max_output_bytes: model.max_output_bytes,
        operator: Pubkey::default(),
        committed_slot: 0,
        challenge_deadline_slot: 0,
        output_hash: [0; 32],
        callback_program: Pubkey::default(),
        callback_accounts: Default::default(),
        callback_account_count: 0,
        callback_writable: 0,
        bump: ctx.bumps.request,
        escrow_bump: ctx.bumps.escrow,
        refund_token: accounts.requester_token.key(),
        input_demanded_by: Pubkey::default(),
        input_upload_deadline_slot: 0,
        input_buffer: Pubkey::default(),
        trace_root: [0; 32],
        open_games: 0,
        whole_output_sha256: [0; 32],
        comparison: model.comparison,
        output_views: model.output_views.clone(),
        input_uri,
        input: args.input,
        output: Vec::new(),
    });
    if let Some(callback) = &args.callback {
        accounts.request.set_callback(callback);
    }
    TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    }
    .transfer_from_wallet(
        &accounts.requester_token,
        &accounts.escrow,
        &accounts.requester,
        args.fee,
    )?;
    let event = InferenceRequested {
        request: accounts.request.key(),
        requester: accounts.requester.key(),
        model: model.key(),
        fee: args.fee,
        input_len: args.input_len,
        deadline_slot: accounts.request.deadline_slot,
    };
    emit_cpi!(event);
    Ok(())
}
