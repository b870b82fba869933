//! NumPy `.npy` input.
//!
//! The header is parsed here rather than with the `npyz` crate (0.9.1):
//! npyz panics on hostile headers (it multiplies the shape's dimensions
//! unchecked, and this workspace keeps overflow checks on in release too, so
//! `'shape': (4294967296, 4294967296, 2)` panics), allocates a
//! buffer of the header length the file claims (up to 4 GiB) before reading
//! it, and would bring a Python-literal parser (py_literal, pest,
//! pest_derive, num-bigint, num-complex) for the three keys read here.
use super::{check_spec, convert, encode_one, fixed_dim, Floats, InputError, Num};
use half::f16;
use sibyl_sdk::state::TensorSpec;

/// Element types of `.npy` files we read.
#[derive(Clone, Copy, Debug)]
enum NpyType {
    F2,
    F4,
    F8,
    U1,
    I1,
    I2,
    I4,
    I8,
    B1,
}

impl NpyType {
    fn parse(descr: &str) -> Option<NpyType> {
        Some(match descr {
            "<f2" => NpyType::F2,
            "<f4" => NpyType::F4,
            "<f8" => NpyType::F8,
            "|u1" | "<u1" | "=u1" => NpyType::U1,
            "|i1" | "<i1" | "=i1" => NpyType::I1,
            "<i2" => NpyType::I2,
            "<i4" => NpyType::I4,
            "<i8" => NpyType::I8,
            "|b1" => NpyType::B1,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            NpyType::U1 | NpyType::I1 | NpyType::B1 => 1,
            NpyType::F2 | NpyType::I2 => 2,
            NpyType::F4 | NpyType::I4 => 4,
            NpyType::F8 | NpyType::I8 => 8,
        }
    }

    /// The elements of `data`; a partial element at the end is ignored
    /// (callers check the length first).
    fn read(self, data: &[u8]) -> Vec<Num> {
        fn each<const N: usize>(data: &[u8], read: impl Fn([u8; N]) -> Num) -> Vec<Num> {
            data.as_chunks::<N>()
                .0
                .iter()
                .map(|&bytes| read(bytes))
                .collect()
        }
        let int = |v: i64| Num::Int(i128::from(v));
        match self {
            NpyType::F2 => each(data, |b| Num::Float(f16::from_le_bytes(b).to_f64())),
            NpyType::F4 => each(data, |b| Num::Float(f64::from(f32::from_le_bytes(b)))),
            NpyType::F8 => each(data, |b| Num::Float(f64::from_le_bytes(b))),
            NpyType::U1 | NpyType::B1 => each(data, |b| int(u8::from_le_bytes(b).into())),
            NpyType::I1 => each(data, |b| int(i8::from_le_bytes(b).into())),
            NpyType::I2 => each(data, |b| int(i16::from_le_bytes(b).into())),
            NpyType::I4 => each(data, |b| int(i32::from_le_bytes(b).into())),
            NpyType::I8 => each(data, |b| int(i64::from_le_bytes(b))),
        }
    }
}

/// A NumPy `.npy` file (format versions 1, 2 and 3; little-endian `<f2`,
/// `<f4`, `<f8`, `|u1`, `|i1`, `<i2`, `<i4`, `<i8`, `|b1`; C order only).
/// Its shape must match the spec (a dynamic dimension accepts any size);
/// values convert to the spec's dtype only when exact (an error names the
/// first that is not).
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
            .all(|(&got, &expected)| expected == -1 || fixed_dim(expected) == Some(got));
    if !matches {
        return Err(InputError::NpyShape {
            got: shape,
            expected: spec.shape.clone(),
        });
    }
    let too_large = || InputError::Npy(format!("shape {shape:?} is too large"));
    let count = shape
        .iter()
        .try_fold(1usize, |count, &dim| {
            count.checked_mul(usize::try_from(dim).ok()?)
        })
        .ok_or_else(too_large)?;
    let expected_len = count.checked_mul(npy_type.size()).ok_or_else(too_large)?;
    if data.len() != expected_len {
        return Err(InputError::Npy(format!(
            "shape {shape:?} of {descr} needs {expected_len} data bytes, the file has {}",
            data.len()
        )));
    }
    let data = convert(npy_type.read(data), spec.dtype, Floats::Lossless)?;
    encode_one(spec, shape, data)
}

/// The header text and the data bytes.
fn npy_split(bytes: &[u8]) -> Result<(&str, &[u8]), InputError> {
    let truncated = || InputError::Npy("the file ends inside the header".to_string());
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| InputError::Npy("missing the \\x93NUMPY magic".to_string()))?;
    let (&[major, _minor], rest) = rest.split_first_chunk().ok_or_else(truncated)?;
    let (header_len, rest) = match major {
        1 => {
            let (len, rest) = rest.split_first_chunk().ok_or_else(truncated)?;
            (usize::from(u16::from_le_bytes(*len)), rest)
        }
        2 | 3 => {
            let (len, rest) = rest.split_first_chunk().ok_or_else(truncated)?;
            let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| truncated())?;
            (len, rest)
        }
        version => {
            return Err(InputError::Npy(format!(
                "unsupported format version {version}"
            )))
        }
    };
    let (header, data) = rest
        .split_at_checked(header_len)
        .ok_or_else(|| InputError::Npy("header runs past the end of the file".to_string()))?;
    let header = std::str::from_utf8(header)
        .map_err(|_| InputError::Npy("header is not text".to_string()))?;
    Ok((header, data))
}

