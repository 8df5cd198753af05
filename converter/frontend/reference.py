"""The reference executor: runs an IR graph in float with TensorFlow, one registered reference implementation per
IR op, batched. Used for constant folding, pass tests, calibration and float-vs-quantized error."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..ir import Graph, Node, Tensor
from ..tf_runtime import tensorflow
from .registry import reference_for


class Derived:
    """Values derived from objects that do not change while they live (a graph constant's array, the eager tensor
    made of it), each computed once per object and kind and found by the object's identity while it lives: the
    simulations of ``quantize/sensitivity.py`` (one per candidate layer) run the same weights again and again, and
    converting them to tensors, or a reference's transposing them, cost more than some of the ops."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, str], tuple[weakref.ref[Any], Any]] = {}

    def get(self, obj: Any, kind: str, make: Callable[[Any], Any]) -> Any:  # noqa: ANN401
        key = (id(obj), kind)
        held = self._held.get(key)
        if held is not None and held[0]() is obj:
            return held[1]
        value = make(obj)
        try:
            self._held[key] = (weakref.ref(obj, lambda _: self._held.pop(key, None)), value)
        except TypeError:  # not weakly referable: not kept
            pass
        return value


_DERIVED = Derived()


def derived(obj: Any, kind: str, make: Callable[[Any], Any]) -> Any:  # noqa: ANN401
    """``make(obj)``, kept while ``obj`` lives (``Derived``); inside a tf.function being traced made anew (its
    tensors belong to that graph)."""
    return _DERIVED.get(obj, kind, make) if tensorflow().executing_eagerly() else make(obj)


# The place of each random op in its stream (node id -> int64 variable), for the compiled function being traced.
_DRAWS: ContextVar[dict[int, Any] | None] = ContextVar("reference_draws", default=None)


def draw_offset(node: Node, count: Any) -> Any:  # noqa: ANN401 - tf.Tensor
    """Where random op ``node``'s stream stands before this run (int64 tensor), the stream then advanced by
    ``count``: each call of a ``ReferenceExecutor`` continues from the call before, as each invocation of a LiteRT
    interpreter does, and a new executor starts at 0, as a new interpreter does. Outside an executor: 0."""
    tf = tensorflow()
    count = tf.cast(count, tf.int64)
    streams = _DRAWS.get()
    if streams is None:
        return tf.constant(0, tf.int64)
    if id(node) not in streams:
        with tf.init_scope():  # created once, outside the traced function, which captures it
            streams[id(node)] = tf.Variable(0, dtype=tf.int64, trainable=False)
    return streams[id(node)].assign_add(count) - count


@contextlib.contextmanager
def new_draws() -> Iterator[None]:
    """Random ops evaluated inside (``evaluate_node``) continue one stream each from call to call, starting at 0: a
    new interpreter's invocations, one per call."""
    token = _DRAWS.set({})
    try:
        yield
    finally:
        _DRAWS.reset(token)


def run_nodes(graph: Graph, env: dict[int, Any], only: set[int] | None = None,  # noqa: ANN401
              probes: Mapping[int, Sequence[Tensor]] | None = None) -> dict[int, Any]:
    """Run ``graph``'s nodes (those whose ids are in ``only``, if given) with TensorFlow given ``env`` (tensor id ->
    value) holding its inputs (and any constants already made); constants missing from it are created on first
    use. Returns ``env`` with every tensor's value. ``probes``: node id -> stand-in tensors (in no graph) that
    receive the node's internal values (registry.INTERNALS)."""
    tf = tensorflow()

    def value(t: Tensor) -> Any:  # noqa: ANN401
        if id(t) not in env:
            env[id(t)] = tf.constant(t.data)
        return env[id(t)]

    for node in graph.nodes:
        if only is not None and id(node) not in only:
            continue
        outs = list(reference_for(node)(node, *[None if t is None else value(t) for t in node.inputs]))
        n = len(node.outputs)
        for t, v in zip(node.outputs, outs[:n], strict=True):
            env[id(t)] = v
        if probes and id(node) in probes:
            for t, v in zip(probes[id(node)], outs[n:], strict=True):
                env[id(t)] = v
    for t in graph.outputs if only is None else ():
        value(t)
    return env


