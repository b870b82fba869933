//! Running a registered model on a request's input: fetch (verified by
//! hash), load once, run off the async runtime with bounded concurrency.
use crate::{
    engine::{Engine, LoadedModel},
    metrics::Metrics,
    store::ModelStore,
};
use sibyl::state::Model;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

use super::NodeError;

/// Whose inference this is. Each lane has its own permits, so a flood of
/// requests to serve cannot hold every inference slot while others' work
/// waits to be verified (runs of one model still share its session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Serving a request (serve).
    Serve,
    /// Re-executing another operator's commitment (watch, vote).
    Verify,
}

/// Runs models for the services; one loaded session per model hash.
pub struct Runner {
    engine: Arc<Engine>,
    store: ModelStore,
    loaded: tokio::sync::Mutex<HashMap<[u8; 32], Arc<Mutex<LoadedModel>>>>,
    serving: Semaphore,
    verifying: Semaphore,
    metrics: Arc<Metrics>,
}

impl Runner {
    /// A runner allowing `max_concurrent` inferences at once for serving,
    /// and `reserved_for_verification` more for watch and vote.
    pub fn new(
        engine: Arc<Engine>,
        store: ModelStore,
        max_concurrent: usize,
        reserved_for_verification: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            engine,
            store,
            loaded: Default::default(),
            serving: Semaphore::new(max_concurrent.max(1)),
            verifying: Semaphore::new(reserved_for_verification.max(1)),
            metrics,
        }
    }

    /// The engine's execution profile id.
    pub fn profile_id(&self) -> [u8; 32] {
        self.engine.profile_id()
    }

    /// The canonical output of `model` on `input` (a canonical input encoding).
    pub async fn run(
        &self,
        lane: Lane,
        model: &Model,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, NodeError> {
        self.run_timed(lane, model, input)
            .await
            .map(|(output, _)| output)
    }

    /// [`Runner::run`], and how long the model itself ran (decode, run,
    /// encode on the blocking thread; no queueing).
    pub async fn run_timed(
        &self,
        lane: Lane,
        model: &Model,
        input: Vec<u8>,
    ) -> Result<(Vec<u8>, Duration), NodeError> {
        let session = self.session(model).await?;
        let permits = match lane {
            Lane::Serve => &self.serving,
            Lane::Verify => &self.verifying,
        };
        let _permit = permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let started = Instant::now();
        let (output, ran) = tokio::task::spawn_blocking(move || {
            let mut session = session
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let running = Instant::now();
            session
                .run(&input)
                .map(|output| (output, running.elapsed()))
        })
        .await
        .map_err(|err| NodeError::Internal(format!("inference task: {err}")))??;
        self.metrics
            .inference_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok((output, ran))
    }

    async fn session(&self, model: &Model) -> Result<Arc<Mutex<LoadedModel>>, NodeError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(session) = loaded.get(&model.model_hash) {
            return Ok(session.clone());
        }
        let path = self.store.fetch(&model.uri, &model.model_hash).await?;
        let engine = self.engine.clone();
        let session = tokio::task::spawn_blocking(move || engine.load(&path))
            .await
            .map_err(|err| NodeError::Internal(format!("model load task: {err}")))??;
        let session = Arc::new(Mutex::new(session));
        loaded.insert(model.model_hash, session.clone());
        Ok(session)
    }
}
