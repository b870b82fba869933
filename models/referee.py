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
    referee/int8_conv.onnx    integer-only 3x3 convolution on a uint8 [1, 1, 8, 8] image (random int8
                              weights [2, 1, 3, 3], int32 bias [1, 2, 1, 1], seed 4004): ConvInteger
                              (pads 1, stride 2, input zero point 128) -> Add -> Relu -> Flatten =
                              features (int32 [1, 32]); ArgMax(features) = class (int64)
    referee/qlinear_matmul.onnx  one QLinearMatMul, uint8 [1, 16] x int8 [16, 8] (seed 4005) -> uint8
                              [1, 8]: exact int32 accumulation, then a float32 requantization
                              (QLINEAR_FORMULA below, the one ONNX Runtime computes)
    referee/referee.json      per referee model (int8_mlp, the existing int8_matmul.onnx, int8_conv,
                              qlinear_matmul): file, sha256, bytes, inputs, outputs, nodes,
                              initializers, weight_bytes and 3 cases (see README.md)

The NumPy references below compute in int64 (QLinearMatMul's requantization in
float32, exactly as ONNX Runtime does) and must equal ONNX Runtime's outputs
bit for bit (asserted on 200 random inputs, seed 4002). Nothing is
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

# int8_conv: ConvInteger [1, 1, 8, 8] * [2, 1, 3, 3], pads 1 all round, stride 2
CONV_SEED = 4004
CONV_IN = (1, 1, 8, 8)
CONV_CHANNELS = 2
CONV_KERNEL = 3
CONV_PADS = [1, 1, 1, 1]  # (top, left, bottom, right)
CONV_STRIDE = 2
CONV_OUT = (CONV_IN[2] + 2 - CONV_KERNEL) // CONV_STRIDE + 1  # 4 x 4
# 32 int32 features: the whole output fits a result on chain (576 bytes)
CONV_FEATURES = CONV_CHANNELS * CONV_OUT * CONV_OUT

# qlinear_matmul: QLinearMatMul [1, 16] x [16, 8], per-tensor scales and zero points
QMATMUL_SEED = 4005
QMATMUL_IN = 16
QMATMUL_OUT = 8
QMATMUL_A_SCALE, QMATMUL_A_ZERO_POINT = 0.05, 128
QMATMUL_B_SCALE, QMATMUL_B_ZERO_POINT = 0.02, 0
QMATMUL_Y_SCALE, QMATMUL_Y_ZERO_POINT = 0.25, 10
QMATMUL_MAX_CLIPPED = 0.5  # at most this share of the outputs may be saturated (at 0 or 255)
# What ONNX Runtime 1.31.1 (CPU, MLAS) computes, read off empirically (qlinear_scale_probe()):
QLINEAR_FORMULA = (
    "y = clamp(rint(float32(acc) * s), 0 - y_zero_point, 255 - y_zero_point) + y_zero_point, where "
    "acc = sum (a - a_zero_point) * (b - b_zero_point) exact in int32, "
    "s = float32(float32(a_scale * b_scale) / y_scale) (a_scale * b_scale rounded to float32 first, "
    "then divided by y_scale in float32), the product float32(acc) * s rounded to float32, "
    "rint rounding half to even"
)

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
# int8_conv
# ---------------------------------------------------------------------------


def conv_params():
    rng = np.random.RandomState(CONV_SEED)
    w = rng.randint(-127, 128, size=(CONV_CHANNELS, CONV_IN[1], CONV_KERNEL, CONV_KERNEL)).astype(np.int8)
    b = rng.randint(-1000, 1001, size=(1, CONV_CHANNELS, 1, 1)).astype(np.int32)
    return w, b