def run_graph(graph: Graph, inputs: Sequence[Any]) -> list[Any]:  # noqa: ANN401
    """The values of ``graph``'s outputs for ``inputs`` (one per graph input): how a control-flow node's reference
    runs its subgraphs."""
    env = run_nodes(graph, {id(t): x for t, x in zip(graph.inputs, inputs, strict=True)})
    return [env[id(t)] for t in graph.outputs]


def can_run(node: Node) -> bool:
    """Whether the reference executor can compute ``node`` (custom ops only when TensorFlow has their kernel)."""
    return node.op != "custom" or bool(getattr(node.attrs, "tf_kernel", False))


def _needed(graph: Graph, fetch: Sequence[Tensor], probes: Mapping[int, Sequence[Tensor]] | None = None) -> set[int]:
    """Ids of the nodes the fetched tensors (or probes of a node's internal values) depend on."""
    needed: set[int] = set()
    stack = [t.producer for t in fetch if t.producer is not None]
    fetched = {id(t) for t in fetch}
    stack += [n for n in graph.nodes if any(id(t) in fetched for t in (probes or {}).get(id(n), ()))]
    while stack:
        node = stack.pop()
        if id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(t.producer for t in node.inputs if t is not None and t.producer is not None)
    return needed


def evaluate_node(node: Node, values: Sequence[Any]) -> list[Any]:  # noqa: ANN401
    """Run one node eagerly on the given input values (numpy or TF); returns numpy arrays."""
    tf = tensorflow()
    args = [None if v is None else tf.convert_to_tensor(v) for v in values]
    outs = reference_for(node)(node, *args)
    return [np.asarray(o) for o in list(outs)[:len(node.outputs)]]


