//! The referee's integer operators, each as ONNX (opset 17) defines it and
//! as ONNX Runtime's CPU kernels compute it, bit for bit: two's complement
//! arithmetic that wraps in the result's type, division truncating toward
//! zero, casts that keep the low bits.
use super::tensor::{axis, element_count, strides, IntTensor, IntType, RefereeError};
use alloc::{format, string::String, vec, vec::Vec};
use anchor_lang::prelude::{AnchorDeserialize, AnchorSerialize};

/// An operator the referee computes, with its attributes.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `(A − a_zero_point) × (B − b_zero_point)` in int32; A, B uint8 or
    /// int8; the zero points scalars.
    MatMulInteger,
    Add,
    Sub,
    Mul,
    /// Truncating toward zero; a zero divisor, and the lowest value of the
    /// type over −1, are refused (ONNX Runtime traps or errs on them).
    Div,
    Relu,
    /// Clamped to the optional scalar min and max.
    Clip,
    Cast {
        to: IntType,
    },
    Reshape {
        allow_zero: bool,
    },
    Flatten {
        axis: i64,
    },
    /// An empty `perm` reverses the axes.
    Transpose {
        perm: Vec<i64>,
    },
    Gather {
        axis: i64,
    },
    ArgMax {
        axis: i64,
        keep_dims: bool,
        select_last_index: bool,
    },
}

impl Op {
    /// The ONNX operator's name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::MatMulInteger => "MatMulInteger",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Div => "Div",
            Op::Relu => "Relu",
            Op::Clip => "Clip",
            Op::Cast { .. } => "Cast",
            Op::Reshape { .. } => "Reshape",
            Op::Flatten { .. } => "Flatten",
            Op::Transpose { .. } => "Transpose",
            Op::Gather { .. } => "Gather",
            Op::ArgMax { .. } => "ArgMax",
        }
    }

    /// This op's output of `inputs` (`None` for an optional input left out).
    pub fn apply(&self, inputs: &[Option<&IntTensor>]) -> Result<IntTensor, RefereeError> {
        let op = self.name();
        let input = |index: usize| -> Result<&IntTensor, RefereeError> {
            inputs
                .get(index)
                .copied()
                .flatten()
                .ok_or_else(|| operands(op, format!("input {index} is missing")))
        };
        match self {
            Op::MatMulInteger => mat_mul_integer(
                input(0)?,
                input(1)?,
                inputs.get(2).copied().flatten(),
                inputs.get(3).copied().flatten(),
            ),
            Op::Add => binary(op, input(0)?, input(1)?, |a, b| Ok(a.wrapping_add(b))),
            Op::Sub => binary(op, input(0)?, input(1)?, |a, b| Ok(a.wrapping_sub(b))),
            Op::Mul => binary(op, input(0)?, input(1)?, |a, b| Ok(a.wrapping_mul(b))),
            Op::Div => {
                let (a, b) = (input(0)?, input(1)?);
                let lowest = match a.dtype {
                    IntType::I8 => i64::from(i8::MIN),
                    IntType::I32 => i64::from(i32::MIN),
                    IntType::I64 => i64::MIN,
                    IntType::U8 => -1,
                };
                binary(op, a, b, |x, y| {
                    if x == lowest && y == -1 && a.dtype != IntType::I8 {
                        // A hardware trap in ONNX Runtime (int8 is widened first).
                        return Err(RefereeError::DivisionByZero);
                    }
                    x.checked_div(y).ok_or(RefereeError::DivisionByZero)
                })
            }
            Op::Relu => {
                let x = input(0)?;
                if !matches!(x.dtype, IntType::I8 | IntType::I32) {
                    return Err(operands(
                        op,
                        "ONNX Runtime's Relu takes int8 and int32 only".into(),
                    ));
                }
                Ok(IntTensor {
                    data: x.data.iter().map(|&v| v.max(0)).collect(),
                    ..x.clone()
                })
            }
            Op::Clip => {
                let x = input(0)?;
                let bound = |index: usize| -> Result<Option<i64>, RefereeError> {
                    match inputs.get(index).copied().flatten() {
                        None => Ok(None),
                        Some(bound) if is_scalar(bound) && bound.dtype == x.dtype => {
                            Ok(bound.data.first().copied())
                        }
                        Some(_) => Err(operands(
                            op,
                            "min and max are scalars of the input's type".into(),
                        )),
                    }
                };
                let (low, high) = (bound(1)?, bound(2)?);
                let data = x
                    .data
                    .iter()
                    .map(|&v| {
                        let v = low.map_or(v, |low| v.max(low));
                        high.map_or(v, |high| v.min(high))
                    })
                    .collect();
                Ok(IntTensor { data, ..x.clone() })
            }
            Op::Cast { to } => {
                let x = input(0)?;
                IntTensor::new(*to, x.dims.clone(), x.data.clone())
            }
            Op::Reshape { allow_zero } => reshape(input(0)?, input(1)?, *allow_zero),
            Op::Flatten { axis: attribute } => {
                let x = input(0)?;
                let at = if x.rank() == 0 {
                    if *attribute != 0 {
                        return Err(operands(op, "a scalar flattens only at axis 0".into()));
                    }
                    0
                } else if *attribute == x.rank() as i64 {
                    x.rank()
                } else {
                    axis(*attribute, x.rank(), op)?
                };
                let outer = element_count(&x.dims[..at]).unwrap_or(0);
                let inner = element_count(&x.dims[at..]).unwrap_or(0);
                Ok(IntTensor {
                    dims: vec![outer, inner],
                    ..x.clone()
                })
            }
            Op::Transpose { perm } => transpose(input(0)?, perm),
            Op::Gather { axis: attribute } => gather(input(0)?, input(1)?, *attribute),
            Op::ArgMax {
                axis: attribute,
                keep_dims,
                select_last_index,
            } => arg_max(input(0)?, *attribute, *keep_dims, *select_last_index),
        }
    }
}

