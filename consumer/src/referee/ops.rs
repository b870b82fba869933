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
    /// A 2-D `ConvInteger` over `[N, C, H, W]` uint8 or int8 input and
    /// `[M, C / group, kH, kW]` weights, zero points scalars (inputs 2 and
    /// 3), padding by the input's zero point (so a padded term adds 0),
    /// summed in int32. `pads` are `[top, left, bottom, right]`.
    ConvInteger {
        pads: Vec<i64>,
        strides: Vec<i64>,
        dilations: Vec<i64>,
        group: i64,
    },
    /// `QLinearMatMul` with its scales and zero points fixed in the graph
    /// (read from its initializers): the int32 sum of `(a − a_zero_point) ×
    /// (b − b_zero_point)`, requantized as ONNX Runtime does
    /// ([`requantize`]). Its inputs are A and B only.
    QLinearMatMul {
        requant: Requant,
    },
}

/// A `QLinearMatMul`'s fixed quantization: the scales as f32 bits, the zero
/// points, and the output's type.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant {
    pub a_scale: u32,
    pub b_scale: u32,
    pub y_scale: u32,
    pub a_zero_point: i64,
    pub b_zero_point: i64,
    pub y_zero_point: i64,
    pub output: IntType,
}

impl Requant {
    /// The output of an int32 sum: `clamp(round_half_even(f32(sum) × s),
    /// low − zero point, high − zero point) + zero point`, `s = (a_scale ×
    /// b_scale) / y_scale` in f32, as ONNX Runtime's `MlasRequantizeOutput`
    /// computes it (IEEE single precision, so the same on every machine).
    pub fn requantize(&self, sum: i64) -> i64 {
        let scale = (f32::from_bits(self.a_scale) * f32::from_bits(self.b_scale))
            / f32::from_bits(self.y_scale);
        let (low, high) = match self.output {
            IntType::U8 => (0i64, 255i64),
            _ => (-128, 127),
        };
        let scaled = (IntType::I32.wrap(sum) as f32) * scale;
        let low = (low - self.y_zero_point) as f32;
        let high = (high - self.y_zero_point) as f32;
        let clamped = scaled.max(low).min(high);
        round_half_even(clamped) + self.y_zero_point
    }
}

/// `value` rounded to the nearest integer, ties to even (`nearbyintf` in
/// the default rounding mode), in `core` only.
fn round_half_even(value: f32) -> i64 {
    let floor = libm_floor(value);
    let fraction = value - floor;
    let floor = floor as i64;
    if fraction > 0.5 || (fraction == 0.5 && floor % 2 != 0) {
        floor + 1
    } else {
        floor
    }
}

/// `floor` of an f32 whose magnitude fits an i64 (the clamped range here).
fn libm_floor(value: f32) -> f32 {
    let truncated = value as i64 as f32;
    if truncated > value {
        truncated - 1.0
    } else {
        truncated
    }
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
            Op::ConvInteger { .. } => "ConvInteger",
            Op::QLinearMatMul { .. } => "QLinearMatMul",
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
            Op::ConvInteger { .. } => {
                let conv = Conv::of(self, input(0)?, input(1)?)?;
                let (xz, wz) = (
                    zero_point(op, inputs.get(2).copied().flatten(), input(0)?)?,
                    zero_point(op, inputs.get(3).copied().flatten(), input(1)?)?,
                );
                conv.run(input(0)?, input(1)?, xz, wz)
            }
            Op::QLinearMatMul { requant } => {
                let a = input(0)?;
                let b = input(1)?;
                let za = IntTensor::scalar(a.dtype, requant.a_zero_point);
                let zb = IntTensor::scalar(b.dtype, requant.b_zero_point);
                let sums = mat_mul_integer(a, b, Some(&za), Some(&zb))?;
                IntTensor::new(
                    requant.output,
                    sums.dims,
                    sums.data
                        .iter()
                        .map(|&sum| requant.requantize(sum))
                        .collect(),
                )
            }
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

/// One term of an integer product: `(a − a_zero_point) × (b −
/// b_zero_point)` as int32 (exact for 8-bit operands), which sums wrap in.
/// The interpreter's sums and a game's step fold the same terms.
pub fn product(a: i64, a_zero_point: i64, b: i64, b_zero_point: i64) -> i32 {
    ((a - a_zero_point) * (b - b_zero_point)) as i32
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
                let b_row = &b.data[inner * n..][..n];
                for (sum, &y) in sums.iter_mut().zip(b_row) {
                    *sum = sum.wrapping_add(product(x, za, y, zb));
                }
            }
            data.extend(sums.iter().map(|&sum| i64::from(sum)));
        }
    }
    let mut dims = a.dims[..a.rank() - 1].to_vec();
    dims.push(n);
    IntTensor::new(IntType::I32, dims, data)
}

/// A 2-D integer convolution's geometry, from its attributes and its
/// operands' shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub maps: usize,
    pub group: usize,
    pub kernel: [usize; 2],
    pub pads: [usize; 2],
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    pub out: [usize; 2],
}

