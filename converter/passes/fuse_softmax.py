"""Softmax spelled out becomes the SOFTMAX / LOG_SOFTMAX kernels (as TensorFlow's converter does).

FuseSoftmax, over the last axis (the only axis TFLite's softmax takes):
    exp(x) / sum(exp(x), last axis, keep_dims)   -> softmax(x)          (the definition)
    softmax(x - max(x, last axis, keep_dims))    -> softmax(x)          (softmax is shift-invariant; the kernel
                                                                          subtracts the maximum itself)
FuseLogSoftmax:
    log(softmax(x))                              -> log_softmax(x)      (softmax with beta 1; LOG_SOFTMAX has no
                                                                          beta; also exact where softmax underflows
                                                                          to 0 and log gave -inf)
Every intermediate must have no other reader (exp(x) is read by the division and the sum only).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor
from ..ir.attrs import SoftmaxAttrs
from .base import no_activation, single_consumer


def _last_axis_keep(node: Node, x: Tensor) -> bool:
    """``node`` reduces over x's last axis only, keeping it."""
    axes = node.input(1).data if len(node.inputs) > 1 else None
    if axes is None or not x.shape or not getattr(node.attrs, "keep_dims", False):
        return False
    return (np.asarray(axes).reshape(-1) % len(x.shape)).tolist() == [len(x.shape) - 1]



class FuseSoftmax:
    name = "fuse_softmax"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op == "div" and no_activation(node):
                fired += self._exp_over_sum(graph, node)
            elif node.op == "softmax":
                fired += self._drop_max_shift(graph, node)
        return fired

    @staticmethod
    def _exp_over_sum(graph: Graph, node: Node) -> int:
        e, s = node.input(0), node.input(1)
        ep, sp = e.producer, s.producer
        if ep is None or sp is None or ep.op != "exp" or sp.op != "sum" or sp.input(0) is not e:
            return 0
        if graph.is_output(e) or set(map(id, e.uses)) != {id(node), id(sp)} or len(e.uses) != 2:
            return 0
        if single_consumer(graph, s) is not node or not _last_axis_keep(sp, e):
            return 0
        x = ep.input(0)
        graph.replace_node(node, "softmax", [x], SoftmaxAttrs(beta=1.0))
        graph.remove_node(sp)
        graph.remove_node(ep)
        return 1

    @staticmethod
    def _drop_max_shift(graph: Graph, node: Node) -> int:
        d = node.input(0)
        sub = d.producer
        if sub is None or sub.op != "sub" or not no_activation(sub) or single_consumer(graph, d) is not node:
            return 0
        x, m = sub.input(0), sub.input(1)
        mp = m.producer
        if mp is None or mp.op != "reduce_max" or mp.input(0) is not x or single_consumer(graph, m) is not sub:
            return 0
        if not _last_axis_keep(mp, x) or d.shape != x.shape:
            return 0
        graph.set_input(node, 0, x)
        graph.remove_node(sub)
        graph.remove_node(mp)
        return 1


class FuseLogSoftmax:
    name = "fuse_log_softmax"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op != "log":
                continue
            s = node.input(0)
            sm = s.producer
            if sm is None or sm.op != "softmax" or single_consumer(graph, s) is not node:
                continue
            if getattr(sm.attrs, "beta", 1.0) != 1.0:
                continue
            graph.replace_node(node, "log_softmax", [sm.input(0)])
            graph.remove_node(sm)
            fired += 1
        return fired
