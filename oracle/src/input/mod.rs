//! Turning user input (JSON, `.npy`, PNG) into a canonical input encoding for
//! a model, given the model's on-chain input [`TensorSpec`].
//!
//! Every format function produces ONE tensor named as its spec (the
//! model's graph input), with the spec's dtype and the spec's dims with
//! dynamic (-1) dimensions resolved as each function documents. A model of
//! several inputs takes their encodings concatenated in graph order
//! ([`bind`] assembles them from one file per input, [`from_json_object`]
//! from one JSON object keyed by input name).
//!
//! One format per module (`json`, `npy`, `png`); this one holds what
//! they share: the error type, spec checks, dims and number conversion.
mod json;
mod npy;
mod png;

pub use json::{from_json, from_json_object, is_json_object};
pub use npy::from_npy;
pub use png::{from_png, from_png_rounded};

use crate::tensor::{self, dtype_name, EncodingError, Tensor};
use half::f16;
use sibyl_sdk::{constants::MAX_TENSOR_RANK, state::DType, state::TensorSpec};

/// Why user input cannot become the model's input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    #[error("invalid tensor spec {shape:?}: {reason}")]
    Spec { shape: Vec<i64>, reason: String },
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("JSON input must be an array of numbers (flat or nested; a number for a scalar input), found {0}")]
    JsonNotArray(String),
    #[error("this model takes several inputs ({expected}): give one JSON object keyed by input name, or one file per input; found {found}")]
    JsonNotObject { found: String, expected: String },
    #[error("no value for input `{name}` (the model takes {expected})")]
    MissingInput { name: String, expected: String },
    #[error("the model has no input `{name}` (it takes {expected})")]
    UnknownInput { name: String, expected: String },
    #[error("{path}: unknown input type `.{extension}` (use .json, .npy or .png, or .bin for an encoding `sibyl input encode` wrote)")]
    UnknownFormat { path: String, extension: String },
    #[error("{given} inputs given, but the model takes {expected}")]
    TooManyInputs { given: usize, expected: String },
    #[error("input `{name}` is given twice")]
    DuplicateInput { name: String },
    #[error("input `{name}`: {error}")]
    In {
        name: String,
        error: Box<InputError>,
    },
    #[error("JSON arrays are not rectangular at {path}: {reason}")]
    JsonRagged { path: String, reason: String },
    #[error("JSON element {index} is {value}, not a number")]
    JsonNotNumber { index: usize, value: String },
    #[error("{count} values do not fit the input shape {shape:?}{hint}")]
    ElementCount {
        count: usize,
        shape: Vec<i64>,
        hint: &'static str,
    },
    #[error("element {index} ({value}) cannot be {dtype}: {reason}")]
    Value {
        index: usize,
        value: String,
        dtype: &'static str,
        reason: &'static str,
    },
    #[error("not a .npy file: {0}")]
    Npy(String),
    #[error(".npy arrays in Fortran order are not supported; save with C order (numpy's default)")]
    NpyFortranOrder,
    #[error(".npy dtype `{0}` is not supported (supported: <f2, <f4, <f8, |u1, |i1, <i2, <i4, <i8, |b1)")]
    NpyDType(String),
    #[error(".npy array has shape {got:?}, but the model expects {expected:?} (-1: any size)")]
    NpyShape { got: Vec<u64>, expected: Vec<i64> },
    #[error("invalid PNG: {0}")]
    Png(String),
    #[error("a {width}×{height} image does not fit the input shape {shape:?} (after dropping leading 1s it must be [height·width] or [height, width])")]
    PngSize {
        width: u32,
        height: u32,
        shape: Vec<i64>,
    },
    #[error("images become float32 inputs, but the model's input is {0}")]
    PngDType(&'static str),
    #[error("not a canonical input encoding: {0}")]
    NotAnEncoding(String),
    #[error("the encoding holds {found}, but the model takes {expected}")]
    EncodingMismatch { found: String, expected: String },
    /// The formats check sizes before encoding, so this means a bug here
    /// rather than bad input; an error still beats a panic on user input.
    #[error("the input cannot be encoded: {0}")]
    Encoding(EncodingError),
}

