"""The layer inputs adaptive weight rounding chooses codes by (``rounding``, whose docstring states the math): the
second moments of each roundable layer's input rows on calibration samples, from the float graph in one compiled
run (``collect`` without options), or from the float and the simulated integer model run node by node, each layer
rounded as it is reached (``collect`` with QuantizeOptions, ``_collect_quantized``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import Graph, Node, QuantParams, Tensor
from ..ir.attrs import Padding
from .calibrate import Rider, batch_size
from .dataset import Dataset
from .qmath import INT4, INT8, UINT8
from .rounding import LayerInputs, layers, round_weights

POSITIONS = 64  # output positions per sample whose patches enter X^T X
ROWS = 64  # rows per sample of a fully connected / batch matmul input with many rows (tokens)
MAX_SAMPLES = 64  # calibration samples whose layer inputs are gathered (one more float run over them)
BATCH = 16
LIVE_BUDGET = 2**30  # bytes of activations (float32) budgeted for ``_collect_quantized``'s two runs (twice the live)
QUANTIZED_SAMPLES = 256  # samples ``_collect_quantized`` runs at most, and
WORK_BUDGET = 2**30  # bytes of activations (float32, all tensors) it computes per run at most: MobileNetV2 (224)
#                      has 28 MB a sample (38 samples), the trained test models under 1 MB (all their samples)
MIN_QUANTIZED_SAMPLES = 64  # fewer than this within the budgets: the float graph's inputs instead (``collect``)


def _pads(size: int, k: int, stride: int, dilation: int, padding: Padding) -> int:
    """Leading padding of a convolution on one spatial axis (TensorFlow's SAME: the smaller half in front)."""
    if padding is not Padding.SAME:
        return 0
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2


def _patches(tf: Any, node: Node, x: Any) -> Any:  # noqa: ANN401
    """im2col rows of conv / depthwise ``node`` at a strided subset of its output positions: [N, kh*kw*C]
    (ordered kh, kw, C as the OHWI kernel flattens)."""
    w = node.inputs[1].data  # type: ignore[union-attr]
    kh, kw = w.shape[1], w.shape[2]
    a = node.attrs
    (sh, sw), (dh, dw) = a.stride, a.dilation
    h, wd = x.shape[1], x.shape[2]
    ho, wo = node.outputs[0].shape[1], node.outputs[0].shape[2]
    m = max(1, math.ceil(math.sqrt(ho * wo / POSITIONS)))
    top, left = _pads(h, kh, sh, dh, a.padding), _pads(wd, kw, sw, dw, a.padding)
    bottom = max((ho - 1) * sh + (kh - 1) * dh + 1 - h - top, 0)
    right = max((wo - 1) * sw + (kw - 1) * dw + 1 - wd - left, 0)
    xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    p = tf.image.extract_patches(xp, [1, kh, kw, 1], [1, sh * m, sw * m, 1], [1, dh, dw, 1], "VALID")
    return tf.reshape(p, [-1, kh * kw * x.shape[3]])


def _layer_rows(tf: Any, node: Node, x: Any) -> Any:  # noqa: ANN401
    """``node``'s input rows in this batch, as its weights multiply them: [N, n] (depthwise: [N, kh*kw, C])."""
    if node.op in ("fully_connected", "batch_matmul"):
        rows = tf.reshape(x, [-1, x.shape[-1]])
        per_sample = int(np.prod(x.shape[1:-1])) if x.shape.rank > 2 else 1
        return rows[:: math.ceil(per_sample / ROWS)] if per_sample > ROWS else rows
    p = _patches(tf, node, x)
    if node.op == "conv_2d":
        return p
    w = node.inputs[1].data  # type: ignore[union-attr]
    return tf.reshape(p, [-1, w.shape[1] * w.shape[2], x.shape[3]])


def _product(tf: Any, node: Node, a: Any, b: Any) -> Any:  # noqa: ANN401
    """sum a b^T over the rows ``_layer_rows`` gives for two inputs of ``node``: [G, n, n]."""
    if node.op == "depthwise_conv_2d":  # per channel c: [k, N] x [N, l] (a batched product, not an einsum)
        return tf.matmul(tf.transpose(a, [2, 1, 0]), tf.transpose(b, [2, 0, 1]))
    return tf.matmul(a, b, transpose_a=True)[None]


def _gram(tf: Any, node: Node, x: Any) -> Any:  # noqa: ANN401
    """sum x x^T of ``node``'s input rows in this batch: [G, n, n]."""
    rows = _layer_rows(tf, node, x)
    return _product(tf, node, rows, rows)


def _rows(node: Node, x_shape: Sequence[int], samples: int) -> int:
    """How many input rows ``_gram`` sums for ``samples`` samples."""
    if node.op in ("fully_connected", "batch_matmul"):
        per_sample = int(np.prod(x_shape[1:-1])) if len(x_shape) > 2 else 1
        return samples * (len(range(0, per_sample, math.ceil(per_sample / ROWS))) if per_sample > ROWS else
                          per_sample)
    ho, wo = node.outputs[0].shape[1], node.outputs[0].shape[2]
    m = max(1, math.ceil(math.sqrt(ho * wo / POSITIONS)))
    return samples * len(range(0, ho, m)) * len(range(0, wo, m))


class _Grams:
    """``collect``'s sums on the float graph: the tensors to fetch (each roundable layer's input), their reduction
    inside the graph (``summarize``: one X^T X per layer reading the tensor), and the running sums of the batches
    taken (``take``: one batch's sum in float32 (<= BATCH x POSITIONS rows), the total in float64)."""

    def __init__(self, graph: Graph) -> None:
        from ..tf_runtime import tensorflow  # noqa: PLC0415

        self.tf, self.graph, self.seen = tensorflow(), graph, 0
        self.readers: dict[str, list[Node]] = {}
        self.fetch: list[Tensor] = []
        for n in layers(graph):
            x = n.inputs[0]
            assert x is not None
            if x.name not in self.readers:
                self.fetch.append(x)
            self.readers.setdefault(x.name, []).append(n)
        self.order = [n for t in self.fetch for n in self.readers[t.name]]
        self.sums: list[np.ndarray | None] = [None] * len(self.order)

    def summarize(self, t: Tensor, x: Any) -> list[Any]:  # noqa: ANN401
        return [_gram(self.tf, n, x) for n in self.readers[t.name]]

    def width(self, t: Tensor) -> int:
        return len(self.readers[t.name])

    def take(self, flat: list[np.ndarray], samples: int) -> None:
        for i, g in enumerate(flat):
            g = g.astype(np.float64)
            self.sums[i] = g if self.sums[i] is None else self.sums[i] + g
        self.seen += samples

    def result(self) -> dict[str, LayerInputs]:
        out: dict[str, LayerInputs] = {}
        for n, g in zip(self.order, self.sums, strict=True):
            if g is not None:
                out[n.name] = LayerInputs(g, _rows(n, n.inputs[0].shape, self.seen))  # type: ignore[union-attr]
        return _share(self.graph, out)


def collect(graph: Graph, data: Dataset, max_samples: int | None = None,
            opts: Any = None) -> dict[str, LayerInputs]:  # noqa: ANN401
    """X^T X of every adaptively rounded layer's input on the first ``max_samples`` samples of ``data``, by node
    name: from the float graph, or with ``opts`` (the QuantizeOptions the graph, calibrated, will be quantized
    with) from the partly quantized model, layer by layer (``_collect_quantized``)."""
    if opts is not None:
        return _collect_quantized(graph, data, opts, QUANTIZED_SAMPLES if max_samples is None else max_samples)
    max_samples = MAX_SAMPLES if max_samples is None else max_samples
    from ..frontend.reference import ReferenceExecutor  # noqa: PLC0415 (TensorFlow)

    if not layers(graph):
        return {}
    grams = _Grams(graph)
    executor = ReferenceExecutor(graph, fetch=grams.fetch, summarize=grams.summarize)
    total = min(data.num_samples, max_samples)
    batch = BATCH if executor.batched else 1
    for inputs in data.batches(batch):
        if grams.seen >= total:
            break
        take = min(len(inputs[0]), total - grams.seen)
        inputs = [a[:take] for a in inputs]
        for start in range(0, take, batch):
            stop = min(start + batch, take)
            grams.take(executor.run_batch(executor.samples(inputs, start, stop)), stop - start)
    return grams.result()


def gram_rider(graph: Graph, data: Dataset) -> tuple[Rider, Callable[[], dict[str, LayerInputs]]] | None:
    """``collect(graph, data)`` taken in calibration's run over ``data`` (``calibrate``'s riders) instead of a run
    of its own, and the function that returns it: where calibration runs in ``collect``'s batches (the same
    batches give the same sums), else None. Batches past ``collect``'s samples are not taken."""
    from ..frontend.reference import batch_axes  # noqa: PLC0415 (TensorFlow)

    batched = batch_axes(graph) is not None
    batch = BATCH if batched else 1
    total = min(data.num_samples, MAX_SAMPLES)
    if not layers(graph) or (batched and batch_size(graph) != BATCH) or (total < data.num_samples and total % batch):
        return None
    grams = _Grams(graph)

    def take(flat: list[np.ndarray], samples: int) -> None:
        if grams.seen < total:
            grams.take(flat, samples)

    return Rider(grams.fetch, grams.summarize, grams.width, take), grams.result


def _sharers(graph: Graph) -> dict[str, list[str]]:
    """Roundable layers by weight tensor, for weights several layers read (an unrolled recurrent cell's steps)."""
    by: dict[str, list[str]] = {}
    for n in layers(graph):
        by.setdefault(n.inputs[1].name, []).append(n.name)  # type: ignore[union-attr]
    return {w: names for w, names in by.items() if len(names) > 1}


def _pooled(parts: Sequence[LayerInputs]) -> LayerInputs:
    """The second moments of all ``parts``' rows together (sums; halves pooled likewise)."""
    def total(xs: Sequence[np.ndarray | None]) -> np.ndarray | None:
        return None if any(x is None for x in xs) else sum(xs[1:], xs[0].copy())  # type: ignore[union-attr]

    folds = None
    if all(p.folds is not None for p in parts):
        folds = tuple(_pooled([p.folds[k] for p in parts]) for k in (0, 1))  # type: ignore[index]
    return LayerInputs(total([p.gram for p in parts]), sum(p.rows for p in parts),  # type: ignore[arg-type]
                       total([p.cross for p in parts]), total([p.target for p in parts]), folds)  # type: ignore[arg-type]


def _share(graph: Graph, out: dict[str, LayerInputs]) -> dict[str, LayerInputs]:
    """Layers reading one weight tensor get one LayerInputs, their rows pooled: one set of codes minimising the
    summed output error of all of them, written once (the file keeps its size)."""
    for names in _sharers(graph).values():
        present = [n for n in names if n in out]
        if len(present) > 1:
            pooled = _pooled([out[n] for n in present])
            for n in present:
                out[n] = pooled
    return out


def _live_bytes(graph: Graph) -> int:
    """The most float32 bytes per sample that the activations alive at once take while the graph runs node by
    node (each kept until its last reader ran)."""
    from .sensitivity import last_readers  # noqa: PLC0415 (quantizer imports this module)

    last = last_readers(graph)
    size = {t.name: 4 * int(np.prod([max(d, 1) for d in t.shape])) for t in graph.tensors() if not t.is_const}
    live = sum(size.get(t.name, 0) for t in graph.inputs)
    peak = live
    for i, node in enumerate(graph.nodes):
        live += sum(size.get(t.name, 0) for t in node.outputs if t.name in last)
        peak = max(peak, live)
        live -= sum(size.get(t.name, 0) for t in {id(t): t for t in node.inputs if t is not None and not t.is_const
                                                  and last.get(t.name) == i}.values())
    return peak


def quantized_samples(graph: Graph, wanted: int) -> int:
    """How many of ``wanted`` samples ``_collect_quantized`` runs ``graph`` on: as many as keep both runs' live
    activations within ``LIVE_BUDGET`` and each run's computed activations within ``WORK_BUDGET``."""
    work = 4 * sum(int(np.prod([max(d, 1) for d in t.shape])) for t in graph.tensors() if not t.is_const)
    return min(wanted, LIVE_BUDGET // max(2 * _live_bytes(graph), 1), WORK_BUDGET // max(work, 1))


def _collect_quantized(graph: Graph, data: Dataset, opts: Any, max_samples: int) -> dict[str, LayerInputs]:  # noqa: ANN401
    """The layer inputs as the quantized model computes them. The graph runs node by node
    (``sensitivity.resimulate``) on the first samples of ``data`` twice: in float, keeping each roundable layer's
    input, then as ``sensitivity.simulate`` runs the integer model (each activation read on its grid, integer nodes
    with their quantized constants), where each roundable layer, reached in graph order, gets X_q^T X_q, X_q^T X_f
    and X_f^T X_f from both runs' inputs, its codes chosen (``round_weights``, cached in the LayerInputs for the
    quantizer), and runs with those codes (its bias corrected for them where the quantizer corrects it), so that
    every later layer sees the earlier layers' chosen rounding. Samples: at most ``max_samples``, and as many as
    ``quantized_samples`` allows."""
    from dataclasses import replace  # noqa: PLC0415

    from ..tf_runtime import tensorflow  # noqa: PLC0415
    from .bias_correction import mean_shift  # noqa: PLC0415
    from .grids import Grids, resolve_grids  # noqa: PLC0415 (quantizer imports this module)
    from .qmath import dequantize_array  # noqa: PLC0415
    from .quantizer import quantize_graph  # noqa: PLC0415
    from .sensitivity import dequantized_constants, resimulate  # noqa: PLC0415

    roundable = {n.name for n in layers(graph)}
    if not roundable:
        return {}
    tf = tensorflow()
    plain = replace(opts, layer_inputs={})
    grids = resolve_grids(graph, plain)
    copy = graph.copy()
    quantize_graph(copy, plain)
    consts = dequantized_constants(copy)
    written = {n.name: n for n in copy.nodes}
    wanted = min(max_samples, data.num_samples)
    n = quantized_samples(graph, wanted)
    if n < min(wanted, MIN_QUANTIZED_SAMPLES):  # too large to simulate on enough samples: the float graph's inputs
        return collect(graph, data)
    samples = data.head(n)
    rounded = roundable & set(grids.integer)
    floats: dict[str, np.ndarray | None] = {}

    def keep_input(node: Node, args: list[np.ndarray | None]) -> list[np.ndarray | None]:
        if node.name in rounded:
            floats[node.name] = args[0]
        return args

    resimulate(graph, samples, Grids({}, {}, {}, {}), {}, hook=keep_input, drop=True)
    out: dict[str, LayerInputs] = {}
    shared = {n for names in _sharers(graph).values() for n in names}

    def round_layer(node: Node, args: list[np.ndarray | None]) -> list[np.ndarray | None]:
        if node.name not in rounded:
            return args
        # Shared weights are rounded once for all their readers, after the run (``_share``): nearest here.
        got = _round_layer(tf, node, written[node.name], floats.pop(node.name), args[0], node.name not in shared)
        if got is None:
            return args
        out[node.name], codes, p = got
        if codes is None:
            return args
        args = list(args)
        deq = dequantize_array(codes.astype(np.int64), np.asarray(p.scale), np.asarray(p.zero_point), p.axis)
        nearest = consts[node.name][1]
        x = next(t for t in node.inputs if t is not None and not t.is_const)
        mean = opts.activation_means.get(x.name)
        if len(args) > 2 and args[2] is not None and mean is not None and (
                p.axis is None or opts.per_channel_bias_correction) and nearest is not None:
            moved = mean_shift(node, deq - nearest, mean)
            if moved is not None and moved.shape == np.shape(args[2]):
                args[2] = args[2] - moved
        args[1] = deq.astype(np.float32)
        return args

    resimulate(graph, samples, grids, consts, hook=round_layer, drop=True)
    return _share(graph, out)


def _moments(tf: Any, node: Node, xq: np.ndarray, xf: np.ndarray) -> LayerInputs:  # noqa: ANN401
    """X_q^T X_q, X_q^T X_f and X_f^T X_f of ``node``'s input rows (``xq``/``xf``: [samples, ...] as it reads
    them; zeros for no samples), in float32 per ``BATCH`` samples, float64 across."""
    sums: list[np.ndarray] = []
    for start in range(0, max(len(xq), 1), BATCH):
        a = _layer_rows(tf, node, tf.constant(xq[start:start + BATCH], tf.float32))
        b = _layer_rows(tf, node, tf.constant(xf[start:start + BATCH], tf.float32))
        for k, (u, v) in enumerate(((a, a), (a, b), (b, b))):
            g = _product(tf, node, u, v).numpy().astype(np.float64)
            if len(sums) <= k:
                sums.append(g)
            else:
                sums[k] += g
    return LayerInputs(sums[0], _rows(node, node.inputs[0].shape, len(xq)), sums[1], sums[2])  # type: ignore[union-attr]


def _round_layer(tf: Any, node: Node, written: Node, xf: np.ndarray, xq: np.ndarray,  # noqa: ANN401
                 round_now: bool) -> tuple[LayerInputs, np.ndarray | None, QuantParams] | None:
    """``node``'s second moments from its float (``xf``) and quantized-model (``xq``) inputs, and (``round_now``)
    its codes on the grid the quantizer gave its weights in ``written`` (its node in a nearest-rounded copy); None
    when the quantizer does not round it adaptively (no 8- or 4-bit grid)."""
    w = written.inputs[1]
    p = w.quant if w is not None else None
    if p is None or p.dtype not in (INT8, UINT8, INT4):
        return None
    shape = node.inputs[0].shape  # type: ignore[union-attr]
    xq, xf = xq.reshape((-1, *shape[1:])), xf.reshape((-1, *shape[1:]))  # [samples x batch, ...]
    a, b = (_moments(tf, node, xq[k::2], xf[k::2]) for k in (0, 1))
    inputs = LayerInputs(a.gram + b.gram, a.rows + b.rows, a.cross + b.cross,  # type: ignore[operator]
                         a.target + b.target, (a, b) if b.rows else None)  # type: ignore[operator]
    if not round_now:
        return inputs, None, p
    narrow = node.op != "batch_matmul" and p.dtype != UINT8  # as the quantizer writes weights (its WEIGHT role)
    codes, _ = round_weights(node, np.asarray(node.inputs[1].data), p, inputs, narrow)  # type: ignore[union-attr]
    return inputs, codes, p
