#!/usr/bin/env python3
"""Deterministically generate Sibyl's ONNX test fixtures.

Run with the project venv (created by scripts/setup.sh):

    .local/venv/bin/python models/generate.py

Writes into models/ (next to this script):
    mlp_float.onnx, int8_matmul.onnx, conv_small.onnx, digits.onnx
    fixtures.json                 reference inputs/outputs/hashes (see README.md)
    samples/digit-<label>.{png,json,npy}

Everything is derived from fixed seeds and scikit-learn's bundled digits
dataset; nothing is downloaded. Running the script twice produces
byte-identical files.
"""

import os

# Single-threaded BLAS before numpy is imported, so scikit-learn's training is
# not subject to thread-count-dependent floating-point reduction order.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import hashlib  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "samples")

OPSET = 17
IR_VERSION = 8
PRODUCER = "sibyl-fixtures"
PRODUCER_VERSION = "1"
OUTPUT_DOMAIN = b"sibyl-output-v1"

# Granularity the trained digits weights are rounded to (see train_digits()).
DIGITS_WEIGHT_QUANTUM = 2.0 ** -12

# ---------------------------------------------------------------------------
# Canonical tensor encoding (byte-compared against the Rust implementation)
# ---------------------------------------------------------------------------

# numpy dtype -> (ONNX TensorProto.DataType number, little-endian numpy dtype, name)
DTYPES = {
    np.dtype(np.float32): (TensorProto.FLOAT, "<f4", "float32"),
    np.dtype(np.uint8): (TensorProto.UINT8, "u1", "uint8"),
    np.dtype(np.int8): (TensorProto.INT8, "i1", "int8"),
    np.dtype(np.int16): (TensorProto.INT16, "<i2", "int16"),
    np.dtype(np.int32): (TensorProto.INT32, "<i4", "int32"),
    np.dtype(np.int64): (TensorProto.INT64, "<i8", "int64"),
    np.dtype(np.bool_): (TensorProto.BOOL, "u1", "bool"),
    np.dtype(np.float16): (TensorProto.FLOAT16, "<f2", "float16"),
    np.dtype(np.float64): (TensorProto.DOUBLE, "<f8", "float64"),
}


def encode_tensor(name, array):
    """name dtype rank dims data, as specified in models/README.md."""
    array = np.asarray(array)
    onnx_type, le_dtype, _ = DTYPES[array.dtype]
    name_bytes = name.encode("utf-8")
    if array.ndim > 255:
        raise ValueError("rank does not fit in u8")
    out = bytearray()
    out += struct.pack("<I", len(name_bytes))
    out += name_bytes
    out += struct.pack("<B", onnx_type)
    out += struct.pack("<B", array.ndim)
    for d in array.shape:
        out += struct.pack("<Q", d)
    out += np.ascontiguousarray(array).astype(le_dtype, copy=False).tobytes(order="C")
    return bytes(out)


def encode_tensors(named_arrays):
    """Concatenation of encode_tensor() in graph order, no count prefix."""
    return b"".join(encode_tensor(n, a) for n, a in named_arrays)


def sha256(data):
    return hashlib.sha256(data).digest()


def output_hash(model_hash, input_hash, output_encoding):
    return sha256(OUTPUT_DOMAIN + model_hash + input_hash + output_encoding)


# ---------------------------------------------------------------------------
# ONNX helpers
# ---------------------------------------------------------------------------


def init(name, array):
    return numpy_helper.from_array(np.ascontiguousarray(array), name=name)


def make_model(graph):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def serialize(model):
    return model.SerializeToString(deterministic=True)


# ---------------------------------------------------------------------------
# Fixture models
# ---------------------------------------------------------------------------