// ---------------------------------------------------------------------------
// Shapes

fn check_spec(spec: &TensorSpec) -> Result<(), InputError> {
    let invalid = |reason: &str| InputError::Spec {
        shape: spec.shape.clone(),
        reason: reason.to_string(),
    };
    if spec.shape.len() > MAX_TENSOR_RANK {
        return Err(invalid("rank must be 0 to 8"));
    }
    if spec.shape.iter().any(|&d| d == 0 || d < -1) {
        return Err(invalid("dimensions must be positive or -1"));
    }
    Ok(())
}

/// A fixed (positive) dimension of a spec; `None` for -1.
fn fixed_dim(d: i64) -> Option<u64> {
    u64::try_from(d).ok().filter(|&d| d > 0)
}

/// Dims for `count` elements in `spec`'s shape: with no dynamic dimension the
/// product must equal `count`; otherwise every dynamic dimension but the last
/// is 1 and the last one takes whatever `count` leaves (which must divide).
/// `nested`, the shape of nested JSON arrays, fills dynamic dimensions when
/// its rank equals the spec's and its fixed dimensions agree.
fn resolve_dims(
    spec: &TensorSpec,
    count: usize,
    nested: Option<&[usize]>,
) -> Result<Vec<u64>, InputError> {
    let count_error = |hint| InputError::ElementCount {
        count,
        shape: spec.shape.clone(),
        hint,
    };
    if count == 0 {
        return Err(count_error(" (no values)"));
    }
    if let Some(nested) = nested {
        let nested: Option<Vec<u64>> = nested.iter().map(|&n| u64::try_from(n).ok()).collect();
        if let Some(nested) = nested {
            let fits = nested.len() == spec.shape.len()
                && nested
                    .iter()
                    .zip(&spec.shape)
                    .all(|(&n, &d)| d == -1 || fixed_dim(d) == Some(n));
            if fits && spec.shape.contains(&-1) {
                return Ok(nested);
            }
        }
    }
    let fixed: u64 = spec
        .shape
        .iter()
        .filter_map(|&d| fixed_dim(d))
        .try_fold(1u64, u64::checked_mul)
        .ok_or_else(|| count_error(""))?;
    let count = u64::try_from(count).map_err(|_| count_error(""))?;
    let Some(last_dynamic) = spec.shape.iter().rposition(|&d| d == -1) else {
        return if count == fixed {
            // No dynamic dimension: every one is fixed.
            Ok(spec.shape.iter().filter_map(|&d| fixed_dim(d)).collect())
        } else {
            Err(count_error(""))
        };
    };
    if !count.is_multiple_of(fixed) {
        return Err(count_error(
            " (the dynamic dimension must take a whole number of elements)",
        ));
    }
    Ok(spec
        .shape
        .iter()
        .enumerate()
        .map(|(i, &d)| match fixed_dim(d) {
            Some(d) => d,
            None if i == last_dynamic => count / fixed,
            None => 1,
        })
        .collect())
}

