//! An embedded Solana localnet: the real Agave bank (the one behind
//! `solana-program-test`) with Sibyl as a native program and SPL Token,
//! Token-2022 and Associated Token as their real SBF binaries, advancing slots
//! in real time.
pub mod chain;
pub mod native;
pub mod pubsub;
pub mod rpc;
pub mod server;

pub use chain::{
    BlockRecord, Chain, ChainConfig, ChainError, ChainEvent, PerformanceSample, TransactionRecord,
};
pub use server::{Localnet, LocalnetConfig};
