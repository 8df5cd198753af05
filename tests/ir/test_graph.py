"""Graph edit methods keep producer / uses bookkeeping exact; toposort and validate."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from converter.ir import Graph, GraphError, Node, Tensor
from converter.ir.attrs import Activation, Conv2DAttrs, FusedActivationAttrs, Padding


def assert_consistent(g: Graph) -> None:
    """validate(), plus: every tensor's uses is exactly the multiset of graph nodes reading it, and every
    producer is a graph node that lists the tensor among its outputs."""
    g.validate()
    nodes = g.nodes
    for t in g.tensors():
        readers = [n for n in nodes for i in n.inputs if i is t]
        assert sorted(map(id, t.uses)) == sorted(map(id, readers)), t.name
        if t.producer is not None:
            assert any(t.producer is n for n in nodes) and any(o is t for o in t.producer.outputs), t.name
    for n in nodes:
        assert all(o.producer is n for o in n.outputs)


def same(a: tuple | list, b: tuple | list) -> bool:
    """Element-wise identity (Tensor and Node have no __eq__, but be explicit)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


@dataclass
class Chain:
    """x -> conv(x, w, b) -> y -> add(y, c) -> z -> relu -> out, a graph output."""

    g: Graph
    x: Tensor
    w: Tensor
    b: Tensor
    c: Tensor
    y: Tensor
    z: Tensor
    out: Tensor
    conv: Node
    add: Node
    relu: Node


def chain() -> Chain:
    g = Graph()
    x = g.tensor("x", np.float32, (1, 4, 4, 2))
    g.add_input(x)
    w = g.const("w", np.ones((3, 1, 1, 2), np.float32))
    b = g.const("b", np.zeros(3, np.float32))
    c = g.const("c", np.full(3, 0.5, np.float32))
    y, z, out = (g.tensor(n, np.float32, (1, 4, 4, 3)) for n in ("y", "z", "out"))
    conv = g.add_node("conv_2d", [x, w, b], [y], Conv2DAttrs((1, 1), Padding.SAME))
    add = g.add_node("add", [y, c], [z], FusedActivationAttrs())
    relu = g.add_node("relu", [z], [out])
    g.set_outputs([out])
    return Chain(g, x, w, b, c, y, z, out, conv, add, relu)


# ---------------------------------------------------------------- creating
def test_add_node_links_producer_and_uses() -> None:
    k = chain()
    assert same(k.g.nodes, [k.conv, k.add, k.relu])
    assert same(k.x.uses, [k.conv]) and same(k.w.uses, [k.conv]) and same(k.c.uses, [k.add])
    assert k.y.producer is k.conv and k.z.producer is k.add and k.out.producer is k.relu
    assert same(k.y.uses, [k.add]) and k.out.uses == [] and k.x.producer is None
    assert [n.name for n in k.g.nodes] == ["y", "z", "out"]  # named after the first output by default
    assert k.g.op_counts() == {"add": 1, "conv_2d": 1, "relu": 1}
    assert same(list(k.g.tensors()), [k.x, k.w, k.b, k.y, k.c, k.z, k.out])
    assert_consistent(k.g)


def test_add_node_positions_names_and_repeated_inputs() -> None:
    k = chain()
    g = k.g
    sq = g.tensor("sq", np.float32, k.y.shape)
    mul = g.add_node("mul", [k.y, k.y], [sq], FusedActivationAttrs(), after=k.conv, name="z")
    assert mul.name == "z_1"  # node names stay unique
    assert same(g.nodes, [k.conv, mul, k.add, k.relu])
    assert same(k.y.uses, [k.add, mul, mul]) and same(k.y.consumers, [k.add, mul])
    t = g.tensor("t", np.float32, k.y.shape)
    neg = g.add_node("neg", [sq], [t], before=k.relu)
    assert same(g.nodes, [k.conv, mul, k.add, neg, k.relu])
    assert g.tensor("x", np.float32, (1,)).name == "x_1"  # tensor names stay unique too
    assert_consistent(g)


