"""The output error per-tensor weight quantization alone causes (cross-layer equalization's target), measured on
the float IR: shared by the equalization pass test and the trained-model test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LAYERS = ("conv_2d", "depthwise_conv_2d", "fully_connected")


def per_tensor_weight_sqnr(graph: object, inputs: Sequence[np.ndarray], reference: np.ndarray) -> float:
    """Output SQNR (dB) against ``reference`` of ``graph`` (an IR Graph, not modified) run on ``inputs`` with every
    layer's weights rounded onto a symmetric per-tensor int8 grid (scale = max |W| / 127), everything else float."""
    from converter.frontend.reference import ReferenceExecutor

    g = graph.copy()  # type: ignore[attr-defined]
    for n in g.nodes:
        if n.op in LAYERS:
            w = n.input(1)
            scale = float(np.abs(w.data).max()) / 127
            g.set_input(n, 1, g.const(w.name, (np.round(w.data / scale) * scale).astype(np.float32)))
    out = ReferenceExecutor(g)(list(inputs))[0].astype(np.float64)
    ref = np.asarray(reference, np.float64)
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - out) ** 2)))