/// The inputs' names, as errors list them: `a`, `b`.
fn names(specs: &[TensorSpec]) -> String {
    specs
        .iter()
        .map(|spec| format!("`{}`", spec.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The encoding of a model's inputs from one part per input: a part named
/// `Some(name)` is that input, and the unnamed parts take the inputs not
/// named, in graph order (wherever the named ones stand among them).
/// `encode` turns one part into the encoding of one input. Every input must
/// be given exactly once.
pub fn bind<P>(
    specs: &[TensorSpec],
    parts: Vec<(Option<String>, P)>,
    encode: impl Fn(P, &TensorSpec) -> Result<Vec<u8>, InputError>,
) -> Result<Vec<u8>, InputError> {
    let given = parts.len();
    let mut bound: Vec<Option<P>> = specs.iter().map(|_| None).collect();
    let (named, unnamed): (Vec<_>, Vec<_>) =
        parts.into_iter().partition(|(name, _)| name.is_some());
    for (name, part) in named.into_iter().chain(unnamed) {
        let slot =
            match name {
                Some(name) => {
                    let slot = specs
                        .iter()
                        .zip(bound.iter_mut())
                        .find_map(|(spec, slot)| (spec.name == name).then_some(slot))
                        .ok_or_else(|| InputError::UnknownInput {
                            name: name.clone(),
                            expected: names(specs),
                        })?;
                    if slot.is_some() {
                        return Err(InputError::DuplicateInput { name });
                    }
                    slot
                }
                // The first input not given yet (never a given one).
                None => bound.iter_mut().find(|slot| slot.is_none()).ok_or(
                    InputError::TooManyInputs {
                        given,
                        expected: names(specs),
                    },
                )?,
            };
        *slot = Some(part);
    }
    let mut encoding = Vec::new();
    for (spec, part) in specs.iter().zip(bound) {
        let part = part.ok_or_else(|| InputError::MissingInput {
            name: spec.name.clone(),
            expected: names(specs),
        })?;
        encoding.extend(encode(part, spec).map_err(|error| InputError::In {
            name: spec.name.clone(),
            error: Box::new(error),
        })?);
    }
    Ok(encoding)
}

/// A canonical input encoding given as is (the `.bin` file `sibyl input
/// encode` writes, which a referenced input's URI serves): it must hold
/// every input of the model in graph order, each with its name and
/// admitted by its spec, in canonical form.
pub fn from_encoding(bytes: &[u8], specs: &[TensorSpec]) -> Result<Vec<u8>, InputError> {
    let tensors =
        tensor::decode(bytes).map_err(|err| InputError::NotAnEncoding(err.to_string()))?;
    let fits = tensors.len() == specs.len()
        && tensors.iter().zip(specs).all(|(tensor, spec)| {
            tensor.name == spec.name
                && spec.admits(tensor.dtype, &tensor.dims)
                && sibyl_sdk::encoding::is_canonical_data(tensor)
        });
    if !fits {
        let found = tensors
            .iter()
            .map(|tensor| {
                format!(
                    "`{}` {} {:?}",
                    tensor.name,
                    dtype_name(tensor.dtype),
                    tensor.dims
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let expected = tensor::describe_specs(specs);
        return Err(InputError::EncodingMismatch { found, expected });
    }
    if tensor::encode(&tensors) != bytes {
        return Err(InputError::NotAnEncoding(
            "it decodes, but is not byte for byte the canonical encoding of what it holds".into(),
        ));
    }
    Ok(bytes.to_vec())
}

fn encode_one(spec: &TensorSpec, dims: Vec<u64>, data: Vec<u8>) -> Result<Vec<u8>, InputError> {
    let tensor =
        Tensor::new(spec.name.as_str(), spec.dtype, dims, data).map_err(InputError::Encoding)?;
    Ok(tensor::encode(&[tensor]))
}

// ---------------------------------------------------------------------------
// Numbers

/// One source value before conversion to the spec's dtype.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn display(self) -> String {
        match self {
            Num::Int(v) => v.to_string(),
            Num::Float(v) => v.to_string(),
        }
    }
}

/// How strictly floats convert to narrower floats.
#[derive(Clone, Copy, PartialEq)]
enum Floats {
    /// Round to nearest (decimal JSON literals are never exact anyway).
    Round,
    /// Only values the target represents exactly.
    Lossless,
}

/// Appends `value` as `dtype` (little-endian) or explains why it cannot be.
fn push_value(
    out: &mut Vec<u8>,
    value: Num,
    dtype: DType,
    floats: Floats,
) -> Result<(), &'static str> {
    fn int(value: Num) -> Result<i128, &'static str> {
        match value {
            Num::Int(v) => Ok(v),
            Num::Float(v) if !v.is_finite() => Err("not a finite number"),
            Num::Float(v) if v.fract() != 0.0 => Err("not an integer"),
            Num::Float(v) if v.abs() >= 2f64.powi(64) => Err("out of range"),
            Num::Float(v) => {
                // An integral value below 2^64 in magnitude is exact in i128.
                #[allow(clippy::cast_possible_truncation)]
                let v = v as i128;
                Ok(v)
            }
        }
    }
    fn ranged<T: TryFrom<i128>>(value: Num) -> Result<T, &'static str> {
        T::try_from(int(value)?).map_err(|_| "out of range")
    }
    let lossless = floats == Floats::Lossless;
    match dtype {
        DType::Uint8 => out.push(ranged::<u8>(value)?),
        DType::Int8 => out.extend_from_slice(&ranged::<i8>(value)?.to_le_bytes()),
        DType::Int16 => out.extend_from_slice(&ranged::<i16>(value)?.to_le_bytes()),
        DType::Int32 => out.extend_from_slice(&ranged::<i32>(value)?.to_le_bytes()),
        DType::Int64 => out.extend_from_slice(&ranged::<i64>(value)?.to_le_bytes()),
        DType::Bool => match int(value)? {
            0 => out.push(0),
            1 => out.push(1),
            _ => return Err("a bool must be 0 or 1"),
        },
        DType::Float32 => {
            let v = match value {
                Num::Int(i) => {
                    if lossless && !fits_significand(i, f32::MANTISSA_DIGITS) {
                        return Err("not exactly representable");
                    }
                    i as f32
                }
                Num::Float(f) => {
                    // Rounds to nearest; inexact and overflowing values are
                    // refused just below.
                    #[allow(clippy::cast_possible_truncation)]
                    let v = f as f32;
                    if lossless && !(f64::from(v) == f || (f.is_nan() && v.is_nan())) {
                        return Err("not exactly representable");
                    }
                    v
                }
            };
            if v.is_infinite() && !matches!(value, Num::Float(f) if f.is_infinite()) {
                return Err("out of range");
            }
            out.extend_from_slice(&v.to_le_bytes());
        }
        DType::Float64 => {
            let v = match value {
                Num::Int(i) => {
                    if lossless && !fits_significand(i, f64::MANTISSA_DIGITS) {
                        return Err("not exactly representable");
                    }
                    i as f64
                }
                Num::Float(f) => f,
            };
            out.extend_from_slice(&v.to_le_bytes());
        }
        DType::Float16 => {
            let f = match value {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            };
            let half = f64_to_f16(f).ok_or("out of range")?;
            if lossless && !(half.to_f64() == f || f.is_nan()) {
                return Err("not exactly representable");
            }
            out.extend_from_slice(&half.to_le_bytes());
        }
    }
    Ok(())
}

/// Whether the integer `i` is exact in a float with `precision` significand
/// bits (range aside): without its trailing zero bits it must fit in them.
fn fits_significand(i: i128, precision: u32) -> bool {
    let magnitude = i.unsigned_abs();
    magnitude == 0 || (magnitude >> magnitude.trailing_zeros()) >> precision == 0
}

/// IEEE 754 half precision, rounding to nearest even; `None` when a finite
/// value overflows. NaN becomes the quiet NaN 0x7e00 whatever its sign.
fn f64_to_f16(value: f64) -> Option<f16> {
    if value.is_nan() {
        return Some(f16::NAN);
    }
    // Not `f16::from_f64`: it rounds twice (through f32 on CPUs with F16C,
    // after dropping the low 32 mantissa bits otherwise), so a value just
    // above a halfway point can round down. Rounding to odd first keeps
    // the inexactness visible, which makes the second rounding exact (f32
    // has 24 significand bits, more than the 11 + 2 this needs).
    let half = f16::from_f32(f64_to_f32_round_to_odd(value));
    (value.is_infinite() || !half.is_infinite()).then_some(half)
}

/// `value` as f32, truncated toward zero and, when that is inexact, with
/// the lowest significand bit set ("round to odd").
fn f64_to_f32_round_to_odd(value: f64) -> f32 {
    // Rounds to nearest, then steps back toward zero where that went past.
    #[allow(clippy::cast_possible_truncation)]
    let nearest = value as f32;
    if f64::from(nearest) == value || value.is_nan() {
        return nearest;
    }
    let toward_zero = if f64::from(nearest).abs() > value.abs() {
        // `nearest` is further from zero than `value`, so its magnitude bits
        // are at least 1 (infinity steps back to f32::MAX).
        f32::from_bits(nearest.to_bits() - 1)
    } else {
        nearest
    };
    f32::from_bits(toward_zero.to_bits() | 1)
}

fn convert(
    values: impl IntoIterator<Item = Num>,
    dtype: DType,
    floats: Floats,
) -> Result<Vec<u8>, InputError> {
    let mut data = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        push_value(&mut data, value, dtype, floats).map_err(|reason| InputError::Value {
            index,
            value: value.display(),
            dtype: dtype_name(dtype),
            reason,
        })?;
    }
    Ok(data)
}

