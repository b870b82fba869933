//! Turning user input (JSON, `.npy`, PNG) into a canonical input encoding for
//! a model, given the model's on-chain input [`TensorSpec`].
//!
//! Every function produces ONE tensor with an EMPTY name (the engine binds
//! inputs by position), the spec's dtype and the spec's dims with dynamic
//! (-1) dimensions resolved as each function documents.
use crate::tensor::{self, dtype_name, f16_to_f64, Tensor};
use sibyl_sdk::{constants::MAX_TENSOR_RANK, state::DType, state::TensorSpec};

/// Why user input cannot become the model's input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    #[error("invalid tensor spec {shape:?}: {reason}")]
    Spec { shape: Vec<i64>, reason: String },
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("JSON input must be an array of numbers (flat or nested), found {0}")]
    JsonNotArray(String),
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
    #[error(".npy dtype `{0}` is not supported (supported: <f4, <f8, |u1, |i1, <i4, <i8, |b1)")]
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
}

// ---------------------------------------------------------------------------
// Shapes

fn check_spec(spec: &TensorSpec) -> Result<(), InputError> {
    let invalid = |reason: &str| InputError::Spec {
        shape: spec.shape.clone(),
        reason: reason.to_string(),
    };
    if spec.shape.is_empty() || spec.shape.len() > MAX_TENSOR_RANK {
        return Err(invalid("rank must be 1 to 8"));
    }
    if spec.shape.iter().any(|&d| d == 0 || d < -1) {
        return Err(invalid("dimensions must be positive or -1"));
    }
    Ok(())
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
        let fits = nested.len() == spec.shape.len()
            && nested
                .iter()
                .zip(&spec.shape)
                .all(|(&n, &d)| d == -1 || n as i64 == d);
        if fits && spec.shape.contains(&-1) {
            return Ok(nested.iter().map(|&n| n as u64).collect());
        }
    }
    let fixed: u64 = spec
        .shape
        .iter()
        .filter(|&&d| d > 0)
        .try_fold(1u64, |product, &d| product.checked_mul(d as u64))
        .ok_or_else(|| count_error(""))?;
    let count = count as u64;
    let Some(last_dynamic) = spec.shape.iter().rposition(|&d| d == -1) else {
        return if count == fixed {
            Ok(spec.shape.iter().map(|&d| d as u64).collect())
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
        .map(|(i, &d)| match d {
            -1 if i == last_dynamic => count / fixed,
            -1 => 1,
            d => d as u64,
        })
        .collect())
}

fn encode_one(dtype: DType, dims: Vec<u64>, data: Vec<u8>) -> Vec<u8> {
    let tensor = Tensor::new("", dtype, dims, data).expect("data length follows from the dims");
    tensor::encode(&[tensor])
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
            Num::Float(v) => Ok(v as i128),
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
                    let v = i as f32;
                    if lossless && v as i128 != i {
                        return Err("not exactly representable");
                    }
                    v
                }
                Num::Float(f) => {
                    let v = f as f32;
                    if lossless && !(v as f64 == f || (f.is_nan() && v.is_nan())) {
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
                    let v = i as f64;
                    if lossless && v as i128 != i {
                        return Err("not exactly representable");
                    }
                    v
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
            let bits = f64_to_f16(f).ok_or("out of range")?;
            if lossless && !(f16_to_f64(bits) == f || f.is_nan()) {
                return Err("not exactly representable");
            }
            out.extend_from_slice(&bits.to_le_bytes());
        }
    }
    Ok(())
}

