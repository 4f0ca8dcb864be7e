"""FaceAntiSpoofing.tflite -> antispoof.onnx, written node by node from the TFLite flatbuffer.

Why not a converter: tflite2onnx 0.4.1 has no DEQUANTIZE (the file stores its weights as float16, each
behind a DEQUANTIZE op), CAST, GREATER_EQUAL, LESS or STRIDED_SLICE. The graph only uses 15 op types, so
this module translates exactly those, with the options this file uses, and refuses anything else:

* weights: float16 in the TFLite file; large ones stay float16 in the ONNX file behind a `Cast` to float
  (tract and onnxruntime fold it into a constant at load), small ones (biases, thresholds) are stored as
  float32. float16 -> float32 is exact, so the weights are the very values TFLite's DEQUANTIZE produces;
* layout: TFLite is NHWC, ONNX convolutions are NCHW. The ONNX input is `input` [1, 3, 256, 256] (NCHW);
  every 4-D activation stays NCHW and convolution kernels are transposed OHWI -> OIHW. The only
  order-sensitive op, the flatten of each tree-routing unit's 8x8x32 map to 2048 values, gets a Transpose
  back to NHWC first so the 2048 values come in TFLite's order;
* SAME padding: explicit pads computed as TensorFlow does (the extra pixel after, not before); SAME
  average pooling excludes the padding from the mean (`count_include_pad` 0), as TensorFlow does;
* the STRIDED_SLICEs take the whole [1, 2048] tensor (begin/end masks set, stride 1): dropped;
* the outputs are renamed after the Kotlin that reads them: TFLite `Identity` (the 8 leaf classifier
  outputs) -> `clss_pred`, `Identity_1` (the one-hot route mask) -> `leaf_node_mask`.
"""
import os
import sys

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

INPUT_SIZE = 256
# Weights with at least this many values are kept float16 (plus a Cast); smaller ones become float32.
F16_MIN_SIZE = 1024

_OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _opname(model, op):
    oc = model.OperatorCodes(op.OpcodeIndex())
    return _OPS[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]


def _options(op, cls):
    o = cls()
    bo = op.BuiltinOptions()
    o.Init(bo.Bytes, bo.Pos)
    return o


