"""Keras LSTM loops -> one fused sequence op, instead of one copy of the cell per time step.

A Keras LSTM with ``unroll=False`` (Keras 3 and tf_keras alike; tf_keras also marks the function
``api_implements: lstm_<id>``, which TensorFlow's converter keys on) is a While over the time steps::

    While(counters..., out_list, h, c, in_list = TensorListFromTensor(X), W, U, b ...)
      body: x_t = TensorListGetItem(in_list, t); h', c' = cell(x_t, h, c); out_list[idx(t)] = h'

It is recognised by what it computes, not by names or attributes, so both Keras versions (and hand-written loops of
the same form) fuse: the loop must read one TensorList made from a static tensor X [T, B, F] at step t, write one
TensorList (TensorListReserve) at an index that depends on the step only, carry exactly two float states (h, c)
besides counters and loop invariants, and read as weights only tensors computed from loop invariants shaped as the
kernel W [F, 4H], the recurrent kernel U [H, 4H] and optionally the bias b [4H]. The step is then evaluated for
random x, h, c, W, U, b and must give, within float32 rounding,

    i, f, g, o = split(x W + h U + b, 4);   c' = sigmoid(f) c + sigmoid(i) tanh(g);   h' = sigmoid(o) tanh(c')

and write h': the Keras LSTM cell with its default activations, which TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM computes.
The loop is replaced by ``BlockLSTMV2`` (TensorFlow's own fused LSTM op, with Keras' i, f, c, o gate order), so the
graph still computes the same in TensorFlow; its handler makes the IR sequence LSTM. Everything else (masked layers
read a second list, GRU and SimpleRNN cells carry one state, other activations, a final cell state that is used)
fails a check and is unrolled; ``fuse_lstm`` returns the reason for the conversion summary.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tf_runtime import tensorflow
from .functions import instantiate
from .graph_edits import const_node, tensor_key
from .loops import FunctionDef, Loop, NodeDef, Scratch, scratch_graph
from .static_values import StaticValues

TfTensor = Any  # tf.Tensor of the scratch graph
_TRIALS = ((1.0, 0.5), (2.0, 1.0))  # (activation scale, weight scale) of the random checks: mild and saturating
_TOLERANCE = 1e-4  # |step - reference| / max(1, |reference|): float32 rounding of a few products and exp/tanh


@dataclass(frozen=True)
class Fused:
    """The nodes that replace the loop, the tensor standing for each of its outputs, and the step count."""

    nodes: list[NodeDef]
    outputs: list[str]
    steps: int


@dataclass(frozen=True)
class _Cell:
    """What the matcher found: loop-variable roles and the step's tensors in the scratch graph."""

    in_list: int
    out_list: int
    h: int
    c: int
    x: str  # the sequence X [T, B, F] in the model's graph
    get: Any  # TensorListGetItem op (scratch)
    set: Any  # TensorListSetItem op (scratch)
    weights: tuple[TfTensor, TfTensor, TfTensor | None]  # W, U, b as the step reads them (scratch)


class _NoMatch(Exception):  # noqa: N818 - internal: carries the reason the loop is unrolled instead
    pass


def fuse_lstm(loop: Loop, sv: StaticValues, library: Mapping[str, FunctionDef], steps: Sequence[Mapping[int, Any]],
              final: Mapping[int, np.ndarray], read: Callable[[int], bool], prefix: str) -> Fused | str:
    """The fused replacement of ``loop`` (which runs ``steps``, its counters' values per step, ending at ``final``),
    or why it is not a Keras LSTM the fused op can express. ``read(k)``: whether output ``k`` of the loop is used;
    ``prefix``: a free name scope for the new nodes."""
    try:
        sc = scratch_graph(loop, sv, library)
        cell, slots = _match(loop, sv, sc, steps)
        if read(cell.c):
            raise _NoMatch("its final cell state is used (return_state), which TFLite's sequence LSTM does not output")
        return _emit(loop, sv, library, sc, cell, slots, len(steps), final, prefix)
    except _NoMatch as e:
        return str(e)


