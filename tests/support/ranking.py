"""Issue 13's ranking check, shared by the CLI report test and the trained-model tests: convert with
--debug_layers, keep the layer ranked first float (its --float_layers pattern), and measure both models' output SQNR
on held-out data in LiteRT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TopLayerFloat:
    top: Any  # debug_layers.LayerReport ranked first  # noqa: ANN401
    sqnr_before: float  # held-out output SQNR of the INT8 model, dB
    sqnr_after: float  # the same with the top layer float
    kept: set[str]  # the nodes the second conversion kept float


def keep_top_layer_float(config: Callable[..., Any], x: np.ndarray, expected: np.ndarray, litert: Any,
                         sqnr: Any, **debug: Any) -> TopLayerFloat:  # noqa: ANN401
    """``config(**fields)`` builds a ConversionConfig; ``x``/``expected``: held-out inputs and float outputs."""
    from converter.pipeline import convert

    first = convert(config(debug_layers=True, **debug))
    top = first.debug.layers[0]
    second = convert(config(float_layers=(top.pattern,)))
    return TopLayerFloat(top, sqnr(expected, litert(first.tflite).run(x)[0]),
                         sqnr(expected, litert(second.tflite).run(x)[0]),
                         {f.name for f in second.quantization.float_nodes})
