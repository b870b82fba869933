#!/usr/bin/env python3
"""Deterministically generate Sibyl's ONNX "model families" (models/families/).

Called at the end of generate.py's main(), so

    .local/venv/bin/python models/generate.py

regenerates these too (running this file on its own also works). Writes:

    families/iris_pipeline.onnx     scikit-learn Pipeline(StandardScaler, LogisticRegression)
                                    on load_iris(), converted with skl2onnx (ZipMap off)
    families/lstm_vad.onnx           Silero-VAD-shaped recurrent model (LSTM, state in/out, sr)
    families/tiny_encoder.onnx      one-layer transformer encoder classifier (dynamic length)
    families/image_cnn.onnx         small image CNN on a fixed [1, 3, 224, 224] float32 image
    families/classifier1000.onnx    MLP classifier with 1000 classes, whose result on chain is a
                                    top-5 view of its logits (the whole output does not fit)
    families/families.json          reference inputs/outputs/hashes (see README.md)
    broken/iris_zipmap.onnx         the iris pipeline with ZipMap left on (a sequence of
                                    maps as output), which Sibyl must refuse to register
    samples/<name>-<k>.json         each case's inputs, as `sibyl request MODEL FILE.json` takes
    samples/image_cnn-<k>.npy       image_cnn's case inputs instead (the `image` float32 array,
                                    already normalised); its cases in families.json carry
                                    input_len and input_hash, not the 1.2 MB input_encoding hex

Nothing is downloaded; everything comes from fixed seeds and scikit-learn's
bundled iris dataset, and running it twice produces byte-identical files.
"""

import generate as g  # first: pins the BLAS thread count before numpy is imported

import json  # noqa: E402
import os  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

HERE = g.HERE
FAMILIES = os.path.join(HERE, "families")
BROKEN = os.path.join(HERE, "broken")
SAMPLES = g.SAMPLES

# Random and trained weights are rounded to multiples of this (exact in float32).
WEIGHT_QUANTUM = 2.0 ** -12

SKL2ONNX_VERSION = "1.20.0"
IRIS_TARGET_OPSET = {"": g.OPSET, "ai.onnx.ml": 3}

FLOAT_TOLERANCE = {"tolerance": {"abs": 1e-5, "rel": 1e-4}}

ENCODER_VOCAB = 64
ENCODER_MAX_TOKENS = 32
ENCODER_DIM = 16
ENCODER_FF = 32

VAD_FRAME = 64
VAD_HIDDEN = 16
VAD_FEATURES = 32

IMAGE_SIZE = 224
IMAGE_CLASSES = 10
# torchvision's ImageNet normalisation: (pixel / 255 - mean) / std, per RGB channel
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CLASSIFIER_FEATURES = 128
CLASSIFIER_HIDDEN = 64
CLASSIFIER_CLASSES = 1000
CLASSIFIER_TOP_K = 5
CLASSIFIER_SCORE_SCALE = 65536  # scores are logits x 2**16, rounded to int32
# consecutive ranks among a case's first K+1 logits differ by more than this,
# so a last-bit difference between runtimes cannot reorder the top K
CLASSIFIER_MIN_GAP = 1e-3

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def q(a):
    """Round to the WEIGHT_QUANTUM grid, as float32."""
    return (np.round(np.asarray(a, dtype=np.float64) / WEIGHT_QUANTUM) * WEIGHT_QUANTUM).astype(np.float32)


def const(name, array):
    return g.init(name, np.asarray(array))


# ---------------------------------------------------------------------------
# 1. iris_pipeline: a real scikit-learn pipeline converted with skl2onnx
# ---------------------------------------------------------------------------


