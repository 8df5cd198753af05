"""Issue 14 acceptance: sparse weights, pruning, clustering and int4 weights on trained models, against TensorFlow's
converter on the same SavedModels and calibration images, run in LiteRT, measured on held-out digits.

Models: tests/support/tfmot_models.py (a tf_keras digits CNN pruned to 80% with prune_low_magnitude, and clustered to
16 clusters with cluster_weights, each fine-tuned and stripped) and trained.py's digits CNN (unpruned, for --prune and
post-training clustering)."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.pipeline import ConversionResult, convert
from converter.report import build_report
from tests.support import tflite_file, tfmot_models
from tests.support.int4_reference import layer_differences
from tests.support.ir_models import litert_run
from tests.support.tfmot_models import TfmotModel, tf_convert
from tests.support.trained import trained

F, I8 = InferenceType.FLOAT, InferenceType.INT8


def ours(saved_model: Path, calibration: Path | None, itype: InferenceType, **kw: Any) -> ConversionResult:  # noqa: ANN401
    if itype is not F or kw.get("prune") or kw.get("cluster_weights"):
        kw.setdefault("representative_dataset", calibration)
    if itype is not F:
        kw.update(inference_input_type=F, inference_output_type=F)
    return convert(ConversionConfig(input_path=saved_model, output_path=saved_model.parent / "m.tflite",
                                    input_format=InputFormat.SAVED_MODEL, inference_type=itype, **kw))


def sqnr(ref: np.ndarray, out: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - out) ** 2), 1e-30)))


def accuracy(out: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(out.argmax(1) == y))


def db(value: float | None) -> str:
    return "inf" if value is None else f"{value:.2f}"


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6, mtime=0))


# ---------------------------------------------------------------- pruned in training, --sparsity=auto
@pytest.fixture(scope="module")
def pruned() -> dict[str, Any]:
    m = tfmot_models.pruned()
    return {"m": m,
            "float": ours(m.saved_model, m.calibration, F, sparsity=True).tflite,
            "int8": ours(m.saved_model, m.calibration, I8, sparsity=True).tflite,
            "tf_float": tf_convert(m, int8=False, sparsity=True),
            "tf_int8": tf_convert(m, int8=True, sparsity=True)}


def _fc_weights(model: bytes) -> list[np.ndarray]:
    return [c.dense() for c in tflite_file.read(model).weights("FULLY_CONNECTED")]


def test_pruned_float_sparse(pruned: dict[str, Any]) -> None:
    """FLOAT: no larger than TensorFlow's EXPERIMENTAL_SPARSITY file, the same outputs as the Keras model (1e-5 of
    the largest logit), sparse tensors in the file that hold exactly TensorFlow's weights."""
    m: TfmotModel = pruned["m"]
    model, theirs = pruned["float"], pruned["tf_float"]
    out = litert_run(model, m.x_held_out)
    err = np.abs(out - m.float_out).max() / np.abs(m.float_out).max()
    f = tflite_file.read(model)
    sparse = f.sparse()
    print(f"pruned 80% FLOAT --sparsity=auto: {len(model):,} bytes (TF {len(theirs):,}), {len(sparse)} sparse "
          f"tensors, largest error {err:.2e} of the largest logit")
    assert len(model) <= len(theirs)
    assert err <= 1e-5
    # Both fully-connected layers read their weights sparse, directly (version 8), no DENSIFY in front.
    assert {c.name for c in sparse} >= {c.name for c in f.weights("FULLY_CONNECTED")}
    assert f.op_versions()["FULLY_CONNECTED"] == {8}
    for a, b in zip(_fc_weights(model), _fc_weights(theirs), strict=True):
        np.testing.assert_array_equal(a, b)
        assert np.mean(a == 0) >= 0.79