/// Helpers the format modules' tests share.
#[cfg(test)]
mod testing {
    use super::*;

    pub(super) fn spec(dtype: DType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: "x".to_string(),
            dtype,
            shape: shape.to_vec(),
        }
    }

    /// The one tensor of an encoding, checking it has its spec's name.
    pub(super) fn one(encoding: &[u8]) -> Tensor {
        let mut tensors = tensor::decode(encoding).unwrap();
        assert_eq!(tensors.len(), 1);
        let tensor = tensors.remove(0);
        assert_eq!(tensor.name, "x");
        tensor
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{one, spec};
    use super::*;

    #[test]
    fn files_bind_to_inputs_by_name_or_in_graph_order_each_once() {
        let specs: Vec<TensorSpec> = ["a", "b", "c"]
            .iter()
            .map(|name| TensorSpec {
                name: name.to_string(),
                ..spec(DType::Int64, &[])
            })
            .collect();
        let encode = |value: i64, spec: &TensorSpec| from_json(&value.to_string(), spec);
        let named = |name: &str, value| (Some(name.to_string()), value);
        let values = |encoding: Vec<u8>| -> Vec<f64> {
            tensor::decode(&encoding)
                .unwrap()
                .iter()
                .flat_map(|t| t.values_f64())
                .collect()
        };
        // `c` by name, then `a` and `b` in graph order.
        let encoding = bind(&specs, vec![named("c", 3), (None, 1), (None, 2)], encode).unwrap();
        assert_eq!(values(encoding), [1.0, 2.0, 3.0]);
        assert!(matches!(
            bind(&specs, vec![(None, 1), (None, 2)], encode),
            Err(InputError::MissingInput { name, .. }) if name == "c"
        ));
        assert!(matches!(
            bind(&specs, vec![named("a", 1), named("a", 1)], encode),
            Err(InputError::DuplicateInput { name }) if name == "a"
        ));
        assert!(matches!(
            bind(&specs, vec![named("d", 1)], encode),
            Err(InputError::UnknownInput { .. })
        ));
        assert!(matches!(
            bind(
                &specs,
                vec![(None, 1), (None, 2), (None, 3), (None, 4)],
                encode
            ),
            Err(InputError::TooManyInputs { given: 4, .. })
        ));
        // A named part placed after unnamed ones still takes its input;
        // the unnamed ones take the others in order.
        let encoding = bind(&specs, vec![(None, 1), (None, 3), named("b", 2)], encode).unwrap();
        assert_eq!(values(encoding), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn an_encoding_given_as_is_must_hold_every_input_in_order_canonically() {
        let specs = vec![
            TensorSpec {
                name: "a".to_string(),
                ..spec(DType::Int64, &[])
            },
            TensorSpec {
                name: "b".to_string(),
                ..spec(DType::Float32, &[-1])
            },
        ];
        let a = from_json("7", &specs[0]).unwrap();
        let b = from_json("[1.5, 2.5]", &specs[1]).unwrap();
        let whole = [a.clone(), b.clone()].concat();
        assert_eq!(from_encoding(&whole, &specs).unwrap(), whole);
        // Out of order, one missing, an extra one, trailing garbage.
        for wrong in [
            [b.clone(), a.clone()].concat(),
            a.clone(),
            [whole.clone(), a.clone()].concat(),
        ] {
            assert!(
                matches!(
                    from_encoding(&wrong, &specs),
                    Err(InputError::EncodingMismatch { .. })
                ),
                "{wrong:?}"
            );
        }
        let mut trailing = whole.clone();
        trailing.push(0);
        assert!(matches!(
            from_encoding(&trailing, &specs),
            Err(InputError::NotAnEncoding(_))
        ));
    }
    use std::path::PathBuf;

    fn models() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
    }

    fn bits(value: f64) -> Option<u16> {
        f64_to_f16(value).map(f16::to_bits)
    }

    #[test]
    fn half_precision_rounding() {
        assert_eq!(bits(0.0), Some(0));
        assert_eq!(bits(-0.0), Some(0x8000));
        assert_eq!(bits(1.0), Some(0x3c00));
        assert_eq!(bits(65504.0), Some(0x7bff));
        assert_eq!(bits(65519.0), Some(0x7bff));
        assert_eq!(bits(65520.0), None);
        assert_eq!(bits(2f64.powi(-24)), Some(1));
        assert_eq!(bits(2f64.powi(-14)), Some(0x0400));
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even.
        assert_eq!(bits(1.0 + 2f64.powi(-11)), Some(0x3c00));
        assert_eq!(bits(1.0 + 3.0 * 2f64.powi(-11)), Some(0x3c02));
        for b in (0u16..0x7c00).step_by(7) {
            assert_eq!(bits(f16::from_bits(b).to_f64()), Some(b));
        }
    }

    /// Bit patterns worked out by hand from IEEE 754 binary16 (sign, 5
    /// exponent bits biased by 15, 10 fraction bits; subnormals are
    /// multiples of 2^-24), the results of the hand-written conversion
    /// `half` replaced.
    #[test]
    fn half_precision_edge_values() {
        let above = |v: f64| f64::from_bits(v.to_bits() + 1);
        let below = |v: f64| f64::from_bits(v.to_bits() - 1);
        let cases: &[(f64, Option<u16>)] = &[
            // Subnormals: 2^-25 is halfway between 0 and 2^-24.
            (2f64.powi(-24), Some(0x0001)),
            (2f64.powi(-25), Some(0x0000)),
            (above(2f64.powi(-25)), Some(0x0001)),
            (-above(2f64.powi(-25)), Some(0x8001)),
            (3.0 * 2f64.powi(-25), Some(0x0002)),
            (1e-300, Some(0x0000)),
            (-1e-300, Some(0x8000)),
            // The largest subnormal, 1023·2^-24, and the tie above it, which
            // rounds to the even smallest normal 2^-14.
            (1023.0 * 2f64.powi(-24), Some(0x03ff)),
            (1023.5 * 2f64.powi(-24), Some(0x0400)),
            // Ties and their neighbours around 1 (ulp 2^-10).
            (1.0 + 2f64.powi(-11), Some(0x3c00)),
            (above(1.0 + 2f64.powi(-11)), Some(0x3c01)),
            // Just above the tie only in the low 32 mantissa bits, which
            // `f16::from_f64` drops or rounds away through f32.
            (1.0 + 2f64.powi(-11) + 2f64.powi(-40), Some(0x3c01)),
            (below(1.0 + 3.0 * 2f64.powi(-11)), Some(0x3c01)),
            (1.0 + 3.0 * 2f64.powi(-11), Some(0x3c02)),
            (-2.5, Some(0xc100)),
            (0.1, Some(0x2e66)),
            (1.0 / 3.0, Some(0x3555)),
            // The largest finite, 65504 = (2 - 2^-10)·2^15; the tie above it
            // is 65520, which rounds to even: infinity, an overflow.
            (65504.0, Some(0x7bff)),
            (65519.0, Some(0x7bff)),
            (below(65520.0), Some(0x7bff)),
            (65520.0, None),
            (-65520.0, None),
            (1e300, None),
            (f64::MAX, None),
            (f64::INFINITY, Some(0x7c00)),
            (f64::NEG_INFINITY, Some(0xfc00)),
            (f64::NAN, Some(0x7e00)),
            (-f64::NAN, Some(0x7e00)),
        ];
        for &(value, expected) in cases {
            assert_eq!(
                bits(value),
                expected,
                "{value:e} ({:#018x})",
                value.to_bits()
            );
        }
    }

    #[test]
    fn round_to_odd_keeps_inexactness_in_the_last_bit() {
        assert_eq!(f64_to_f32_round_to_odd(1.5), 1.5);
        let just_above_one = 1.0 + 2f64.powi(-40);
        assert_eq!(
            f64_to_f32_round_to_odd(just_above_one).to_bits(),
            0x3f80_0001
        );
        assert_eq!(
            f64_to_f32_round_to_odd(-just_above_one).to_bits(),
            0xbf80_0001
        );
        // Nearest would round up to 1; truncation keeps 1 - 2^-24, odd.
        let just_below_one = 1.0 - 2f64.powi(-40);
        assert_eq!(
            f64_to_f32_round_to_odd(just_below_one).to_bits(),
            0x3f7f_ffff
        );
        assert_eq!(f64_to_f32_round_to_odd(1e300), f32::MAX);
        assert_eq!(f64_to_f32_round_to_odd(f64::INFINITY), f32::INFINITY);
    }

    #[test]
    fn integers_exact_in_floats() {
        assert!(fits_significand(0, 24));
        assert!(fits_significand(1 << 24, 24));
        assert!(fits_significand(-(1 << 24), 24));
        assert!(!fits_significand((1 << 24) + 1, 24));
        assert!(fits_significand(((1 << 24) - 1) << 40, 24));
        assert!(fits_significand(i128::from(i64::MIN), 53));
        assert!(!fits_significand(i128::from(i64::MAX), 53));
    }

    /// The digits samples: JSON, .npy and PNG give one encoding, whose data is
    /// the fixture case's input.
    #[test]
    fn digit_samples_agree_with_each_other_and_the_fixture() {
        let digits = spec(DType::Float32, &[1, 64]);
        let samples = models().join("samples");
        let fixtures: serde_json::Value =
            serde_json::from_slice(&std::fs::read(models().join("fixtures.json")).unwrap())
                .unwrap();
        let digits_fixture = fixtures["fixtures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "digits")
            .unwrap();
        let png_scale = digits_fixture["png_scale"].as_f64().unwrap();
        let pixel_max = (png_scale * 255.0).round() as f32;
        assert_eq!(pixel_max, 16.0);
        for label in [2, 6, 8] {
            let read =
                |ext: &str| std::fs::read(samples.join(format!("digit-{label}.{ext}"))).unwrap();
            let json = from_json(std::str::from_utf8(&read("json")).unwrap(), &digits).unwrap();
            let npy = from_npy(&read("npy"), &digits).unwrap();
            let png = from_png_rounded(&read("png"), &digits, pixel_max).unwrap();
            assert_eq!(json, npy, "digit-{label}: json vs npy");
            assert_eq!(json, png, "digit-{label}: json vs png");

            let case = digits_fixture["cases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["sample"] == format!("samples/digit-{label}"))
                .unwrap();
            let fixture_input = hex_decode(case["input_encoding"].as_str().unwrap());
            let expected = one_named(&fixture_input);
            let ours = one(&json);
            assert_eq!(ours.dtype, expected.dtype);
            assert_eq!(ours.dims, expected.dims);
            assert_eq!(
                ours.data, expected.data,
                "digit-{label}: data differs from the fixture"
            );

            // The linear mapping is close to, but not exactly, the integers.
            let linear = one(&from_png(&read("png"), &digits, pixel_max).unwrap());
            for (l, e) in tensor::values_f64(&linear)
                .iter()
                .zip(tensor::values_f64(&expected))
            {
                assert!((l - e).abs() <= 0.5 * 16.0 / 255.0 + 1e-6, "{l} vs {e}");
            }
        }
    }

    fn one_named(encoding: &[u8]) -> Tensor {
        let mut tensors = tensor::decode(encoding).unwrap();
        assert_eq!(tensors.len(), 1);
        tensors.remove(0)
    }

    fn hex_decode(text: &str) -> Vec<u8> {
        crate::hex::decode(text).expect("hex in fixtures.json")
    }
}