def test_add_node_refuses_produced_or_constant_outputs() -> None:
    k = chain()
    with pytest.raises(GraphError, match="already has producer"):
        k.g.add_node("neg", [k.x], [k.y])
    with pytest.raises(GraphError, match="constant"):
        k.g.add_node("neg", [k.x], [k.c])
    assert same(k.g.nodes, [k.conv, k.add, k.relu])
    assert k.y.producer is k.conv and same(k.x.uses, [k.conv])
    assert_consistent(k.g)


def test_failed_add_node_leaves_graph_unchanged() -> None:
    """A refused add_node must not half-apply: no producer set on its other outputs, no node name taken."""
    k = chain()
    fresh = k.g.tensor("fresh", np.float32, (1,))
    with pytest.raises(GraphError):
        k.g.add_node("split", [k.x], [fresh, k.y], name="bad")
    assert fresh.producer is None
    assert k.g.add_node("neg", [k.x], [fresh], name="bad").name == "bad"


# ---------------------------------------------------------------- editing
def test_set_input_moves_one_use() -> None:
    k = chain()
    g = k.g
    c2 = g.const("c2", np.ones(3, np.float32))
    g.set_input(k.add, 1, c2)
    assert same(k.add.inputs, [k.y, c2]) and k.c.uses == [] and same(c2.uses, [k.add])
    g.set_input(k.conv, 2, None)  # clear an optional input
    assert k.conv.inputs[2] is None and k.b.uses == []
    g.set_input(k.conv, 2, k.b)
    assert same(k.b.uses, [k.conv])
    g.set_input(k.relu, 2, c2)  # past the end: the gap is filled with None
    assert k.relu.inputs[1] is None and same(c2.uses, [k.add, k.relu])
    assert_consistent(g)


def test_set_input_on_a_tensor_read_twice() -> None:
    k = chain()
    g = k.g
    sq = g.tensor("sq", np.float32, k.y.shape)
    mul = g.add_node("mul", [k.y, k.y], [sq], after=k.conv)
    g.set_input(mul, 0, k.x)
    assert same(mul.inputs, [k.x, k.y]) and same(k.y.uses, [k.add, mul]) and same(k.x.uses, [k.conv, mul])
    assert_consistent(g)


def test_set_inputs_replaces_all() -> None:
    k = chain()
    k.g.set_inputs(k.add, [k.y, k.y])
    assert k.c.uses == [] and same(k.y.uses, [k.add, k.add])
    assert_consistent(k.g)


def test_replace_all_uses_rewires_nodes_and_graph_outputs() -> None:
    k = chain()
    g = k.g
    g.set_outputs([k.out, k.z])
    sq = g.tensor("sq", np.float32, k.z.shape)
    mul = g.add_node("mul", [k.z, k.z], [sq])
    g.replace_all_uses(k.z, k.y)
    assert k.z.uses == [] and same(k.relu.inputs, [k.y]) and same(mul.inputs, [k.y, k.y])
    assert same(k.y.uses, [k.add, k.relu, mul, mul])
    assert same(g.outputs, [k.out, k.y])
    g.replace_all_uses(k.y, k.y)  # no-op
    assert same(k.y.uses, [k.add, k.relu, mul, mul])
    assert_consistent(g)


def test_bypass_removes_pass_through_node() -> None:
    k = chain()
    g = k.g
    g.bypass(k.relu)  # z feeds the graph output directly now
    assert same(g.nodes, [k.conv, k.add]) and same(g.outputs, [k.z])
    assert k.out.producer is None and k.out.uses == [] and k.z.uses == []
    g.bypass(k.add)
    assert same(g.nodes, [k.conv]) and same(g.outputs, [k.y]) and k.c.uses == []
    assert_consistent(g)


