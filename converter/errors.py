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
    """One unsupported op type and the nodes that use it. ``no_builtin``: LiteRT has no builtin for it (TensorFlow's
    converter too needs a Flex or custom op); ``tf_builtins``: the builtins TensorFlow's converter writes for it,
    when it has some (qconvert does not convert the op yet)."""

    op_type: str
    node_names: tuple[str, ...]
    no_builtin: bool = False
    tf_builtins: tuple[str, ...] = ()

    def describe(self, annotate: bool) -> str:
        names = ", ".join(self.node_names[:3]) + (", ..." if len(self.node_names) > 3 else "")
        note = ""
        if annotate and self.no_builtin:
            note = "; no TFLite builtin"
        elif annotate and self.tf_builtins:
            note = f"; TensorFlow's converter writes it as {' '.join(self.tf_builtins)}, qconvert cannot yet"
        return f"{self.op_type} x{len(self.node_names)} ({names}{note})"


class UnsupportedOpsError(QConvertError):
    """The graph uses ops qconvert cannot convert; every one is listed, with node names and counts. When none of
    them has a TFLite builtin the message says so once; otherwise each op says whether it has one."""

    def __init__(self, ops: Sequence[UnsupportedOp], context: str = "", custom_ops_hint: bool = True) -> None:
        self.ops = tuple(sorted(ops, key=lambda o: (-len(o.node_names), o.op_type)))
        none_builtin = all(o.no_builtin for o in self.ops)
        if none_builtin and not context:
            context = " (no TFLite builtin for them)"
        parts = [op.describe(annotate=not none_builtin) for op in self.ops]
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
