//! The referee's reference interpreter for integer models: the same code
//! in the program (one step of a dispute, recomputed on chain) and in the
//! node (every intermediate tensor, committed). It computes with `core`
//! and `alloc` only, so it builds for SBF, and its arithmetic is ONNX
//! Runtime's bit for bit (`oracle/tests/referee.rs` runs both over the
//! integer fixtures on random inputs). `docs/referee.md` has the game this
//! interpreter serves and what of it is built.
pub mod commit;
pub mod graph;
pub mod ops;
pub mod party;
pub mod record;
pub mod step;
pub mod tensor;

pub use commit::Tree;
pub use graph::{weights_tree, Graph, Node, Trace, Values};
pub use ops::Op;
pub use party::{Commitments, Lie, Party, ProvenOperand, Subject};
pub use record::{graph_tree, NodeRecord, Operand, Source, TensorType};
pub use tensor::{IntTensor, IntType, RefereeError};