def build_int8_conv():
    w, b = conv_params()
    n = helper.make_node
    nodes = [
        n("ConvInteger", ["input", "conv.weight", "conv.input_zero_point", "conv.weight_zero_point"],
          ["conv.acc"], name="conv", dilations=[1, 1], group=1, pads=CONV_PADS,
          strides=[CONV_STRIDE, CONV_STRIDE]),
        n("Add", ["conv.acc", "conv.bias"], ["conv.out"], name="conv_bias"),
        n("Relu", ["conv.out"], ["conv.relu"], name="relu"),
        n("Flatten", ["conv.relu"], ["features"], name="flatten", axis=1),
        n("ArgMax", ["features"], ["class"], name="argmax", axis=1, keepdims=1, select_last_index=0),
    ]
    graph = helper.make_graph(
        nodes,
        "int8_conv",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, list(CONV_IN))],
        [
            helper.make_tensor_value_info("features", TensorProto.INT32, [1, CONV_FEATURES]),
            helper.make_tensor_value_info("class", TensorProto.INT64, [1, 1]),
        ],
        initializer=[
            g.init("conv.weight", w),
            scalar("conv.input_zero_point", 128, np.uint8),
            scalar("conv.weight_zero_point", 0, np.int8),
            g.init("conv.bias", b),
        ],
    )
    return g.make_model(graph)


def int8_conv_reference(x):
    """The graph written out by hand in int64, one output pixel at a time: the
    image is padded with its zero point 128 (so a padded position contributes
    (128 - 128) * w = 0); returns (features, class)."""
    w, b = (a.astype(np.int64) for a in conv_params())
    _, _, height, width = CONV_IN
    top, left, bottom, right = CONV_PADS
    padded = np.full((height + top + bottom, width + left + right), 128, dtype=np.int64)
    padded[top:top + height, left:left + width] = x[0, 0]
    acc = np.zeros((CONV_CHANNELS, CONV_OUT, CONV_OUT), dtype=np.int64)
    for m in range(CONV_CHANNELS):
        for i in range(CONV_OUT):
            for j in range(CONV_OUT):
                y, x_ = i * CONV_STRIDE, j * CONV_STRIDE
                window = padded[y:y + CONV_KERNEL, x_:x_ + CONV_KERNEL] - 128
                acc[m, i, j] = np.sum(window * (w[m, 0] - 0))
    out = np.maximum(check_int32(check_int32(acc, "conv") + b[0], "conv + bias"), 0)
    features = out.reshape(1, CONV_FEATURES)
    cls = np.argmax(features, axis=1).reshape(-1, 1)  # first index of the maximum
    return features.astype(np.int32), cls.astype(np.int64)


# ---------------------------------------------------------------------------
# qlinear_matmul
# ---------------------------------------------------------------------------


def qmatmul_params():
    rng = np.random.RandomState(QMATMUL_SEED)
    return rng.randint(-127, 128, size=(QMATMUL_IN, QMATMUL_OUT)).astype(np.int8)


def build_qlinear_matmul(scales=(QMATMUL_A_SCALE, QMATMUL_B_SCALE, QMATMUL_Y_SCALE),
                         y_zero_point=QMATMUL_Y_ZERO_POINT, a_shape=(1, QMATMUL_IN), b=None):
    """The qlinear_matmul graph (its defaults); qlinear_scale_probe() builds
    it with other scales, shapes and weights."""
    a_scale, b_scale, y_scale = scales
    b = qmatmul_params() if b is None else b
    node = helper.make_node(
        "QLinearMatMul",
        ["input", "input.scale", "input.zero_point", "weight", "weight.scale", "weight.zero_point",
         "output.scale", "output.zero_point"],
        ["output"], name="qmatmul")
    graph = helper.make_graph(
        [node],
        "qlinear_matmul",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, list(a_shape))],
        [helper.make_tensor_value_info("output", TensorProto.UINT8, [a_shape[0], b.shape[1]])],
        initializer=[
            scalar("input.scale", a_scale, np.float32),
            scalar("input.zero_point", QMATMUL_A_ZERO_POINT, np.uint8),
            g.init("weight", b),
            scalar("weight.scale", b_scale, np.float32),
            scalar("weight.zero_point", QMATMUL_B_ZERO_POINT, np.int8),
            scalar("output.scale", y_scale, np.float32),
            scalar("output.zero_point", y_zero_point, np.uint8),
        ],
    )
    return g.make_model(graph)


