//! Re-executing a committed request and judging the outputs posted for it:
//! the one place where watch (whether to challenge), vote (which side) and
//! `sibyl challenge` decide what is true.
//!
//! A verdict is only as good as the run behind it, so a model whose
//! registered profile id is not this machine's is never judged here: its
//! outputs could differ for reasons that are nobody's fault.
use crate::{
    compare::result_agrees,
    hex,
    inference::{InferenceError, Lane, Runner},
    tensor::{decode, element_size, encode, EncodingError, Tensor},
};
use sibyl::state::{project, InferenceRequest, Model, OutputView, TensorSpec, VoteSide};
use std::sync::Arc;

/// Why a request could not be judged here.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("model {model} was registered for execution profile {registered}, but this machine's is {ours}: its outputs cannot be judged here")]
    OtherProfile {
        model: String,
        registered: String,
        ours: String,
    },
    #[error("request for model {request_model} is not for model {model}")]
    OtherModel {
        model: String,
        request_model: String,
    },
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The bytes handed to the verifier are not the request's input: a bug
    /// in the caller, never judged (another try reads the input again).
    #[error("the input given ({len} bytes) does not hash to the request's input hash {expected}: not judged")]
    NotTheInput { len: usize, expected: String },
    #[error("no placeholder output fits the output specs of model {model}: {source}")]
    Placeholder {
        model: String,
        #[source]
        source: PlaceholderError,
    },
}

/// Why no placeholder output can be made for a commitment.
#[derive(Debug, thiserror::Error)]
pub enum PlaceholderError {
    #[error("the committed output is not a canonical encoding: {0}")]
    Encoding(#[from] EncodingError),
    #[error("every committed tensor is empty and no dynamic dimension can change within {max_bytes} bytes")]
    NoRoom { max_bytes: u32 },
}

impl VerifyError {
    /// Whether this request can never be judged here: the input does not
    /// run on the model, or the model is not this machine's to judge.
    pub fn is_final(&self) -> bool {
        match self {
            VerifyError::OtherProfile { .. }
            | VerifyError::OtherModel { .. }
            | VerifyError::Placeholder { .. } => true,
            VerifyError::Inference(error) => error.is_about_input(),
            VerifyError::NotTheInput { .. } => false,
        }
    }
}

/// This machine's output for a request, and whether the committed result
/// agrees with it under the request's comparison rule and views.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// This machine's whole canonical output; `None` when the input does not fit
    /// the model ([`InferenceError::is_input_misfit`]): no output is right
    /// for it, so whatever was committed is wrong. (No honest node commits
    /// one; a requester and an operator in collusion could, and a watcher
    /// that only shrugged would let the made-up output become final.)
    pub ours: Option<Vec<u8>>,
    /// Whether the committed result agrees with `ours`.
    pub committed_agrees: bool,
    rule: sibyl::state::ComparisonRule,
    views: Vec<OutputView>,
}

/// What a challenge posts: a result and the SHA-256 of the whole output it
/// was taken from.
#[derive(Clone, Debug, PartialEq)]
pub struct Correction {
    /// Each output's view, canonically encoded.
    pub result: Vec<u8>,
    pub whole_output_sha256: [u8; 32],
    /// The whole output, when the correction is ours (not a placeholder):
    /// what the node serves by `whole_output_sha256`.
    pub whole: Option<Vec<u8>>,
}

impl Verdict {
    /// This machine's result: its output's views (none when it has no
    /// output, or its output does not admit them).
    pub fn our_result(&self) -> Option<Vec<u8>> {
        project(&self.views, self.ours.as_deref()?).ok()
    }

    /// Whether `result` agrees with this machine's output under the rule
    /// and the views.
    pub fn agrees_with(&self, result: &[u8]) -> bool {
        self.ours
            .as_deref()
            .is_some_and(|ours| result_agrees(&self.rule, &self.views, result, ours))
    }