def train_iris():
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    pipeline = Pipeline([
        ("scaler", StandardScaler()),
        ("classifier", LogisticRegression(max_iter=1000, random_state=0)),
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        pipeline.fit(iris.data, iris.target)
    # lbfgs goes through BLAS, whose last bits may differ between CPUs: round
    # the trained parameters to the 2**-12 grid (as digits does), and use the
    # rounded pipeline for both the export and the reference outputs.
    clf = pipeline.named_steps["classifier"]
    clf.coef_ = q(clf.coef_).astype(np.float64)
    clf.intercept_ = q(clf.intercept_).astype(np.float64)
    assert list(clf.classes_) == [0, 1, 2]
    accuracy = float(pipeline.score(iris.data, iris.target))
    return pipeline, iris, accuracy


def convert_iris(pipeline, zipmap):
    import skl2onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    if skl2onnx.__version__ != SKL2ONNX_VERSION:
        raise SystemExit(f"skl2onnx {skl2onnx.__version__} installed, the fixtures pin {SKL2ONNX_VERSION}")
    options = {} if zipmap else {id(pipeline): {"zipmap": False}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = convert_sklearn(
            pipeline,
            name="iris_pipeline",
            initial_types=[("features", FloatTensorType([None, 4]))],
            target_opset=IRIS_TARGET_OPSET,
            options=options,
        )
    # Normalise everything that is not the computation to constants: the graph
    # name (a random UUID unless given), the producer, doc strings, and the
    # opset imports (skl2onnx lists the default domain twice).
    model.graph.name = "iris_zipmap" if zipmap else "iris_pipeline"
    model.producer_name = "skl2onnx"
    model.producer_version = SKL2ONNX_VERSION
    model.domain = ""
    model.model_version = 0
    model.doc_string = ""
    model.graph.doc_string = ""
    for node in model.graph.node:
        node.doc_string = ""
    del model.metadata_props[:]
    versions = {}
    for opset in model.opset_import:
        versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(versions.items()))
    model.ir_version = g.IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model, [str(w.message) for w in caught]


def iris_inputs(iris, pipeline):
    """Three real flowers, batch 1: the first setosa, the first versicolor, and
    the row of the dataset the pipeline is least sure about (a virginica, at
    about 0.53), so that not every case is a saturated 0.99..."""
    proba = pipeline.predict_proba(iris.data.astype(np.float32).astype(np.float64))
    least_sure = int(np.argmin(proba.max(axis=1)))
    chosen = [0, 50, least_sure]
    assert sorted(pipeline.predict(iris.data[chosen])) == [0, 1, 2]
    return [iris.data[i].reshape(1, 4).astype(np.float32) for i in chosen], chosen


# ---------------------------------------------------------------------------
# 2. lstm_vad: Silero-VAD-shaped recurrent model
# ---------------------------------------------------------------------------


def build_lstm_vad():
    rng = np.random.RandomState(3001)
    h, f = VAD_HIDDEN, VAD_FEATURES
    enc_w = q(rng.randn(f, VAD_FRAME) * 0.3)
    enc_b = q(rng.randn(f) * 0.1)
    lstm_w = q(rng.randn(1, 4 * h, f) * 0.3)  # gates i, o, f, c (ONNX order)
    lstm_r = q(rng.randn(1, 4 * h, h) * 0.3)
    lstm_b = q(rng.randn(1, 8 * h) * 0.1)  # Wb then Rb
    dec_w = q(rng.randn(1, h) * 1.5)
    dec_b = q(rng.randn(1) * 0.1)
    gain_16k, gain_other = np.float32(1.0), np.float32(2.0)

    nodes = [
        # the sample rate selects the frame's gain: 16 kHz as is, 8 kHz (anything else) doubled
        helper.make_node("Equal", ["sr", "sr.16k"], ["sr.is_16k"], name="sr_is_16k"),
        helper.make_node("Where", ["sr.is_16k", "gain.16k", "gain.other"], ["gain"], name="select_gain"),
        helper.make_node("Mul", ["input", "gain"], ["frame"], name="apply_gain"),
        helper.make_node("Gemm", ["frame", "encoder.weight", "encoder.bias"], ["encoder.out"], name="encoder", transB=1),
        helper.make_node("Relu", ["encoder.out"], ["encoder.relu"], name="encoder_relu"),
        helper.make_node("Unsqueeze", ["encoder.relu", "axes.0"], ["lstm.x"], name="to_sequence"),
        helper.make_node("Split", ["state"], ["state.h", "state.c"], name="split_state", axis=0),
        helper.make_node(
            "LSTM", ["lstm.x", "lstm.W", "lstm.R", "lstm.B", "", "state.h", "state.c"],
            ["", "lstm.h", "lstm.c"], name="lstm", hidden_size=h,
        ),
        helper.make_node("Concat", ["lstm.h", "lstm.c"], ["stateN"], name="join_state", axis=0),
        helper.make_node("Reshape", ["lstm.h", "shape.1xH"], ["decoder.in"], name="flatten_h"),
        helper.make_node("Relu", ["decoder.in"], ["decoder.relu"], name="decoder_relu"),
        helper.make_node("Gemm", ["decoder.relu", "decoder.weight", "decoder.bias"], ["decoder.out"], name="decoder", transB=1),
        helper.make_node("Sigmoid", ["decoder.out"], ["output"], name="speech_probability"),
    ]
    graph = helper.make_graph(
        nodes,
        "lstm_vad",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, VAD_FRAME]),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, 1, h]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, 1, h]),
        ],
        initializer=[
            const("sr.16k", np.array(16000, dtype=np.int64)),
            const("gain.16k", np.array(gain_16k, dtype=np.float32)),
            const("gain.other", np.array(gain_other, dtype=np.float32)),
            const("encoder.weight", enc_w),
            const("encoder.bias", enc_b),
            const("axes.0", np.array([0], dtype=np.int64)),
            const("lstm.W", lstm_w),
            const("lstm.R", lstm_r),
            const("lstm.B", lstm_b),
            const("shape.1xH", np.array([1, h], dtype=np.int64)),
            const("decoder.weight", dec_w),
            const("decoder.bias", dec_b),
        ],
    )

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    def reference(feeds):
        x = feeds["input"].astype(np.float64)
        state = feeds["state"].astype(np.float64)
        gain = float(gain_16k) if int(feeds["sr"]) == 16000 else float(gain_other)
        feat = np.maximum((x * gain) @ enc_w.T.astype(np.float64) + enc_b, 0)  # [1, F]
        h_prev, c_prev = state[0], state[1]  # [1, H]
        w, r, b = (a.astype(np.float64) for a in (lstm_w[0], lstm_r[0], lstm_b[0]))
        z = feat @ w.T + h_prev @ r.T + b[:4 * h] + b[4 * h:]
        zi, zo, zf, zc = (z[:, k * h:(k + 1) * h] for k in range(4))
        c = sigmoid(zf) * c_prev + sigmoid(zi) * np.tanh(zc)
        hn = sigmoid(zo) * np.tanh(c)
        out = sigmoid(np.maximum(hn, 0) @ dec_w.T.astype(np.float64) + dec_b)
        return {"output": out, "stateN": np.stack([hn, c])}

    return g.make_model(graph), reference


def vad_frames():
    """Three consecutive 64-sample frames of 16 kHz audio as int16 PCM / 32768:
    quiet noise, then a 440 Hz tone with noise (phase continuous)."""
    rng = np.random.RandomState(3002)
    t = np.arange(3 * VAD_FRAME) / 16000.0
    envelope = np.concatenate([np.zeros(VAD_FRAME), np.linspace(0, 1, VAD_FRAME), np.ones(VAD_FRAME)])
    signal = 0.6 * envelope * np.sin(2 * np.pi * 440.0 * t) + 0.02 * rng.randn(3 * VAD_FRAME)
    pcm = np.clip(np.round(signal * 32768), -32768, 32767)
    frames = (pcm / 32768.0).astype(np.float32).reshape(3, 1, VAD_FRAME)
    return list(frames)


# ---------------------------------------------------------------------------
# 3. tiny_encoder: one-layer transformer encoder classifier
# ---------------------------------------------------------------------------