def test_absorb_fuses_consumer_into_producer() -> None:
    k = chain()
    g = k.g
    g.absorb(k.conv, k.add)
    assert same(g.nodes, [k.conv, k.relu])
    assert same(k.conv.outputs, [k.z]) and k.z.producer is k.conv
    assert k.y.producer is None and k.y.uses == [] and k.c.uses == []
    assert same(k.relu.inputs, [k.z])
    g.absorb(k.conv, k.relu)
    assert same(g.nodes, [k.conv]) and same(k.conv.outputs, [k.out]) and same(g.outputs, [k.out])
    assert k.z.producer is None and k.z.uses == []
    assert_consistent(g)


@pytest.mark.parametrize("other", ["second_reader", "graph_output"])
def test_absorb_refuses_when_output_has_other_readers(other: str) -> None:
    k = chain()
    g = k.g
    if other == "second_reader":
        g.add_node("neg", [k.y], [g.tensor("n", np.float32, k.y.shape)])
    else:
        g.set_outputs([k.out, k.y])
    nodes = g.nodes
    with pytest.raises(GraphError, match="other readers"):
        g.absorb(k.conv, k.add)
    assert same(g.nodes, nodes) and k.y.producer is k.conv and k.z.producer is k.add
    assert_consistent(g)


def test_fold_turns_outputs_into_constants_in_place() -> None:
    k = chain()
    g = k.g
    value = np.arange(48, dtype=np.int32).reshape(1, 4, 4, 3)
    g.fold(k.add, [value])
    assert same(g.nodes, [k.conv, k.relu])
    assert k.z.is_const and k.z.producer is None and k.z.data is value
    assert k.z.dtype == np.int32 and k.z.shape == (1, 4, 4, 3)
    assert same(k.relu.inputs, [k.z]) and same(k.z.uses, [k.relu])  # readers keep the same tensor
    assert k.y.uses == [] and k.c.uses == []
    assert_consistent(g)


def test_fold_refuses_wrong_number_of_values() -> None:
    k = chain()
    with pytest.raises(GraphError, match="2 values for 1 outputs"):
        k.g.fold(k.add, [np.zeros(3), np.zeros(3)])
    assert same(k.g.nodes, [k.conv, k.add, k.relu]) and k.z.producer is k.add and not k.z.is_const
    assert_consistent(k.g)


def test_replace_node_keeps_outputs_position_and_name() -> None:
    k = chain()
    g = k.g
    new = g.replace_node(k.add, "sub", [k.c, k.y], FusedActivationAttrs(Activation.RELU))
    assert same(g.nodes, [k.conv, new, k.relu])
    assert new.op == "sub" and new.name == k.add.name and new.tf_op == "add"
    assert new.attrs == FusedActivationAttrs(Activation.RELU)
    assert same(new.outputs, [k.z]) and k.z.producer is new
    assert same(k.y.uses, [new]) and same(k.c.uses, [new]) and same(new.inputs, [k.c, k.y])
    assert_consistent(g)


def test_remove_node() -> None:
    k = chain()
    g = k.g
    g.set_outputs([k.z])
    g.remove_node(k.relu)
    assert same(g.nodes, [k.conv, k.add]) and k.z.uses == [] and k.out.producer is None
    assert_consistent(g)


@pytest.mark.parametrize("how", ["read_by_node", "graph_output"])
def test_remove_node_refuses_used_outputs(how: str) -> None:
    k = chain()
    g = k.g
    victim = k.add if how == "read_by_node" else k.relu
    with pytest.raises(GraphError, match="still used"):
        g.remove_node(victim)
    assert same(g.nodes, [k.conv, k.add, k.relu])
    assert victim.output.producer is victim and same(k.y.uses, [k.add])
    assert_consistent(g)


def test_remove_node_refusal_on_second_output_leaves_graph_intact() -> None:
    """A two-output node whose second output is read: the refusal must not unlink the first output."""
    k = chain()
    g = k.g
    lo, hi = (g.tensor(n, np.float32, (1, 4, 4, 1)) for n in ("lo", "hi"))
    split = g.add_node("split", [k.x], [lo, hi], after=k.conv)
    reader = g.add_node("neg", [hi], [g.tensor("neg", np.float32, hi.shape)])
    g.set_outputs([k.out, reader.output])
    with pytest.raises(GraphError, match="still used"):
        g.remove_node(split)
    assert lo.producer is split and hi.producer is split
    assert_consistent(g)


