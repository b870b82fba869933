//! One element of one node's output, as the referee's on-chain step
//! computes it: which operand elements it reads ([`positions`]), and its
//! value from them. The arithmetic is the interpreter's own ([`Op::apply`]
//! on one-element tensors), so the step and a whole run agree by
//! construction; the index arithmetic is this module's, and its tests run
//! every element of every node both ways.
//!
//! A node whose element sums or scans a whole axis (`MatMulInteger`'s
//! `K`, `ArgMax`'s axis) is a *reduction*: the game bisects its terms, and
//! the step folds one term into an agreed [`State`].
use super::{
    ops::{self, broadcast_index, Conv, Op},
    record::NodeRecord,
    tensor::{IntTensor, IntType, RefereeError},
};
use alloc::{vec, vec::Vec};

/// One operand element a step reads: the op's input `slot`, and the
/// element's row-major index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub slot: usize,
    pub index: u64,
}

/// A reduction's running state after some terms: `[sum, 0]` for
/// `MatMulInteger`, `[best value, its index]` for `ArgMax`.
pub type State = [i64; 2];

fn invalid(op: &'static str, reason: &str) -> RefereeError {
    RefereeError::Operands {
        op,
        reason: reason.into(),
    }
}

fn dims_of(record: &NodeRecord, slot: usize) -> Result<Vec<usize>, RefereeError> {
    record
        .operand(slot)
        .map(|operand| operand.ty.shape())
        .ok_or_else(|| invalid(record.op.name(), "an operand is missing"))
}

fn product(dims: &[usize]) -> usize {
    dims.iter().product()
}

/// How many terms one element of `record` folds: `K` for
/// `MatMulInteger`, the axis for `ArgMax`, and 0 for every other op (its
/// element is computed in one step).
pub fn reduction_len(record: &NodeRecord) -> Result<u64, RefereeError> {
    match &record.op {
        Op::MatMulInteger => dims_of(record, 0)?
            .last()
            .map(|&k| k as u64)
            .ok_or_else(|| invalid("MatMulInteger", "A has no K")),
        Op::QLinearMatMul { .. } => dims_of(record, 0)?
            .last()
            .map(|&k| k as u64)
            .ok_or_else(|| invalid("QLinearMatMul", "A has no K")),
        Op::ArgMax { axis, .. } => {
            let dims = dims_of(record, 0)?;
            let at = super::tensor::axis(*axis, dims.len(), "ArgMax")?;
            Ok(dims.get(at).map_or(0, |&extent| extent as u64))
        }
        Op::ConvInteger { .. } => Ok(conv_of(record)?.terms() as u64),
        _ => Ok(0),
    }
}

/// Whether an element of `op` folds terms (a sum, a scan) rather than
/// being computed in one step.
pub fn is_reduction(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMulInteger | Op::QLinearMatMul { .. } | Op::ArgMax { .. } | Op::ConvInteger { .. }
    )
}

fn conv_of(record: &NodeRecord) -> Result<Conv, RefereeError> {
    Conv::of_dims(&record.op, &dims_of(record, 0)?, &dims_of(record, 1)?)
}

