//! Reading an ONNX file into the referee's integer graph
//! (`sibyl::referee::Graph`): a model qualifies for the on-chain referee
//! only when every node is an op the referee computes, on integer tensors,
//! with the attributes it knows. Anything else is refused with the reason,
//! and the model is judged by vote as before.
use prost::Message;
use sibyl::state::{RefereeRoots, TensorSpec};
use sibyl_sdk::referee::{
    ops::Requant, Commitments, Graph, IntTensor, IntType, Lie, Node, Op, Party,
};
use std::{collections::HashMap, path::Path};
use tract_onnx::pb::{self, tensor_proto::DataType};

/// Why a model does not qualify for the referee.
#[derive(Debug, thiserror::Error)]
pub enum RefereeLoadError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not an ONNX model: {0}")]
    Decode(String),
    #[error("the model has no graph")]
    NoGraph,
    #[error("node {index} ({op}) is not in the referee's operator set (MatMulInteger, QLinearMatMul, ConvInteger, Add, Sub, Mul, Div, Relu, Clip, Cast, Reshape, Flatten, Transpose, Gather, ArgMax, Constant on integer tensors)")]
    NotInTheSet { index: usize, op: String },
    #[error(
        "`{name}` is {dtype}, not uint8, int8, int32 or int64: the referee computes integers only"
    )]
    NotInteger { name: String, dtype: String },
    #[error("node {index} ({op}): {reason}")]
    Attribute {
        index: usize,
        op: String,
        reason: String,
    },
    #[error("`{name}` is used before any node makes it")]
    Unknown { name: String },
    #[error("weight `{name}`: {reason}")]
    Weight { name: String, reason: String },
    /// The graph does not run on inputs of the registered fixed shapes.
    #[error("the graph does not run on inputs of the registered shapes: {0}")]
    Shapes(String),
    /// The model's registered referee roots are not this file's: nobody
    /// honest serves or watches it (a game would judge another graph).
    #[error("the registered referee roots are not this file's ({0}): not served, not watched")]
    RootsMismatch(&'static str),
    /// The interpreter could not run this input, or the run's shapes are
    /// not the registered ones: no commitment to defend.
    #[error("the referee's interpreter cannot run this input: {0}")]
    Run(String),
}

/// A referee model as a node holds it: the graph and what its registration
/// commits to.
pub struct RefereeModel {
    pub graph: Graph,
    pub commitments: Commitments,
}

