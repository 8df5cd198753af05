"""The quantizer's options and result (``quantizer.quantize_graph``): what callers set and read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..config import InputStats
from .precision import PrecisionPlan
from .qmath import UINT8
from .rounding import LayerInputs, Rounded

FLOAT32 = np.dtype(np.float32)


@dataclass(frozen=True)
class QuantizeOptions:
    plan: PrecisionPlan  # each op's precision (quantize.precision); the quantizer resolves what kernels allow
    weights_per_channel: bool  # 8-bit layers
    input_dtype: np.dtype  # float32, uint8 or int8: what the model's users feed
    output_dtype: np.dtype
    input_stats: tuple[InputStats | None, ...] = ()
    stats_dtype: np.dtype = UINT8  # the integer type mean/std are expressed in
    default_range: tuple[float, float] | None = None
    default_int16_range: tuple[float, float] | None = None  # for int16 arrays (TOCO's default_int16_ranges)
    allow_float_fallback: bool = True
    # int16x8 layers' int8 weights: per channel (as TF's 16x8 mode) also in a uint8 model, unless --per_tensor.
    int16_weights_per_channel: bool = True
    # Per-channel input means from calibration, by tensor name: enables bias correction of per-tensor weights.
    activation_means: Mapping[str, np.ndarray] = field(default_factory=dict)
    # --change_concat_input_ranges: concatenation inputs take the output's range (True) or keep theirs (False;
    # int8 then requantizes them); None: uint8 keeps them (its kernel rescales), int8 moves them.
    concat_input_ranges: bool | None = None
    # Calibrated ranges of ops' internal values (registry.INTERNALS), by node name and value name.
    internal_ranges: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    # Bias correction also for per-channel weights (per-tensor weights always get it when means are given).
    per_channel_bias_correction: bool = False
    # --weight_rounding=adaptive: X^T X of each layer's calibration inputs, by node name (quantize.rounding); the
    # layers named here get adaptively rounded weights.
    layer_inputs: Mapping[str, LayerInputs] = field(default_factory=dict)
    # Measured output-mean shifts to remove from layers' biases, by node name (bias_correction.empirical_shifts),
    # on top of the weight-rounding correction above.
    bias_shifts: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class FloatNode:
    name: str
    op: str
    reason: str


@dataclass
class QuantizeResult:
    quantized_tensors: int = 0
    float_nodes: list[FloatNode] = field(default_factory=list)
    inserted: dict[str, int] = field(default_factory=dict)
    bias_corrected: int = 0
    shared_sum_ranges: int = 0  # adds whose addends and sum share one range (share_sum_ranges)
    notes: list[str] = field(default_factory=list)
    # The plan as resolved: every op that computes on float tensors, with the precision it runs at and why.
    plan: PrecisionPlan | None = None
    layer_ops: dict[str, str] = field(default_factory=dict)  # IR op of each node the plan names
    # Layers asked for 4-bit weights that keep 8 (no int4 kernel for them), with why.
    kept_8bit: list[FloatNode] = field(default_factory=list)
    rounded: list[Rounded] = field(default_factory=list)  # layers whose weights were rounded adaptively
