#![allow(ambiguous_glob_reexports)]
//! One instruction per file: its accounts struct, its arguments and its handler.
pub mod claim_with_result;
pub mod create_bounty;
pub mod sibyl_callback;

pub use claim_with_result::*;
pub use create_bounty::*;
pub use sibyl_callback::*;