def _same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class _Builder:
    def __init__(self, model):
        self.m = model
        self.g = model.Subgraphs(0)
        self.nodes, self.inits = [], []
        self.names = {}  # tflite tensor index -> onnx value name (activations)
        self.consts = {}  # tflite tensor index -> float32 array (dequantised weights, TFLite layout)
        self.emitted = {}

    def tensor(self, i):
        return self.g.Tensors(i)

    def shape(self, i):
        t = self.tensor(i)
        return [int(t.Shape(k)) for k in range(t.ShapeLength())]

    def buffer(self, i, dtype):
        data = self.m.Buffers(self.tensor(i).Buffer()).DataAsNumpy()
        return np.frombuffer(data.tobytes(), dtype).reshape(self.shape(i))

    def const(self, i, transform=None, key=""):
        """The ONNX name of dequantised constant `i` (after `transform`), emitted once."""
        k = (i, key)
        if k in self.emitted:
            return self.emitted[k]
        a = self.consts[i]
        if transform is not None:
            a = transform(a)
        name = self.tensor(i).Name().decode() + (f"/{key}" if key else "")
        if a.size >= F16_MIN_SIZE:
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(a.astype(np.float16)), name + "/f16"))
            self.nodes.append(helper.make_node("Cast", [name + "/f16"], [name], to=TensorProto.FLOAT,
                                               name=name + "/cast"))
        else:
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(a.astype(np.float32)), name))
        self.emitted[k] = name
        return name

    def value(self, i):
        if i in self.consts:
            return self.const(i)
        return self.names[i]

    def out(self, op, k=0):
        i = int(op.Outputs(k))
        name = self.tensor(i).Name().decode()
        if name in self.names.values():
            name = f"{name}#{i}"
        self.names[i] = name
        return name

    def node(self, kind, inputs, outputs, **attrs):
        self.nodes.append(helper.make_node(kind, inputs, outputs, name=outputs[0] + "/" + kind, **attrs))

    def no_activation(self, opts, what):
        if opts.FusedActivationFunction() != 0:
            sys.exit(f"antispoof: {what} with a fused activation is not supported")

    # One method per TFLite op type.
    def DEQUANTIZE(self, op):
        src = int(op.Inputs(0))
        if self.tensor(src).Type() != tflite.TensorType.FLOAT16:
            sys.exit("antispoof: only float16 DEQUANTIZE is supported")
        self.consts[int(op.Outputs(0))] = self.buffer(src, np.float16).astype(np.float32)

    def CONV_2D(self, op):
        o = _options(op, tflite.Conv2DOptions)
        self.no_activation(o, "CONV_2D")
        if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
            sys.exit("antispoof: dilated CONV_2D is not supported")
        x, w, b = (int(op.Inputs(k)) for k in range(3))
        _, h, wd, _ = self.shape(x)
        _, kh, kw, _ = self.shape(w)
        if o.Padding() == tflite.Padding.SAME:
            (t, bt), (lf, r) = _same_pads(h, kh, o.StrideH()), _same_pads(wd, kw, o.StrideW())
        else:
            t = bt = lf = r = 0
        wname = self.const(w, lambda a: a.transpose(0, 3, 1, 2), "oihw")
        self.node("Conv", [self.value(x), wname, self.const(b)], [self.out(op)], kernel_shape=[kh, kw],
                  strides=[o.StrideH(), o.StrideW()], pads=[t, lf, bt, r])

    def _pool(self, op, kind, **extra):
        o = _options(op, tflite.Pool2DOptions)
        self.no_activation(o, kind)
        x = int(op.Inputs(0))
        _, h, w, _ = self.shape(x)
        kh, kw, sh, sw = o.FilterHeight(), o.FilterWidth(), o.StrideH(), o.StrideW()
        if o.Padding() == tflite.Padding.SAME:
            (t, b), (lf, r) = _same_pads(h, kh, sh), _same_pads(w, kw, sw)
        else:
            t = b = lf = r = 0
        self.node(kind, [self.value(x)], [self.out(op)], kernel_shape=[kh, kw], strides=[sh, sw],
                  pads=[t, lf, b, r], **extra)

    def MAX_POOL_2D(self, op):
        self._pool(op, "MaxPool")

    def AVERAGE_POOL_2D(self, op):
        self._pool(op, "AveragePool", count_include_pad=0)

    def LEAKY_RELU(self, op):
        alpha = _options(op, tflite.LeakyReluOptions).Alpha()
        self.node("LeakyRelu", [self.value(int(op.Inputs(0)))], [self.out(op)], alpha=alpha)

    def _binary(self, op, kind, options=None):
        if options is not None:
            self.no_activation(_options(op, options), kind)
        a, b = (self.value(int(op.Inputs(k))) for k in range(2))
        self.node(kind, [a, b], [self.out(op)])

    def ADD(self, op):
        self._binary(op, "Add", tflite.AddOptions)

    def SUB(self, op):
        self._binary(op, "Sub", tflite.SubOptions)

    def MUL(self, op):
        self._binary(op, "Mul", tflite.MulOptions)

    def GREATER_EQUAL(self, op):
        self._binary(op, "GreaterOrEqual")

    def LESS(self, op):
        self._binary(op, "Less")

    def CAST(self, op):
        if self.tensor(int(op.Outputs(0))).Type() != tflite.TensorType.FLOAT32:
            sys.exit("antispoof: only CAST to float32 is supported")
        self.node("Cast", [self.value(int(op.Inputs(0)))], [self.out(op)], to=TensorProto.FLOAT)

    def RESHAPE(self, op):
        x = int(op.Inputs(0))
        target = [int(v) for v in self.buffer(int(op.Inputs(1)), np.int32)]
        if len(self.shape(x)) != 4 or len(target) != 2:
            sys.exit("antispoof: only 4-D -> 2-D RESHAPE (flatten) is supported")
        out = self.out(op)
        nhwc = out + "/nhwc"
        self.node("Transpose", [self.value(x)], [nhwc], perm=[0, 2, 3, 1])
        shape = out + "/shape"
        self.inits.append(numpy_helper.from_array(np.array(target, np.int64), shape))
        self.node("Reshape", [nhwc, shape], [out])

    def STRIDED_SLICE(self, op):
        o = _options(op, tflite.StridedSliceOptions)
        x = int(op.Inputs(0))
        rank = len(self.shape(x))
        strides = self.buffer(int(op.Inputs(3)), np.int32)
        full = (1 << rank) - 1
        if (o.BeginMask() != full or o.EndMask() != full or o.EllipsisMask() or o.NewAxisMask()
                or o.ShrinkAxisMask() or np.any(strides != 1)):
            sys.exit("antispoof: only whole-tensor STRIDED_SLICE is supported")
        self.names[int(op.Outputs(0))] = self.value(x)

    def FULLY_CONNECTED(self, op):
        o = _options(op, tflite.FullyConnectedOptions)
        self.no_activation(o, "FULLY_CONNECTED")
        if o.KeepNumDims() or o.WeightsFormat() != 0:
            sys.exit("antispoof: FULLY_CONNECTED options not supported")
        x, w, b = (int(op.Inputs(k)) for k in range(3))
        shape = self.shape(x)
        xin = self.value(x)
        if len(shape) == 4:
            if shape[1] != 1 or shape[2] != 1:
                sys.exit("antispoof: FULLY_CONNECTED on a spatial map is not supported")
            flat = xin + "/flat"
            self.node("Flatten", [xin], [flat], axis=1)
            xin = flat
        self.node("Gemm", [xin, self.const(w), self.const(b)], [self.out(op)], transB=1)

    def CONCATENATION(self, op):
        o = _options(op, tflite.ConcatenationOptions)
        self.no_activation(o, "CONCATENATION")
        if o.Axis() != 1 or len(self.shape(int(op.Outputs(0)))) != 2:
            sys.exit("antispoof: only axis-1 CONCATENATION of 2-D tensors is supported")
        ins = [self.value(int(op.Inputs(k))) for k in range(op.InputsLength())]
        self.node("Concat", ins, [self.out(op)], axis=1)


