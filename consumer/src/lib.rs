//! The Sibyl SDK, for programs and clients that use Sibyl's inferences: the
//! program id, the [`InferenceRequest`](state::InferenceRequest) account and
//! the tensor types, the canonical encoding and the hashes, seeds and PDAs,
//! and the two ways a consumer program takes a result:
//!
//! - **read**: declare the request as `Account<'info, InferenceRequest>`
//!   and call [`final_result_no_older_than`](state::InferenceRequest::final_result_no_older_than)
//!   (or [`read_final_result`] on an unchecked account);
//! - **callback**: implement an instruction named `sibyl_callback` taking
//!   [`CallbackData`] and check it with [`verify_callback`] first.
//!
//! Either way, decide only on what [`FinalResult::verified`] returns: what
//! the verifiers checked under the model's comparison rule. The Sibyl
//! program depends on this crate, not the other way round, so a consumer
//! compiles no part of the program. `docs/integrate.md` walks through both
//! paths with the example consumer.
//!
//! # Example
//!
//! The canonical encoding and the output hash, as the program computes them:
//!
//! ```
//! use sibyl_sdk::{encoding::{decode, encode, Tensor}, hashing};
//!
//! let scores = Tensor::from_f32("scores", vec![1, 3], &[0.1, 0.7, 0.2]).unwrap();
//! let output = encode(&[scores.clone()]);
//! assert_eq!(decode(&output).unwrap(), vec![scores]);
//!
//! let (model_hash, input) = ([7u8; 32], b"an input");
//! let committed = hashing::output_hash(&model_hash, &hashing::input_hash(input), &output);
//! assert_ne!(committed, [0; 32]);
//! ```
//!
//! # Warning
//!
//! An account passed to your program can be anything. Take a request only
//! as `Account<'info, InferenceRequest>` (Anchor checks Sibyl owns it and
//! that it is a request) or through [`read_final_result`], always with the
//! model hash you trust, and act on each request at most once.
#![allow(unexpected_cfgs)]

extern crate alloc;

use anchor_lang::prelude::*;

pub mod callback;
pub mod constants;
pub mod encoding;
pub mod hashing;
pub mod pda;
pub mod referee;
pub mod result;
pub mod state;

pub use callback::{
    callback_authority, verify_callback, CallbackAccount, CallbackData, CallbackSpec,
    CALLBACK_AUTHORITY_SEED, CALLBACK_DISCRIMINATOR,
};
pub use encoding::{decode, top_k, Tensor};
pub use result::{honest_range, read_final_result, ConsumerError, FinalResult, Verified};
pub use state::{ComparisonRule, InferenceRequest, RequestStatus, TensorCheck};

// The Sibyl program's id; the program declares the same (a test there
// checks that they agree).
declare_id!("B3N5RexUTsYsqhDSww2V1bQkYYcDsGiTBMihGSPCF3Xx");
