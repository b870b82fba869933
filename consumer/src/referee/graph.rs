//! An integer graph as the referee holds it: numbered values, the
//! weights, and the nodes in topological order; run once, it yields every
//! intermediate tensor, which the referee's commitment hashes.
use super::commit::{Tree, EMPTY};
use super::{
    ops::Op,
    tensor::{IntTensor, RefereeError},
};
use crate::encoding::{decode, encode};
use alloc::{borrow::Cow, string::String, vec, vec::Vec};

/// One node: its op and the value slots it reads (`None`: an optional
/// input left out) and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
}

/// A graph every node of which the referee computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    /// Every value's name (the graph's), by slot.
    pub names: Vec<String>,
    /// The slots of the graph's inputs, in graph order.
    pub inputs: Vec<usize>,
    /// The slots of the graph's outputs, in graph order.
    pub outputs: Vec<usize>,
    /// The weights: initializers and constants, by slot, in file order.
    pub weights: Vec<(usize, IntTensor)>,
    /// The nodes, in topological order.
    pub nodes: Vec<Node>,
}

/// Every value of one run, by slot (`None`: never made, e.g. an optional
/// output nobody reads); the weights borrowed from the graph.
pub type Values<'a> = Vec<Option<Cow<'a, IntTensor>>>;