    /// The output a challenge posts: ours, or a placeholder of the model's
    /// output specs that differs from the committed output when ours cannot
    /// be posted: for an input that fits no output, or when our output does
    /// not fit the specs the publisher registered (the program cannot read
    /// the graph, so they may not be its own), where every committed output
    /// is made up. The verifiers then vote `Neither` and the commitment is
    /// rejected: the requester refunded, the operator slashed, the bond
    /// returned.
    pub fn correction(
        &self,
        model: &Model,
        request: &InferenceRequest,
    ) -> Result<Correction, VerifyError> {
        let bound = request.max_output_bytes;
        if let Some(ours) = &self.ours {
            if let Ok(result) = project(&self.views, ours) {
                if model.check_output(&result, bound).is_ok() {
                    return Ok(Correction {
                        result,
                        whole_output_sha256: sibyl::hashing::whole_output_sha256(ours),
                        whole: Some(ours.clone()),
                    });
                }
            }
        }
        let views: Vec<OutputView> = (0..model.outputs.len())
            .map(|index| OutputView::of(&model.output_views, index))
            .filter(|view| *view != OutputView::Omitted)
            .collect();
        let result = placeholder_output(&request.output, &model.result_specs(), &views, bound)
            .map_err(|source| VerifyError::Placeholder {
                model: hex::encode(&model.model_hash),
                source,
            })?;
        // No whole output stands behind a placeholder; the hash of its own
        // bytes is what the program expects where every view is whole.
        Ok(Correction {
            whole_output_sha256: sibyl::hashing::whole_output_sha256(&result),
            result,
            whole: None,
        })
    }

    /// The side to vote for in a dispute where the challenger posted
    /// `challenger_output`. A committed output this machine cannot
    /// reproduce is wrong whatever the challenger posted, so a decoy's
    /// output does not shield it: `Neither` when both fail.
    pub fn vote_side(&self, challenger_output: &[u8]) -> VoteSide {
        if self.committed_agrees {
            VoteSide::Operator
        } else if self.agrees_with(challenger_output) {
            VoteSide::Challenger
        } else {
            VoteSide::Neither
        }
    }
}

/// Re-executes requests on the verification lane of a [`Runner`].
#[derive(Clone)]
pub struct Verifier {
    runner: Arc<Runner>,
}

impl Verifier {
    pub fn new(runner: Arc<Runner>) -> Self {
        Self { runner }
    }

    /// Runs `model` on the request's `input` (its bytes on chain, or the
    /// declared bytes of a referenced input) and judges its committed output
    /// under the request's comparison rule (the rule its consumers read).
    pub async fn verify(
        &self,
        model: &Model,
        request: &InferenceRequest,
        input: Vec<u8>,
    ) -> Result<Verdict, VerifyError> {
        if request.model_hash != model.model_hash {
            return Err(VerifyError::OtherModel {
                model: hex::encode(&model.model_hash),
                request_model: hex::encode(&request.model_hash),
            });
        }
        // Judge the request's own input and nothing else: a caller that read
        // the wrong bytes (an empty input field of a request whose input is
        // in a buffer) must not turn into a challenge.
        if sibyl::hashing::input_hash(&input) != request.input_hash {
            return Err(VerifyError::NotTheInput {
                len: input.len(),
                expected: hex::encode(&request.input_hash),
            });
        }
        let ours = self.runner.profile_id();
        if model.profile_id != ours {
            return Err(VerifyError::OtherProfile {
                model: hex::encode(&model.model_hash),
                registered: hex::encode(&model.profile_id),
                ours: hex::encode(&ours),
            });
        }
        let ours = match self.runner.run(Lane::Verify, model, input).await {
            Ok(output) => Some(output),
            Err(err) if err.is_input_misfit() => {
                tracing::warn!(%err, "the input does not fit the model: no output is right for it");
                None
            }
            Err(err) => return Err(err.into()),
        };
        let verdict = Verdict {
            ours,
            committed_agrees: false,
            rule: request.comparison,
            views: request.output_views.clone(),
        };
        Ok(Verdict {
            committed_agrees: verdict.agrees_with(&request.output),
            ..verdict
        })
    }
}

