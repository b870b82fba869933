//! Running a registered model on a request's input: fetch (verified by
//! hash) and load once per model, run off the async runtime with bounded
//! concurrency and a time limit.
//!
//! A model's URI and bytes are chosen by whoever registered it, so each
//! model is fetched and loaded under its own lock (a slow or hostile model
//! never holds up the others), a failure is remembered with a growing
//! backoff instead of being retried by every request, and a run that passes
//! `node.inference_timeout_ms` is stopped.
use crate::{
    engine::{Engine, EngineError, LoadedModel, RunControl},
    hex,
    metrics::Metrics,
    referee::{RefereeLoadError, RefereeModel},
    store::{ModelStore, StoreError},
};
use sibyl::state::Model;
use sibyl_sdk::referee::{Lie, Party};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

/// Why a model could not be run on an input.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The model could not be fetched or loaded: `reason` says why.
    #[error("model {model} is unavailable ({failures} failed attempt(s) in a row, trying again in {} s): {reason}", retry_in.as_secs())]
    ModelUnavailable {
        model: String,
        retry_in: Duration,
        failures: u32,
        reason: String,
    },
    /// The referee cannot judge the model: its file is not the one its
    /// roots were registered from, or it does not run on its shapes.
    #[error("the referee cannot judge model {model}: {reason}")]
    Referee { model: String, reason: String },
    #[error("{0}")]
    Internal(String),
}

impl InferenceError {
    /// Whether this error says the model cannot run this input, and never
    /// will: the input does not fit the model, or ONNX Runtime refused the
    /// run. Anything else (the model unavailable, a run past its time
    /// limit, a task that failed) may go otherwise on another try.
    pub fn is_about_input(&self) -> bool {
        self.is_input_misfit()
            || matches!(
                self,
                InferenceError::Engine(EngineError::Run { .. } | EngineError::Output { .. })
                    | InferenceError::Referee { .. }
            )
    }

    /// Whether the input does not fit the model, as every honest node sees
    /// it alike: it is not a canonical encoding, or its tensors are not the
    /// model's inputs (count, names, types, shapes, booleans). No output is
    /// right for such an input. (A run ONNX Runtime refused is not in this
    /// set: it may depend on the machine.)
    pub fn is_input_misfit(&self) -> bool {
        matches!(
            self,
            InferenceError::Engine(
                EngineError::Encoding(_)
                    | EngineError::InputCount { .. }
                    | EngineError::InputName { .. }
                    | EngineError::InputDType { .. }
                    | EngineError::InputShape { .. }
                    | EngineError::InputBool { .. }
            )
        )
    }

    /// Whether the run was stopped at its time limit.
    pub fn is_timeout(&self) -> bool {
        matches!(self, InferenceError::Engine(EngineError::Terminated { .. }))
    }
}

/// The first wait after a model failed to fetch or load; it doubles with
/// each failure in a row, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait before a failed model is tried again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How long a run asked to stop may take to stop before its permit is
/// released all the same.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Whose inference this is. Each lane has its own permits, so a flood of
/// requests to serve cannot hold every inference slot while others' work
/// waits to be verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Serving a request (serve).
    Serve,
    /// Re-executing another operator's commitment (watch, vote).
    Verify,
}

/// How the runner fetches and runs models.
#[derive(Clone, Copy, Debug)]
pub struct RunnerSettings {
    /// Inferences run at once to serve requests.
    pub max_concurrent: usize,
    /// Inferences run at once to verify others' commitments, on top.
    pub reserved_for_verification: usize,
    /// The longest one run may take before it is stopped.
    pub run_timeout: Duration,
    /// Models kept loaded at once: loading one more drops the least
    /// recently used (its sessions, and its file in the cache), so that
    /// models anyone can register cannot fill the node's memory or disk.
    pub max_loaded_models: usize,
}