class ReferenceExecutor:
    """Compiles the graph once into a tf.function returning the requested tensors; call it on batches.

    The IR's static shapes have batch 1; the function is traced with a free batch dimension on the inputs, so one
    call runs a whole batch. Graphs with an op whose target fixes the batch run per sample (``batched=False``).
    Constants are created once as eager tensors and captured (not copied into the traced graph). With
    ``summarize(tensor, value)`` (or one such function per fetched tensor), each fetched tensor is reduced inside
    the graph (e.g. to min/max) so that big activations never leave TensorFlow; ``run_batch`` then returns the flat
    list of summaries.

    Batched, every activation has a batch axis: axis 0 for most ops, elsewhere after a transpose, unpack or pack
    (a time-major recurrent network, ``batch_axes``); fetched values come back with the samples on axis 0."""

    def __init__(self, graph: Graph, fetch: Sequence[Tensor] | None = None, batched: bool = True,
                 summarize: Callable[[Tensor, Any], list[Any]] | Sequence[Callable[[Tensor, Any], list[Any]]]
                 | None = None,
                 probes: Mapping[int, Sequence[Tensor]] | None = None) -> None:
        self.graph = graph
        self.fetch = list(fetch) if fetch is not None else list(graph.outputs)
        self.probes = dict(probes or {})  # node id -> stand-ins for its internal values (fetch may name them)
        axes = batch_axes(graph) if batched else None
        self.batched = axes is not None
        self._axes = axes or {}
        self.summarize = summarize
        self._fn: Callable[..., Any] | None = None
        self._draws: dict[int, Any] = {}  # random ops' streams (draw_offset)

    def _build(self) -> Callable[..., Any]:
        tf = tensorflow()
        graph, fetch, summarize = self.graph, self.fetch, self.summarize
        needed = _needed(graph, fetch, self.probes)
        consts: dict[int, Any] = {}
        for node in (n for n in graph.nodes if id(n) in needed):
            for t in node.inputs:
                if t is not None and t.is_const and id(t) not in consts:
                    consts[id(t)] = tf.constant(t.data)
        for t in fetch:
            if t.is_const and id(t) not in consts:
                consts[id(t)] = tf.constant(t.data)

        def run(*inputs: Any) -> list[Any]:  # noqa: ANN401
            env: dict[int, Any] = {id(t): x for t, x in zip(graph.inputs, inputs, strict=True)}
            env.update(consts)
            token = _DRAWS.set(self._draws)
            try:
                run_nodes(graph, env, needed, self.probes)
            finally:
                _DRAWS.reset(token)
            values = [self.batch_first(t, env[id(t)]) for t in fetch]
            if summarize is None:
                return values
            each = summarize if isinstance(summarize, Sequence) else [summarize] * len(fetch)
            return [s for f, t, v in zip(each, fetch, values, strict=True) for s in f(t, v)]

        sig = [tf.TensorSpec([None, *t.shape[1:]] if self.batched and t.shape else t.shape, tf.as_dtype(t.dtype))
               for t in graph.inputs]
        return tf.function(run, input_signature=sig, jit_compile=False, autograph=False)

    def batch_first(self, t: Tensor, value: Any) -> Any:  # noqa: ANN401
        """``t``'s value in a batched run with the samples on axis 0 (ops such as transpose move them)."""
        axis = self._axes.get(id(t), 0) if self.batched else 0
        if axis == 0:
            return value
        perm = [axis, *(i for i in range(len(t.shape)) if i != axis)]
        return tensorflow().transpose(value, perm)

    def run_batch(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One call of the compiled function on a batch it can take (any size if ``batched``, else 1)."""
        if self._fn is None:
            self._fn = self._build()
        return [np.asarray(o) for o in self._fn(*arrays)]

    def samples(self, arrays: Sequence[np.ndarray], start: int, stop: int) -> list[np.ndarray]:
        """Samples ``start:stop`` of each input (first axis = samples) as ``run_batch`` takes them. Unbatched, one
        sample at a time: a batch-1 input keeps its batch axis; a scalar or an input of another batch size holds
        whole values (one per sample)."""
        if self.batched:
            return [a[start:stop] for a in arrays]
        return [a[start:start + 1] if t.shape and t.shape[0] == 1 else a[start]
                for t, a in zip(self.graph.inputs, arrays, strict=True)]

    def __call__(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run on a batch: one array per graph input (first axis = samples). Returns one array per fetch."""
        arrays = [inputs[t.name] for t in self.graph.inputs] if isinstance(inputs, Mapping) else list(inputs)
        if self.batched:
            return self.run_batch(arrays)
        n = arrays[0].shape[0] if arrays and arrays[0].ndim else 1
        per_sample = [self.run_batch(self.samples(arrays, i, i + 1)) for i in range(n)]
        return [np.concatenate([s[k] for s in per_sample], axis=0) if per_sample[0][k].ndim else
                np.stack([s[k] for s in per_sample]) for k in range(len(per_sample[0]))]


# Ops that bake the batch size of 1 into a constant and so cannot run a larger batch as one (index tuples that
# address axis 0 too: scatter_nd, gather_nd, sparse_to_dense); control flow, whose trip count or branch a batch
# would decide as a whole instead of per sample.
_BATCH_FIXED = frozenset({"tile", "slice", "strided_slice", "split_v", "fill", "broadcast_to", "expand_dims",
                          "select", "while", "if", "scatter_nd", "gather_nd", "sparse_to_dense"})


# Ops that compute each row of axis 0 from the same row of their inputs (element-wise, or over trailing axes).
_ROW_WISE = frozenset({"add", "sub", "mul", "div", "maximum", "minimum", "squared_difference", "relu", "relu6",
                       "relu_n1_to_1", "logistic", "tanh", "gelu", "hard_swish", "leaky_relu", "elu", "neg", "rsqrt",
                       "exp", "sqrt", "square", "abs", "softmax", "log_softmax", "mean", "sum", "reduce_max",
                       "reduce_min", "select_v2"})


def _rows_folded(node: Node, ins: list[Tensor]) -> bool:
    """Whether ``node`` runs on activations whose axis 0 folds the batch with other rows ([1, 12, 8] reshaped to
    [12, 8] holds N x 12 rows batched): a reshape (samples stay outermost in memory), a fully connected layer on
    rows, or a row-wise op whose constants broadcast over the rows."""
    if node.op == "reshape":
        return len(node.inputs) < 2 or node.inputs[1] is None  # the static shape, its leading axis free
    lead = {t.shape[0] for t in (*ins, *node.outputs) if t.shape}
    if len(lead) != 1 or any(not t.shape for t in (*ins, *node.outputs)):
        return False
    if node.op == "fully_connected":
        return True
    if node.op == "batch_matmul":  # matrices on the trailing two axes of two activations, batched on the rest
        return len(ins) == 2 and all(len(t.shape) >= 3 for t in ins)
    rank = len(ins[0].shape)
    consts_broadcast = all(t.data.ndim < rank or t.shape[0] == 1 for t in node.inputs  # type: ignore[union-attr]
                           if t is not None and t.is_const and t.dtype.kind == "f")
    return node.op in _ROW_WISE and consts_broadcast and all(len(t.shape) == rank for t in (*ins, *node.outputs))


def keeps_batch(node: Node) -> bool:
    """Whether ``node``, its activations batched on axis 0, maps axis 0 to axis 0 (so a batch of N runs as one
    call)."""
    if node.op in _BATCH_FIXED or node.op in ("pack", "unpack"):
        return False
    if any(t is not None and not t.is_const and t.dtype.kind in "iu" for t in node.inputs[1:]):
        return False  # a run-time shape, axis or index operand
    ins = [t for t in node.inputs if t is not None and not t.is_const]
    if any(not t.shape or t.shape[0] != 1 for t in (*ins, *node.outputs)):
        return _rows_folded(node, ins) and _keeps_axis0(node)
    return _keeps_axis0(node)


def _keeps_axis0(node: Node) -> bool:
    """Whether ``node`` keeps the rows of axis 0 apart (does not squeeze, concatenate, gather or reduce it ...)."""
    attrs = node.attrs
    if node.op == "squeeze":
        return 0 not in attrs.axes  # type: ignore[union-attr]
    if node.op in ("concatenation", "gather"):
        return attrs.axis != 0  # type: ignore[union-attr]
    if node.op in ("mean", "sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_any", "reduce_all"):
        return 0 not in node.input(1).data.reshape(-1).tolist()  # type: ignore[union-attr]
    if node.op == "transpose":
        return int(node.input(1).data.reshape(-1)[0]) == 0  # type: ignore[union-attr]
    return True


def _moved_batch_axis(node: Node, axes: list[int]) -> int | None:
    """Where the batch axis of ``node``'s outputs is when its activation inputs are batched on ``axes``, for the
    ops that move it without baking in batch 1 (transpose, unpack, pack of batched tensors); None otherwise."""
    if len(set(axes)) != 1:
        return None
    a = axes[0]
    x = node.inputs[0]
    if x is None or not x.shape or x.shape[a] != 1:
        return None
    if node.op == "transpose" and node.input(1).is_const:
        return [int(p) for p in node.input(1).data.reshape(-1)].index(a)  # type: ignore[union-attr]
    if node.op == "unpack":
        at = int(node.attrs.axis) % len(x.shape)  # type: ignore[union-attr]
        return None if at == a else a - (at < a)
    if node.op == "pack":
        at = int(node.attrs.axis) % (len(x.shape) + 1)  # type: ignore[union-attr]
        return a + (at <= a)
    return None


def batch_axes(graph: Graph) -> dict[int, int] | None:
    """The batch axis of every activation (tensor id -> axis) when the graph runs on a batch N > 1 with the IR's
    batch-1 shapes relaxed (inputs batched on axis 0); None if some op cannot."""
    axes: dict[int, int] = {}
    if any(node.stateful for node in graph.nodes):
        return None  # a random op draws once per call; one sample per call gives each sample its own draws
    for t in graph.inputs:
        if not t.shape or t.shape[0] != 1:
            return None
        axes[id(t)] = 0
    for node in graph.nodes:
        # Activations without a batch axis are computed from constants alone (nodes visited in order).
        ins = [t for t in node.inputs if t is not None and not t.is_const and id(t) in axes]
        if not ins:
            continue
        got = [axes[id(t)] for t in ins]
        if all(a == 0 for a in got) and keeps_batch(node):
            out = 0
        else:
            moved = _moved_batch_axis(node, got)
            if moved is None:
                return None
            out = moved
        for t in node.outputs:
            axes[id(t)] = out
    return axes
