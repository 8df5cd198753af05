"""Convert one zoo model in every mode, with qconvert and with TensorFlow's converter, and measure it in LiteRT.
Shared by the zoo test and the docs table script, so the table shows exactly what the test checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .zoo import ZooModel


@dataclass
class ZooRow:
    name: str
    kind: str
    tf_ops: dict[str, int] = field(default_factory=dict)
    tflite_ops: dict[str, int] = field(default_factory=dict)
    float_bytes: int = 0
    float_max_rel: float = float("nan")
    int8_bytes: int = 0
    int8_sqnr: float = float("nan")
    tf_int8_sqnr: float = float("nan")
    tf_int8_bytes: int = 0
    uint8_sqnr: float | None = None
    float_fallback: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    ref = np.asarray(reference, dtype=np.float64)
    noise = ref - np.asarray(test, dtype=np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(noise**2), 1e-30)))


def run_litert(model: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for i in range(len(x)):
        it.set_tensor(inp["index"], x[i:i + 1].astype(inp["dtype"]))
        it.invoke()
        outs.append(it.get_tensor(out["index"]).copy())
    return np.concatenate(outs)


@dataclass
class Prepared:
    """A zoo model exported as a SavedModel, with its calibration samples (a .npy) and held-out inputs with the
    Keras model's outputs on them: what every conversion of the row is measured with."""

    zm: ZooModel
    saved_model: Path
    calibration: Path
    x: np.ndarray  # held-out inputs (never calibrated on)
    expected: np.ndarray  # the Keras model's outputs on them
    model: Any  # the Keras model  # noqa: ANN401

    def held_out(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` more inputs drawn with ``seed`` (not the calibration seed, 1) and the Keras model's outputs."""
        x = self.zm.data(n, seed)
        return x, np.asarray(self.model.predict(x, verbose=0))

    def config(self, output: Path, **kw: Any) -> Any:  # noqa: ANN401
        """A ConversionConfig of this SavedModel (batch 1) writing ``output``; INT8 modes are given the
        calibration samples, with ``**kw``."""
        from converter.config import ConversionConfig, InputFormat

        if kw.get("inference_type") is not None:
            kw.setdefault("representative_dataset", self.calibration)
        return ConversionConfig(input_path=self.saved_model, output_path=output, input_format=InputFormat.SAVED_MODEL,
                                input_shapes=((1, *self.x.shape[1:]),), **kw)


def prepare(zm: ZooModel, workdir: Path, n_cal: int = 16, n_eval: int = 16) -> Prepared:
    model = zm.build()
    path = workdir / zm.name
    model.export(str(path), verbose=False)
    cal, x = zm.data(n_cal, 1), zm.data(n_eval, 2)
    np.save(workdir / f"{zm.name}_cal.npy", cal)
    return Prepared(zm, path, workdir / f"{zm.name}_cal.npy", x, np.asarray(model.predict(x, verbose=0)), model)


def convert_row(zm: ZooModel, workdir: Path, prepared: Prepared | None = None) -> ZooRow:
    import tensorflow as tf

    from converter.config import InferenceType
    from converter.pipeline import convert

    p = prepared or prepare(zm, workdir)
    row = ZooRow(zm.name, zm.kind)
    x, expected = p.x, p.expected
    cal = np.load(p.calibration)

    def ours(**kw: Any) -> Any:  # noqa: ANN401
        return convert(p.config(workdir / "out.tflite", **kw))

    flt = ours()
    row.tf_ops = flt.tf_op_counts
    row.tflite_ops = flt.ir_ops_after
    row.float_bytes = len(flt.tflite)
    got = run_litert(flt.tflite, x)
    row.float_max_rel = float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-12))

    q = dict(inference_input_type=InferenceType.FLOAT, inference_output_type=InferenceType.FLOAT)
    int8 = ours(inference_type=InferenceType.INT8, **q)
    row.int8_bytes = len(int8.tflite)
    row.int8_sqnr = sqnr_db(expected, run_litert(int8.tflite, x))
    row.float_fallback = sorted({f.op for f in int8.quantization.float_nodes})

    conv = tf.lite.TFLiteConverter.from_saved_model(str(p.saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([cal[i:i + 1]] for i in range(len(cal)))
    try:
        tf_model = conv.convert()
        row.tf_int8_bytes = len(tf_model)
        row.tf_int8_sqnr = sqnr_db(expected, run_litert(tf_model, x))
    except Exception as e:  # noqa: BLE001 - TF's failure is a result to report, not ours to raise
        row.errors["tensorflow_int8"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    if zm.kind == "cnn":
        u8 = ours(inference_type=InferenceType.QUANTIZED_UINT8, **q)
        row.uint8_sqnr = sqnr_db(expected, run_litert(u8.tflite, x))
    return row
