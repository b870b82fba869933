//! The Sibyl consumer kit, for programs that act on verified inferences:
//! read a finalized result safely ([`read_final_result`]), or accept Sibyl's
//! callback (an instruction named `sibyl_callback` taking [`CallbackData`],
//! whose first account [`verify_callback`] checks). It depends on the Sibyl
//! program crate with its `cpi` feature (no entrypoint).
//! `docs/integrate.md` walks through both paths with the example consumer.
use anchor_lang::{prelude::*, Discriminator};
pub use sibyl::{
    callback::{
        callback_authority, CallbackAccount, CallbackData, CallbackSpec, CALLBACK_AUTHORITY_SEED,
        CALLBACK_DISCRIMINATOR,
    },
    encoding::{decode, Tensor},
    state::{InferenceRequest, RequestStatus},
};

/// What a consumer's read or callback refuses; codes 7000 and up, so they
/// never collide with a consumer's own errors (6000 and up) or Sibyl's.
#[error_code(offset = 7000)]
pub enum ConsumerError {
    #[msg("The account is not owned by the Sibyl program")]
    NotSibylAccount,
    #[msg("The account is not a Sibyl inference request")]
    NotAnInferenceRequest,
    #[msg("The request's result is not final yet (or was refunded)")]
    ResultNotFinal,
    #[msg("The request is for another model than the one expected")]
    WrongModel,
    #[msg("The result is older than the accepted maximum age")]
    ResultTooOld,
    #[msg("The output is not a valid canonical tensor encoding")]
    OutputNotDecodable,
    #[msg("The callback was not signed by Sibyl's callback authority")]
    NotCallbackAuthority,
    #[msg("The request did not name this program as its callback")]
    NotThisConsumer,
    #[msg("The callback's accounts are not the ones the request named, in order")]
    CallbackAccountsMismatch,
}

/// A finalized result, checked: Sibyl's account, a request, final, for the
/// expected model, young enough.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalResult {
    /// The request account.
    pub request: Pubkey,
    /// Who paid for the inference.
    pub requester: Pubkey,
    /// The model that produced it.
    pub model_hash: [u8; 32],
    /// `SHA-256("sibyl-output-v1" ‖ model hash ‖ input hash ‖ output)`.
    pub output_hash: [u8; 32],
    /// Slot the result was committed (the age is counted from it).
    pub committed_slot: u64,
    /// The committed output was overturned and this is the challenger's
    /// corrected output, confirmed by the verifiers' vote.
    pub overturned: bool,
    /// The output tensors, in the model's graph order.
    pub outputs: Vec<Tensor>,
}

impl FinalResult {
    /// The output tensor named `name`.
    pub fn output(&self, name: &str) -> Option<&Tensor> {
        self.outputs.iter().find(|tensor| tensor.name == name)
    }
}

/// Reads the request account `request`: it must be owned by Sibyl, be an
/// inference request, be final (`Finalized` or `Overturned`), be for
/// `expected_model_hash`, and, when `max_age_slots` is given, have been
/// committed no more than that many slots ago. Returns its decoded output.
pub fn read_final_result(
    request: &AccountInfo,
    expected_model_hash: &[u8; 32],
    max_age_slots: Option<u64>,
) -> Result<FinalResult> {
    let state = request_state(request)?;
    require!(state.has_final_output(), ConsumerError::ResultNotFinal);
    require!(
        state.model_hash == *expected_model_hash,
        ConsumerError::WrongModel
    );
    if let Some(max_age) = max_age_slots {
        let age = Clock::get()?.slot.saturating_sub(state.committed_slot);
        require!(age <= max_age, ConsumerError::ResultTooOld);
    }
    let outputs = decode(&state.output).map_err(|_| error!(ConsumerError::OutputNotDecodable))?;
    Ok(FinalResult {
        request: request.key(),
        requester: state.requester,
        model_hash: state.model_hash,
        output_hash: state.output_hash,
        committed_slot: state.committed_slot,
        overturned: state.status == RequestStatus::Overturned,
        outputs,
    })
}

/// The Sibyl inference request in `request`: Sibyl's account, of that type.
fn request_state(request: &AccountInfo) -> Result<InferenceRequest> {
    require_keys_eq!(*request.owner, sibyl::ID, ConsumerError::NotSibylAccount);
    let data = request.try_borrow_data()?;
    require!(
        data.len() >= 8 && data[..8] == *InferenceRequest::DISCRIMINATOR,
        ConsumerError::NotAnInferenceRequest
    );
    InferenceRequest::try_deserialize(&mut &data[..])
        .map_err(|_| error!(ConsumerError::NotAnInferenceRequest))
}

/// Checks a callback before acting on it: the first account is Sibyl's
/// callback authority and signed; the request is a Sibyl request that named
/// `program_id` (the consumer's own id) as its callback; and `named` are
/// exactly the accounts it named, in order. Together these stop another
/// program that Sibyl called from passing Sibyl's signature on to you with
/// a request or accounts of its choosing. A genuine callback can still be
/// replayed that way, so act on each request at most once.
pub fn verify_callback(
    authority: &AccountInfo,
    request: &AccountInfo,
    program_id: &Pubkey,
    named: &[&AccountInfo],
) -> Result<()> {
    require!(
        authority.is_signer && authority.key() == callback_authority(),
        ConsumerError::NotCallbackAuthority
    );
    let state = request_state(request)?;
    require_keys_eq!(
        state.callback_program,
        *program_id,
        ConsumerError::NotThisConsumer
    );
    let expected = &state.callback_accounts[..state.callback_account_count as usize];
    require!(
        expected.len() == named.len()
            && expected
                .iter()
                .zip(named)
                .all(|(key, info)| info.key() == *key),
        ConsumerError::CallbackAccountsMismatch
    );
    Ok(())
}
