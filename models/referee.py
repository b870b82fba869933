#!/usr/bin/env python3
"""Deterministically generate Sibyl's integer-only "referee" models (models/referee/).

A referee model is one whose every operator is exact integer arithmetic, so
that a reference integer interpreter (on chain) can re-execute it bit for bit
and settle a dispute about its output. Called at the end of generate.py's
main() (after families.py), so

    .local/venv/bin/python models/generate.py

regenerates these too (running this file on its own also works, once
int8_matmul.onnx and fixtures.json exist). Writes:

    referee/int8_mlp.onnx     integer-only MLP 784 -> 128 -> 10 (random int8 weights, seed 4001):
                              MatMulInteger -> Add -> Relu -> Div 2**k -> Clip 0..255 -> Cast uint8
                              -> MatMulInteger -> Add = logits (int32); ArgMax(logits) = class (int64)
    referee/referee.json      per referee model (int8_mlp, and the existing int8_matmul.onnx):
                              file, sha256, bytes, inputs, outputs, nodes, initializers,
                              weight_bytes and 3 cases (see README.md)

The NumPy references below compute in int64 and must equal ONNX Runtime's
outputs bit for bit (asserted on 200 random inputs, seed 4002). Nothing is
downloaded; running it twice produces byte-identical files.
"""

import generate as g  # first: pins the BLAS thread count before numpy is imported

import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from families import value_spec  # noqa: E402

HERE = g.HERE
REFEREE = os.path.join(HERE, "referee")

MLP_IN = 784
MLP_HIDDEN = 128
MLP_CLASSES = 10
# hidden = clip(relu(x·W1 + B1) / 2**HIDDEN_SHIFT, 0, 255). Layer 1's
# accumulator on uniform random uint8 input has a standard deviation of about
# 1.5e5; with 2**11 the relu'd values land in 0..255 for all but a small
# fraction (the exact share clipped at 255 is checked and recorded below).
HIDDEN_SHIFT = 11
HIDDEN_MAX_CLIPPED = 0.01  # at most this share of hidden values may be clipped at 255

WEIGHT_SEED = 4001
CHECK_SEED = 4002
CHECK_INPUTS = 200
CASE_SEED = 4003
CASES = 3

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1

# ---------------------------------------------------------------------------
# int8_mlp
# ---------------------------------------------------------------------------


def mlp_params():
    rng = np.random.RandomState(WEIGHT_SEED)
    w1 = rng.randint(-127, 128, size=(MLP_IN, MLP_HIDDEN)).astype(np.int8)
    b1 = rng.randint(-1000, 1001, size=(MLP_HIDDEN,)).astype(np.int32)
    w2 = rng.randint(-127, 128, size=(MLP_HIDDEN, MLP_CLASSES)).astype(np.int8)
    b2 = rng.randint(-1000, 1001, size=(MLP_CLASSES,)).astype(np.int32)
    return w1, b1, w2, b2


def build_int8_mlp():
    w1, b1, w2, b2 = mlp_params()
    n = helper.make_node
    nodes = [
        n("MatMulInteger", ["input", "fc1.weight", "fc1.input_zero_point", "fc1.weight_zero_point"],
          ["fc1.acc"], name="fc1"),
        n("Add", ["fc1.acc", "fc1.bias"], ["fc1.out"], name="fc1_bias"),
        n("Relu", ["fc1.out"], ["fc1.relu"], name="relu"),
        n("Div", ["fc1.relu", "hidden.divisor"], ["hidden.scaled"], name="rescale"),
        n("Clip", ["hidden.scaled", "hidden.min", "hidden.max"], ["hidden.clipped"], name="saturate"),
        n("Cast", ["hidden.clipped"], ["hidden"], name="to_uint8", to=TensorProto.UINT8),
        n("MatMulInteger", ["hidden", "fc2.weight", "fc2.input_zero_point", "fc2.weight_zero_point"],
          ["fc2.acc"], name="fc2"),
        n("Add", ["fc2.acc", "fc2.bias"], ["logits"], name="fc2_bias"),
        n("ArgMax", ["logits"], ["class"], name="argmax", axis=1, keepdims=1, select_last_index=0),
    ]
    graph = helper.make_graph(
        nodes,
        "int8_mlp",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, [1, MLP_IN])],
        [
            helper.make_tensor_value_info("logits", TensorProto.INT32, [1, MLP_CLASSES]),
            helper.make_tensor_value_info("class", TensorProto.INT64, [1, 1]),
        ],
        initializer=[
            g.init("fc1.weight", w1),
            scalar("fc1.input_zero_point", 128, np.uint8),
            scalar("fc1.weight_zero_point", 0, np.int8),
            g.init("fc1.bias", b1),
            scalar("hidden.divisor", 2 ** HIDDEN_SHIFT, np.int32),
            scalar("hidden.min", 0, np.int32),
            scalar("hidden.max", 255, np.int32),
            g.init("fc2.weight", w2),
            scalar("fc2.input_zero_point", 0, np.uint8),
            scalar("fc2.weight_zero_point", 0, np.int8),
            g.init("fc2.bias", b2),
        ],
    )
    return g.make_model(graph)


