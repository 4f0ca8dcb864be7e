"""face_landmark.tflite (MediaPipe Face Mesh) -> facemesh.onnx, written node by node.

Why not tflite2onnx: like FaceAntiSpoofing.tflite, the file stores its weights as float16 behind
DEQUANTIZE ops, which tflite2onnx 0.4.1 cannot read. This module reuses the op-by-op translator of
`antispoof.py` (same weight, layout and padding rules) and adds the three op types the mesh model needs
beyond it, with the options this file uses, refusing anything else:

* DEPTHWISE_CONV_2D (depth multiplier 1) -> grouped `Conv` (kernel [1, kh, kw, C] -> [C, 1, kh, kw]);
* PRELU (one slope per channel, [1, 1, C]) -> `PRelu` with slope [C, 1, 1];
* PAD (only the channel padding of the residual blocks) -> `Pad` in NCHW order.

The ONNX input is `input` [1, 3, 192, 192] (NCHW, RGB in [0, 1]); the outputs are `landmarks` [1, 1404]
(468 points x (x, y, z) in pixels of the 192x192 input, z relative depth at the same scale) and
`face_flag` [1, 1] (a logit: face present). Compared with the TFLite model on random inputs and on the
photos of ../shared/faces when present.
"""
import os
import sys

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import antispoof  # noqa: E402

INPUT_SIZE = 192


class _MeshBuilder(antispoof._Builder):
    def DEPTHWISE_CONV_2D(self, op):
        o = antispoof._options(op, tflite.DepthwiseConv2DOptions)
        self.no_activation(o, "DEPTHWISE_CONV_2D")
        if o.DepthMultiplier() != 1 or o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
            sys.exit("facemesh: only plain DEPTHWISE_CONV_2D (multiplier 1, no dilation) is supported")
        x, w, b = (int(op.Inputs(k)) for k in range(3))
        _, h, wd, c = self.shape(x)
        _, kh, kw, _ = self.shape(w)
        if o.Padding() == tflite.Padding.SAME:
            (t, bt), (lf, r) = antispoof._same_pads(h, kh, o.StrideH()), antispoof._same_pads(wd, kw, o.StrideW())
        else:
            t = bt = lf = r = 0
        wname = self.const(w, lambda a: a.transpose(3, 0, 1, 2), "c1hw")
        self.node("Conv", [self.value(x), wname, self.const(b)], [self.out(op)], kernel_shape=[kh, kw],
                  strides=[o.StrideH(), o.StrideW()], pads=[t, lf, bt, r], group=c)

    def PRELU(self, op):
        x, a = (int(op.Inputs(k)) for k in range(2))
        shape = self.shape(a)
        if len(shape) != 3 or shape[0] != 1 or shape[1] != 1:
            sys.exit("facemesh: only per-channel PRELU is supported")
        slope = self.const(a, lambda v: v.reshape(-1, 1, 1), "c11")
        self.node("PRelu", [self.value(x), slope], [self.out(op)])

    def PAD(self, op):
        x, p = (int(op.Inputs(k)) for k in range(2))
        pads = self.buffer(p, np.int32).reshape(4, 2)
        if np.any(pads[:3] != 0) or pads[3][0] != 0:
            sys.exit("facemesh: only trailing channel PAD is supported")
        # NHWC [[0,0],[0,0],[0,0],[0,k]] -> ONNX NCHW begins then ends: channel end = k.
        name = self.out(op) + "/pads"
        self.inits.append(numpy_helper.from_array(np.array([0, 0, 0, 0, 0, int(pads[3][1]), 0, 0], np.int64),
                                                  name))
        self.node("Pad", [self.value(x), name], [self.out(op)], mode="constant")

    def out(self, op, k=0):
        # PAD's output name is asked for twice (pads initializer, node): keep the first.
        i = int(op.Outputs(k))
        if i in self.names:
            return self.names[i]
        return super().out(op, k)


def convert(tflite_path):
    """Builds the ONNX model (opset 13) from the TFLite file."""
    with open(tflite_path, "rb") as f:
        buf = f.read()
    model = tflite.Model.GetRootAsModel(buf, 0)
    b = _MeshBuilder(model)
    g = b.g
    antispoof.translate(b, model, INPUT_SIZE, "facemesh")
    outs = [int(i) for i in g.OutputsAsNumpy()]
    if [b.tensor(i).Name() for i in outs] != [b"conv2d_21", b"conv2d_31"]:
        sys.exit("facemesh: unexpected output names")
    for src, dst, n in ((outs[0], "landmarks", 1404), (outs[1], "face_flag", 1)):
        shape = dst + "/shape"
        b.inits.append(numpy_helper.from_array(np.array([1, n], np.int64), shape))
        b.node("Reshape", [b.names[src], shape], [dst])
    graph = helper.make_graph(
        b.nodes, "FaceMesh",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [1, 1404]),
         helper.make_tensor_value_info("face_flag", TensorProto.FLOAT, [1, 1])],
        b.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="siap xtask models (face_landmark.tflite, op-by-op, float16 weights)")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def _inputs(faces_dir):
    rng = np.random.default_rng(11)
    xs = [rng.uniform(0, 1, size=(1, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32) for _ in range(2)]
    from PIL import Image
    if os.path.isdir(faces_dir):
        for person in sorted(os.listdir(faces_dir)):
            d = os.path.join(faces_dir, person)
            if not os.path.isdir(d):
                continue
            for f in sorted(os.listdir(d))[:1]:
                im = Image.open(os.path.join(d, f)).convert("RGB")
                s = min(im.size)
                im = im.crop(((im.width - s) // 2, (im.height - s) // 2, (im.width + s) // 2, (im.height + s) // 2))
                a = np.asarray(im.resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR), np.float32) / 255.0
                xs.append(a.transpose(2, 0, 1)[None].copy())
    else:
        print(f"facemesh: {faces_dir} absent, compared on random inputs only", file=sys.stderr)
    return xs


def compare(onnx_path, tflite_path, faces_dir):
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts)
    it = Interpreter(model_path=tflite_path)
    it.allocate_tensors()
    worst = 0.0
    for x in _inputs(faces_dir):
        lm, flag = sess.run(["landmarks", "face_flag"], {"input": x})
        it.set_tensor(it.get_input_details()[0]["index"], np.transpose(x, (0, 2, 3, 1)).copy())
        it.invoke()
        outs = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        ref_lm = next(v for k, v in outs.items() if v.size == 1404).reshape(1, 1404)
        ref_flag = next(v for k, v in outs.items() if v.size == 1).reshape(1, 1)
        d = max(float(np.abs(ref_lm - lm).max()), float(np.abs(ref_flag - flag).max()))
        worst = max(worst, d)
    print(f"facemesh: max |onnx - tflite| = {worst:.2e} (pixels of the 192 input / logit)", file=sys.stderr)
    assert worst < 1e-2, worst
