"""The per-op quantization rules, as data: what each input is, how the output's scale is chosen, which integer
kernels LiteRT has. Nothing else in the project decides these per op.

Output rules:
  FREE          the output has its own range (from fake quant, calibration or defaults);
  SAME          the output reuses input 0's scale and zero point (the kernel moves bytes, it cannot rescale);
  FIXED         the kernel's output scale/zero point is fixed (softmax, logistic: 1/256; tanh: 1/128; in int16 all
                three 1/32768, zero point 0).
Input roles:
  ACT           an activation (or a constant used like one): asymmetric per-tensor 8-bit, or symmetric int16;
  WEIGHT        weights: uint8 asymmetric per-tensor, or int8 symmetric (per-channel along ``weight_axis``);
  BIAS          int32 (int64 under int16 activations), zero point 0, scale = input scale * weight scale;
  INDEX         an integer operand (shape, axes, paddings, indices): left as it is;
  SAME_AS_OUT   an activation that must share the output's scale (concatenation/pack in int8, maximum ...);
  STATE16       a kernel's 16-bit state: int16, zero point 0, a power-of-two scale whose range covers the op's
                internal value ``internal`` as calibration observed it (the sequence LSTM's cell state).
Kernels: ``uint8``, ``int8`` and ``int16`` say which activation types LiteRT runs the op in (int16: int16x8,
int16 activations with zero point 0 and int8 weights; tests/quantize/test_int16x8.py runs every such op); ``int4``:
its int8 kernel also takes int4 weights (tests/backend/test_int4.py).
Zero fills (``zero_fill``): the kernel writes the code 0 where no input value lands (MATRIX_DIAG off the diagonal,
SCATTER_ND's cells no index names), so its output grid has zero point 0 (quantize.assign): the code 0 is
then the real 0. A uint8 grid with zero point 0 holds no negative value: those kernels run in int8 only.
Sums (``sums_inputs``): the kernel adds its two activation inputs; addends computed only for it share the output's
range, so the integer kernel adds exactly, unless the shared grid costs the add over 1 dB of rounding noise
(range_sharing.RangeSharing.share_sum_ranges).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..ir import Node


class Out(enum.Enum):
    FREE = "free"
    SAME = "same"
    FIXED = "fixed"


class In(enum.Enum):
    ACT = "act"
    WEIGHT = "weight"
    BIAS = "bias"
    INDEX = "index"
    SAME_AS_OUT = "same_as_out"
    STATE16 = "state16"


@dataclass(frozen=True)
class Fixed:
    """Kernel-imposed output quantization: scale and zero point for uint8 and for int8."""

    scale: float
    zero_point_uint8: int
    zero_point_int8: int
    # The int16 kernel's output scale (zero point 0), for ops that have one.
    scale_int16: float | None = None


@dataclass(frozen=True)
class OpQuantSpec:
    inputs: tuple[In, ...]
    output: Out = Out.FREE
    fixed: Fixed | None = None
    uint8: bool = True
    int8: bool = True
    int16: bool = False
    # The int8 kernel also reads int4 weights (int8 activations x int4 weights).
    int4: bool = False
    weight_axis: int | None = None
    # For variadic ops (concatenation, pack, add_n ...) every input has the role of inputs[0].
    variadic: bool = False
    # uint8 kernels of these ops rescale inputs themselves; int8 kernels need inputs at the output's scale.
    uint8_rescales_inputs: bool = False
    # The input whose scale a SAME output shares (split takes the axis first, the data second).
    data_input: int = 0
    # The output holds only some of an input's values (a clamp, a select), so its range need not cover the input's:
    # an input is written on the output's grid only when nothing else reads it (assign.unify_same_scale_inputs).
    drops_values: bool = False
    # The kernel adds its activation inputs: on one grid in and out it adds exactly (no rounding of the sum).
    sums_inputs: bool = False
    # The kernel reads quantized inputs but writes float outputs, which stay float in the quantized model.
    float_outputs: bool = False
    # The kernel compares its two inputs: a constant one is quantized on the other input's grid (the threshold is
    # then exact on that grid, and a lone 0 does not get the degenerate scale 1, which LiteRT's comparison kernels
    # abort on: they take input scales below 1).
    const_on_peer_grid: bool = False
    # The kernel writes the code 0 for real zeros it fills in: the output's zero point must be 0 (int8, int16).
    zero_fill: bool = False
    # The kernel adds the codes of updates that land on one cell: only a constant index input (this one) without
    # repeated indices runs as an integer kernel (8-bit codes would wrap around, silently).
    unique_indices: int | None = None
    # (bias input, weight input) pairs: the bias scale is input 0's scale times that weight's (default: the weight
    # before the bias).
    bias_weights: tuple[tuple[int, int], ...] = ()
    # The internal value (registry.INTERNALS) whose calibrated range sets STATE16 inputs.
    internal: str | None = None
    # The output's range widens to cover its SAME_AS_OUT activation inputs' ranges, as far as these bounds (the
    # sequence LSTM reads its initial hidden state on the output's grid, where one outside the outputs' calibrated
    # range would be clipped; a hidden state o * tanh(c) lies in (-1, 1)).
    output_covers_same: tuple[float, float] | None = None


# LiteRT's int16 softmax, logistic and tanh all write 2^-15 (tanh: [-1, 1); the others [0, 1)).
SOFTMAX_FIXED = Fixed(scale=1.0 / 256.0, zero_point_uint8=0, zero_point_int8=-128, scale_int16=2.0**-15)
TANH_FIXED = Fixed(scale=1.0 / 128.0, zero_point_uint8=128, zero_point_int8=0, scale_int16=2.0**-15)
# LOG_SOFTMAX (lite/kernels/activations.cc): outputs in [-16, 0) on scale 16/256, the top code at 0.
LOG_SOFTMAX_FIXED = Fixed(scale=16.0 / 256.0, zero_point_uint8=255, zero_point_int8=127)
# L2_NORMALIZATION (lite/kernels/l2norm.cc): outputs in [-1, 1] on scale 1/128, centred.
L2_NORM_FIXED = Fixed(scale=1.0 / 128.0, zero_point_uint8=128, zero_point_int8=0)

A, W, B, I, S = In.ACT, In.WEIGHT, In.BIAS, In.INDEX, In.SAME_AS_OUT

# UNIDIRECTIONAL_SEQUENCE_LSTM's 8x8_16 kernel (lite/kernels/lstm_eval.cc, as TensorFlow's quantizer feeds it): int8
# input; int8 symmetric per-tensor weights, one scale per gate matrix (absent peepholes, projection and layer norms);
# int32 gate biases at input scale x that gate's input weight scale; the output state (input 18) on the output's
# grid; the cell state (input 19) int16 with a power-of-two scale; gates are computed in Q3.12 internally.
_LSTM_INPUTS = (A, W, W, W, W, W, W, W, W, W, W, W, B, B, B, B, W, B, S, In.STATE16, I, I, I, I)

SPECS: dict[str, OpQuantSpec] = {
    "conv_2d": OpQuantSpec((A, W, B), weight_axis=0, int16=True, int4=True),
    "depthwise_conv_2d": OpQuantSpec((A, W, B), weight_axis=3, int16=True, int4=True),
    "fully_connected": OpQuantSpec((A, W, B), weight_axis=0, int16=True, int4=True),
    "transpose_conv": OpQuantSpec((I, W, A), weight_axis=0, data_input=2, int16=True),
    "space_to_depth": OpQuantSpec((A,), Out.SAME),
    "space_to_batch_nd": OpQuantSpec((A, I, I), Out.SAME),
    "batch_to_space_nd": OpQuantSpec((A, I, I), Out.SAME),
    "depth_to_space": OpQuantSpec((A,), Out.SAME),
    "add": OpQuantSpec((A, A), sums_inputs=True, int16=True),
    "sub": OpQuantSpec((A, A), int16=True),
    "mul": OpQuantSpec((A, A), int16=True),
    "div": OpQuantSpec((A, A)),
    "squared_difference": OpQuantSpec((A, A), uint8=False),
    # A clamp (minimum/maximum with a constant, tf.clip_by_value) gets its own, clamped, range: its inputs are
    # requantized onto it (saturating, which is the clamp) or written at it by their producer. With the input's
    # range instead, clip(x, -0.5, 2) of x in [-6, 6] spent ~80% of the codes on values it never outputs.
    "maximum": OpQuantSpec((S, S), drops_values=True, int16=True),
    "minimum": OpQuantSpec((S, S), drops_values=True, int16=True),
    "average_pool_2d": OpQuantSpec((A,), Out.SAME, int16=True),
    "max_pool_2d": OpQuantSpec((A,), Out.SAME, int16=True),
    "mean": OpQuantSpec((A, I), int16=True),
    "sum": OpQuantSpec((A, I), int16=True),
    "reduce_max": OpQuantSpec((A, I), Out.SAME, int16=True),
    "reduce_min": OpQuantSpec((A, I), Out.SAME, int16=True),
    "concatenation": OpQuantSpec((S,), Out.FREE, variadic=True, uint8_rescales_inputs=True, int16=True),
    "pack": OpQuantSpec((S,), Out.FREE, variadic=True, int16=True),
    "unpack": OpQuantSpec((A,), Out.SAME, int16=True),
    "reshape": OpQuantSpec((A, I), Out.SAME, int16=True),
    "expand_dims": OpQuantSpec((A, I), Out.SAME),
    "identity": OpQuantSpec((A,), Out.SAME),
    "gather_nd": OpQuantSpec((A, I), Out.SAME),
    "topk_v2": OpQuantSpec((A, I), Out.SAME),
    # The kernel copies the input and the diagonal: both at the output's scale.
    "matrix_set_diag": OpQuantSpec((S, S)),
    # They copy the input at the output's scale and fill the rest with the code 0 (lite/kernels/matrix_diag.cc,
    # scatter_nd.cc; int8 kernels since version 1, as TensorFlow's converter writes them).
    "matrix_diag": OpQuantSpec((S,), uint8=False, zero_fill=True),
    "scatter_nd": OpQuantSpec((I, S, I), uint8=False, zero_fill=True, unique_indices=0),
    # Copies the values to the indexed cells and the default value to the others (lite/kernels/sparse_to_dense.cc,
    # int8/uint8 at version 3): both on the output's grid.
    "sparse_to_dense": OpQuantSpec((I, I, S, S)),
    # lite/kernels/reverse_sequence.cc takes uint8 and int16 but not int8 (TensorFlow's INT8 model fails in LiteRT).
    "reverse_sequence": OpQuantSpec((A, I), Out.SAME, int8=False),
    "broadcast_to": OpQuantSpec((A, I), Out.SAME, int16=True),
    "fill": OpQuantSpec((I, A), Out.SAME, data_input=1, int16=True),
    "squeeze": OpQuantSpec((A,), Out.SAME, int16=True),
    "transpose": OpQuantSpec((A, I), Out.SAME, int16=True),
    "pad": OpQuantSpec((A, I), Out.SAME, int16=True),
    "padv2": OpQuantSpec((A, I, S), Out.SAME, int16=True),
    "mirror_pad_reflect": OpQuantSpec((A, I), Out.SAME, int16=True),
    "mirror_pad_symmetric": OpQuantSpec((A, I), Out.SAME, int16=True),
    "strided_slice": OpQuantSpec((A, I, I, I), Out.SAME, int16=True),
    "slice": OpQuantSpec((A, I, I), Out.SAME, int16=True),
    "split": OpQuantSpec((I, A), Out.SAME, data_input=1, int16=True),
    "split_v": OpQuantSpec((A, I, I), Out.SAME, int16=True),
    "gather": OpQuantSpec((A, I), Out.SAME, int16=True),
    "tile": OpQuantSpec((A, I), Out.SAME, int16=True),
    "reverse_v2": OpQuantSpec((A, I), Out.SAME, int16=True),
    # The kernel copies x or y by the bool condition: both at the output's scale (its calibrated range covers both).
    "select_v2": OpQuantSpec((I, S, S), drops_values=True, int16=True),
    "select": OpQuantSpec((I, S, S), drops_values=True),
    "resize_bilinear": OpQuantSpec((A, I), Out.SAME, int16=True),
    "resize_nearest_neighbor": OpQuantSpec((A, I), Out.SAME, int16=True),
    "softmax": OpQuantSpec((A,), Out.FIXED, SOFTMAX_FIXED, int16=True),
    "logistic": OpQuantSpec((A,), Out.FIXED, SOFTMAX_FIXED, int16=True),
    "tanh": OpQuantSpec((A,), Out.FIXED, TANH_FIXED, int16=True),
    "log_softmax": OpQuantSpec((A,), Out.FIXED, LOG_SOFTMAX_FIXED),
    "l2_normalization": OpQuantSpec((A,), Out.FIXED, L2_NORM_FIXED),
    # alpha is a constant operand with its own scale (the kernel rescales both branches to the output).
    "prelu": OpQuantSpec((A, A)),
    "relu": OpQuantSpec((A,), int16=True),
    "relu6": OpQuantSpec((A,), int16=True),
    "relu_n1_to_1": OpQuantSpec((A,)),
    "leaky_relu": OpQuantSpec((A,), int16=True),
    "hard_swish": OpQuantSpec((A,)),
    "elu": OpQuantSpec((A,), uint8=False),
    "gelu": OpQuantSpec((A,), int16=True),
    "batch_matmul": OpQuantSpec((A, A), uint8=False, int16=True),
    "rsqrt": OpQuantSpec((A,), uint8=False, int16=True),
    "exp": OpQuantSpec((A,), uint8=False, int16=True),
    "neg": OpQuantSpec((A,), uint8=False, int16=True),
    # Integer kernels TensorFlow's INT8 conversion uses (probed in LiteRT by tests/frontend/test_op_table.py).
    "log": OpQuantSpec((A,), uint8=False),
    "sqrt": OpQuantSpec((A,), uint8=False),
    "abs": OpQuantSpec((A,), uint8=False),
    "reduce_prod": OpQuantSpec((A, I), uint8=False),
    # Comparisons and arg min/max read quantized activations (each input on its own grid) and write bool / indices.
    "less": OpQuantSpec((A, A), const_on_peer_grid=True),
    "less_equal": OpQuantSpec((A, A), const_on_peer_grid=True),
    "greater": OpQuantSpec((A, A), const_on_peer_grid=True),
    "greater_equal": OpQuantSpec((A, A), const_on_peer_grid=True),
    "equal": OpQuantSpec((A, A), const_on_peer_grid=True),
    "not_equal": OpQuantSpec((A, A), const_on_peer_grid=True),
    "arg_max": OpQuantSpec((A, I)),
    "arg_min": OpQuantSpec((A, I)),
    "unidirectional_sequence_lstm": OpQuantSpec(_LSTM_INPUTS, uint8=False, bias_weights=((12, 1), (13, 2), (14, 3),
                                                                                          (15, 4)),
                                                internal="cell_state",
                                                output_covers_same=(-1.0, 1.0)),
}


# Ops with no integer rule on purpose, and the reason reported with the float islands. Control flow keeps its
# subgraphs float: a quantized condition can change a loop's trip count or the branch taken (TensorFlow's converter
# quantizes inside the subgraphs and loses most of the signal on such loops), and the WHILE / IF operators only
# move tensors, so their operands are dequantized at the boundary.
FLOAT_REASONS: dict[str, str] = {
    "while": "control flow: the loop's subgraphs run in float, so its trip count follows the float model",
    "if": "control flow: the branches run in float, so the branch taken follows the float model",
}

# TensorFlow ops whose lowering (every IR node of it, by ``Node.tf_op``) stays float in the integer modes, though
# LiteRT has integer kernels for its builtins: 8-bit rounding between its steps leaves nothing of the result.
FLOAT_LOWERINGS: dict[str, str] = {
    "Lgamma": "Lgamma's 57-op series stays float: 8-bit rounding between its steps leaves nothing of the result "
              "(-8 dB SQNR measured; TensorFlow's INT8 model fails in LiteRT)",
}


# Random ops' outputs: calibration sees the numbers a model draws in its first invocations (the references draw
# LiteRT's), later invocations draw others, so the range covers the distribution too: uniform draws lie in [0, 1);
# standard normal ones within 4 sigma but for 6.3e-5 of them, where the 8-bit grid over [-4, 4] still leaves the
# draws' quantization noise 41 dB under their variance (a range from 256 draws, about +-2.9, clips 0.4% of them).
DISTRIBUTION_RANGES: dict[str, tuple[float, float]] = {"random_uniform": (0.0, 1.0),
                                                       "random_standard_normal": (-4.0, 4.0)}

# Custom ops whose node says they take quantized data (TF attribute _output_quantized, e.g. the SSD exporter's
# TFLite_Detection_PostProcess): every input quantized on its own range (a constant on its min/max with 0 included,
# as TOCO quantized the detection anchors); outputs on their own range or, with
# _support_output_type_float_in_quantized_op, left float. Custom ops without the attribute have no row: they stay
# float, behind DEQUANTIZE / before QUANTIZE.
CUSTOM_QUANTIZED = OpQuantSpec((A,), variadic=True)
CUSTOM_QUANTIZED_FLOAT_OUTPUTS = OpQuantSpec((A,), variadic=True, float_outputs=True)


def node_spec(node: Node) -> OpQuantSpec | None:
    """The rule for ``node``: its op's row; for a custom op, the one its attributes ask for (or none)."""
    if node.op == "custom":
        if not getattr(node.attrs, "quantized", False):
            return None
        return CUSTOM_QUANTIZED_FLOAT_OUTPUTS if getattr(node.attrs, "float_outputs", False) else CUSTOM_QUANTIZED
    return spec_for(node.op)


def spec_for(op: str) -> OpQuantSpec | None:
    """The rule for ``op``, or None when it has no integer kernel (it stays float)."""
    return SPECS.get(op)


def input_role(spec: OpQuantSpec, index: int) -> In:
    if spec.variadic:
        return spec.inputs[0]
    return spec.inputs[index] if index < len(spec.inputs) else In.INDEX


def has_kernel(spec: OpQuantSpec | None, dtype: np.dtype) -> bool:
    """Whether LiteRT runs the op with ``dtype`` (uint8, int8 or int16) activations."""
    if spec is None:
        return False
    return {np.dtype(np.uint8): spec.uint8, np.dtype(np.int16): spec.int16}.get(np.dtype(dtype), spec.int8)
