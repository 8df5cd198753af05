"""The per-layer precision plan: for every op of a quantized model, the precision it computes in and the width of
its weights. One object holds these choices (DESIGN.md, "Precision is a per-layer decision"):

* the mode sets the default (QUANTIZED_UINT8 -> uint8, INT8 -> int8, INT16X8 -> int16x8, 8-bit weights);
* ``--float_layers`` and ``--int16_layers`` (names or regular expressions, ``matching_nodes``) and an error budget
  change it per layer;
* the quantizer reads it and resolves what the kernels allow (an op with no kernel for its precision runs float,
  and says why): the resolved plan, one entry per op, is what the report prints.

Precisions:
  UINT8     uint8 activations, uint8 per-tensor weights, int32 biases (TOCO's format);
  INT8      int8 activations, int8 (per-channel) weights, int32 biases;
  INT16X8   int16 activations with zero point 0, int8 (per-channel) weights, int64 biases;
  FLOAT     float32 (the op stays float between DEQUANTIZE and QUANTIZE).
Weight widths: 8, or 4 (int4 weights, where a kernel has them).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph, Node

WEIGHT_BITS = (8, 4)


class Precision(enum.Enum):
    """What an op computes in."""

    UINT8 = "uint8"
    INT8 = "int8"
    INT16X8 = "int16x8"
    FLOAT = "float"

    @property
    def activation_dtype(self) -> np.dtype:
        """The type of the op's activations (inputs and outputs)."""
        return np.dtype(_ACTIVATION_DTYPES[self])

    @property
    def is_integer(self) -> bool:
        return self is not Precision.FLOAT


_ACTIVATION_DTYPES = {Precision.UINT8: np.uint8, Precision.INT8: np.int8, Precision.INT16X8: np.int16,
                      Precision.FLOAT: np.float32}


def precision_of_dtype(dtype: np.dtype) -> Precision:
    """The integer precision whose activations have ``dtype`` (uint8, int8 or int16)."""
    for p, dt in _ACTIVATION_DTYPES.items():
        if np.dtype(dt) == np.dtype(dtype):
            return p
    raise ValueError(f"no precision has {np.dtype(dtype).name} activations")


@dataclass(frozen=True)
class LayerPrecision:
    """One op's precision, its weights' width, and why (the mode, a flag, a missing kernel, a search step)."""

    precision: Precision
    weight_bits: int = 8
    reason: str = ""

    def __post_init__(self) -> None:
        if self.weight_bits not in WEIGHT_BITS:
            raise ValueError(f"weight width {self.weight_bits} bits; it must be one of {WEIGHT_BITS}")


@dataclass(frozen=True)
class PrecisionPlan:
    """The default precision and the ops (by IR node name) that differ from it. Never mutated: ``with_layers``
    returns a new plan."""

    default: LayerPrecision
    layers: Mapping[str, LayerPrecision] = field(default_factory=dict)

    @staticmethod
    def uniform(precision: Precision, weight_bits: int = 8, reason: str = "") -> PrecisionPlan:
        return PrecisionPlan(LayerPrecision(precision, weight_bits, reason))

    def of(self, node: Node | str) -> LayerPrecision:
        """The precision asked for ``node`` (the default unless the plan names it)."""
        name = node if isinstance(node, str) else node.name
        return self.layers.get(name, self.default)

    def with_layers(self, changes: Mapping[str, LayerPrecision]) -> PrecisionPlan:
        """This plan with the ops named in ``changes`` set as given."""
        return PrecisionPlan(self.default, {**self.layers, **changes})

    def counts(self, names: Iterable[str]) -> dict[str, int]:
        """How many of the ops ``names`` run at each precision (and weight width, when not 8 bits)."""
        out: dict[str, int] = {}
        for name in names:
            lp = self.of(name)
            key = lp.precision.value + (f" w{lp.weight_bits}" if lp.weight_bits != 8 else "")
            out[key] = out.get(key, 0) + 1
        return out


def layer_names(node: Node) -> set[str]:
    """The names a user may give for ``node``: its own, and its outputs' IR and TensorFlow names (as the per-layer
    report prints them)."""
    return {node.name, *(t.name for t in node.outputs), *(t.tf_name for t in node.outputs)}


def matches(patterns: Sequence[str], node: Node) -> bool:
    """Whether a pattern names ``node`` (``layer_names``), exactly or as a regular expression (full match). A
    pattern that is not a valid regular expression only matches literally."""
    names = layer_names(node)
    for p in patterns:
        if p in names:
            return True
        try:
            rx = re.compile(p)
        except re.error:  # not a regular expression: it was meant literally
            continue
        if any(rx.fullmatch(name) for name in names):
            return True
    return False


def matching_nodes(graph: Graph, patterns: Sequence[str]) -> list[Node]:
    """The nodes of ``graph`` named by ``patterns`` (``matches``), in graph order."""
    if not patterns:
        return []
    return [n for n in graph.nodes if matches(patterns, n)]
