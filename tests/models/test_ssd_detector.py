"""Issue 12 acceptance: the quantized SSD detector export (TF1 object-detection exporter + TOCO's classic command).

The graph is made by testdata/make_ssd_detector.py the way the exporter shaped it (per-tensor fake-quant backbone,
box and class heads, sigmoid scores, anchors constant, the TFLite_Detection_PostProcess NodeDef). It is converted
with the classic command verbatim (through a shell, quotes and all) at 300x300, and in-process at 96x96 for the
detections on 16 images, in QUANTIZED_UINT8 and FLOAT. The reference is TensorFlow's own converter
(``tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(..., allow_custom_ops=True)``), both run in LiteRT, whose
builtin op resolver has the post-process kernel.

Detections are compared as the kernel defines them: the first ``count`` rows of boxes/classes/scores (the rows
past the count are left as the output buffer held them, so they carry no meaning)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from testdata import make_ssd_detector as ssd

CLASSIC = ("qconvert --input_file=tflite_graph.pb --output_file=detect.tflite --input_shapes=1,300,300,3 "
           "--input_arrays=normalized_input_image_tensor --output_arrays='TFLite_Detection_PostProcess',"
           "'TFLite_Detection_PostProcess:1','TFLite_Detection_PostProcess:2','TFLite_Detection_PostProcess:3' "
           "--inference_type=QUANTIZED_UINT8 --mean_values=128 --std_dev_values=128 "
           "--change_concat_input_ranges=false --allow_custom_ops")
SMALL = 96
IMAGES = 16
# The class predictions (sigmoid) are uint8 with scale 1/256: one output LSB of a score.
SCORE_LSB = 1 / 256


def _convert_with_tf(tf: Any, graph: Path, size: int, quantized: bool) -> bytes:  # noqa: ANN401
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(graph), [ssd.INPUT], ssd.OUTPUTS, input_shapes={ssd.INPUT: [1, size, size, 3]})
    conv.allow_custom_ops = True
    if quantized:
        conv.inference_type = tf.uint8
        conv.quantized_input_stats = {ssd.INPUT: (128, 128)}
    return conv.convert()


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[int, Path]:  # noqa: ANN401
    """The exporter-shaped graph at 300x300 (as tflite_graph.pb, for the classic command) and at 96x96."""
    root = tmp_path_factory.mktemp("ssd")
    out = {}
    for size in (300, SMALL):
        d = root / str(size)
        d.mkdir()
        path = d / "tflite_graph.pb"
        path.write_bytes(ssd.build(size).SerializeToString())
        out[size] = path
    return out


def _ours(graph: Path, size: int, inference_type: str) -> bytes:
    """The classic command's flags (with ``size`` and ``inference_type``), run in this process."""
    from cli.main import main

    out = graph.with_name(f"ours_{inference_type}.tflite")
    args = shlex.split(CLASSIC)[1:]
    args = [a.replace("tflite_graph.pb", str(graph)).replace("detect.tflite", str(out))
             .replace("1,300,300,3", f"1,{size},{size},3").replace("QUANTIZED_UINT8", inference_type) for a in args]
    try:
        main([*args, "-q"])
    except SystemExit as e:  # a failure: the CLI exits non-zero after printing one line
        raise AssertionError(f"qconvert exited with {e.code}") from None
    return out.read_bytes()


