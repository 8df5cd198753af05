"""Typed node attributes. One frozen dataclass per attribute shape; ops that need none use ``NoAttrs``."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Graph


class Padding(enum.Enum):
    SAME = "SAME"
    VALID = "VALID"


class Activation(enum.Enum):
    """Fused activation functions, as TFLite's ActivationFunctionType spells them."""

    NONE = "NONE"
    RELU = "RELU"
    RELU_N1_TO_1 = "RELU_N1_TO_1"
    RELU6 = "RELU6"
    TANH = "TANH"

    @property
    def clamp(self) -> tuple[float, float] | None:
        """The real interval a clamping activation maps onto, or None if it does not clamp."""
        return _CLAMPS.get(self)


_CLAMPS = {
    Activation.RELU: (0.0, float("inf")),
    Activation.RELU6: (0.0, 6.0),
    Activation.RELU_N1_TO_1: (-1.0, 1.0),
}


@dataclass(frozen=True)
class NoAttrs:
    pass


@dataclass(frozen=True)
class FusedActivationAttrs:
    """Elementwise binary ops (add, sub, mul, div) and others that only carry a fused activation."""

    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class Conv2DAttrs:
    stride: tuple[int, int]
    padding: Padding
    dilation: tuple[int, int] = (1, 1)
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class DepthwiseConv2DAttrs:
    stride: tuple[int, int]
    padding: Padding
    depth_multiplier: int
    dilation: tuple[int, int] = (1, 1)
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class TransposeConvAttrs:
    stride: tuple[int, int]
    padding: Padding
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class FullyConnectedAttrs:
    activation: Activation = Activation.NONE
    keep_num_dims: bool = False
    # Hybrid (dynamic-range) kernels: quantize the float input asymmetrically on the fly.
    asymmetric_quantize_inputs: bool = False


@dataclass(frozen=True)
class Pool2DAttrs:
    filter: tuple[int, int]
    stride: tuple[int, int]
    padding: Padding
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class AxisAttrs:
    """Ops parameterised by a single axis (concatenation, pack, unpack, gather, arg_max ...)."""

    axis: int
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class ReduceAttrs:
    """mean / sum / reduce_max; the axes are the op's second (constant) input."""

    keep_dims: bool


@dataclass(frozen=True)
class SoftmaxAttrs:
    beta: float = 1.0


@dataclass(frozen=True)
class ReshapeAttrs:
    new_shape: tuple[int, ...]


@dataclass(frozen=True)
class SqueezeAttrs:
    axes: tuple[int, ...]


@dataclass(frozen=True)
class StridedSliceAttrs:
    begin_mask: int = 0
    end_mask: int = 0
    ellipsis_mask: int = 0
    new_axis_mask: int = 0
    shrink_axis_mask: int = 0
    offset: bool = False


@dataclass(frozen=True)
class ResizeAttrs:
    align_corners: bool = False
    half_pixel_centers: bool = False


@dataclass(frozen=True)
class LeakyReluAttrs:
    alpha: float


@dataclass(frozen=True)
class GeluAttrs:
    approximate: bool = False


@dataclass(frozen=True)
class BatchMatMulAttrs:
    adj_x: bool = False
    adj_y: bool = False


@dataclass(frozen=True)
class SplitAttrs:
    num_splits: int


@dataclass(frozen=True)
class BatchNormAttrs:
    """y = (x - mean) * gamma / sqrt(var + epsilon) + beta, over the last axis; inputs: x, gamma, beta, mean, var."""

    epsilon: float


@dataclass(frozen=True)
class FakeQuantAttrs:
    """TensorFlow FakeQuant*: inputs are x (and min, max tensors for the Vars forms). ``axis`` is set for the
    per-channel form (the last axis of x). ``min``/``max`` are set for the Args form."""

    num_bits: int = 8
    narrow_range: bool = False
    min: float | None = None
    max: float | None = None
    axis: int | None = None


@dataclass(frozen=True)
class BlockAttrs:
    """space_to_depth / depth_to_space."""

    block_size: int


@dataclass(frozen=True)
class CastAttrs:
    to: str


@dataclass(frozen=True)
class SequenceLSTMAttrs:
    """A whole-sequence LSTM (TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM). Inputs in TFLite's order: x; input-to-gate
    weights for gates i, f, c, o [H, F]; recurrent weights [H, H]; 3 peephole weights (absent); gate biases [H];
    projection weights and bias (absent); initial h [B, H] and c [B, H]; 4 layer-norm weights (absent). One output:
    h after every step, [T, B, H] if ``time_major`` else [B, T, H]. Per step, with sigmoid gates and ``activation``
    (act): c = sigmoid(f) c + sigmoid(i) act(g), clipped to +-cell_clip if > 0; h = sigmoid(o) act(c)."""

    time_major: bool
    cell_clip: float = 0.0
    activation: Activation = Activation.TANH


