//! Sibyl's oracle node: the off-chain half of the protocol. Operators run it
//! (`sibyl node run`) to serve requests, watch other operators' commitments,
//! vote in disputes and crank settlements; users call the same library
//! through the `sibyl` command line.
// The workspace lints (no panics, no silent casts) are for the node's code;
// a test's casts are its own business (`clippy.toml` allows the rest).
#![cfg_attr(
    test,
    allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]
pub mod actions;
pub mod chain;
pub mod compare;
pub mod config;
pub mod endpoints;
pub mod engine;
pub mod faulty;
pub mod hex;
pub mod inference;
pub mod input;
pub mod journal;
pub mod keys;
pub mod metrics;
pub mod node;
pub mod outputs;
pub mod program_error;
pub mod read_ahead;
pub mod referee;
pub mod referenced;
pub mod store;
pub mod tensor;
#[cfg(test)]
mod test_support;
#[cfg(feature = "test-cluster")]
pub mod testing;
pub mod verifier;