def scalar(name, value, dtype):
    """A rank-0 initializer. (g.init() goes through np.ascontiguousarray, which
    makes a 0-d array 1-d: its "scalars" have dims [1].)"""
    t = numpy_helper.from_array(np.array(value, dtype=dtype), name=name)
    assert list(t.dims) == []
    return t


def check_int32(a, what):
    assert a.min() >= INT32_MIN and a.max() <= INT32_MAX, f"{what} leaves the int32 range"
    return a


def int8_mlp_reference(x):
    """The graph written out by hand in int64; returns (logits, class, pre-clip hidden)."""
    w1, b1, w2, b2 = (a.astype(np.int64) for a in mlp_params())
    a1 = x.astype(np.int64) - 128
    acc1 = check_int32(a1 @ w1, "fc1")
    pre = check_int32(np.maximum(check_int32(acc1 + b1, "fc1 + bias"), 0), "relu")
    scaled = pre // (2 ** HIDDEN_SHIFT)  # pre >= 0, so floor == truncation toward zero
    hidden = np.clip(scaled, 0, 255)
    logits = check_int32(check_int32(hidden @ w2, "fc2") + b2, "fc2 + bias")
    cls = np.argmax(logits, axis=1).reshape(-1, 1)  # first index of the maximum
    return logits.astype(np.int32), cls.astype(np.int64), scaled


# ---------------------------------------------------------------------------
# A generic NumPy interpreter of the integer ops, in int64 (both models)
# ---------------------------------------------------------------------------

NP_OF_ONNX = {
    TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8, TensorProto.INT32: np.int32,
    TensorProto.INT64: np.int64,
}
RANGE = {np.uint8: (0, 255), np.int8: (-128, 127), np.int32: (INT32_MIN, INT32_MAX),
         np.int64: (-(2 ** 63), 2 ** 63 - 1)}


def trunc_div(a, b):
    """C++ integer division: the quotient truncated toward zero."""
    assert np.all(b != 0)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def interpret(model, feeds):
    """Run an integer-only graph with int64 NumPy arithmetic. Every
    intermediate must fit its ONNX dtype (asserted): nothing wraps."""
    env = {}  # name -> (int64 array, numpy dtype it stands for)
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        env[t.name] = (a.astype(np.int64), a.dtype.type)
    for vi in model.graph.input:
        a = feeds[vi.name]
        assert a.dtype.type == NP_OF_ONNX[vi.type.tensor_type.elem_type]
        env[vi.name] = (a.astype(np.int64), a.dtype.type)

    def put(name, value, dtype):
        lo, hi = RANGE[dtype]
        assert value.size == 0 or (value.min() >= lo and value.max() <= hi), (name, dtype)
        env[name] = (value, dtype)

    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ins = [env[i] if i else None for i in node.input]
        out = node.output[0]
        op = node.op_type
        if op == "MatMulInteger":
            (a, _), (b, _) = ins[0], ins[1]
            a_zp = ins[2][0] if len(ins) > 2 and ins[2] is not None else 0
            b_zp = ins[3][0] if len(ins) > 3 and ins[3] is not None else 0
            put(out, (a - a_zp) @ (b - b_zp), np.int32)
        elif op == "Add":
            assert ins[0][1] == ins[1][1]
            put(out, ins[0][0] + ins[1][0], ins[0][1])
        elif op == "Relu":
            put(out, np.maximum(ins[0][0], 0), ins[0][1])
        elif op == "Div":
            assert ins[0][1] == ins[1][1]
            put(out, trunc_div(ins[0][0], ins[1][0]), ins[0][1])
        elif op == "Clip":
            x, dt = ins[0]
            lo = ins[1][0] if len(ins) > 1 and ins[1] is not None else RANGE[dt][0]
            hi = ins[2][0] if len(ins) > 2 and ins[2] is not None else RANGE[dt][1]
            put(out, np.minimum(np.maximum(x, lo), hi), dt)
        elif op == "Cast":
            put(out, ins[0][0], NP_OF_ONNX[attrs["to"]])  # in range by put()'s check: no wrapping
        elif op == "ArgMax":
            assert attrs.get("select_last_index", 0) == 0
            axis, keepdims = attrs.get("axis", 0), attrs.get("keepdims", 1)
            idx = np.argmax(ins[0][0], axis=axis)  # first index of the maximum
            put(out, np.expand_dims(idx, axis) if keepdims else idx, np.int64)
        else:
            raise ValueError(f"not an integer referee op: {op}")
        assert len(node.output) == 1, node
    return {vi.name: env[vi.name][0].astype(env[vi.name][1]) for vi in model.graph.output}


