//! The node and the `sibyl` command line against an in-process localnet (the
//! real Agave runtime behind JSON-RPC and PubSub), with the real ONNX
//! Runtime and the digits fixture.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "a test: a failure here is the test failing"
)]
mod adversarial;
mod attack;
mod bad_input;
mod cli;
mod cluster;
mod deploy;
mod disputes;
mod families;
mod faults;
mod inputs;
mod liveness;
mod migrate;
mod process;
mod referee;
mod restart;
mod serve;
mod untrusted_models;
