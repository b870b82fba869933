//! Re-executing a committed request and judging the outputs posted for it:
//! the one place where watch (whether to challenge), vote (which side) and
//! `sibyl challenge` decide what is true.
//!
//! A verdict is only as good as the run behind it, so a model whose
//! registered profile id is not this machine's is never judged here: its
//! outputs could differ for reasons that are nobody's fault.
use crate::{
    compare::outputs_agree,
    hex,
    inference::{InferenceError, Lane, Runner},
    tensor::{decode, encode, EncodingError},
};
use sibyl::state::{InferenceRequest, Model, VoteSide};
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
    #[error("no placeholder output fits the model's output spec: {0}")]
    Placeholder(String),
}

impl VerifyError {
    /// Whether this request can never be judged here: the input does not
    /// run on the model, or the model is not this machine's to judge.
    pub fn is_final(&self) -> bool {
        match self {
            VerifyError::OtherProfile { .. }
            | VerifyError::OtherModel { .. }
            | VerifyError::Placeholder(_) => true,
            VerifyError::Inference(error) => error.is_about_input(),
        }
    }
}

/// This machine's output for a request, and whether the committed output
/// agrees with it under the request's comparison rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// This machine's canonical output; `None` when the input does not fit
    /// the model ([`InferenceError::is_input_misfit`]): no output is right
    /// for it, so whatever was committed is wrong. (No honest node commits
    /// one; a requester and an operator in collusion could, and a watcher
    /// that only shrugged would let the made-up output become final.)
    pub ours: Option<Vec<u8>>,
    /// Whether the committed output agrees with `ours`.
    pub committed_agrees: bool,
    rule: sibyl::state::ComparisonRule,
}

impl Verdict {
    /// Whether `output` agrees with this machine's under the rule.
    pub fn agrees_with(&self, output: &[u8]) -> bool {
        self.ours
            .as_deref()
            .is_some_and(|ours| outputs_agree(&self.rule, output, ours))
    }

    /// The output a challenge posts: ours, or, for an input that fits no
    /// output, a placeholder of the model's output spec that differs from
    /// the committed output (the verifiers then vote `Neither` and the
    /// commitment is rejected: the requester refunded, the operator
    /// slashed, the bond returned).
    pub fn correction(&self, model: &Model, committed: &[u8]) -> Result<Vec<u8>, VerifyError> {
        match &self.ours {
            Some(ours) => Ok(ours.clone()),
            None => placeholder_output(committed).map_err(|err| {
                VerifyError::Placeholder(format!(
                    "{err} (model {})",
                    hex::encode(&model.model_hash)
                ))
            }),
        }
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

    /// Runs `model` on the request's input and judges its committed output
    /// under the request's comparison rule (the rule its consumers read).
    pub async fn verify(
        &self,
        model: &Model,
        request: &InferenceRequest,
    ) -> Result<Verdict, VerifyError> {
        if request.model_hash != model.model_hash {
            return Err(VerifyError::OtherModel {
                model: hex::encode(&model.model_hash),
                request_model: hex::encode(&request.model_hash),
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
        let ours = match self
            .runner
            .run(Lane::Verify, model, request.input.clone())
            .await
        {
            Ok(output) => Some(output),
            Err(err) if err.is_input_misfit() => {
                tracing::warn!(%err, "the input does not fit the model: no output is right for it");
                None
            }
            Err(err) => return Err(err.into()),
        };
        let committed_agrees = ours
            .as_deref()
            .is_some_and(|ours| outputs_agree(&request.comparison, &request.output, ours));
        Ok(Verdict {
            ours,
            committed_agrees,
            rule: request.comparison,
        })
    }
}

/// A canonical output that differs from `committed` and passes every
/// check the program made of it (one tensor the spec admits, no larger):
/// the committed tensor with one bit of its first element flipped (a
/// boolean's 0 and 1 swapped), or, with no elements, its name changed. Its
/// size is the committed output's, or one byte more for an unnamed empty
/// tensor, so nothing is allocated beyond what the chain holds.
fn placeholder_output(committed: &[u8]) -> Result<Vec<u8>, EncodingError> {
    let mut tensors = decode(committed)?;
    let Some(tensor) = tensors.first_mut() else {
        return Err(EncodingError::Truncated {
            at: 0,
            what: "a committed tensor",
        });
    };
    match tensor.data.first_mut() {
        // A boolean's 0 and 1 swap; any other element changes value.
        Some(first) => *first ^= 1,
        None if tensor.name.pop().is_some() => {}
        None => tensor.name.push('x'),
    }
    Ok(encode(&tensors))
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
        let ours = probabilities(ours);
        Verdict {
            committed_agrees: outputs_agree(&rule, &probabilities(committed), &ours),
            ours: Some(ours),
            rule,
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
        };
        assert!(!none.agrees_with(&made_up));
        for posted in [made_up.clone(), probabilities(&[0.0, 0.0, 0.0]), Vec::new()] {
            assert_eq!(none.vote_side(&posted), VoteSide::Neither);
        }
    }

    /// The placeholder a challenge posts passes the program's output checks
    /// (one canonical tensor the spec admits, within the request's output
    /// bound) and is never the committed output, which the program would
    /// refuse as the same, whatever dimensions the commitment claims.
    #[test]
    fn the_placeholder_fits_wherever_the_commitment_did_and_differs_from_it() {
        use sibyl::state::{DType, TensorSpec};
        let cases = [
            (
                TensorSpec {
                    dtype: DType::Float32,
                    shape: vec![-1, 10],
                },
                Tensor::from_f32("scores", vec![1, 10], &[0.1; 10]).unwrap(),
            ),
            (
                TensorSpec {
                    dtype: DType::Bool,
                    shape: vec![3],
                },
                Tensor::new("flags", DType::Bool, vec![3], vec![1, 0, 1]).unwrap(),
            ),
            // No elements, however large the other dimension claims to be:
            // nothing is allocated for it.
            (
                TensorSpec {
                    dtype: DType::Float32,
                    shape: vec![-1, 1 << 40],
                },
                Tensor::new("", DType::Float32, vec![0, 1 << 40], Vec::new()).unwrap(),
            ),
            (
                TensorSpec {
                    dtype: DType::Int64,
                    shape: vec![-1],
                },
                Tensor::new("empty", DType::Int64, vec![0], Vec::new()).unwrap(),
            ),
        ];
        for (spec, tensor) in cases {
            let committed = encode(&[tensor]);
            let placeholder = placeholder_output(&committed).unwrap();
            assert_ne!(placeholder, committed, "{spec:?}");
            assert!(placeholder.len() <= committed.len() + 1, "{spec:?}");
            let tensors = decode(&placeholder).unwrap();
            let [tensor] = tensors.as_slice() else {
                panic!("one tensor")
            };
            assert!(spec.admits(tensor.dtype, &tensor.dims), "{spec:?}");
            assert!(sibyl::encoding::is_canonical_data(tensor), "{spec:?}");
        }
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
