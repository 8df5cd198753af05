#!/usr/bin/env python3
"""Generate an SSD-style quantized detector, ``tflite_graph.pb``, in the form TF1's object-detection exporter
(``export_tflite_ssd_graph.py`` with ``--add_postprocessing_op=true``) wrote for a quantization-aware-trained SSD,
and the images it detects things in.

    python testdata/make_ssd_detector.py [--size 300] [--output tflite_graph.pb]

The graph (frozen, TF1 ops, names as the exporter's):

* ``normalized_input_image_tensor``: float32 [1, S, S, 3], real = (q - 128) / 128 (no FakeQuant on the input:
  the converter takes its range from --mean_values/--std_dev_values, as TOCO did);
* a backbone of five 3x3 stride-2 convolutions in contrib.quantize's eval form: ``weights_quant`` (per-tensor
  FakeQuantWithMinMaxVars, narrow range, on the folded weights) -> Conv2D -> ``add_fold`` (bias) -> Relu6 ->
  ``act_quant`` (per-tensor FakeQuantWithMinMaxVars);
* SSD box and class heads (3x3 convs, 3 anchors per cell) on the last two feature maps (S/16 and S/32: 19x19 and
  10x10 for S = 300), each followed by its ``act_quant``; reshaped to [1, cells * 3, 4] and [1, cells * 3, 3] and
  concatenated across the maps (``concat``, ``concat_1``; no FakeQuant of their own: the converter gives a
  concatenation the union of its inputs' ranges, as TOCO did);
* ``raw_outputs/box_encodings`` (identity of the box concat), ``raw_outputs/class_predictions`` (sigmoid of the
  class logits: background + 2 classes), ``anchors`` (constant [num_anchors, 4], center-size encoded: y, x, h, w);
* ``TFLite_Detection_PostProcess``: the exporter's NodeDef (max_detections 10, max_classes_per_detection 1,
  detections_per_class 100, use_regular_nms false, nms_score_threshold 0.5, nms_iou_threshold 0.6, num_classes 2,
  y/x/h/w scales 10/10/5/5, ``_output_quantized``, ``_output_types`` = 4 x float,
  ``_support_output_type_float_in_quantized_op``), an op TensorFlow itself does not know.

The weights are not random: the first layer computes colour-opponent features (red, blue, brightness, edges), the
next layers carry them (3x3 smoothing) to the feature maps next to a few seeded random channels, and the class head
scores "red object" and "blue object" from them, so the detector finds the red and blue rectangles of ``scenes``
and the red and blue parts of scikit-learn's sample photos. Box encodings come from seeded random head weights
(small refinements of the anchors).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

INPUT = "normalized_input_image_tensor"
POSTPROCESS = "TFLite_Detection_PostProcess"
OUTPUTS = [POSTPROCESS, f"{POSTPROCESS}:1", f"{POSTPROCESS}:2", f"{POSTPROCESS}:3"]
NUM_CLASSES = 2  # red, blue (+ background in the class predictions)
ANCHORS_PER_CELL = 3
MAX_DETECTIONS = 10
SCORE_THRESHOLD = 0.5
# Ranges the quantization-aware training would have learned (moving averages): deliberately not symmetric.
ACT_RANGE = (0.0, 5.5)
BOX_RANGE = (-2.4, 2.6)
CLASS_RANGE = (-9.3, 8.1)
_WIDTHS = (8, 12, 16, 16, 16)  # output channels of the five backbone convs
_CARRIED = 8  # channels that carry the first layer's features to the feature maps
_ANCHOR_SCALES = (0.22, 0.45)  # anchor size (fraction of the image) on the two feature maps
_ASPECTS = (1.0, 2.0, 0.5)
_ASPECT_GAINS = (4.0, 3.0, 3.0)  # class-head gain per anchor aspect


def _first_layer(rng: np.random.Generator) -> np.ndarray:
    """3x3x3x8: red, blue and green opponency, brightness, darkness, horizontal and vertical edges, saturation."""
    w = np.zeros((3, 3, 3, 8), np.float32)
    avg = np.full((3, 3), 1 / 9, np.float32)
    opp = {0: (1.0, -0.5, -0.5), 1: (-0.5, -0.5, 1.0), 2: (-0.5, 1.0, -0.5), 3: (1 / 3, 1 / 3, 1 / 3),
           4: (-1 / 3, -1 / 3, -1 / 3)}
    for c, mix in opp.items():
        for k, m in enumerate(mix):
            w[:, :, k, c] = 2.0 * m * avg
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4
    for k in range(3):
        w[:, :, k, 5] = sobel / 3
        w[:, :, k, 6] = sobel.T / 3
    w[:, :, 0, 7], w[:, :, 2, 7] = avg, avg  # magenta-ish saturation
    w[:, :, 1, 7] = -2 * avg
    return w + rng.normal(0, 0.01, w.shape).astype(np.float32)


def _carry_layer(rng: np.random.Generator, cin: int, cout: int) -> np.ndarray:
    """3x3xcinxcout: the first ``_CARRIED`` channels smoothed through (gain 1), the rest seeded random."""
    w = rng.normal(0, np.sqrt(2 / (9 * cin)) * 0.5, (3, 3, cin, cout)).astype(np.float32)
    w[:, :, :, :_CARRIED] = rng.normal(0, 0.01, (3, 3, cin, _CARRIED))
    for c in range(_CARRIED):
        w[:, :, c, c] += 1 / 9
    return w


def _class_head(rng: np.random.Generator, cin: int) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor: background logit 0; red (blue) = gain * (colour at the cell - mean colour of the 8 cells
    around it) - 2: a centre-surround blob detector, so that an object scores at its own cell, not all over a
    coloured region; square anchors score highest."""
    a, k = ANCHORS_PER_CELL, NUM_CLASSES + 1
    w = rng.normal(0, 0.02, (3, 3, cin, a * k)).astype(np.float32)
    b = np.zeros(a * k, np.float32)
    surround = np.full((3, 3), -1 / 8, np.float32)
    surround[1, 1] = 1.0
    for j, gain in enumerate(_ASPECT_GAINS):
        for cls, feature in ((1, 0), (2, 1)):
            w[:, :, feature, j * k + cls] += gain * surround
            b[j * k + cls] = -2.0
    return w, b