# ---------------------------------------------------------------------------
# Description (referee.json)
# ---------------------------------------------------------------------------


def attribute_json(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple)):
        return [attribute_json(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    raise ValueError(f"attribute of unsupported kind: {value!r}")


def describe_nodes(model):
    return [{
        "name": node.name,
        "op_type": node.op_type,
        "inputs": list(node.input),
        "outputs": list(node.output),
        "attributes": {a.name: attribute_json(helper.get_attribute_value(a)) for a in node.attribute},
    } for node in model.graph.node]


def describe_initializers(model):
    out = []
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        out.append({"name": t.name, "dtype": g.DTYPES[a.dtype][2], "shape": list(a.shape), "bytes": int(a.nbytes)})
    return out


class Referee:
    def __init__(self, name, file, model_bytes):
        self.name = name
        self.file = file
        self.model_bytes = model_bytes
        self.model = onnx.load_from_string(model_bytes)
        onnx.checker.check_model(self.model, full_check=True)
        assert [o.domain for o in self.model.opset_import] == [""], self.model.opset_import
        self.inputs = [value_spec(v) for v in self.model.graph.input]
        self.outputs = [value_spec(v) for v in self.model.graph.output]
        assert all(-1 not in s["shape"] for s in self.inputs + self.outputs)  # fixed shapes only
        self.session = g.make_session(model_bytes)
        assert [i.name for i in self.session.get_inputs()] == [s["name"] for s in self.inputs]
        assert [o.name for o in self.session.get_outputs()] == [s["name"] for s in self.outputs]

    def run(self, feeds):
        names = [s["name"] for s in self.outputs]
        ys = self.session.run(names, feeds)
        again = self.session.run(names, feeds)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(ys, again)), "non-deterministic run"
        ys = dict(zip(names, ys))
        # every output equals the int64 interpreter's, dtype, shape and bytes
        ref = interpret(self.model, feeds)
        for s in self.outputs:
            assert ys[s["name"]].dtype == ref[s["name"]].dtype and ys[s["name"]].shape == ref[s["name"]].shape
            assert ys[s["name"]].tobytes() == ref[s["name"]].tobytes(), (self.name, s["name"])
        return ys

    def random_feeds(self, rng):
        (spec,) = self.inputs
        assert spec["dtype"] == "uint8"
        return {spec["name"]: rng.randint(0, 256, size=spec["shape"]).astype(np.uint8)}

    def entry(self, extra=None):
        model_hash = g.sha256(self.model_bytes)
        rng = np.random.RandomState(CASE_SEED)
        cases = []
        for _ in range(CASES):
            feeds = self.random_feeds(rng)
            ys = self.run(feeds)
            in_enc = g.encode_tensors([(s["name"], feeds[s["name"]]) for s in self.inputs])
            out_enc = g.encode_tensors([(s["name"], ys[s["name"]]) for s in self.outputs])
            in_hash = g.sha256(in_enc)
            cases.append({
                "input_encoding": in_enc.hex(),
                "input_hash": in_hash.hex(),
                "output_encoding": out_enc.hex(),
                "output_hash": g.output_hash(model_hash, in_hash, out_enc).hex(),
                "outputs": {s["name"]: ys[s["name"]].reshape(-1).tolist() for s in self.outputs},
            })
        initializers = describe_initializers(self.model)
        return {
            "name": self.name,
            "file": self.file,
            "sha256": model_hash.hex(),
            "bytes": len(self.model_bytes),
            "opset": self.model.opset_import[0].version,
            "ir_version": self.model.ir_version,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "nodes": describe_nodes(self.model),
            "initializers": initializers,
            "weight_bytes": sum(i["bytes"] for i in initializers),
            "cases": cases,
            **(extra or {}),
        }


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main():
    os.makedirs(REFEREE, exist_ok=True)
    written = {}
    entries = []

    # 1. int8_mlp ---------------------------------------------------------------
    model_bytes = g.serialize(build_int8_mlp())
    path = os.path.join(REFEREE, "int8_mlp.onnx")
    written[path] = g.write_bytes(path, model_bytes)
    with open(path, "rb") as f:
        assert f.read() == model_bytes
    mlp = Referee("int8_mlp", "referee/int8_mlp.onnx", model_bytes)
    assert mlp.inputs == [{"name": "input", "dtype": "uint8", "shape": [1, MLP_IN]}]
    assert mlp.outputs == [
        {"name": "logits", "dtype": "int32", "shape": [1, MLP_CLASSES]},
        {"name": "class", "dtype": "int64", "shape": [1, 1]},
    ]
    # ONNX Runtime == the hand-written int64 reference (and the interpreter, in run()), bit for bit
    rng = np.random.RandomState(CHECK_SEED)
    pre_clip, classes = [], []
    for _ in range(CHECK_INPUTS):
        feeds = mlp.random_feeds(rng)
        ys = mlp.run(feeds)
        logits, cls, scaled = int8_mlp_reference(feeds["input"])
        assert ys["logits"].dtype == logits.dtype and ys["logits"].tobytes() == logits.tobytes()
        assert ys["class"].dtype == cls.dtype and ys["class"].tobytes() == cls.tobytes()
        pre_clip.append(scaled)
        classes.append(int(cls[0, 0]))
    pre_clip = np.concatenate(pre_clip)
    clipped = float(np.mean(pre_clip > 255))
    zeros = float(np.mean(pre_clip == 0))
    assert clipped <= HIDDEN_MAX_CLIPPED, f"2**{HIDDEN_SHIFT} clips {clipped:.4f} of the hidden values"
    assert len(set(classes)) > 1, "every random input gives the same class"
    hidden_stats = {
        "inputs": CHECK_INPUTS,
        "seed": CHECK_SEED,
        "clipped_at_255": round(clipped, 6),
        "zero": round(zeros, 6),
        "median_nonzero": int(np.median(pre_clip[pre_clip > 0])),
    }
    entries.append(mlp.entry({
        "what": f"integer-only MLP {MLP_IN} -> {MLP_HIDDEN} -> {MLP_CLASSES} (random int8 weights in "
                f"[-127, 127], int32 biases in [-1000, 1000], seed {WEIGHT_SEED}): MatMulInteger (input zero "
                f"point 128) -> Add -> Relu -> Div 2**{HIDDEN_SHIFT} -> Clip 0..255 -> Cast uint8 -> "
                f"MatMulInteger -> Add = logits; ArgMax = class",
        "hidden_shift": HIDDEN_SHIFT,
        "hidden_on_random_inputs": hidden_stats,
    }))

    # 2. int8_matmul (written by generate.py; described here as it is) ---------------
    with open(os.path.join(HERE, "fixtures.json")) as f:
        fixture = next(x for x in json.load(f)["fixtures"] if x["name"] == "int8_matmul")
    with open(os.path.join(HERE, fixture["file"]), "rb") as f:
        matmul_bytes = f.read()
    assert g.sha256(matmul_bytes).hex() == fixture["sha256"], "int8_matmul.onnx differs from fixtures.json"
    matmul = Referee("int8_matmul", fixture["file"], matmul_bytes)
    rng = np.random.RandomState(CHECK_SEED)
    for _ in range(CHECK_INPUTS):
        matmul.run(matmul.random_feeds(rng))
    entries.append(matmul.entry({
        "what": "MatMulInteger (uint8 input, zero point 128; int8 weight [16, 8], zero point 0) -> Add int32 "
                "bias (the int8_matmul fixture of fixtures.json)",
    }))

    doc = {
        "onnxruntime_version": ort.__version__,
        "onnx_version": onnx.__version__,
        "profile": g.PROFILE,
        "output_hash_domain": g.OUTPUT_DOMAIN.decode(),
        "division": "truncating toward zero (C++), int32",
        "referees": entries,
    }
    path = os.path.join(REFEREE, "referee.json")
    written[path] = g.write_bytes(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    for p, digest in sorted(written.items()):
        print(f"{digest}  {os.path.relpath(p, os.path.dirname(HERE))}")
    for e in entries:
        print(f"{e['name']}: {e['bytes']} bytes, {e['weight_bytes']} weight bytes, "
              f"ops {[n['op_type'] for n in e['nodes']]}")
    print(f"int8_mlp: hidden = clip(relu(.) / 2**{HIDDEN_SHIFT}); on {CHECK_INPUTS} random inputs "
          f"{clipped:.4%} clipped at 255, {zeros:.4%} zero, median nonzero {hidden_stats['median_nonzero']}; "
          f"ONNX Runtime == int64 reference bit for bit; classes seen {sorted(set(classes))}")


if __name__ == "__main__":
    main()
