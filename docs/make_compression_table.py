"""Regenerate docs/compression.md: Deep Compression's pipeline, float -> pruned -> clustered -> int8 (-> int4) -> gzip,
on trained models, each step's size, SQNR and accuracy, qconvert next to TensorFlow's converter on the same models.

    python docs/make_compression_table.py        # ~3 minutes on 2 cores (trains the models, converts ~20 times)

Models (tests/support/): trained.py's digits CNN (Keras 3, compressed after training by qconvert's --prune and
--cluster_weights, which TensorFlow's converter has no counterpart for), and tfmot_models.py's digits CNN compressed
in training with tensorflow-model-optimization (prune_low_magnitude to 80%, then sparsity-preserving cluster_weights
to 16 clusters), which both converters convert. Everything is measured in LiteRT (builtin kernels) on the 397
held-out digits against the float Keras model; gzip at its default level 6.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from converter.config import ConversionConfig, InferenceType, InputFormat  # noqa: E402
from converter.pipeline import convert  # noqa: E402
from tests.support import tfmot_models  # noqa: E402
from tests.support.ir_models import litert_run  # noqa: E402
from tests.support.tfmot_models import TfmotModel, tf_convert  # noqa: E402
from tests.support.trained import trained  # noqa: E402

DATA = REPO / "docs" / "compression.json"
TABLE = REPO / "docs" / "compression.md"
F, I8 = InferenceType.FLOAT, InferenceType.INT8


@dataclass
class Step:
    model: str
    step: str
    converter: str  # "qconvert" or "TensorFlow"
    flags: str
    bytes: int
    gzip_bytes: int
    sqnr_db: float
    accuracy: float
    seconds: float


def _measure(m: TfmotModel, step: str, converter: str, flags: str, data: bytes, seconds: float) -> Step:
    out = litert_run(data, m.x_held_out)
    ref = m.float_out.astype(np.float64)
    noise = float(np.sum((ref - out) ** 2))
    sqnr = float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref ** 2) / noise))
    return Step(m.name, step, converter, flags, len(data), len(gzip.compress(data, 6, mtime=0)), sqnr,
                float(np.mean(out.argmax(1) == m.y_held_out)), seconds)


def _ours(m: TfmotModel, step: str, itype: InferenceType, **kw: Any) -> Step:  # noqa: ANN401
    flags = [f"--inference_type={itype.value}"] + [
        f"--{k}={'auto' if v is True and k == 'sparsity' else v}" for k, v in kw.items()]
    if itype is not F or kw.get("prune") or kw.get("cluster_weights"):
        kw["representative_dataset"] = m.calibration
    if itype is not F:
        kw.update(inference_input_type=F, inference_output_type=F)
    t0 = time.perf_counter()
    res = convert(ConversionConfig(input_path=m.saved_model, output_path=m.saved_model.parent / "m.tflite",
                                   input_format=InputFormat.SAVED_MODEL, inference_type=itype, **kw))
    return _measure(m, step, "qconvert", " ".join(flags), res.tflite, time.perf_counter() - t0)


def _tf(m: TfmotModel, step: str, int8: bool, sparsity: bool) -> Step:
    t0 = time.perf_counter()
    data = tf_convert(m, int8=int8, sparsity=sparsity)
    flags = "optimizations=[" + ", ".join((["EXPERIMENTAL_SPARSITY"] if sparsity else []) +
                                          (["DEFAULT"] if int8 else [])) + "]" + \
        (" + representative_dataset" if int8 else "")
    return _measure(m, step, "TensorFlow", flags, data, time.perf_counter() - t0)


def post_training(root: Path) -> list[Step]:
    """trained.py's digits CNN, compressed by qconvert after training."""
    task = trained("digits")
    task.model.export(str(root / "digits"), verbose=False)
    np.save(root / "digits_cal.npy", task.calibration(200))
    m = tfmot_models.case("digits, compressed after training (qconvert)", root / "digits", root / "digits_cal.npy",
                          task.model)
    prune = {"prune": 0.5, "sparsity": True}
    both = {**prune, "cluster_weights": 16}
    return [
        _ours(m, "float", F), _tf(m, "float", False, False),
        _ours(m, "pruned 50%", F, **prune),
        _ours(m, "pruned + clustered 16", F, **both),
        _ours(m, "int8", I8, **both), _tf(m, "int8 (not pruned or clustered)", True, False),
        _ours(m, "int4", I8, prune=0.5, cluster_weights=16, weight_bits=4),
    ]


def in_training() -> list[Step]:
    """tfmot_models' digits CNN: the float model, pruned in training, then pruned and clustered in training. Every
    step is measured against the uncompressed float model (``base``): what compression costs in all."""
    base = tfmot_models.base()
    pruned = dataclasses.replace(tfmot_models.pruned(), float_out=base.float_out)
    both = dataclasses.replace(tfmot_models.pruned_clustered(), float_out=base.float_out)
    steps = [_ours(base, "float", F), _tf(base, "float", False, False)]
    for m, step in ((pruned, "pruned 80% (tfmot)"), (both, "pruned + clustered 16 (tfmot)")):
        steps += [_ours(m, step, F, sparsity=True), _tf(m, step, False, True)]
    steps += [_ours(both, "int8", I8, sparsity=True), _tf(both, "int8", True, True),
              _ours(both, "int4", I8, weight_bits=4)]
    for s in steps:
        s.model = "digits, compressed in training (tensorflow-model-optimization)"
    return steps


def render(steps: list[dict[str, Any]]) -> str:
    out = [
        "# Compression: float -> pruned -> clustered -> int8 (-> int4) -> gzip",
        "",
        "Generated by `python docs/make_compression_table.py` on trained models; measured in LiteRT (builtin kernels) "
        "on",
        "397 held-out digits. SQNR is against the uncompressed float Keras model (each step's cumulative cost); gzip at",
        "level 6 (what `gzip model.tflite` gives). qconvert's `--prune` and `--cluster_weights` work after",
        "training, which TensorFlow's converter cannot (it needs tensorflow-model-optimization in training); on models",
        "compressed in training both converters run, TensorFlow's with `Optimize.EXPERIMENTAL_SPARSITY`.",
        "",
        "How each step works: [README](../README.md#compression). Flags: `--prune=S`, `--cluster_weights=K`,",
        "`--sparsity=auto`, `--weight_bits=4`; the summary and `--report` give per layer the bits, zeros, distinct",
        "values and stored bytes, and the file's size raw and gzip-compressed.",
        "",
    ]
    for model in dict.fromkeys(s["model"] for s in steps):
        rows = [s for s in steps if s["model"] == model]
        out += [f"## {model}", "",
                "| step | converter | flags | bytes | gzip bytes | SQNR dB | accuracy | seconds |",
                "|---|---|---|---:|---:|---:|---:|---:|"]
        for s in rows:
            sq = "inf" if s["sqnr_db"] == float("inf") else f"{s['sqnr_db']:.2f}"
            out.append(f"| {s['step']} | {s['converter']} | `{s['flags']}` | {s['bytes']:,} | {s['gzip_bytes']:,} | "
                       f"{sq} | {100 * s['accuracy']:.2f}% | {s['seconds']:.1f} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        steps = post_training(Path(tmp)) + in_training()
    data = [asdict(s) for s in steps]
    DATA.write_text(json.dumps(data, indent=1, default=str) + "\n")
    TABLE.write_text(render(data))
    print(TABLE.read_text())


if __name__ == "__main__":
    main()