def build_mlp_float():
    rng = np.random.RandomState(1001)
    w1 = (rng.randn(32, 16) * 0.25).astype(np.float32)
    b1 = (rng.randn(32) * 0.1).astype(np.float32)
    w2 = (rng.randn(4, 32) * 0.25).astype(np.float32)
    b2 = (rng.randn(4) * 0.1).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1.out"], name="fc1", transB=1),
            helper.make_node("Relu", ["fc1.out"], ["relu1.out"], name="relu1"),
            helper.make_node("Gemm", ["relu1.out", "fc2.weight", "fc2.bias"], ["output"], name="fc2", transB=1),
        ],
        "mlp_float",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])],
        initializer=[init("fc1.weight", w1), init("fc1.bias", b1), init("fc2.weight", w2), init("fc2.bias", b2)],
    )

    def reference(x):
        h = np.maximum(x.astype(np.float64) @ w1.T.astype(np.float64) + b1, 0)
        return h @ w2.T.astype(np.float64) + b2

    return make_model(graph), reference


def build_int8_matmul():
    rng = np.random.RandomState(1002)
    w = rng.randint(-128, 128, size=(16, 8)).astype(np.int8)
    a_zero_point = np.array(128, dtype=np.uint8)
    b_zero_point = np.array(0, dtype=np.int8)
    bias = rng.randint(-1000, 1001, size=(8,)).astype(np.int32)
    graph = helper.make_graph(
        [
            helper.make_node(
                "MatMulInteger",
                ["input", "weight", "input.zero_point", "weight.zero_point"],
                ["matmul.out"],
                name="matmul",
            ),
            helper.make_node("Add", ["matmul.out", "bias"], ["output"], name="add_bias"),
        ],
        "int8_matmul",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, [1, 16])],
        [helper.make_tensor_value_info("output", TensorProto.INT32, [1, 8])],
        initializer=[
            init("weight", w),
            init("input.zero_point", a_zero_point),
            init("weight.zero_point", b_zero_point),
            init("bias", bias),
        ],
    )

    def reference(x):
        a = x.astype(np.int64) - int(a_zero_point)
        b = w.astype(np.int64) - int(b_zero_point)
        return (a @ b + bias).astype(np.int32)

    return make_model(graph), reference


def build_conv_small():
    rng = np.random.RandomState(1003)
    conv_w = (rng.randn(4, 1, 3, 3) * 0.5).astype(np.float32)
    conv_b = (rng.randn(4) * 0.1).astype(np.float32)
    fc_w = (rng.randn(10, 64) * 0.2).astype(np.float32)
    fc_b = (rng.randn(10) * 0.1).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node(
                "Conv", ["input", "conv.weight", "conv.bias"], ["conv.out"], name="conv",
                kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
            ),
            helper.make_node("Relu", ["conv.out"], ["relu.out"], name="relu"),
            helper.make_node("MaxPool", ["relu.out"], ["pool.out"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["pool.out"], ["flat.out"], name="flatten", axis=1),
            helper.make_node("Gemm", ["flat.out", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1),
        ],
        "conv_small",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
        initializer=[init("conv.weight", conv_w), init("conv.bias", conv_b), init("fc.weight", fc_w), init("fc.bias", fc_b)],
    )

    def reference(x):
        x = x.astype(np.float64)
        padded = np.pad(x[0, 0], 1)
        conv = np.zeros((4, 8, 8))
        for f in range(4):
            for i in range(8):
                for j in range(8):
                    conv[f, i, j] = np.sum(padded[i:i + 3, j:j + 3] * conv_w[f, 0]) + conv_b[f]
        relu = np.maximum(conv, 0)
        pool = relu.reshape(4, 4, 2, 4, 2).max(axis=(2, 4))
        return pool.reshape(1, 64) @ fc_w.T.astype(np.float64) + fc_b

    return make_model(graph), reference


