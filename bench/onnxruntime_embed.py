#!/usr/bin/env python3
"""Side-by-side reference for `cargo bench -p siap-core --bench face` (embed_aligned_face, pnet).

Runs the same ONNX files from models/ with onnxruntime on ONE thread and prints the median latency.
Usage: .venv/bin/python bench/onnxruntime_embed.py [models_dir]   (needs numpy, onnxruntime)
"""
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def bench(name, sess, feed, n=200):
    for _ in range(10):
        sess.run(None, feed)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        sess.run(None, feed)
        ts.append((time.perf_counter() - t) * 1000)
    print(f"{name}: median {statistics.median(ts):.2f} ms, min {min(ts):.2f} ms (onnxruntime {ort.__version__}, 1 thread)")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "models")
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    bench("embed_aligned_face (mobilefacenet.onnx, batch 1)", session(os.path.join(d, "mobilefacenet.onnx")), {"input": x})
    p = session(os.path.join(d, "pnet.onnx"))
    for w, h in [(320, 240), (192, 144)]:
        bench(f"pnet {w}x{h}", p, {"input_1": rng.uniform(-1, 1, (1, w, h, 3)).astype(np.float32)})


if __name__ == "__main__":
    main()
