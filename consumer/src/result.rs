//! Reading a final result: what a consumer may act on, and only what the
//! model's comparison rule verified of it.
use crate::{
    encoding::{decode, top_k, Tensor},
    state::{ComparisonRule, InferenceRequest, OutputView, RequestStatus, TensorCheck},
};
use anchor_lang::{prelude::*, Discriminator};

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
    /// SHA-256 of the whole output this result was taken from: its
    /// author's claim, never judged (fetch the whole output by it, off
    /// chain, for display).
    pub whole_output_sha256: [u8; 32],
    /// The model's comparison rule: what the verifiers checked.
    pub rule: ComparisonRule,
    /// The model's output views: what of each output the result holds.
    pub views: Vec<OutputView>,
    /// The result's tensors as committed (each output's view, in the
    /// model's graph order, omitted ones left out). Only what
    /// [`FinalResult::verified`] returns of them was checked.
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
    /// An output committed as its top-k view ([`OutputView::TopK`]): per
    /// row, the `k` best classes, best first, where a class an honest run
    /// scores within the rule's margin of the one at its rank may stand in
    /// its place (`TopK`: its `tie_margin`; `Tolerance`: `abs +
    /// rel·|score|`; `Exact`: none). `scores`, each `round(score ×
    /// scale)`, are handed out only where the rule verified them: within
    /// the tolerance plus one unit (`Tolerance`), or exactly (`Exact`);
    /// never under `TopK`.
    Ranked {
        classes: Vec<Vec<u32>>,
        scores: Option<Vec<Vec<i32>>>,
        scale: u32,
    },
}

impl FinalResult {
    /// What the verifiers checked of the output tensor named `name`.
    pub fn verified(&self, name: &str) -> Result<Verified<'_>> {
        let index = self
            .outputs
            .iter()
            .position(|tensor| tensor.name == name)
            .ok_or_else(|| error!(ConsumerError::NoSuchOutput))?;
        self.verified_at(index)
    }

    /// What the verifiers checked of the result's `index`-th tensor, read
    /// under its view.
    fn verified_at(&self, index: usize) -> Result<Verified<'_>> {
        let tensor = self
            .outputs
            .get(index)
            .ok_or_else(|| error!(ConsumerError::NoSuchOutput))?;
        let view = self
            .result_views()
            .nth(index)
            .ok_or_else(|| error!(ConsumerError::OutputNotDecodable))?;
        Ok(verify(&self.rule, view, tensor))
    }

    /// The view of each tensor of the result, in order.
    fn result_views(&self) -> impl Iterator<Item = OutputView> + '_ {
        (0..self.outputs.len().max(self.views.len()))
            .map(|index| OutputView::of(&self.views, index))
            .filter(|view| *view != OutputView::Omitted)
    }

    /// What the verifiers checked of the first output tensor: the graph's
    /// first output (a model of one output has only it; name the others
    /// with [`FinalResult::verified`]).
    pub fn verified_first(&self) -> Result<Verified<'_>> {
        self.verified_at(0)
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

fn verify<'a>(rule: &ComparisonRule, view: OutputView, tensor: &'a Tensor) -> Verified<'a> {
    if let OutputView::TopK { k, scale } = view {
        let values: Vec<i32> = tensor
            .values_f64()
            .iter()
            .map(|&value| value as i32)
            .collect();
        let rows = values.chunks(2 * k as usize);
        let classes = rows
            .clone()
            .map(|row| row.iter().step_by(2).map(|&class| class as u32).collect())
            .collect();
        let scores = (!matches!(rule, ComparisonRule::TopK { .. })).then(|| {
            rows.map(|row| row.iter().skip(1).step_by(2).copied().collect())
                .collect()
        });
        return Verified::Ranked {
            classes,
            scores,
            scale,
        };
    }
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

impl InferenceRequest {
    /// The final result, checked: final (`Finalized` or `Overturned`), for
    /// `expected_model_hash`, and committed no more than `max_age_slots`
    /// before `clock`'s slot. Declare the account as
    /// `Account<'info, InferenceRequest>` so that Anchor checks that Sibyl
    /// owns it and that it is a request.
    ///
    /// # Example
    ///
    /// ```
    /// use anchor_lang::prelude::*;
    /// use sibyl_sdk::{state::InferenceRequest, Verified};
    ///
    /// #[derive(Accounts)]
    /// pub struct UseResult<'info> {
    ///     pub request: Account<'info, InferenceRequest>,
    /// }
    ///
    /// /// The class the digits model verified as most likely.
    /// pub fn handler(ctx: Context<UseResult>, model_hash: [u8; 32]) -> Result<u32> {
    ///     let result = ctx.accounts.request.final_result_no_older_than(
    ///         &Clock::get()?,
    ///         1_500, // about ten minutes
    ///         &model_hash,
    ///     )?;
    ///     match result.verified_first()? {
    ///         Verified::TopClasses { classes, .. } => Ok(classes[0][0]),
    ///         _ => err!(sibyl_sdk::ConsumerError::NoSuchOutput),
    ///     }
    /// }
    /// # fn main() {}
    /// ```
    ///
    /// # Warning
    ///
    /// Pass the model hash you trust, never one taken from the request: the
    /// hash is the model's identity. And decide only on what
    /// [`FinalResult::verified`] returns: under a `TopK` rule the scores
    /// were never checked.
    pub fn final_result_no_older_than(
        &self,
        clock: &Clock,
        max_age_slots: u64,
        expected_model_hash: &[u8; 32],
    ) -> Result<FinalResult> {
        self.checked_result(expected_model_hash, Some((clock.slot, max_age_slots)))
    }