def test_pruned_int8_sparse(pruned: dict[str, Any]) -> None:
    """INT8: no larger than TensorFlow's file, SQNR >= TF's - 0.5 dB, accuracy >= TF's - 0.5 pt on held-out digits;
    it also runs with LiteRT's default resolver (XNNPACK), where TensorFlow's own sparse int8 file fails to
    prepare its DENSIFY-fed FULLY_CONNECTED."""
    m: TfmotModel = pruned["m"]
    model, theirs = pruned["int8"], pruned["tf_int8"]
    out, out_tf = litert_run(model, m.x_held_out), litert_run(theirs, m.x_held_out)
    s, s_tf = sqnr(m.float_out, out), sqnr(m.float_out, out_tf)
    a, a_tf = accuracy(out, m.y_held_out), accuracy(out_tf, m.y_held_out)
    sparse = tflite_file.read(model).sparse()
    print(f"pruned 80% INT8 --sparsity=auto: {len(model):,} bytes (TF {len(theirs):,}); SQNR {s:.2f} dB (TF "
          f"{s_tf:.2f}); accuracy {100 * a:.2f}% (TF {100 * a_tf:.2f}%, float {100 * m.float_accuracy:.2f}%); "
          f"{len(sparse)} sparse tensors")
    assert len(model) <= len(theirs)
    assert s >= s_tf - 0.5
    assert a >= a_tf - 0.005
    assert sparse and all(c.type == 9 for c in sparse)
    default = litert_run(model, m.x_held_out[:32], default_resolver=True)
    assert accuracy(default, m.y_held_out[:32]) >= accuracy(out[:32], m.y_held_out[:32]) - 1 / 32


