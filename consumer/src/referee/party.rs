//! A party to a referee game: one run of the model on a request's input,
//! every tree the game descends, and the answer to every move the game can
//! ask of it. The node plays from it (an operator defending its commitment,
//! a watcher challenging one), and the tests play liars from it (a
//! [`Lie`] planted in the run). Everything is recomputed from the model and
//! the request's input, so a party restarted mid-game answers the same.
use super::{
    commit::{depth, Tree, EMPTY},
    graph::{weights_tree, Graph},
    record::{graph_tree, NodeRecord, Source, MAX_RECORD_BYTES},
    step::{self, State},
    tensor::{IntTensor, IntType, RefereeError},
};
use crate::encoding::encode;
use alloc::vec::Vec;

/// Which tree a game's first descent is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The trace: one leaf per node's output.
    Trace,
    /// The outputs: one leaf per graph output.
    Outputs,
}

/// A lie planted in a run (for tests and drills).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// `delta` added to one element of one node's output, every later node
    /// computed from it: a consistent liar, whose result is its trace's.
    /// `early`: in a reduction's bisection it claims its lie from the first
    /// term on (else only at the last).
    Node {
        node: usize,
        element: usize,
        delta: i64,
        early: bool,
    },
    /// The honest trace, `delta` added to one element of one output.
    Output {
        output: usize,
        element: usize,
        delta: i64,
    },
    /// The honest trace with junk in its first padding leaf.
    Padding,
}

/// What a referee model commits to at registration, and what proves its
/// records and weights in a step: computed once per model.
#[derive(Clone, Debug)]
pub struct Commitments {
    pub records: Vec<NodeRecord>,
    pub graph: Tree,
    pub weight_trees: Vec<Tree>,
    pub weights: Tree,
    /// The node that makes each output, in graph order.
    pub output_nodes: Vec<u16>,
}

/// The most siblings one operand's proofs may hold together (its
/// element's path and its tensor's): with the rest of
/// `prove_referee_operand`, what fits one 1,232-byte transaction.
pub const MAX_PROOF_SIBLINGS: u32 = 24;

impl Commitments {
    /// The commitments of `graph`, its shapes those of a run on `inputs`
    /// (every input of a referee model has the same shapes). A graph whose
    /// steps could not be proven in one transaction each (a record over
    /// [`MAX_RECORD_BYTES`], a tensor too large for its proofs) is refused:
    /// a lie at such a node could never be shown.
    pub fn new(graph: &Graph, inputs: Vec<IntTensor>) -> Result<Commitments, RefereeError> {
        let records = graph.records(&graph.run(inputs)?)?;
        let refuse = |reason: alloc::string::String| RefereeError::Operands {
            op: "graph",
            reason,
        };
        let node_depth = depth(records.len() as u64);
        let weight_depth = depth(graph.weights.len() as u64);
        for (index, record) in records.iter().enumerate() {
            if record.to_bytes().len() > MAX_RECORD_BYTES {
                return Err(refuse(alloc::format!(
                    "node {index}'s record is over {MAX_RECORD_BYTES} bytes"
                )));
            }
            let count = record.output.count().unwrap_or(u64::MAX);
            if depth(count) + node_depth > MAX_PROOF_SIBLINGS {
                return Err(refuse(alloc::format!(
                    "node {index}'s output ({count} elements) is too large to prove in one transaction"
                )));
            }
        }
        for (index, (_, weight)) in graph.weights.iter().enumerate() {
            if depth(weight.data.len() as u64) + weight_depth > MAX_PROOF_SIBLINGS {
                return Err(refuse(alloc::format!(
                    "weight {index} ({} elements) is too large to prove in one transaction",
                    weight.data.len()
                )));
            }
        }
        let output_nodes = graph.output_nodes().ok_or(RefereeError::Operands {
            op: "graph",
            reason: "an output is not a node's".into(),
        })?;
        let weight_trees = graph.weight_trees();
        Ok(Commitments {
            graph: graph_tree(&records),
            weights: weights_tree(&weight_trees),
            records,
            weight_trees,
            output_nodes,
        })
    }
}

