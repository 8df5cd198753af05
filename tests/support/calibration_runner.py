"""Every calibration method of qconvert next to TensorFlow's converter on the trained models
(tests/support/trained.py): INT8 with float I/O, calibrated on the calibration split, output SQNR measured in
LiteRT on the held-out split. Shared by tests/models/test_calibration.py and docs/make_calibration_table.py, so the
table shows exactly what the test checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .trained import trained
from .zoo_runner import run_litert, sqnr_db

CALIBRATION = 200  # samples calibrated on (the whole calibration split)


@dataclass
class CalibrationRow:
    model: str
    tensorflow_db: float  # TensorFlow's converter, INT8 (minmax calibration)
    sqnr_db: dict[str, float] = field(default_factory=dict)  # qconvert, by --calibration_method
    seconds: dict[str, float] = field(default_factory=dict)  # qconvert's conversion time, by method
    tflite: dict[str, bytes] = field(default_factory=dict)  # qconvert's model, by method
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # its held-out outputs, by method ("float": Keras)


ACCURACY = "accuracy"  # a column for --optimize=accuracy (minmax calibration as proposed, judged per tensor)


def measure(name: str, workdir: Path, methods: Sequence[str]) -> CalibrationRow:
    """``methods``: --calibration_method values, or ``ACCURACY`` for --optimize=accuracy."""
    import time

    import tensorflow as tf

    from converter.config import CalibrationMethod, ConversionConfig, InferenceType, InputFormat
    from converter.pipeline import convert

    task = trained(name)
    path = workdir / name
    task.model.export(str(path), verbose=False)
    cal = task.calibration(CALIBRATION)
    np.save(workdir / f"{name}_cal.npy", cal)
    x = task.x_held_out
    expected = np.asarray(task.model.predict(x, verbose=0))

    conv = tf.lite.TFLiteConverter.from_saved_model(str(path))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([cal[i:i + 1]] for i in range(len(cal)))
    row = CalibrationRow(name, sqnr_db(expected, run_litert(conv.convert(), x)))
    for method in methods:
        start = time.perf_counter()
        result = convert(ConversionConfig(
            input_path=path, output_path=workdir / "out.tflite", input_format=InputFormat.SAVED_MODEL,
            inference_type=InferenceType.INT8, inference_input_type=InferenceType.FLOAT,
            inference_output_type=InferenceType.FLOAT, representative_dataset=workdir / f"{name}_cal.npy",
            calibration_method=CalibrationMethod.MINMAX if method == ACCURACY else CalibrationMethod(method),
            optimize_accuracy=method == ACCURACY))
        row.seconds[method] = time.perf_counter() - start
        row.tflite[method] = result.tflite
        row.outputs[method] = run_litert(result.tflite, x)
        row.sqnr_db[method] = sqnr_db(expected, row.outputs[method])
    row.outputs["float"] = expected
    return row
