//! The account and tensor types a consumer reads.
pub mod input_buffer;
pub mod request;
pub mod tensor;
pub mod view;

pub use input_buffer::*;
pub use request::*;
pub use tensor::*;
pub use view::*;