def test_rename_frees_and_reassigns_names() -> None:
    k = chain()
    g = k.g
    g.rename(k.z, "out")
    assert k.z.name == "out" and k.out.name != "out" and k.out.name.startswith("out")
    assert len({t.name for t in g.tensors()}) == len(list(g.tensors()))
    assert g.tensor("z", np.float32, (1,)).name == "z"  # the old name is free again


# ---------------------------------------------------------------- order
def random_dag(seed: int, n: int = 12) -> tuple[Graph, list[Node]]:
    """A random DAG (each node reads 1-3 earlier tensors or the input), with nodes added in shuffled order."""
    rnd = random.Random(seed)
    g = Graph()
    x = g.tensor("x", np.float32, (1, 4))
    g.add_input(x)
    tensors = [x]
    specs: list[tuple[list[Tensor], Tensor]] = []
    for i in range(n):
        ins = rnd.sample(tensors, min(len(tensors), rnd.randint(1, 3)))
        out = g.tensor(f"t{i}", np.float32, (1, 4))
        specs.append((ins, out))
        tensors.append(out)
    rnd.shuffle(specs)
    nodes = [g.add_node("add_n", ins, [out]) for ins, out in specs]
    g.set_outputs([t for t in tensors[1:] if not t.uses])
    return g, nodes


def in_order(g: Graph) -> bool:
    seen: set[int] = set()
    for n in g.nodes:
        if any(t.producer is not None and id(t.producer) not in seen for t in n.inputs if t is not None):
            return False
        seen.add(id(n))
    return True


@pytest.mark.parametrize("seed", range(6))
def test_toposort_orders_a_shuffled_graph(seed: int) -> None:
    g, nodes = random_dag(seed)
    assert not in_order(g)
    with pytest.raises(GraphError, match="before it is produced"):
        g.validate()
    uses = {id(t): [id(u) for u in t.uses] for t in g.tensors()}

    g.toposort()

    assert in_order(g)
    assert sorted(map(id, g.nodes)) == sorted(map(id, nodes))
    assert {id(t): [id(u) for u in t.uses] for t in g.tensors()} == uses  # edges untouched
    assert_consistent(g)
    order = g.nodes
    g.toposort()
    assert same(g.nodes, order)  # stable once sorted


def test_toposort_detects_cycle() -> None:
    g = Graph()
    a, b = g.tensor("a", np.float32, (1,)), g.tensor("b", np.float32, (1,))
    g.add_node("neg", [b], [a])
    g.add_node("neg", [a], [b])
    with pytest.raises(GraphError, match="cycle"):
        g.toposort()


# ---------------------------------------------------------------- validate
def _stale_use(k: Chain) -> None:
    k.y.uses.append(k.relu)  # relu does not read y


def _missing_use(k: Chain) -> None:
    k.y.uses.clear()


def _wrong_producer(k: Chain) -> None:
    k.z.producer = k.conv


def _dangling_input(k: Chain) -> None:
    k.relu._inputs[0] = Tensor("ghost", np.float32, (1, 4, 4, 3))  # noqa: SLF001 - breaking it on purpose


def _out_of_order(k: Chain) -> None:
    k.g._nodes.reverse()  # noqa: SLF001


def _dangling_graph_output(k: Chain) -> None:
    k.g.set_outputs([k.out, Tensor("ghost", np.float32, (1,))])


BROKEN: dict[str, tuple[Callable[[Chain], None], str]] = {
    "missing_use": (_missing_use, "use list"),
    "stale_use": (_stale_use, "use"),
    "wrong_producer": (_wrong_producer, "producer"),
    "reads_unproduced_tensor": (_dangling_input, "nothing produces"),
    "out_of_order": (_out_of_order, "before it is produced"),
    "graph_output_unproduced": (_dangling_graph_output, "ghost"),
}


