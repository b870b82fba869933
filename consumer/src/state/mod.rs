//! The account and tensor types a consumer reads.
pub mod request;
pub mod tensor;

pub use request::*;
pub use tensor::*;
