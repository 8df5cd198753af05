"""Quantize an IR graph whose activations carry ranges (from fake quant, calibration or defaults).

Steps, each driven by the spec table (quantize.spec):
 1. choose the nodes that run integer kernels; the rest stay float (listed, or an error without fallback);
 2. give every activation its parameters: fixed by the kernel, shared with the input (same-scale ops), or from
    its range; a range on a same-scale op's output flows back to its input when the input has none; addends
    computed only to be summed share the sum's range (quantize.range_sharing);
 3. quantize constants (weights, int32 biases with scale = input scale x weight scale, constant operands);
 4. insert QUANTIZE / DEQUANTIZE where float and integer regions meet, at the graph's inputs and outputs for the
    requested I/O types, and requantize where a kernel needs its input at the output's scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..config import InputStats
from ..errors import QuantizationError
from ..ir import Graph, Node, QuantParams, QuantRange, RangeSource, Tensor
from .params import (
    activation_params,
    bias_params,
    fixed_params,
    input_stats_params,
    power_of_two_int16_params,
    quantize_const,
    retype_params,
    weight_params_int4,
    weight_params_int8,
    weight_params_uint8,
    zero_point_zero,
)
from .bias_correction import correction
from .rounding import LayerInputs, Rounded, round_weights, weight_index
from .precision import LayerPrecision, Precision, PrecisionPlan
from .qmath import INT4, INT8, INT16, UINT8
from .range_sharing import RangeSharing
from .float_moves import moves_between_float
from .range_sharing import is_float as _is_float
from .spec import FLOAT_LOWERINGS, FLOAT_REASONS, In, OpQuantSpec, Out, has_kernel, input_role, node_spec

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


def has_float_tensors(node: Node) -> bool:
    """Whether ``node`` reads or writes float32 (only such nodes are quantized; integer and bool ops stay as they
    are)."""
    return any(_is_float(t) for t in (*node.inputs, *node.outputs))


def integer_kernel_refusal(node: Node, dtype: np.dtype) -> str | None:
    """Why ``node`` cannot run as a LiteRT integer kernel with ``dtype`` activations (None: it can), by the spec
    table: no rule for the op, no kernel for that type, or a weight/bias input that is not constant."""
    if node.tf_op in FLOAT_LOWERINGS:
        return FLOAT_LOWERINGS[node.tf_op]
    spec = node_spec(node)
    if spec is None and node.op == "custom":
        return f"custom op {getattr(node.attrs, 'code', '?')} takes float data (no _output_quantized)"
    if spec is None:
        return FLOAT_REASONS.get(node.op, f"no integer kernel for {node.op}")
    if not has_kernel(spec, dtype):
        return f"no {np.dtype(dtype).name} kernel for {node.op} in LiteRT"
    for i, t in enumerate(node.inputs):
        if t is not None and input_role(spec, i) in (In.WEIGHT, In.BIAS) and not t.is_const:
            return f"input {i} ({t.name}) is not constant"
    if spec.unique_indices is not None:
        idx = node.inputs[spec.unique_indices]
        if idx is None or idx.data is None:
            return f"its indices are computed at run time: repeated ones would add 8-bit codes ({node.op})"
        rows = idx.data.reshape(-1, idx.data.shape[-1]) if idx.data.ndim else idx.data.reshape(1, 1)
        if len(np.unique(rows, axis=0)) != len(rows):
            return f"its constant indices repeat: the integer kernel would add 8-bit codes ({node.op})"
    return None


class _Quantizer(RangeSharing):
    def __init__(self, graph: Graph, opts: QuantizeOptions) -> None:
        self.g = graph
        self.o = opts
        self.params: dict[int, QuantParams] = {}
        # Quantization of what users feed, per graph input, when it differs from the input's own (mean/std given
        # for an input that also has a fake-quant range: a QUANTIZE op requantizes onto the trained grid).
        self.feed_params: dict[int, QuantParams] = {}
        self.qnodes: dict[int, OpQuantSpec] = {}
        # Activation type of each integer node (its precision's), by node id.
        self.node_dt: dict[int, np.dtype] = {}
        # Width of each integer node's weights, where it is 4 bits (the plan's, where the kernel has int4 weights).
        self.int4_nodes: set[int] = set()
        self.result = QuantizeResult()
        self._quantized_view: dict[tuple[int, QuantParams | None], Tensor] = {}
        self._dequantized: dict[int, Tensor] = {}
        self._const_cache: dict[tuple[int, QuantParams], Tensor] = {}
        self._integer_inputs: set[int] = set()

    def decide(self) -> None:
        """Steps 1 and 2: the nodes that run integer kernels and the parameters of every activation (this sets
        ranges on tensors: propagated, shared by sums, defaults)."""
        self.choose_nodes()
        self.propagate_back()
        self.union_concat_ranges()
        self.cover_same_input_ranges()
        self.share_sum_ranges()
        self.assign_params()
        self.unify_same_scale_inputs()

    # ---- 1. which nodes run integer kernels
    def choose_nodes(self) -> None:
        """Each op runs at the precision the plan asks for, or float when LiteRT has no kernel for it there."""
        float_nodes: list[FloatNode] = []
        resolved: dict[str, LayerPrecision] = {}
        for node in self.g.nodes:
            if not has_float_tensors(node):
                continue
            asked = self.o.plan.of(node)
            dt = asked.precision.activation_dtype
            if asked.precision is Precision.FLOAT:
                reason = asked.reason or "kept float"
            else:
                reason = integer_kernel_refusal(node, dt)
            if reason is None:
                spec = node_spec(node)
                self.qnodes[id(node)] = spec  # type: ignore[assignment]
                self.node_dt[id(node)] = dt
                resolved[node.name] = self._weight_width(node, spec, asked)  # type: ignore[arg-type]
            else:
                float_nodes.append(FloatNode(node.name, node.op, reason))
                resolved[node.name] = LayerPrecision(Precision.FLOAT, asked.weight_bits, reason)
            self.result.layer_ops[node.name] = node.op
        for node in moves_between_float(self.g, self.qnodes, self.o.input_dtype == FLOAT32):
            del self.qnodes[id(node)], self.node_dt[id(node)]
            why = "moves data between float ops: 8-bit codes there would only add rounding"
            float_nodes.append(FloatNode(node.name, node.op, why))
            resolved[node.name] = LayerPrecision(Precision.FLOAT, resolved[node.name].weight_bits, why)
        self.result.plan = PrecisionPlan(self.o.plan.default, resolved)
        if float_nodes and not self.o.allow_float_fallback:
            listed = "; ".join(f"{f.name} ({f.op}: {f.reason})" for f in float_nodes[:8])
            more = f" and {len(float_nodes) - 8} more" if len(float_nodes) > 8 else ""
            raise QuantizationError(
                f"{len(float_nodes)} op(s) cannot run as integer kernels: {listed}{more}; "
                "drop --no_float_fallback to keep them float"
            )
        self.result.float_nodes = float_nodes

    def _weight_width(self, node: Node, spec: OpQuantSpec, asked: LayerPrecision) -> LayerPrecision:
        """The plan's entry for an integer node with its weights' width resolved: 4 bits where the kernel reads
        int4 weights at this precision (int8 activations), else 8 (an op without weights: 8, nothing to store)."""
        if asked.weight_bits == 8:
            return asked
        has_weights = any(t is not None and input_role(spec, i) is In.WEIGHT for i, t in enumerate(node.inputs))
        if not has_weights:
            return LayerPrecision(asked.precision, 8, asked.reason)
        if spec.int4 and asked.precision is Precision.INT8:
            self.int4_nodes.add(id(node))
            return asked
        why = (f"no int4 weights for {node.op} in LiteRT" if not spec.int4 else
               f"no int4 weights with {asked.precision.value} activations in LiteRT") + "; weights stay 8-bit"
        self.result.kept_8bit.append(FloatNode(node.name, node.op, why))
        return LayerPrecision(asked.precision, 8, why)

    def tensor_dt(self, t: Tensor) -> np.dtype:
        """The integer type of an activation: its producer's; for a graph input or a float island's output, the
        widest of its integer readers' (the others read a requantized view)."""
        if t.producer is not None and id(t.producer) in self.node_dt:
            return self.node_dt[id(t.producer)]
        readers = [self.node_dt[id(c)] for c in t.consumers if id(c) in self.node_dt]
        if readers:
            return max(readers, key=lambda d: d.itemsize)
        return self.o.plan.default.precision.activation_dtype

    def _range_params(self, t: Tensor, missing: list[Tensor]) -> QuantParams | None:
        if t.qrange is not None:
            return activation_params(t.qrange, self.tensor_dt(t))
        default = self.o.default_range
        if self.o.default_int16_range is not None and self.tensor_dt(t) == INT16:
            default = self.o.default_int16_range
        if default is not None:
            lo, hi = default
            t.qrange = QuantRange.per_tensor(lo, hi, RangeSource.DEFAULT)
            return activation_params(t.qrange, self.tensor_dt(t))
        missing.append(t)
        return None

    def assign_params(self) -> None:
        missing: list[Tensor] = []
        stats = list(self.o.input_stats) + [None] * len(self.g.inputs)
        for t, st in zip(self.g.inputs, stats, strict=False):
            if not _is_float(t):
                continue
            if self.o.input_dtype == FLOAT32 and not any(id(c) in self.qnodes for c in t.consumers):
                continue  # fed float and read by float ops only (e.g. --float_layers on the first layer)
            # Otherwise the input is quantized: for its integer readers, or for the integer type users feed (float
            # readers then go through a DEQUANTIZE).
            if st is not None:
                p = input_stats_params(st.mean, st.std, self.o.stats_dtype)
                self.feed_params[id(t)] = p
                if t.qrange is not None and t.qrange.fake_quant:
                    self.params[id(t)] = activation_params(t.qrange, self.tensor_dt(t))
                else:
                    self.params[id(t)] = retype_params(p, self.tensor_dt(t))
                    t.qrange = QuantRange(p.min, p.max, source=RangeSource.INPUT_STATS)
            else:
                p2 = self._range_params(t, missing)
                if p2 is not None:
                    self.params[id(t)] = p2
        for node in self.g.nodes:
            spec = self.qnodes.get(id(node))
            if spec is None or spec.float_outputs:
                # Float island (or a kernel's float outputs): tensors it hands to integer nodes, and the island's
                # graph outputs of a quantized output type, need a range for the QUANTIZE in between.
                for t in node.outputs:
                    quantized_output = spec is None and self.o.output_dtype != FLOAT32 and self.g.is_output(t)
                    if _is_float(t) and (quantized_output or any(id(c) in self.qnodes for c in t.consumers)):
                        p3 = self._range_params(t, missing)
                        if p3 is not None:
                            self.params[id(t)] = p3
                if spec is None:
                    continue
            for t in node.inputs:  # activations from outside any node (should only be graph inputs)
                if t is not None and not t.is_const and _is_float(t) and id(t) not in self.params \
                        and t.producer is None:
                    p4 = self._range_params(t, missing)
                    if p4 is not None:
                        self.params[id(t)] = p4
            for t in node.outputs:
                if not _is_float(t) or spec.float_outputs:
                    continue
                if spec.output is Out.FIXED:
                    fx = spec.fixed
                    assert fx is not None
                    dt = self.node_dt[id(node)]
                    if dt == INT16:
                        assert fx.scale_int16 is not None, f"{node.op}: int16 kernel without a fixed int16 scale"
                        self.params[id(t)] = fixed_params(fx.scale_int16, 0, dt)
                    else:
                        zp = fx.zero_point_uint8 if dt == UINT8 else fx.zero_point_int8
                        self.params[id(t)] = fixed_params(fx.scale, zp, dt)
                elif spec.output is Out.SAME:
                    src = node.inputs[spec.data_input]
                    if src is not None and id(src) in self.params:  # in this node's type: a requantized view
                        self.params[id(t)] = retype_params(self.params[id(src)], self.node_dt[id(node)])
                    elif src is not None:
                        p5 = self._range_params(t, missing)
                        if p5 is not None:
                            self.params[id(t)] = p5
                else:
                    p6 = self._range_params(t, missing)
                    if p6 is not None:
                        self.params[id(t)] = zero_point_zero(p6) if spec.zero_fill else p6
        missing = list({id(t): t for t in missing}.values())
        if missing:
            names = ", ".join(f"{t.name} (TF {t.tf_name})" for t in missing[:6])
            more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
            raise QuantizationError(
                f"no quantization range for {len(missing)} tensor(s): {names}{more}; give "
                "--default_ranges_min/--default_ranges_max, or calibrate with --representative_dataset"
            )

    def unify_same_scale_inputs(self) -> None:
        """Kernels that need their inputs at the output's scale (int8 concatenation, pack ...) read them without a
        requantizing QUANTIZE when the producer can write at that scale itself: an input produced by an integer
        node with a free output scale, whose other readers accept any input scale, takes the output's parameters
        (one rounding instead of two; the output's calibrated range covers every input's). So does a graph input
        fed as float (its QUANTIZE writes that scale). Later nodes first, so a chain of concatenations settles on
        the outermost one's scale.

        Readers that pass the scale through (pooling, pad, reshape ...) accept it too, and their outputs follow
        the new scale, as in TensorFlow's converter: a NASNet cell's sum feeds an average pool and the cell's
        concatenation, and both the sum and the pooled sum then enter the concatenation without a requantize."""
        claimed: set[int] = set()
        for node in reversed(self.g.nodes):
            spec = self.qnodes.get(id(node))
            if spec is None or not node.outputs or id(node.outputs[0]) not in self.params:
                continue
            if self._rescales(spec, self.node_dt[id(node)]) or \
                    (spec.uint8_rescales_inputs and self.o.concat_input_ranges is False):
                continue
            out_p = self.params[id(node.outputs[0])]
            for i, t in enumerate(node.inputs):
                if t is None or t.is_const or input_role(spec, i) is not In.SAME_AS_OUT or id(t) in claimed:
                    continue
                prod = t.producer
                pspec = self.qnodes.get(id(prod)) if prod is not None else None
                if prod is None and not self._float_fed_input(t):
                    continue
                if prod is not None and (pspec is None or pspec.output is not Out.FREE or len(prod.outputs) != 1):
                    continue
                if pspec is not None and pspec.zero_fill and out_p.zero_point != (0,):
                    continue  # its fill code 0 must stay the real 0
                if self.g.is_output(t):
                    continue
                if self.tensor_dt(t) != out_p.dtype:
                    continue  # another precision: it reads a requantized view anyway
                if self._keeps_trained_clamp(t, out_p) and self.o.concat_input_ranges is not True:
                    continue
                followers: list[Node] = []
                others = [c for c in t.consumers if c is not node]
                clips = spec.drops_values and self._clipped_by(t, out_p)
                if all(self._accepts_scale(c, t, out_p, followers, clips) for c in others):
                    self.params[id(t)] = out_p
                    claimed.add(id(t))
                    for f in followers:
                        for y in f.outputs:
                            self.params[id(y)] = out_p

    def _float_fed_input(self, t: Tensor) -> bool:
        """A graph input fed as float with no quantization of its own (mean/std, fake quant): its QUANTIZE can
        write any scale, so it quantizes straight onto the scale its reader needs (one rounding, not two)."""
        return (any(t is x for x in self.g.inputs) and self.o.input_dtype == FLOAT32 and id(t) not in self.feed_params
                and not (t.qrange is not None and t.qrange.fake_quant))

    @staticmethod
    def _clipped_by(t: Tensor, p: QuantParams) -> bool:
        """Whether writing ``t`` on ``p``'s grid would clip values ``t`` takes (its range reaches more than one step
        past ``p``'s): then only readers that want ``p`` themselves may read it there. A select whose output range
        covers both its inputs' (a masked RNN's state update) clips nothing; a clamp does."""
        r = t.qrange
        if r is None or not p.min or not p.max:
            return True
        step = max(p.scale)
        return bool(min(r.min) < p.min[0] - step or max(r.max) > p.max[0] + step)

    def _keeps_trained_clamp(self, t: Tensor, p: QuantParams) -> bool:
        """A fake-quant range narrower than ``p``'s: training clamped ``t`` to it, which writing ``t`` on ``p``'s
        wider grid would undo (TOCO did that only with --change_concat_input_ranges=true)."""
        r = t.qrange
        return r is not None and r.fake_quant and (min(r.min) > p.min[0] + 1e-6 or max(r.max) < p.max[0] - 1e-6)

    def _accepts_scale(self, node: Node, t: Tensor, p: QuantParams, followers: list[Node],
                       clamped: bool = False) -> bool:
        """Whether ``node`` can read ``t`` at parameters ``p`` as well as at its own: it takes any input scale, or
        it already wants ``p`` (a same-scale input of a node whose output has ``p``), or it passes the scale
        through (SAME output: pooling, pad, reshape ...) and its outputs' readers can in turn; those pass-through
        nodes are collected in ``followers``, whose outputs take ``p`` too. When ``p`` is the grid of an op whose
        output drops some input values (``clamped``: a clamp, a select), only a node that wants ``p`` itself accepts
        it: any other reader would see ``t`` clipped."""
        spec = self.qnodes.get(id(node))
        if spec is None:
            return not clamped  # a float reader goes through a DEQUANTIZE, which takes any scale
        roles = {input_role(spec, i) for i, x in enumerate(node.inputs) if x is t}
        if roles == {In.SAME_AS_OUT} and node.outputs and self.params.get(id(node.outputs[0])) == p:
            return True
        if clamped:
            return False
        if spec.output is Out.SAME:
            if self.node_dt[id(node)] != p.dtype:
                return False
            if In.SAME_AS_OUT in spec.inputs or any(x is t for i, x in enumerate(node.inputs) if i != spec.data_input):
                return False
            if any(self.g.is_output(y) or not _is_float(y) for y in node.outputs):
                return False
            followers.append(node)
            return all(self._accepts_scale(c, y, p, followers, clamped) for y in node.outputs for c in y.consumers)
        return spec.output is Out.FREE and roles == {In.ACT}

    # ---- 3 and 4. rewrite
    def _insert(self, op: str, src: Tensor, dtype: np.dtype, params: QuantParams | None, suffix: str) -> Tensor:
        out = self.g.tensor(f"{src.name}/{suffix}", dtype, src.shape, tf_name=src.tf_name)
        if params is not None:
            self.params[id(out)] = params
        self.g.add_node(op, [src], [out], name=f"{src.name}/{suffix}")
        self.result.inserted[op] = self.result.inserted.get(op, 0) + 1
        return out

    def _quantized(self, t: Tensor, want: QuantParams | None) -> Tensor:
        """``t`` as the integer tensor a quantized node reads: itself, or a QUANTIZE of it (from float, or a
        requantization when ``want`` asks for other parameters)."""
        have = self.params[id(t)]
        base = t
        if _is_float(t) and not self._is_integer_region(t):
            key = (id(t), None)
            if key not in self._quantized_view:
                self._quantized_view[key] = self._insert("quantize", t, have.dtype, have, "quantized")
            base = self._quantized_view[key]
        if want is None or want == have:
            return base
        key2 = (id(t), want)
        if key2 not in self._quantized_view:
            self._quantized_view[key2] = self._requantize(base, have, want, "requantized")
        return self._quantized_view[key2]

    def _requantize(self, src: Tensor, have: QuantParams, want: QuantParams, suffix: str) -> Tensor:
        """``src`` (at ``have``) requantized to ``want`` by a QUANTIZE. LiteRT's has no int16 -> uint8: that goes
        onto the same grid in int8 first (the second step is an exact shift)."""
        if have.dtype == INT16 and want.dtype == UINT8:
            src = self._insert("quantize", src, INT8, retype_params(want, INT8), f"{suffix}_int8")
        return self._insert("quantize", src, want.dtype, want, suffix)

    def wanted(self, node: Node, spec: OpQuantSpec, i: int, t: Tensor, out_p: QuantParams | None) -> QuantParams | None:
        """The parameters integer ``node`` needs activation input ``i`` (``t``) at when they are not ``t``'s own
        (None): the output's (same-scale kernels), a 16-bit state's (``_state_params``), or ``t``'s range in the
        node's type (another precision)."""
        dt = self.node_dt[id(node)]
        role = input_role(spec, i)
        want = out_p if role is In.SAME_AS_OUT and not self._rescales(spec, dt) \
            else self._state_params(node, spec) if role is In.STATE16 else None
        if spec.output is Out.SAME and i == spec.data_input:
            want = out_p
        if want is None and self.params[id(t)].dtype != dt:  # an activation of another precision
            want = retype_params(self.params[id(t)], dt)
        return want

    def _is_integer_region(self, t: Tensor) -> bool:
        if t.producer is not None:
            spec = self.qnodes.get(id(t.producer))
            return spec is not None and not spec.float_outputs
        return any(t is x for x in self.g.inputs) and id(t) in self.params

    def _rounded(self, node: Node, index: int, t: Tensor, p: QuantParams, narrow: bool) -> np.ndarray | None:
        """``node``'s weights ``t`` adaptively rounded on grid ``p`` (--weight_rounding=adaptive), or None: rounded
        to nearest (not such a layer, no calibration inputs for it, or not an 8- or 4-bit grid)."""
        inputs = self.o.layer_inputs.get(node.name)
        if inputs is None or weight_index(node) != index or p.dtype not in (INT8, UINT8, INT4):
            return None
        codes, done = round_weights(node, np.asarray(t.data), p, inputs, narrow)
        self.result.rounded.append(done)
        return codes

    def _const(self, node: Node, index: int, t: Tensor, p: QuantParams, narrow: bool = False,
               codes: np.ndarray | None = None) -> None:
        """Input ``index`` of ``node`` becomes constant ``t`` quantized with ``p`` (``codes``: its integer values
        as chosen by adaptive rounding, particular to this node; default: rounded to nearest, shared by readers)."""
        if not p.min:  # record the real range as min/max metadata (biases)
            data = np.asarray(t.data, dtype=np.float64)
            p = dataclasses.replace(p, min=(float(data.min()),), max=(float(data.max()),))
        key = (id(t), p) if codes is None else (id(t), p, node.name)
        if key not in self._const_cache:
            self._const_cache[key] = self.g.const(f"{t.name}/q" if not t.name.endswith("/q") else t.name,
                                                  quantize_const(t, p, narrow) if codes is None else codes,
                                                  tf_name=t.tf_name)
            self._const_cache[key].quant = p
        self.g.set_input(node, index, self._const_cache[key])

    def rewrite(self) -> None:
        # Graph inputs integer kernels read, decided before the rewrite puts requantizing QUANTIZE ops (not
        # integer kernels themselves) between an input and its readers (concatenation, minimum ...); an input fed as
        # integers is one whatever reads it (float readers get a DEQUANTIZE).
        self._integer_inputs = {id(t) for t in self.g.inputs if id(t) in self.params and (
            self.o.input_dtype != FLOAT32 or any(id(c) in self.qnodes for c in t.consumers))}
        for node in list(self.g.nodes):
            spec = self.qnodes.get(id(node))
            if spec is None:
                for i, t in enumerate(node.inputs):
                    if t is not None and not t.is_const and self._is_integer_region(t) and _is_float(t):
                        self.g.set_input(node, i, self._dequantize(t))
                continue
            self._rewrite_qnode(node, spec)
        self._edges()

    def _dequantize(self, t: Tensor) -> Tensor:
        if id(t) not in self._dequantized:
            self._dequantized[id(t)] = self._insert("dequantize", t, FLOAT32, None, "dequantized")
        return self._dequantized[id(t)]

    def _rewrite_qnode(self, node: Node, spec: OpQuantSpec) -> None:
        dt = self.node_dt[id(node)]
        out_p = self.params.get(id(node.outputs[0])) if node.outputs else None
        weight_p: QuantParams | None = None
        weights_p: dict[int, QuantParams] = {}
        bias_weight = dict(spec.bias_weights)
        shift: np.ndarray | None = None
        for i, t in enumerate(node.inputs):
            if t is None or not _is_float(t):
                continue
            role = input_role(spec, i)
            if role is In.INDEX:
                continue
            if t.is_const:
                if role is In.WEIGHT:
                    if dt != UINT8:
                        per_channel = self.o.int16_weights_per_channel if dt == INT16 else self.o.weights_per_channel
                        axis = spec.weight_axis if per_channel else None
                        weight_p = weight_params_int4(t, axis) if id(node) in self.int4_nodes else \
                            weight_params_int8(t, axis)
                    else:
                        weight_p = weight_params_uint8(t)
                    codes = self._rounded(node, i, t, weight_p, narrow=dt != UINT8)
                    self._const(node, i, t, weight_p, narrow=dt != UINT8, codes=codes)
                    weights_p[i] = weight_p
                    if weight_p.axis is None or self.o.per_channel_bias_correction:
                        shift = correction(node, t, weight_p, self.o.activation_means, codes)
                    if node.name in self.o.bias_shifts:
                        shift = self.o.bias_shifts[node.name] + (0.0 if shift is None else shift)
                elif role is In.BIAS:
                    in_p = self.params[id(node.inputs[0])]  # type: ignore[arg-type]
                    w_p = weights_p[bias_weight[i]] if i in bias_weight else weight_p
                    assert w_p is not None, f"{node.name}: bias before weights"
                    if shift is not None:
                        t = self.g.const(f"{t.name}/corrected", (t.data - shift).astype(np.float32),  # type: ignore[operator]
                                         tf_name=t.tf_name)
                        self.result.bias_corrected += 1
                    self._const(node, i, t, bias_params(in_p, w_p))
                elif role is In.STATE16:
                    self._const(node, i, t, self._state_params(node, spec))
                elif role is In.SAME_AS_OUT and out_p is not None:
                    self._const(node, i, t, out_p)
                elif spec.const_on_peer_grid and (peer := self._peer_params(node, i, dt)) is not None:
                    # On the scale as written (float32), as LiteRT's QUANTIZE rounds the peer at run time: a value
                    # half a step off the grid in float64 (2.0 on scale 4/255) must round the same way.
                    self._const(node, i, t, dataclasses.replace(
                        peer, scale=tuple(float(np.float32(s)) for s in peer.scale)))
                else:
                    data = np.asarray(t.data, dtype=np.float64)
                    r = QuantRange.per_tensor(float(data.min()), float(data.max()), RangeSource.WEIGHTS)
                    p_const = activation_params(r, dt)
                    self._const(node, i, t, p_const, codes=self._rounded(node, i, t, p_const, narrow=False))
                continue
            self.g.set_input(node, i, self._quantized(t, self.wanted(node, spec, i, t, out_p)))
        if shift is not None and weight_p is not None and node.op == "fully_connected" and \
                (len(node.inputs) < 3 or node.inputs[2] is None):
            # The zero bias was dropped; bias correction needs one again.
            bias = self.g.const(f"{node.name}/bias_correction", (-shift).astype(np.float32))
            in_p = self.params[id(node.inputs[0])]  # type: ignore[arg-type]
            self._const(node, 2, bias, bias_params(in_p, weight_p))
            self.result.bias_corrected += 1

    def _peer_params(self, node: Node, index: int, dt: np.dtype) -> QuantParams | None:
        """The parameters of the other (activation) input of a two-input node, in type ``dt``."""
        for j, u in enumerate(node.inputs):
            if j != index and u is not None and not u.is_const and id(u) in self.params:
                return retype_params(self.params[id(u)], dt)
        return None

    def _state_params(self, node: Node, spec: OpQuantSpec) -> QuantParams:
        """A STATE16 operand's parameters: the power of two covering the op's internal value as calibrated (the
        kernel saturates beyond it); without calibration, +-8 (2^-12), the span of the LSTM's gate inputs."""
        r = self.o.internal_ranges.get(node.name, {}).get(spec.internal or "")
        return power_of_two_int16_params(max(abs(r[0]), abs(r[1])) if r is not None else 8.0)

    def _edges(self) -> None:
        g, o = self.g, self.o
        # Graph inputs.
        for t in list(g.inputs):
            if id(t) not in self._integer_inputs:
                continue
            p = self.params[id(t)]
            feed_p = None
            if o.input_dtype != FLOAT32:
                feed_p = retype_params(self.feed_params.get(id(t), p), o.input_dtype)
                if feed_p == p:
                    continue
            feed = g.tensor(t.name + "_feed", o.input_dtype, t.shape, tf_name=t.tf_name)
            if feed_p is not None:
                self.params[id(feed)] = feed_p
            g.replace_input(t, feed)
            g.rename(feed, t.name)
            g.rename(t, f"{feed.name}/{p.dtype.name}")
            g.add_node("quantize", [feed], [t], name=t.name)
            self.result.inserted["quantize"] = self.result.inserted.get("quantize", 0) + 1
        # Graph outputs.
        outs = list(g.outputs)
        for k, t in enumerate(outs):
            internal = self.params.get(id(t)) if self._is_integer_region(t) else None
            want = o.output_dtype
            if internal is None and (want == FLOAT32 or self._float_kernel_output(t)):
                continue  # float, or float by the kernel's contract (_support_output_type_float_in_quantized_op)
            if internal is not None and internal.dtype == want:
                continue
            name = t.name
            if want == FLOAT32:
                new = self._insert("dequantize", t, FLOAT32, None, "dequantized")
            elif internal is None:
                p = self.params.get(id(t))
                if p is None:
                    raise QuantizationError(f"output {t.name} is float and has no range to quantize it with")
                new = self._insert("quantize", t, want, retype_params(p, want), "quantized")
            else:
                new = self._requantize(t, internal, retype_params(internal, want), f"{want.name}")
            outs[k] = new
            g.rename(t, f"{name}/{(internal.dtype.name if internal else 'float')}")
            g.rename(new, name)
        g.set_outputs(outs)

    def _float_kernel_output(self, t: Tensor) -> bool:
        spec = self.qnodes.get(id(t.producer)) if t.producer is not None else None
        return spec is not None and spec.float_outputs

    def finish(self) -> None:
        count = 0
        for t in self.g.tensors():
            p = self.params.get(id(t))
            if t.is_const or p is None or not _is_float(t) and t.quant is None and t.dtype not in (UINT8, INT8, INT16):
                continue
            # Float-island outputs keep float: their integer readers go through an inserted QUANTIZE.
            if t.producer is not None and id(t.producer) not in self.qnodes and t.producer.op != "quantize":
                continue
            if self._float_kernel_output(t):
                continue
            t.dtype = p.dtype
            t.quant = p
            count += 1
        self.result.quantized_tensors = count + len(self._const_cache)
        self.g.toposort()
        self.g.validate()


def quantize_graph(graph: Graph, opts: QuantizeOptions) -> QuantizeResult:
    """Quantize ``graph`` in place (see the module docstring)."""
    q = _Quantizer(graph, opts)
    q.decide()
    q.rewrite()
    q.finish()
    return q.result
