"""Bias correction (Nagel et al. 2019, 'Data-free quantization through weight equalization and bias correction'):
the rounding of a layer's weights moves the mean of each output channel; the shift, estimated from the mean of the
layer's input on the calibration data, is subtracted from the bias."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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




LAYER_OPS = ("conv_2d", "depthwise_conv_2d", "fully_connected")
MAX_LEVELS = 8  # layers deeper than this many corrected layers keep their bias (one simulation per level)


def empirical_shifts(graph: Graph, opts: Any, inputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:  # noqa: ANN401
    """Sequential empirical bias correction (Nagel et al. 2019, section 4.2, measured instead of modelled): the
    per-channel mean of each layer's pre-activation output in the simulated integer model (``opts``, on
    ``inputs``) minus its mean in the float model, E[y_q] - E[y], removed from the layer's bias. Unlike
    ``correction`` it covers what reaches the layer from above: rounding and clipping upstream and the bias they
    leave after nonlinearities (E[relu(x + n)] > E[relu(x)]). Layers are corrected level by level (a layer's level
    is the number of corrected layers on its longest path from the inputs), each measured with every layer above it
    already corrected, so a shift is not counted twice; one simulation per level, ``MAX_LEVELS`` at most. Layers
    without a bias input (and float layers) are left alone. Returns node name -> shift (added to
    ``QuantizeOptions.bias_shifts``' sense: subtracted from the bias)."""
    from dataclasses import replace  # noqa: PLC0415

    from .grids import resolve_grids  # noqa: PLC0415 (quantizer imports this module)
    from .quantizer import quantize_graph  # noqa: PLC0415
    from .sensitivity import (Simulated, dequantized_constants, evaluate, on_grid, resimulate,  # noqa: PLC0415
                              with_precision)

    grids = resolve_grids(graph, opts)
    layers = {id(n): n for n in graph.nodes if n.op in LAYER_OPS and n.name in grids.integer and len(n.inputs) > 2
              and n.inputs[1] is not None and n.inputs[1].is_const and n.inputs[2] is not None
              and n.inputs[2].is_const}
    if not layers:
        return {}
    depth: dict[str, int] = {}
    level: dict[str, int] = {}
    for node in graph.nodes:
        d = max((depth.get(t.name, 0) for t in node.inputs if t is not None and not t.is_const), default=0)
        if id(node) in layers:
            level[node.name] = d
            d += 1
        for t in node.outputs:
            depth[t.name] = d

    def channel_mean(node: Node, env: Mapping[str, np.ndarray], consts: Sequence[Any] | None,
                     integer: bool) -> np.ndarray:
        args = [None if t is None else
                (consts[i] if consts is not None and i < len(consts) and consts[i] is not None else t.data)
                if t.is_const else
                (on_grid(env[t.name], p) if integer and (p := grids.read(node.name, i)) is not None
                 else env[t.name]) for i, t in enumerate(node.inputs)]
        attrs = node.attrs
        try:  # the pre-activation output: the layer without its fused activation
            if getattr(attrs, "activation", None) is not None:
                node.attrs = replace(attrs, activation=type(attrs.activation).NONE)  # type: ignore[type-var]
            y = evaluate(node, args)[0]
        finally:
            node.attrs = attrs
        return np.asarray(y, np.float64).reshape(-1, y.shape[-1]).mean(axis=0)

    def reads(nodes: Sequence[Node]) -> set[str]:  # what the simulations must compute: these layers' inputs
        return {t.name for n in nodes for t in n.inputs if t is not None and not t.is_const}

    everything = [n.name for n in graph.nodes]
    corrected = [n for n in layers.values() if level[n.name] < MAX_LEVELS]
    float_env = resimulate(graph, inputs, resolve_grids(graph, with_precision(opts, everything)), {},
                           until=reads(corrected)).env
    want = {n.name: channel_mean(n, float_env, None, False) for n in corrected}
    shifts: dict[str, np.ndarray] = {}
    last: Simulated | None = None  # the previous level's simulation: the nodes no new shift reaches are reused
    for lv in range(min(MAX_LEVELS, max(level.values()) + 1)):
        todo = [n for n in layers.values() if level[n.name] == lv]
        if not todo:
            continue
        copy = graph.copy()
        quantize_graph(copy, replace(opts, bias_shifts={**opts.bias_shifts, **shifts}))
        consts = dequantized_constants(copy)
        last = resimulate(graph, inputs, grids, consts, until=reads(todo), previous=last)
        env = last.env
        for n in todo:
            shift = channel_mean(n, env, consts.get(n.name), True) - want[n.name]
            if shift.shape == np.shape(n.inputs[2].data):  # type: ignore[union-attr]
                shifts[n.name] = shift
    return shifts
