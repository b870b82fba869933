//! The Sibyl consumer kit, for programs that act on verified inferences:
//! read a finalized result safely ([`read_final_result`]) and take from it
//! only what the model's comparison rule verified ([`FinalResult::verified`]),
//! or accept Sibyl's
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
    encoding::{decode, top_k, Tensor},
    state::{ComparisonRule, InferenceRequest, RequestStatus, TensorCheck},
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
    #[msg("The result has no output tensor of that name")]
    NoSuchOutput,
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
    /// The model's comparison rule: what the verifiers checked.
    pub rule: ComparisonRule,
    /// The output tensors as committed, in the model's graph order. Only
    /// what [`FinalResult::verified`] returns of them was checked.
    outputs: Vec<Tensor>,
}

/// What the verifiers checked of one output tensor, and so all a consumer
/// may rely on (see `ComparisonRule::check_for`).
#[derive(Clone, Debug, PartialEq)]
pub enum Verified<'a> {
    /// Every bit of the tensor (`Exact`, and every non-float tensor).
    Exact(&'a Tensor),
    /// Every value within `abs + rel·|honest|` of an honest run's
    /// (`Tolerance`, float tensors): rely on a value only up to that bound
    /// ([`honest_range`]).
    Approximately {
        tensor: &'a Tensor,
        abs: f32,
        rel: f32,
    },
    /// Only the ranking (`TopK`, float score tensors): per row, the `k`
    /// best classes, best first, where a class scoring within `tie_margin`
    /// of the honest one at its rank may stand in its place. The scores
    /// themselves were not checked, so none are handed out.
    TopClasses {
        classes: Vec<Vec<u32>>,
        tie_margin: f32,
    },
}

impl FinalResult {
    /// What the verifiers checked of the output tensor named `name`.
    pub fn verified(&self, name: &str) -> Result<Verified<'_>> {
        let tensor = self
            .outputs
            .iter()
            .find(|tensor| tensor.name == name)
            .ok_or_else(|| error!(ConsumerError::NoSuchOutput))?;
        Ok(verify(&self.rule, tensor))
    }

    /// What the verifiers checked of the first output tensor (models have
    /// one output today).
    pub fn verified_first(&self) -> Result<Verified<'_>> {
        let tensor = self
            .outputs
            .first()
            .ok_or_else(|| error!(ConsumerError::NoSuchOutput))?;
        Ok(verify(&self.rule, tensor))
    }

    /// The output tensors as committed, bits the rule may not have checked
    /// (a `TopK` model's scores): for display, never for decisions.
    pub fn unverified_outputs(&self) -> &[Tensor] {
        &self.outputs
    }
}

/// Where the honest value lies for a value verified under a tolerance: the
/// verifiers accepted `claimed` because `|claimed − honest| ≤ abs +
/// rel·|honest|` (`rel` < 1), so `honest` lies in the returned range,
/// `(lowest, highest)`. With `abs = rel = 0` (an exact value) both are
/// `claimed`.
pub fn honest_range(claimed: f32, abs: f32, rel: f32) -> (f32, f32) {
    let (below, above) = (claimed - abs, claimed + abs);
    let lowest = if below >= 0.0 {
        below / (1.0 + rel)
    } else {
        below / (1.0 - rel)
    };
    let highest = if above >= 0.0 {
        above / (1.0 - rel)
    } else {
        above / (1.0 + rel)
    };
    (lowest, highest)
}

fn verify<'a>(rule: &ComparisonRule, tensor: &'a Tensor) -> Verified<'a> {
    match rule.check_for(tensor.dtype, &tensor.dims) {
        TensorCheck::Bits => Verified::Exact(tensor),
        TensorCheck::Values { abs, rel } => Verified::Approximately { tensor, abs, rel },
        TensorCheck::TopClasses { k, tie_margin } => {
            let row_len = tensor.dims.last().copied().unwrap_or(1).max(1) as usize;
            let classes = tensor
                .values_f64()
                .chunks(row_len)
                .map(|row| {
                    top_k(row, k as usize)
                        .into_iter()
                        .map(|class| class as u32)
                        .collect()
                })
                .collect();
            Verified::TopClasses {
                classes,
                tie_margin,
            }
        }
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
        rule: state.comparison,
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
