"""Issue 13's ranking check, shared by the CLI report test and the trained-model tests: convert with
--debug_layers, keep the layer ranked first float (its --float_layers pattern), and measure both models' output SQNR
on held-out data in LiteRT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


# The reason a data-moving op between float ops stays float (quantize/choose.py, float_moves.py): keeping the first
# conv float keeps the Pad before it float too when the model's input is float (resnet50's conv1_pad).
MOVES = "moves data between float ops"


@dataclass(frozen=True)
class TopLayerFloat:
    top: Any  # debug_layers.LayerReport ranked first  # noqa: ANN401
    sqnr_before: float  # held-out output SQNR of the INT8 model, dB
    sqnr_after: float  # the same with the top layer float
    kept: set[str]  # the nodes the second conversion kept float (not counting data-moving ops next to them)
    before: np.ndarray  # held-out outputs of the INT8 model
    after: np.ndarray  # ... with the top layer float
    layers: list[Any]  # every debug_layers.LayerReport, ranked

    def gain_noise_db(self, expected: np.ndarray) -> float:
        """The standard error of the held-out SQNR gain ``sqnr_after - sqnr_before`` as an estimate over the
        population the held-out inputs are drawn from (jackknife: the gain recomputed without each input in turn,
        first axis of ``expected``): how far the gain would move on another draw of held-out inputs."""
        from converter.quantize.sensitivity import jackknife_gain_db, sample_noise

        ref = [np.asarray(expected, np.float64)]
        return jackknife_gain_db(sample_noise(ref, [self.before]), sample_noise(ref, [self.after]))[1]


def keep_top_layer_float(config: Callable[..., Any], x: np.ndarray, expected: np.ndarray, litert: Any,
                         sqnr: Any, **debug: Any) -> TopLayerFloat:  # noqa: ANN401
    """``config(**fields)`` builds a ConversionConfig; ``x``/``expected``: held-out inputs and float outputs."""
    from converter.pipeline import convert

    first = convert(config(debug_layers=True, **debug))
    top = first.debug.layers[0]
    second = convert(config(float_layers=(top.pattern,)))
    before, after = litert(first.tflite).run(x)[0], litert(second.tflite).run(x)[0]
    return TopLayerFloat(top, sqnr(expected, before), sqnr(expected, after),
                         {f.name for f in second.quantization.float_nodes if not f.reason.startswith(MOVES)}, before,
                         after, first.debug.layers)
