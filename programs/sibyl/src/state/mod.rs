//! Account types, one per file. The request account and the tensor types
//! live in the SDK (`sibyl-sdk`), which consumers read them with.
pub mod config;
pub mod dispute;
pub mod model;
pub mod operator;
pub mod referee_game;
pub mod vote;

pub use config::*;
pub use dispute::*;
pub use model::*;
pub use operator::*;
pub use referee_game::*;
pub use sibyl_sdk::state::*;
pub use vote::*;

/// The signer seeds of a request PDA, for CPIs it signs.
#[macro_export]
macro_rules! request_signer_seeds {
    ($request:expr, $nonce_bytes:ident) => {
        [
            $crate::constants::REQUEST_SEED,
            $request.requester.as_ref(),
            $nonce_bytes.as_ref(),
            core::slice::from_ref(&$request.bump),
        ]
    };
}
