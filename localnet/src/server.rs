//! The localnet service: the chain, its slot clock and the JSON-RPC endpoint
//! over HTTP, started together and stopped together.
use crate::{
    chain::{Chain, ChainConfig},
    rpc,
};
use axum::{
    extract::{State, WebSocketUpgrade},
    http::{header, StatusCode},
    response::IntoResponse,
    routing::{any, post},
    Router,
};
use jsonrpc_core::IoHandler;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

/// How to run a localnet.
#[derive(Clone, Debug)]
pub struct LocalnetConfig {
    /// Where JSON-RPC listens (port 0: any free port).
    pub rpc_addr: SocketAddr,
    /// Where PubSub (WebSocket) listens.
    pub pubsub_addr: SocketAddr,
    /// Length of a slot.
    pub slot_duration: Duration,
    /// How often `getRecentPerformanceSamples` gets a sample (Agave: 60 s).
    pub sample_period: Duration,
    /// Genesis accounts and the like.
    pub chain: ChainConfig,
}

impl Default for LocalnetConfig {
    fn default() -> Self {
        Self {
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 8899)),
            pubsub_addr: SocketAddr::from(([127, 0, 0, 1], 8900)),
            slot_duration: Duration::from_millis(400),
            sample_period: Duration::from_secs(60),
            chain: ChainConfig::default(),
        }
    }
}

impl LocalnetConfig {
    /// Any free loopback port and short slots: for tests.
    pub fn for_tests() -> Self {
        Self {
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pubsub_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            slot_duration: Duration::from_millis(50),
            sample_period: Duration::from_secs(1),
            chain: ChainConfig::default(),
        }
    }
}

/// A running localnet; dropping it does not stop it, [`Localnet::shutdown`] does.
pub struct Localnet {
    pub chain: Arc<Chain>,
    /// The address JSON-RPC listens on.
    pub rpc_addr: SocketAddr,
    /// The address PubSub listens on.
    pub pubsub_addr: SocketAddr,
    /// The JSON-RPC calls answered so far, by method.
    pub rpc_calls: Arc<rpc::RpcCalls>,
    slot_duration: Duration,
    sample_period: Duration,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Localnet {
    /// Starts the chain, its slot clock and the RPC server.
    pub async fn start(config: LocalnetConfig) -> std::io::Result<Localnet> {
        let chain = Chain::start(config.chain).await;
        Localnet::serve(
            chain,
            config.rpc_addr,
            config.pubsub_addr,
            config.slot_duration,
            config.sample_period,
        )
        .await
    }

    /// Serves `chain`: JSON-RPC, PubSub and the slot clock.
    async fn serve(
        chain: Arc<Chain>,
        rpc_addr: SocketAddr,
        pubsub_addr: SocketAddr,
        slot_duration: Duration,
        sample_period: Duration,
    ) -> std::io::Result<Localnet> {
        let (stop, stopped) = watch::channel(false);
        let listener = TcpListener::bind(rpc_addr).await?;
        let rpc_addr = listener.local_addr()?;
        let pubsub_listener = TcpListener::bind(pubsub_addr).await?;
        let pubsub_addr = pubsub_listener.local_addr()?;
        let endpoints = rpc::Endpoints {
            rpc: rpc_addr,
            pubsub: pubsub_addr,
        };
        let rpc_calls = Arc::new(rpc::RpcCalls::default());
        let handler = Arc::new(rpc::handler(chain.clone(), endpoints, rpc_calls.clone()));
        let app = Router::new()
            .route("/", post(serve_json_rpc).options(cors_preflight))
            .with_state(handler);
        let server = tokio::spawn(serve(listener, app, stopped.clone()));
        let pubsub_app = Router::new()
            .route("/", any(upgrade_pubsub))
            .with_state(chain.clone());
        let pubsub = tokio::spawn(serve(pubsub_listener, pubsub_app, stopped.clone()));
        let clock = tokio::spawn(slot_clock(chain.clone(), slot_duration, stopped.clone()));
        let sampler = tokio::spawn(sample_performance(chain.clone(), sample_period, stopped));
        Ok(Localnet {
            chain,
            rpc_addr,
            pubsub_addr,
            rpc_calls,
            slot_duration,
            sample_period,
            stop,
            tasks: vec![server, pubsub, clock, sampler],
        })
    }

    /// Stops the servers and the slot clock for `downtime`, then serves the
    /// same chain on the same addresses again: a validator restarting with
    /// its ledger (the ledger lives in this process, so a restart of the
    /// process itself would be a new cluster).
    pub async fn restart(&mut self, downtime: Duration) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        tokio::time::sleep(downtime).await;
        *self = Localnet::serve(
            self.chain.clone(),
            self.rpc_addr,
            self.pubsub_addr,
            self.slot_duration,
            self.sample_period,
        )
        .await?;
        Ok(())
    }

    /// The JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// The PubSub (WebSocket) URL.
    pub fn pubsub_url(&self) -> String {
        format!("ws://{}", self.pubsub_addr)
    }

    /// Stops the servers and the slot clock and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Serves `app` until the stop signal.
async fn serve(listener: TcpListener, app: Router, mut stopped: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%err, "server stopped");
    }
}

async fn upgrade_pubsub(
    State(chain): State<Arc<Chain>>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    upgrade.on_upgrade(move |socket| crate::pubsub::serve_connection(socket, chain))
}

/// Advances one slot every `slot_duration` until stopped.
async fn slot_clock(
    chain: Arc<Chain>,
    slot_duration: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(slot_duration);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let chain = chain.clone();
                // Freezing a bank hashes its accounts: keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || chain.advance_slot()).await;
            }
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    return;
                }
            }
        }
    }
}

/// Takes a performance sample every `period` until stopped (Agave's
/// sample performance service).
async fn sample_performance(
    chain: Arc<Chain>,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    // A zero period would make `interval` panic.
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => chain.sample_performance(),
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    return;
                }
            }
        }
    }
}

async fn serve_json_rpc(State(handler): State<Arc<IoHandler>>, body: String) -> impl IntoResponse {
    // Bank work is synchronous; run it on the blocking pool like Agave's RPC threads.
    let response = tokio::task::spawn_blocking(move || handler.handle_request_sync(&body))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        response,
    )
}

/// Browsers ask before a cross-origin JSON POST; like Agave's RPC, any
/// origin may call (a web app on another port of this machine, for one).
async fn cors_preflight() -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
}