    /// The final result, checked as [`Self::final_result_no_older_than`]
    /// does but of any age.
    pub fn final_result(&self, expected_model_hash: &[u8; 32]) -> Result<FinalResult> {
        self.checked_result(expected_model_hash, None)
    }

    /// Status, model, then age (at `(slot, max_age_slots)`), and only then
    /// the output's decoding: a cheap refusal never pays for a decode.
    fn checked_result(
        &self,
        expected_model_hash: &[u8; 32],
        age_limit: Option<(u64, u64)>,
    ) -> Result<FinalResult> {
        require!(self.has_final_output(), ConsumerError::ResultNotFinal);
        require!(
            self.model_hash == *expected_model_hash,
            ConsumerError::WrongModel
        );
        if let Some((slot, max_age_slots)) = age_limit {
            let age = slot.saturating_sub(self.committed_slot);
            require!(age <= max_age_slots, ConsumerError::ResultTooOld);
        }
        let outputs =
            decode(&self.output).map_err(|_| error!(ConsumerError::OutputNotDecodable))?;
        Ok(FinalResult {
            requester: self.requester,
            model_hash: self.model_hash,
            output_hash: self.output_hash,
            committed_slot: self.committed_slot,
            overturned: self.status == RequestStatus::Overturned,
            whole_output_sha256: self.whole_output_sha256,
            rule: self.comparison,
            views: self.output_views.clone(),
            outputs,
        })
    }
}

/// Reads the request account `request` given as an unchecked account (a
/// callback's): it must be owned by Sibyl and be an inference request, then
/// is checked as [`InferenceRequest::final_result`] does, and, when
/// `max_age_slots` is given, as [`InferenceRequest::final_result_no_older_than`]
/// does at the current slot.
pub fn read_final_result(
    request: &AccountInfo,
    expected_model_hash: &[u8; 32],
    max_age_slots: Option<u64>,
) -> Result<FinalResult> {
    let state = request_state(request)?;
    match max_age_slots {
        Some(max_age) => {
            state.final_result_no_older_than(&Clock::get()?, max_age, expected_model_hash)
        }
        None => state.final_result(expected_model_hash),
    }
}