/// The text after `'key':` in a Python dict literal.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    ['\'', '"'].into_iter().find_map(|quote| {
        let (_, rest) = header.split_once(&format!("{quote}{key}{quote}"))?;
        rest.trim_start().strip_prefix(':').map(str::trim_start)
    })
}

/// The contents of a leading quoted string.
fn quoted(text: &str) -> Option<&str> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let (contents, _) = text.strip_prefix(quote)?.split_once(quote)?;
    Some(contents)
}

/// A Python tuple of non-negative integers, e.g. `(1, 64)`, `(64,)`, `()`.
fn parse_shape(text: &str) -> Option<Vec<u64>> {
    let (inner, _) = text.strip_prefix('(')?.split_once(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.trim_end_matches('L').parse::<u64>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{one, spec};
    use super::*;
    use crate::tensor;
    use sibyl_sdk::state::DType;

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

    /// A version 2 file (4-byte header length) with the header as given.
    fn npy_v2(header: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x02\x00".to_vec();
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(header);
        out.extend_from_slice(data);
        out
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
    fn npy_half_and_int16() {
        // 1.5, -2 and 65504 as binary16.
        let halves: Vec<u8> = [0x3e00u16, 0xc000, 0x7bff]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = npy_bytes("<f2", false, "(3,)", &halves);
        let t = one(&from_npy(&file, &spec(DType::Float16, &[3])).unwrap());
        assert_eq!(t.data, halves);
        let t = one(&from_npy(&file, &spec(DType::Float32, &[3])).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![1.5, -2.0, 65504.0]);
        assert!(matches!(
            from_npy(&file, &spec(DType::Int8, &[3])),
            Err(InputError::Value {
                index: 0,
                reason: "not an integer",
                ..
            })
        ));

        let shorts: Vec<u8> = [-300i16, 7, i16::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = npy_bytes("<i2", false, "(3,)", &shorts);
        let t = one(&from_npy(&file, &spec(DType::Int16, &[3])).unwrap());
        assert_eq!(t.data, shorts);
        let t = one(&from_npy(&file, &spec(DType::Float32, &[3])).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![-300.0, 7.0, 32767.0]);

        // 2049 needs 12 significand bits; binary16 has 11.
        let file = npy_bytes("<i2", false, "(1,)", &2049i16.to_le_bytes());
        assert!(matches!(
            from_npy(&file, &spec(DType::Float16, &[1])),
            Err(InputError::Value {
                reason: "not exactly representable",
                ..
            })
        ));
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
    fn npy_dtype_error_lists_the_supported_dtypes() {
        let file = npy_bytes("<c8", false, "(1,)", &[0; 8]);
        let error = from_npy(&file, &spec(DType::Float32, &[1])).unwrap_err();
        assert_eq!(error, InputError::NpyDType("<c8".to_string()));
        let message = error.to_string();
        for descr in [
            "<f2", "<f4", "<f8", "|u1", "|i1", "<i2", "<i4", "<i8", "|b1",
        ] {
            assert!(
                message.contains(descr) && NpyType::parse(descr).is_some(),
                "{descr}: {message}"
            );
        }
    }

    /// Every prefix of a good file, and files with broken or hostile headers,
    /// give `InputError::Npy` (never a panic or a huge allocation).
    #[test]
    fn npy_truncated_and_garbage_headers() {
        let floats = spec(DType::Float32, &[-1, -1, -1]);
        let good = npy_bytes("<f4", false, "(1, 1, 2)", &[0; 8]);
        assert!(from_npy(&good, &floats).is_ok());
        for len in 0..good.len() {
            let error = from_npy(&good[..len], &floats).unwrap_err();
            assert!(matches!(error, InputError::Npy(_)), "{len}: {error:?}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(from_npy(&long, &floats), Err(InputError::Npy(_))));

        let header = |text: &str| npy_v2(text.as_bytes(), &[0; 8]);
        let garbage = [
            // A 4 GiB header length in a 12-byte file.
            b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec(),
            b"\x93NUMPY\x03\x00\xff\xff".to_vec(),
            b"\x93NUMPY\x01\x00\xff\xff{}".to_vec(),
            b"\x93NUMPY\x04\x00\x00\x00".to_vec(),
            b"\x93NUMPY\x00\x00\x00\x00".to_vec(),
            npy_v2(b"{'descr': '<f4', \xff\xfe}", &[]),
            header(""),
            header("{}"),
            header("\u{e9}\u{e9}'descr'\u{e9}:\u{e9}"),
            header("{'fortran_order': False, 'shape': (1, 1, 2), 'descr': '<f4}"),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, }"),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, -1, 2), }"),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': 2, }"),
            header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 1, 2), }"),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 99999999999999999999999), }"),
            // The product of the dimensions overflows.
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }"),
            header("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 2305843009213693952), }"),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 3), }"),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }"),
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 0), }"),
        ];
        for file in &garbage {
            let error = from_npy(file, &floats).unwrap_err();
            assert!(
                matches!(error, InputError::Npy(_)),
                "{:?}: {error:?}",
                String::from_utf8_lossy(file)
            );
        }
    }

    /// Random corruption of a good file: any answer but a panic.
    #[test]
    fn npy_random_corruption_does_not_panic() {
        let floats = spec(DType::Float32, &[-1, 3]);
        let good = npy_bytes("<f4", false, "(2, 3)", &[0; 24]);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut file = good.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % file.len() as u64) as usize;
                file[at] = next() as u8;
            }
            let cut = (next() % (file.len() as u64 + 1)) as usize;
            let _ = from_npy(&file[..cut], &floats);
            let _ = from_npy(&file, &floats);
        }
    }
}
