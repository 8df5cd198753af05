"""IR nodes: a canonical op (close to a TFLite builtin), input and output tensors, typed attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .attrs import Attrs, NoAttrs

if TYPE_CHECKING:
    from .tensor import Tensor


# Ops whose result is not a function of their inputs (random draws): never evaluated at conversion time, folded to
# a constant or merged with an identical node.
STATEFUL_OPS = frozenset({"random_uniform", "random_standard_normal", "multinomial"})


class Node:
    """One operation. ``inputs`` may hold None for an absent optional input (e.g. a conv without bias)."""

    __slots__ = ("op", "name", "_inputs", "_outputs", "attrs", "tf_op")

    def __init__(
        self,
        op: str,
        name: str,
        inputs: list[Tensor | None],
        outputs: list[Tensor],
        attrs: Attrs | None = None,
        tf_op: str | None = None,
    ) -> None:
        self.op = op
        self.name = name
        self._inputs = list(inputs)
        self._outputs = list(outputs)
        self.attrs: Attrs = attrs if attrs is not None else NoAttrs()
        self.tf_op = tf_op or op

    @property
    def stateful(self) -> bool:
        """Whether the op draws random numbers (see STATEFUL_OPS)."""
        return self.op in STATEFUL_OPS

    @property
    def inputs(self) -> tuple[Tensor | None, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        return tuple(self._outputs)

    @property
    def output(self) -> Tensor:
        """The single output of a one-output node."""
        if len(self._outputs) != 1:
            raise ValueError(f"node {self.name!r} ({self.op}) has {len(self._outputs)} outputs")
        return self._outputs[0]

    def input(self, i: int) -> Tensor:
        """Input ``i``, which must be present."""
        t = self._inputs[i] if i < len(self._inputs) else None
        if t is None:
            raise ValueError(f"node {self.name!r} ({self.op}) has no input {i}")
        return t

    def __repr__(self) -> str:
        ins = ", ".join(t.name if t is not None else "-" for t in self._inputs)
        outs = ", ".join(t.name for t in self._outputs)
        return f"Node({self.op} {self.name!r}: [{ins}] -> [{outs}])"
