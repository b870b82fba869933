//! A node as the referee's on-chain step reads it: its op, where each
//! operand comes from, and every operand's and the output's dtype and
//! shape, all fixed for a referee model (its inputs' shapes are fixed, and
//! so every value's shape is). The graph root a referee model registers
//! is the tree ([`super::commit`]) over these records' Borsh encodings.
use super::{
    commit::{leaf, Tree},
    graph::{Graph, Values},
    ops::Op,
    tensor::{IntTensor, IntType, RefereeError},
};
use alloc::vec::Vec;
use anchor_lang::prelude::{AnchorDeserialize, AnchorSerialize};

/// The largest record the program reads (a step's transaction holds one
/// with its proof).
pub const MAX_RECORD_BYTES: usize = 384;

/// Where an operand comes from.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The request's input tensor of this index (graph order).
    Input(u16),
    /// The weight of this index (the graph's weights, in file order).
    Weight(u16),
    /// The output of the node of this index (topological order).
    Node(u16),
}

/// A tensor's dtype and shape.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct TensorType {
    pub dtype: IntType,
    pub dims: Vec<u32>,
}

impl TensorType {
    pub fn of(tensor: &IntTensor) -> TensorType {
        TensorType {
            dtype: tensor.dtype,
            dims: tensor.dims.iter().map(|&dim| dim as u32).collect(),
        }
    }

    /// Its dims as `usize`s.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().map(|&dim| dim as usize).collect()
    }

    /// How many elements it holds (`None` past `u64`).
    pub fn count(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |count, &dim| count.checked_mul(u64::from(dim)))
    }
}

/// One operand: where it comes from and what it is.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct Operand {
    pub source: Source,
    pub ty: TensorType,
}

/// One node of a referee model.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub op: Op,
    /// One per ONNX input of the op; `None` for an optional input left out.
    pub inputs: Vec<Option<Operand>>,
    pub output: TensorType,
}

impl NodeRecord {
    /// Its Borsh encoding, what the graph root commits.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.serialize(&mut bytes);
        bytes
    }

    /// The record of `bytes`, if they are one record exactly.
    pub fn from_bytes(bytes: &[u8]) -> Option<NodeRecord> {
        NodeRecord::try_from_slice(bytes).ok()
    }

    /// The operand of input `slot`.
    pub fn operand(&self, slot: usize) -> Option<&Operand> {
        self.inputs.get(slot).and_then(Option::as_ref)
    }
}

impl Graph {
    /// The records of this graph's nodes, with the shapes of one run's
    /// `values`. A referee model's shapes are the same for every input
    /// that fits it; an input whose run has other shapes makes other
    /// records, and so another [`graph_root`].
    pub fn records(&self, values: &Values) -> Result<Vec<NodeRecord>, RefereeError> {
        let source_of = |slot: usize| -> Result<Source, RefereeError> {
            let index = |position: Option<usize>| position.and_then(|p| u16::try_from(p).ok());
            if let Some(input) = index(self.inputs.iter().position(|&s| s == slot)) {
                return Ok(Source::Input(input));
            }
            if let Some(weight) = index(self.weights.iter().position(|(s, _)| *s == slot)) {
                return Ok(Source::Weight(weight));
            }
            index(
                self.nodes
                    .iter()
                    .position(|node| node.outputs.first() == Some(&slot)),
            )
            .map(Source::Node)
            .ok_or(RefereeError::Missing { slot })
        };
        let value = |slot: usize| {
            values
                .get(slot)
                .and_then(Option::as_deref)
                .ok_or(RefereeError::Missing { slot })
        };
        self.nodes
            .iter()
            .map(|node| {
                let inputs = node
                    .inputs
                    .iter()
                    .map(|slot| {
                        slot.map(|slot| {
                            Ok(Operand {
                                source: source_of(slot)?,
                                ty: TensorType::of(value(slot)?),
                            })
                        })
                        .transpose()
                    })
                    .collect::<Result<Vec<_>, RefereeError>>()?;
                // A step reads every shape from the record: a shape computed
                // from the input would make the record wrong for some input.
                if let (Op::Reshape { .. }, Some(Some(shape))) = (&node.op, inputs.get(1)) {
                    if !matches!(shape.source, Source::Weight(_)) {
                        return Err(RefereeError::Operands {
                            op: "Reshape",
                            reason: "its shape is computed, not a weight".into(),
                        });
                    }
                }
                let slot = node
                    .outputs
                    .first()
                    .copied()
                    .ok_or(RefereeError::Missing { slot: 0 })?;
                Ok(NodeRecord {
                    op: node.op.clone(),
                    inputs,
                    output: TensorType::of(value(slot)?),
                })
            })
            .collect()
    }

    /// The node (topological) index of each graph output, in graph order;
    /// `None` if an output is not a node's (an input or a weight).
    pub fn output_nodes(&self) -> Option<Vec<u16>> {
        self.outputs
            .iter()
            .map(|slot| {
                self.nodes
                    .iter()
                    .position(|node| node.outputs.first() == Some(slot))
                    .and_then(|index| u16::try_from(index).ok())
            })
            .collect()
    }
}

/// The graph root: the tree over the records' encodings.
pub fn graph_tree(records: &[NodeRecord]) -> Tree {
    Tree::new(
        records
            .iter()
            .map(|record| leaf(&record.to_bytes()))
            .collect(),
    )
}
