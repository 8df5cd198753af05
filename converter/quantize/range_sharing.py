"""Ranges decided before parameters (step 2 of ``quantizer``): a same-scale op's output range flows back to an
input without one; a concatenation without a range takes the union of its inputs'; ops whose output must cover
their same-scale inputs widen it; addends computed only to be summed share the sum's range.

``RangeSharing`` is the part of the quantizer that edits ``Tensor.qrange`` and nothing else; it reads the quantizer's
choice of integer nodes (``qnodes``) and their activation types (``node_dt``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..ir import Activation, Graph, Node, QuantRange, RangeSource, Tensor
from .params import activation_params
from .qmath import UINT8
from .spec import In, OpQuantSpec, Out

if TYPE_CHECKING:
    from .options import QuantizeOptions, QuantizeResult

FLOAT32 = np.dtype(np.float32)

# An add shares one range with its addends only if that costs at most 1 dB of its rounding noise (10^0.1): the
# addends' headroom repaid up to 0.7 dB in every recurrent cell measured (Keras LSTM/GRU/SimpleRNN adds, noise
# ratios 0.75-1.17, SQNR +0.2 to +3.7 dB); a narrow operand on a grid widened beyond the sum's loses more than the
# headroom gives (Keras 3 LayerNormalization's x*inv + (beta - mean*inv): ratio 1.37, -0.44 dB).
_SHARED_SUM_MAX_NOISE = 10 ** 0.1
# Nor where an addend's own grid is more than 4x finer than the shared one (its rounding noise x16): a narrow addend
# on a coarse grid is one that varies little from sample to sample (LayerNormalization's beta - mean*inv is nearly
# beta), so its rounding error repeats on every sample, a bias the layers after it sum coherently instead of noise.
# The trained transformer's two layer norms (addend grids 9.4x and 34x finer than the sum's) went from 16.25 to
# 18.68 dB held out (TensorFlow 17.69); the LSTM cell's c = f*c + i*g (i*g ~5.5x finer) 30.99 -> 31.00 dB.
_SHARED_SUM_MAX_COARSENING = 4.0


def is_float(t: Tensor | None) -> bool:
    return t is not None and t.dtype == FLOAT32


def calibrated(t: Tensor) -> bool:
    """A per-tensor range from data (calibration), not a trained fake-quant grid."""
    return t.qrange is not None and not t.qrange.fake_quant and not t.qrange.per_channel


class RangeSharing:
    """Step 2's range decisions, mixed into the quantizer (which owns the state below)."""

    g: Graph
    o: QuantizeOptions
    qnodes: dict[int, OpQuantSpec]
    node_dt: dict[int, np.dtype]
    result: QuantizeResult

    def propagate_back(self) -> None:
        """A same-scale op's output range (reshape, pool ...) becomes its input's where the input has none."""
        for node in reversed(self.g.nodes):
            spec = self.qnodes.get(id(node))
            if spec is None or spec.output is not Out.SAME:
                continue
            x = node.inputs[spec.data_input]
            for y in node.outputs:
                if x is None or x.is_const or x.qrange is not None or y.qrange is None:
                    continue
                x.qrange = QuantRange(y.qrange.min, y.qrange.max, None, y.qrange.num_bits, y.qrange.narrow_range,
                                      y.qrange.fake_quant, RangeSource.PROPAGATED)

    def union_concat_ranges(self) -> None:
        """A concatenation (or pack) whose output has no range of its own takes the union of its inputs' ranges
        (TOCO's rule, which SSD exports rely on: FakeQuant after each head, none after the concat)."""
        for node in self.g.nodes:
            spec = self.qnodes.get(id(node))
            if spec is None or not spec.variadic or spec.inputs[0] is not In.SAME_AS_OUT or len(node.outputs) != 1:
                continue
            y = node.outputs[0]
            rs = [self._range_through_same(t) for t in node.inputs if t is not None and not t.is_const]
            if y.qrange is not None or not rs or any(r is None or r.per_channel for r in rs):
                continue
            lo = min(min(r.min) for r in rs)  # type: ignore[union-attr]
            hi = max(max(r.max) for r in rs)  # type: ignore[union-attr]
            y.qrange = rs[0] if all(r == rs[0] for r in rs) else \
                QuantRange.per_tensor(lo, hi, RangeSource.PROPAGATED)

    def cover_same_input_ranges(self) -> None:
        """An op whose output range must cover its same-scale inputs' (``output_covers_same``: within those bounds)
        takes the union of its calibrated output range and theirs; a FakeQuant output range is kept."""
        for node in self.g.nodes:
            spec = self.qnodes.get(id(node))
            if spec is None or spec.output_covers_same is None or not node.outputs:
                continue
            bound_lo, bound_hi = spec.output_covers_same
            y = node.outputs[0]
            rs = [self._range_through_same(t) for t, role in zip(node.inputs, spec.inputs, strict=False)
                  if role is In.SAME_AS_OUT and t is not None and not t.is_const]
            rs = [r for r in rs if r is not None and not r.per_channel]
            if y.qrange is None or y.qrange.fake_quant or y.qrange.per_channel or not rs:
                continue
            lo = min(min(y.qrange.min), *(max(min(r.min), bound_lo) for r in rs))
            hi = max(max(y.qrange.max), *(min(max(r.max), bound_hi) for r in rs))
            if (lo, hi) != (min(y.qrange.min), max(y.qrange.max)):
                y.qrange = QuantRange.per_tensor(lo, hi, RangeSource.PROPAGATED)

    def _range_through_same(self, t: Tensor) -> QuantRange | None:
        """``t``'s range, or that of the tensor a chain of same-scale ops (reshape, pad ...) passes on to it."""
        while t.qrange is None and t.producer is not None:
            spec = self.qnodes.get(id(t.producer))
            src = t.producer.inputs[spec.data_input] if spec is not None and spec.output is Out.SAME else None
            if src is None:
                return None
            t = src
        return t.qrange

    def _rescales(self, spec: OpQuantSpec, dt: np.dtype) -> bool:
        """Whether the kernel rescales inputs itself and they keep their own parameters (uint8 concatenation)."""
        return dt == UINT8 and spec.uint8_rescales_inputs and self.o.concat_input_ranges is not True

    def share_sum_ranges(self) -> None:
        """Addends computed only to be summed share the sum's range. For an integer add without a fused activation
        whose two inputs are activations with no other reader, each produced by a layer with a free output range,
        the inputs and the output take one range, the union of their calibrated ranges (adds chained through such
        sums share one). Then:

        * the kernel adds exactly: one scale and zero point in and out, q_y = q_a + q_b - zp, so the sum carries
          the addends' rounding noise, 2 s_y^2 / 12, instead of theirs and its own, (s_a^2 + s_b^2 + s_y^2) / 12:
          no more noise as long as s_a^2 + s_b^2 >= s_y^2 (addends spanning ~70% of the sum's range, as usual);
        * each addend gets the sum's headroom. A range calibrated on few values is narrow, and an addend's clips
          first on inputs beyond the calibration set: in Keras' SimpleRNN (h = tanh(x W + h U) per step) on
          held-out sequences, x W at step 4 kept 28.0 dB on its own range and 40.7 dB on the sum's; the output
          went from 30.1 to 33.8 dB (LSTM 24.0 -> 27.0, GRU 25.1 -> 26.2).

        TensorFlow's converter ends up with the sum's range on one input of each add, the first with the sum's
        shape and no other reader (its calibration runs ADD in place on that input's buffer). Here the range is
        shared only where the add becomes exact: an addend with other readers (a residual shortcut) keeps its grid,
        since the sum is rounded anyway and a coarser addend only adds noise (TensorFlow's rule took ResNet50 from
        15.8 to 14.8 dB here), and a fused ReLU's output grid cannot hold signed addends. Nor where the shared grid,
        the union of the three ranges, costs more than 1 dB of the add's rounding noise (``_sum_scales``):
        addends of opposite signs whose sum cancels (LayerNormalization's x*inv + (beta - mean*inv)) widen the grid
        beyond the sum's own and put the narrow one on a grid several times coarser, which no headroom repays;
        nor where an addend's grid would become more than 4x coarser: the noise model above takes rounding errors
        as independent from sample to sample, which fails for a narrow addend (nearly constant per element, like
        beta - mean*inv when the mean is small): its error on the coarse grid is a repeated bias.
        LiteRT's ADD rescales each input itself, so either way the kernel is valid."""
        parent: dict[int, Tensor] = {}

        def root(t: Tensor) -> Tensor:
            while id(t) in parent:
                t = parent[id(t)]
            return t

        members: dict[int, Tensor] = {}
        for node in self.g.nodes:
            spec = self.qnodes.get(id(node))
            if spec is None or not spec.sums_inputs or not self._sum_shares_range(node):
                continue
            y = node.outputs[0]
            for x in node.inputs:
                a, b = root(x), root(y)  # type: ignore[arg-type]
                if a is not b:
                    parent[id(a)] = b
            members.update((id(t), t) for t in (*node.inputs, y) if t is not None)
            self.result.shared_sum_ranges += 1
        clusters: dict[int, list[Tensor]] = {}
        for t in members.values():
            clusters.setdefault(id(root(t)), []).append(t)
        for ts in clusters.values():
            lo = min(min(t.qrange.min) for t in ts)  # type: ignore[union-attr]
            hi = max(max(t.qrange.max) for t in ts)  # type: ignore[union-attr]
            shared = QuantRange.per_tensor(lo, hi, RangeSource.PROPAGATED)
            for t in ts:
                t.qrange = shared

    def _sum_shares_range(self, node: Node) -> bool:
        """Whether ``node`` (a sum) and its addends can share one range: see ``share_sum_ranges``."""
        if len(node.inputs) != 2 or len(node.outputs) != 1 or node.inputs[0] is node.inputs[1]:
            return False
        if getattr(node.attrs, "activation", Activation.NONE) is not Activation.NONE:
            return False
        if not calibrated(node.outputs[0]):
            return False
        for x in node.inputs:
            if x is None or x.is_const or not is_float(x) or not calibrated(x) or self.g.is_output(x) \
                    or len(x.consumers) != 1:
                return False
            prod = x.producer
            pspec = self.qnodes.get(id(prod)) if prod is not None else None
            if pspec is None or pspec.output is not Out.FREE or len(prod.outputs) != 1:  # type: ignore[union-attr]
                return False
            if self.node_dt[id(prod)] != self.node_dt[id(node)]:  # type: ignore[arg-type]
                return False  # an addend of another precision is requantized anyway
        a, b, y, union = self._sum_scales(node)
        return 2 * union**2 / (a**2 + b**2 + y**2) <= _SHARED_SUM_MAX_NOISE and \
            union <= _SHARED_SUM_MAX_COARSENING * min(a, b)

    def _sum_scales(self, node: Node) -> tuple[float, float, float, float]:
        """The scales of ``node``'s addends and sum on their own ranges, s_a, s_b, s_y, and that of the union of
        the three ranges, s_u. On one shared grid the add's rounding noise is 2 s_u^2 against
        s_a^2 + s_b^2 + s_y^2 on its own grids, and each addend's grid is s_u / s_a (s_u / s_b) times coarser."""
        ts = (*node.inputs, node.outputs[0])
        dt = self.node_dt[id(node)]
        a, b, y = (float(activation_params(t.qrange, dt).scale[0]) for t in ts)  # type: ignore[union-attr,arg-type]
        lo = min(min(t.qrange.min) for t in ts)  # type: ignore[union-attr]
        hi = max(max(t.qrange.max) for t in ts)  # type: ignore[union-attr]
        union = float(activation_params(QuantRange.per_tensor(lo, hi, RangeSource.PROPAGATED), dt).scale[0])
        return a, b, y, union
