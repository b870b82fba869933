//! ONNX Runtime through `ort` against the reference outputs recorded by
//! Python ONNX Runtime (`models/fixtures.json`).
//!
//! Needs the pinned runtime library (`scripts/setup.sh`). To see the table:
//!
//! ```sh
//! cargo test -p sibyl-oracle --test fixtures -- --nocapture
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "a test: a failure here is the test failing"
)]
use sibyl::{
    hashing::{input_hash, output_hash},
    state::{ComparisonRule, DType, TensorSpec},
};
use sibyl_oracle::{
    compare::outputs_agree,
    engine::{self, Engine, EngineError, EngineSettings},
    hex::encode as hex,
    input,
    store::{sha256_file, ModelStore, StoreError},
    tensor::{self, Tensor},
};
use std::path::{Path, PathBuf};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn fixtures() -> serde_json::Value {
    let path = models_dir().join("fixtures.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn fixture(name: &str) -> serde_json::Value {
    fixtures()["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
        .clone()
}

fn engine() -> Engine {
    Engine::new(&EngineSettings::default()).unwrap_or_else(|error| {
        panic!("the engine needs the pinned ONNX Runtime (run scripts/setup.sh): {error}")
    })
}

fn unhex(text: &str) -> Vec<u8> {
    sibyl_oracle::hex::decode(text).expect("hex in fixtures.json")
}

fn hash32(text: &str) -> [u8; 32] {
    unhex(text).try_into().expect("32 bytes")
}

fn comparison(value: &serde_json::Value) -> ComparisonRule {
    if value == "exact" {
        return ComparisonRule::Exact;
    }
    if let Some(tolerance) = value.get("tolerance") {
        return ComparisonRule::Tolerance {
            abs: tolerance["abs"].as_f64().unwrap() as f32,
            rel: tolerance["rel"].as_f64().unwrap() as f32,
        };
    }
    if let Some(top_k) = value.get("top_k") {
        return ComparisonRule::TopK {
            k: top_k["k"].as_u64().unwrap() as u16,
            tie_margin: sibyl_oracle::actions::model::DEFAULT_TIE_MARGIN,
        };
    }
    panic!("unknown comparison {value}");
}

fn spec(io: &serde_json::Value) -> TensorSpec {
    let dtype = match io["dtype"].as_str().unwrap() {
        "float32" => DType::Float32,
        "uint8" => DType::Uint8,
        "int32" => DType::Int32,
        "int64" => DType::Int64,
        "bool" => DType::Bool,
        other => panic!("dtype {other} not used by the fixtures"),
    };
    TensorSpec {
        name: io["name"].as_str().unwrap().to_string(),
        dtype,
        shape: io["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect(),
    }
}

#[test]
fn ort_reproduces_python_byte_for_byte() {
    let engine = engine();
    let doc = fixtures();
    println!();
    println!(
        "ONNX Runtime {} via ort, profile {}",
        doc["onnxruntime_version"].as_str().unwrap(),
        hex(&engine.profile_id())
    );
    println!("{}", engine.profile().descriptor);
    println!("fixture      case  python            ort               match");
    let mut failures = Vec::new();
    let mut cases_run = 0;
    for fixture in doc["fixtures"].as_array().unwrap() {
        let name = fixture["name"].as_str().unwrap();
        let path = models_dir().join(fixture["file"].as_str().unwrap());
        let model_hash = hash32(fixture["sha256"].as_str().unwrap());
        assert_eq!(
            sha256_file(&path).unwrap(),
            model_hash,
            "{} does not have the SHA-256 in fixtures.json",
            path.display()
        );
        let rule = comparison(&fixture["comparison"]);
        let mut model = engine.load(&path).unwrap();
        assert_eq!(model.inputs().len(), 1);
        assert_eq!(
            model.inputs()[0].name,
            fixture["input"]["name"].as_str().unwrap()
        );
        assert_eq!(
            model.outputs()[0].name,
            fixture["output"]["name"].as_str().unwrap()
        );

        for (index, case) in fixture["cases"].as_array().unwrap().iter().enumerate() {
            let input = unhex(case["input_encoding"].as_str().unwrap());
            assert_eq!(
                hex(&input_hash(&input)),
                case["input_hash"].as_str().unwrap()
            );
            let expected_output = unhex(case["output_encoding"].as_str().unwrap());
            let python_hash = case["output_hash"].as_str().unwrap().to_string();

            let output = model.run(&input).unwrap();
            let ort_hash = hex(&output_hash(&model_hash, &input_hash(&input), &output));
            let bytes_equal = output == expected_output;
            let hashes_equal = ort_hash == python_hash;
            let agree = outputs_agree(&rule, &expected_output, &output);
            println!(
                "{:<12} {:<5} {}  {}  {}",
                name,
                index,
                &python_hash[..16],
                &ort_hash[..16],
                if bytes_equal && hashes_equal {
                    "yes".to_string()
                } else {
                    format!(
                        "NO (rule {:?}: {})",
                        rule,
                        if agree { "agrees" } else { "disagrees" }
                    )
                }
            );
            if !(bytes_equal && hashes_equal && agree) {
                failures.push(format!("{name} case {index}"));
            }
            if let Some(label) = case.get("predicted").and_then(|p| p.as_u64()) {
                let scores = tensor::values_f64(&tensor::decode(&output).unwrap()[0]);
                assert_eq!(
                    sibyl_oracle::compare::top_k(&scores, 1),
                    vec![label as usize]
                );
            }
            cases_run += 1;
        }
    }
    assert_eq!(cases_run, 12);
    if sibyl_oracle::engine::cpu_as_recorded() {
        assert!(
            failures.is_empty(),
            "ort differs from Python for: {failures:?}"
        );
    } else {
        // Python recorded on another CPU class: ONNX Runtime picks other
        // kernels here (docs/security.md, "Determinism across CPUs").
        println!(
            "this CPU is not of the recording's class (AVX-512 VNNI): {} cases differ from the recording and are not asserted: {failures:?}",
            failures.len()
        );
    }
}

#[test]
fn inputs_from_user_files_run_end_to_end() {
    let engine = engine();
    let digits = fixture("digits");
    let spec = spec(&digits["input"]);
    let mut model = engine.load(&models_dir().join("digits.onnx")).unwrap();
    let samples = models_dir().join("samples");
    for label in [2usize, 6, 8] {
        let read = |ext: &str| std::fs::read(samples.join(format!("digit-{label}.{ext}"))).unwrap();
        let json = input::from_json(std::str::from_utf8(&read("json")).unwrap(), &spec).unwrap();
        let png = input::from_png_rounded(&read("png"), &spec, 16.0).unwrap();
        assert_eq!(json, png);
        let linear = input::from_png(&read("png"), &spec, 16.0).unwrap();
        for encoding in [json, linear] {
            let output = model.run(&encoding).unwrap();
            let tensors = tensor::decode(&output).unwrap();
            assert_eq!(tensors[0].name, "probabilities");
            assert_eq!(
                sibyl_oracle::compare::top_k(&tensor::values_f64(&tensors[0]), 1),
                vec![label]
            );
        }
    }
}

#[test]
fn a_second_engine_in_the_same_process_works() {
    let first = engine();
    let second = engine();
    assert_eq!(first.profile_id(), second.profile_id());
    assert_eq!(first.library_path(), second.library_path());
    let mlp = fixture("mlp_float");
    let input = unhex(mlp["cases"][0]["input_encoding"].as_str().unwrap());
    let path = models_dir().join("mlp_float.onnx");
    let a = first.load(&path).unwrap().run(&input).unwrap();
    let b = second.load(&path).unwrap().run(&input).unwrap();
    assert_eq!(a, b);
    // Loaded models move to other threads (spawn_blocking).
    let mut model = second.load(&path).unwrap();
    let c = std::thread::spawn(move || model.run(&input).unwrap())
        .join()
        .unwrap();
    assert_eq!(a, c);
}

#[test]
fn the_engine_refuses_inputs_that_do_not_fit_the_graph() {
    let engine = engine();
    let mut mlp = engine.load(&models_dir().join("mlp_float.onnx")).unwrap();
    let values = vec![0.5f32; 16];
    let good = Tensor::from_f32("", vec![1, 16], &values).unwrap();
    // Empty and matching names both bind by position.
    let unnamed = mlp
        .run(&tensor::encode(std::slice::from_ref(&good)))
        .unwrap();
    let named = Tensor {
        name: "input".to_string(),
        ..good.clone()
    };
    assert_eq!(mlp.run(&tensor::encode(&[named])).unwrap(), unnamed);

    let error = mlp.run(&[]).unwrap_err();
    assert!(
        matches!(
            error,
            EngineError::InputCount {
                expected: 1,
                got: 0
            }
        ),
        "{error}"
    );
    let error = mlp
        .run(&tensor::encode(&[good.clone(), good.clone()]))
        .unwrap_err();
    assert!(
        matches!(
            error,
            EngineError::InputCount {
                expected: 1,
                got: 2
            }
        ),
        "{error}"
    );

    let wrong_name = Tensor {
        name: "pixels".to_string(),
        ..good.clone()
    };
    let error = mlp.run(&tensor::encode(&[wrong_name])).unwrap_err();
    assert!(matches!(error, EngineError::InputName { .. }), "{error}");
    assert!(error.to_string().contains("`input`"), "{error}");

    let doubles = Tensor::new("", DType::Float64, vec![1, 16], vec![0; 128]).unwrap();
    let error = mlp.run(&tensor::encode(&[doubles])).unwrap_err();
    assert!(
        matches!(
            error,
            EngineError::InputDType {
                expected: "float32",
                got: "float64",
                ..
            }
        ),
        "{error}"
    );

    let short = Tensor::from_f32("", vec![1, 8], &values[..8]).unwrap();
    let error = mlp.run(&tensor::encode(&[short])).unwrap_err();
    assert!(matches!(error, EngineError::InputShape { .. }), "{error}");
    let flat = Tensor::from_f32("", vec![16], &values).unwrap();
    let error = mlp.run(&tensor::encode(&[flat])).unwrap_err();
    assert!(matches!(error, EngineError::InputShape { .. }), "{error}");

    let error = mlp.run(&[1, 2, 3]).unwrap_err();
    assert!(matches!(error, EngineError::Encoding(_)), "{error}");

    // uint8 in, int32 out: integer dtypes pass through both ways.
    let mut int8 = engine.load(&models_dir().join("int8_matmul.onnx")).unwrap();
    let bytes = Tensor::new("", DType::Uint8, vec![1, 16], (0..16).collect()).unwrap();
    let output = tensor::decode(&int8.run(&tensor::encode(&[bytes])).unwrap()).unwrap();
    assert_eq!(output[0].dtype, DType::Int32);
    assert_eq!(output[0].dims, vec![1, 8]);
}

#[test]
fn a_model_file_is_refused_and_not_loaded_when_hash_mismatch() {
    let digits = fixture("digits");
    let hash = hash32(digits["sha256"].as_str().unwrap());
    let mut bytes = std::fs::read(models_dir().join("digits.onnx")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("digits.onnx"), &bytes).unwrap();
    let cache = dir.path().join("cache");
    let store = ModelStore::new(cache.clone(), dir.path().to_path_buf());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = runtime.block_on(store.fetch("file://digits.onnx", &hash));
    match result {
        Err(StoreError::HashMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, hex(&hash));
            assert_ne!(actual, expected);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    // Nothing reached the cache, so there is no path the engine could load.
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!store.cache_path(&hash).exists());

    // The intact file goes through.
    std::fs::write(
        dir.path().join("digits.onnx"),
        std::fs::read(models_dir().join("digits.onnx")).unwrap(),
    )
    .unwrap();
    let path = runtime
        .block_on(store.fetch("file://digits.onnx", &hash))
        .unwrap();
    engine().load(&path).unwrap();
}

#[test]
fn the_engine_refuses_a_runtime_library_with_another_hash() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(engine::ONNXRUNTIME_LIBRARY);
    std::fs::write(&fake, b"\x7fELF definitely not onnxruntime").unwrap();
    let settings = EngineSettings {
        library_path: Some(fake.clone()),
    };
    // Refused before anything is loaded, whether or not another test in
    // this process has initialized the runtime already (the hash check
    // itself is unit-tested in engine/library.rs).
    let error = Engine::new(&settings).unwrap_err();
    assert!(
        matches!(&error, EngineError::LibraryHashMismatch { path, .. } if path == &fake),
        "{error}"
    );
    assert!(error.to_string().contains("scripts/setup.sh"), "{error}");

    let missing = EngineSettings {
        library_path: Some(dir.path().join("missing.so")),
    };
    let error = Engine::new(&missing).unwrap_err();
    assert!(
        matches!(error, EngineError::LibraryNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("missing.so"), "{error}");

    // The real one passes.
    let real = engine::resolve_library(&EngineSettings::default()).unwrap();
    engine::verify_library(&real).unwrap();
}

#[test]
fn a_model_that_fails_at_run_time_loads_and_then_fails_with_a_named_error() {
    let mut model = engine()
        .load(&models_dir().join("broken/fails_at_runtime.onnx"))
        .expect("it loads");
    let input = tensor::encode(&[tensor::Tensor::from_f32("", vec![1, 16], &[0.5; 16]).unwrap()]);
    let error = model.run(&input).unwrap_err();
    assert!(matches!(error, EngineError::Run { .. }), "{error}");
}

fn families() -> serde_json::Value {
    let path = models_dir().join("families/families.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Every model family (several named inputs and outputs, a scalar input,
/// int64 ids, dynamic dimensions) registers with the specs Python read from
/// its graph, turns its sample JSON object into the input Python encoded,
/// and runs to Python's output, byte for byte.
#[test]
fn every_model_family_registers_reads_its_sample_and_matches_python() {
    let engine = engine();
    let families = families();
    for family in families["families"].as_array().unwrap() {
        let name = family["name"].as_str().unwrap();
        let path = models_dir().join(family["file"].as_str().unwrap());
        // A family with views puts only their result on chain; its bound
        // is the result's (the default for a fixed shape).
        let views: Vec<(String, sibyl::state::OutputView)> = family["views"]
            .as_object()
            .map(|views| {
                views
                    .iter()
                    .map(|(output, view)| {
                        let view = sibyl_oracle::actions::model::parse_view(view.as_str().unwrap());
                        (output.clone(), view.unwrap())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let listing = sibyl_oracle::actions::model::Listing {
            uri: format!("file://{}", path.display()),
            price: 1,
            royalty_bps: 0,
            comparison: None,
            challenge_window_override_slots: None,
            max_input_bytes: Some(family["max_input_bytes"].as_u64().unwrap() as u32),
            max_output_bytes: views
                .is_empty()
                .then(|| family["max_output_bytes"].as_u64().unwrap() as u32),
            views: views.clone(),
            referee: false,
        };
        let args = sibyl_oracle::actions::model::registration(&engine, &path, listing).unwrap();
        if !views.is_empty() {
            assert_eq!(
                u64::from(args.max_output_bytes),
                family["result_max_bytes"].as_u64().unwrap(),
                "{name}: the result's bound"
            );
        }
        let specs = |side: &str| -> Vec<TensorSpec> {
            family[side].as_array().unwrap().iter().map(spec).collect()
        };
        assert_eq!(args.inputs, specs("inputs"), "{name}");
        assert_eq!(args.outputs, specs("outputs"), "{name}");
        assert_eq!(args.model_hash, hash32(family["sha256"].as_str().unwrap()));
        assert_eq!(args.comparison, comparison(&family["comparison"]), "{name}");
        // The pipeline's label is an integer beside float probabilities:
        // the publisher is told it is compared bit for bit.
        let cautions = sibyl_oracle::actions::model::cautions(&args);
        if name == "iris_pipeline" {
            assert_eq!(cautions.len(), 1, "{cautions:?}");
            assert!(cautions[0].contains("`label`"), "{cautions:?}");
        } else {
            assert!(cautions.is_empty(), "{name}: {cautions:?}");
            let mut exact = args.clone();
            exact.comparison = ComparisonRule::Exact;
            let cautions = sibyl_oracle::actions::model::cautions(&exact);
            assert!(
                cautions[0].contains("float bits can differ"),
                "{cautions:?}"
            );
        }
        let mut loaded = engine.load(&path).unwrap();
        for case in family["cases"].as_array().unwrap() {
            let sample_path = models_dir().join(case["sample"].as_str().unwrap());
            let sample = std::fs::read(&sample_path).unwrap();
            // An image's sample is a NumPy array, and Python records the
            // length and hash of its 600 KB encoding, not its hex.
            let encoded = if sample_path.extension().is_some_and(|e| e == "npy") {
                assert_eq!(family["input_by_reference"], true, "{name}");
                let encoded = input::from_npy(&sample, &args.inputs[0]).unwrap();
                assert_eq!(encoded.len() as u64, case["input_len"].as_u64().unwrap());
                encoded
            } else {
                let encoded =
                    input::from_json_object(&String::from_utf8(sample).unwrap(), &args.inputs)
                        .unwrap();
                assert_eq!(
                    hex(&encoded),
                    case["input_encoding"],
                    "{name}: the sample's encoding"
                );
                encoded
            };
            assert_eq!(
                hex(&input_hash(&encoded)),
                case["input_hash"],
                "{name}: the input hash"
            );
            let output = loaded.run(&encoded).unwrap();
            assert!(output.len() <= family["max_output_bytes"].as_u64().unwrap() as usize);
            if hex(&output) != case["output_encoding"] {
                assert!(
                    !sibyl_oracle::engine::cpu_as_recorded(),
                    "{name}: Python's output"
                );
                // Recorded on another CPU class (docs/security.md): what
                // follows compares with the recording.
                println!("{name}: differs from the recording on this CPU class (not asserted)");
                continue;
            }
            assert_eq!(
                hex(&sibyl::hashing::whole_output_sha256(&output)),
                case["whole_output_sha256"],
                "{name}: the whole output's hash"
            );
            // What goes on chain: the views' result, byte for byte Python's.
            let result = sibyl::state::project(&args.output_views, &output).unwrap();
            if views.is_empty() {
                assert_eq!(result, output);
            } else {
                assert_eq!(hex(&result), case["result_encoding"], "{name}: the result");
            }
            assert!(result.len() <= args.max_output_bytes as usize);
            assert_eq!(
                hex(&output_hash(
                    &args.model_hash,
                    &input_hash(&encoded),
                    &result
                )),
                case["output_hash"]
            );
        }
    }
}

/// A scikit-learn classifier converted with its ZipMap (a sequence of maps)
/// is refused at registration, and the error names the fix.
#[test]
fn a_graph_with_a_zipmap_output_is_refused_with_the_fix() {
    let engine = engine();
    let refused = &families()["refused"][0];
    let path = models_dir().join(refused["file"].as_str().unwrap());
    let listing = sibyl_oracle::actions::model::Listing {
        uri: "file://x".to_string(),
        price: 1,
        royalty_bps: 0,
        comparison: None,
        challenge_window_override_slots: None,
        max_input_bytes: Some(64),
        max_output_bytes: Some(64),
        views: Vec::new(),
        referee: false,
    };
    let error = sibyl_oracle::actions::model::registration(&engine, &path, listing)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(refused["output"].as_str().unwrap()),
        "{error}"
    );
    assert!(error.contains("not a tensor"), "{error}");
    assert!(error.contains("\"zipmap\": False"), "{error}");
}

/// A graph with dynamic dimensions has no size of its own: registration
/// needs the bound, and refuses one below the graph's smallest encoding
/// (no request could ever be served).
#[test]
fn a_dynamic_graph_needs_size_bounds_no_smaller_than_its_smallest_encoding() {
    use sibyl_oracle::actions::model::{registration, Listing, RegistrationError};
    let engine = engine();
    let path = models_dir().join("families/iris_pipeline.onnx");
    let listing = |max_input_bytes, max_output_bytes| Listing {
        uri: "file://x".to_string(),
        price: 1,
        royalty_bps: 0,
        comparison: None,
        challenge_window_override_slots: None,
        max_input_bytes,
        max_output_bytes,
        views: Vec::new(),
        referee: false,
    };
    let error = registration(&engine, &path, listing(None, Some(74))).unwrap_err();
    assert!(
        matches!(error, RegistrationError::Unbounded { what: "input" }),
        "{error}"
    );
    assert!(error.to_string().contains("--max-input-bytes"), "{error}");
    let error = registration(&engine, &path, listing(Some(46), None)).unwrap_err();
    assert!(
        matches!(error, RegistrationError::Unbounded { what: "output" }),
        "{error}"
    );
    // Batch 1 is the smallest: 46 bytes in, 74 out.
    let error = registration(&engine, &path, listing(Some(45), Some(74))).unwrap_err();
    assert!(
        matches!(
            error,
            RegistrationError::BoundTooSmall {
                what: "input",
                given: 45,
                smallest: 46
            }
        ),
        "{error}"
    );
    let error = registration(&engine, &path, listing(Some(46), Some(73))).unwrap_err();
    assert!(
        matches!(
            error,
            RegistrationError::BoundTooSmall { what: "output", .. }
        ),
        "{error}"
    );
    let args = registration(&engine, &path, listing(Some(46), Some(74))).unwrap();
    assert_eq!((args.max_input_bytes, args.max_output_bytes), (46, 74));
}