def train_digits():
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0
    )
    clf = MLPClassifier(hidden_layer_sizes=(32,), random_state=0, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(x_train, y_train)
    sklearn_accuracy = float(clf.score(x_test, y_test))
    assert list(clf.classes_) == list(range(10))

    # Round the trained weights to a coarse binary grid (exactly representable
    # in float32). Last-bit differences in BLAS results between CPUs would
    # otherwise change the exported bytes; after rounding they almost surely
    # do not. The effect on the classifier is negligible (see test_accuracy).
    def q(a):
        return (np.round(np.asarray(a, dtype=np.float64) / DIGITS_WEIGHT_QUANTUM) * DIGITS_WEIGHT_QUANTUM).astype(np.float32)

    w1, w2 = (q(c.T) for c in clf.coefs_)  # sklearn stores [in, out]; Gemm transB wants [out, in]
    b1, b2 = (q(b) for b in clf.intercepts_)
    return (w1, b1, w2, b2), sklearn_accuracy, x_test, y_test


def build_digits(params):
    w1, b1, w2, b2 = params
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["pixels", "hidden.weight", "hidden.bias"], ["hidden.out"], name="hidden", transB=1),
            helper.make_node("Relu", ["hidden.out"], ["hidden.relu"], name="relu"),
            helper.make_node("Gemm", ["hidden.relu", "logits.weight", "logits.bias"], ["logits"], name="logits", transB=1),
            helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=-1),
        ],
        "digits",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 10])],
        initializer=[init("hidden.weight", w1), init("hidden.bias", b1), init("logits.weight", w2), init("logits.bias", b2)],
    )

    def reference(x):
        h = np.maximum(x.astype(np.float64) @ w1.T.astype(np.float64) + b1, 0)
        z = h @ w2.T.astype(np.float64) + b2
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    return make_model(graph), reference


# ---------------------------------------------------------------------------
# Running under the pinned profile
# ---------------------------------------------------------------------------

PROFILE = {
    "intra_op_num_threads": 1,
    "inter_op_num_threads": 1,
    "execution_mode": "ORT_SEQUENTIAL",
    "graph_optimization_level": "ORT_ENABLE_BASIC",
    "use_deterministic_compute": True,
    "providers": ["CPUExecutionProvider"],
}


def make_session(model_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    if hasattr(so, "use_deterministic_compute"):
        so.use_deterministic_compute = True
    else:  # older/newer bindings without the property: same switch via config
        so.add_session_config_entry("session.use_deterministic_compute", "1")
    return ort.InferenceSession(model_bytes, sess_options=so, providers=PROFILE["providers"])


# ---------------------------------------------------------------------------
# Small file writers
# ---------------------------------------------------------------------------


def write_bytes(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def png_gray8(pixels):
    """8-bit grayscale PNG, written by hand (zlib stream with one stored block,
    so the bytes do not depend on the zlib implementation/version)."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))  # filter type 0 per row
    assert len(raw) <= 0xFFFF
    zdata = (
        b"\x78\x01"
        + struct.pack("<BHH", 1, len(raw), len(raw) ^ 0xFFFF)
        + raw
        + struct.pack(">I", zlib.adler32(raw))
    )
    assert zlib.decompress(zdata) == raw

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zdata) + chunk(b"IEND", b"")


def npy_bytes(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def tensor_info(value_info):
    t = value_info.type.tensor_type
    np_dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
    return {
        "name": value_info.name,
        "dtype": DTYPES[np.dtype(np_dtype)][2],
        "shape": [d.dim_value for d in t.shape.dim],
    }


def make_cases(model, model_bytes, reference, inputs, comparison):
    model_hash = sha256(model_bytes)
    sess = make_session(model_bytes)
    in_name = model.graph.input[0].name
    out_name = model.graph.output[0].name
    assert [i.name for i in sess.get_inputs()] == [in_name]
    assert [o.name for o in sess.get_outputs()] == [out_name]
    cases = []
    for x in inputs:
        (y,) = sess.run([out_name], {in_name: x})
        # a second run must give the identical bytes
        (y2,) = sess.run([out_name], {in_name: x})
        assert y.tobytes() == y2.tobytes()
        ref = reference(x)
        if comparison == "exact":
            assert np.array_equal(y, ref), (y, ref)
        else:
            assert np.allclose(y, ref, rtol=1e-4, atol=1e-5), (y, ref)
        in_enc = encode_tensors([(in_name, x)])
        out_enc = encode_tensors([(out_name, y)])
        in_hash = sha256(in_enc)
        cases.append({
            "input_encoding": in_enc.hex(),
            "input_hash": in_hash.hex(),
            "output_encoding": out_enc.hex(),
            "output_hash": output_hash(model_hash, in_hash, out_enc).hex(),
            "output_values": y.reshape(-1).tolist(),
        })
    return cases


def build_fails_at_runtime():
    """A model that loads but fails when run: Reshape of a [1, n] input to [3]
    (n is dynamic, so only running it with n != 3 finds out). For the node's
    bad-input tests; not a fixture with reference outputs."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "shape"], ["output"], name="reshape")],
        "fails_at_runtime",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "n"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [3])],
        initializer=[init("shape", np.array([3], dtype=np.int64))],
    )
    return make_model(graph)