def build_tiny_encoder():
    rng = np.random.RandomState(3003)
    d, ff, v, p = ENCODER_DIM, ENCODER_FF, ENCODER_VOCAB, ENCODER_MAX_TOKENS
    w = {
        "tok_emb": q(rng.randn(v, d) * 0.5),
        "pos_emb": q(rng.randn(p, d) * 0.1),
        "wq": q(rng.randn(d, d) * 0.35), "bq": q(rng.randn(d) * 0.05),
        "wk": q(rng.randn(d, d) * 0.35), "bk": q(rng.randn(d) * 0.05),
        "wv": q(rng.randn(d, d) * 0.25), "bv": q(rng.randn(d) * 0.05),
        "wo": q(rng.randn(d, d) * 0.25), "bo": q(rng.randn(d) * 0.05),
        "ln1_g": q(1.0 + rng.randn(d) * 0.1), "ln1_b": q(rng.randn(d) * 0.05),
        "w1": q(rng.randn(d, ff) * 0.25), "b1": q(rng.randn(ff) * 0.05),
        "w2": q(rng.randn(ff, d) * 0.18), "b2": q(rng.randn(d) * 0.05),
        "ln2_g": q(1.0 + rng.randn(d) * 0.1), "ln2_b": q(rng.randn(d) * 0.05),
        "cls_w": q(rng.randn(2, d) * 0.5), "cls_b": q(rng.randn(2) * 0.1),
    }
    scale = np.float32(1.0 / np.sqrt(d))  # 0.25, exact
    neg = np.float32(-1e9)
    eps = 1e-5

    n = helper.make_node
    nodes = [
        # embeddings: token + position (positions 0..L-1, L = input_ids' length)
        n("Gather", ["embed.token", "input_ids"], ["embed.tok"], name="token_embedding", axis=0),
        n("Shape", ["input_ids"], ["ids.shape"], name="ids_shape"),
        n("Gather", ["ids.shape", "one.i64"], ["seq.len"], name="seq_len", axis=0),
        n("Range", ["zero.i64", "seq.len", "one.i64"], ["positions"], name="positions"),
        n("Gather", ["embed.position", "positions"], ["embed.pos"], name="position_embedding", axis=0),
        n("Add", ["embed.tok", "embed.pos"], ["h0"], name="embed_sum"),
        # single-head self-attention; key positions with mask 0 get -1e9 before Softmax
        n("MatMul", ["h0", "attn.q.weight"], ["q.mm"], name="q_proj"),
        n("Add", ["q.mm", "attn.q.bias"], ["q"], name="q_bias"),
        n("MatMul", ["h0", "attn.k.weight"], ["k.mm"], name="k_proj"),
        n("Add", ["k.mm", "attn.k.bias"], ["k"], name="k_bias"),
        n("MatMul", ["h0", "attn.v.weight"], ["v.mm"], name="v_proj"),
        n("Add", ["v.mm", "attn.v.bias"], ["v"], name="v_bias"),
        n("Transpose", ["k"], ["k.t"], name="k_transpose", perm=[0, 2, 1]),
        n("MatMul", ["q", "k.t"], ["scores.raw"], name="scores"),
        n("Mul", ["scores.raw", "attn.scale"], ["scores.scaled"], name="scale_scores"),
        n("Equal", ["attention_mask", "zero.i64"], ["mask.is_pad"], name="mask_is_pad"),
        n("Not", ["mask.is_pad"], ["mask.keep"], name="mask_keep"),
        n("Where", ["mask.keep", "zero.f32", "mask.neg"], ["mask.bias"], name="mask_bias"),
        n("Unsqueeze", ["mask.bias", "axes.1"], ["mask.bias3"], name="mask_bias_keys"),
        n("Add", ["scores.scaled", "mask.bias3"], ["scores.masked"], name="apply_mask"),
        n("Softmax", ["scores.masked"], ["attn.probs"], name="attn_softmax", axis=-1),
        n("MatMul", ["attn.probs", "v"], ["attn.ctx"], name="attn_context"),
        n("MatMul", ["attn.ctx", "attn.o.weight"], ["o.mm"], name="o_proj"),
        n("Add", ["o.mm", "attn.o.bias"], ["attn.out"], name="o_bias"),
        n("Add", ["h0", "attn.out"], ["res1"], name="residual1"),
        n("LayerNormalization", ["res1", "ln1.weight", "ln1.bias"], ["h1"], name="ln1", axis=-1, epsilon=eps),
        # feed-forward
        n("MatMul", ["h1", "ffn.1.weight"], ["ffn.1.mm"], name="ffn1"),
        n("Add", ["ffn.1.mm", "ffn.1.bias"], ["ffn.1.out"], name="ffn1_bias"),
        n("Relu", ["ffn.1.out"], ["ffn.relu"], name="ffn_relu"),
        n("MatMul", ["ffn.relu", "ffn.2.weight"], ["ffn.2.mm"], name="ffn2"),
        n("Add", ["ffn.2.mm", "ffn.2.bias"], ["ffn.out"], name="ffn2_bias"),
        n("Add", ["h1", "ffn.out"], ["res2"], name="residual2"),
        n("LayerNormalization", ["res2", "ln2.weight", "ln2.bias"], ["h2"], name="ln2", axis=-1, epsilon=eps),
        # masked mean pooling over the kept positions (at least 1 in the divisor)
        n("Cast", ["mask.keep"], ["mask.f"], name="mask_float", to=TensorProto.FLOAT),
        n("Unsqueeze", ["mask.f", "axes.2"], ["mask.f3"], name="mask_features"),
        n("Mul", ["h2", "mask.f3"], ["h2.masked"], name="zero_padding"),
        n("ReduceSum", ["h2.masked", "axes.1"], ["pool.sum"], name="pool_sum", keepdims=0),
        n("ReduceSum", ["mask.f", "axes.1"], ["pool.count"], name="pool_count", keepdims=1),
        n("Max", ["pool.count", "one.f32"], ["pool.count1"], name="pool_count_at_least_1"),
        n("Div", ["pool.sum", "pool.count1"], ["pooled"], name="pool_mean"),
        # classifier head
        n("Gemm", ["pooled", "classifier.weight", "classifier.bias"], ["logits"], name="classifier", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "sequence"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        initializer=[
            const("embed.token", w["tok_emb"]),
            const("embed.position", w["pos_emb"]),
            const("zero.i64", np.array(0, dtype=np.int64)),
            const("one.i64", np.array(1, dtype=np.int64)),
            const("zero.f32", np.array(0, dtype=np.float32)),
            const("one.f32", np.array(1, dtype=np.float32)),
            const("axes.1", np.array([1], dtype=np.int64)),
            const("axes.2", np.array([2], dtype=np.int64)),
            const("attn.q.weight", w["wq"]), const("attn.q.bias", w["bq"]),
            const("attn.k.weight", w["wk"]), const("attn.k.bias", w["bk"]),
            const("attn.v.weight", w["wv"]), const("attn.v.bias", w["bv"]),
            const("attn.o.weight", w["wo"]), const("attn.o.bias", w["bo"]),
            const("attn.scale", np.array(scale, dtype=np.float32)),
            const("mask.neg", np.array(neg, dtype=np.float32)),
            const("ln1.weight", w["ln1_g"]), const("ln1.bias", w["ln1_b"]),
            const("ffn.1.weight", w["w1"]), const("ffn.1.bias", w["b1"]),
            const("ffn.2.weight", w["w2"]), const("ffn.2.bias", w["b2"]),
            const("ln2.weight", w["ln2_g"]), const("ln2.bias", w["ln2_b"]),
            const("classifier.weight", w["cls_w"]), const("classifier.bias", w["cls_b"]),
        ],
    )

    f64 = {k: a.astype(np.float64) for k, a in w.items()}

    def layer_norm(x, gamma, beta):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * gamma + beta

    def reference(feeds):
        ids = feeds["input_ids"][0]
        keep = feeds["attention_mask"][0] != 0
        length = ids.shape[0]
        h0 = f64["tok_emb"][ids] + f64["pos_emb"][:length]  # [L, d]
        qm = h0 @ f64["wq"] + f64["bq"]
        km = h0 @ f64["wk"] + f64["bk"]
        vm = h0 @ f64["wv"] + f64["bv"]
        scores = (qm @ km.T) * float(scale) + np.where(keep, 0.0, float(neg))[None, :]
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = e / e.sum(axis=-1, keepdims=True)
        h1 = layer_norm(h0 + probs @ vm @ f64["wo"] + f64["bo"], f64["ln1_g"], f64["ln1_b"])
        ffn = np.maximum(h1 @ f64["w1"] + f64["b1"], 0) @ f64["w2"] + f64["b2"]
        h2 = layer_norm(h1 + ffn, f64["ln2_g"], f64["ln2_b"])
        pooled = (h2 * keep[:, None]).sum(axis=0) / max(float(keep.sum()), 1.0)
        return {"logits": (pooled @ f64["cls_w"].T + f64["cls_b"])[None, :]}

    return g.make_model(graph), reference


def encoder_inputs():
    """Lengths 5 (no padding), 12 (last 4 padding) and 32 (last 7 padding);
    token 0 is the padding id, real tokens are 1..63."""
    rng = np.random.RandomState(3004)
    cases = []
    for length, pad in ((5, 0), (12, 4), (ENCODER_MAX_TOKENS, 7)):
        ids = rng.randint(1, ENCODER_VOCAB, size=(1, length)).astype(np.int64)
        mask = np.ones((1, length), dtype=np.int64)
        if pad:
            ids[0, length - pad:] = 0
            mask[0, length - pad:] = 0
        cases.append({"input_ids": ids, "attention_mask": mask})
    return cases


# ---------------------------------------------------------------------------
# 4. image_cnn: small image CNN on an ImageNet-sized input
# ---------------------------------------------------------------------------


def build_image_cnn():
    """Conv(3->8, 7x7, stride 4, pad 3) -> Relu -> Conv(8->16, 3x3, stride 2,
    pad 1) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(16->10): 224 -> 56
    -> 28 spatially, 2522 weights."""
    rng = np.random.RandomState(3005)
    c1, c2 = 8, 16
    w1 = q(rng.randn(c1, 3, 7, 7) * np.sqrt(2.0 / (3 * 7 * 7)))
    b1 = q(rng.randn(c1) * 0.05)
    w2 = q(rng.randn(c2, c1, 3, 3) * np.sqrt(2.0 / (c1 * 3 * 3)))
    b2 = q(rng.randn(c2) * 0.05)
    fc_w = q(rng.randn(IMAGE_CLASSES, c2) * 0.5)
    fc_b = q(rng.randn(IMAGE_CLASSES) * 0.05)

    n = helper.make_node
    nodes = [
        n("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1.out"], name="conv1",
          kernel_shape=[7, 7], strides=[4, 4], pads=[3, 3, 3, 3]),
        n("Relu", ["conv1.out"], ["relu1.out"], name="relu1"),
        n("Conv", ["relu1.out", "conv2.weight", "conv2.bias"], ["conv2.out"], name="conv2",
          kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("Relu", ["conv2.out"], ["relu2.out"], name="relu2"),
        n("GlobalAveragePool", ["relu2.out"], ["pool.out"], name="global_pool"),
        n("Flatten", ["pool.out"], ["features"], name="flatten", axis=1),
        n("Gemm", ["features", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "image_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, IMAGE_CLASSES])],
        initializer=[
            const("conv1.weight", w1), const("conv1.bias", b1),
            const("conv2.weight", w2), const("conv2.bias", b2),
            const("fc.weight", fc_w), const("fc.bias", fc_b),
        ],
    )

    def conv2d(x, w, b, stride, pad):
        """x [C, H, W], w [O, C, k, k], float64; im2col by strided views."""
        k = w.shape[2]
        xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
        out_h = (xp.shape[1] - k) // stride + 1
        out_w = (xp.shape[2] - k) // stride + 1
        cs, hs, ws = xp.strides
        patches = np.lib.stride_tricks.as_strided(
            xp, shape=(xp.shape[0], k, k, out_h, out_w),
            strides=(cs, hs, ws, hs * stride, ws * stride), writeable=False,
        )  # [C, k, k, out_h, out_w]
        return np.einsum("ocij,cijhw->ohw", w, patches) + b[:, None, None]

    f64 = [a.astype(np.float64) for a in (w1, b1, w2, b2, fc_w, fc_b)]

    def reference(feeds):
        x = feeds["image"].astype(np.float64)[0]
        h1 = np.maximum(conv2d(x, f64[0], f64[1], 4, 3), 0)  # [8, 56, 56]
        h2 = np.maximum(conv2d(h1, f64[2], f64[3], 2, 1), 0)  # [16, 28, 28]
        pooled = h2.mean(axis=(1, 2))  # [16]
        return {"logits": (pooled @ f64[4].T + f64[5])[None, :]}

    return g.make_model(graph), reference


def image_inputs():
    """Three synthetic 224x224 RGB pictures (uint8 pixels, as decoded from a
    file), normalised as torchvision does for ImageNet models: pixel / 255,
    minus the per-channel mean, divided by the std; laid out NCHW, float32.
    0: a colour gradient (red left to right, green top to bottom, blue the
    opposite diagonal); 1: a red disc on a blue sky with a little noise; 2: a
    yellow and black checkerboard (squares of 28) crossed by a white diagonal
    stripe, with noise."""
    s = IMAGE_SIZE
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    rng = np.random.RandomState(3006)

    gradient = np.stack([xx / (s - 1), yy / (s - 1), 1.0 - (xx + yy) / (2 * (s - 1))], axis=-1) * 255.0

    disc = np.empty((s, s, 3))
    disc[...] = (70.0, 130.0, 220.0)
    inside = (xx - 130.0) ** 2 + (yy - 95.0) ** 2 <= 60.0 ** 2
    disc[inside] = (215.0, 40.0, 35.0)
    disc += rng.randn(s, s, 3) * 6.0

    board = np.where((((yy // 28) + (xx // 28)) % 2 == 0)[..., None], (235.0, 210.0, 30.0), (15.0, 15.0, 15.0))
    board[np.abs(xx - yy) < 10] = (250.0, 250.0, 250.0)
    board += rng.randn(s, s, 3) * 10.0

    mean = np.array(IMAGENET_MEAN)
    std = np.array(IMAGENET_STD)
    images = []
    for picture in (gradient, disc, board):
        pixels = np.clip(np.round(picture), 0, 255).astype(np.uint8)  # [H, W, 3]
        x = (pixels.astype(np.float64) / 255.0 - mean) / std
        images.append(np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32)))
    return images


# ---------------------------------------------------------------------------
# 5. classifier1000: 1000 classes, a top-5 view of the logits goes on chain
# ---------------------------------------------------------------------------


def build_classifier1000():
    """Gemm(128->64) -> Relu -> Gemm(64->1000): 73,256 weights; logits of
    about unit spread."""
    rng = np.random.RandomState(3007)
    f, h, c = CLASSIFIER_FEATURES, CLASSIFIER_HIDDEN, CLASSIFIER_CLASSES
    w1 = q(rng.randn(h, f) * np.sqrt(2.0 / f))
    b1 = q(rng.randn(h) * 0.05)
    w2 = q(rng.randn(c, h) * np.sqrt(1.0 / h))
    b2 = q(rng.randn(c) * 0.05)

    n = helper.make_node
    nodes = [
        n("Gemm", ["features", "hidden.weight", "hidden.bias"], ["hidden.out"], name="hidden", transB=1),
        n("Relu", ["hidden.out"], ["hidden.relu"], name="relu"),
        n("Gemm", ["hidden.relu", "classifier.weight", "classifier.bias"], ["logits"], name="classifier", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier1000",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, f])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, c])],
        initializer=[
            const("hidden.weight", w1), const("hidden.bias", b1),
            const("classifier.weight", w2), const("classifier.bias", b2),
        ],
    )

    f64 = [a.astype(np.float64) for a in (w1, b1, w2, b2)]

    def reference(feeds):
        x = feeds["features"].astype(np.float64)
        hidden = np.maximum(x @ f64[0].T + f64[1], 0)
        return {"logits": hidden @ f64[2].T + f64[3]}

    return g.make_model(graph), reference


def classifier_inputs():
    """Three fixed-seed feature vectors, standard normal, on the 2**-12 grid."""
    rng = np.random.RandomState(3008)
    return [q(rng.randn(1, CLASSIFIER_FEATURES)) for _ in range(3)]


# ---------------------------------------------------------------------------
# Views: what of a family's whole output goes on chain (its "result")
# ---------------------------------------------------------------------------


def round_half_away(x):
    """float64 -> nearest integer, halves away from zero (not numpy's half to
    even), exactly: sign(x) * floor(|x| + 0.5) without the float rounding of
    |x| + 0.5 (Rust's f64::round)."""
    a = abs(x)
    whole = float(np.floor(a))
    r = whole + 1.0 if a - whole >= 0.5 else whole  # a - floor(a) is exact
    return -r if x < 0 else r


def parse_view(view):
    """'whole' | 'omit' | 'slice:START:LEN' | 'topk:K:SCALE' -> (kind, args)."""
    parts = view.split(":")
    if parts[0] in ("whole", "omit") and len(parts) == 1:
        return parts[0], ()
    if parts[0] in ("slice", "topk") and len(parts) == 3 and all(p.isdigit() for p in parts[1:]):
        a, b = int(parts[1]), int(parts[2])
        assert parts[0] == "slice" or (a >= 1 and b >= 1), view
        return parts[0], (a, b)
    raise ValueError(f"bad view {view!r}")


def project(outputs, views):
    """The result: the whole output [(name, array)] in graph order projected
    by views ({output name: view}; an absent name is 'whole'), as
    [(name, array)] for g.encode_tensors. Specified in models/README.md."""
    assert set(views) <= {name for name, _ in outputs}, (views, [n for n, _ in outputs])
    result = []
    for name, array in outputs:
        array = np.asarray(array)
        kind, args = parse_view(views.get(name, "whole"))
        if kind == "whole":
            result.append((name, array))
        elif kind == "omit":
            continue
        elif kind == "slice":
            start, length = args
            flat = array.reshape(-1)
            assert start + length <= flat.size, (name, start, length, flat.size)
            result.append((name, np.ascontiguousarray(flat[start:start + length])))
        else:  # topk
            k, scale = args
            assert array.dtype in (np.float16, np.float32, np.float64) and array.ndim >= 1, (name, array.dtype)
            classes = array.shape[-1]
            assert k <= classes, (name, k, classes)
            rows = array.reshape(-1, classes).astype(np.float64)
            assert not np.isnan(rows).any(), name
            pairs = []
            for row in rows:
                values = row.tolist()
                # stable sort on descending value: equal values keep the lower index first
                order = sorted(range(classes), key=lambda i: -values[i])[:k]
                for i in order:
                    score = round_half_away(values[i] * float(scale))
                    pairs += [i, int(min(max(score, INT32_MIN), INT32_MAX))]
            result.append((name, np.array(pairs, dtype=np.int32).reshape(array.shape[:-1] + (k, 2))))
    return result


def top_gaps(row, n):
    """Differences between consecutive ranks among the n largest of row."""
    top = np.sort(np.asarray(row, dtype=np.float64).reshape(-1))[::-1][:n]
    return top[:-1] - top[1:]


# ---------------------------------------------------------------------------
# Shared: specs, cases, samples
# ---------------------------------------------------------------------------


def value_spec(value_info):
    """name, dtype and shape of a graph input/output; -1 for a dynamic dim."""
    t = value_info.type.tensor_type
    assert value_info.type.HasField("tensor_type"), value_info
    np_dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
    return {"name": value_info.name, "dtype": g.DTYPES[np.dtype(np_dtype)][2], "shape": shape}


def concrete(spec, dynamic):
    return [dynamic if d == -1 else d for d in spec["shape"]]


def zeros_for(spec, dynamic):
    np_dtype = next(k for k, v in g.DTYPES.items() if v[2] == spec["dtype"])
    return np.zeros(concrete(spec, dynamic), dtype=np_dtype)


def sample_json(feeds, names):
    """{input name: nested arrays}; ints as JSON integers, float32 values as the
    float64 number equal to them (round-trips exactly), a scalar as a bare number."""
    return (json.dumps({n: np.asarray(feeds[n]).tolist() for n in names}) + "\n").encode()


class Family:
    def __init__(self, name, what, model, comparison, max_dynamic, input_by_reference=False, views=None):
        self.name = name
        self.what = what
        self.model = model
        self.model_bytes = g.serialize(model)
        self.comparison = comparison
        self.max_dynamic = max_dynamic  # the value of every dynamic dim in the largest valid request
        # True for inputs too big to inline: samples are .npy (a single input) and
        # cases carry input_len + input_hash instead of the input_encoding hex
        self.input_by_reference = input_by_reference
        self.sample_ext = "npy" if input_by_reference else "json"
        assert not input_by_reference or len(model.graph.input) == 1
        self.inputs = [value_spec(v) for v in model.graph.input]
        self.outputs = [value_spec(v) for v in model.graph.output]
        # {output name: view} (see project()); None: the result is the whole output
        self.views = views
        assert not views or set(views) <= {s["name"] for s in self.outputs}, views
        init_names = {i.name for i in model.graph.initializer}
        assert not init_names & {s["name"] for s in self.inputs}
        self.session = g.make_session(self.model_bytes)
        assert [i.name for i in self.session.get_inputs()] == [s["name"] for s in self.inputs]
        assert [o.name for o in self.session.get_outputs()] == [s["name"] for s in self.outputs]

    def run(self, feeds):
        names = [s["name"] for s in self.outputs]
        ys = self.session.run(names, feeds)
        again = self.session.run(names, feeds)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(ys, again)), "non-deterministic run"
        return dict(zip(names, ys))

    def max_bytes(self):
        feeds = {s["name"]: zeros_for(s, self.max_dynamic) for s in self.inputs}
        max_in = len(g.encode_tensors([(s["name"], feeds[s["name"]]) for s in self.inputs]))
        ys = self.run(feeds)
        max_out = len(g.encode_tensors([(s["name"], ys[s["name"]]) for s in self.outputs]))
        # the output size is what the output specs say for the largest request
        expected = sum(
            len(g.encode_tensor(s["name"], zeros_for(s, 1))) for s in self.outputs
        )
        assert max_out == expected, (self.name, max_out, expected)
        return max_in, max_out

    def whole(self, ys):
        return [(s["name"], ys[s["name"]]) for s in self.outputs]

    def result_bytes(self):
        """The result encoding's length for the largest request (None without views)."""
        if not self.views:
            return None
        feeds = {s["name"]: zeros_for(s, self.max_dynamic) for s in self.inputs}
        return len(g.encode_tensors(project(self.whole(self.run(feeds)), self.views)))

    def case(self, k, feeds, ys):
        model_hash = g.sha256(self.model_bytes)
        in_enc = g.encode_tensors([(s["name"], feeds[s["name"]]) for s in self.inputs])
        out_enc = g.encode_tensors(self.whole(ys))
        in_hash = g.sha256(in_enc)
        # what goes on chain, and what output_hash covers: the whole output, or its projection by the views
        result_enc = g.encode_tensors(project(self.whole(ys), self.views)) if self.views else out_enc
        for s in self.inputs:
            a = np.asarray(feeds[s["name"]])
            assert g.DTYPES[a.dtype][2] == s["dtype"] and a.ndim == len(s["shape"])
            assert all(d == -1 or d == n for d, n in zip(s["shape"], a.shape)), (s, a.shape)
        for s in self.outputs:
            a = ys[s["name"]]
            assert g.DTYPES[a.dtype][2] == s["dtype"] and a.ndim == len(s["shape"]), (s, a.dtype, a.shape)
        return {
            "sample": f"samples/{self.name}-{k}.{self.sample_ext}",
            **({"input_len": len(in_enc)} if self.input_by_reference else {"input_encoding": in_enc.hex()}),
            "input_hash": in_hash.hex(),
            "output_encoding": out_enc.hex(),
            "whole_output_sha256": g.sha256(out_enc).hex(),
            **({"result_encoding": result_enc.hex()} if self.views else {}),
            "output_hash": g.output_hash(model_hash, in_hash, result_enc).hex(),
            "outputs": {s["name"]: ys[s["name"]].reshape(-1).tolist() for s in self.outputs},
        }


def check_close(name, ys, ref, max_diff, atol=1e-5, rtol=1e-4):
    for key, expected in ref.items():
        got = ys[key]
        expected = np.asarray(expected)
        assert got.shape == expected.shape, (name, key, got.shape, expected.shape)
        if np.issubdtype(got.dtype, np.integer):
            assert np.array_equal(got, expected), (name, key, got, expected)
            continue
        assert np.allclose(got, expected, rtol=rtol, atol=atol), (name, key, got, expected)
        diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
        max_diff[name] = max(max_diff.get(name, 0.0), diff)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main():
    os.makedirs(FAMILIES, exist_ok=True)
    os.makedirs(BROKEN, exist_ok=True)
    os.makedirs(SAMPLES, exist_ok=True)
    written = {}
    families = []
    max_diff = {}
    notes = []

    def emit(family, case_feeds, case_outputs):
        path = os.path.join(FAMILIES, family.name + ".onnx")
        written[path] = g.write_bytes(path, family.model_bytes)
        with open(path, "rb") as f:
            assert f.read() == family.model_bytes
        max_in, max_out = family.max_bytes()
        max_result = family.result_bytes()
        cases = []
        names = [s["name"] for s in family.inputs]
        for k, (feeds, ys) in enumerate(zip(case_feeds, case_outputs)):
            case = family.case(k, feeds, ys)
            cases.append(case)
            sample = os.path.join(SAMPLES, f"{family.name}-{k}.{family.sample_ext}")
            if family.input_by_reference:
                written[sample] = g.write_bytes(sample, g.npy_bytes(feeds[names[0]]))
                parsed = {names[0]: np.load(sample, allow_pickle=False)}
            else:
                written[sample] = g.write_bytes(sample, sample_json(feeds, names))
                # the sample, read back as a client would, is the same request
                with open(sample) as f:
                    parsed = json.load(f)
            for s in family.inputs:
                back = np.array(parsed[s["name"]], dtype=np.asarray(feeds[s["name"]]).dtype)
                assert back.tobytes() == np.asarray(feeds[s["name"]]).tobytes() and back.shape == feeds[s["name"]].shape
        in_lens = [c["input_len"] if family.input_by_reference else len(c["input_encoding"]) // 2 for c in cases]
        assert max(in_lens) <= max_in
        if family.input_by_reference:  # fixed shape: every request is exactly the largest
            assert all(-1 not in s["shape"] for s in family.inputs) and set(in_lens) == {max_in}, (in_lens, max_in)
        if family.views:
            assert all(len(c["result_encoding"]) // 2 <= max_result for c in cases), (family.name, max_result)
        families.append({
            "name": family.name,
            "family": family.what,
            "file": f"families/{family.name}.onnx",
            "sha256": written[path],
            "bytes": len(family.model_bytes),
            "inputs": family.inputs,
            "outputs": family.outputs,
            "comparison": family.comparison,
            "max_input_bytes": max_in,
            "max_output_bytes": max_out,
            "cases": cases,
            **({"input_by_reference": True} if family.input_by_reference else {}),
            **({"views": family.views, "result_max_bytes": max_result} if family.views else {}),
        })

    # 1. iris_pipeline ------------------------------------------------------
    pipeline, iris, iris_accuracy = train_iris()
    model, conv_warnings = convert_iris(pipeline, zipmap=False)
    notes += [f"skl2onnx warning: {w}" for w in conv_warnings]
    fam = Family(
        "iris_pipeline",
        "scikit-learn Pipeline(StandardScaler, LogisticRegression(max_iter=1000, random_state=0)) trained on "
        "load_iris(), parameters rounded to multiples of 2**-12, converted by skl2onnx 1.20.0 with ZipMap off "
        "(ai.onnx.ml Scaler -> LinearClassifier -> Normalizer)",
        model, FLOAT_TOLERANCE, max_dynamic=1,
    )
    assert fam.outputs == [
        {"name": "label", "dtype": "int64", "shape": [-1]},
        {"name": "probabilities", "dtype": "float32", "shape": [-1, 3]},
    ], fam.outputs
    # the whole dataset through ONNX Runtime against the pipeline itself
    x_all = iris.data.astype(np.float32)
    ys_all = fam.run({"features": x_all})
    check_close("iris_pipeline (all 150)", ys_all, {
        "label": pipeline.predict(x_all.astype(np.float64)).astype(np.int64),
        "probabilities": pipeline.predict_proba(x_all.astype(np.float64)),
    }, max_diff)
    onnx_accuracy = float(np.mean(ys_all["label"] == iris.target))
    inputs, chosen = iris_inputs(iris, pipeline)
    feeds_list, outs = [], []
    for x in inputs:
        feeds = {"features": x}
        ys = fam.run(feeds)
        check_close("iris_pipeline", ys, {
            "label": pipeline.predict(x.astype(np.float64)).astype(np.int64),
            "probabilities": pipeline.predict_proba(x.astype(np.float64)),
        }, max_diff)
        feeds_list.append(feeds)
        outs.append(ys)
    emit(fam, feeds_list, outs)
    notes.append(f"iris_pipeline: training-set accuracy {iris_accuracy:.4f} (sklearn), {onnx_accuracy:.4f} "
                 f"(ONNX Runtime); cases are dataset rows {chosen}")

    # the same pipeline with ZipMap on: refused at registration
    zipmap_model, conv_warnings = convert_iris(pipeline, zipmap=True)
    notes += [f"skl2onnx warning (zipmap): {w}" for w in conv_warnings]
    zipmap_bytes = g.serialize(zipmap_model)
    path = os.path.join(BROKEN, "iris_zipmap.onnx")
    written[path] = g.write_bytes(path, zipmap_bytes)
    refused = []
    zsess = g.make_session(zipmap_bytes)
    for out in zsess.get_outputs():
        vi = next(v for v in zipmap_model.graph.output if v.name == out.name)
        if not vi.type.HasField("tensor_type"):
            refused.append({"file": "broken/iris_zipmap.onnx", "output": out.name, "type": out.type})
    assert [r["output"] for r in refused] == ["output_probability"], refused
    # ZipMap's maps hold the same probabilities
    zlabel, zmaps = zsess.run(None, {"features": inputs[2]})
    assert zlabel.tolist() == outs[2]["label"].tolist()
    assert [zmaps[0][c] for c in range(3)] == outs[2]["probabilities"][0].tolist()

    # 2. lstm_vad --------------------------------------------------------------
    model, ref = build_lstm_vad()
    fam = Family(
        "lstm_vad",
        "Silero-VAD-shaped recurrent model: 64-sample frame x gain(sr) -> Gemm(64->32) -> Relu -> LSTM(32->16) "
        "with (h, c) carried in state/stateN -> Relu -> Gemm(16->1) -> Sigmoid speech probability "
        "(random weights, seed 3001)",
        model, FLOAT_TOLERANCE, max_dynamic=1,
    )
    state = np.zeros((2, 1, VAD_HIDDEN), dtype=np.float32)
    sr = np.array(16000, dtype=np.int64)
    feeds_list, outs = [], []
    for frame in vad_frames():
        feeds = {"input": frame, "state": state, "sr": sr}
        ys = fam.run(feeds)
        check_close("lstm_vad", ys, ref(feeds), max_diff)
        feeds_list.append(feeds)
        outs.append(ys)
        state = ys["stateN"]  # a real stream: the next frame gets this frame's state
    # sr matters: 8 kHz doubles the frame
    ys8 = fam.run({**feeds_list[2], "sr": np.array(8000, dtype=np.int64)})
    check_close("lstm_vad", ys8, ref({**feeds_list[2], "sr": np.array(8000, dtype=np.int64)}), max_diff)
    assert ys8["output"].tobytes() != outs[2]["output"].tobytes()
    emit(fam, feeds_list, outs)

    # 3. tiny_encoder ---------------------------------------------------------
    model, ref = build_tiny_encoder()
    fam = Family(
        "tiny_encoder",
        "one-layer transformer encoder classifier: token + position embeddings (vocabulary 64, at most 32 "
        "tokens, width 16) -> single-head self-attention with additive -1e9 mask bias -> residual + "
        "LayerNormalization -> feed-forward 16->32->16 -> residual + LayerNormalization -> masked mean "
        "pooling -> Gemm(16->2) (random weights, seed 3003)",
        model, FLOAT_TOLERANCE, max_dynamic=ENCODER_MAX_TOKENS,
    )
    feeds_list, outs = [], []
    for feeds in encoder_inputs():
        ys = fam.run(feeds)
        check_close("tiny_encoder", ys, ref(feeds), max_diff)
        # padding changes nothing: the same request without its padded tail
        kept = int(feeds["attention_mask"].sum())
        trimmed = fam.run({k: v[:, :kept] for k, v in feeds.items()})
        assert np.allclose(trimmed["logits"], ys["logits"], rtol=1e-4, atol=1e-5)
        feeds_list.append(feeds)
        outs.append(ys)
    emit(fam, feeds_list, outs)

    # 4. image_cnn -------------------------------------------------------------
    model, ref = build_image_cnn()
    fam = Family(
        "image_cnn",
        "small image CNN on a 224x224 RGB image (ImageNet-normalised, NCHW): Conv(3->8, 7x7, stride 4, pad 3) "
        "-> Relu -> Conv(8->16, 3x3, stride 2, pad 1) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(16->10) "
        "(random weights, seed 3005); its input goes by reference",
        model, FLOAT_TOLERANCE, max_dynamic=1, input_by_reference=True,
    )
    feeds_list, outs = [], []
    for image in image_inputs():
        feeds = {"image": image}
        ys = fam.run(feeds)
        check_close("image_cnn", ys, ref(feeds), max_diff)
        feeds_list.append(feeds)
        outs.append(ys)
    logits = [o["logits"].tobytes() for o in outs]
    assert len(set(logits)) == len(logits), "image_cnn: two pictures give the same logits"
    emit(fam, feeds_list, outs)

    # 5. classifier1000 ---------------------------------------------------------
    model, ref = build_classifier1000()
    views = {"logits": f"topk:{CLASSIFIER_TOP_K}:{CLASSIFIER_SCORE_SCALE}"}
    fam = Family(
        "classifier1000",
        "MLP classifier with 1000 classes: Gemm(128->64) -> Relu -> Gemm(64->1000) (random weights, seed "
        "3007); its 1000 logits (4 KB) do not fit on chain, so its result is a top-5 view: the 5 largest "
        "logits' class indices with their scores, logit x 65536 rounded to int32",
        model, FLOAT_TOLERANCE, max_dynamic=1, views=views,
    )
    feeds_list, outs = [], []
    for x in classifier_inputs():
        feeds = {"features": x}
        ys = fam.run(feeds)
        expected = ref(feeds)
        check_close("classifier1000", ys, expected, max_diff)
        # no near-ties among the first K+1: the top K, in order, is robust to the last bits
        gaps = top_gaps(ys["logits"], CLASSIFIER_TOP_K + 1)
        assert gaps.min() > CLASSIFIER_MIN_GAP, ("classifier1000: near-tie in the top 6", gaps)
        top = [i for i, _ in project(fam.whole(ys), views)[0][1].reshape(-1, 2).tolist()]
        assert top == np.argsort(-expected["logits"][0], kind="stable")[:CLASSIFIER_TOP_K].tolist()
        feeds_list.append(feeds)
        outs.append(ys)
    assert len({tuple(project(fam.whole(o), views)[0][1].reshape(-1).tolist()) for o in outs}) == 3
    # the result encoding: name (4 + 6), dtype and rank (2), dims [1, 5, 2] (3 x 8), 5 (index, score) int32 pairs
    assert fam.result_bytes() == 4 + 6 + 2 + 3 * 8 + CLASSIFIER_TOP_K * 2 * 4 == 76
    emit(fam, feeds_list, outs)

    doc = {
        "onnxruntime_version": ort.__version__,
        "onnx_version": onnx.__version__,
        "profile": g.PROFILE,
        "output_hash_domain": g.OUTPUT_DOMAIN.decode(),
        "families": families,
        "refused": refused,
    }
    path = os.path.join(FAMILIES, "families.json")
    written[path] = g.write_bytes(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    for p, digest in sorted(written.items()):
        print(f"{digest}  {os.path.relpath(p, os.path.dirname(HERE))}")
    for name, diff in sorted(max_diff.items()):
        print(f"{name}: max |ONNX Runtime - reference| = {diff:.3g}")
    for entry in families:
        for case in entry["cases"]:
            shown = {k: [round(v, 6) if isinstance(v, float) else v for v in vals][:4]
                     for k, vals in case["outputs"].items()}
            print(f"{entry['name']}: {case['sample']} -> {shown}")
            if "result_encoding" in case:
                print(f"{entry['name']}: {case['sample']} result {case['result_encoding']}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