def _inputs(size: int, quantized: bool) -> np.ndarray:
    images = ssd.scenes(IMAGES, size, seed=7).astype(np.float32)
    return images if quantized else (images - 128) / 128


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of [ymin, xmin, ymax, xmax] boxes, row by row."""
    y0, x0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    y1, x1 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def _compare(ours: list[np.ndarray], theirs: list[np.ndarray]) -> dict[str, Any]:
    """Per image: same count; over the valid detections: same classes, box IoU, |score difference|."""
    counts_a, counts_b = ours[3].astype(int), theirs[3].astype(int)
    ious, score_diffs, box_diffs, same_class = [], [], [], []
    for i in range(len(counts_a)):
        n = min(counts_a[i], counts_b[i])
        same_class.append(ours[1][i, :n] == theirs[1][i, :n])
        ious.append(_iou(ours[0][i, :n], theirs[0][i, :n]))
        box_diffs.append(np.abs(ours[0][i, :n] - theirs[0][i, :n]).reshape(-1))
        score_diffs.append(np.abs(ours[2][i, :n] - theirs[2][i, :n]))
    cat = np.concatenate
    return {"counts": counts_a, "same_counts": bool(np.array_equal(counts_a, counts_b)),
            "same_class": cat(same_class), "iou": cat(ious), "box_diff": cat(box_diffs), "score_diff": cat(score_diffs)}


def test_classic_command_verbatim_300(graphs: dict[int, Path], tf: Any, litert: Callable[[bytes], Any]) -> None:  # noqa: ANN401
    """The TOCO command people ran on tflite_graph.pb, typed into a shell unchanged; the model runs in LiteRT and
    detects what TensorFlow's converter's model detects. Then its FLOAT form."""
    cwd = graphs[300].parent
    env = {**os.environ, "NO_COLOR": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(CLASSIC, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "TFLite_Detection_PostProcess" in proc.stdout  # the summary lists the custom op
    model = litert((cwd / "detect.tflite").read_bytes())
    assert [d["dtype"] for d in model.outputs] == [np.float32] * 4
    assert model.inputs[0]["dtype"] == np.uint8
    assert model.quantization("input") == (pytest.approx(1 / 128), 128)
    x = _inputs(300, quantized=True)[:4]
    r = _compare(model.run(x), litert(_convert_with_tf(tf, graphs[300], 300, True)).run(x))
    print(f"300x300 uint8, 4 images: counts {r['counts'].tolist()}, min IoU {r['iou'].min(initial=1):.4f}")
    assert r["same_counts"] and r["same_class"].all() and r["counts"].sum() > 0
    assert (r["iou"] > 0.9).all() and (r["score_diff"] <= SCORE_LSB + 1e-6).all()
    # The FLOAT form of the same command (the words as a shell splits them, run in this process).
    ours = litert(_ours(graphs[300], 300, "FLOAT"))
    xf = _inputs(300, quantized=False)[:4]
    r = _compare(ours.run(xf), litert(_convert_with_tf(tf, graphs[300], 300, False)).run(xf))
    assert r["same_counts"] and r["same_class"].all() and r["counts"].sum() > 0
    assert r["box_diff"].max() <= 1e-5 and r["score_diff"].max() <= 1e-5


def test_uint8_detections_match_tensorflow(graphs: dict[int, Path], tf: Any, litert: Callable[[bytes], Any]) -> None:  # noqa: ANN401
    ours = litert(_ours(graphs[SMALL], SMALL, "QUANTIZED_UINT8"))
    theirs = litert(_convert_with_tf(tf, graphs[SMALL], SMALL, True))
    x = _inputs(SMALL, quantized=True)
    r = _compare(ours.run(x), theirs.run(x))
    good = (r["same_class"] & (r["iou"] > 0.9) & (r["score_diff"] <= SCORE_LSB + 1e-6)).mean()
    print(f"uint8 on {IMAGES} images: counts {r['counts'].tolist()} ({r['counts'].sum()} detections), "
          f"{100 * good:.1f}% same class, IoU > 0.9 and score within 1 LSB; min IoU {r['iou'].min():.4f}, "
          f"max score diff {r['score_diff'].max():.5f}")
    assert r["same_counts"]
    # Non-trivial: most images detect something, not every image saturates at max_detections.
    assert (r["counts"] > 0).sum() >= IMAGES // 2 and (r["counts"] < ssd.MAX_DETECTIONS).sum() >= 3
    assert good >= 0.99


def test_float_detections_match_tensorflow(graphs: dict[int, Path], tf: Any, litert: Callable[[bytes], Any]) -> None:  # noqa: ANN401
    """FLOAT keeps each fake-quant point as QUANTIZE/DEQUANTIZE (as TensorFlow's converter does), so the float
    detector computes what training simulated; boxes and scores agree within 1e-5."""
    ours = litert(_ours(graphs[SMALL], SMALL, "FLOAT"))
    theirs = litert(_convert_with_tf(tf, graphs[SMALL], SMALL, False))
    assert ours.inputs[0]["dtype"] == np.float32
    x = _inputs(SMALL, quantized=False)
    r = _compare(ours.run(x), theirs.run(x))
    print(f"float on {IMAGES} images: counts {r['counts'].tolist()}, max box diff {r['box_diff'].max():.2e}, "
          f"max score diff {r['score_diff'].max():.2e}")
    assert r["same_counts"] and r["same_class"].all() and r["counts"].sum() > 0
    assert r["box_diff"].max() <= 1e-5 and r["score_diff"].max() <= 1e-5


def test_custom_op_written_as_toco_did(graphs: dict[int, Path], tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """The post-process op: CUSTOM with its TF name as custom code, every exporter attribute in the FlexBuffer
    options (TensorFlow's converter drops the ones starting with '_'), uint8 inputs with the anchors on their own
    [0, max] grid (TOCO's rule for constant arrays, same parameters as TensorFlow's converter), float32 outputs.
    `qconvert inspect` decodes both converters' options; the report lists the custom op."""
    import json

    from converter.config import ConversionConfig, InferenceType, InputStats
    from converter.inspect_model import describe
    from converter.pipeline import convert
    from converter.report import build_report

    cfg = ConversionConfig(input_path=graphs[SMALL], output_path=tmp_path / "m.tflite", input_arrays=(ssd.INPUT,),
                           output_arrays=tuple(ssd.OUTPUTS), input_shapes=((1, SMALL, SMALL, 3),),
                           inference_type=InferenceType.QUANTIZED_UINT8, input_stats=(InputStats(128, 128),),
                           allow_custom_ops=True)
    result = convert(cfg)
    ours, theirs = describe(result.tflite), describe(_convert_with_tf(tf, graphs[SMALL], SMALL, True))

    def post(info: Any) -> Any:  # noqa: ANN401
        (op,) = [o for o in info.subgraphs[0].operators if o.op == ssd.POSTPROCESS]
        return op

    a, b = post(ours), post(theirs)
    assert a.builtin == b.builtin == "CUSTOM" and a.custom_code == b.custom_code == ssd.POSTPROCESS
    assert a.custom_options["_output_quantized"] is True
    assert a.custom_options["_support_output_type_float_in_quantized_op"] is True
    assert {k: v for k, v in a.custom_options.items() if not k.startswith("_")} == b.custom_options
    assert b.custom_options["max_detections"] == ssd.MAX_DETECTIONS
    tensors = ours.subgraphs[0].tensors
    assert [tensors[i].dtype for i in a.inputs] == ["uint8"] * 3
    assert [tensors[i].dtype for i in a.outputs] == ["float32"] * 4
    assert [tensors[i].shape for i in a.outputs] == [(1, 10, 4), (1, 10), (1, 10), (1,)]
    their_tensors = theirs.subgraphs[0].tensors
    anchors, their_anchors = tensors[a.inputs[2]].quantization, their_tensors[b.inputs[2]].quantization
    assert anchors.zero_point == their_anchors.zero_point == (0,)
    assert anchors.scale == pytest.approx(their_anchors.scale, rel=1e-6)
    assert anchors.scale[0] == pytest.approx(ssd.anchors_for(SMALL).max() / 255, rel=1e-6)

    import jsonschema

    report = json.loads(json.dumps(build_report(result)))
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report-schema.json").read_text())
    jsonschema.validate(report, schema)
    (custom,) = report["custom_ops"]
    assert custom["custom_code"] == ssd.POSTPROCESS and custom["quantized"] is True
    assert custom["attributes"]["nms_iou_threshold"] == pytest.approx(0.6)
    assert custom["inputs"] == ["uint8"] * 3 and custom["outputs"] == ["float32"] * 4