def build_runs_forever():
    """A model that never finishes: a Loop of 2**62 iterations adding 1 to a
    float32 [1, 16] input. For the node's test that a run past its time
    limit is stopped (ONNX Runtime checks the terminate flag between the
    loop's iterations); not a fixture with reference outputs."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
            helper.make_node("Add", ["x_in", "one"], ["x_out"], name="add_one"),
        ],
        "forever_body",
        [
            helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [1, 16]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [1, 16]),
        ],
        initializer=[numpy_helper.from_array(np.array(1.0, dtype=np.float32), name="one")],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "keep_going", "input"], ["output"], name="forever", body=body)],
        "runs_forever",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 16])],
        initializer=[
            numpy_helper.from_array(np.array(2**62, dtype=np.int64), name="trips"),
            numpy_helper.from_array(np.array(True), name="keep_going"),
        ],
    )
    return make_model(graph)


def main():
    os.makedirs(SAMPLES, exist_ok=True)
    fixtures = []
    written = {}

    def add_fixture(name, model, reference, inputs, comparison, extra=None):
        model_bytes = serialize(model)
        path = os.path.join(HERE, name + ".onnx")
        written[path] = write_bytes(path, model_bytes)
        # round trip through the file to make sure it is what ORT will load
        with open(path, "rb") as f:
            assert f.read() == model_bytes
        entry = {
            "name": name,
            "file": name + ".onnx",
            "sha256": hashlib.sha256(model_bytes).hexdigest(),
            "opset": OPSET,
            "ir_version": IR_VERSION,
            "input": tensor_info(model.graph.input[0]),
            "output": tensor_info(model.graph.output[0]),
            "comparison": comparison,
            "cases": make_cases(model, model_bytes, reference, inputs, comparison),
        }
        entry.update(extra or {})
        fixtures.append(entry)
        return entry

    float_tolerance = {"tolerance": {"abs": 1e-5, "rel": 1e-4}}

    # 1. mlp_float
    model, ref = build_mlp_float()
    rng = np.random.RandomState(2001)
    add_fixture("mlp_float", model, ref, [rng.randn(1, 16).astype(np.float32) for _ in range(3)], float_tolerance)

    # 2. int8_matmul
    model, ref = build_int8_matmul()
    rng = np.random.RandomState(2002)
    add_fixture("int8_matmul", model, ref, [rng.randint(0, 256, size=(1, 16)).astype(np.uint8) for _ in range(3)], "exact")

    # 3. conv_small
    model, ref = build_conv_small()
    rng = np.random.RandomState(2003)
    add_fixture("conv_small", model, ref, [rng.rand(1, 1, 8, 8).astype(np.float32) for _ in range(3)], float_tolerance)

    # 4. digits
    params, sklearn_accuracy, x_test, y_test = train_digits()
    model, ref = build_digits(params)
    model_bytes = serialize(model)
    sess = make_session(model_bytes)
    probs = np.concatenate([sess.run(None, {"pixels": x.reshape(1, 64).astype(np.float32)})[0] for x in x_test])
    predicted = probs.argmax(axis=1)
    test_accuracy = float(np.mean(predicted == y_test))
    if test_accuracy <= 0.9:
        sys.exit(f"digits test accuracy {test_accuracy:.4f} is not > 0.9")

    # three real test images with distinct labels (first ones in test-set order)
    chosen, seen = [], set()
    for i, label in enumerate(y_test):
        if int(label) not in seen:
            seen.add(int(label))
            chosen.append(i)
        if len(chosen) == 3:
            break
    digit_inputs = [x_test[i].reshape(1, 64).astype(np.float32) for i in chosen]
    entry = add_fixture(
        "digits", model, ref, digit_inputs, {"top_k": {"k": 1}},
        extra={
            "test_accuracy": round(test_accuracy, 6),
            "sklearn_test_accuracy": round(sklearn_accuracy, 6),
            "test_set_size": int(len(y_test)),
            "training": "sklearn MLPClassifier(hidden_layer_sizes=(32,), random_state=0, max_iter=1000) on "
                        "load_digits(), train_test_split(test_size=0.25, random_state=0); weights rounded "
                        "to multiples of 2**-12",
            "png_scale": 16 / 255,
        },
    )
    for case, i, x in zip(entry["cases"], chosen, digit_inputs):
        case["test_index"] = int(i)
        case["label"] = int(y_test[i])
        case["predicted"] = int(np.argmax(case["output_values"]))
        case["sample"] = f"samples/digit-{int(y_test[i])}"
        stem = os.path.join(SAMPLES, f"digit-{int(y_test[i])}")
        values = x.reshape(64)
        assert np.all(values == np.round(values)) and values.min() >= 0 and values.max() <= 16
        png_pixels = np.round(values.astype(np.float64) * 255 / 16).astype(np.uint8).reshape(8, 8)
        assert np.array_equal(np.round(png_pixels * (16 / 255)), values.reshape(8, 8))
        written[stem + ".png"] = write_bytes(stem + ".png", png_gray8(png_pixels))
        written[stem + ".json"] = write_bytes(stem + ".json", (json.dumps([int(v) for v in values]) + "\n").encode())
        written[stem + ".npy"] = write_bytes(stem + ".npy", npy_bytes(x.astype(np.float32).reshape(1, 64)))

    broken = os.path.join(HERE, "broken")
    os.makedirs(broken, exist_ok=True)
    path = os.path.join(broken, "fails_at_runtime.onnx")
    written[path] = write_bytes(path, serialize(build_fails_at_runtime()))
    path = os.path.join(broken, "runs_forever.onnx")
    written[path] = write_bytes(path, serialize(build_runs_forever()))

    doc = {
        "onnxruntime_version": ort.__version__,
        "onnx_version": onnx.__version__,
        "profile": PROFILE,
        "output_hash_domain": OUTPUT_DOMAIN.decode(),
        "fixtures": fixtures,
    }
    path = os.path.join(HERE, "fixtures.json")
    written[path] = write_bytes(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    for p, digest in sorted(written.items()):
        print(f"{digest}  {os.path.relpath(p, os.path.dirname(HERE))}")
    print(f"digits: test accuracy {test_accuracy:.4f} (ONNX Runtime, {len(y_test)} test images); "
          f"sklearn {sklearn_accuracy:.4f}")
    for case in entry["cases"]:
        print(f"digits: test image #{case['test_index']} label {case['label']} predicted {case['predicted']}")

    # the model families (families/, broken/iris_zipmap.onnx, samples/<family>-<k>.json)
    import families

    families.main()

    # the integer-only referee models (referee/); it reads int8_matmul.onnx and fixtures.json, written above
    import referee

    referee.main()


if __name__ == "__main__":
    main()
