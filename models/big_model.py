"""A model file of tens of MB, written where asked (never committed).

usage: big_model.py OUT.onnx [MEGABYTES]

An MLP whose weights take about MEGABYTES MiB (default 48): Gemm(1024 -> H)
-> Relu -> Gemm(H -> 10), fixed-seed weights. `oracle/tests/big_model.rs`
writes one into a temporary directory to fetch it over HTTP, stream and
hash it, cache it and load it, with the node's memory bounded. Like every
model here it is generated, never downloaded.
"""
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save_model

OPSET = 17
IR_VERSION = 8


def build(megabytes):
    inputs, classes = 1024, 10
    hidden = max(1, megabytes * 1024 * 1024 // (4 * (inputs + classes)))
    rng = np.random.RandomState(4242)
    w1 = (rng.standard_normal((inputs, hidden)) / np.sqrt(inputs)).astype(np.float32)
    w2 = (rng.standard_normal((hidden, classes)) / np.sqrt(hidden)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["input", "w1"], ["hidden"]),
            helper.make_node("Relu", ["hidden"], ["relu"]),
            helper.make_node("Gemm", ["relu", "w2"], ["logits"]),
        ],
        "big_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, inputs])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="sibyl-fixtures",
    )


def main():
    out = sys.argv[1]
    megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 48
    save_model(build(megabytes), out)


if __name__ == "__main__":
    main()
