"""Step 2 of the quantizer: the parameters of every activation, fixed by the kernel, shared with the input
(same-scale ops) or from its range (quantize.range_sharing decides the ranges first); a same-scale kernel's inputs
written at its output's scale where their producer can; and the parameters an integer node reads each input at.
"""

from __future__ import annotations

from ..errors import QuantizationError
from ..ir import Node, QuantParams, QuantRange, RangeSource, Tensor
from .choose import NodeChoice
from .options import FLOAT32
from .params import (
    activation_params,
    fixed_params,
    input_stats_params,
    power_of_two_int16_params,
    retype_params,
    zero_point_zero,
)
from .qmath import INT16, UINT8
from .range_sharing import RangeSharing
from .range_sharing import is_float as _is_float
from .spec import In, OpQuantSpec, Out, input_role


class ParamAssignment(NodeChoice, RangeSharing):
    """Step 2's parameters, mixed into the quantizer (which owns the state below)."""

    params: dict[int, QuantParams]
    # Quantization of what users feed, per graph input, when it differs from the input's own.
    feed_params: dict[int, QuantParams]

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

    def _state_params(self, node: Node, spec: OpQuantSpec) -> QuantParams:
        """A STATE16 operand's parameters: the power of two covering the op's internal value as calibrated (the
        kernel saturates beyond it); without calibration, +-8 (2^-12), the span of the LSTM's gate inputs."""
        r = self.o.internal_ranges.get(node.name, {}).get(spec.internal or "")
        return power_of_two_int16_params(max(abs(r[0]), abs(r[1])) if r is not None else 8.0)

