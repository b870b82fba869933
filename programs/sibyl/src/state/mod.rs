//! Account types, one per file.
pub mod config;
pub mod dispute;
pub mod model;
pub mod operator;
pub mod request;
pub mod tensor;
pub mod vote;

pub use config::*;
pub use dispute::*;
pub use model::*;
pub use operator::*;
pub use request::*;
pub use tensor::*;
pub use vote::*;
