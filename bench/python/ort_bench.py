"""Python onnxruntime timings for `sibyl-bench` (section 1's reference column).

Runs the first recorded input of each fixture (models/fixtures.json) and
each model family (models/families/families.json) through a session with
Sibyl's pinned profile (the same options as models/generate.py's
make_session) and prints, as JSON on stdout, the median and p99 of
`session.run` in microseconds: {"onnxruntime": VERSION, "fixtures": {NAME: {...}}}.

usage: ort_bench.py MODELS_DIR SAMPLES WARMUP
"""
import json
import os
import struct
import sys
import time

import numpy as np
import onnxruntime as ort

# ONNX TensorProto element types of the canonical encoding's dtype byte.
NUMPY_OF_ONNX = {1: "<f4", 2: "u1", 3: "i1", 5: "<i2", 6: "<i4", 7: "<i8", 9: "u1", 10: "<f2", 11: "<f8"}


def decode(encoding):
    """The canonical encoding (models/README.md) as [(name, array)]."""
    tensors, at = [], 0
    while at < len(encoding):
        (name_len,) = struct.unpack_from("<I", encoding, at)
        at += 4
        name = encoding[at : at + name_len].decode("utf-8")
        at += name_len
        dtype, rank = struct.unpack_from("<BB", encoding, at)
        at += 2
        dims = struct.unpack_from("<%dQ" % rank, encoding, at)
        at += 8 * rank
        numpy_dtype = np.dtype(NUMPY_OF_ONNX[dtype])
        count = int(np.prod(dims)) if dims else 1
        array = np.frombuffer(encoding, dtype=numpy_dtype, count=count, offset=at).reshape(dims)
        at += count * numpy_dtype.itemsize
        tensors.append((name, array))
    return tensors


def pinned_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.use_deterministic_compute = True
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def main():
    models_dir, samples, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(os.path.join(models_dir, "fixtures.json")) as file:
        fixtures = json.load(file)["fixtures"]
    with open(os.path.join(models_dir, "families", "families.json")) as file:
        fixtures += json.load(file)["families"]
    results = {}
    for fixture in fixtures:
        session = pinned_session(os.path.join(models_dir, fixture["file"]))
        graph_inputs = [value.name for value in session.get_inputs()]
        case = fixture["cases"][0]
        if "input_encoding" in case:
            tensors = decode(bytes.fromhex(case["input_encoding"]))
            feed = {graph_name: array for graph_name, (_, array) in zip(graph_inputs, tensors)}
        else:  # an image family: its .npy sample is the one input
            feed = {graph_inputs[0]: np.load(os.path.join(models_dir, case["sample"]))}
        times = []
        for round in range(warmup + samples):
            started = time.perf_counter_ns()
            session.run(None, feed)
            elapsed = time.perf_counter_ns() - started
            if round >= warmup:
                times.append(elapsed / 1000.0)
        times.sort()
        rank = lambda percent: times[max(1, min(len(times), -(-len(times) * percent // 100))) - 1]
        results[fixture["name"]] = {"median_us": rank(50), "p99_us": rank(99), "samples": len(times)}
    json.dump({"onnxruntime": ort.__version__, "fixtures": results}, sys.stdout)


if __name__ == "__main__":
    main()