/// The operand elements that element `element` of `record` reads (for a
/// reduction: that its term `term` reads), in the order the step takes
/// them. `known` are the values of the first ones: `Gather` reads its
/// index before it knows which data element it reads, so a step asks
/// again after each operand.
pub fn positions(
    record: &NodeRecord,
    element: u64,
    term: u64,
    known: &[i64],
) -> Result<Vec<Position>, RefereeError> {
    let op = record.op.name();
    let out = record.output.shape();
    let e = usize::try_from(element)
        .ok()
        .filter(|&e| e < product(&out))
        .ok_or_else(|| invalid(op, "no such element"))?;
    let at = |slot: usize, index: usize| Position {
        slot,
        index: index as u64,
    };
    let present = |slot: usize| record.operand(slot).is_some();
    Ok(match &record.op {
        Op::MatMulInteger => {
            let mut positions = product_term(record, e, term)?.to_vec();
            positions.extend([2, 3].into_iter().filter(|&s| present(s)).map(|s| at(s, 0)));
            positions
        }
        // Its zero points are in the op.
        Op::QLinearMatMul { .. } => product_term(record, e, term)?.to_vec(),
        Op::ConvInteger { .. } => {
            let conv = conv_of(record)?;
            let term = usize::try_from(term)
                .ok()
                .filter(|&t| t < conv.terms())
                .ok_or_else(|| invalid(op, "no such term"))?;
            match conv.term(e, term) {
                // On the padding: the input's zero point, a term of 0.
                (None, _) => Vec::new(),
                (Some(input), weight) => {
                    let mut positions = vec![at(0, input), at(1, weight)];
                    positions.extend([2, 3].into_iter().filter(|&s| present(s)).map(|s| at(s, 0)));
                    positions
                }
            }
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div => vec![
            at(0, broadcast_index(e, &out, &dims_of(record, 0)?)),
            at(1, broadcast_index(e, &out, &dims_of(record, 1)?)),
        ],
        Op::Relu | Op::Cast { .. } | Op::Reshape { .. } | Op::Flatten { .. } => vec![at(0, e)],
        Op::Clip => {
            let mut positions = vec![at(0, e)];
            positions.extend([1, 2].into_iter().filter(|&s| present(s)).map(|s| at(s, 0)));
            positions
        }
        Op::Transpose { perm } => {
            let dims = dims_of(record, 0)?;
            let rank = dims.len();
            let perm = super::ops::permutation(perm, rank)?;
            let (in_strides, out_strides) =
                (super::tensor::strides(&dims), super::tensor::strides(&out));
            let source = (0..rank.min(perm.len()).min(out.len()))
                .map(|axis| (e / out_strides[axis] % out[axis]) * in_strides[perm[axis]])
                .sum();
            vec![at(0, source)]
        }
        Op::Gather { axis } => {
            let data = dims_of(record, 0)?;
            let indices = product(&dims_of(record, 1)?);
            let axis = super::tensor::axis(*axis, data.len(), op)?;
            let extent = data.get(axis).copied().unwrap_or(0);
            let inner = product(&data[axis + 1..]);
            let (outer, position, within) = (
                e / (indices * inner).max(1),
                e / inner.max(1) % indices.max(1),
                e % inner.max(1),
            );
            let mut positions = vec![at(1, position)];
            if let Some(&index) = known.first() {
                let index = if index < 0 {
                    index + extent as i64
                } else {
                    index
                };
                let index = usize::try_from(index)
                    .ok()
                    .filter(|&index| index < extent)
                    .ok_or_else(|| invalid(op, "an index outside the axis"))?;
                positions.push(at(0, (outer * extent + index) * inner + within));
            }
            positions
        }
        Op::ArgMax { axis, .. } => {
            let dims = dims_of(record, 0)?;
            let axis = super::tensor::axis(*axis, dims.len(), op)?;
            let extent = dims.get(axis).copied().unwrap_or(0);
            let inner = product(&dims[axis + 1..]);
            let term = usize::try_from(term)
                .ok()
                .filter(|&t| t < extent)
                .ok_or_else(|| invalid(op, "no such term"))?;
            let (outer, within) = (e / inner.max(1), e % inner.max(1));
            vec![at(0, (outer * extent + term) * inner + within)]
        }
    })
}

/// The A and B elements that term `term` of element `e` of a matrix
/// product (`MatMulInteger`, `QLinearMatMul`) multiplies: A `[.., M, K]`,
/// B `[K, N]`.
fn product_term(record: &NodeRecord, e: usize, term: u64) -> Result<[Position; 2], RefereeError> {
    let op = record.op.name();
    let (m, k) = match dims_of(record, 0)?.as_slice() {
        [.., m, k] => (*m, *k),
        _ => return Err(invalid(op, "A [.., M, K]")),
    };
    let n = dims_of(record, 1)?.last().copied().unwrap_or(0);
    let term = usize::try_from(term)
        .ok()
        .filter(|&t| t < k)
        .ok_or_else(|| invalid(op, "no such term"))?;
    let (batch, row, column) = (e / (m * n), e / n % m, e % n);
    Ok([
        Position {
            slot: 0,
            index: ((batch * m + row) * k + term) as u64,
        },
        Position {
            slot: 1,
            index: (term * n + column) as u64,
        },
    ])
}

/// `value` as a one-element tensor of `slot`'s dtype, at `slot` of the
/// op's inputs.
fn scalars(
    record: &NodeRecord,
    values: &[(usize, i64)],
    shape: &[usize],
) -> Result<Vec<Option<IntTensor>>, RefereeError> {
    let mut inputs = vec![None; record.inputs.len()];
    for &(slot, value) in values {
        let operand = record
            .operand(slot)
            .ok_or_else(|| invalid(record.op.name(), "an operand is missing"))?;
        let dims = if slot < 2 { shape.to_vec() } else { Vec::new() };
        if let Some(input) = inputs.get_mut(slot) {
            *input = Some(IntTensor::new(operand.ty.dtype, dims, vec![value])?);
        }
    }
    Ok(inputs)
}

fn apply(record: &NodeRecord, op: &Op, inputs: &[Option<IntTensor>]) -> Result<i64, RefereeError> {
    let inputs: Vec<Option<&IntTensor>> = inputs.iter().map(Option::as_ref).collect();
    op.apply(&inputs)?
        .data
        .first()
        .copied()
        .ok_or_else(|| invalid(record.op.name(), "no element"))
}

/// Element `element` of a node that is not a reduction, from the values
/// of its [`positions`] in order.
pub fn element(record: &NodeRecord, element: u64, operands: &[i64]) -> Result<i64, RefereeError> {
    let wanted = positions(record, element, 0, operands)?;
    if wanted.len() != operands.len() {
        return Err(invalid(
            record.op.name(),
            "operands do not match the positions",
        ));
    }
    let values: Vec<(usize, i64)> = wanted
        .iter()
        .map(|p| p.slot)
        .zip(operands.iter().copied())
        .collect();
    match &record.op {
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Relu | Op::Clip | Op::Cast { .. } => {
            apply(record, &record.op, &scalars(record, &values, &[])?)
        }
        Op::Reshape { .. } | Op::Flatten { .. } | Op::Transpose { .. } | Op::Gather { .. } => {
            // The data element moved; a Gather's is its second operand.
            let value = *operands
                .last()
                .ok_or_else(|| invalid(record.op.name(), "no operand"))?;
            Ok(record.output.dtype.wrap(value))
        }
        Op::MatMulInteger
        | Op::QLinearMatMul { .. }
        | Op::ArgMax { .. }
        | Op::ConvInteger { .. } => Err(invalid(record.op.name(), "a reduction")),
    }
}

/// A reduction's state before its first term.
pub fn initial(record: &NodeRecord) -> State {
    match record.op {
        Op::ArgMax { .. } => [i64::MIN, 0],
        _ => [0, 0],
    }
}

/// `state` with term `term` folded in, from the values of its
/// [`positions`] in order.
pub fn fold(
    record: &NodeRecord,
    state: State,
    term: u64,
    operands: &[i64],
) -> Result<State, RefereeError> {
    match &record.op {
        Op::MatMulInteger => fold_product(record, state, operands),
        Op::QLinearMatMul { requant } => match operands {
            [a, b] => {
                let term = ops::product(*a, requant.a_zero_point, *b, requant.b_zero_point);
                Ok([IntType::I32.wrap(state[0] + i64::from(term)), 0])
            }
            _ => Err(invalid("QLinearMatMul", "a term reads A and B")),
        },
        Op::ConvInteger { .. } => match operands {
            // A term on the padding adds nothing.
            [] => Ok(state),
            _ => fold_product(record, state, operands),
        },
        Op::ArgMax {
            select_last_index, ..
        } => {
            let value = *operands
                .first()
                .ok_or_else(|| invalid("ArgMax", "a term reads one value"))?;
            let better = if *select_last_index {
                value >= state[0]
            } else {
                value > state[0]
            };
            Ok(if better { [value, term as i64] } else { state })
        }
        _ => Err(invalid(record.op.name(), "not a reduction")),
    }
}

/// `state` with one integer product term folded in (`MatMulInteger`,
/// `ConvInteger`): operands two factors, then the zero points of inputs 2
/// and 3 where present; the interpreter's own [`ops::product`].
fn fold_product(
    record: &NodeRecord,
    state: State,
    operands: &[i64],
) -> Result<State, RefereeError> {
    let [a, b, zero_points @ ..] = operands else {
        return Err(invalid(record.op.name(), "a term reads two factors"));
    };
    let mut zero_points = zero_points.iter().copied();
    let mut zero_point = |slot: usize| {
        if record.operand(slot).is_some() {
            zero_points.next().unwrap_or(0)
        } else {
            0
        }
    };
    let (za, zb) = (zero_point(2), zero_point(3));
    let term = ops::product(*a, za, *b, zb);
    Ok([IntType::I32.wrap(state[0] + i64::from(term)), 0])
}

/// A reduction's element from its state after every term.
pub fn finish(record: &NodeRecord, state: State) -> i64 {
    match &record.op {
        Op::ArgMax { .. } => state[1],
        Op::QLinearMatMul { requant } => requant.requantize(state[0]),
        _ => state[0],
    }
}

/// A state after every term that finishes to `value` (with `best` as an
/// `ArgMax`'s best value): what a party that claims `value` reveals as its
/// end state (a liar's, in drills and tests). `None` where no sum
/// requantizes to `value`.
pub fn state_finishing_to(record: &NodeRecord, value: i64, best: i64) -> Option<State> {
    match &record.op {
        Op::ArgMax { .. } => Some([best, value]),
        Op::QLinearMatMul { requant } => {
            // Requantizing is monotonic in the sum: the least sum that
            // reaches `value`, if it lands on it.
            let (mut low, mut high) = (i64::from(i32::MIN), i64::from(i32::MAX));
            while low < high {
                let mid = low + (high - low) / 2;
                if requant.requantize(mid) < value {
                    low = mid + 1;
                } else {
                    high = mid;
                }
            }
            (requant.requantize(low) == value).then_some([low, 0])
        }
        _ => Some([value, 0]),
    }
}

/// Element `element` of `record` from end to end, reading each operand
/// element it needs through `read`: what a node checks a step against,
/// and what the tests run against a whole run.
pub fn compute(
    record: &NodeRecord,
    element_index: u64,
    mut read: impl FnMut(Position) -> Result<i64, RefereeError>,
) -> Result<i64, RefereeError> {
    let mut read_term = |term: u64| -> Result<Vec<i64>, RefereeError> {
        let mut known = Vec::new();
        loop {
            let wanted = positions(record, element_index, term, &known)?;
            match wanted.get(known.len()) {
                None => return Ok(known),
                Some(&position) => known.push(read(position)?),
            }
        }
    };
    match record.op {
        ref op if is_reduction(op) => {
            let mut state = initial(record);
            for term in 0..reduction_len(record)? {
                state = fold(record, state, term, &read_term(term)?)?;
            }
            Ok(finish(record, state))
        }
        _ => element(record, element_index, &read_term(0)?),
    }
}

/// An element's value from its little-endian bytes in `dtype`'s width.
pub fn element_value(dtype: IntType, bytes: &[u8]) -> Option<i64> {
    let mut word = [0u8; 8];
    if bytes.len() != dtype.width() {
        return None;
    }
    word[..bytes.len()].copy_from_slice(bytes);
    let raw = i64::from_le_bytes(word);
    Some(match dtype {
        IntType::U8 => raw,
        _ => dtype.wrap(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::referee::{
        graph::{Graph, Node, Values},
        record::Source,
    };
    use alloc::string::String;

    fn t(dtype: IntType, dims: &[usize], data: &[i64]) -> IntTensor {
        IntTensor::new(dtype, dims.to_vec(), data.to_vec()).unwrap()
    }

    /// Every element of every node, computed one at a time as a step
    /// would (reductions folded term by term), equals the whole run's.
    fn check_every_element(graph: &Graph, values: &Values) {
        let records = graph.records(values).unwrap();
        let value_of = |source: Source, index: u64| -> i64 {
            let tensor: &IntTensor = match source {
                Source::Input(i) => values[graph.inputs[i as usize]].as_deref().unwrap(),
                Source::Weight(w) => &graph.weights[w as usize].1,
                Source::Node(k) => values[graph.nodes[k as usize].outputs[0]]
                    .as_deref()
                    .unwrap(),
            };
            tensor.data[index as usize]
        };
        for (node, record) in graph.nodes.iter().zip(&records) {
            let out = values[node.outputs[0]].as_deref().unwrap();
            for e in 0..out.data.len() as u64 {
                let value = compute(record, e, |p| {
                    Ok(value_of(record.operand(p.slot).unwrap().source, p.index))
                })
                .unwrap();
                assert_eq!(
                    value,
                    out.data[e as usize],
                    "{} element {e}",
                    record.op.name()
                );
            }
        }
    }

    fn graph(
        names: &[&str],
        weights: Vec<(usize, IntTensor)>,
        nodes: Vec<(Op, Vec<Option<usize>>, usize)>,
        output: usize,
    ) -> Graph {
        Graph {
            names: names.iter().map(|&n| String::from(n)).collect(),
            inputs: vec![0],
            outputs: vec![output],
            weights,
            nodes: nodes
                .into_iter()
                .map(|(op, inputs, out)| Node {
                    op,
                    inputs,
                    outputs: vec![out],
                })
                .collect(),
        }
    }

    #[test]
    fn every_element_of_every_op_steps_to_the_runs_value() {
        // x [2, 3] int8 through every op the referee computes.
        let g = graph(
            &[
                "x", "w", "zero", "mm", "bias", "sum", "relu", "lo", "hi", "clip", "div", "quot",
                "cast", "shape", "reshaped", "t", "idx", "gathered", "flat", "arg", "arg_last",
                "sub", "mul",
            ],
            vec![
                (
                    1,
                    t(
                        IntType::I8,
                        &[3, 4],
                        &[1, -2, 3, 4, -5, 6, 7, -8, 9, 10, -11, 12],
                    ),
                ),
                (2, IntTensor::scalar(IntType::I8, 3)),
                (4, t(IntType::I32, &[4], &[-100, 5, 50, -7])),
                (7, IntTensor::scalar(IntType::I32, -20)),
                (8, IntTensor::scalar(IntType::I32, 90)),
                (10, t(IntType::I32, &[2, 1], &[3, -4])),
                (13, t(IntType::I64, &[3], &[4, -1, 1])),
                (16, t(IntType::I64, &[2, 2], &[-1, 0, 2, -3])),
            ],
            vec![
                (Op::MatMulInteger, vec![Some(0), Some(1), None, Some(2)], 3),
                (Op::Add, vec![Some(3), Some(4)], 5),
                (Op::Relu, vec![Some(5)], 6),
                (Op::Clip, vec![Some(5), Some(7), Some(8)], 9),
                (Op::Div, vec![Some(9), Some(10)], 11),
                (Op::Cast { to: IntType::I8 }, vec![Some(11)], 12),
                (
                    Op::Reshape { allow_zero: false },
                    vec![Some(12), Some(13)],
                    14,
                ),
                (
                    Op::Transpose {
                        perm: vec![1, 2, 0],
                    },
                    vec![Some(14)],
                    15,
                ),
                (Op::Gather { axis: 2 }, vec![Some(15), Some(16)], 17),
                (Op::Flatten { axis: 1 }, vec![Some(17)], 18),
                (
                    Op::ArgMax {
                        axis: 1,
                        keep_dims: true,
                        select_last_index: false,
                    },
                    vec![Some(6)],
                    19,
                ),
                (
                    Op::ArgMax {
                        axis: 0,
                        keep_dims: false,
                        select_last_index: true,
                    },
                    vec![Some(18)],
                    20,
                ),
                (Op::Sub, vec![Some(6), Some(9)], 21),
                (Op::Mul, vec![Some(21), Some(10)], 22),
            ],
            22,
        );
        for seed in 0..20i64 {
            let x: Vec<i64> = (0..6).map(|i| (i * 37 + seed * 11) % 256 - 128).collect();
            let values = g.run(vec![t(IntType::I8, &[2, 3], &x)]).unwrap();
            check_every_element(&g, &values);
        }
    }

    #[test]
    fn every_element_of_a_convolution_steps_to_the_runs_value() {
        // Padding, strides, dilations and groups, with both zero points,
        // and with none.
        for (pads, strides, dilations, group, zero_points) in [
            (vec![1, 1, 1, 1], vec![1, 1], vec![1, 1], 1, true),
            (vec![0, 1, 2, 0], vec![2, 1], vec![1, 2], 2, true),
            (vec![], vec![], vec![], 1, false),
        ] {
            let channels = 2;
            let maps = 4;
            let per_group = channels / group;
            let weights: Vec<i64> = (0..maps * per_group * 9)
                .map(|i| (i as i64 * 37 % 23) - 11)
                .collect();
            let mut inputs = vec![Some(0), Some(1)];
            let mut weights_list = vec![(1, t(IntType::I8, &[maps, per_group, 3, 3], &weights))];
            if zero_points {
                inputs.extend([Some(2), Some(3)]);
                weights_list.push((2, IntTensor::scalar(IntType::U8, 128)));
                weights_list.push((3, IntTensor::scalar(IntType::I8, -3)));
            }
            let g = graph(
                &["x", "w", "xz", "wz", "y", "r"],
                weights_list,
                vec![
                    (
                        Op::ConvInteger {
                            pads: pads.clone(),
                            strides: strides.clone(),
                            dilations: dilations.clone(),
                            group: group as i64,
                        },
                        inputs,
                        4,
                    ),
                    (Op::Relu, vec![Some(4)], 5),
                ],
                5,
            );
            for seed in 0..3i64 {
                let x: Vec<i64> = (0..(2 * channels * 5 * 6) as i64)
                    .map(|i| (i * 53 + seed * 17) % 256)
                    .collect();
                let values = g
                    .run(vec![t(IntType::U8, &[2, channels, 5, 6], &x)])
                    .unwrap();
                check_every_element(&g, &values);
            }
        }
    }

    #[test]
    fn every_element_of_a_quantized_product_steps_to_the_runs_value() {
        let requant = crate::referee::ops::Requant {
            a_scale: 0.05f32.to_bits(),
            b_scale: 0.02f32.to_bits(),
            y_scale: 0.25f32.to_bits(),
            a_zero_point: 128,
            b_zero_point: 0,
            y_zero_point: 10,
            output: IntType::U8,
        };
        let b: Vec<i64> = (0..16 * 8).map(|i| (i * 41 % 255) - 127).collect();
        let g = graph(
            &["a", "b", "y"],
            vec![(1, t(IntType::I8, &[16, 8], &b))],
            vec![(Op::QLinearMatMul { requant }, vec![Some(0), Some(1)], 2)],
            2,
        );
        for seed in 0..10i64 {
            let a: Vec<i64> = (0..16).map(|i| (i * 97 + seed * 31) % 256).collect();
            let values = g.run(vec![t(IntType::U8, &[1, 16], &a)]).unwrap();
            check_every_element(&g, &values);
            // A claimed value has a state that finishes to it, where one can.
            let records = g.records(&values).unwrap();
            for value in [0, 10, 200, 255] {
                let state = state_finishing_to(&records[0], value, 0).unwrap();
                assert_eq!(finish(&records[0], state), value);
            }
        }
        // Ties go to even, the clamp comes before the zero point.
        let half = crate::referee::ops::Requant {
            a_scale: 0.5f32.to_bits(),
            b_scale: 1.0f32.to_bits(),
            y_scale: 1.0f32.to_bits(),
            a_zero_point: 0,
            b_zero_point: 0,
            y_zero_point: 0,
            output: IntType::I8,
        };
        assert_eq!(
            [1, 3, 5, -1, -3, 1000, -1000].map(|sum| half.requantize(sum)),
            [0, 2, 2, 0, -2, 127, -128]
        );
    }

    #[test]
    fn a_step_refuses_what_the_run_refuses() {
        let g = graph(
            &["x", "zero", "q"],
            vec![(1, t(IntType::I32, &[2], &[1, 0]))],
            vec![(Op::Div, vec![Some(0), Some(1)], 2)],
            2,
        );
        let x = t(IntType::I32, &[2], &[5, 6]);
        assert!(g.run(vec![x.clone()]).is_err());
        // The records of a run that fits (divisor 1 everywhere) ...
        let mut fits = g.clone();
        fits.weights[0].1.data[1] = 1;
        let records = fits.records(&fits.run(vec![x]).unwrap()).unwrap();
        // ... and a step on the divisor 0: refused, as the run is.
        assert_eq!(
            element(&records[0], 1, &[6, 0]),
            Err(RefereeError::DivisionByZero)
        );
        assert_eq!(element(&records[0], 0, &[5, 1]), Ok(5));
        // Operands that are not the positions' are refused.
        assert!(element(&records[0], 0, &[5]).is_err());
        assert!(positions(&records[0], 2, 0, &[]).is_err());
        // An element's bytes read back in its width only.
        assert_eq!(element_value(IntType::I8, &[0xff]), Some(-1));
        assert_eq!(element_value(IntType::U8, &[0xff]), Some(255));
        assert_eq!(element_value(IntType::I32, &[0xff; 4]), Some(-1));
        assert_eq!(element_value(IntType::I32, &[0xff; 3]), None);
    }
}
