use crate::{errors::SibylError, events::ModelRetired, state::Model};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct RetireModel<'info> {
    pub publisher: Signer<'info>,
    #[account(
        mut,
        seeds = [Model::SEED, model.model_hash.as_ref()],
        bump = model.bump,
        has_one = publisher @ SibylError::NotPublisher,
    )]
    pub model: Box<Account<'info, Model>>,
}

/// Retiring refuses new requests; requests already made run to the end.
pub fn handler(ctx: Context<RetireModel>) -> Result<()> {
    let model = &mut ctx.accounts.model;
    require!(!model.retired, SibylError::ModelAlreadyRetired);
    model.retired = true;
    let event = ModelRetired { model: model.key() };
    emit_cpi!(event);
    Ok(())
}