/// A scalar as ONNX Runtime takes one for a bound or a zero point: rank 0,
/// or one element of rank 1.
fn is_scalar(tensor: &IntTensor) -> bool {
    tensor.data.len() == 1 && tensor.rank() <= 1
}

fn operands(op: &'static str, reason: String) -> RefereeError {
    RefereeError::Operands { op, reason }
}

/// Numpy-style broadcasting of two shapes.
fn broadcast(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>, RefereeError> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let dim = |dims: &[usize]| {
                let offset = rank - dims.len();
                if i < offset {
                    1
                } else {
                    dims[i - offset]
                }
            };
            match (dim(a), dim(b)) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                (x, y) => Err(operands(op, format!("dims {x} and {y} do not broadcast"))),
            }
        })
        .collect()
}

/// The flat index into `dims` (broadcast to `out`) of the output element
/// at `index`.
pub(crate) fn broadcast_index(index: usize, out: &[usize], dims: &[usize]) -> usize {
    let offset = out.len() - dims.len();
    let out_strides = strides(out);
    let in_strides = strides(dims);
    let mut flat = 0;
    for (axis, &dim) in dims.iter().enumerate() {
        let coordinate = index / out_strides[axis + offset] % out[axis + offset];
        if dim != 1 {
            flat += coordinate * in_strides[axis];
        }
    }
    flat
}