def _match(loop: Loop, sv: StaticValues, sc: Scratch, steps: Sequence[Mapping[int, Any]]) -> tuple[_Cell, list[int]]:
    tf = tensorflow()
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(sc.graph_def, name="")
    n, T = len(loop.init), len(steps)
    if T == 0:
        raise _NoMatch("it runs no step")
    dtypes = [tf.as_dtype(d) for d in loop.dtypes]
    arg_index = {name: i for i, name in enumerate(sc.args)}

    def arg_of(t: TfTensor) -> int | None:
        t = _source(t)
        return arg_index.get(t.op.name) if t.op.type == "Placeholder" else None

    body_out = [_source(g.get_tensor_by_name(tensor_key(o))) for o in sc.body_outs]
    invariant_args = {i for i in range(n) if arg_of(body_out[i]) == i}
    counters = set(steps[0])
    lists = [i for i in range(n) if dtypes[i] == tf.variant]
    ins = [i for i in lists if i in invariant_args]
    outs = [i for i in lists if i not in invariant_args]
    if len(ins) != 1 or len(outs) != 1:
        raise _NoMatch(f"it reads {len(ins)} sequence(s) and writes {len(outs)}, an LSTM reads one and writes one "
                       "(a masked layer reads its mask as a second sequence)")
    states = [i for i in range(n) if i not in invariant_args and i not in counters and i not in lists]
    if len(states) != 2 or any(dtypes[i] != tf.float32 for i in states):
        raise _NoMatch(f"it carries {len(states)} state(s) besides its counters, an LSTM carries two float32 states "
                       "(h, c); a GRU or SimpleRNN carries one")
    body_ops = [op for op in g.get_operations() if op.name.startswith("body/")]
    gets = [op for op in body_ops if op.type == "TensorListGetItem" and arg_of(op.inputs[0]) == ins[0]]
    sets = [op for op in body_ops if op.type == "TensorListSetItem" and arg_of(op.inputs[0]) == outs[0]]
    if len(gets) != 1 or len(sets) != 1 or body_out[outs[0]].op is not sets[0]:
        raise _NoMatch("it does not read one element of its input sequence and write one of its output per step")
    written = _source(sets[0].inputs[2])
    hs = [i for i in states if body_out[i] is written]
    if len(hs) != 1:
        raise _NoMatch("the element it writes is not one of its states")
    h, c = hs[0], next(i for i in states if i != hs[0])

    x = _list_source(sv, loop.init[ins[0]], "TensorListFromTensor")
    x_shape = sv.static_shape(x)
    h_shape, c_shape = sv.static_shape(loop.init[h]), sv.static_shape(loop.init[c])
    # The batch may be unknown (-1) here; the importer fixes it. Time and features must be static.
    if x_shape is None or len(x_shape) != 3 or x_shape[0] != T or x_shape[2] < 0:
        raise _NoMatch(f"its input sequence is not a [{T}, batch, features] tensor with static features")
    _, batch, features = x_shape
    if h_shape is None or len(h_shape) != 2 or h_shape[0] not in (batch, -1) or h_shape != c_shape or h_shape[1] < 0:
        raise _NoMatch("its states are not two [batch, units] tensors")
    units = h_shape[1]
    batch = max(batch, 1)  # (the step is checked on one sequence when the batch is not known yet)

    boundary = _weights_read(g, body_ops, {sc.args[i] for i in invariant_args})
    shapes = {"W": (features, 4 * units), "U": (units, 4 * units), "b": (4 * units,)}
    if not 2 <= len(boundary) <= 3 or any(tuple(t.shape.as_list()) not in shapes.values() for t in boundary):
        raise _NoMatch("the weights it reads are not an LSTM's kernel, recurrent kernel and bias")
    feeds = {sc.args[i]: v for i, v in steps[0].items()}
    weights = _verify(g, feeds, gets[0].outputs[0], g.get_tensor_by_name(tensor_key(sc.args[h])),
                      g.get_tensor_by_name(tensor_key(sc.args[c])), (body_out[h], body_out[c], written), boundary,
                      shapes, (batch, features, units))
    cell = _Cell(ins[0], outs[0], h, c, x, gets[0], sets[0], weights)
    return cell, _slots(g, sc, sv, loop, cell, steps)


