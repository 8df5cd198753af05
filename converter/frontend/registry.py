"""Op registries: TF op -> IR handler (``@tf_op``) and IR op -> TensorFlow reference implementation
(``@reference``). Handler modules register themselves on import; ``load_handlers`` imports them all."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .context import ImportContext

if TYPE_CHECKING:
    from ..ir import Node

HandlerFn = Callable[[ImportContext], None]
# A reference implementation receives the node and its inputs as TF tensors (None for absent optional inputs)
# and returns one TF tensor per output.
ReferenceFn = Callable[..., Sequence[Any]]

HANDLERS: dict[str, HandlerFn] = {}
REFERENCES: dict[str, ReferenceFn] = {}
# Values an op computes inside that calibration observes, by name (a sequence LSTM's cell state at every step): its
# reference returns them after its outputs, in this order.
INTERNALS: dict[str, tuple[str, ...]] = {}
# TF ops whose outputs have their inputs' broadcast shape (used when TensorFlow cannot tell an output's rank).
ELEMENTWISE: set[str] = set()

_HANDLER_MODULES = ("control", "functional", "recurrent", "nn", "nn_ext", "math", "math_ext", "signal", "detection", "random_ops", "gradients", "array", "shapes", "gather_scatter", "matrix", "selection",
                    "fake_quant", "einsum", "space_batch", "custom", "special")


def tf_op(*op_types: str, elementwise: bool = False) -> Callable[[HandlerFn], HandlerFn]:
    """Register a handler translating the given TensorFlow op types into IR nodes. ``elementwise``: each output
    has the broadcast shape of the inputs."""

    def register(fn: HandlerFn) -> HandlerFn:
        for op_type in op_types:
            if op_type in HANDLERS:
                raise RuntimeError(f"TF op {op_type} registered twice")
            HANDLERS[op_type] = fn
            if elementwise:
                ELEMENTWISE.add(op_type)
        return fn

    return register


def reference(*ir_ops: str, internals: tuple[str, ...] = ()) -> Callable[[ReferenceFn], ReferenceFn]:
    """Register the float TensorFlow implementation of IR ops (used by the reference executor); it returns the
    node's outputs, then the ``internals`` (see INTERNALS)."""

    def register(fn: ReferenceFn) -> ReferenceFn:
        for op in ir_ops:
            if op in REFERENCES:
                raise RuntimeError(f"IR op {op} has two references")
            REFERENCES[op] = fn
            if internals:
                INTERNALS[op] = internals
        return fn

    return register


def load_handlers() -> None:
    """Import every handler module so that their decorators run."""
    for mod in _HANDLER_MODULES:
        importlib.import_module(f"{__package__}.handlers.{mod}")


def reference_for(node: Node) -> ReferenceFn:
    fn = REFERENCES.get(node.op)
    if fn is None:  # its handler module not imported yet (importing them all on every call cost ~0.25 ms a node)
        load_handlers()
        fn = REFERENCES.get(node.op)
    if fn is None:
        raise KeyError(f"IR op {node.op} has no reference implementation")
    return fn