/// Runs models for the node's services and the command line.
pub struct Runner {
    engine: Arc<Engine>,
    store: ModelStore,
    settings: RunnerSettings,
    /// One slot per model hash; this lock is held only to find a slot.
    models: Mutex<HashMap<[u8; 32], Arc<ModelSlot>>>,
    /// What `ModelSlot::last_used` counts from.
    started: Instant,
    serving: Semaphore,
    verifying: Semaphore,
    metrics: Arc<Metrics>,
    /// The referee models loaded, by hash, checked against their roots:
    /// one cell each, so that one slow load holds up only its own model.
    referees: Mutex<HashMap<[u8; 32], RefereeCell>>,
}

/// One referee model, loaded once by whoever asks first.
type RefereeCell = Arc<tokio::sync::OnceCell<Arc<RefereeModel>>>;

/// One model: only the tasks that need it wait while it is fetched.
#[derive(Default)]
struct ModelSlot {
    state: tokio::sync::Mutex<SlotState>,
    /// When it was last asked for, in milliseconds since the runner began.
    last_used: AtomicU64,
}

enum SlotState {
    /// Not fetched yet, or failed `failures` times in a row, the last time
    /// with `reason`; not tried again before `retry_at`.
    Unloaded {
        failures: u32,
        retry_at: Option<Instant>,
        reason: String,
    },
    Ready(Arc<Sessions>),
}

impl Default for SlotState {
    fn default() -> Self {
        SlotState::Unloaded {
            failures: 0,
            retry_at: None,
            reason: String::new(),
        }
    }
}

/// Terminates a run when dropped (after it finished, harmlessly).
struct StopOnDrop(Arc<RunControl>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.terminate();
    }
}

/// A model's verified file and its idle sessions. A run takes a session
/// (opening another when none is idle) and gives it back; since a run first
/// holds an inference permit, there are never more sessions than permits.
struct Sessions {
    path: PathBuf,
    idle: Mutex<Vec<LoadedModel>>,
    /// Set when the model was dropped (least recently used): its file is
    /// gone, so no more sessions open from `path`.
    dropped: std::sync::atomic::AtomicBool,
}

/// The wait before trying a model again after `failures` failures in a row.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF)
}