def _fold_quant(tf: Any, w: np.ndarray, name: str) -> Any:  # noqa: ANN401
    """contrib.quantize's weights_quant: per-tensor min/max of the folded weights, narrow range."""
    lo, hi = float(w.min()), float(w.max())
    fold = tf.constant(w, name=f"{name}/mul_fold")
    return tf.quantization.fake_quant_with_min_max_vars(fold, lo, hi, narrow_range=True,
                                                        name=f"{name}/weights_quant/FakeQuantWithMinMaxVars")


def _conv(tf: Any, x: Any, w: np.ndarray, b: np.ndarray, name: str, stride: int, relu: bool,  # noqa: ANN401
          act_range: tuple[float, float]) -> Any:  # noqa: ANN401
    y = tf.nn.conv2d(x, _fold_quant(tf, w, name), stride, "SAME", name=f"{name}/Conv2D_Fold")
    y = tf.add(y, tf.constant(b, name=f"{name}/bias"), name=f"{name}/add_fold")
    if relu:
        y = tf.nn.relu6(y, name=f"{name}/Relu6")
    return tf.quantization.fake_quant_with_min_max_vars(y, act_range[0], act_range[1],
                                                        name=f"{name}/act_quant/FakeQuantWithMinMaxVars")


def anchors_for(size: int) -> np.ndarray:
    """Center-size anchors [y, x, h, w] for the two feature maps, in the order the heads' reshapes list cells."""
    out = []
    for grid, scale in zip(feature_map_sizes(size), _ANCHOR_SCALES, strict=True):
        for i in range(grid):
            for j in range(grid):
                for ar in _ASPECTS:
                    out.append(((i + 0.5) / grid, (j + 0.5) / grid, scale / np.sqrt(ar), scale * np.sqrt(ar)))
    return np.asarray(out, np.float32)


