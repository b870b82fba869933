//! Registering, updating, retiring and listing models (publishers).
use crate::chain::{ChainClient, ChainError};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    instructions::{RegisterModelArgs, UpdateModelArgs},
    state::Model,
};
use sibyl_client::{accounts, instruction, pda};

/// Registers a model; returns its address.
pub async fn register(chain: &ChainClient, args: RegisterModelArgs) -> Result<Pubkey, ChainError> {
    let address = pda::model(&args.model_hash);
    let register = instruction(
        accounts::register_model(chain.wallet(), &args.model_hash),
        sibyl::instruction::RegisterModel { args },
    );
    chain.send("register_model", &[register], &[]).await?;
    Ok(address)
}

/// Changes a model's URI, price, royalty or window.
pub async fn update(
    chain: &ChainClient,
    model: Pubkey,
    args: UpdateModelArgs,
) -> Result<(), ChainError> {
    let update = instruction(
        accounts::update_model(chain.wallet(), model),
        sibyl::instruction::UpdateModel { args },
    );
    chain.send("update_model", &[update], &[]).await.map(drop)
}

/// Retires a model: it takes no new requests.
pub async fn retire(chain: &ChainClient, model: Pubkey) -> Result<(), ChainError> {
    let retire = instruction(
        accounts::retire_model(chain.wallet(), model),
        sibyl::instruction::RetireModel {},
    );
    chain.send("retire_model", &[retire], &[]).await.map(drop)
}

/// Every registered model, by address.
pub async fn list(chain: &ChainClient) -> Result<Vec<(Pubkey, Model)>, ChainError> {
    let mut models = chain.program_accounts::<Model>("model", Vec::new()).await?;
    models.sort_by_key(|(_, model)| model.registered_slot);
    Ok(models)
}

/// A model named by its address or its SHA-256 (hex).
pub async fn find(chain: &ChainClient, name: &str) -> Result<(Pubkey, Model), ChainError> {
    let address = match crate::config::parse_hash(name) {
        Some(hash) => pda::model(&hash),
        None => name.parse().map_err(|_| ChainError::AccountInvalid {
            what: "model",
            address: Pubkey::default(),
            reason: format!("`{name}` is neither a model address nor a 64-digit hex hash"),
        })?,
    };
    Ok((address, chain.fetch_required(&address, "model").await?))
}
