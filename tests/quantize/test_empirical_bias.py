"""Sequential empirical bias correction (bias_correction.empirical_shifts, a candidate of --optimize=accuracy): the
per-channel mean error of each layer's pre-activation output, measured in the simulated integer model with the
layers above already corrected, leaves the bias. Checked in LiteRT against the float model computed in numpy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from converter.backend.writer import write_tflite
from converter.ir import Activation
from converter.quantize.bias_correction import empirical_shifts
from converter.quantize.precision import Precision, PrecisionPlan
from converter.quantize.quantizer import FLOAT32, QuantizeOptions, quantize_graph
from tests.support.ir_models import Layer, build, calibrated, litert_run

# Per-tensor weights: one large weight per layer makes the grid coarse, so rounding moves channel means.
OPTS = QuantizeOptions(plan=PrecisionPlan.uniform(Precision.INT8), weights_per_channel=False, input_dtype=FLOAT32,
                       output_dtype=FLOAT32)


def _layers() -> list[Layer]:
    rng = np.random.default_rng(3)
    w1 = rng.standard_normal((32, 16)) * 0.2
    w1[0, 0] = 6.0
    w2 = rng.standard_normal((8, 32)) * 0.2
    w2[0, 0] = 4.0
    return [Layer("fully_connected", w1, rng.standard_normal(32) * 0.1, Activation.RELU),
            Layer("fully_connected", w2, rng.standard_normal(8) * 0.1)]


def _float(layers: list[Layer], x: np.ndarray) -> np.ndarray:
    h = np.maximum(x @ layers[0].weights.T + layers[0].bias, 0)
    return h @ layers[1].weights.T + layers[1].bias


def test_empirical_shifts_remove_the_output_mean_error(tf: Any) -> None:  # noqa: ANN401
    """Held out (other samples than the 256 measured on), in LiteRT: the output's per-channel mean error falls to
    under a third and the SQNR rises. Each layer's shift is a mean over 256 samples of errors of about one weight
    step times the input, so what stays is sampling noise of that mean, several times below the rounding bias."""
    rng = np.random.default_rng(0)
    x_cal = (rng.standard_normal((256, 16)) + 0.5).astype(np.float32)
    x_held = (rng.standard_normal((512, 16)) + 0.5).astype(np.float32)
    layers = _layers()
    expected = _float(layers, x_held.astype(np.float64))

    model = calibrated(build((1, 16), layers), x_cal)
    shifts = empirical_shifts(model.graph, OPTS, [x_cal])
    assert sorted(shifts) == sorted(n.name for n in model.graph.nodes if n.op == "fully_connected")

    def run(opts: QuantizeOptions) -> np.ndarray:
        g = model.graph.copy()
        quantize_graph(g, opts)
        return litert_run(write_tflite(g), x_held).astype(np.float64)

    plain, corrected = run(OPTS), run(replace(OPTS, bias_shifts=shifts))
    bias_plain = np.linalg.norm((plain - expected).mean(axis=0))
    bias_corrected = np.linalg.norm((corrected - expected).mean(axis=0))

    def sqnr(y: np.ndarray) -> float:
        return float(10 * np.log10(np.sum(expected**2) / np.sum((y - expected) ** 2)))

    print(f"held-out mean error {bias_plain:.4f} -> {bias_corrected:.4f}; SQNR {sqnr(plain):.2f} -> "
          f"{sqnr(corrected):.2f} dB")
    assert bias_corrected < bias_plain / 3
    assert sqnr(corrected) > sqnr(plain)
