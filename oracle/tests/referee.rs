//! The referee's interpreter (`sibyl_sdk::referee`) against ONNX Runtime on
//! the integer models (`models/referee/`): the same output bytes, bit for
//! bit, on Python's cases and on random inputs; and models outside its
//! operator set refused with the reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "a test: a failure here is the test failing"
)]
use sibyl::state::DType;
use sibyl_oracle::{
    engine::{Engine, EngineSettings},
    hex, referee,
    tensor::{encode, Tensor},
};
use std::path::{Path, PathBuf};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn referees() -> Vec<serde_json::Value> {
    let path = models_dir().join("referee/referee.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["referees"].as_array().unwrap().clone()
}

/// A seeded xorshift: the same random inputs on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A random canonical input for the model's one input spec.
fn random_input(spec: &serde_json::Value, random: &mut Random) -> Vec<u8> {
    let dims: Vec<u64> = spec["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    let count: u64 = dims.iter().product();
    let (dtype, size) = match spec["dtype"].as_str().unwrap() {
        "uint8" => (DType::Uint8, 1),
        "int8" => (DType::Int8, 1),
        other => panic!("no random input of {other} here"),
    };
    let data = (0..count * size).map(|_| random.next() as u8).collect();
    let name = spec["name"].as_str().unwrap();
    encode(&[Tensor::new(name, dtype, dims, data).unwrap()])
}

#[test]
fn the_referee_computes_every_integer_model_as_onnx_runtime_does_bit_for_bit() {
    let engine = Engine::new(&EngineSettings::default()).unwrap();
    let mut random = Random(0x5eed_1e55_0fac_ade5);
    for model in referees() {
        let name = model["name"].as_str().unwrap();
        let path = models_dir().join(model["file"].as_str().unwrap());
        let graph = referee::load(&path).unwrap_or_else(|err| panic!("{name}: {err}"));
        let ops: Vec<&str> = graph.nodes.iter().map(|node| node.op.name()).collect();
        let python: Vec<&str> = model["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| node["op_type"].as_str().unwrap())
            .collect();
        assert_eq!(ops, python, "{name}: every node is the referee's, in order");
        // Every integer initializer is a weight; float32 scalars are a
        // QLinearMatMul's scales, fixed into its op.
        let integer = model["initializers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|init| init["dtype"] != "float32")
            .count();
        assert_eq!(graph.weights.len(), integer, "{name}");
        // Python's cases.
        for case in model["cases"].as_array().unwrap() {
            let input = hex::decode(case["input_encoding"].as_str().unwrap()).unwrap();
            let output = graph.run_encoded(&input).unwrap();
            assert_eq!(
                hex::encode(&output),
                case["output_encoding"].as_str().unwrap(),
                "{name}: Python's output"
            );
        }
        // Random inputs through ONNX Runtime and the referee. Without
        // VNNI, ONNX Runtime's uint8 × int8 products saturate, and the
        // referee's exact sums are the ONNX semantics it is not computing
        // (docs/referee.md): compared on the recording CPU class only.
        let mut loaded = engine.load(&path).unwrap();
        let spec = &model["inputs"][0];
        let mut differing = 0;
        for round in 0..100 {
            let input = random_input(spec, &mut random);
            let ours = graph.run_encoded(&input).unwrap();
            let onnx_runtime = loaded.run(&input).unwrap();
            if sibyl_oracle::engine::cpu_as_recorded() {
                assert_eq!(ours, onnx_runtime, "{name}: random input {round}");
            }
            differing += usize::from(ours != onnx_runtime);
        }
        if differing > 0 {
            eprintln!("{name}: ONNX Runtime differs from the referee on {differing} of 100 random inputs on this CPU class (not asserted)");
        }
        eprintln!(
            "{name}: {} nodes, {} weights, weights root {}",
            graph.nodes.len(),
            graph.weights.len(),
            hex::encode(&graph.weights_root())
        );
    }
}

#[test]
fn a_model_outside_the_referees_set_is_refused_with_the_reason() {
    // The digits classifier computes in float: not the referee's.
    let error = referee::load(&models_dir().join("digits.onnx")).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("Float"), "{message}");
    // Garbage is not a model.
    assert!(matches!(
        referee::from_bytes(b"not an onnx file"),
        Err(referee::RefereeLoadError::Decode(_) | referee::RefereeLoadError::NoGraph)
    ));
}

/// What the program computes in a game's step is what the node's run
/// computed: every element of every node of each referee model, read one
/// at a time from its operands (`step::compute`, reductions folded term by
/// term), equals the whole run's, on random inputs.
#[test]
fn every_element_of_every_node_steps_to_the_runs_value() {
    use sibyl_sdk::referee::{step, Source};
    let mut random = Random(0x0005_7e95_5eed_0017);
    for model in referees() {
        let name = model["name"].as_str().unwrap();
        let path = models_dir().join(model["file"].as_str().unwrap());
        let graph = referee::load(&path).unwrap();
        for _ in 0..3 {
            let input = random_input(&model["inputs"][0], &mut random);
            let tensors = sibyl::encoding::decode(&input).unwrap();
            let inputs = tensors
                .iter()
                .map(|tensor| sibyl_sdk::referee::IntTensor::from_tensor(tensor).unwrap())
                .collect();
            let values = graph.run(inputs).unwrap();
            let records = graph.records(&values).unwrap();
            let slot_of = |source: Source| match source {
                Source::Input(index) => graph.inputs[usize::from(index)],
                Source::Weight(index) => graph.weights[usize::from(index)].0,
                Source::Node(index) => graph.nodes[usize::from(index)].outputs[0],
            };
            for (index, (node, record)) in graph.nodes.iter().zip(&records).enumerate() {
                let out = values[node.outputs[0]].as_deref().unwrap();
                for element in 0..out.data.len() {
                    let computed = step::compute(record, element as u64, |position| {
                        let source = record.operand(position.slot).unwrap().source;
                        Ok(values[slot_of(source)].as_deref().unwrap().data
                            [position.index as usize])
                    })
                    .unwrap();
                    assert_eq!(
                        computed,
                        out.data[element],
                        "{name}: node {index} ({}) element {element}",
                        record.op.name()
                    );
                }
            }
        }
    }
}

/// `sibyl model register --referee` records the referee's roots for the
/// MLP and refuses a float model, and a view, with the reason.
#[test]
fn registration_for_the_referee_records_its_roots_or_says_why_not() {
    use sibyl_oracle::actions::model::{registration, Listing};
    let engine = Engine::new(&EngineSettings::default()).unwrap();
    let listing = |views: Vec<(String, sibyl::state::OutputView)>| Listing {
        uri: "file://m.onnx".into(),
        price: 1,
        royalty_bps: 0,
        comparison: None,
        challenge_window_override_slots: None,
        max_input_bytes: None,
        max_output_bytes: None,
        views,
        referee: true,
    };
    let mlp = models_dir().join("referee/int8_mlp.onnx");
    let args = registration(&engine, &mlp, listing(Vec::new())).unwrap();
    let roots = args.referee.expect("the MLP qualifies");
    assert_eq!(
        (
            roots.node_count,
            roots.weight_count,
            roots.output_nodes.len()
        ),
        (9, 11, 2)
    );
    let model = referee::RefereeModel::load(&mlp, &args.inputs).unwrap();
    model.check(&roots).unwrap();
    let mut other = roots.clone();
    other.weights_root[0] ^= 1;
    assert!(model
        .check(&other)
        .unwrap_err()
        .to_string()
        .contains("weights root"));

    let float = registration(
        &engine,
        &models_dir().join("digits.onnx"),
        listing(Vec::new()),
    )
    .unwrap_err()
    .to_string();
    assert!(float.contains("cannot be judged by the referee"), "{float}");
    let viewed = registration(
        &engine,
        &mlp,
        listing(vec![("logits".into(), sibyl::state::OutputView::Omitted)]),
    )
    .unwrap_err()
    .to_string();
    assert!(viewed.contains("every output whole"), "{viewed}");
}