def _source(t: TfTensor) -> TfTensor:
    """``t`` seen through Identity ops."""
    while t.op.type == "Identity":
        t = t.op.inputs[0]
    return t


def _list_source(sv: StaticValues, ref: str, maker: str) -> str:
    """The tensor a TensorList of the model's graph was made from by ``maker`` (its first input)."""
    op = _source(sv.graph.get_tensor_by_name(tensor_key(ref))).op
    if op.type != maker:
        raise _NoMatch(f"its sequence is not made by {maker}")
    return op.inputs[0].name


def _weights_read(g: Any, body_ops: Sequence[Any], invariant_args: set[str]) -> list[TfTensor]:  # noqa: ANN401
    """The float tensors the step reads that are computed from loop invariants only (the weights as it uses them),
    excluding constants."""
    tf = tensorflow()
    invariant = set(invariant_args)
    for op in g.get_operations():
        if op.type == "Const" or (op.name.startswith("body/") and op.inputs
                                  and all(t.op.name in invariant for t in op.inputs)):
            invariant.add(op.name)
    found: dict[str, TfTensor] = {}
    for op in body_ops:
        if op.name in invariant:
            continue
        for t in op.inputs:
            if t.op.name in invariant and t.op.type != "Const" and t.dtype == tf.float32:
                found[t.name] = t
    return list(found.values())


def _verify(g: Any, feeds: Mapping[str, Any], x: TfTensor, h: TfTensor, c: TfTensor,  # noqa: ANN401
            fetch: tuple[TfTensor, TfTensor, TfTensor], boundary: list[TfTensor],
            shapes: Mapping[str, tuple[int, ...]], dims: tuple[int, int, int]) -> tuple[TfTensor, TfTensor, TfTensor | None]:
    """The assignment of ``boundary`` to (W, U, b) under which the step computes the Keras LSTM cell (``fetch``:
    new h, new c, the element written) for random values; _NoMatch if none does."""
    tf = tensorflow()
    batch, features, units = dims
    rng = np.random.default_rng(0)
    by_shape = {k: [t for t in boundary if tuple(t.shape.as_list()) == s] for k, s in shapes.items()}
    with tf.compat.v1.Session(graph=g) as sess:
        for w, u in itertools.product(by_shape["W"], by_shape["U"]):
            rest = [t for t in boundary if t is not w and t is not u]
            if w is u or len(rest) > 1 or (rest and rest[0] not in by_shape["b"]):
                continue
            b = rest[0] if rest else None
            ok = True
            for act, wscale in _TRIALS:
                vals = {"x": rng.normal(0, act, (batch, features)), "h": rng.normal(0, act, (batch, units)),
                        "c": rng.normal(0, act, (batch, units)), "W": rng.normal(0, wscale, shapes["W"]),
                        "U": rng.normal(0, wscale, shapes["U"]), "b": rng.normal(0, wscale, shapes["b"])}
                vals = {k: v.astype(np.float32) for k, v in vals.items()}
                feed = {g.get_tensor_by_name(tensor_key(k)): v for k, v in feeds.items()}
                feed.update({x: vals["x"], h: vals["h"], c: vals["c"], w: vals["W"], u: vals["U"]})
                if b is not None:
                    feed[b] = vals["b"]
                else:
                    vals["b"] = np.zeros(shapes["b"], np.float32)
                try:
                    got = sess.run(list(fetch), feed)
                except (tf.errors.OpError, ValueError, TypeError):
                    raise _NoMatch("its step cannot be evaluated on its own") from None
                want_h, want_c = _keras_cell(vals)
                ok = ok and all(_close(a, e) for a, e in zip(got, (want_h, want_c, want_h), strict=True))
            if ok:
                return w, u, b
    raise _NoMatch("its cell is not the Keras LSTM cell with tanh and sigmoid (a GRU, a SimpleRNN, other activations "
                   "or a custom cell)")