/// IEEE 754 half precision, rounding to nearest even; `None` when a finite
/// value overflows.
fn f64_to_f16(value: f64) -> Option<u16> {
    let sign: u16 = if value.is_sign_negative() { 0x8000 } else { 0 };
    let a = value.abs();
    if a.is_nan() {
        return Some(0x7e00);
    }
    if a.is_infinite() {
        return Some(sign | 0x7c00);
    }
    if a < 2f64.powi(-14) {
        // Subnormal (or rounds up to the smallest normal, 0x0400).
        return Some(sign | (a * 2f64.powi(24)).round_ties_even() as u16);
    }
    let mut exponent = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let mantissa = a / 2f64.powi(exponent);
    let mut fraction = ((mantissa - 1.0) * 1024.0).round_ties_even() as u16;
    if fraction == 1024 {
        fraction = 0;
        exponent += 1;
    }
    if exponent > 15 {
        return None;
    }
    Some(sign | (((exponent + 15) as u16) << 10) | fraction)
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

// ---------------------------------------------------------------------------
// JSON

/// A JSON array of numbers, flat or nested (nested arrays must be
/// rectangular; they are read in row-major order). `true`/`false` count as
/// 1/0. Integer dtypes need integral values in range; float dtypes round to
/// nearest. Dims: see [`resolve_dims`] — with no dynamic dimension the count
/// must equal the shape's product; with dynamic dimensions, nested arrays of
/// the spec's rank give their sizes, else all but the last dynamic dimension
/// are 1 and the last takes the rest.
pub fn from_json(text: &str, spec: &TensorSpec) -> Result<Vec<u8>, InputError> {
    check_spec(spec)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| InputError::Json(error.to_string()))?;
    if !value.is_array() {
        return Err(InputError::JsonNotArray(json_kind(&value).to_string()));
    }
    let mut shape = Vec::new();
    json_shape(&value, &mut shape);
    let mut leaves = Vec::new();
    flatten(&value, &shape, 0, &mut String::new(), &mut leaves)?;
    let numbers = leaves
        .iter()
        .enumerate()
        .map(|(index, leaf)| json_number(index, leaf))
        .collect::<Result<Vec<_>, _>>()?;
    let dims = resolve_dims(spec, numbers.len(), Some(&shape))?;
    let data = convert(numbers, spec.dtype, Floats::Round)?;
    Ok(encode_one(spec.dtype, dims, data))
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The nesting shape, following first elements.
fn json_shape(value: &serde_json::Value, shape: &mut Vec<usize>) {
    if let serde_json::Value::Array(items) = value {
        shape.push(items.len());
        if let Some(first) = items.first() {
            json_shape(first, shape);
        }
    }
}

fn flatten<'a>(
    value: &'a serde_json::Value,
    shape: &[usize],
    depth: usize,
    path: &mut String,
    out: &mut Vec<&'a serde_json::Value>,
) -> Result<(), InputError> {
    let ragged = |path: &str, reason: String| InputError::JsonRagged {
        path: if path.is_empty() {
            "the top level".to_string()
        } else {
            path.to_string()
        },
        reason,
    };
    match (value, shape.get(depth)) {
        (serde_json::Value::Array(items), Some(&expected)) => {
            if items.len() != expected {
                return Err(ragged(
                    path,
                    format!("expected {expected} elements, found {}", items.len()),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                flatten(item, shape, depth + 1, path, out)?;
                path.truncate(len);
            }
            Ok(())
        }
        (serde_json::Value::Array(_), None) => Err(ragged(path, "unexpected array".to_string())),
        (_, Some(&expected)) => Err(ragged(
            path,
            format!("expected an array of {expected} elements, found {value}"),
        )),
        (leaf, None) => {
            out.push(leaf);
            Ok(())
        }
    }
}

fn json_number(index: usize, value: &serde_json::Value) -> Result<Num, InputError> {
    match value {
        serde_json::Value::Number(n) => Ok(if let Some(i) = n.as_i64() {
            Num::Int(i as i128)
        } else if let Some(u) = n.as_u64() {
            Num::Int(u as i128)
        } else {
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        serde_json::Value::Bool(b) => Ok(Num::Int(*b as i128)),
        other => Err(InputError::JsonNotNumber {
            index,
            value: other.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------
// .npy

/// Element types of `.npy` files we read.
#[derive(Clone, Copy, Debug)]
enum NpyType {
    F4,
    F8,
    U1,
    I1,
    I4,
    I8,
    B1,
}

impl NpyType {
    fn parse(descr: &str) -> Option<NpyType> {
        Some(match descr {
            "<f4" => NpyType::F4,
            "<f8" => NpyType::F8,
            "|u1" | "<u1" | "=u1" => NpyType::U1,
            "|i1" | "<i1" | "=i1" => NpyType::I1,
            "<i4" => NpyType::I4,
            "<i8" => NpyType::I8,
            "|b1" => NpyType::B1,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            NpyType::U1 | NpyType::I1 | NpyType::B1 => 1,
            NpyType::F4 | NpyType::I4 => 4,
            NpyType::F8 | NpyType::I8 => 8,
        }
    }

    fn read(self, bytes: &[u8]) -> Num {
        match self {
            NpyType::F4 => {
                Num::Float(f32::from_le_bytes(bytes.try_into().expect("4 bytes")) as f64)
            }
            NpyType::F8 => Num::Float(f64::from_le_bytes(bytes.try_into().expect("8 bytes"))),
            NpyType::U1 | NpyType::B1 => Num::Int(bytes[0] as i128),
            NpyType::I1 => Num::Int(bytes[0] as i8 as i128),
            NpyType::I4 => Num::Int(i32::from_le_bytes(bytes.try_into().expect("4 bytes")) as i128),
            NpyType::I8 => Num::Int(i64::from_le_bytes(bytes.try_into().expect("8 bytes")) as i128),
        }
    }
}

/// A NumPy `.npy` file (format versions 1, 2 and 3; little-endian `<f4`,
/// `<f8`, `|u1`, `|i1`, `<i4`, `<i8`, `|b1`; C order only). Its shape must
/// match the spec (a dynamic dimension accepts any size); values convert to
/// the spec's dtype only when exact (an error names the first that is not).
pub fn from_npy(bytes: &[u8], spec: &TensorSpec) -> Result<Vec<u8>, InputError> {
    check_spec(spec)?;
    let (header, data) = npy_split(bytes)?;
    let descr = header_value(header, "descr")
        .and_then(quoted)
        .ok_or_else(|| InputError::Npy("header has no 'descr'".to_string()))?;
    let fortran = header_value(header, "fortran_order")
        .ok_or_else(|| InputError::Npy("header has no 'fortran_order'".to_string()))?;
    if fortran.starts_with("True") {
        return Err(InputError::NpyFortranOrder);
    }
    if !fortran.starts_with("False") {
        return Err(InputError::Npy(format!(
            "bad 'fortran_order' in header {header:?}"
        )));
    }
    let shape = header_value(header, "shape")
        .and_then(parse_shape)
        .ok_or_else(|| InputError::Npy(format!("bad 'shape' in header {header:?}")))?;
    let npy_type = NpyType::parse(descr).ok_or_else(|| InputError::NpyDType(descr.to_string()))?;

    let matches = shape.len() == spec.shape.len()
        && shape
            .iter()
            .zip(&spec.shape)
            .all(|(&got, &expected)| expected == -1 || got == expected as u64);
    if !matches {
        return Err(InputError::NpyShape {
            got: shape,
            expected: spec.shape.clone(),
        });
    }
    let count = shape
        .iter()
        .try_fold(1usize, |count, &dim| {
            count.checked_mul(usize::try_from(dim).ok()?)
        })
        .ok_or_else(|| InputError::Npy(format!("shape {shape:?} is too large")))?;
    let expected_len = count
        .checked_mul(npy_type.size())
        .ok_or_else(|| InputError::Npy(format!("shape {shape:?} is too large")))?;
    if data.len() != expected_len {
        return Err(InputError::Npy(format!(
            "shape {shape:?} of {descr} needs {expected_len} data bytes, the file has {}",
            data.len()
        )));
    }
    let values = data
        .chunks_exact(npy_type.size())
        .map(|bytes| npy_type.read(bytes));
    let data = convert(values, spec.dtype, Floats::Lossless)?;
    Ok(encode_one(spec.dtype, shape, data))
}

/// The header text and the data bytes.
fn npy_split(bytes: &[u8]) -> Result<(&str, &[u8]), InputError> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err(InputError::Npy("missing the \\x93NUMPY magic".to_string()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        version => {
            return Err(InputError::Npy(format!(
                "unsupported format version {version}"
            )))
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| InputError::Npy("header runs past the end of the file".to_string()))?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| InputError::Npy("header is not text".to_string()))?;
    Ok((header, &bytes[end..]))
}

/// The text after `'key':` in a Python dict literal.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    for quote in ['\'', '"'] {
        let needle = format!("{quote}{key}{quote}");
        if let Some(at) = header.find(&needle) {
            let rest = header[at + needle.len()..].trim_start();
            return rest.strip_prefix(':').map(str::trim_start);
        }
    }
    None
}

/// The contents of a leading quoted string.
fn quoted(text: &str) -> Option<&str> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &text[1..];
    rest.find(quote).map(|end| &rest[..end])
}

/// A Python tuple of non-negative integers, e.g. `(1, 64)`, `(64,)`, `()`.
fn parse_shape(text: &str) -> Option<Vec<u64>> {
    let inner = text.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.trim_end_matches('L').parse::<u64>().ok())
        .collect()
}

// ---------------------------------------------------------------------------
// PNG

/// A PNG image as a float32 input, each pixel `byte · pixel_max / 255`
/// (computed in f64, then rounded to f32), where `byte` is the pixel's 8-bit
/// gray level: gray and gray+alpha images use the gray channel, RGB and RGBA
/// the luminance `(19595·R + 38470·G + 7471·B + 32768) >> 16` (ITU-R 601-2,
/// as PIL's `convert("L")`); alpha is ignored; 16-bit samples use their high
/// byte; palette and low-bit-depth images are expanded first.
///
/// After dropping the spec's leading dimensions that are 1 (or dynamic, which
/// then become 1), what remains must be `[height·width]` or `[height, width]`
/// (a dynamic dimension there takes the image's size), e.g. `[1, 64]` or
/// `[1, 1, 8, 8]` for an 8×8 image.
pub fn from_png(bytes: &[u8], spec: &TensorSpec, pixel_max: f32) -> Result<Vec<u8>, InputError> {
    png_input(bytes, spec, |byte| {
        (byte as f64 * pixel_max as f64 / 255.0) as f32
    })
}

/// Like [`from_png`], but each value is rounded to the nearest integer:
/// `round(byte · pixel_max / 255)`. This inverts images written as
/// `round(value · 255 / pixel_max)` from integer-valued inputs, such as the
/// digits samples in `models/samples` (pixel_max 16; see `png_scale` in
/// `models/fixtures.json`), so the PNG gives the same input as the JSON.
pub fn from_png_rounded(
    bytes: &[u8],
    spec: &TensorSpec,
    pixel_max: f32,
) -> Result<Vec<u8>, InputError> {
    png_input(bytes, spec, |byte| {
        (byte as f64 * pixel_max as f64 / 255.0).round() as f32
    })
}

fn png_input(
    bytes: &[u8],
    spec: &TensorSpec,
    value: impl Fn(u8) -> f32,
) -> Result<Vec<u8>, InputError> {
    check_spec(spec)?;
    if spec.dtype != DType::Float32 {
        return Err(InputError::PngDType(dtype_name(spec.dtype)));
    }
    let (width, height, gray) = decode_gray8(bytes)?;
    let dims = png_dims(spec, width, height)?;
    let data = gray
        .into_iter()
        .flat_map(|byte| value(byte).to_le_bytes())
        .collect();
    Ok(encode_one(DType::Float32, dims, data))
}

fn png_dims(spec: &TensorSpec, width: u32, height: u32) -> Result<Vec<u64>, InputError> {
    let size_error = || InputError::PngSize {
        width,
        height,
        shape: spec.shape.clone(),
    };
    let (h, w) = (height as u64, width as u64);
    let shape = &spec.shape;
    let unit = |d: i64| d == 1 || d == -1;
    let fits = |d: i64, size: u64| d == -1 || d as u64 == size;
    // Drop leading 1s (or dynamic dimensions, which become 1) down to two.
    let mut leading = 0;
    while shape.len() - leading > 2 && unit(shape[leading]) {
        leading += 1;
    }
    let rest = match shape[leading..] {
        [n] if fits(n, h * w) => vec![h * w],
        [a, b] if fits(a, h) && fits(b, w) => vec![h, w],
        [a, n] if unit(a) && fits(n, h * w) => vec![1, h * w],
        _ => return Err(size_error()),
    };
    let mut dims = vec![1u64; leading];
    dims.extend(rest);
    Ok(dims)
}

/// Width, height and 8-bit gray pixels in row-major order.
fn decode_gray8(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), InputError> {
    let png_error = |error: png::DecodingError| InputError::Png(error.to_string());
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let mut buffer = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).map_err(png_error)?;
    let (width, height) = (info.width as usize, info.height as usize);
    let bytes_per_sample = match info.bit_depth {
        png::BitDepth::Eight => 1,
        png::BitDepth::Sixteen => 2,
        other => {
            return Err(InputError::Png(format!(
                "unexpected bit depth {other:?} after expansion"
            )))
        }
    };
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(InputError::Png(
                "palette image was not expanded".to_string(),
            ))
        }
    };
    let row_len = width * channels * bytes_per_sample;
    let mut gray = Vec::with_capacity(width * height);
    for row in buffer.chunks(info.line_size).take(height) {
        let row = row
            .get(..row_len)
            .ok_or_else(|| InputError::Png("short scan line".to_string()))?;
        for pixel in row.chunks_exact(channels * bytes_per_sample) {
            // High byte of each sample (PNG samples are big-endian).
            let sample = |channel: usize| pixel[channel * bytes_per_sample] as u32;
            gray.push(if channels >= 3 {
                ((19595 * sample(0) + 38470 * sample(1) + 7471 * sample(2) + 32768) >> 16) as u8
            } else {
                sample(0) as u8
            });
        }
    }
    if gray.len() != width * height {
        return Err(InputError::Png(
            "image data is shorter than its size".to_string(),
        ));
    }
    Ok((info.width, info.height, gray))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec(dtype: DType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            dtype,
            shape: shape.to_vec(),
        }
    }

    fn one(encoding: &[u8]) -> Tensor {
        let mut tensors = tensor::decode(encoding).unwrap();
        assert_eq!(tensors.len(), 1);
        let tensor = tensors.remove(0);
        assert_eq!(tensor.name, "");
        tensor
    }

    fn models() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
    }

    fn png_bytes(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(color);
            encoder.set_depth(depth);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(data).unwrap();
        }
        out
    }

    fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn json_flat_and_nested_with_conversion() {
        let t = one(&from_json("[1, 2.5, -3, 4]", &spec(DType::Float32, &[1, 4])).unwrap());
        assert_eq!(t.dims, vec![1, 4]);
        assert_eq!(tensor::values_f64(&t), vec![1.0, 2.5, -3.0, 4.0]);

        let t = one(&from_json("[[1, 2], [3, 4]]", &spec(DType::Int64, &[4])).unwrap());
        assert_eq!(t.dims, vec![4]);
        assert_eq!(
            t.data,
            [1i64, 2, 3, 4]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );

        let t = one(&from_json("[true, false, 1]", &spec(DType::Bool, &[3])).unwrap());
        assert_eq!(t.data, vec![1, 0, 1]);

        let t = one(&from_json("[255, 0, 3.0]", &spec(DType::Uint8, &[3])).unwrap());
        assert_eq!(t.data, vec![255, 0, 3]);

        let t = one(&from_json("[1.5, -2, 65504]", &spec(DType::Float16, &[3])).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![1.5, -2.0, 65504.0]);

        let big = one(&from_json("[9223372036854775807]", &spec(DType::Int64, &[1])).unwrap());
        assert_eq!(big.data, i64::MAX.to_le_bytes());
    }

    #[test]
    fn json_dynamic_dimensions() {
        let t = one(&from_json("[1, 2, 3, 4, 5, 6]", &spec(DType::Float32, &[-1, 3])).unwrap());
        assert_eq!(t.dims, vec![2, 3]);
        let t = one(&from_json("[1, 2, 3, 4, 5, 6]", &spec(DType::Float32, &[-1, -1])).unwrap());
        assert_eq!(t.dims, vec![1, 6]);
        let t =
            one(&from_json("[[1, 2, 3], [4, 5, 6]]", &spec(DType::Float32, &[-1, -1])).unwrap());
        assert_eq!(t.dims, vec![2, 3]);
        assert!(matches!(
            from_json("[1, 2, 3, 4]", &spec(DType::Float32, &[-1, 3])),
            Err(InputError::ElementCount { count: 4, .. })
        ));
        assert!(matches!(
            from_json("[]", &spec(DType::Float32, &[-1])),
            Err(InputError::ElementCount { count: 0, .. })
        ));
    }

    #[test]
    fn json_errors_name_the_element() {
        let error = from_json("[1, 2, 300]", &spec(DType::Uint8, &[3])).unwrap_err();
        assert_eq!(
            error,
            InputError::Value {
                index: 2,
                value: "300".to_string(),
                dtype: "uint8",
                reason: "out of range"
            }
        );
        assert!(error.to_string().contains("element 2 (300)"), "{error}");
        let error = from_json("[1, 2.5]", &spec(DType::Int32, &[2])).unwrap_err();
        assert!(matches!(
            error,
            InputError::Value {
                index: 1,
                reason: "not an integer",
                ..
            }
        ));
        let error = from_json("[1, -129]", &spec(DType::Int8, &[2])).unwrap_err();
        assert!(matches!(error, InputError::Value { index: 1, .. }));
        let error = from_json("[1e39]", &spec(DType::Float32, &[1])).unwrap_err();
        assert!(matches!(
            error,
            InputError::Value {
                reason: "out of range",
                ..
            }
        ));
        let error = from_json("[70000]", &spec(DType::Float16, &[1])).unwrap_err();
        assert!(matches!(
            error,
            InputError::Value {
                reason: "out of range",
                ..
            }
        ));
        let error = from_json("[2]", &spec(DType::Bool, &[1])).unwrap_err();
        assert!(matches!(error, InputError::Value { .. }));
        assert!(matches!(
            from_json("[1, \"2\"]", &spec(DType::Float32, &[2])),
            Err(InputError::JsonNotNumber { index: 1, .. })
        ));
        assert!(matches!(
            from_json("[[1, 2], [3]]", &spec(DType::Float32, &[3])),
            Err(InputError::JsonRagged { .. })
        ));
        assert!(matches!(
            from_json("[[1, 2], 3]", &spec(DType::Float32, &[3])),
            Err(InputError::JsonRagged { .. })
        ));
        assert!(matches!(
            from_json("{\"x\": 1}", &spec(DType::Float32, &[1])),
            Err(InputError::JsonNotArray(_))
        ));
        assert!(matches!(
            from_json("[1,", &spec(DType::Float32, &[1])),
            Err(InputError::Json(_))
        ));
        assert!(matches!(
            from_json("[1, 2, 3]", &spec(DType::Float32, &[1, 4])),
            Err(InputError::ElementCount { count: 3, .. })
        ));
        assert!(matches!(
            from_json("[1]", &spec(DType::Float32, &[0])),
            Err(InputError::Spec { .. })
        ));
    }

    #[test]
    fn half_precision_rounding() {
        assert_eq!(f64_to_f16(0.0), Some(0));
        assert_eq!(f64_to_f16(-0.0), Some(0x8000));
        assert_eq!(f64_to_f16(1.0), Some(0x3c00));
        assert_eq!(f64_to_f16(65504.0), Some(0x7bff));
        assert_eq!(f64_to_f16(65519.0), Some(0x7bff));
        assert_eq!(f64_to_f16(65520.0), None);
        assert_eq!(f64_to_f16(2f64.powi(-24)), Some(1));
        assert_eq!(f64_to_f16(2f64.powi(-14)), Some(0x0400));
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even.
        assert_eq!(f64_to_f16(1.0 + 2f64.powi(-11)), Some(0x3c00));
        assert_eq!(f64_to_f16(1.0 + 3.0 * 2f64.powi(-11)), Some(0x3c02));
        for bits in (0u16..0x7c00).step_by(7) {
            assert_eq!(f64_to_f16(f16_to_f64(bits)), Some(bits));
        }
    }

    #[test]
    fn npy_reads_and_converts_losslessly() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = npy_bytes("<f4", false, "(1, 3)", &data);
        let t = one(&from_npy(&file, &spec(DType::Float32, &[1, 3])).unwrap());
        assert_eq!((t.dims.clone(), t.data.clone()), (vec![1, 3], data.clone()));
        let t = one(&from_npy(&file, &spec(DType::Float64, &[-1, 3])).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![1.0, 2.0, 3.5]);
        let error = from_npy(&file, &spec(DType::Int32, &[1, 3])).unwrap_err();
        assert!(
            matches!(
                error,
                InputError::Value {
                    index: 2,
                    reason: "not an integer",
                    ..
                }
            ),
            "{error:?}"
        );

        let ints: Vec<u8> = [0i64, 200, 255]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = npy_bytes("<i8", false, "(3,)", &ints);
        let t = one(&from_npy(&file, &spec(DType::Uint8, &[3])).unwrap());
        assert_eq!(t.data, vec![0, 200, 255]);
        assert!(matches!(
            from_npy(&file, &spec(DType::Int8, &[3])),
            Err(InputError::Value {
                index: 1,
                reason: "out of range",
                ..
            })
        ));

        let doubles: Vec<u8> = [0.1f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let file = npy_bytes("<f8", false, "(1,)", &doubles);
        assert!(matches!(
            from_npy(&file, &spec(DType::Float32, &[1])),
            Err(InputError::Value {
                reason: "not exactly representable",
                ..
            })
        ));

        let file = npy_bytes("|u1", false, "(2, 2)", &[1, 2, 3, 4]);
        let t = one(&from_npy(&file, &spec(DType::Float32, &[2, 2])).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![1.0, 2.0, 3.0, 4.0]);
        let file = npy_bytes("|i1", false, "(2,)", &[0xff, 3]);
        let t = one(&from_npy(&file, &spec(DType::Int32, &[2])).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![-1.0, 3.0]);
        let file = npy_bytes("<i4", false, "(1,)", &7i32.to_le_bytes());
        let t = one(&from_npy(&file, &spec(DType::Int64, &[1])).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![7.0]);
    }

    #[test]
    fn npy_refusals() {
        let file = npy_bytes("<f4", true, "(2, 2)", &[0; 16]);
        assert_eq!(
            from_npy(&file, &spec(DType::Float32, &[2, 2])),
            Err(InputError::NpyFortranOrder)
        );
        let file = npy_bytes(">f4", false, "(1,)", &[0; 4]);
        assert!(matches!(
            from_npy(&file, &spec(DType::Float32, &[1])),
            Err(InputError::NpyDType(_))
        ));
        let file = npy_bytes("<f4", false, "(64,)", &[0; 256]);
        assert!(matches!(
            from_npy(&file, &spec(DType::Float32, &[1, 64])),
            Err(InputError::NpyShape { .. })
        ));
        let file = npy_bytes("<f4", false, "(2,)", &[0; 4]);
        assert!(matches!(
            from_npy(&file, &spec(DType::Float32, &[2])),
            Err(InputError::Npy(_))
        ));
        assert!(matches!(
            from_npy(b"PK\x03\x04", &spec(DType::Float32, &[1])),
            Err(InputError::Npy(_))
        ));
    }

    #[test]
    fn png_color_types_and_depths() {
        let gray = png_bytes(
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[0, 255],
        );
        let t = one(&from_png(&gray, &spec(DType::Float32, &[1, 2]), 1.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![0.0, 1.0]);

        let gray_alpha = png_bytes(
            2,
            1,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            &[51, 0, 102, 255],
        );
        let t = one(&from_png(&gray_alpha, &spec(DType::Float32, &[2]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![51.0, 102.0]);

        let rgb = png_bytes(
            2,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[255, 0, 0, 10, 10, 10],
        );
        let t = one(&from_png(&rgb, &spec(DType::Float32, &[2]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![76.0, 10.0]);

        let rgba = png_bytes(
            1,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &[0, 255, 0, 7],
        );
        let t = one(&from_png(&rgba, &spec(DType::Float32, &[1]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![150.0]);

        let deep = png_bytes(
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &[0x12, 0x34, 0xff, 0x00],
        );
        let t = one(&from_png(&deep, &spec(DType::Float32, &[2]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![18.0, 255.0]);

        let shallow = png_bytes(
            4,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            &[0b1010_0000],
        );
        let t = one(&from_png(&shallow, &spec(DType::Float32, &[4]), 1.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn png_shapes() {
        let image = png_bytes(
            4,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[0; 8],
        );
        let dims = |shape: &[i64]| {
            from_png(&image, &spec(DType::Float32, shape), 1.0).map(|e| one(&e).dims)
        };
        assert_eq!(dims(&[1, 8]).unwrap(), vec![1, 8]);
        assert_eq!(dims(&[8]).unwrap(), vec![8]);
        assert_eq!(dims(&[1, 1, 2, 4]).unwrap(), vec![1, 1, 2, 4]);
        assert_eq!(dims(&[2, 4]).unwrap(), vec![2, 4]);
        assert_eq!(dims(&[-1, 8]).unwrap(), vec![1, 8]);
        assert_eq!(dims(&[-1, 1, -1, -1]).unwrap(), vec![1, 1, 2, 4]);
        assert_eq!(dims(&[1, -1]).unwrap(), vec![1, 8]);
        assert!(matches!(
            dims(&[1, 1, 4, 2]),
            Err(InputError::PngSize { .. })
        ));
        assert!(matches!(dims(&[1, 9]), Err(InputError::PngSize { .. })));
        assert!(matches!(dims(&[3, 2, 4]), Err(InputError::PngSize { .. })));
        assert!(matches!(
            from_png(&image, &spec(DType::Uint8, &[8]), 1.0),
            Err(InputError::PngDType("uint8"))
        ));
        assert!(matches!(
            from_png(b"GIF89a", &spec(DType::Float32, &[8]), 1.0),
            Err(InputError::Png(_))
        ));
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
