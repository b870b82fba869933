//! Runs the Sibyl program natively inside the real Agave runtime
//! (`solana-program-test`: the same bank, sysvars and SPL Token SBF binaries a
//! validator has) and gives tests a small harness over it.
pub mod consumer;
pub mod env;
pub mod events;
pub mod outcome;
pub mod referee;
pub mod relay;

pub use env::{output, Actor, TestEnv, TestEnvBuilder};
pub use events::Events;
pub use outcome::{assert_anchor_error, assert_sibyl_error, TxResult};