def _keras_cell(v: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    z = v["x"].astype(np.float64) @ v["W"] + v["h"] @ v["U"] + v["b"]
    i, f, g, o = np.split(z, 4, axis=1)
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    c = sig(f) * v["c"] + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c), c


def _close(got: np.ndarray, want: np.ndarray) -> bool:
    return np.shape(got) == np.shape(want) and float(np.max(np.abs(got - want))) <= _TOLERANCE * max(
        1.0, float(np.max(np.abs(want))))


def _slots(g: Any, sc: Scratch, sv: StaticValues, loop: Loop, cell: _Cell,  # noqa: ANN401
           steps: Sequence[Mapping[int, Any]]) -> list[int]:
    """Per element of the output list, the step whose h it holds at the end. The step must read element t of the
    input at step t; the list must be a TensorListReserve whose every element is written."""
    tf = tensorflow()
    reserve = _source(sv.graph.get_tensor_by_name(tensor_key(loop.init[cell.out_list]))).op
    if reserve.type != "TensorListReserve" or not sv.is_static(reserve.inputs[1].name):
        raise _NoMatch("its output sequence is not a TensorListReserve of static length")
    length = int(sv.evaluate([reserve.inputs[1].name])[0])
    writer: dict[int, int] = {}
    with tf.compat.v1.Session(graph=g) as sess:
        for k, counters in enumerate(steps):
            feed = {g.get_tensor_by_name(tensor_key(sc.args[i])): v for i, v in counters.items()}
            try:
                read_at, write_at = sess.run([cell.get.inputs[1], cell.set.inputs[1]], feed)
            except (tf.errors.OpError, ValueError):
                raise _NoMatch("its read and write positions depend on more than the step") from None
            if int(read_at) != k:
                raise _NoMatch("it does not read its input sequence in order, one element per step")
            if not 0 <= int(write_at) < length:
                raise _NoMatch("it writes outside its output sequence")
            writer[int(write_at)] = k
    if len(writer) != length:
        raise _NoMatch("it leaves elements of its output sequence unwritten")
    return [writer[j] for j in range(length)]