fn binary(
    op: &'static str,
    a: &IntTensor,
    b: &IntTensor,
    f: impl Fn(i64, i64) -> Result<i64, RefereeError>,
) -> Result<IntTensor, RefereeError> {
    if a.dtype != b.dtype {
        return Err(operands(op, format!("{:?} and {:?}", a.dtype, b.dtype)));
    }
    let dims = broadcast(op, &a.dims, &b.dims)?;
    let count = element_count(&dims).ok_or_else(|| operands(op, "too large".into()))?;
    let data = (0..count)
        .map(|index| {
            let x = a.data[broadcast_index(index, &dims, &a.dims)];
            let y = b.data[broadcast_index(index, &dims, &b.dims)];
            f(x, y).map(|value| a.dtype.wrap(value))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(IntTensor {
        dtype: a.dtype,
        dims,
        data,
    })
}

fn zero_point(
    op: &'static str,
    point: Option<&IntTensor>,
    of: &IntTensor,
) -> Result<i64, RefereeError> {
    match point {
        None => Ok(0),
        Some(point) if is_scalar(point) && point.dtype == of.dtype => Ok(point.data[0]),
        Some(_) => Err(operands(
            op,
            "zero points are scalars of their operand's type".into(),
        )),
    }
}

/// `A [.., M, K] × B [K, N]`, each less its zero point, summed in int32.
fn mat_mul_integer(
    a: &IntTensor,
    b: &IntTensor,
    a_zero: Option<&IntTensor>,
    b_zero: Option<&IntTensor>,
) -> Result<IntTensor, RefereeError> {
    let op = "MatMulInteger";
    let eight_bit = |t: &IntTensor| matches!(t.dtype, IntType::U8 | IntType::I8);
    if !eight_bit(a) || !eight_bit(b) || a.rank() < 2 || b.rank() != 2 {
        return Err(operands(
            op,
            "A [.., M, K] and B [K, N], each uint8 or int8".into(),
        ));
    }
    let (m, k) = (a.dims[a.rank() - 2], a.dims[a.rank() - 1]);
    let (k2, n) = (b.dims[0], b.dims[1]);
    if k != k2 {
        return Err(operands(op, format!("K is {k} in A and {k2} in B")));
    }
    let (za, zb) = (zero_point(op, a_zero, a)?, zero_point(op, b_zero, b)?);
    let batches = element_count(&a.dims[..a.rank() - 2]).unwrap_or(0);
    let mut data = Vec::with_capacity(batches * m * n);
    // Row by row of B, so that B is read in order; int32 sums wrap, so
    // the order of the additions does not change them.
    let mut sums = vec![0i32; n];
    for batch in 0..batches {
        for row in 0..m {
            sums.iter_mut().for_each(|sum| *sum = 0);
            let a_row = &a.data[(batch * m + row) * k..][..k];
            for (inner, &x) in a_row.iter().enumerate() {
                let x = x - za;
                let b_row = &b.data[inner * n..][..n];
                for (sum, &y) in sums.iter_mut().zip(b_row) {
                    *sum = sum.wrapping_add((x * (y - zb)) as i32);
                }
            }
            data.extend(sums.iter().map(|&sum| i64::from(sum)));
        }
    }
    let mut dims = a.dims[..a.rank() - 1].to_vec();
    dims.push(n);
    IntTensor::new(IntType::I32, dims, data)
}

fn reshape(x: &IntTensor, shape: &IntTensor, allow_zero: bool) -> Result<IntTensor, RefereeError> {
    let op = "Reshape";
    let count = x.data.len();
    let mut dims = Vec::with_capacity(shape.data.len());
    let mut inferred = None;
    for (index, &dim) in shape.data.iter().enumerate() {
        match dim {
            -1 if inferred.is_none() => {
                inferred = Some(index);
                dims.push(1);
            }
            0 if !allow_zero => dims.push(
                *x.dims
                    .get(index)
                    .ok_or_else(|| operands(op, "a 0 past the input's rank".into()))?,
            ),
            dim if dim >= 0 => dims.push(dim as usize),
            _ => return Err(operands(op, format!("shape {:?}", shape.data))),
        }
    }
    if let Some(index) = inferred {
        let known = element_count(&dims).filter(|&known| known > 0 && count.is_multiple_of(known));
        dims[index] = count / known.ok_or_else(|| operands(op, "cannot infer -1".into()))?;
    }
    if element_count(&dims) != Some(count) {
        return Err(operands(op, format!("{count} values into {dims:?}")));
    }
    Ok(IntTensor { dims, ..x.clone() })
}

fn transpose(x: &IntTensor, perm: &[i64]) -> Result<IntTensor, RefereeError> {
    let op = "Transpose";
    let rank = x.rank();
    let perm: Vec<usize> = if perm.is_empty() {
        (0..rank).rev().collect()
    } else {
        // ONNX Runtime takes no negative axes here.
        perm.iter()
            .map(|&p| usize::try_from(p).ok().filter(|&p| p < rank))
            .collect::<Option<_>>()
            .ok_or_else(|| operands(op, format!("perm {perm:?} for rank {rank}")))?
    };
    if perm.len() != rank {
        return Err(operands(op, "perm must name every axis".into()));
    }
    let mut seen = vec![false; rank];
    for &p in &perm {
        if core::mem::replace(&mut seen[p], true) {
            return Err(operands(op, "perm repeats an axis".into()));
        }
    }
    let dims: Vec<usize> = perm.iter().map(|&p| x.dims[p]).collect();
    let (in_strides, out_strides) = (strides(&x.dims), strides(&dims));
    let data = (0..x.data.len())
        .map(|index| {
            let source: usize = (0..rank)
                .map(|axis| (index / out_strides[axis] % dims[axis]) * in_strides[perm[axis]])
                .sum();
            x.data[source]
        })
        .collect();
    Ok(IntTensor {
        dtype: x.dtype,
        dims,
        data,
    })
}

fn gather(x: &IntTensor, indices: &IntTensor, attribute: i64) -> Result<IntTensor, RefereeError> {
    let op = "Gather";
    if !matches!(indices.dtype, IntType::I32 | IntType::I64) || x.rank() == 0 {
        return Err(operands(
            op,
            "indices int32 or int64 into a tensor of rank ≥ 1".into(),
        ));
    }
    let at = axis(attribute, x.rank(), op)?;
    let extent = x.dims[at];
    let outer = element_count(&x.dims[..at]).unwrap_or(0);
    let inner = element_count(&x.dims[at + 1..]).unwrap_or(0);
    let mut data = Vec::new();
    for o in 0..outer {
        for &index in &indices.data {
            let index = if index < 0 {
                index + extent as i64
            } else {
                index
            };
            let index = usize::try_from(index)
                .ok()
                .filter(|&index| index < extent)
                .ok_or_else(|| operands(op, format!("index {index} outside 0..{extent}")))?;
            data.extend_from_slice(&x.data[(o * extent + index) * inner..][..inner]);
        }
    }
    let mut dims = x.dims[..at].to_vec();
    dims.extend_from_slice(&indices.dims);
    dims.extend_from_slice(&x.dims[at + 1..]);
    IntTensor::new(x.dtype, dims, data)
}

fn arg_max(
    x: &IntTensor,
    attribute: i64,
    keep_dims: bool,
    select_last_index: bool,
) -> Result<IntTensor, RefereeError> {
    let op = "ArgMax";
    if x.rank() == 0 {
        return Err(operands(op, "a scalar has no axis".into()));
    }
    let at = axis(attribute, x.rank(), op)?;
    let extent = x.dims[at];
    if extent == 0 {
        return Err(operands(op, "an empty axis has no maximum".into()));
    }
    let outer = element_count(&x.dims[..at]).unwrap_or(0);
    let inner = element_count(&x.dims[at + 1..]).unwrap_or(0);
    let mut data = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let value = |e: usize| x.data[(o * extent + e) * inner + i];
            let mut best = 0;
            for e in 1..extent {
                let better = if select_last_index {
                    value(e) >= value(best)
                } else {
                    value(e) > value(best)
                };
                if better {
                    best = e;
                }
            }
            data.push(best as i64);
        }
    }
    let mut dims = x.dims.clone();
    if keep_dims {
        dims[at] = 1;
    } else {
        dims.remove(at);
    }
    IntTensor::new(IntType::I64, dims, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dtype: IntType, dims: &[usize], data: &[i64]) -> IntTensor {
        IntTensor::new(dtype, dims.to_vec(), data.to_vec()).unwrap()
    }

    #[test]
    fn arithmetic_wraps_in_the_results_type_and_divides_toward_zero() {
        let a = t(IntType::I32, &[2], &[i32::MAX as i64, -7]);
        let b = t(IntType::I32, &[2], &[1, 2]);
        let sum = Op::Add.apply(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(sum.data, vec![i32::MIN as i64, -5]);
        let quotient = Op::Div.apply(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(quotient.data, vec![i32::MAX as i64, -3]);
        let zero = t(IntType::I32, &[], &[0]);
        assert_eq!(
            Op::Div.apply(&[Some(&a), Some(&zero)]),
            Err(RefereeError::DivisionByZero)
        );
        let lowest = t(IntType::I32, &[1], &[i32::MIN as i64]);
        let minus_one = t(IntType::I32, &[1], &[-1]);
        assert!(Op::Div.apply(&[Some(&lowest), Some(&minus_one)]).is_err());
        let narrow = Op::Cast { to: IntType::U8 }
            .apply(&[Some(&t(IntType::I32, &[3], &[256, 257, -1]))])
            .unwrap();
        assert_eq!(narrow.data, vec![0, 1, 255]);
    }

    #[test]
    fn broadcasting_follows_numpy() {
        let matrix = t(IntType::I32, &[2, 3], &[1, 2, 3, 4, 5, 6]);
        let row = t(IntType::I32, &[3], &[10, 20, 30]);
        let column = t(IntType::I32, &[2, 1], &[100, 200]);
        assert_eq!(
            Op::Add.apply(&[Some(&matrix), Some(&row)]).unwrap().data,
            vec![11, 22, 33, 14, 25, 36]
        );
        assert_eq!(
            Op::Mul.apply(&[Some(&matrix), Some(&column)]).unwrap().data,
            vec![100, 200, 300, 800, 1000, 1200]
        );
        assert!(Op::Add
            .apply(&[Some(&matrix), Some(&t(IntType::I32, &[2], &[1, 2]))])
            .is_err());
    }

    #[test]
    fn mat_mul_integer_subtracts_zero_points_and_sums_in_int32() {
        let a = t(IntType::U8, &[1, 2], &[130, 120]);
        let b = t(IntType::I8, &[2, 2], &[1, -1, 2, 3]);
        let za = t(IntType::U8, &[], &[128]);
        let out = Op::MatMulInteger
            .apply(&[Some(&a), Some(&b), Some(&za), None])
            .unwrap();
        // (2, -8) × [[1, -1], [2, 3]] = (2 − 16, −2 − 24)
        assert_eq!(out.dtype, IntType::I32);
        assert_eq!(out.dims, vec![1, 2]);
        assert_eq!(out.data, vec![-14, -26]);
    }

    #[test]
    fn shape_ops_move_values_as_onnx_says() {
        let x = t(IntType::I8, &[2, 3], &[1, 2, 3, 4, 5, 6]);
        let transposed = Op::Transpose { perm: vec![] }.apply(&[Some(&x)]).unwrap();
        assert_eq!(
            (transposed.dims.clone(), transposed.data),
            (vec![3, 2], vec![1, 4, 2, 5, 3, 6])
        );
        let shape = t(IntType::I64, &[2], &[3, -1]);
        let reshaped = Op::Reshape { allow_zero: false }
            .apply(&[Some(&x), Some(&shape)])
            .unwrap();
        assert_eq!(reshaped.dims, vec![3, 2]);
        let flat = Op::Flatten { axis: 0 }.apply(&[Some(&x)]).unwrap();
        assert_eq!(flat.dims, vec![1, 6]);
        let indices = t(IntType::I64, &[2], &[-1, 0]);
        let gathered = Op::Gather { axis: 1 }
            .apply(&[Some(&x), Some(&indices)])
            .unwrap();
        assert_eq!(gathered.data, vec![3, 1, 6, 4]);
        // What ONNX Runtime refuses, refused (never a panic).
        let scalar = t(IntType::I8, &[], &[3]);
        assert!(Op::Transpose { perm: vec![0] }
            .apply(&[Some(&scalar)])
            .is_err());
        assert!(Op::Transpose { perm: vec![-1, 0] }
            .apply(&[Some(&x)])
            .is_err());
        assert!(Op::Flatten { axis: 1 }.apply(&[Some(&scalar)]).is_err());
        assert!(Op::Relu
            .apply(&[Some(&t(IntType::U8, &[1], &[3]))])
            .is_err());
        let wide_bound = t(IntType::I8, &[1, 1], &[0]);
        assert!(Op::Clip.apply(&[Some(&x), Some(&wide_bound)]).is_err());
        let ties = t(IntType::I32, &[1, 4], &[5, 9, 9, 1]);
        let first = Op::ArgMax {
            axis: 1,
            keep_dims: true,
            select_last_index: false,
        };
        assert_eq!(first.apply(&[Some(&ties)]).unwrap().data, vec![1]);
        let last = Op::ArgMax {
            axis: -1,
            keep_dims: false,
            select_last_index: true,
        };
        let best = last.apply(&[Some(&ties)]).unwrap();
        assert_eq!((best.dims, best.data), (vec![1], vec![2]));
    }
}
