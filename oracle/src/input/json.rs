//! JSON input: an array of numbers, flat or nested (a number for a
//! scalar input), or one object keyed by input name for a model of several.
use super::{check_spec, convert, encode_one, resolve_dims, Floats, InputError, Num};
use serde_json::Value;
use sibyl_sdk::state::TensorSpec;

/// A JSON array of numbers, flat or nested (nested arrays must be
/// rectangular; they are read in row-major order), or one number for a
/// scalar (rank 0) input. `true`/`false` count as 1/0. Integer dtypes need
/// integral values in range; float dtypes round to nearest. Dims: see
/// [`resolve_dims`] — with no dynamic dimension the count must equal the
/// shape's product; with dynamic dimensions, nested arrays of the spec's
/// rank give their sizes, else all but the last dynamic dimension are 1 and
/// the last takes the rest.
pub fn from_json(text: &str, spec: &TensorSpec) -> Result<Vec<u8>, InputError> {
    from_json_value(&parse(text)?, spec)
}

/// One JSON object keyed by input name, each value as [`from_json`] takes
/// it: the encoding of every input of `specs`, in graph order. A missing or
/// unknown name is refused, naming what the model takes ([`super::bind`]).
pub fn from_json_object(text: &str, specs: &[TensorSpec]) -> Result<Vec<u8>, InputError> {
    let value = parse(text)?;
    let Value::Object(fields) = value else {
        return Err(InputError::JsonNotObject {
            found: json_kind(&value).to_string(),
            expected: super::names(specs),
        });
    };
    let parts = fields
        .into_iter()
        .map(|(name, value)| (Some(name), value))
        .collect();
    super::bind(specs, parts, |value, spec| from_json_value(&value, spec))
}

/// Whether `text` is a JSON object (a model's inputs keyed by name) rather
/// than one input's array.
pub fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn parse(text: &str) -> Result<Value, InputError> {
    serde_json::from_str(text).map_err(|error| InputError::Json(error.to_string()))
}

fn from_json_value(value: &Value, spec: &TensorSpec) -> Result<Vec<u8>, InputError> {
    check_spec(spec)?;
    let scalar = spec.shape.is_empty() && matches!(value, Value::Number(_) | Value::Bool(_));
    if !value.is_array() && !scalar {
        return Err(InputError::JsonNotArray(json_kind(value).to_string()));
    }
    let mut shape = Vec::new();
    json_shape(value, &mut shape);
    let mut leaves = Vec::new();
    flatten(value, &shape, 0, &mut String::new(), &mut leaves)?;
    let numbers = leaves
        .iter()
        .enumerate()
        .map(|(index, leaf)| json_number(index, leaf))
        .collect::<Result<Vec<_>, _>>()?;
    let dims = resolve_dims(spec, numbers.len(), Some(&shape))?;
    let data = convert(numbers, spec.dtype, Floats::Round)?;
    encode_one(spec, dims, data)
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

    fn named(name: &str, dtype: DType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.to_string(),
            ..spec(dtype, shape)
        }
    }

    #[test]
    fn a_scalar_input_is_one_number_and_nothing_else() {
        let sr = named("sr", DType::Int64, &[]);
        let tensors = tensor::decode(&from_json("16000", &sr).unwrap()).unwrap();
        assert_eq!(tensors[0].name, "sr");
        assert_eq!(tensors[0].dims, Vec::<u64>::new());
        assert_eq!(tensors[0].data, 16000i64.to_le_bytes());
        // One value in an array fills it too, as a flat array fills any
        // shape of its count; two do not.
        assert_eq!(
            tensor::decode(&from_json("[16000]", &sr).unwrap()).unwrap(),
            tensors
        );
        assert!(matches!(
            from_json("[1, 2]", &sr),
            Err(InputError::ElementCount { .. })
        ));
        assert!(matches!(
            from_json("16000", &named("x", DType::Int64, &[1])),
            Err(InputError::JsonNotArray(_))
        ));
    }

    #[test]
    fn one_object_keyed_by_name_gives_every_input_in_graph_order() {
        let specs = [
            named("input_ids", DType::Int64, &[1, -1]),
            named("attention_mask", DType::Int64, &[1, -1]),
            named("sr", DType::Int64, &[]),
        ];
        // Keys in any order; the encoding follows the graph.
        let text = r#"{"sr": 8000, "attention_mask": [[1, 1, 0]], "input_ids": [[5, 6, 0]]}"#;
        let tensors = tensor::decode(&from_json_object(text, &specs).unwrap()).unwrap();
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["input_ids", "attention_mask", "sr"]);
        assert_eq!(tensors[0].dims, vec![1, 3]);

        let missing = r#"{"input_ids": [[5]], "attention_mask": [[1]]}"#;
        let error = from_json_object(missing, &specs).unwrap_err();
        assert!(matches!(&error, InputError::MissingInput { name, .. } if name == "sr"));
        assert!(error
            .to_string()
            .contains("`input_ids`, `attention_mask`, `sr`"));

        let unknown = r#"{"input_ids": [[5]], "attention_mask": [[1]], "sr": 1, "ids": [1]}"#;
        assert!(matches!(
            from_json_object(unknown, &specs),
            Err(InputError::UnknownInput { name, .. }) if name == "ids"
        ));
        let wrong = r#"{"input_ids": [[0.5]], "attention_mask": [[1]], "sr": 1}"#;
        let error = from_json_object(wrong, &specs).unwrap_err();
        assert!(matches!(&error, InputError::In { name, .. } if name == "input_ids"));
        assert!(
            error.to_string().starts_with("input `input_ids`: "),
            "{error}"
        );
        assert!(matches!(
            from_json_object("[1, 2]", &specs),
            Err(InputError::JsonNotObject { .. })
        ));
        assert!(is_json_object("  {\"a\": 1}") && !is_json_object("[1]"));
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
