//! serve: finds pending requests for the models this node serves, runs the
//! model and commits the output. The output is journaled before it is sent,
//! so a restart commits the same bytes instead of running again, and a
//! request is never committed twice.
use super::{NodeError, Service, Shared};
use crate::{
    faulty,
    journal::{Entry, Kind, Stage},
};
use anchor_lang::prelude::Pubkey;
use sibyl::state::{InferenceRequest, Model, RequestStatus};
use sibyl_client::{accounts, instruction};
use std::{collections::HashSet, sync::Arc};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Set in the environment of a node under test to make it stop dead after
/// journaling an output and before committing it, as if the process had
/// been killed there. Never set in production.
pub const HALT_AFTER_INFERENCE_ENV: &str = "SIBYL_TEST_HALT_AFTER_INFERENCE";

pub struct Serve {
    shared: Arc<Shared>,
    in_flight: Arc<std::sync::Mutex<HashSet<Pubkey>>>,
    /// Requests whose input the model refused (until a restart).
    unservable: Arc<std::sync::Mutex<HashSet<Pubkey>>>,
    tasks: JoinSet<()>,
    resumed: bool,
}

impl Serve {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            in_flight: Default::default(),
            unservable: Default::default(),
            tasks: JoinSet::new(),
            resumed: false,
        }
    }

    fn launch(&mut self, request: Pubkey, state: InferenceRequest, model: Model) {
        if self
            .unservable
            .lock()
            .expect("unservable set")
            .contains(&request)
        {
            return;
        }
        if !self
            .in_flight
            .lock()
            .expect("in-flight set")
            .insert(request)
        {
            return;
        }
        self.shared.metrics.requests_seen.inc();
        let (shared, in_flight, unservable) = (
            self.shared.clone(),
            self.in_flight.clone(),
            self.unservable.clone(),
        );
        let span = tracing::info_span!("serve", %request, model = %state.model);
        self.tasks.spawn(
            async move {
                match serve_one(&shared, request, state, &model).await {
                    Ok(()) => {}
                    // The model cannot be fetched, loaded or run on this input:
                    // say so once, not every scan; the request will expire and
                    // be refunded.
                    Err(err @ (NodeError::Engine(_) | NodeError::Store(_))) => {
                        shared.metrics.error("serve");
                        tracing::warn!(%err, "cannot serve this request; skipping it");
                        unservable.lock().expect("unservable set").insert(request);
                    }
                    Err(err) => {
                        shared.metrics.error("serve");
                        tracing::warn!(%err, "not committed; retrying next scan");
                    }
                }
                in_flight.lock().expect("in-flight set").remove(&request);
            }
            .instrument(span),
        );
    }
}

impl Service for Serve {
    const NAME: &'static str = "serve";

    async fn tick(&mut self) -> Result<(), NodeError> {
        while self.tasks.try_join_next().is_some() {}
        let slot = self.shared.chain.slot().await?;
        let models = self.shared.served_models().await?;
        if !self.resumed {
            // Outputs journaled before a crash: commit those bytes as they are.
            for (request, _) in self.shared.journal.unfinished(Kind::Commit)? {
                let state = self
                    .shared
                    .chain
                    .fetch::<InferenceRequest>(&request, "inference request")
                    .await?;
                if state.is_some_and(|state| state.status == RequestStatus::Pending) {
                    tracing::info!(%request, "resuming a journaled commitment");
                } else {
                    self.shared
                        .journal
                        .mark_done(Kind::Commit, &request, None)?;
                }
            }
            self.resumed = true;
        }
        for (model_key, model) in models {
            let pending = self
                .shared
                .chain
                .requests(RequestStatus::Pending, Some(&model_key))
                .await?;
            for (request, state) in pending {
                if !state.input_complete() || slot > state.deadline_slot {
                    continue;
                }
                if matches!(
                    self.shared.journal.get(Kind::Commit, &request)?,
                    Some(Entry {
                        stage: Stage::Done { .. },
                        ..
                    })
                ) {
                    continue;
                }
                self.launch(request, state, model.clone());
            }
        }
        Ok(())
    }

    async fn drain(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn serve_one(
    shared: &Shared,
    request: Pubkey,
    state: InferenceRequest,
    model: &Model,
) -> Result<(), NodeError> {
    let output = match shared.journal.get(Kind::Commit, &request)? {
        Some(Entry {
            output,
            stage: Stage::Prepared,
            ..
        }) => output,
        Some(_) => return Ok(()),
        None => {
            let honest = shared.runner.run(model, state.input.clone()).await?;
            let wrong = faulty::is_chosen(&request, shared.faulty_rate);
            let output = if wrong {
                faulty::corrupt(&honest)
            } else {
                honest
            };
            shared.journal.put(
                Kind::Commit,
                &request,
                &Entry {
                    output: output.clone(),
                    agrees: None,
                    faulty: wrong,
                    stage: Stage::Prepared,
                },
            )?;
            tracing::info!(
                faulty = wrong,
                bytes = output.len(),
                "inference done; output journaled"
            );
            if std::env::var_os(HALT_AFTER_INFERENCE_ENV).is_some() {
                tracing::warn!("{HALT_AFTER_INFERENCE_ENV} is set: halting before the commit");
                std::future::pending::<()>().await;
            }
            output
        }
    };
    let commit = instruction(
        accounts::commit_result(shared.wallet, request),
        sibyl::instruction::CommitResult { output },
    );
    match shared.chain.send("commit_result", &[commit], &[]).await {
        Ok(signature) => {
            shared
                .journal
                .mark_done(Kind::Commit, &request, Some(signature.to_string()))?;
            shared.metrics.committed.inc();
            tracing::info!(%signature, "committed");
            Ok(())
        }
        Err(err) if err.is_program_error("RequestNotPending") => {
            // Someone committed first: us before a crash, or another operator.
            let now = shared
                .chain
                .fetch::<InferenceRequest>(&request, "inference request")
                .await?;
            let ours = now.is_some_and(|now| now.operator == shared.operator);
            shared.journal.mark_done(Kind::Commit, &request, None)?;
            tracing::info!(ours, "already committed");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}
