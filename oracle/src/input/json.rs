//! JSON input: an array of numbers, flat or nested.
use super::{check_spec, convert, encode_one, resolve_dims, Floats, InputError, Num};
use serde_json::Value;
use sibyl_sdk::state::TensorSpec;

/// A JSON array of numbers, flat or nested (nested arrays must be
/// rectangular; they are read in row-major order). `true`/`false` count as
/// 1/0. Integer dtypes need integral values in range; float dtypes round to
/// nearest. Dims: see [`resolve_dims`] — with no dynamic dimension the count
/// must equal the shape's product; with dynamic dimensions, nested arrays of
/// the spec's rank give their sizes, else all but the last dynamic dimension
/// are 1 and the last takes the rest.
pub fn from_json(text: &str, spec: &TensorSpec) -> Result<Vec<u8>, InputError> {
    check_spec(spec)?;
    let value: Value =
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
    encode_one(spec.dtype, dims, data)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The nesting shape, following first elements. (serde_json refuses nesting
/// deeper than 128, which bounds this recursion and `flatten`'s.)
fn json_shape(value: &Value, shape: &mut Vec<usize>) {
    if let Value::Array(items) = value {
        shape.push(items.len());
        if let Some(first) = items.first() {
            json_shape(first, shape);
        }
    }
}

fn flatten<'a>(
    value: &'a Value,
    shape: &[usize],
    depth: usize,
    path: &mut String,
    out: &mut Vec<&'a Value>,
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
        (Value::Array(items), Some(&expected)) => {
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
        (Value::Array(_), None) => Err(ragged(path, "unexpected array".to_string())),
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

fn json_number(index: usize, value: &Value) -> Result<Num, InputError> {
    match value {
        Value::Number(n) => Ok(if let Some(i) = n.as_i64() {
            Num::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Num::Int(i128::from(u))
        } else {
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        Value::Bool(b) => Ok(Num::Int(i128::from(*b))),
        other => Err(InputError::JsonNotNumber {
            index,
            value: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{one, spec};
    use super::*;
    use crate::tensor;
    use sibyl_sdk::state::DType;

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

    /// Decimal literals round to the nearest half, ties to even.
    #[test]
    fn json_rounds_to_half_precision() {
        let t = one(&from_json(
            "[0.1, 65519, 1.00048828125, 1.0004882812500002]",
            &spec(DType::Float16, &[4]),
        )
        .unwrap());
        assert_eq!(
            t.data,
            [0x2e66u16, 0x7bff, 0x3c00, 0x3c01]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
    }
}
