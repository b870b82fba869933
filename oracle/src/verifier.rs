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
}

impl VerifyError {
    /// Whether this request can never be judged here: the input does not
    /// run on the model, or the model is not this machine's to judge.
    pub fn is_final(&self) -> bool {
        match self {
            VerifyError::OtherProfile { .. } | VerifyError::OtherModel { .. } => true,
            VerifyError::Inference(error) => error.is_about_input(),
        }
    }
}

/// This machine's output for a request, and whether the committed output
/// agrees with it under the request's comparison rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// This machine's canonical output.
    pub ours: Vec<u8>,
    /// Whether the committed output agrees with `ours`.
    pub committed_agrees: bool,
    rule: sibyl::state::ComparisonRule,
}

impl Verdict {
    /// Whether `output` agrees with this machine's under the rule.
    pub fn agrees_with(&self, output: &[u8]) -> bool {
        outputs_agree(&self.rule, output, &self.ours)
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
        let output = self
            .runner
            .run(Lane::Verify, model, request.input.clone())
            .await?;
        let committed_agrees = outputs_agree(&request.comparison, &request.output, &output);
        Ok(Verdict {
            ours: output,
            committed_agrees,
            rule: request.comparison,
        })
    }
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
            ours,
            rule,
        }
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