def requantize(acc, a_scale, b_scale, y_scale, y_zero_point, order="(a*b)/y", product="float32"):
    """QLinearMatMul's requantization of the exact accumulator acc (int64).
    The default order and product are QLINEAR_FORMULA's; the others are the
    variants qlinear_scale_probe() tells apart from it."""
    f32 = np.float32
    a_scale, b_scale, y_scale = f32(a_scale), f32(b_scale), f32(y_scale)
    s = {
        "(a*b)/y": lambda: f32(f32(a_scale * b_scale) / y_scale),
        "a*(b/y)": lambda: f32(a_scale * f32(b_scale / y_scale)),
        "(a/y)*b": lambda: f32(f32(a_scale / y_scale) * b_scale),
        "(a*b)*(1/y)": lambda: f32(f32(a_scale * b_scale) * f32(f32(1) / y_scale)),
        "float64": lambda: f32(np.float64(a_scale) * np.float64(b_scale) / np.float64(y_scale)),
    }[order]()
    assert np.all(np.abs(acc) < 2 ** 24)  # float32(acc) is exact
    if product == "float32":
        scaled = acc.astype(np.float32) * s  # rounded to float32
        assert scaled.dtype == np.float32
    else:
        scaled = acc.astype(np.float64) * np.float64(s)
    q = np.rint(scaled).astype(np.int64)  # half to even
    return np.clip(q, 0 - int(y_zero_point), 255 - int(y_zero_point)) + int(y_zero_point)


def qlinear_matmul_reference(x):
    """The graph written out by hand: acc in int64, then QLINEAR_FORMULA in float32.
    Returns (output, acc, float32(acc) * s)."""
    b = qmatmul_params().astype(np.int64)
    acc = check_int32((x.astype(np.int64) - QMATMUL_A_ZERO_POINT) @ (b - QMATMUL_B_ZERO_POINT), "acc")
    s = np.float32(np.float32(np.float32(QMATMUL_A_SCALE) * np.float32(QMATMUL_B_SCALE))
                   / np.float32(QMATMUL_Y_SCALE))
    scaled = acc.astype(np.float32) * s
    y = np.clip(np.rint(scaled), 0 - QMATMUL_Y_ZERO_POINT, 255 - QMATMUL_Y_ZERO_POINT) + QMATMUL_Y_ZERO_POINT
    return y.astype(np.uint8), acc, scaled


# Scales under which the float32 orders of s = a_scale * b_scale / y_scale
# round differently; every product (a - 128) * b, a in 0..255, b in -128..127,
# through ONNX Runtime at each (y zero point 128).
PROBE_SCALES = [(0.1, 0.3, 0.7), (0.3, 0.7, 30.0)]
PROBE_VARIANTS = [("(a*b)/y", "float32"), ("a*(b/y)", "float32"), ("(a/y)*b", "float32"),
                  ("(a*b)*(1/y)", "float32"), ("float64", "float32"), ("(a*b)/y", "float64")]