@pytest.mark.parametrize("how", list(BROKEN))
def test_validate_catches_broken_graph(how: str) -> None:
    k = chain()
    k.g.validate()
    breaker, message = BROKEN[how]
    breaker(k)
    with pytest.raises(GraphError, match=message):
        k.g.validate()


def _loop_graphs(body_outputs: int = 1) -> tuple[Graph, Graph, Graph, Node]:
    """main: x -> while(x) -> y; cond: v -> less(v, 10) -> c; body: v -> add(v, 1) -> w (and v again if asked)."""
    from converter.ir.attrs import WhileAttrs

    cond, body, main = Graph("cond"), Graph("body"), Graph()
    v = cond.tensor("v", np.float32, ())
    cond.add_input(v)
    c = cond.tensor("c", np.bool_, ())
    cond.add_node("less", [v, cond.const("ten", np.array(10.0, np.float32))], [c])
    cond.set_outputs([c])
    u = body.tensor("u", np.float32, ())
    body.add_input(u)
    w = body.tensor("w", np.float32, ())
    body.add_node("add", [u, body.const("one", np.array(1.0, np.float32))], [w])
    body.set_outputs([w, u][:body_outputs])
    x, y = main.tensor("x", np.float32, ()), main.tensor("y", np.float32, ())
    main.add_input(x)
    node = main.add_node("while", [x], [y], WhileAttrs(cond, body))
    main.set_outputs([y])
    return main, cond, body, node


def test_all_graphs_lists_subgraphs_depth_first_and_validate_recurses() -> None:
    main, cond, body, node = _loop_graphs()
    assert same(main.all_graphs(), [main, cond, body])
    main.validate()
    # A subgraph's own bookkeeping is checked too: a body node reading a tensor nothing produces.
    stray = body.tensor("stray", np.float32, ())
    body.add_node("add", [stray, stray], [body.tensor("z", np.float32, ())])
    with pytest.raises(GraphError, match="stray, which nothing produces"):
        main.validate()


def test_validate_refuses_a_loop_whose_body_returns_another_number_of_variables() -> None:
    main, _, _, _ = _loop_graphs(body_outputs=2)
    with pytest.raises(GraphError, match=r"does not fit its subgraphs: 1 inputs, 1 outputs, cond takes 1, body takes "
                                         r"1 and returns 2"):
        main.validate()


def test_set_graph_inputs_orders_inputs_and_adds_unread_ones() -> None:
    g = Graph()
    a, b = g.tensor("a", np.float32, (1,)), g.tensor("b", np.float32, (1,))
    g.add_input(b)
    g.add_input(a)
    unread = g.tensor("unread", np.float32, (1,))
    g.set_graph_inputs([a, unread, b])
    assert same(g.inputs, [a, unread, b])
    with pytest.raises(GraphError, match="would drop input"):
        g.set_graph_inputs([a])


def test_copy_is_independent_and_shares_constant_arrays() -> None:
    c = chain()
    c.y.qrange = None
    dup = c.g.copy()
    assert_consistent(dup)
    assert [n.op for n in dup.nodes] == ["conv_2d", "add", "relu"] and [t.name for t in dup.outputs] == ["out"]
    conv2 = dup.nodes[0]
    assert conv2 is not c.conv and conv2.inputs[1] is not c.w
    assert conv2.inputs[1].data is c.w.data  # the weights are not copied
    dup.set_input(dup.nodes[1], 1, dup.const("d", np.zeros(3, np.float32)))
    dup.set_outputs([dup.nodes[1].outputs[0]])
    dup.remove_node(dup.nodes[2])
    assert_consistent(dup)
    assert same(c.add.inputs, (c.y, c.c)) and len(c.g.nodes) == 3  # the original is unchanged
    assert_consistent(c.g)