/// The Sibyl inference request in `request`: Sibyl's account, of that type.
pub(crate) fn request_state(request: &AccountInfo) -> Result<InferenceRequest> {
    require_keys_eq!(*request.owner, crate::ID, ConsumerError::NotSibylAccount);
    let data = request.try_borrow_data()?;
    require!(
        data.len() >= 8 && data[..8] == *InferenceRequest::DISCRIMINATOR,
        ConsumerError::NotAnInferenceRequest
    );
    InferenceRequest::try_deserialize(&mut &data[..])
        .map_err(|_| error!(ConsumerError::NotAnInferenceRequest))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{constants::MAX_CALLBACK_ACCOUNTS, encoding::encode};

    const MODEL: [u8; 32] = [7; 32];

    pub(crate) fn request(status: RequestStatus, committed_slot: u64) -> InferenceRequest {
        let scores = Tensor::from_f32("scores", vec![1, 3], &[0.1, 0.7, 0.2]).unwrap();
        InferenceRequest {
            requester: Pubkey::new_from_array([1; 32]),
            model: Pubkey::new_from_array([2; 32]),
            model_hash: MODEL,
            nonce: 0,
            status,
            fee: 100,
            protocol_fee_bps: 0,
            royalty_bps: 0,
            challenge_window_slots: 50,
            created_slot: 1,
            sequence: 1,
            deadline_slot: 100,
            input_len: 0,
            input_hash: [0; 32],
            max_output_bytes: 608,
            operator: Pubkey::new_from_array([3; 32]),
            committed_slot,
            challenge_deadline_slot: committed_slot + 50,
            output_hash: [4; 32],
            callback_program: Pubkey::default(),
            callback_accounts: [Pubkey::default(); MAX_CALLBACK_ACCOUNTS],
            callback_account_count: 0,
            callback_writable: 0,
            bump: 255,
            escrow_bump: 255,
            refund_token: Pubkey::new_from_array([5; 32]),
            input_demanded_by: Pubkey::default(),
            input_upload_deadline_slot: 0,
            input_buffer: Pubkey::default(),
            trace_root: [0; 32],
            open_games: 0,
            whole_output_sha256: [0; 32],
            comparison: ComparisonRule::TopK {
                k: 1,
                tie_margin: 0.0,
            },
            output_views: vec![],
            input_uri: String::new(),
            input: vec![],
            output: encode(&[scores]),
        }
    }

    fn at_slot(slot: u64) -> Clock {
        Clock {
            slot,
            ..Clock::default()
        }
    }

    fn refusal(result: Result<FinalResult>) -> u32 {
        match result {
            Err(Error::AnchorError(error)) => error.error_code_number,
            other => panic!("expected a consumer error, got {other:?}"),
        }
    }

    fn code(error: ConsumerError) -> u32 {
        error.into()
    }

    #[test]
    fn a_final_result_is_handed_with_what_its_rule_verified() {
        let result = request(RequestStatus::Finalized, 10)
            .final_result_no_older_than(&at_slot(20), 10, &MODEL)
            .unwrap();
        assert!(!result.overturned);
        assert_eq!(result.committed_slot, 10);
        assert_eq!(
            result.verified_first().unwrap(),
            Verified::TopClasses {
                classes: vec![vec![1]],
                tie_margin: 0.0
            }
        );
        let overturned = request(RequestStatus::Overturned, 10)
            .final_result(&MODEL)
            .unwrap();
        assert!(overturned.overturned);
    }

    #[test]
    fn a_top_k_view_hands_its_classes_and_only_verified_scores() {
        let logits = Tensor::from_f32("logits", vec![1, 4], &[0.5, 2.0, -1.0, 1.0]).unwrap();
        let view = OutputView::TopK { k: 2, scale: 10 };
        let mut ranked = request(RequestStatus::Finalized, 10);
        ranked.output_views = vec![OutputView::Omitted, view];
        ranked.output = encode(&[view.project(&logits).unwrap()]);
        ranked.comparison = ComparisonRule::Tolerance {
            abs: 1e-5,
            rel: 1e-4,
        };
        let expected = |scores| Verified::Ranked {
            classes: vec![vec![1, 3]],
            scores,
            scale: 10,
        };
        let result = ranked.final_result(&MODEL).unwrap();
        assert_eq!(
            result.verified("logits").unwrap(),
            expected(Some(vec![vec![20, 10]]))
        );
        assert_eq!(
            result.verified_first().unwrap(),
            expected(Some(vec![vec![20, 10]]))
        );
        ranked.comparison = ComparisonRule::TopK {
            k: 2,
            tie_margin: 0.0,
        };
        let result = ranked.final_result(&MODEL).unwrap();
        assert_eq!(result.verified("logits").unwrap(), expected(None));
    }

    #[test]
    fn the_typed_read_refuses_each_bad_result_by_name() {
        for status in [
            RequestStatus::Pending,
            RequestStatus::Committed,
            RequestStatus::Challenged,
        ] {
            assert_eq!(
                refusal(request(status, 10).final_result(&MODEL)),
                code(ConsumerError::ResultNotFinal)
            );
        }
        let finalized = request(RequestStatus::Finalized, 10);
        assert_eq!(
            refusal(finalized.final_result(&[8; 32])),
            code(ConsumerError::WrongModel)
        );
        assert_eq!(
            refusal(finalized.final_result_no_older_than(&at_slot(21), 10, &MODEL)),
            code(ConsumerError::ResultTooOld)
        );
        let mut garbled = request(RequestStatus::Finalized, 10);
        garbled.output = b"not a tensor".to_vec();
        assert_eq!(
            refusal(garbled.final_result(&MODEL)),
            code(ConsumerError::OutputNotDecodable)
        );
        // The documented order: age before decoding.
        assert_eq!(
            refusal(garbled.final_result_no_older_than(&at_slot(21), 10, &MODEL)),
            code(ConsumerError::ResultTooOld)
        );
    }

    #[test]
    fn an_unchecked_account_must_be_a_sibyl_request() {
        let key = Pubkey::new_from_array([9; 32]);
        let read = |owner: &Pubkey, mut data: Vec<u8>| {
            let mut lamports = 1;
            let info = AccountInfo::new(&key, false, false, &mut lamports, &mut data, owner, false);
            read_final_result(&info, &MODEL, None)
        };
        let mut account = Vec::new();
        request(RequestStatus::Finalized, 10)
            .try_serialize(&mut account)
            .unwrap();
        assert_eq!(
            read(&crate::ID, account.clone()).unwrap().committed_slot,
            10
        );
        assert_eq!(
            refusal(read(&Pubkey::new_from_array([6; 32]), account.clone())),
            code(ConsumerError::NotSibylAccount)
        );
        let mut other_type = account.clone();
        other_type[0] ^= 1;
        assert_eq!(
            refusal(read(&crate::ID, other_type)),
            code(ConsumerError::NotAnInferenceRequest)
        );
        assert_eq!(
            refusal(read(&crate::ID, account[..4].to_vec())),
            code(ConsumerError::NotAnInferenceRequest)
        );
        assert_eq!(
            refusal(read(&crate::ID, account[..40].to_vec())),
            code(ConsumerError::NotAnInferenceRequest)
        );
    }
}