def qlinear_scale_probe():
    """ONNX Runtime's requantization, read off: QLINEAR_FORMULA must match it on
    every product at every PROBE_SCALES, and each other variant must miss at
    least one. Returns what it saw, for referee.json."""
    a = np.arange(256, dtype=np.uint8).reshape(256, 1)
    b = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    acc = (a.astype(np.int64) - QMATMUL_A_ZERO_POINT) * (b.astype(np.int64) - QMATMUL_B_ZERO_POINT)
    missed = {f"{order}, {product} product": [] for order, product in PROBE_VARIANTS}
    for scales in PROBE_SCALES:
        model = build_qlinear_matmul(scales, y_zero_point=128, a_shape=a.shape, b=b)
        (y,) = g.make_session(g.serialize(model)).run(["output"], {"input": a})
        for order, product in PROBE_VARIANTS:
            ours = requantize(acc, *scales, 128, order=order, product=product)
            missed[f"{order}, {product} product"].append(int(np.sum(ours != y.astype(np.int64))))
    assert all(n == 0 for n in missed["(a*b)/y, float32 product"]), missed
    assert all(sum(v) > 0 for k, v in missed.items() if k != "(a*b)/y, float32 product"), missed
    return {"scales": [list(s) for s in PROBE_SCALES], "products_per_scales": int(acc.size),
            "y_zero_point": 128, "mismatches": missed}


# ---------------------------------------------------------------------------
# A generic NumPy interpreter of the integer ops, in int64 (every referee model)
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


def conv2d(x, w, pads, strides, dilations):
    """ONNX Conv (group 1, explicit pads) of x [N, C, H, W] by w [M, C, kH, kW],
    in int64; x and w already have their zero points taken off, so padding
    with 0 is padding with the zero point."""
    top, left, bottom, right = pads
    (sh, sw), (dh, dw) = strides, dilations
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out_h = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], out_h, out_w), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh:i * dh + sh * (out_h - 1) + 1:sh, j * dw:j * dw + sw * (out_w - 1) + 1:sw]
            out += np.einsum("nchw,mc->nmhw", patch, w[:, :, i, j])
    return out


