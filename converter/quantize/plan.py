"""From the user's flags and the graph to the quantizer's options (types inside and at the edges)."""

from __future__ import annotations

import numpy as np

from ..config import ConversionConfig, InferenceType
from ..errors import UsageError
from ..ir import Graph
from .precision import LayerPrecision, Precision, PrecisionPlan, matching_nodes, precision_of_dtype
from .qmath import INT8, INT16, UINT8
from .quantizer import FLOAT32, QuantizeOptions
from .spec import In, input_role, spec_for

_DTYPES = {InferenceType.FLOAT: FLOAT32, InferenceType.QUANTIZED_UINT8: UINT8, InferenceType.INT8: INT8,
           InferenceType.INT16X8: INT16}


def has_per_channel_fake_quant(graph: Graph) -> bool:
    """True if some weights carry a per-channel fake-quant range with more than one distinct channel range."""
    for node in graph.nodes:
        spec = spec_for(node.op)
        if spec is None:
            continue
        for i, t in enumerate(node.inputs):
            if t is None or t.qrange is None or input_role(spec, i) is not In.WEIGHT:
                continue
            r = t.qrange
            if r.per_channel and (len(set(r.min)) > 1 or len(set(r.max)) > 1):
                return True
    return False


def precision_plan(config: ConversionConfig, graph: Graph, default: Precision) -> PrecisionPlan:
    """The mode's ``default`` precision for every op, changed per layer by --int16_layers and --float_layers (a
    layer named by both is an error)."""
    base = PrecisionPlan.uniform(default, config.weight_bits,
                                 reason=f"--inference_type={config.inference_type.value}")
    floats = matching_nodes(graph, config.float_layers)
    int16 = matching_nodes(graph, config.int16_layers)
    both = [n.name for n in floats if n in int16]
    if both:
        raise UsageError(f"{len(both)} layer(s) named by both --float_layers and --int16_layers: "
                         f"{', '.join(both[:5])}{' ...' if len(both) > 5 else ''}; give each layer one precision")
    return base.with_layers({
        **{n.name: LayerPrecision(Precision.INT16X8, reason="--int16_layers") for n in int16},
        **{n.name: LayerPrecision(Precision.FLOAT, reason="kept float by --float_layers") for n in floats},
    })


def plan(config: ConversionConfig, graph: Graph) -> tuple[QuantizeOptions, list[str]]:
    """Quantizer options for ``config`` (the precision plan among them); notes say what was decided on the
    user's behalf."""
    notes: list[str] = []
    inside = _DTYPES[config.inference_type]
    per_channel = not config.per_tensor
    if config.inference_type is InferenceType.QUANTIZED_UINT8 and has_per_channel_fake_quant(graph):
        # uint8 kernels take only per-tensor weights; requantizing per-channel fake-quant weights per tensor would
        # move them off the grid they were trained on. int8 kernels run them exactly, with uint8 at the edges.
        inside = INT8
        notes.append(
            "per-channel fake-quant weights: kept int8 per-channel inside the model, uint8 inputs and outputs "
            "(QUANTIZE ops at the edges convert uint8 <-> int8 exactly)"
        )
    elif config.inference_type is InferenceType.QUANTIZED_UINT8:
        per_channel = False
    n_inputs = len(graph.inputs)
    stats = config.input_stats
    if stats and len(stats) != n_inputs:
        raise UsageError(
            f"{len(stats)} mean/std pair(s) given for {n_inputs} input(s); give one --mean_values and "
            "--std_dev_values entry per input, comma-separated"
        )
    stats_dtype = _DTYPES[config.inference_input_type or config.inference_type]
    if stats_dtype == FLOAT32:
        stats_dtype = _DTYPES[config.inference_type]
    if stats_dtype == INT16 and any(s.mean != 0 for s in stats):
        raise UsageError(
            f"--mean_values={','.join(f'{s.mean:g}' for s in stats)}: int16 inputs have zero point 0 (LiteRT's int16 "
            "kernels require it); give --mean_values=0 with the --std_dev_values that map your data onto int16"
        )
    opts = QuantizeOptions(
        plan=precision_plan(config, graph, precision_of_dtype(inside)),
        weights_per_channel=per_channel,
        int16_weights_per_channel=not config.per_tensor,
        input_dtype=np.dtype(_DTYPES[config.input_type]),
        output_dtype=np.dtype(_DTYPES[config.output_type]),
        input_stats=tuple(stats),
        stats_dtype=np.dtype(stats_dtype),
        default_range=config.default_ranges,
        default_int16_range=config.default_int16_ranges,
        allow_float_fallback=config.allow_float_fallback,
        concat_input_ranges=config.change_concat_input_ranges,
        per_channel_bias_correction=config.bias_correction,
    )
    return opts, notes
