use crate::{
    constants::FEE_VAULT_SEED,
    errors::SibylError,
    events::ModelRegistered,
    state::{
        validate_royalty_and_window, validate_size_bounds, validate_uri, ComparisonRule, Config,
        Model, OutputView, RefereeRoots, TensorSpec,
    },
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

/// A model's registration.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct RegisterModelArgs {
    /// SHA-256 of the ONNX file: the model's identity and PDA seed.
    pub model_hash: [u8; 32],
    /// Execution profile id honest operators run it with.
    pub profile_id: [u8; 32],
    pub uri: String,
    pub price: u64,
    pub royalty_bps: u16,
    /// The graph's inputs, in graph order.
    pub inputs: Vec<TensorSpec>,
    /// The graph's outputs, in graph order.
    pub outputs: Vec<TensorSpec>,
    pub max_input_bytes: u32,
    pub max_output_bytes: u32,
    pub comparison: ComparisonRule,
    pub challenge_window_override_slots: Option<u64>,
    /// What of each output goes on chain, one per output in graph order;
    /// empty: every output whole. `max_output_bytes` bounds the result.
    pub output_views: Vec<OutputView>,
    /// For a model the referee computes, its commitments: its disputes are
    /// then decided by bisection, never by vote.
    pub referee: Option<RefereeRoots>,
}

#[event_cpi]
#[derive(Accounts)]
#[instruction(args: RegisterModelArgs)]
pub struct RegisterModel<'info> {
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        init,
        payer = publisher,
        space = 8 + Model::INIT_SPACE,
        seeds = [Model::SEED, args.model_hash.as_ref()],
        bump,
    )]
    pub model: Box<Account<'info, Model>>,
    /// Where the protocol's share of this model's fees collects: one per
    /// model, so that settling requests on different models never
    /// write-locks a common account.
    #[account(
        init,
        payer = publisher,
        seeds = [FEE_VAULT_SEED, model.key().as_ref()],
        bump,
        token::mint = payment_mint,
        token::authority = config,
        token::token_program = token_program,
    )]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The publisher's token account its royalties are paid to.
    #[account(
        constraint = publisher_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = publisher_token.owner == publisher.key() @ SibylError::WrongTokenOwner,
    )]
    pub publisher_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub payment_mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<RegisterModel>, args: RegisterModelArgs) -> Result<()> {
    ctx.accounts.config.require_not_paused()?;
    validate_uri(&args.uri)?;
    require!(args.price > 0, SibylError::InvalidPrice);
    validate_royalty_and_window(args.royalty_bps, args.challenge_window_override_slots)?;
    require!(
        TensorSpec::are_valid_side(&args.inputs) && TensorSpec::are_valid_side(&args.outputs),
        SibylError::InvalidTensorSpec
    );
    require!(
        OutputView::are_valid_for(&args.output_views, &args.outputs),
        SibylError::InvalidOutputView
    );
    let result_specs = OutputView::result_specs(&args.output_views, &args.outputs);
    validate_size_bounds(
        args.max_input_bytes,
        args.max_output_bytes,
        &args.inputs,
        &result_specs,
    )?;
    require!(
        args.comparison.is_valid_for(&result_specs),
        SibylError::InvalidComparisonRule
    );

    let model = &mut ctx.accounts.model;
    model.set_inner(Model {
        publisher: ctx.accounts.publisher.key(),
        model_hash: args.model_hash,
        profile_id: args.profile_id,
        price: args.price,
        royalty_bps: args.royalty_bps,
        max_input_bytes: args.max_input_bytes,
        max_output_bytes: args.max_output_bytes,
        comparison: args.comparison,
        challenge_window_override_slots: args.challenge_window_override_slots,
        retired: false,
        request_count: 0,
        registered_slot: Clock::get()?.slot,
        bump: ctx.bumps.model,
        fee_vault_bump: ctx.bumps.fee_vault,
        payout_token: ctx.accounts.publisher_token.key(),
        inputs: args.inputs,
        outputs: args.outputs,
        output_views: args.output_views,
        uri: args.uri,
        referee: args.referee,
    });
    model.check_referee()?;
    let event = ModelRegistered {
        model: model.key(),
        publisher: model.publisher,
        model_hash: model.model_hash,
        price: model.price,
    };
    emit_cpi!(event);
    Ok(())
}
