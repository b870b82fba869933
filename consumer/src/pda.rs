//! Every program-derived address of Sibyl.
use crate::constants::*;
use anchor_lang::prelude::Pubkey;

fn find(seeds: &[&[u8]]) -> Pubkey {
    Pubkey::find_program_address(seeds, &crate::ID).0
}

/// The protocol config.
pub fn config() -> Pubkey {
    find(&[CONFIG_SEED])
}
/// The vault holding operator stake.
pub fn stake_vault() -> Pubkey {
    find(&[STAKE_VAULT_SEED])
}
/// The program's ProgramData account under the upgradeable loader (its
/// upgrade authority alone may initialize the protocol).
pub fn program_data() -> Pubkey {
    anchor_lang::solana_program::bpf_loader_upgradeable::get_program_data_address(&crate::ID)
}
/// The vault holding challenge bonds and voter reward pools.
pub fn bond_vault() -> Pubkey {
    find(&[BOND_VAULT_SEED])
}
/// A model, by the SHA-256 of its ONNX file.
pub fn model(model_hash: &[u8; 32]) -> Pubkey {
    find(&[MODEL_SEED, model_hash])
}
/// An operator, by its authority.
pub fn operator(authority: &Pubkey) -> Pubkey {
    find(&[OPERATOR_SEED, authority.as_ref()])
}
/// A request, by requester and nonce.
pub fn request(requester: &Pubkey, nonce: u64) -> Pubkey {
    find(&[REQUEST_SEED, requester.as_ref(), &nonce.to_le_bytes()])
}
/// A request's escrow token account.
pub fn escrow(request: &Pubkey) -> Pubkey {
    find(&[ESCROW_SEED, request.as_ref()])
}
/// A model's protocol-fee vault (a token account owned by the config).
pub fn fee_vault(model: &Pubkey) -> Pubkey {
    find(&[FEE_VAULT_SEED, model.as_ref()])
}
/// The dispute over the `sequence`-th request of `model` (one request
/// instance: [`crate::state::InferenceRequest::sequence`]).
pub fn dispute(model: &Pubkey, sequence: u64) -> Pubkey {
    find(&[DISPUTE_SEED, model.as_ref(), &sequence.to_le_bytes()])
}

/// The dispute over this request account.
pub fn dispute_of(request: &crate::state::InferenceRequest) -> Pubkey {
    dispute(&request.model, request.sequence)
}
/// `writer`'s input buffer for the `sequence`-th request of `model` at
/// `request` (see [`crate::state::input_buffer`]).
pub fn input_buffer(request: &Pubkey, model: &Pubkey, sequence: u64, writer: &Pubkey) -> Pubkey {
    find(&[
        INPUT_BUFFER_SEED,
        request.as_ref(),
        model.as_ref(),
        &sequence.to_le_bytes(),
        writer.as_ref(),
    ])
}

/// `writer`'s input buffer for this request account.
pub fn input_buffer_of(
    request: &Pubkey,
    state: &crate::state::InferenceRequest,
    writer: &Pubkey,
) -> Pubkey {
    input_buffer(request, &state.model, state.sequence, writer)
}

/// `challenger`'s referee game on the `sequence`-th request of `model`.
pub fn referee_game(model: &Pubkey, sequence: u64, challenger: &Pubkey) -> Pubkey {
    find(&[
        REFEREE_GAME_SEED,
        model.as_ref(),
        &sequence.to_le_bytes(),
        challenger.as_ref(),
    ])
}

/// An operator's vote in a dispute (`operator` is the operator account).
pub fn vote(dispute: &Pubkey, operator: &Pubkey) -> Pubkey {
    find(&[VOTE_SEED, dispute.as_ref(), operator.as_ref()])
}
/// The signer of Sibyl's event self-invocations.
pub fn event_authority() -> Pubkey {
    find(&[b"__event_authority"])
}