def _emit(loop: Loop, sv: StaticValues, library: Mapping[str, FunctionDef], sc: Scratch, cell: _Cell,
          slots: list[int], steps: int, final: Mapping[int, np.ndarray], prefix: str) -> Fused:
    """BlockLSTMV2 over X with the loop's initial h, c and the weights it reads (hoisted out of the body), and the
    tensors that stand for the loop's outputs."""
    tf = tensorflow()
    hoisted, _ = instantiate(loop.body, f"{prefix}/weights", list(loop.init), library)
    by_name = {nd.name: nd for nd in hoisted}

    def outside(t: TfTensor) -> str:
        """The model-graph tensor for scratch tensor ``t`` (a loop variable, or a hoisted copy of a body node)."""
        if t.op.type == "Placeholder":
            return loop.init[sc.args.index(t.op.name)]
        return f"{prefix}/weights/{t.op.name[len('body/'):]}:{t.value_index}"

    w, u, b = cell.weights
    refs = [outside(t) for t in (w, u, b) if t is not None]
    nodes = _closure(by_name, [r.split(":")[0] for r in refs])
    units = int(w.shape[1]) // 4
    w_ref, u_ref = refs[0], refs[1]
    b_ref = refs[2] if b is not None else _add(nodes, const_node(f"{prefix}/no_bias", np.zeros(4 * units, np.float32)))
    axis = _add(nodes, const_node(f"{prefix}/axis", np.int32(0)))
    concat = _add(nodes, _op(f"{prefix}/kernels", "ConcatV2", [w_ref, u_ref, axis], T=tf.float32, N=2,
                             Tidx=tf.int32))
    zeros = _add(nodes, const_node(f"{prefix}/no_peephole", np.zeros(units, np.float32)))
    seq = _add(nodes, const_node(f"{prefix}/steps", np.int64(steps)))
    lstm = _op(prefix, "BlockLSTMV2", [seq, cell.x, loop.init[cell.c], loop.init[cell.h], concat, zeros, zeros,
                                       zeros, b_ref], T=tf.float32)
    lstm.attr["cell_clip"].f = 0.0  # Keras does not clip the cell state
    lstm.attr["use_peephole"].b = False
    nodes.append(lstm)
    h_all = f"{prefix}:6"
    if slots != list(range(steps)):
        if slots == list(range(slots[0], slots[0] + len(slots))):  # a run of steps (the last one: Keras' last output)
            h_all = _add(nodes, _slice(f"{prefix}/written", h_all, slots[0], slots[-1] + 1, nodes))
        else:
            idx = _add(nodes, const_node(f"{prefix}/written_steps", np.asarray(slots, np.int32)))
            h_all = _add(nodes, _op(f"{prefix}/written", "GatherV2", [h_all, idx, axis], Tparams=tf.float32,
                                    Tindices=tf.int32, Taxis=tf.int32))
    batch = sv.static_shape(loop.init[cell.h])
    shape = _add(nodes, const_node(f"{prefix}/element_shape", np.asarray(batch, np.int32)))
    out_list = _add(nodes, _op(f"{prefix}/outputs", "TensorListFromTensor", [h_all, shape],
                               element_dtype=tf.float32, shape_type=tf.int32))
    outputs = list(loop.init)
    outputs[cell.out_list] = out_list
    outputs[cell.h] = _add(nodes, _slice(f"{prefix}/last_h", f"{prefix}:6", steps - 1, steps, nodes, shrink=True))
    # Nothing asked for reads the final cell state (checked: TFLite cannot output it); readers on dead paths (an
    # inlined call's IdentityN passes every result on) get the initial one rather than a missing tensor.
    outputs[cell.c] = loop.init[cell.c]
    for i, value in final.items():
        outputs[i] = _add(nodes, const_node(f"{prefix}/exit/loop_var_{i}", value))
    return Fused(nodes, outputs, steps)


def _closure(by_name: Mapping[str, NodeDef], roots: Sequence[str]) -> list[NodeDef]:
    """The hoisted nodes ``roots`` depend on (data inputs only: reads of frozen values need no ordering)."""
    keep: dict[str, NodeDef] = {}
    todo = [r for r in roots if r in by_name]
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        nd = type(by_name[name])()
        nd.CopyFrom(by_name[name])
        data = [i for i in nd.input if not i.startswith("^")]
        del nd.input[:]
        nd.input.extend(data)
        keep[name] = nd
        todo.extend(i.split(":")[0] for i in data if i.split(":")[0] in by_name)
    return list(keep.values())


def _add(nodes: list[NodeDef], node: NodeDef) -> str:
    nodes.append(node)
    return node.name


def _op(name: str, op: str, inputs: Sequence[str], **types: Any) -> NodeDef:  # noqa: ANN401
    """A NodeDef; keyword arguments set type attributes (tf.DType) or int attributes."""
    tf = tensorflow()
    nd = tf.compat.v1.NodeDef(name=name, op=op)
    nd.input.extend(inputs)
    for key, value in types.items():
        if isinstance(value, tf.DType):
            nd.attr[key].type = value.as_datatype_enum
        else:
            nd.attr[key].i = int(value)
    return nd


def _slice(name: str, seq: str, begin: int, end: int, nodes: list[NodeDef], shrink: bool = False) -> NodeDef:
    """seq[begin:end] along the first (time) axis; seq[begin] with ``shrink``."""
    tf = tensorflow()
    bounds = [_add(nodes, const_node(f"{name}/{k}", np.asarray([v], np.int32)))
              for k, v in (("begin", begin), ("end", end), ("strides", 1))]
    nd = _op(name, "StridedSlice", [seq, *bounds], T=tf.float32, Index=tf.int32)
    for mask in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"):
        nd.attr[mask].i = 0
    nd.attr["shrink_axis_mask"].i = int(shrink)
    return nd