impl RefereeModel {
    /// The referee model of the ONNX file at `path`, its shapes those of
    /// inputs of `specs` (every dimension fixed).
    pub fn load(path: &Path, specs: &[TensorSpec]) -> Result<RefereeModel, RefereeLoadError> {
        let graph = load(path)?;
        let inputs = specs
            .iter()
            .map(|spec| {
                let dtype = IntType::of(spec.dtype).ok_or_else(|| {
                    RefereeLoadError::Shapes(format!("input `{}` is not an integer", spec.name))
                })?;
                let dims = spec
                    .shape
                    .iter()
                    .map(|&dim| usize::try_from(dim))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        RefereeLoadError::Shapes(format!(
                            "input `{}` has a dynamic dimension",
                            spec.name
                        ))
                    })?;
                let count = dims.iter().product();
                IntTensor::new(dtype, dims, vec![0; count])
                    .map_err(|err| RefereeLoadError::Shapes(format!("{err:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let commitments = Commitments::new(&graph, inputs)
            .map_err(|err| RefereeLoadError::Shapes(format!("{err:?}")))?;
        Ok(RefereeModel { graph, commitments })
    }

    /// What its registration records.
    pub fn roots(&self) -> RefereeRoots {
        RefereeRoots {
            graph_root: self.commitments.graph.root(),
            weights_root: self.commitments.weights.root(),
            node_count: u16::try_from(self.graph.nodes.len()).unwrap_or(u16::MAX),
            weight_count: u16::try_from(self.graph.weights.len()).unwrap_or(u16::MAX),
            output_nodes: self.commitments.output_nodes.clone(),
        }
    }

    /// Refuses registered roots that are not this file's.
    pub fn check(&self, registered: &RefereeRoots) -> Result<(), RefereeLoadError> {
        let ours = self.roots();
        let mismatch = if ours.graph_root != registered.graph_root {
            Some("graph root")
        } else if ours.weights_root != registered.weights_root {
            Some("weights root")
        } else if ours.node_count != registered.node_count
            || ours.weight_count != registered.weight_count
        {
            Some("counts")
        } else if ours.output_nodes != registered.output_nodes {
            Some("output nodes")
        } else {
            None
        };
        mismatch.map_or(Ok(()), |what| Err(RefereeLoadError::RootsMismatch(what)))
    }

    /// One party's run on `input` (with `lie` planted, in drills), whose
    /// shapes must be the registered ones.
    pub fn party(&self, input: &[u8], lie: Option<Lie>) -> Result<Party, RefereeLoadError> {
        let party = Party::run(&self.graph, input, lie)
            .map_err(|err| RefereeLoadError::Run(format!("{err:?}")))?;
        if !party.fits(&self.graph, &self.commitments) {
            return Err(RefereeLoadError::Run(
                "its shapes are not the registered ones".into(),
            ));
        }
        Ok(party)
    }

    /// The lie a drill plants (`--faulty`) on `input`: one more in the
    /// first element of the last sum (`MatMulInteger`, `QLinearMatMul`,
    /// `ConvInteger`: so that the game bisects its terms) that changes the
    /// result, else in element 0 of the node that makes the first output.
    pub fn drill_lie(&self, input: &[u8]) -> Lie {
        let lie = |node: usize, element: usize| Lie::Node {
            node,
            element,
            delta: 1,
            early: false,
        };
        let fallback = lie(
            self.commitments
                .output_nodes
                .first()
                .map_or(0, |&node| usize::from(node)),
            0,
        );
        let sum = self.graph.nodes.iter().rposition(|node| {
            matches!(
                node.op,
                Op::MatMulInteger | Op::QLinearMatMul { .. } | Op::ConvInteger { .. }
            )
        });
        let (Some(node), Ok(honest)) = (sum, Party::run(&self.graph, input, None)) else {
            return fallback;
        };
        let elements = self
            .commitments
            .records
            .get(node)
            .and_then(|record| record.output.count())
            .unwrap_or(0);
        (0..usize::try_from(elements).unwrap_or(0))
            .map(|element| lie(node, element))
            .find(|&planted| {
                Party::run(&self.graph, input, Some(planted))
                    .is_ok_and(|liar| liar.result != honest.result)
            })
            .unwrap_or(fallback)
    }
}

/// The referee's graph of the ONNX file at `path`.
pub fn load(path: &Path) -> Result<Graph, RefereeLoadError> {
    let bytes = std::fs::read(path).map_err(|source| RefereeLoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    from_bytes(&bytes)
}

/// The referee's graph of an ONNX model's bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Graph, RefereeLoadError> {
    let model =
        pb::ModelProto::decode(bytes).map_err(|err| RefereeLoadError::Decode(err.to_string()))?;
    let graph = model.graph.ok_or(RefereeLoadError::NoGraph)?;
    let mut slots = Slots::default();
    let mut weights = Vec::new();
    // Float scalars are a QLinearMatMul's scales only: fixed into its op,
    // never a value the referee computes with.
    let mut scales: HashMap<String, f32> = HashMap::new();
    for initializer in &graph.initializer {
        if let Some(scale) = float_scalar(initializer) {
            scales.insert(initializer.name.clone(), scale);
            continue;
        }
        let slot = slots.made(&initializer.name);
        weights.push((slot, weight(initializer)?));
    }
    let is_weight = |name: &str| graph.initializer.iter().any(|init| init.name == name);
    let mut inputs = Vec::new();
    for input in graph.input.iter().filter(|input| !is_weight(&input.name)) {
        let elem_type = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(pb::type_proto::Value::TensorType(tensor)) => tensor.elem_type,
            _ => 0,
        };
        int_type(elem_type, &input.name)?;
        inputs.push(slots.made(&input.name));
    }

    let mut nodes = Vec::new();
    for (index, node) in graph.node.iter().enumerate() {
        let op_name = node.op_type.clone();
        let attribute_error = |reason: String| RefereeLoadError::Attribute {
            index,
            op: op_name.clone(),
            reason,
        };
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(RefereeLoadError::NotInTheSet {
                index,
                op: format!("{}.{}", node.domain, node.op_type),
            });
        }
        let int = |name: &str| attribute(node, name).map(|a| a.i);
        let ints = |name: &str| attribute(node, name).map(|a| a.ints.clone());
        let op = match node.op_type.as_str() {
            "Constant" => {
                let value = attribute(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| attribute_error("a Constant without a tensor `value`".into()))?;
                let output = node
                    .output
                    .first()
                    .ok_or_else(|| attribute_error("no output".into()))?;
                let mut named = value.clone();
                named.name = output.clone();
                weights.push((slots.made(output), weight(&named)?));
                continue;
            }
            "MatMulInteger" => Op::MatMulInteger,
            "Add" => Op::Add,
            "Sub" => Op::Sub,
            "Mul" => Op::Mul,
            "Div" => Op::Div,
            "Relu" => Op::Relu,
            "Clip" => Op::Clip,
            "Cast" => Op::Cast {
                to: int_type(
                    int("to").and_then(|to| i32::try_from(to).ok()).unwrap_or(0),
                    "the Cast's target",
                )?,
            },
            "Reshape" => Op::Reshape {
                allow_zero: int("allowzero").unwrap_or(0) != 0,
            },
            "Flatten" => Op::Flatten {
                axis: int("axis").unwrap_or(1),
            },
            "Transpose" => Op::Transpose {
                perm: ints("perm").unwrap_or_default(),
            },
            "Gather" => Op::Gather {
                axis: int("axis").unwrap_or(0),
            },
            "ArgMax" => Op::ArgMax {
                axis: int("axis").unwrap_or(0),
                keep_dims: int("keepdims").unwrap_or(1) != 0,
                select_last_index: int("select_last_index").unwrap_or(0) != 0,
            },
            "ConvInteger" => {
                let auto_pad = attribute(node, "auto_pad")
                    .map(|a| String::from_utf8_lossy(&a.s).to_string())
                    .unwrap_or_default();
                if !(auto_pad.is_empty() || auto_pad == "NOTSET") {
                    return Err(attribute_error(format!(
                        "auto_pad {auto_pad}: give explicit pads"
                    )));
                }
                Op::ConvInteger {
                    pads: ints("pads").unwrap_or_default(),
                    strides: ints("strides").unwrap_or_default(),
                    dilations: ints("dilations").unwrap_or_default(),
                    group: int("group").unwrap_or(1),
                }
            }
            "QLinearMatMul" => {
                let name = |index: usize| node.input.get(index).map(String::as_str).unwrap_or("");
                let scale = |index: usize| {
                    scales
                        .get(name(index))
                        .map(|scale| scale.to_bits())
                        .ok_or_else(|| {
                            attribute_error(format!(
                                "input {index} must be a float32 scalar initializer"
                            ))
                        })
                };
                let zero_point = |index: usize| {
                    weights
                        .iter()
                        .find(|(slot, _)| slots.by_name.get(name(index)) == Some(slot))
                        .map(|(_, weight)| weight)
                        .filter(|weight| weight.dims.len() <= 1)
                        .and_then(|weight| match weight.data.as_slice() {
                            [value] => Some((*value, weight.dtype)),
                            _ => None,
                        })
                        .ok_or_else(|| {
                            attribute_error(format!(
                                "input {index} must be an integer scalar initializer"
                            ))
                        })
                };
                let (y_zero_point, output) = zero_point(7)?;
                let requant = Requant {
                    a_scale: scale(1)?,
                    a_zero_point: zero_point(2)?.0,
                    b_scale: scale(4)?,
                    b_zero_point: zero_point(5)?.0,
                    y_scale: scale(6)?,
                    y_zero_point,
                    output,
                };
                // The scales and zero points are in the op: it reads A and B.
                let a = slots.existing(name(0))?;
                let b = slots.existing(name(3))?;
                if node.output.len() != 1 {
                    return Err(attribute_error("one output".into()));
                }
                let outputs = node.output.iter().map(|name| slots.made(name)).collect();
                nodes.push(Node {
                    op: Op::QLinearMatMul { requant },
                    inputs: vec![Some(a), Some(b)],
                    outputs,
                });
                continue;
            }
            other => {
                return Err(RefereeLoadError::NotInTheSet {
                    index,
                    op: other.to_string(),
                })
            }
        };
        if node.output.len() != 1 {
            return Err(attribute_error(format!(
                "{} outputs; the referee's ops make one",
                node.output.len()
            )));
        }
        let node_inputs = node
            .input
            .iter()
            .map(|name| {
                if name.is_empty() {
                    Ok(None)
                } else if scales.contains_key(name) {
                    Err(RefereeLoadError::NotInteger {
                        name: name.clone(),
                        dtype: "Float".into(),
                    })
                } else {
                    slots.existing(name).map(Some)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = node.output.iter().map(|name| slots.made(name)).collect();
        nodes.push(Node {
            op,
            inputs: node_inputs,
            outputs,
        });
    }
    let outputs = graph
        .output
        .iter()
        .map(|output| slots.existing(&output.name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Graph {
        names: slots.names,
        inputs,
        outputs,
        weights,
        nodes,
    })
}

/// The graph's values by name, numbered as they are first made.
#[derive(Default)]
struct Slots {
    by_name: HashMap<String, usize>,
    names: Vec<String>,
}

impl Slots {
    /// The slot of a value being made here (a new one for a new name).
    fn made(&mut self, name: &str) -> usize {
        if let Some(&slot) = self.by_name.get(name) {
            return slot;
        }
        self.names.push(name.to_string());
        self.by_name.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    /// The slot of a value made before (nodes come in topological order).
    fn existing(&self, name: &str) -> Result<usize, RefereeLoadError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| RefereeLoadError::Unknown {
                name: name.to_string(),
            })
    }
}

/// A float32 scalar initializer's value (a `QLinearMatMul` scale).
fn float_scalar(tensor: &pb::TensorProto) -> Option<f32> {
    if DataType::try_from(tensor.data_type) != Ok(DataType::Float)
        || tensor.dims.iter().product::<i64>() != 1
    {
        return None;
    }
    match tensor.raw_data.as_slice() {
        [a, b, c, d] => Some(f32::from_le_bytes([*a, *b, *c, *d])),
        [] => tensor.float_data.first().copied(),
        _ => None,
    }
}

fn attribute<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute
        .iter()
        .find(|attribute| attribute.name == name)
}

fn int_type(elem_type: i32, name: &str) -> Result<IntType, RefereeLoadError> {
    match DataType::try_from(elem_type) {
        Ok(DataType::Uint8) => Ok(IntType::U8),
        Ok(DataType::Int8) => Ok(IntType::I8),
        Ok(DataType::Int32) => Ok(IntType::I32),
        Ok(DataType::Int64) => Ok(IntType::I64),
        other => Err(RefereeLoadError::NotInteger {
            name: name.to_string(),
            dtype: other.map_or_else(|_| format!("type {elem_type}"), |t| format!("{t:?}")),
        }),
    }
}

/// An initializer or constant as an integer tensor: from its raw
/// little-endian bytes, or its `int32_data` / `int64_data`.
fn weight(tensor: &pb::TensorProto) -> Result<IntTensor, RefereeLoadError> {
    let fail = |reason: &str| RefereeLoadError::Weight {
        name: tensor.name.clone(),
        reason: reason.to_string(),
    };
    if tensor.data_location == Some(1) {
        return Err(fail("stored outside the file"));
    }
    let dtype = int_type(tensor.data_type, &tensor.name)?;
    let dims = tensor
        .dims
        .iter()
        .map(|&dim| usize::try_from(dim))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| fail("a negative dimension"))?;
    if !tensor.raw_data.is_empty() {
        // Raw little-endian bytes: the canonical tensor's, decoded once.
        let dims = dims.iter().map(|&dim| dim as u64).collect();
        let raw =
            crate::tensor::Tensor::new(&tensor.name, dtype.dtype(), dims, tensor.raw_data.clone())
                .map_err(|err| fail(&err.to_string()))?;
        return IntTensor::from_tensor(&raw).map_err(|err| fail(&err.to_string()));
    }
    let data: Vec<i64> = if dtype == IntType::I64 {
        tensor.int64_data.clone()
    } else {
        tensor
            .int32_data
            .iter()
            .map(|&value| i64::from(value))
            .collect()
    };
    IntTensor::new(dtype, dims, data).map_err(|err| fail(&err.to_string()))
}