def translate(b, model, input_size, what):
    """Runs every op of the model's graph through builder `b`, the input named `input`."""
    g = b.g
    (inp,) = g.InputsAsNumpy()
    if b.shape(int(inp)) != [1, input_size, input_size, 3]:
        sys.exit(f"{what}: unexpected input shape {b.shape(int(inp))}")
    b.names[int(inp)] = "input"
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        name = _opname(model, op)
        handler = getattr(b, name, None)
        if handler is None:
            sys.exit(f"{what}: TFLite op {name} is not supported")
        handler(op)


def convert(tflite_path):
    """Builds the ONNX model (opset 13) from the TFLite file."""
    with open(tflite_path, "rb") as f:
        buf = f.read()
    model = tflite.Model.GetRootAsModel(buf, 0)
    b = _Builder(model)
    g = b.g
    translate(b, model, INPUT_SIZE, "antispoof")
    outs = [int(i) for i in g.OutputsAsNumpy()]
    if [b.tensor(i).Name() for i in outs] != [b"Identity", b"Identity_1"]:
        sys.exit("antispoof: unexpected output names")
    renamed = {b.names[outs[0]]: "clss_pred", b.names[outs[1]]: "leaf_node_mask"}
    for n in b.nodes:
        for lst in (n.input, n.output):
            for j, v in enumerate(lst):
                if v in renamed:
                    lst[j] = renamed[v]
    graph = helper.make_graph(
        b.nodes, "FaceAntiSpoofing",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8]) for n in ("clss_pred", "leaf_node_mask")],
        b.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="siap xtask models (FaceAntiSpoofing.tflite, op-by-op, float16 weights)")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def score(clss_pred, leaf_node_mask):
    """The package's score: sum over the 8 leaves of |clss_pred| * leaf_node_mask (higher = spoof)."""
    return (np.abs(clss_pred) * leaf_node_mask).sum(axis=-1)


# 256x256 windows (top-left x, y) of lossless PNG photos of ../shared/faces: a 256-pixel box cut at integer
# coordinates is resampled to 256x256 as an exact copy, so `core/tests/face_antispoof.rs` feeds the same
# pixels to tract as this script feeds to onnxruntime, and stores the scores printed here.
RUST_WINDOWS = [("alex_lacamoire/3.png", 80, 20), ("lin_manuel_miranda/1.png", 210, 100), ("edge/32bit.png", 190, 180)]
# The package's per-pixel Laplacian threshold (FaceAntiSpoofing.LAPLACE_THRESHOLD).
LAPLACE_THRESHOLD = 50


