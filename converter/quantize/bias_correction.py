"""Bias correction (Nagel et al. 2019, 'Data-free quantization through weight equalization and bias correction'):
the rounding of a layer's weights moves the mean of each output channel; the shift, estimated from the mean of the
layer's input on the calibration data, is subtracted from the bias."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import Graph, Node, QuantParams, Tensor
from .params import quantize_const
from .qmath import dequantize_array


def correction(node: Node, w: Tensor, p: QuantParams, means: Mapping[str, np.ndarray],
               codes: np.ndarray | None = None) -> np.ndarray | None:
    """Bias correction (Nagel et al. 2019, 'Data-free quantization'): per-tensor weight rounding shifts each
    output channel's mean by E[(Wq - W) x] = sum_k (Wq - W)[c, k] * E[x_k]; subtracting it from the bias removes
    that systematic error. E[x] per input channel comes from calibration (border padding is ignored). Per-channel
    weights (``p.axis``) are rounded per channel, so each channel's shift uses its own scale. ``codes``: the
    weights' integer values where they are not rounded to nearest (adaptive rounding)."""
    x = node.inputs[0]
    mean = means.get(x.name) if x is not None else None
    if mean is None:
        return None
    if codes is None:
        codes = quantize_const(w, p, narrow_range=p.dtype == np.int8)
    err = dequantize_array(codes, np.asarray(p.scale),
                           np.asarray(p.zero_point), p.axis) - w.data
    return mean_shift(node, err, mean)


def mean_shift(node: Node, err: np.ndarray, mean: np.ndarray) -> np.ndarray | None:
    """How much a change ``err`` of ``node``'s weights moves each output channel's mean, E[err x], for inputs with
    per-channel mean ``mean`` (None for layers this does not cover)."""
    if node.op == "conv_2d" and err.shape[3] == mean.shape[0]:  # OHWI
        return np.einsum("ohwi,i->o", err, mean)
    if node.op == "depthwise_conv_2d" and err.shape[3] % mean.shape[0] == 0:  # [1, H, W, C*M]: c reads c // M
        mult = err.shape[3] // mean.shape[0]
        return err.sum(axis=(0, 1, 2)) * np.repeat(mean, mult)
    if node.op == "fully_connected" and err.shape[1] == mean.shape[0]:
        return err @ mean
    return None


def bias_correction_inputs(graph: Graph) -> set[str]:
    """Names of the activations whose per-channel mean ``correction`` uses (data inputs of layers with constant
    weights), so calibration gathers E[x] only for them and only when weights are per-tensor."""
    return {n.inputs[0].name for n in graph.nodes
            if n.op in ("conv_2d", "depthwise_conv_2d", "fully_connected") and n.inputs[0] is not None
            and len(n.inputs) > 1 and n.inputs[1] is not None and n.inputs[1].is_const}