@dataclass(frozen=True, eq=False)
class WhileAttrs:
    """A loop over the node's inputs (the loop variables): while cond(v): v = body(v); the outputs are the final v.
    ``cond`` takes the variables and returns one bool scalar; ``body`` takes and returns the variables, in the
    node's input order, with the same dtypes and shapes. Compared by identity (the subgraphs are not values)."""

    cond: Graph
    body: Graph

    @property
    def subgraphs(self) -> tuple[Graph, ...]:
        return (self.cond, self.body)

    def arity_error(self, n_inputs: int, n_outputs: int) -> str | None:
        """Why the subgraphs cannot serve a node with this many inputs and outputs, or None."""
        if not n_inputs == n_outputs == len(self.cond.inputs) == len(self.body.inputs) == len(self.body.outputs):
            return (f"{n_inputs} inputs, {n_outputs} outputs, cond takes {len(self.cond.inputs)}, body takes "
                    f"{len(self.body.inputs)} and returns {len(self.body.outputs)}")
        if len(self.cond.outputs) != 1:
            return f"cond returns {len(self.cond.outputs)} values instead of one"
        return None


@dataclass(frozen=True, eq=False)
class IfAttrs:
    """Input 0 (a bool scalar) picks the branch; the branch takes the other inputs and returns the outputs."""

    then_branch: Graph
    else_branch: Graph

    @property
    def subgraphs(self) -> tuple[Graph, ...]:
        return (self.then_branch, self.else_branch)

    def arity_error(self, n_inputs: int, n_outputs: int) -> str | None:
        for g in self.subgraphs:
            if len(g.inputs) != n_inputs - 1 or len(g.outputs) != n_outputs:
                return (f"{n_inputs} inputs (with the predicate) and {n_outputs} outputs, branch {g.name!r} takes "
                        f"{len(g.inputs)} and returns {len(g.outputs)}")
        return None


CustomOption = bool | int | float | str | tuple[int, ...] | tuple[float, ...] | tuple[str, ...]


@dataclass(frozen=True)
class CustomAttrs:
    """An op with no TFLite builtin, written as a CUSTOM operator (--allow_custom_ops).

    ``code``: the operator's custom code (the TF op type). ``options``: the node's attributes as (name, value),
    sorted by name, written as a FlexBuffer map. ``quantized`` (the node's ``_output_quantized``): the kernel reads
    quantized inputs and writes quantized outputs; ``float_outputs`` (``_support_output_type_float_in_quantized_op``):
    its float outputs stay float in a quantized model. ``tf_kernel``: TensorFlow can run the op (so the reference
    executor can, e.g. to calibrate what follows it); ``node_def``: the serialized TF NodeDef, for that."""

    code: str
    options: tuple[tuple[str, CustomOption], ...] = ()
    quantized: bool = False
    float_outputs: bool = False
    tf_kernel: bool = False
    node_def: bytes = b""


@dataclass(frozen=True)
class GatherAttrs:
    """gather: along ``axis``, the first ``batch_dims`` dims of params and indices are batch dims."""

    axis: int
    batch_dims: int = 0


@dataclass(frozen=True)
class OneHotAttrs:
    axis: int


@dataclass(frozen=True)
class ReverseSequenceAttrs:
    seq_dim: int
    batch_dim: int


@dataclass(frozen=True)
class BucketizeAttrs:
    """The output is the index of the bucket: the number of boundaries <= x."""

    boundaries: tuple[float, ...]


@dataclass(frozen=True)
class UniqueAttrs:
    idx_out_type: str


@dataclass(frozen=True)
class CumsumAttrs:
    """y[i] = sum of x[j] along the axis (input 1) for j <= i; ``exclusive``: j < i; ``reverse``: from the end."""

    exclusive: bool = False
    reverse: bool = False


@dataclass(frozen=True)
class LrnAttrs:
    """Local response normalization over the last axis: x / (bias + alpha * sum of x^2 over a window of
    2 * radius + 1 channels) ** beta."""

    radius: int
    bias: float
    alpha: float
    beta: float


@dataclass(frozen=True)
class Conv3DAttrs:
    """conv_3d / conv_3d_transpose: strides and dilations as (depth, height, width)."""

    stride: tuple[int, int, int]
    padding: Padding
    dilation: tuple[int, int, int] = (1, 1, 1)
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class RandomAttrs:
    """random_uniform / random_standard_normal / multinomial: the op's two seeds (both 0: a fresh seed each run)."""

    seed: int = 0
    seed2: int = 0


Attrs = (
    NoAttrs | FusedActivationAttrs | Conv2DAttrs | DepthwiseConv2DAttrs | TransposeConvAttrs
    | FullyConnectedAttrs | Pool2DAttrs | AxisAttrs | ReduceAttrs | SoftmaxAttrs | ReshapeAttrs | SqueezeAttrs
    | StridedSliceAttrs | ResizeAttrs | LeakyReluAttrs | GeluAttrs | BatchMatMulAttrs | SplitAttrs
    | BatchNormAttrs | FakeQuantAttrs | CastAttrs | BlockAttrs | SequenceLSTMAttrs | WhileAttrs | IfAttrs | CustomAttrs | GatherAttrs
    | OneHotAttrs | ReverseSequenceAttrs | BucketizeAttrs | UniqueAttrs | CumsumAttrs | LrnAttrs | Conv3DAttrs
    | RandomAttrs
)