impl Conv {
    /// The geometry of `op` (a `ConvInteger`) on input dims `x` and weight
    /// dims `w`; what ONNX Runtime refuses is refused.
    pub fn of_dims(op: &Op, x: &[usize], w: &[usize]) -> Result<Conv, RefereeError> {
        let name = "ConvInteger";
        let Op::ConvInteger {
            pads,
            strides,
            dilations,
            group,
        } = op
        else {
            return Err(operands(name, "not a convolution".into()));
        };
        let positive =
            |values: &[i64], default: usize, zero_ok: bool| -> Result<[usize; 2], RefereeError> {
                match values {
                    [] => Ok([default; 2]),
                    [a, b] => {
                        let convert = |v: i64| {
                            usize::try_from(v)
                                .ok()
                                .filter(|&v| zero_ok || v > 0)
                                .ok_or_else(|| operands(name, format!("attribute {values:?}")))
                        };
                        Ok([convert(*a)?, convert(*b)?])
                    }
                    _ => Err(operands(name, format!("a 2-D attribute, not {values:?}"))),
                }
            };
        let (pad_begin, pad_end) = match pads.as_slice() {
            [] => ([0, 0], [0, 0]),
            [top, left, bottom, right] => (
                positive(&[*top, *left], 0, true)?,
                positive(&[*bottom, *right], 0, true)?,
            ),
            _ => return Err(operands(name, format!("pads {pads:?}"))),
        };
        let strides = positive(strides, 1, false)?;
        let dilations = positive(dilations, 1, false)?;
        let (&[batch, channels, height, width], &[maps, per_group, kh, kw]) = (x, w) else {
            return Err(operands(
                name,
                "X [N, C, H, W] and W [M, C/group, kH, kW]".into(),
            ));
        };
        let group = usize::try_from(*group)
            .ok()
            .filter(|&g| g > 0 && channels % g == 0 && maps % g == 0 && channels / g == per_group)
            .ok_or_else(|| {
                operands(
                    name,
                    format!("group {group} for {channels} channels and {maps} maps"),
                )
            })?;
        let out = |size: usize, axis: usize, kernel: usize| -> Result<usize, RefereeError> {
            let span = (kernel - 1) * dilations[axis] + 1;
            let padded = size + pad_begin[axis] + pad_end[axis];
            if kernel == 0 || padded < span {
                return Err(operands(
                    name,
                    "the kernel is larger than the padded input".into(),
                ));
            }
            Ok((padded - span) / strides[axis] + 1)
        };
        Ok(Conv {
            batch,
            channels,
            height,
            width,
            maps,
            group,
            kernel: [kh, kw],
            pads: pad_begin,
            strides,
            dilations,
            out: [out(height, 0, kh)?, out(width, 1, kw)?],
        })
    }

    fn of(op: &Op, x: &IntTensor, w: &IntTensor) -> Result<Conv, RefereeError> {
        let eight_bit = |t: &IntTensor| matches!(t.dtype, IntType::U8 | IntType::I8);
        if !eight_bit(x) || !eight_bit(w) {
            return Err(operands("ConvInteger", "X and W are uint8 or int8".into()));
        }
        Conv::of_dims(op, &x.dims, &w.dims)
    }

    /// The terms one output element sums: input channels of its group ×
    /// the kernel.
    pub fn terms(&self) -> usize {
        self.channels / self.group * self.kernel[0] * self.kernel[1]
    }

    /// Output element `e`'s term `term`: the input element and the weight
    /// element it multiplies, or `None` where the kernel lies on padding.
    pub fn term(&self, e: usize, term: usize) -> (Option<usize>, usize) {
        let [oh, ow] = self.out;
        let (n, m, oy, ox) = (
            e / (self.maps * oh * ow),
            e / (oh * ow) % self.maps,
            e / ow % oh,
            e % ow,
        );
        let [kh, kw] = self.kernel;
        let per_group = self.channels / self.group;
        let (c, ky, kx) = (term / (kh * kw), term / kw % kh, term % kw);
        let channel = m / (self.maps / self.group) * per_group + c;
        let weight = ((m * per_group + c) * kh + ky) * kw + kx;
        let y = (oy * self.strides[0] + ky * self.dilations[0]).checked_sub(self.pads[0]);
        let x = (ox * self.strides[1] + kx * self.dilations[1]).checked_sub(self.pads[1]);
        let input = match (y, x) {
            (Some(y), Some(x)) if y < self.height && x < self.width => {
                Some(((n * self.channels + channel) * self.height + y) * self.width + x)
            }
            _ => None,
        };
        (input, weight)
    }

    fn run(
        &self,
        x: &IntTensor,
        w: &IntTensor,
        xz: i64,
        wz: i64,
    ) -> Result<IntTensor, RefereeError> {
        let [oh, ow] = self.out;
        let count = self.batch * self.maps * oh * ow;
        let data = (0..count)
            .map(|e| {
                let mut sum = 0i32;
                for term in 0..self.terms() {
                    if let (Some(input), weight) = self.term(e, term) {
                        sum = sum.wrapping_add(product(x.data[input], xz, w.data[weight], wz));
                    }
                }
                i64::from(sum)
            })
            .collect();
        IntTensor::new(IntType::I32, vec![self.batch, self.maps, oh, ow], data)
    }
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

/// A `Transpose`'s permutation of `rank` axes: `perm`, or reversed when
/// empty; an axis outside the rank is refused (ONNX Runtime takes no
/// negative axes here).
pub(crate) fn permutation(perm: &[i64], rank: usize) -> Result<Vec<usize>, RefereeError> {
    if perm.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    perm.iter()
        .map(|&p| usize::try_from(p).ok().filter(|&p| p < rank))
        .collect::<Option<_>>()
        .ok_or_else(|| operands("Transpose", format!("perm {perm:?} for rank {rank}")))
}

fn transpose(x: &IntTensor, perm: &[i64]) -> Result<IntTensor, RefereeError> {
    let op = "Transpose";
    let rank = x.rank();
    let perm = permutation(perm, rank)?;
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
