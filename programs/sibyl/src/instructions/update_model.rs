use crate::{
    errors::SibylError,
    events::ModelUpdated,
    state::{validate_royalty_and_window, validate_uri, Model},
};
use anchor_lang::prelude::*;

/// What a publisher may change. The hash, specs and comparison rule define
/// what the model is and never change; register a new model instead.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct UpdateModelArgs {
    pub uri: Option<String>,
    pub price: Option<u64>,
    pub royalty_bps: Option<u16>,
    /// `Some(None)` clears the override.
    pub challenge_window_override_slots: Option<Option<u64>>,
}

#[event_cpi]
#[derive(Accounts)]
pub struct UpdateModel<'info> {
    pub publisher: Signer<'info>,
    #[account(
        mut,
        seeds = [Model::SEED, model.model_hash.as_ref()],
        bump = model.bump,
        has_one = publisher @ SibylError::NotPublisher,
    )]
    pub model: Box<Account<'info, Model>>,
}

pub fn handler(ctx: Context<UpdateModel>, args: UpdateModelArgs) -> Result<()> {
    let model = &mut ctx.accounts.model;
    require!(!model.retired, SibylError::ModelRetired);
    if let Some(uri) = args.uri {
        validate_uri(&uri)?;
        model.uri = uri;
    }
    if let Some(price) = args.price {
        require!(price > 0, SibylError::InvalidPrice);
        model.price = price;
    }
    let royalty_bps = args.royalty_bps.unwrap_or(model.royalty_bps);
    let window = args
        .challenge_window_override_slots
        .unwrap_or(model.challenge_window_override_slots);
    validate_royalty_and_window(royalty_bps, window)?;
    model.royalty_bps = royalty_bps;
    model.challenge_window_override_slots = window;
    let event = ModelUpdated {
        model: model.key(),
        price: model.price,
        royalty_bps: model.royalty_bps,
        challenge_window_override_slots: model.challenge_window_override_slots,
    };
    emit_cpi!(event);
    Ok(())
}