impl Runner {
    pub fn new(
        engine: Arc<Engine>,
        store: ModelStore,
        settings: RunnerSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            engine,
            store,
            models: Default::default(),
            started: Instant::now(),
            serving: Semaphore::new(settings.max_concurrent.max(1)),
            verifying: Semaphore::new(settings.reserved_for_verification.max(1)),
            settings,
            metrics,
            referees: Default::default(),
        }
    }

    /// The engine's execution profile id.
    pub fn profile_id(&self) -> [u8; 32] {
        self.engine.profile_id()
    }

    /// `model`'s referee model (its file fetched as for a run), checked
    /// against the roots it registered.
    pub async fn referee(&self, model: &Model) -> Result<Arc<RefereeModel>, InferenceError> {
        let registered = model
            .referee
            .clone()
            .ok_or_else(|| InferenceError::Referee {
                model: hex::encode(&model.model_hash),
                reason: "it has no referee".into(),
            })?;
        let cell = self
            .referees
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(model.model_hash)
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let path = self.sessions(model).await?.path.clone();
            let specs = model.inputs.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                let loaded = RefereeModel::load(&path, &specs)?;
                loaded.check(&registered)?;
                Ok::<_, RefereeLoadError>(loaded)
            })
            .await
            .map_err(|err| InferenceError::Internal(format!("referee task: {err}")))?
            .map_err(|err| match err {
                // The file went (evicted under us): another try reads it anew.
                RefereeLoadError::Read { .. } => InferenceError::Internal(err.to_string()),
                err => InferenceError::Referee {
                    model: hex::encode(&model.model_hash),
                    reason: err.to_string(),
                },
            })?;
            Ok(Arc::new(loaded))
        })
        .await
        .cloned()
    }

    /// One party's run of `referee` on `input`, off the async runtime.
    pub async fn referee_party(
        &self,
        model: &Model,
        referee: Arc<RefereeModel>,
        input: Vec<u8>,
        lie: Option<Lie>,
    ) -> Result<Party, InferenceError> {
        tokio::task::spawn_blocking(move || referee.party(&input, lie))
            .await
            .map_err(|err| InferenceError::Internal(format!("referee task: {err}")))?
            .map_err(|err| InferenceError::Referee {
                model: hex::encode(&model.model_hash),
                reason: err.to_string(),
            })
    }

    /// The canonical output of `model` on `input` (a canonical input encoding).
    pub async fn run(
        &self,
        lane: Lane,
        model: &Model,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, InferenceError> {
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
    ) -> Result<(Vec<u8>, Duration), InferenceError> {
        let permits = match lane {
            Lane::Serve => &self.serving,
            Lane::Verify => &self.verifying,
        };
        let mut dropped_before = false;
        let (sessions, session, _permit, started) = loop {
            // Fetched before a permit is taken: a model that takes minutes
            // to arrive holds no inference slot.
            let sessions = self.sessions(model).await?;
            let permit = permits
                .acquire()
                .await
                .map_err(|_| InferenceError::Internal("inference permits closed".into()))?;
            let started = Instant::now();
            // A session of its own, opened (when none is idle) before the
            // clock starts: the time limit is for the run alone.
            if let Some(session) = self.session_of(&sessions).await? {
                break (sessions, session, permit, started);
            }
            // The model was dropped (least recently used) while this run
            // waited for its permit, and its file with it: it is asked for
            // again, as any model (fetched, counted against the cap), with
            // the permit given back meanwhile.
            if dropped_before {
                return Err(InferenceError::Internal(format!(
                    "model {} was dropped twice while a run waited for it",
                    hex::encode(&model.model_hash)
                )));
            }
            dropped_before = true;
            tracing::debug!(
                model = %hex::encode(&model.model_hash),
                "dropped while a run waited for it; asking for it again"
            );
        };
        let control = Arc::new(RunControl::new()?);
        // Whatever ends this future (a timeout, a shutdown dropping it) ends
        // the run too: a blocking thread is never left running a model.
        let _stop_on_drop = StopOnDrop(control.clone());
        let mut run = tokio::task::spawn_blocking({
            let control = control.clone();
            let sessions = sessions.clone();
            move || {
                let mut session = session;
                let running = Instant::now();
                let result = session
                    .run_with(&input, &control)
                    .map(|output| (output, running.elapsed()));
                sessions.give_back(session);
                result
            }
        });
        let joined = match tokio::time::timeout(self.settings.run_timeout, &mut run).await {
            Ok(joined) => joined,
            Err(_) => {
                control.terminate();
                tracing::warn!(
                    model = %hex::encode(&model.model_hash),
                    limit_ms = crate::metrics::millis(self.settings.run_timeout),
                    "inference ran past its time limit; stopping it"
                );
                // ONNX Runtime stops between kernels: one long kernel may
                // not stop at once. The permit is released after a grace
                // period either way; the thread gives its session back
                // whenever it ends.
                match tokio::time::timeout(STOP_GRACE, &mut run).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        return Err(InferenceError::Engine(EngineError::Terminated {
                            path: sessions.path.clone(),
                        }))
                    }
                }
            }
        };
        let (output, ran) =
            joined.map_err(|err| InferenceError::Internal(format!("inference task: {err}")))??;
        self.metrics
            .inference_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok((output, ran))
    }

    /// The model's sessions, fetching and opening it the first time (or
    /// once its backoff has passed).
    async fn sessions(&self, model: &Model) -> Result<Arc<Sessions>, InferenceError> {
        let slot = self
            .models
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(model.model_hash)
            .or_default()
            .clone();
        slot.last_used.store(
            crate::metrics::millis(self.started.elapsed()),
            Ordering::Relaxed,
        );
        let mut state = slot.state.lock().await;
        let failures = match &*state {
            SlotState::Ready(sessions) => return Ok(sessions.clone()),
            SlotState::Unloaded {
                failures,
                retry_at: Some(retry_at),
                reason,
            } if Instant::now() < *retry_at => {
                return Err(InferenceError::ModelUnavailable {
                    model: hex::encode(&model.model_hash),
                    retry_in: retry_at.saturating_duration_since(Instant::now()),
                    failures: *failures,
                    reason: reason.clone(),
                })
            }
            SlotState::Unloaded { failures, .. } => *failures,
        };
        match self.open(model).await {
            Ok(sessions) => {
                let sessions = Arc::new(sessions);
                *state = SlotState::Ready(sessions.clone());
                drop(state);
                self.evict_beyond_cap(&model.model_hash);
                Ok(sessions)
            }
            Err(err) => {
                let failures = failures.saturating_add(1);
                let wait = backoff(failures);
                tracing::warn!(
                    model = %hex::encode(&model.model_hash),
                    uri = %model.uri,
                    %err,
                    failures,
                    retry_in_s = wait.as_secs(),
                    "model unavailable"
                );
                let reason = err.to_string();
                *state = SlotState::Unloaded {
                    failures,
                    retry_at: Some(Instant::now() + wait),
                    reason: reason.clone(),
                };
                Err(InferenceError::ModelUnavailable {
                    model: hex::encode(&model.model_hash),
                    retry_in: wait,
                    failures,
                    reason,
                })
            }
        }
    }

    /// A session of `sessions` for a run: an idle one, or one opened from
    /// its file; none when the model was dropped (least recently used) and
    /// its file is gone.
    async fn session_of(&self, sessions: &Sessions) -> Result<Option<LoadedModel>, InferenceError> {
        if let Some(session) = sessions.take() {
            return Ok(Some(session));
        }
        if sessions.is_dropped() {
            return Ok(None);
        }
        let (engine, path) = (self.engine.clone(), sessions.path.clone());
        let loaded = tokio::task::spawn_blocking(move || engine.load(&path))
            .await
            .map_err(|err| InferenceError::Internal(format!("session task: {err}")))?;
        match loaded {
            Ok(session) => Ok(Some(session)),
            // Dropped while it opened, or its file otherwise gone.
            Err(_) if sessions.is_dropped() || !sessions.path.exists() => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// How many models are loaded now (one being fetched right now is not
    /// counted).
    pub fn loaded_models(&self) -> usize {
        self.models
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .filter(|slot| {
                slot.state
                    .try_lock()
                    .is_ok_and(|state| matches!(*state, SlotState::Ready(_)))
            })
            .count()
    }

    /// Drops the least recently used loaded models beyond
    /// `max_loaded_models`, never `keep` (just loaded), with their cached
    /// files. A run in progress keeps its model's sessions until it ends
    /// (one that needs another session meanwhile asks for the model again:
    /// [`Runner::run_timed`]). The files go while the map is locked, so a model asked
    /// for again at that moment is fetched again, never left without its
    /// file.
    fn evict_beyond_cap(&self, keep: &[u8; 32]) {
        let mut models = self
            .models
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A slot being fetched right now is not counted or dropped; a
        // ready one stays ready until it leaves the map.
        let mut loaded: Vec<([u8; 32], u64, Arc<Sessions>)> = models
            .iter()
            .filter(|(hash, _)| *hash != keep)
            .filter_map(|(hash, slot)| match &*slot.state.try_lock().ok()? {
                SlotState::Ready(sessions) => Some((
                    *hash,
                    slot.last_used.load(Ordering::Relaxed),
                    sessions.clone(),
                )),
                SlotState::Unloaded { .. } => None,
            })
            .collect();
        let excess = (loaded.len() + 1).saturating_sub(self.settings.max_loaded_models.max(1));
        loaded.sort_by_key(|(_, used, _)| *used);
        loaded.truncate(excess);
        for (hash, _, sessions) in &loaded {
            models.remove(hash);
            // Before its file goes: a run that holds these sessions then
            // asks for the model again instead of opening the file.
            sessions
                .dropped
                .store(true, std::sync::atomic::Ordering::Release);
            self.store.forget(hash);
            tracing::info!(model = %hex::encode(hash), "model unloaded (least recently used)");
        }
    }

    /// Fetches the model (verified by hash) and opens its first session,
    /// which proves the file loads.
    async fn open(&self, model: &Model) -> Result<Sessions, InferenceError> {
        let path = self.store.fetch(&model.uri, &model.model_hash).await?;
        let engine = self.engine.clone();
        let load_path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || engine.load(&load_path))
            .await
            .map_err(|err| InferenceError::Internal(format!("model load task: {err}")));
        let first = match loaded {
            Ok(Ok(first)) => first,
            // A file that does not load is not kept: files anyone can
            // register must not pile up in the cache.
            failed => {
                self.store.forget(&model.model_hash);
                failed??
            }
        };
        Ok(Sessions {
            path,
            idle: Mutex::new(vec![first]),
            dropped: Default::default(),
        })
    }
}

