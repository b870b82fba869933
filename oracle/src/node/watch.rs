//! watch: re-executes other operators' commitments for the models this node
//! serves while their challenge window is open, and challenges those that
//! fail the model's comparison rule, with this node's output as the
//! correction.
use super::{token_account, NodeError, Service, Shared};
use crate::{
    compare::outputs_agree,
    journal::{Entry, Kind, Stage},
};
use anchor_lang::prelude::Pubkey;
use sibyl::state::{InferenceRequest, Model, RequestStatus};
use sibyl_client::{
    accounts::{self, RequestParties},
    instruction,
};
use std::sync::Arc;
use tracing::Instrument;

pub struct Watch {
    shared: Arc<Shared>,
}

impl Watch {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Service for Watch {
    const NAME: &'static str = "watch";

    async fn tick(&mut self) -> Result<(), NodeError> {
        let slot = self.shared.chain.slot().await?;
        for (model_key, model) in self.shared.watched_models().await? {
            let committed = self
                .shared
                .chain
                .requests(RequestStatus::Committed, Some(&model_key))
                .await?;
            for (request, state) in committed {
                if state.operator == self.shared.operator || slot > state.challenge_deadline_slot {
                    continue;
                }
                if matches!(
                    self.shared.journal.get(Kind::Challenge, &request)?,
                    Some(Entry {
                        stage: Stage::Done { .. },
                        ..
                    })
                ) {
                    continue;
                }
                let span = tracing::info_span!("watch", %request, operator = %state.operator);
                if let Err(err) = check(&self.shared, request, &state, &model)
                    .instrument(span)
                    .await
                {
                    self.shared.metrics.error("watch");
                    tracing::warn!(%request, %err, "could not check the commitment");
                }
            }
        }
        Ok(())
    }
}

/// Re-executes one commitment (once: the verdict is journaled) and
/// challenges it if it does not agree with ours.
async fn check(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
    model: &Model,
) -> Result<(), NodeError> {
    let verdict = match shared.journal.get(Kind::Verdict, &request)? {
        Some(verdict) => verdict,
        None => {
            let ours = match shared.runner.run(model, state.input.clone()).await {
                Ok(ours) => ours,
                // The model cannot run this input here: record that we have
                // no verdict instead of retrying every scan; never challenge.
                Err(err @ (NodeError::Engine(_) | NodeError::Store(_))) => {
                    let unknown = Entry {
                        output: Vec::new(),
                        agrees: None,
                        faulty: false,
                        stage: Stage::Done { signature: None },
                    };
                    shared.journal.put(Kind::Verdict, &request, &unknown)?;
                    return Err(err);
                }
                Err(err) => return Err(err),
            };
            let agrees = outputs_agree(&model.comparison, &state.output, &ours);
            let verdict = Entry {
                output: ours,
                agrees: Some(agrees),
                faulty: false,
                stage: Stage::Done { signature: None },
            };
            shared.journal.put(Kind::Verdict, &request, &verdict)?;
            tracing::info!(agrees, rule = ?model.comparison, "re-executed");
            verdict
        }
    };
    if verdict.agrees != Some(false) {
        return Ok(());
    }
    if shared.journal.get(Kind::Challenge, &request)?.is_none() {
        shared.journal.put(
            Kind::Challenge,
            &request,
            &Entry {
                stage: Stage::Prepared,
                ..verdict.clone()
            },
        )?;
    }
    let challenge = instruction(
        accounts::challenge(
            shared.wallet,
            token_account(&shared.wallet, &shared.tokens),
            RequestParties::of(request, state),
            shared.tokens,
        ),
        sibyl::instruction::Challenge {
            output: verdict.output,
        },
    );
    match shared.chain.send("challenge", &[challenge], &[]).await {
        Ok(signature) => {
            shared
                .journal
                .mark_done(Kind::Challenge, &request, Some(signature.to_string()))?;
            shared.metrics.challenged.inc();
            tracing::warn!(%signature, "challenged a wrong result");
            Ok(())
        }
        Err(err)
            if err.is_program_error("RequestNotCommitted")
                || err.is_program_error("ChallengeWindowClosed") =>
        {
            // Challenged by someone else first, or settled.
            shared.journal.mark_done(Kind::Challenge, &request, None)?;
            tracing::info!("already challenged or settled");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}
