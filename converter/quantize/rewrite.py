"""Steps 3 and 4 of the quantizer: constants quantized (weights, int32 biases with scale = input scale x weight
scale, constant operands; bias correction and adaptive rounding where asked), and QUANTIZE / DEQUANTIZE inserted
where float and integer regions meet, at the graph's inputs and outputs for the requested I/O types, and where a
kernel needs its input at other parameters than the producer's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import QuantizationError
from ..ir import Node, QuantParams, QuantRange, RangeSource, Tensor
from .assign import ParamAssignment
from .bias_correction import correction
from .options import FLOAT32
from .params import (
    activation_params,
    bias_params,
    quantize_const,
    retype_params,
    weight_params_int4,
    weight_params_int8,
    weight_params_uint8,
)
from .qmath import INT4, INT8, INT16, UINT8
from .range_sharing import is_float as _is_float
from .rounding import round_weights, weight_index
from .spec import In, OpQuantSpec, input_role


class Rewriting(ParamAssignment):
    """Steps 3 and 4, mixed into the quantizer (which owns the state below)."""

    _quantized_view: dict[tuple[int, QuantParams | None], Tensor]
    _dequantized: dict[int, Tensor]
    _const_cache: dict[tuple[int, QuantParams] | tuple[int, QuantParams, str], Tensor]
    _integer_inputs: set[int]

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
        as chosen by adaptive rounding, shared by the readers given the same codes; default: rounded to nearest,
        shared by readers)."""
        if not p.min:  # record the real range as min/max metadata (biases)
            data = np.asarray(t.data, dtype=np.float64)
            p = dataclasses.replace(p, min=(float(data.min()),), max=(float(data.max()),))
        key = (id(t), p) if codes is None else (id(t), p, codes.tobytes())
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