# ---------------------------------------------------------------- clustered in training
@pytest.mark.slow  # trains cluster_weights and runs TensorFlow's converter: ~45 s
def test_clustered_int8_compresses(tmp_path: Path) -> None:
    """A model clustered to 16 clusters with cluster_weights: every conv/fully-connected weight tensor of the INT8
    file holds at most 16 values per channel, and the file gzips no larger than TensorFlow's INT8 file."""
    m = tfmot_models.clustered()
    model = ours(m.saved_model, m.calibration, I8).tflite
    theirs = tf_convert(m, int8=True)
    f = tflite_file.read(model)
    counts = {op: [tflite_file.distinct_per_channel(c) for c in f.weights(op)]
              for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    out = litert_run(model, m.x_held_out)
    print(f"clustered (16) INT8: gzip {gz(model):,} bytes (TF {gz(theirs):,}), raw {len(model):,} (TF "
          f"{len(theirs):,}); distinct values per channel {counts}; accuracy {100 * accuracy(out, m.y_held_out):.2f}%")
    assert gz(model) <= gz(theirs)
    assert all(n <= 16 for ns in counts.values() for n in ns) and sum(len(v) for v in counts.values()) == 5
    assert accuracy(out, m.y_held_out) >= m.float_accuracy - 0.02


# ---------------------------------------------------------------- --prune on an unpruned trained CNN
@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    task = trained("digits")
    root = tmp_path_factory.mktemp("digits")
    task.model.export(str(root / "sm"), verbose=False)
    np.save(root / "cal.npy", task.calibration(200))
    return root / "sm", root / "cal.npy", task


def test_prune_half_keeps_accuracy(digits: tuple[Path, Path, Any]) -> None:
    """--prune=0.5 (INT8, sparse): half the conv/fully-connected weights zero, accuracy on held-out digits within
    2 points of the float model, each layer's share and cost reported."""
    path, cal, task = digits
    res = ours(path, cal, I8, prune=0.5, sparsity=True)
    report = build_report(res)["compression"]
    pr = report["prune"]
    flt = task.model.predict(task.x_held_out, verbose=0)
    out = litert_run(res.tflite, task.x_held_out)
    a, a_float = accuracy(out, task.y_held_out), accuracy(flt, task.y_held_out)
    layers = ", ".join(f"{x['op']} {100 * x['sparsity']:.0f}% ({db(x['sqnr_db'])} dB)" for x in pr["layers"])
    print(f"--prune=0.5 INT8: {100 * pr['sparsity']:.1f}% zeros [{layers}], pruned float SQNR {db(pr['sqnr_db'])} "
          f"dB; accuracy {100 * a:.2f}% (float {100 * a_float:.2f}%); {len(res.tflite):,} bytes")
    total = sum(x["weights"] for x in pr["layers"])
    assert abs(pr["sparsity"] - 0.5) * total <= 16  # to one 1x16 block
    assert a >= a_float - 0.02
    fc = [x for x in pr["layers"] if x["op"] == "fully_connected" and x["zeros"]]
    assert fc and all(x["block"] == 16 for x in fc)
    # Pruned fully-connected weights are whole 1x16 blocks: the int8 kernel reads them directly.
    f = tflite_file.read(res.tflite)
    assert any(c.sparsity is not None and c.sparsity.block_map == [1] for c in f.weights("FULLY_CONNECTED"))


def test_cluster_weights_post_training(digits: tuple[Path, Path, Any]) -> None:
    """--cluster_weights=16 (INT8): at most 16 values per output channel in every layer of the file, a smaller gzip
    than the unclustered INT8 file, accuracy within 2 points of float."""
    path, cal, task = digits
    plain = ours(path, cal, I8).tflite
    res = ours(path, cal, I8, cluster_weights=16)
    f = tflite_file.read(res.tflite)
    worst = max(tflite_file.distinct_per_channel(c) for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
                for c in f.weights(op))
    flt = task.model.predict(task.x_held_out, verbose=0)
    out = litert_run(res.tflite, task.x_held_out)
    cl = build_report(res)["compression"]["cluster"]
    print(f"--cluster_weights=16 INT8: gzip {gz(res.tflite):,} bytes (unclustered {gz(plain):,}); at most {worst} "
          f"values per channel; clustered float SQNR {db(cl['sqnr_db'])} dB; accuracy "
          f"{100 * accuracy(out, task.y_held_out):.2f}% (float {100 * accuracy(flt, task.y_held_out):.2f}%)")
    assert worst <= 16
    assert gz(res.tflite) < gz(plain)
    assert accuracy(out, task.y_held_out) >= accuracy(flt, task.y_held_out) - 0.02


# ---------------------------------------------------------------- --weight_bits=4
# int8 is slow (two calibrated conversions, ~25 s); tests/backend/test_int4.py covers int8 x int4 by default.
@pytest.mark.parametrize("mode", [pytest.param("int8", marks=pytest.mark.slow), "dynamic"])
def test_int4_weights(mode: str) -> None:
    """--weight_bits=4 on the trained base CNN (most weights in its first dense layer): the file at most 0.65x the
    8-bit one, run in LiteRT, every int4 layer within 1 LSB (int8) or its input-rounding bound (hybrid) of a numpy
    reference computed from the int4 weights in the file. (On trained.py's smaller digits CNN dynamic range gives
    0.66x: its conv weights, under 1024 elements each, stay float in both files, as TensorFlow leaves them.)"""
    m = tfmot_models.base()
    path, cal = m.saved_model, m.calibration
    if mode == "int8":
        eight = ours(path, cal, I8)
        four = ours(path, cal, I8, weight_bits=4)
    else:
        eight = ours(path, None, F, post_training_quantize=True)
        four = ours(path, None, F, post_training_quantize=True, weight_bits=4)
    ratio = len(four.tflite) / len(eight.tflite)
    worst = layer_differences(four.tflite, m.x_held_out[:4])
    flt = m.float_out
    out = litert_run(four.tflite, m.x_held_out)
    kept = build_report(four)["compression"]["weight_bits"]["kept_8bit"]
    a, a_float = accuracy(out, m.y_held_out), m.float_accuracy
    print(f"{mode} --weight_bits=4: {len(four.tflite):,} bytes = {ratio:.3f}x the 8-bit file; SQNR "
          f"{sqnr(flt, out):.2f} dB, accuracy {100 * a:.2f}% (float {100 * a_float:.2f}%); reference "
          f"differences {worst}; 8-bit layers {[k['op'] for k in kept]}")
    assert ratio <= 0.65
    assert worst and all(v <= 1.0 for v in worst.values())
    # int4 weights are coarse (15 levels): the trained CNN loses a few points of accuracy at most.
    assert a >= a_float - 0.05


# ---------------------------------------------------------------- docs/compression.md
def test_compression_doc_is_the_scripts_output() -> None:
    """docs/compression.md is docs/make_compression_table.py's rendering of the figures it measured
    (docs/compression.json), not edited by hand; on the models compressed in training, where both converters run,
    each qconvert file is no larger than TensorFlow's at the same step."""
    import importlib.util
    import json

    root = Path(__file__).resolve().parents[2] / "docs"
    spec = importlib.util.spec_from_file_location("make_compression_table", root / "make_compression_table.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    steps = json.loads((root / "compression.json").read_text())
    assert (root / "compression.md").read_text() == mod.render(steps)
    pairs: dict[tuple[str, str], dict[str, int]] = {}
    for s in steps:
        if s["converter"] == "TensorFlow" and "not pruned" not in s["step"]:
            pairs.setdefault((s["model"], s["step"]), {})["tf"] = s["bytes"]
        elif s["converter"] == "qconvert":
            pairs.setdefault((s["model"], s["step"]), {}).setdefault("ours", s["bytes"])
    both = {k: v for k, v in pairs.items() if len(v) == 2}
    assert both and all(v["ours"] <= v["tf"] for v in both.values()), both