/// A canonical output that differs from `committed` and passes every
/// check the program makes of it (one tensor per output spec, with its
/// name, each admitted by its spec, within `max_bytes`): the committed
/// output with the lowest bit of its last element flipped (a boolean's 0
/// and 1 swapped; a top-k view's last score, never a class), or, when every tensor is empty, one dynamic dimension changed
/// (by its lowest bit) where the result stays within `max_bytes`, its new
/// elements zero (a top-k view's rows the classes 0..k, which the program
/// requires distinct). Nothing is allocated beyond `max_bytes`, however
/// large a dimension claims to be. `specs` and `views` are the result's
/// (a missing view: whole).
fn placeholder_output(
    committed: &[u8],
    specs: &[TensorSpec],
    views: &[OutputView],
    max_bytes: u32,
) -> Result<Vec<u8>, PlaceholderError> {
    let mut tensors = decode(committed)?;
    if let Some(tensor) = tensors
        .iter_mut()
        .rev()
        .find(|tensor| !tensor.data.is_empty())
    {
        let last = tensor.data.len().saturating_sub(element_size(tensor.dtype));
        if let Some(byte) = tensor.data.get_mut(last) {
            *byte ^= 1;
        }
        return Ok(encode(&tensors));
    }
    let room = usize::try_from(max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_sub(committed.len());
    for index in 0..tensors.len() {
        let (Some(tensor), Some(spec)) = (tensors.get(index), specs.get(index)) else {
            break;
        };
        for (axis, _) in spec.shape.iter().enumerate().filter(|(_, &d)| d == -1) {
            let mut dims = tensor.dims.clone();
            let Some(dim) = dims.get_mut(axis) else {
                continue;
            };
            *dim ^= 1;
            let bytes = dims
                .iter()
                .try_fold(element_size(tensor.dtype), |bytes, &dim| {
                    bytes.checked_mul(usize::try_from(dim).ok()?)
                });
            let Some(bytes) = bytes.filter(|&bytes| bytes <= room) else {
                continue;
            };
            let mut data = vec![0; bytes];
            if let OutputView::TopK { k, .. } = OutputView::of(views, index) {
                // (class, 0) pairs, the classes 0..k in every row.
                for (slot, pair) in data.chunks_exact_mut(8).enumerate() {
                    let class = u32::try_from(slot % usize::from(k.max(1))).unwrap_or(0);
                    if let Some(head) = pair.get_mut(..4) {
                        head.copy_from_slice(&class.to_le_bytes());
                    }
                }
            }
            let changed = Tensor::new(tensor.name.clone(), tensor.dtype, dims, data)?;
            let mut placeholder = tensors.clone();
            if let Some(slot) = placeholder.get_mut(index) {
                *slot = changed;
            }
            return Ok(encode(&placeholder));
        }
    }
    Err(PlaceholderError::NoRoom { max_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{encode, Tensor};
    use sibyl::state::ComparisonRule;

    fn probabilities(values: &[f32]) -> Vec<u8> {
        encode(&[Tensor::from_f32("p", vec![1, values.len() as u64], values).unwrap()])
    }

    fn verdict(committed: &[f32], ours: &[f32]) -> Verdict {
        let rule = ComparisonRule::TopK {
            k: 1,
            tie_margin: 1e-4,
        };
        let verdict = Verdict {
            ours: Some(probabilities(ours)),
            committed_agrees: false,
            rule,
            views: vec![],
        };
        Verdict {
            committed_agrees: verdict.agrees_with(&probabilities(committed)),
            ..verdict
        }
    }

    /// An input that fits no output: whatever was committed is wrong, and
    /// so is whatever a challenger posts, so a verifier votes `Neither`
    /// and the commitment is rejected.
    #[test]
    fn for_an_input_that_fits_no_output_every_output_is_wrong() {
        let made_up = probabilities(&[0.9, 0.05, 0.05]);
        let none = Verdict {
            ours: None,
            committed_agrees: false,
            rule: ComparisonRule::Exact,
            views: vec![],
        };
        assert!(!none.agrees_with(&made_up));
        for posted in [made_up.clone(), probabilities(&[0.0, 0.0, 0.0]), Vec::new()] {
            assert_eq!(none.vote_side(&posted), VoteSide::Neither);
        }
    }

    fn model_with_output(spec: TensorSpec) -> Model {
        crate::test_support::model(spec.clone(), spec, [1; 32], [2; 32])
    }

    /// When our output does not fit the specs the publisher registered
    /// (not the graph's own), every committed output is made up: the
    /// challenge posts a placeholder that fits them, never ours, which the
    /// program would refuse and so leave the commitment standing.
    #[test]
    fn a_challenge_posts_a_placeholder_when_our_output_does_not_fit_the_registered_specs() {
        let model = model_with_output(crate::test_support::float_spec("scores", &[1, 3]));
        let made_up =
            encode(&[Tensor::from_f32("scores", vec![1, 3], &[0.9, 0.05, 0.05]).unwrap()]);
        // The graph names its output `p`: ours fits no registered spec.
        let ours = verdict(&[0.9, 0.05, 0.05], &[0.1, 0.8, 0.1]);
        let mut request = crate::test_support::request(sibyl::state::RequestStatus::Committed);
        request.output = made_up.clone();
        let posted = ours.correction(&model, &request).unwrap().result;
        assert_ne!(posted, made_up);
        assert!(model.check_output(&posted, model.max_output_bytes).is_ok());
        assert_eq!(ours.vote_side(&posted), VoteSide::Neither);
        // Ours fits: ours is posted.
        let fitting = model_with_output(crate::test_support::float_spec("p", &[1, 3]));
        assert_eq!(
            ours.correction(&fitting, &request).unwrap().result,
            probabilities(&[0.1, 0.8, 0.1])
        );
    }

    /// The placeholder a challenge posts passes the program's output checks
    /// (one canonical tensor per output spec, with its name, each admitted
    /// by its spec, within the model's output bound) and is never the
    /// committed output, which the program would refuse as the same.
    #[test]
    fn the_placeholder_fits_wherever_the_commitment_did_and_differs_from_it() {
        use sibyl::state::DType;
        let spec = |name: &str, dtype, shape: &[i64]| TensorSpec {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
        };
        let cases = [
            (
                vec![spec("scores", DType::Float32, &[-1, 10])],
                vec![Tensor::from_f32("scores", vec![1, 10], &[0.1; 10]).unwrap()],
            ),
            (
                vec![spec("flags", DType::Bool, &[3])],
                vec![Tensor::new("flags", DType::Bool, vec![3], vec![1, 0, 1]).unwrap()],
            ),
            // The first output empty (no boxes), the second not.
            (
                vec![
                    spec("boxes", DType::Float32, &[-1, 4]),
                    spec("count", DType::Int64, &[]),
                ],
                vec![
                    Tensor::new("boxes", DType::Float32, vec![0, 4], Vec::new()).unwrap(),
                    Tensor::new("count", DType::Int64, vec![], 0i64.to_le_bytes().to_vec())
                        .unwrap(),
                ],
            ),
            // Every output empty: a dynamic dimension changes.
            (
                vec![spec("boxes", DType::Float32, &[-1, 4])],
                vec![Tensor::new("boxes", DType::Float32, vec![0, 4], Vec::new()).unwrap()],
            ),
            (
                vec![spec("empty", DType::Int64, &[-1, -1])],
                vec![Tensor::new("empty", DType::Int64, vec![3, 0], Vec::new()).unwrap()],
            ),
        ];
        for (specs, tensors) in cases {
            let committed = encode(&tensors);
            let placeholder = placeholder_output(&committed, &specs, &[], 256).unwrap();
            assert_ne!(placeholder, committed, "{specs:?}");
            assert!(placeholder.len() <= 256, "{specs:?}");
            let tensors = decode(&placeholder).unwrap();
            assert_eq!(tensors.len(), specs.len());
            for (tensor, spec) in tensors.iter().zip(&specs) {
                assert_eq!(tensor.name, spec.name);
                assert!(spec.admits(tensor.dtype, &tensor.dims), "{specs:?}");
                assert!(sibyl::encoding::is_canonical_data(tensor), "{specs:?}");
            }
        }
        // No elements, however large the other dimension claims to be, and
        // no change that fits the bound: refused, with nothing allocated.
        let huge = [spec("x", DType::Float32, &[-1, 1 << 40])];
        let committed =
            encode(&[Tensor::new("x", DType::Float32, vec![0, 1 << 40], Vec::new()).unwrap()]);
        assert!(placeholder_output(&committed, &huge, &[], 256).is_err());

        // An empty top-k result of a dynamic batch: the placeholder's row
        // holds distinct classes, which the program requires.
        let logits = spec("logits", DType::Float32, &[-1, 10]);
        let mut model = crate::test_support::model(logits.clone(), logits, [1; 32], [2; 32]);
        model.output_views = vec![OutputView::TopK { k: 3, scale: 100 }];
        let empty =
            encode(&[Tensor::new("logits", DType::Int32, vec![0, 3, 2], Vec::new()).unwrap()]);
        model.check_output(&empty, 256).unwrap();
        let placeholder =
            placeholder_output(&empty, &model.result_specs(), &model.output_views, 256).unwrap();
        assert_ne!(placeholder, empty);
        model.check_output(&placeholder, 256).unwrap();
    }

    #[test]
    fn only_inputs_that_do_not_fit_the_model_are_misfits() {
        use crate::engine::EngineError;
        let engine = |error| InferenceError::Engine(error);
        assert!(engine(EngineError::InputCount {
            expected: 1,
            got: 2
        })
        .is_input_misfit());
        assert!(engine(EngineError::Encoding(EncodingError::SizeOverflow)).is_input_misfit());
        // A refused run may depend on the machine: never a misfit.
        let path = std::path::PathBuf::from("m.onnx");
        assert!(!engine(EngineError::Run {
            path: path.clone(),
            message: "reshape".into(),
        })
        .is_input_misfit());
        assert!(!engine(EngineError::Terminated { path }).is_input_misfit());
    }

    #[test]
    fn a_voter_sides_with_whichever_output_agrees_with_its_own() {
        let ours = [0.1, 0.8, 0.1];
        // The committed output ranks the same class first: the operator.
        let honest = verdict(&[0.2, 0.7, 0.1], &ours);
        assert!(honest.committed_agrees);
        assert_eq!(
            honest.vote_side(&probabilities(&[0.9, 0.05, 0.05])),
            VoteSide::Operator
        );
        // A wrong commitment and a right correction: the challenger.
        let wrong = verdict(&[0.9, 0.05, 0.05], &ours);
        assert!(!wrong.committed_agrees);
        assert_eq!(
            wrong.vote_side(&probabilities(&[0.0, 1.0, 0.0])),
            VoteSide::Challenger
        );
        // A wrong commitment and a decoy correction: neither.
        assert_eq!(
            wrong.vote_side(&probabilities(&[0.05, 0.05, 0.9])),
            VoteSide::Neither
        );
        assert_eq!(wrong.vote_side(b"not a tensor"), VoteSide::Neither);
    }

    #[test]
    fn only_an_input_the_model_can_never_run_is_final() {
        use crate::engine::EngineError;
        let engine = |error| VerifyError::Inference(InferenceError::Engine(error));
        let path = std::path::PathBuf::from("m.onnx");
        // Never judged here, whatever another try does.
        for error in [
            engine(EngineError::InputCount {
                expected: 1,
                got: 2,
            }),
            engine(EngineError::Run {
                path: path.clone(),
                message: "reshape".into(),
            }),
            VerifyError::OtherProfile {
                model: "m".into(),
                registered: "a".into(),
                ours: "b".into(),
            },
        ] {
            assert!(error.is_final(), "{error}");
        }
        // Another try may judge it: the model is being fetched, the run met
        // its time limit on a busy machine, a task failed.
        for error in [
            engine(EngineError::Terminated { path: path.clone() }),
            engine(EngineError::ModelLoad {
                path,
                message: "no session".into(),
            }),
            VerifyError::Inference(InferenceError::ModelUnavailable {
                model: "m".into(),
                retry_in: std::time::Duration::from_secs(5),
                failures: 1,
                reason: "stalled".into(),
            }),
            VerifyError::Inference(InferenceError::Internal("join".into())),
        ] {
            assert!(!error.is_final(), "{error}");
        }
    }
}