def interpret(model, feeds):
    """Run an integer-only graph with int64 NumPy arithmetic (QLinearMatMul's
    requantization: float32, as ONNX Runtime computes it). Every
    intermediate must fit its ONNX dtype (asserted): nothing wraps."""
    env = {}  # name -> (int64 array, numpy dtype it stands for); float32 scales stay float32
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        env[t.name] = (a if a.dtype == np.float32 else a.astype(np.int64), a.dtype.type)
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
        elif op == "ConvInteger":
            (x, _), (w, _) = ins[0], ins[1]
            x_zp = ins[2][0] if len(ins) > 2 and ins[2] is not None else 0
            w_zp = ins[3][0] if len(ins) > 3 and ins[3] is not None else 0
            assert np.size(x_zp) == 1 and np.size(w_zp) == 1  # per-tensor zero points
            assert attribute_json(attrs.get("auto_pad", b"NOTSET")) == "NOTSET" and attrs.get("group", 1) == 1
            rank = x.ndim - 2
            assert rank == 2
            if "kernel_shape" in attrs:
                assert list(attrs["kernel_shape"]) == list(w.shape[2:])
            put(out, conv2d(x - x_zp, w - w_zp, attrs.get("pads", [0] * 2 * rank),
                            attrs.get("strides", [1] * rank), attrs.get("dilations", [1] * rank)), np.int32)
        elif op == "Flatten":
            x, dt = ins[0]
            axis = attrs.get("axis", 1)
            axis = axis + x.ndim if axis < 0 else axis
            put(out, x.reshape(int(np.prod(x.shape[:axis])), -1), dt)
        elif op == "QLinearMatMul":
            (a, _), (a_s, _), (a_zp, _), (b, _), (b_s, _), (b_zp, _), (y_s, _), (y_zp, y_dt) = ins
            assert all(np.size(v) == 1 for v in (a_s, a_zp, b_s, b_zp, y_s, y_zp))  # per tensor
            assert a_s.dtype == b_s.dtype == y_s.dtype == np.float32 and y_dt == np.uint8
            acc = (a - a_zp) @ (b - b_zp)
            lo, hi = RANGE[np.int32]
            assert acc.min() >= lo and acc.max() <= hi, (out, "accumulator")
            put(out, requantize(acc, a_s, b_s, y_s, y_zp), y_dt)
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

    # 3. int8_conv --------------------------------------------------------------
    model_bytes = g.serialize(build_int8_conv())
    path = os.path.join(REFEREE, "int8_conv.onnx")
    written[path] = g.write_bytes(path, model_bytes)
    with open(path, "rb") as f:
        assert f.read() == model_bytes
    conv = Referee("int8_conv", "referee/int8_conv.onnx", model_bytes)
    assert conv.inputs == [{"name": "input", "dtype": "uint8", "shape": list(CONV_IN)}]
    assert conv.outputs == [
        {"name": "features", "dtype": "int32", "shape": [1, CONV_FEATURES]},
        {"name": "class", "dtype": "int64", "shape": [1, 1]},
    ]
    rng = np.random.RandomState(CHECK_SEED)
    conv_features, conv_classes = [], []
    for _ in range(CHECK_INPUTS):
        feeds = conv.random_feeds(rng)
        ys = conv.run(feeds)
        features, cls = int8_conv_reference(feeds["input"])
        assert ys["features"].dtype == features.dtype and ys["features"].tobytes() == features.tobytes()
        assert ys["class"].dtype == cls.dtype and ys["class"].tobytes() == cls.tobytes()
        conv_features.append(features)
        conv_classes.append(int(cls[0, 0]))
    conv_features = np.concatenate(conv_features)
    conv_zero = float(np.mean(conv_features == 0))
    assert 0 < conv_zero < 1 and len(set(conv_classes)) > 1, (conv_zero, sorted(set(conv_classes)))
    conv_stats = {
        "inputs": CHECK_INPUTS,
        "seed": CHECK_SEED,
        "zero": round(conv_zero, 6),
        "max": int(conv_features.max()),
        "classes_seen": len(set(conv_classes)),
    }
    entries.append(conv.entry({
        "what": f"integer-only 3x3 convolution (random int8 weights [{CONV_CHANNELS}, 1, {CONV_KERNEL}, "
                f"{CONV_KERNEL}] in [-127, 127], int32 bias [1, {CONV_CHANNELS}, 1, 1] in [-1000, 1000], seed "
                f"{CONV_SEED}): ConvInteger (uint8 input [1, 1, 8, 8], zero point 128, padded with it: pads "
                f"[1, 1, 1, 1], strides 2, dilations 1, group 1; weight zero point 0) -> Add -> Relu -> "
                f"Flatten (axis 1) = features (int32 [1, {CONV_FEATURES}]); ArgMax (axis 1, first index of the "
                f"maximum) = class",
        "features_on_random_inputs": conv_stats,
    }))

    # 4. qlinear_matmul ---------------------------------------------------------
    probe = qlinear_scale_probe()
    model_bytes = g.serialize(build_qlinear_matmul())
    path = os.path.join(REFEREE, "qlinear_matmul.onnx")
    written[path] = g.write_bytes(path, model_bytes)
    with open(path, "rb") as f:
        assert f.read() == model_bytes
    qmatmul = Referee("qlinear_matmul", "referee/qlinear_matmul.onnx", model_bytes)
    assert qmatmul.inputs == [{"name": "input", "dtype": "uint8", "shape": [1, QMATMUL_IN]}]
    assert qmatmul.outputs == [{"name": "output", "dtype": "uint8", "shape": [1, QMATMUL_OUT]}]
    rng = np.random.RandomState(CHECK_SEED)
    q_out, q_acc, q_scaled = [], [], []
    for _ in range(CHECK_INPUTS):
        feeds = qmatmul.random_feeds(rng)
        ys = qmatmul.run(feeds)
        y, acc, scaled = qlinear_matmul_reference(feeds["input"])
        assert ys["output"].dtype == y.dtype and ys["output"].tobytes() == y.tobytes()
        q_out.append(y)
        q_acc.append(acc)
        q_scaled.append(scaled)
    q_out, q_acc, q_scaled = np.concatenate(q_out), np.concatenate(q_acc), np.concatenate(q_scaled)
    at_0, at_255 = float(np.mean(q_out == 0)), float(np.mean(q_out == 255))
    assert at_0 + at_255 <= QMATMUL_MAX_CLIPPED, (at_0, at_255)
    q_stats = {
        "inputs": CHECK_INPUTS,
        "seed": CHECK_SEED,
        "outputs": int(q_out.size),
        "clipped": round(at_0 + at_255, 6),
        "clipped_at_0": round(at_0, 6),
        "clipped_at_255": round(at_255, 6),
        "distinct": int(np.unique(q_out).size),
        # products float32(acc) * s exactly halfway between two integers (rint rounds them to even)
        "ties": int(np.sum(q_scaled - np.floor(q_scaled) == 0.5)),
        # outputs that rounding half away from zero (instead of to even) would get wrong
        "half_away_from_zero_differs": int(np.sum(
            np.clip(np.sign(q_scaled) * np.floor(np.abs(q_scaled) + np.float32(0.5)), 0 - QMATMUL_Y_ZERO_POINT,
                    255 - QMATMUL_Y_ZERO_POINT) + QMATMUL_Y_ZERO_POINT != q_out)),
        # outputs that the same formula with a float64 product would get wrong
        "float64_product_differs": int(np.sum(
            requantize(q_acc, QMATMUL_A_SCALE, QMATMUL_B_SCALE, QMATMUL_Y_SCALE, QMATMUL_Y_ZERO_POINT,
                       product="float64") != q_out.astype(np.int64))),
    }
    s_value = np.float32(np.float32(np.float32(QMATMUL_A_SCALE) * np.float32(QMATMUL_B_SCALE))
                         / np.float32(QMATMUL_Y_SCALE))
    entries.append(qmatmul.entry({
        "what": f"QLinearMatMul: uint8 input [1, {QMATMUL_IN}] (scale {QMATMUL_A_SCALE}, zero point "
                f"{QMATMUL_A_ZERO_POINT}) x int8 weight [{QMATMUL_IN}, {QMATMUL_OUT}] in [-127, 127] (seed "
                f"{QMATMUL_SEED}; scale {QMATMUL_B_SCALE}, zero point {QMATMUL_B_ZERO_POINT}) -> uint8 output "
                f"(scale {QMATMUL_Y_SCALE}, zero point {QMATMUL_Y_ZERO_POINT}); scales float32 scalars. "
                f"ONNX Runtime {ort.__version__}: {QLINEAR_FORMULA}",
        "requantization": {
            "formula": QLINEAR_FORMULA,
            "s": float(s_value),
            "s_float32_bits": f"{int(np.array(s_value, dtype=np.float32).view(np.uint32)):08x}",
            "probe": probe,
        },
        "output_on_random_inputs": q_stats,
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
    print(f"int8_conv: on {CHECK_INPUTS} random inputs {conv_zero:.4%} of the features zero, max "
          f"{conv_stats['max']}; ONNX Runtime == int64 reference bit for bit; classes seen "
          f"{sorted(set(conv_classes))}")
    print(f"qlinear_matmul: s = {s_value!r}; on {CHECK_INPUTS} random inputs {at_0 + at_255:.4%} of the outputs "
          f"clipped ({at_0:.4%} at 0, {at_255:.4%} at 255), {q_stats['ties']} ties, rounding half away from zero "
          f"would differ on {q_stats['half_away_from_zero_differs']}, a float64 product on "
          f"{q_stats['float64_product_differs']}; ONNX Runtime == float32 reference bit for bit")
    print(f"qlinear_matmul: ONNX Runtime computes {QLINEAR_FORMULA}; probe mismatches per variant "
          f"{probe['mismatches']}")


if __name__ == "__main__":
    main()