impl Sessions {
    fn take(&self) -> Option<LoadedModel> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
    }

    fn is_dropped(&self) -> bool {
        self.dropped.load(std::sync::atomic::Ordering::Acquire)
    }

    fn give_back(&self, session: LoadedModel) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that got its model's sessions, then waited for a permit while
    /// the model was dropped (its file deleted) and found no idle session,
    /// asks for the model again instead of failing (with 100 or 1000 models
    /// and a backlog, `make bench` §10 saw 55 to 78 of 1000 requests fail
    /// this way and wait for the next scan).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_whose_model_was_dropped_while_it_waited_asks_for_it_again() {
        use crate::{
            engine::{Engine, EngineSettings},
            store::{sha256_file, ModelStore},
            tensor::{encode, Tensor},
            test_support,
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cache = tempfile::tempdir().unwrap();
        let model_of = |name: &str| {
            let path = root.join(format!("models/{name}.onnx"));
            Model {
                uri: format!("file://models/{name}.onnx"),
                ..test_support::model(
                    test_support::float_spec("x", &[1]),
                    test_support::float_spec("y", &[1]),
                    sha256_file(&path).unwrap(),
                    [0; 32],
                )
            }
        };
        let (mlp, digits) = (model_of("mlp_float"), model_of("digits"));
        let input = encode(&[Tensor::from_f32("", vec![1, 16], &[0.5; 16]).unwrap()]);
        let runner = Arc::new(Runner::new(
            Arc::new(Engine::new(&EngineSettings::default()).unwrap()),
            ModelStore::new(cache.path().to_path_buf(), root.clone()),
            RunnerSettings {
                max_concurrent: 1,
                reserved_for_verification: 1,
                run_timeout: Duration::from_secs(10),
                max_loaded_models: 1,
            },
            Metrics::new(),
        ));
        let expected = runner.run(Lane::Serve, &mlp, input.clone()).await.unwrap();

        let waited = runner.sessions(&mlp).await.unwrap();
        // Another run holds its one session and the one permit...
        let busy = waited.take().unwrap();
        let permit = runner.serving.acquire().await.unwrap();
        let run = tokio::spawn({
            let (runner, mlp, input) = (runner.clone(), mlp.clone(), input.clone());
            async move { runner.run_timed(Lane::Serve, &mlp, input).await }
        });
        // ...while this run waits for it (it holds the model's sessions:
        // the test's, the loaded slot's and its own)...
        let waiting_since = Instant::now();
        while Arc::strong_count(&waited) < 3 {
            assert!(waiting_since.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // ...another model is loaded, which drops this one with its file.
        runner.sessions(&digits).await.unwrap();
        assert!(waited.is_dropped());
        assert!(!waited.path.exists(), "its file is gone");
        assert!(
            runner.session_of(&waited).await.unwrap().is_none(),
            "no session from a dropped model's file, and no error"
        );
        drop(permit);
        let (output, _) = run.await.unwrap().unwrap();
        assert_eq!(output, expected);
        assert_eq!(runner.loaded_models(), 1, "within the cap");
        drop(busy);
    }

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling() {
        assert_eq!(backoff(1), FIRST_BACKOFF);
        assert_eq!(backoff(2), FIRST_BACKOFF * 2);
        assert_eq!(backoff(4), FIRST_BACKOFF * 8);
        assert_eq!(backoff(8), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
