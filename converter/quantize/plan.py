"""From the user's flags and the graph to the quantizer's options (types inside and at the edges)."""

from __future__ import annotations

import numpy as np

from ..config import ConversionConfig, InferenceType, InputStats
from ..errors import UsageError
from ..ir import Graph
from .precision import LayerPrecision, Precision, PrecisionPlan, matching_nodes, precision_of_dtype
from .qmath import INT8, INT16, UINT8, round_half_away
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
    stats_dtype = stats_units(config)
    if stats_dtype == INT16 and images_calibrate(config):
        # int16 inputs have zero point 0: the pixel statistics only normalize the images; calibration gives the
        # input's scale.
        notes.append("int16 input: --mean_values/--std_dev_values normalize the calibration images; the input's "
                     "scale comes from calibration (zero point 0)")
        stats = ()
    if stats_dtype == INT16 and any(s.mean != 0 for s in stats):
        raise UsageError(
            f"--mean_values={','.join(f'{s.mean:g}' for s in stats)}: int16 inputs have zero point 0 (LiteRT's int16 "
            "kernels require it); give --mean_values=0 with the --std_dev_values that map your data onto int16"
        )
    names = list(graph.signature.input_names) if graph.signature and \
        len(graph.signature.input_names) == n_inputs else [t.name for t in graph.inputs]
    for name, st in zip(names, stats, strict=False):
        check_mean(config, st, stats_dtype, name)
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


def images_calibrate(config: ConversionConfig) -> bool:
    """The representative dataset is a directory of images: mean/std are then pixel statistics."""
    return config.representative_dataset is not None and config.representative_dataset.is_dir()


def stats_units(config: ConversionConfig) -> np.dtype:
    """The integer values --mean_values/--std_dev_values describe (real = (q - mean) / std):

    * int16 (an int16 input, or a float one of an INT16X8 model): int16 values, zero point 0;
    * else with calibration images: their pixels, 0..255, whatever the input type (an int8 input takes pixel - 128);
    * a uint8 or int8 input: its own values (uint8: TOCO's rule; int8: TensorFlow's converter's rule);
    * a float input: values of --inference_type, quantized inside the model by a QUANTIZE op."""
    fed = _DTYPES[config.input_type if config.input_type.is_quantized else config.inference_type]
    if fed == INT16:
        return np.dtype(INT16)
    if images_calibrate(config):
        return np.dtype(UINT8)
    return np.dtype(fed)


def check_mean(config: ConversionConfig, st: InputStats, units: np.dtype, name: str) -> None:
    """The zero point a mean gives (rounded as TOCO rounds it) must be a value of its integer type."""
    info = np.iinfo(units)
    zp = int(round_half_away(np.array(st.mean)))
    if info.min <= zp <= info.max:
        return
    flag = f"--mean_values={st.mean:g} (input {name!r})"
    if images_calibrate(config):
        raise UsageError(f"{flag}: with a directory of calibration images, mean/std are pixel statistics and the "
                         "mean must lie in [0, 255] (images are normalized as (pixel - mean) / std)")
    if units == np.dtype(INT8):
        fed = "int8 inputs" if config.input_type.is_quantized else "float inputs and --inference_type=INT8"
        hint = (f"for statistics of 0..255 values (uint8 pixels) subtract 128 from their zero point {zp} "
                f"(--mean_values={zp - 128}), " if 0 <= zp <= 255 else "")
        raise UsageError(
            f"{flag} is outside int8's [-128, 127]: with {fed}, real = (q - mean) / std for the int8 value q; "
            f"{hint}or feed uint8 with --inference_input_type=QUANTIZED_UINT8"
        )
    raise UsageError(f"{flag} is outside uint8's [0, 255]: with uint8 inputs, real = (q - mean) / std for the uint8 "
                     "value q; give the mean of the 0..255 values")