def feature_map_sizes(size: int) -> tuple[int, int]:
    s = size
    sizes = []
    for _ in _WIDTHS:
        s = -(-s // 2)
        sizes.append(s)
    return sizes[-2], sizes[-1]


def build(size: int = 300, seed: int = 0) -> Any:  # noqa: ANN401 - GraphDef
    """The exporter-shaped frozen GraphDef for a ``size`` x ``size`` input (see the module doc)."""
    import tensorflow as tf
    from tensorflow.core.framework import attr_value_pb2, types_pb2

    rng = np.random.default_rng(seed)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, size, size, 3], name=INPUT)
        feats = []
        cin = 3
        for k, cout in enumerate(_WIDTHS):
            w = _first_layer(rng) if k == 0 else _carry_layer(rng, cin, cout)
            b = np.zeros(cout, np.float32) if k == 0 else rng.normal(0, 0.05, cout).astype(np.float32)
            b[:_CARRIED] = 0.0
            x = _conv(tf, x, w, b, f"FeatureExtractor/Conv2d_{k}", 2, True, ACT_RANGE)
            feats.append(x)
            cin = cout
        boxes, logits = [], []
        for m, fmap in enumerate(feats[-2:]):
            c = int(fmap.shape[-1])
            bw = rng.normal(0, 0.05, (3, 3, c, ANCHORS_PER_CELL * 4)).astype(np.float32)
            bb = rng.normal(0, 0.1, ANCHORS_PER_CELL * 4).astype(np.float32)
            box = _conv(tf, fmap, bw, bb, f"BoxPredictor_{m}/BoxEncodingPredictor", 1, False, BOX_RANGE)
            cw, cb = _class_head(rng, c)
            cls = _conv(tf, fmap, cw, cb, f"BoxPredictor_{m}/ClassPredictor", 1, False, CLASS_RANGE)
            boxes.append(tf.reshape(box, [1, -1, 4], name=f"BoxPredictor_{m}/Reshape"))
            logits.append(tf.reshape(cls, [1, -1, NUM_CLASSES + 1], name=f"BoxPredictor_{m}/Reshape_1"))
        box_enc = tf.concat(boxes, axis=1, name="concat")
        cls_logits = tf.concat(logits, axis=1, name="concat_1")
        with tf.name_scope("raw_outputs"):
            tf.identity(box_enc, name="box_encodings")
            tf.identity(tf.sigmoid(cls_logits, name="convert_scores"), name="class_predictions")
        tf.constant(anchors_for(size), name="anchors")
    gd = g.as_graph_def()
    node = gd.node.add()
    node.op = node.name = POSTPROCESS
    node.input.extend(["raw_outputs/box_encodings", "raw_outputs/class_predictions", "anchors"])
    attr = attr_value_pb2.AttrValue
    node.attr["_output_quantized"].CopyFrom(attr(b=True))
    node.attr["_output_types"].list.type.extend([types_pb2.DT_FLOAT] * 4)
    node.attr["_support_output_type_float_in_quantized_op"].CopyFrom(attr(b=True))
    node.attr["max_detections"].CopyFrom(attr(i=MAX_DETECTIONS))
    node.attr["max_classes_per_detection"].CopyFrom(attr(i=1))
    node.attr["nms_score_threshold"].CopyFrom(attr(f=SCORE_THRESHOLD))
    node.attr["nms_iou_threshold"].CopyFrom(attr(f=0.6))
    node.attr["num_classes"].CopyFrom(attr(i=NUM_CLASSES))
    for key, value in (("y_scale", 10.0), ("x_scale", 10.0), ("h_scale", 5.0), ("w_scale", 5.0)):
        node.attr[key].CopyFrom(attr(f=value))
    node.attr["detections_per_class"].CopyFrom(attr(i=100))
    node.attr["use_regular_nms"].CopyFrom(attr(b=False))
    return gd


def scenes(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` uint8 [size, size, 3] images: every fourth a crop of one of scikit-learn's sample photos, the others
    generated scenes of 0-3 red and blue rectangles (anchor-sized) on a textured grey background."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    out = []
    for k in range(n):
        if k % 4 == 3:
            img = photos[(k // 4) % len(photos)]
            side = min(img.shape[:2])
            y, x = rng.integers(0, img.shape[0] - side + 1), rng.integers(0, img.shape[1] - side + 1)
            idx = (np.arange(size) * side // size)
            out.append(img[y:y + side, x:x + side][idx][:, idx])
            continue
        base = rng.integers(70, 170)
        img = np.clip(base + rng.normal(0, 18, (size, size, 1)) + rng.normal(0, 6, (size, size, 3)), 0, 255)
        for _ in range(rng.integers(0, 4)):
            h, w = (rng.uniform(0.12, 0.3, 2) * size).astype(int)
            y0, x0 = rng.integers(0, size - h), rng.integers(0, size - w)
            color = np.array([220, 40, 40]) if rng.random() < 0.5 else np.array([40, 50, 225])
            img[y0:y0 + h, x0:x0 + w] = color + rng.normal(0, 10, (h, w, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--output", type=Path, default=Path("tflite_graph.pb"))
    args = parser.parse_args()
    args.output.write_bytes(build(args.size).SerializeToString())
    print(f"wrote {args.output} ({len(anchors_for(args.size))} anchors, input 1x{args.size}x{args.size}x3)")


if __name__ == "__main__":
    main()
