"""Typed exceptions. Each message names the node, tensor, file or flag, what is wrong and what to do.

The CLI turns a ``QConvertError`` into one line on stderr and the exit code of its class; library code never
prints or exits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class QConvertError(Exception):
    """Base of every error qconvert reports to the user. ``exit_code`` follows the documented table."""

    exit_code: int = 1


class UsageError(QConvertError):
    """Flags that are missing, malformed or contradict each other."""

    exit_code = 2


class InputError(QConvertError):
    """The model file cannot be read or is not what the flags say."""


class ArrayNameError(InputError):
    """An input or output array name is not in the model."""


class ShapeError(InputError):
    """A shape is malformed or does not fit the model."""


@dataclass(frozen=True)
class UnsupportedOp:
    """One unsupported op type and the nodes that use it."""

    op_type: str
    node_names: tuple[str, ...]


class UnsupportedOpsError(QConvertError):
    """The graph uses ops qconvert cannot convert; every one is listed, with node names and counts."""

    def __init__(self, ops: Sequence[UnsupportedOp], context: str = "", custom_ops_hint: bool = True) -> None:
        self.ops = tuple(sorted(ops, key=lambda o: (-len(o.node_names), o.op_type)))
        parts = []
        for op in self.ops:
            names = ", ".join(op.node_names[:3]) + (", ..." if len(op.node_names) > 3 else "")
            parts.append(f"{op.op_type} x{len(op.node_names)} ({names})")
        total = sum(len(o.node_names) for o in self.ops)
        super().__init__(
            f"unsupported ops{context}: {total} node(s) of {len(self.ops)} type(s): " + "; ".join(parts)
            + (". Remove them from the exported graph, cut the graph before them with --input_arrays/--output_arrays, "
               "or write them as custom ops with --allow_custom_ops (the runtime then needs their kernels)"
               if custom_ops_hint else
               ". Remove them from the exported graph or cut the graph before them with --input_arrays/--output_arrays")
        )


class ConversionError(QConvertError):
    """The graph is valid TensorFlow but cannot be expressed in TFLite as asked."""


class QuantizationError(ConversionError):
    """A tensor cannot be quantized as asked (missing range, kernel constraint, float op with --no_float_fallback)."""


class CalibrationError(QConvertError):
    """The representative dataset does not fit the model (names, shapes, dtypes, NaN/Inf, empty)."""


class OutputError(QConvertError):
    """The output file cannot be written."""