impl Graph {
    /// Runs the graph on `inputs` (one per graph input, in order): every
    /// value it makes, by slot.
    pub fn run(&self, inputs: Vec<IntTensor>) -> Result<Values<'_>, RefereeError> {
        self.run_with(inputs, |_, _| {})
    }

    /// [`Graph::run`], handing each node's output to `made` (with the
    /// node's index) before the next node reads it: where a drill plants a
    /// lie.
    pub fn run_with(
        &self,
        inputs: Vec<IntTensor>,
        mut made: impl FnMut(usize, &mut IntTensor),
    ) -> Result<Values<'_>, RefereeError> {
        let mut values: Values = vec![None; self.names.len()];
        for (&slot, input) in self.inputs.iter().zip(inputs) {
            values[slot] = Some(Cow::Owned(input));
        }
        for (slot, weight) in &self.weights {
            values[*slot] = Some(Cow::Borrowed(weight));
        }
        for (index, node) in self.nodes.iter().enumerate() {
            let operands = node
                .inputs
                .iter()
                .map(|slot| match slot {
                    None => Ok(None),
                    Some(slot) => values
                        .get(*slot)
                        .and_then(Option::as_deref)
                        .map(Some)
                        .ok_or(RefereeError::Missing { slot: *slot }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut result = node.op.apply(&operands)?;
            made(index, &mut result);
            // Every op here makes one output.
            if let Some(&slot) = node.outputs.first() {
                values[slot] = Some(Cow::Owned(result));
            }
        }
        Ok(values)
    }

    /// The tensors of a canonical input encoding, one per graph input.
    pub fn inputs_of(&self, input: &[u8]) -> Result<Vec<IntTensor>, RefereeError> {
        let inputs = decode(input)
            .map_err(RefereeError::Encoding)?
            .iter()
            .map(IntTensor::from_tensor)
            .collect::<Result<Vec<_>, _>>()?;
        if inputs.len() != self.inputs.len() {
            return Err(RefereeError::Operands {
                op: "graph",
                reason: alloc::format!(
                    "{} inputs for a graph of {}",
                    inputs.len(),
                    self.inputs.len()
                ),
            });
        }
        Ok(inputs)
    }

    /// Runs the graph on a canonical input encoding (one tensor per graph
    /// input, in order) and returns the canonical output encoding, each
    /// output named as the graph names it: what an operator commits.
    pub fn run_encoded(&self, input: &[u8]) -> Result<Vec<u8>, RefereeError> {
        let values = self.run(self.inputs_of(input)?)?;
        let outputs = self
            .outputs
            .iter()
            .map(|&slot| {
                let value = values
                    .get(slot)
                    .and_then(Option::as_deref)
                    .ok_or(RefereeError::Missing { slot })?;
                value.to_tensor(&self.names[slot])
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(encode(&outputs))
    }

    /// The tree over each weight's elements, in file order.
    pub fn weight_trees(&self) -> Vec<Tree> {
        self.weights
            .iter()
            .map(|(_, weight)| Tree::of_tensor(weight))
            .collect()
    }

    /// The weights root a referee model registers: the tree over every
    /// weight's own root ([`super::commit`]), in file order, so that one
    /// step on chain can take one weight element with two short proofs.
    pub fn weights_root(&self) -> [u8; 32] {
        weights_tree(&self.weight_trees()).root()
    }

    /// One run's trace: the tree over each node's output, and the tree over
    /// their roots in node (topological) order, whose root an operator
    /// commits. Two runs that disagree anywhere differ at a first node,
    /// which a bisection over this tree finds in `log2(nodes)` moves.
    pub fn trace(&self, values: &Values) -> Result<Trace, RefereeError> {
        let nodes = self
            .nodes
            .iter()
            .map(|node| {
                let slot = node.outputs.first().copied().unwrap_or(0);
                values
                    .get(slot)
                    .and_then(Option::as_deref)
                    .map(Tree::of_tensor)
                    .ok_or(RefereeError::Missing { slot })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tree = Tree::new(nodes.iter().map(Tree::root).collect());
        Ok(Trace { nodes, tree })
    }

    /// The root of one run's [`Graph::trace`].
    pub fn trace_root(&self, values: &Values) -> Result<[u8; 32], RefereeError> {
        Ok(self.trace(values)?.tree.root())
    }
}

/// The tree over the weights' roots.
pub fn weights_tree(weights: &[Tree]) -> Tree {
    Tree::new(weights.iter().map(Tree::root).collect())
}

/// One run's commitment: each node's output tree and the tree over them.
#[derive(Clone, Debug)]
pub struct Trace {
    pub nodes: Vec<Tree>,
    pub tree: Tree,
}

impl Trace {
    /// The tree over the graph's outputs (at `output_nodes`): the root the
    /// program computes from a committed result.
    pub fn outputs(&self, output_nodes: &[u16]) -> Tree {
        Tree::new(
            output_nodes
                .iter()
                .map(|&node| self.nodes.get(usize::from(node)).map_or(EMPTY, Tree::root))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::referee::tensor::IntType;

    /// `relu(x × W + b)`, all int32 but x uint8.
    fn layer() -> Graph {
        Graph {
            names: ["x", "w", "b", "y", "z", "out"].map(String::from).to_vec(),
            inputs: vec![0],
            outputs: vec![5],
            weights: vec![
                (
                    1,
                    IntTensor::new(IntType::I8, vec![2, 2], vec![1, -2, 3, 4]).unwrap(),
                ),
                (
                    2,
                    IntTensor::new(IntType::I32, vec![2], vec![-100, 5]).unwrap(),
                ),
            ],
            nodes: vec![
                Node {
                    op: Op::MatMulInteger,
                    inputs: vec![Some(0), Some(1)],
                    outputs: vec![3],
                },
                Node {
                    op: Op::Add,
                    inputs: vec![Some(3), Some(2)],
                    outputs: vec![4],
                },
                Node {
                    op: Op::Relu,
                    inputs: vec![Some(4)],
                    outputs: vec![5],
                },
            ],
        }
    }

    #[test]
    fn a_graph_runs_to_every_intermediate_and_its_encoded_output() {
        let graph = layer();
        let x = IntTensor::new(IntType::U8, vec![1, 2], vec![10, 20]).unwrap();
        let values = graph.run(vec![x.clone()]).unwrap();
        // (10, 20) × [[1, −2], [3, 4]] = (70, 60); + (−100, 5); relu.
        assert_eq!(values[3].as_ref().unwrap().data, vec![70, 60]);
        assert_eq!(values[5].as_ref().unwrap().data, vec![0, 65]);
        let input = encode(&[x.to_tensor("x").unwrap()]);
        let output = decode(&graph.run_encoded(&input).unwrap()).unwrap();
        assert_eq!(output[0].name, "out");
        assert_eq!(output[0].values_f64(), vec![0.0, 65.0]);
        // A trace that differs at one node has another root.
        let root = graph.trace_root(&values).unwrap();
        let mut other = values.clone();
        other[3].as_mut().unwrap().to_mut().data[0] = 71;
        assert_ne!(graph.trace_root(&other).unwrap(), root);
        assert_eq!(graph.trace_root(&values).unwrap(), root);
    }

    #[test]
    fn the_weights_root_binds_every_byte_and_the_order() {
        let graph = layer();
        let root = graph.weights_root();
        let mut changed = graph.clone();
        changed.weights[1].1.data[0] = -99;
        assert_ne!(changed.weights_root(), root);
        let mut reordered = graph.clone();
        reordered.weights.reverse();
        assert_ne!(reordered.weights_root(), root);
    }
}