/// An operand of a step with what proves it: for a weight, its element's
/// path to the weight's root and the weight's to the weights root; for a
/// node's output, to the node's root and the node's to the trace root; for
/// the request's input, nothing (the program reads it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenOperand {
    pub value: i64,
    pub element_proof: Vec<[u8; 32]>,
    pub item_proof: Vec<[u8; 32]>,
}

/// One run and its trees.
#[derive(Clone, Debug)]
pub struct Party {
    /// Every value by slot.
    values: Vec<Option<IntTensor>>,
    /// The slot of each input, weight and node output.
    input_slots: Vec<usize>,
    weight_slots: Vec<usize>,
    node_slots: Vec<usize>,
    node_trees: Vec<Tree>,
    trace: Tree,
    outputs: Vec<IntTensor>,
    output_trees: Vec<Tree>,
    outputs_tree: Tree,
    /// The canonical encoding of its outputs: the result it commits.
    pub result: Vec<u8>,
    lie: Option<Lie>,
}

impl Party {
    /// Runs `graph` on `input` (a canonical encoding), with `lie` planted.
    pub fn run(graph: &Graph, input: &[u8], lie: Option<Lie>) -> Result<Party, RefereeError> {
        let values: Vec<Option<IntTensor>> = graph
            .run_with(graph.inputs_of(input)?, |index, output| {
                if let Some(Lie::Node {
                    node,
                    element,
                    delta,
                    ..
                }) = lie
                {
                    if node == index {
                        if let Some(value) = output.data.get_mut(element) {
                            *value = output.dtype.wrap(*value + delta);
                        }
                    }
                }
            })?
            .into_iter()
            .map(|value| value.map(alloc::borrow::Cow::into_owned))
            .collect();
        let node_slots = graph
            .nodes
            .iter()
            .map(|node| {
                node.outputs
                    .first()
                    .copied()
                    .ok_or(RefereeError::Missing { slot: 0 })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tensor = |slot: usize| {
            values
                .get(slot)
                .and_then(Option::as_ref)
                .ok_or(RefereeError::Missing { slot })
        };
        let node_trees = node_slots
            .iter()
            .map(|&slot| tensor(slot).map(Tree::of_tensor))
            .collect::<Result<Vec<_>, _>>()?;
        let mut leaves: Vec<[u8; 32]> = node_trees.iter().map(Tree::root).collect();
        if lie == Some(Lie::Padding) {
            leaves.push([9; 32]);
        }
        let mut outputs = graph
            .outputs
            .iter()
            .map(|&slot| tensor(slot).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(Lie::Output {
            output,
            element,
            delta,
        }) = lie
        {
            if let Some(value) = outputs
                .get_mut(output)
                .and_then(|t| t.data.get_mut(element))
            {
                *value += delta;
            }
            if let Some(tensor) = outputs.get_mut(output) {
                tensor.data = tensor.data.iter().map(|&v| tensor.dtype.wrap(v)).collect();
            }
        }
        let output_trees: Vec<Tree> = outputs.iter().map(Tree::of_tensor).collect();
        let result = encode(
            &outputs
                .iter()
                .zip(&graph.outputs)
                .map(|(tensor, &slot)| tensor.to_tensor(&graph.names[slot]))
                .collect::<Result<Vec<_>, _>>()?,
        );
        Ok(Party {
            input_slots: graph.inputs.clone(),
            weight_slots: graph.weights.iter().map(|(slot, _)| *slot).collect(),
            node_slots,
            trace: Tree::new(leaves),
            outputs_tree: Tree::new(output_trees.iter().map(Tree::root).collect()),
            values,
            node_trees,
            outputs,
            output_trees,
            result,
            lie,
        })
    }

    /// The root this party's trace commits (what an operator commits, a
    /// challenger opens with).
    pub fn trace_root(&self) -> [u8; 32] {
        self.trace.root()
    }

    /// The root over its outputs (what the program computes from a
    /// committed result).
    pub fn output_root(&self) -> [u8; 32] {
        self.outputs_tree.root()
    }

    /// Whether this run's records are the model's (its shapes are those the
    /// model registered): a run that is not cannot be defended.
    pub fn fits(&self, graph: &Graph, commitments: &Commitments) -> bool {
        let values: super::graph::Values = self
            .values
            .iter()
            .map(|value| value.as_ref().map(alloc::borrow::Cow::Borrowed))
            .collect();
        graph
            .records(&values)
            .is_ok_and(|records| graph_tree(&records).root() == commitments.graph.root())
    }

    /// The two children of its node at (`level`, `index`) of a descent:
    /// over its trace or outputs (`item: None`), or over the elements of
    /// item `item` (a node's output, or an output).
    pub fn children(
        &self,
        subject: Subject,
        item: Option<u64>,
        level: u32,
        index: u64,
    ) -> [[u8; 32]; 2] {
        let tree = match (subject, item) {
            (Subject::Trace, None) => Some(&self.trace),
            (Subject::Outputs, None) => Some(&self.outputs_tree),
            (Subject::Trace, Some(item)) => self.node_trees.get(item as usize),
            (Subject::Outputs, Some(item)) => self.output_trees.get(item as usize),
        };
        tree.map_or([EMPTY; 2], |tree| tree.children(level, index))
    }

    fn item_tensor(&self, subject: Subject, item: u64) -> Option<&IntTensor> {
        match subject {
            Subject::Trace => self
                .node_slots
                .get(item as usize)
                .and_then(|&slot| self.values.get(slot))
                .and_then(Option::as_ref),
            Subject::Outputs => self.outputs.get(item as usize),
        }
    }

    /// Its value of element `element` of item `item`.
    pub fn value(&self, subject: Subject, item: u64, element: u64) -> Option<i64> {
        self.item_tensor(subject, item)?
            .data
            .get(element as usize)
            .copied()
    }

    fn operand_value(&self, source: Source, index: u64) -> Option<i64> {
        let slot = match source {
            Source::Input(i) => *self.input_slots.get(usize::from(i))?,
            Source::Weight(w) => *self.weight_slots.get(usize::from(w))?,
            Source::Node(k) => *self.node_slots.get(usize::from(k))?,
        };
        self.values
            .get(slot)?
            .as_ref()?
            .data
            .get(index as usize)
            .copied()
    }

    /// The operands of term `term` of element `element` of `record`, from
    /// this run.
    fn read(&self, record: &NodeRecord, element: u64, term: u64) -> Result<Vec<i64>, RefereeError> {
        let mut known = Vec::new();
        loop {
            let positions = step::positions(record, element, term, &known)?;
            let Some(position) = positions.get(known.len()) else {
                return Ok(known);
            };
            let source = record
                .operand(position.slot)
                .ok_or(RefereeError::Missing {
                    slot: position.slot,
                })?
                .source;
            known.push(self.operand_value(source, position.index).ok_or(
                RefereeError::Missing {
                    slot: position.slot,
                },
            )?);
        }
    }

    /// Its running state after `terms` terms of element `element` of node
    /// `node` (a reduction, whose record is `record`).
    pub fn state(
        &self,
        record: &NodeRecord,
        node: u64,
        element: u64,
        terms: u64,
    ) -> Result<State, RefereeError> {
        let mut state = step::initial(record);
        for term in 0..terms {
            state = step::fold(record, state, term, &self.read(record, element, term)?)?;
        }
        if let Some(Lie::Node {
            node: at,
            element: lied,
            delta,
            early,
        }) = self.lie
        {
            if at as u64 == node && lied as u64 == element {
                let value = self.value(Subject::Trace, node, element).unwrap_or(0);
                if terms == step::reduction_len(record)? {
                    // Whatever the path, its last state finishes to its value.
                    return Ok(
                        step::state_finishing_to(record, value, state[0]).unwrap_or([value, 0])
                    );
                }
                if early && terms > 0 {
                    state[0] = IntType::I32.wrap(state[0] + delta);
                }
            }
        }
        Ok(state)
    }

    /// The next operand the step needs, with its proofs, or `None` once it
    /// has them all: for `Outputs`, the output's node's element, read from
    /// the (agreed) trace; else the record's next position.
    pub fn next_operand(
        &self,
        commitments: &Commitments,
        subject: Subject,
        item: u64,
        element: u64,
        term: u64,
        known: &[i64],
    ) -> Option<ProvenOperand> {
        let (source, index) = match subject {
            Subject::Outputs => {
                if !known.is_empty() {
                    return None;
                }
                (
                    Source::Node(*commitments.output_nodes.get(item as usize)?),
                    element,
                )
            }
            Subject::Trace => {
                let record = commitments.records.get(item as usize)?;
                let positions = step::positions(record, element, term, known).ok()?;
                let position = positions.get(known.len())?;
                (record.operand(position.slot)?.source, position.index)
            }
        };
        let value = self.operand_value(source, index)?;
        Some(match source {
            Source::Input(_) => ProvenOperand {
                value,
                element_proof: Vec::new(),
                item_proof: Vec::new(),
            },
            Source::Weight(weight) => ProvenOperand {
                value,
                element_proof: commitments
                    .weight_trees
                    .get(usize::from(weight))?
                    .proof(index),
                item_proof: commitments.weights.proof(u64::from(weight)),
            },
            Source::Node(node) => ProvenOperand {
                value,
                element_proof: self.node_trees.get(usize::from(node))?.proof(index),
                item_proof: self.trace.proof(u64::from(node)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::referee::{graph::Node, ops::Op};

    #[test]
    fn a_planted_lie_changes_the_trace_from_its_node_on_and_a_padding_lie_only_the_root() {
        let w = IntTensor::new(IntType::I8, vec![2, 2], vec![1, -2, 3, 4]).unwrap();
        let graph = Graph {
            names: ["x", "w", "y", "z"]
                .map(alloc::string::String::from)
                .to_vec(),
            inputs: vec![0],
            outputs: vec![3],
            weights: vec![(1, w)],
            nodes: vec![
                Node {
                    op: Op::MatMulInteger,
                    inputs: vec![Some(0), Some(1)],
                    outputs: vec![2],
                },
                Node {
                    op: Op::Relu,
                    inputs: vec![Some(2)],
                    outputs: vec![3],
                },
            ],
        };
        let x = IntTensor::new(IntType::U8, vec![1, 2], vec![10, 20]).unwrap();
        let input = encode(&[x.to_tensor("x").unwrap()]);
        let honest = Party::run(&graph, &input, None).unwrap();
        let commitments = Commitments::new(&graph, vec![x]).unwrap();
        assert!(honest.fits(&graph, &commitments));
        let lie = Lie::Node {
            node: 0,
            element: 1,
            delta: 1,
            early: false,
        };
        let liar = Party::run(&graph, &input, Some(lie)).unwrap();
        assert_ne!(liar.result, honest.result);
        assert_ne!(liar.trace_root(), honest.trace_root());
        // Its reduction claims its lie only at the end: 60 + 1.
        let record = &commitments.records[0];
        assert_eq!(liar.state(record, 0, 1, 2).unwrap(), [61, 0]);
        assert_eq!(
            liar.state(record, 0, 1, 1).unwrap(),
            honest.state(record, 0, 1, 1).unwrap()
        );
        let padded = Party::run(&graph, &input, Some(Lie::Padding)).unwrap();
        assert_eq!(padded.result, honest.result);
        assert_ne!(padded.trace_root(), honest.trace_root());
        // An operand of node 1 (node 0's output), proven against the trace.
        let operand = honest
            .next_operand(&commitments, Subject::Trace, 1, 1, 0, &[])
            .unwrap();
        assert_eq!(operand.value, 60);
        let node_root = crate::referee::commit::root_from(
            crate::referee::commit::element_leaf(IntType::I32, 60),
            1,
            &operand.element_proof,
        );
        assert!(crate::referee::commit::verify(
            node_root,
            0,
            &operand.item_proof,
            &honest.trace_root()
        ));
    }
}