def sharpness(rgb):
    """The package's `laplacian()`: pixels of the 256x256 grey crop whose 4-neighbour Laplacian exceeds 50."""
    f = rgb.astype(np.float32)
    grey = (f[..., 0] * np.float32(0.3) + f[..., 1] * np.float32(0.59) + f[..., 2] * np.float32(0.11))
    g = grey.astype(np.int32) & 0xFF
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return int((lap > LAPLACE_THRESHOLD).sum())


def _photos(faces_dir):
    out = []
    for root, _, files in sorted(os.walk(faces_dir)):
        for f in sorted(files):
            if f.lower().endswith((".jpg", ".jpeg", ".png")):
                out.append(os.path.relpath(os.path.join(root, f), faces_dir))
    return out


def _inputs(faces_dir):
    """(label, 256x256x3 uint8 or float [0,1] array) pairs: random images, then photos of faces_dir."""
    rng = np.random.default_rng(7)
    items = [(f"random{k}", rng.uniform(0, 1, (INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)) for k in range(3)]
    if faces_dir is None or not os.path.isdir(faces_dir):
        print(f"antispoof: no face photos at {faces_dir}: compared on random inputs only", file=sys.stderr)
        return items
    from PIL import Image

    for rel in _photos(faces_dir):
        im = Image.open(os.path.join(faces_dir, rel)).convert("RGB")
        s = min(im.size)
        left, top = (im.size[0] - s) // 2, (im.size[1] - s) // 2
        crop = im.crop((left, top, left + s, top + s)).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)
        items.append((f"{rel} (centre square)", np.asarray(crop)))
    for rel, x, y in RUST_WINDOWS:
        im = np.asarray(Image.open(os.path.join(faces_dir, rel)).convert("RGB"))
        items.append((f"{rel} window ({x},{y})", im[y:y + INPUT_SIZE, x:x + INPUT_SIZE]))
    return items


def compare(onnx_path, tflite_path, faces_dir):
    """onnxruntime on the ONNX file vs ai-edge-litert on the TFLite file; prints and checks the differences."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = None
        print("antispoof: ai-edge-litert not installed: no comparison with the TFLite model", file=sys.stderr)
    it = None
    if Interpreter is not None:
        it = Interpreter(model_path=tflite_path)
        it.allocate_tensors()
        outs = {d["name"]: d["index"] for d in it.get_output_details()}
    d_out = d_score = 0.0
    same_leaf = n = 0
    scores = []
    for label, img in _inputs(faces_dir):
        x = img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
        c, m = sess.run(None, {"input": x.transpose(2, 0, 1)[None].copy()})
        s = float(score(c, m)[0])
        line = f"{label}: onnx score {s:.6f} leaf {int(np.argmax(m))}"
        if img.dtype == np.uint8:
            line += f" sharpness {sharpness(img)}"
            scores.append(s)
        if it is not None:
            it.set_tensor(it.get_input_details()[0]["index"], x[None].copy())
            it.invoke()
            rc, rm = it.get_tensor(outs["Identity"]), it.get_tensor(outs["Identity_1"])
            rs = float(score(rc, rm)[0])
            d_out = max(d_out, float(np.abs(rc - c).max()), float(np.abs(rm - m).max()))
            d_score = max(d_score, abs(rs - s))
            same_leaf += int(np.array_equal(rm, m))
            n += 1
            line += f" | tflite score {rs:.6f}"
        print(line, file=sys.stderr)
    if scores:
        q = np.percentile(scores, [0, 50, 100])
        print(f"antispoof: {len(scores)} photo inputs, onnx score min {q[0]:.3f} median {q[1]:.3f} max {q[2]:.3f}",
              file=sys.stderr)
    if it is not None:
        print(f"antispoof: {n} inputs, max |onnx - tflite| outputs {d_out:.2e}, score {d_score:.2e}, "
              f"same leaf {same_leaf}/{n}", file=sys.stderr)
        assert d_out < 1e-4 and same_leaf == n, (d_out, same_leaf, n)
