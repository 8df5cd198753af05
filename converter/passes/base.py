"""Pass contract and the helpers rewrites share."""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from ..ir import Activation, Graph, Node, Tensor

log = logging.getLogger("qconvert.passes")


class Pass(Protocol):
    """A rewrite of the graph. ``run`` returns how many times it fired (0: graph unchanged)."""

    name: str

    def run(self, graph: Graph) -> int: ...


def no_match(node: Node, reason: str) -> bool:
    """Record why a rewrite refused to fire on ``node`` (visible with --verbose) and return False."""
    log.debug("%s: not rewritten: %s", node.name, reason)
    return False


def no_activation(node: Node) -> bool:
    """True unless ``node`` carries a fused activation (nodes without one in their attributes count as none)."""
    return getattr(node.attrs, "activation", Activation.NONE) is Activation.NONE


def single_consumer(graph: Graph, t: Tensor) -> Node | None:
    """The only node reading ``t``, if exactly one node reads it once and it is not a graph output."""
    if graph.is_output(t) or len(t.uses) != 1:
        return None
    return t.uses[0]


# Output-channel axis of each op's weights, in TFLite layout.
WEIGHT_CHANNEL_AXIS = {"conv_2d": 0, "depthwise_conv_2d": 3, "fully_connected": 0}


def per_channel_vector(t: Tensor, channels: int) -> np.ndarray | None:
    """The constant ``t`` as a length-``channels`` vector if it broadcasts along the last axis only
    (shape (), (C,), (1,...,1,C) or all-ones with one element), else None."""
    if t.data is None:
        return None
    d = t.data
    if d.size == 1:
        return np.full(channels, d.reshape(()), dtype=np.float64)
    if d.ndim >= 1 and d.shape[-1] == channels and d.size == channels:
        return d.reshape(channels).astype(np.float64)
    return None
