"""Adaptive weight rounding (``--weight_rounding=adaptive``): each layer's integer weights are rounded up or down
from the float value, whichever way makes the layer's *output* on calibration data closest to its float output,
instead of each weight to its nearest grid point. Scales, zero points and the integer range stay those of nearest
rounding, so the file has the same ops and the same size.

The math (per layer, in the weights' own code units). A layer computes y = W x (conv: x is an im2col patch, W the
kernel flattened; depthwise: one such product per channel with its own patch; fully connected / batch matmul with
a constant operand: x is a row of the input). With codes Q (real weights s * (Q - z)), the output error on a set
of inputs X (rows x) is, for each output channel r of scale s_r,

    L_r(Q_r) = s_r^2 * (Q_r - V_r) H (Q_r - V_r)^T,    V_r = W_r / s_r + z_r,    H = X^T X / N,

a quadratic form in the rounding error e = Q_r - V_r, one per output channel (they share H; depthwise channels
each have their own). Nearest rounding minimises |e|^2, i.e. pretends H is diagonal; the correlations between
inputs (neighbouring pixels, correlated features) let the errors of several weights cancel in the output instead.
Each Q_rj is restricted to {floor(V_rj), ceil(V_rj)} clamped to the integer range (AdaRound's constraint: the
grid point just below or just above the float weight), and the binary quadratic problem is solved approximately:

 1. Sequential rounding with error feedback (GPTQ / Optimal Brain Quantization): with H^-1 = U^T U (U upper
    triangular), weights are rounded in input order; after rounding weight j to the nearer of its two allowed
    codes, the remaining unrounded targets move by -(V_rj' - Q_rj) / U_jj * U_j,k (k > j), which is the exact
    least-squares compensation of that error by the weights not yet rounded. The next weight then picks the
    nearer of *its original* floor/ceil to its updated target (so no weight leaves its two neighbours).
 2. Coordinate descent to a 1-flip local optimum: flipping Q_rj to its other allowed code changes the loss by
    2 d (e H)_j + d^2 H_jj (d = +-1); flips that lower it are taken, sweeping until none does (at most
    ``SWEEPS``); e H is updated incrementally (one row of H per flip).
 3. Per output channel, the result is kept only if its loss is below nearest rounding's (never worse on H).

H is damped, H + lambda I with lambda = ``DAMPING`` x mean(diag H): with few samples (a dense layer over 1280
features calibrated on 100 samples) X^T X has directions the data never excites, and the damping makes those
prefer nearest rounding instead of being free. Cost per layer: O(rows x n^2) for n inputs per output, plus
inverting H (n^3).

The inputs X are the float graph's (the layer's input on the calibration samples, up to ``MAX_SAMPLES``), gathered
in one run of the graph in TensorFlow, reduced to X^T X inside the graph; convolutions use the patches of at most
``POSITIONS`` output positions per sample (a strided subset), which bounds memory and time on large images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Graph, Node, QuantParams, Tensor
from ..ir.attrs import Padding
from .dataset import Dataset
from .qmath import INT4, _along, quantize_array

ROUNDED_OPS = ("conv_2d", "depthwise_conv_2d", "fully_connected", "batch_matmul")
DAMPING = 0.01
SWEEPS = 3
BLOCK = 32  # inputs rounded between two matrix-product updates of the rest (GPTQ's lazy batch)
POSITIONS = 64  # output positions per sample whose patches enter X^T X
ROWS = 64  # rows per sample of a fully connected / batch matmul input with many rows (tokens)
MAX_SAMPLES = 64  # calibration samples whose layer inputs are gathered (one more float run over them)
BATCH = 16


@dataclass(frozen=True)
class LayerInputs:
    """Second moments of a layer's inputs on calibration data: ``gram[g] = sum of x x^T`` over ``rows`` rows of
    group g (one group; depthwise: one per input channel, x its kh*kw patch)."""

    gram: np.ndarray  # [G, n, n] float64
    rows: int


@dataclass(frozen=True)
class Rounded:
    """What adaptive rounding did to one layer: the output error (the loss L summed over channels, damped H)
    with nearest and with adaptive codes, and how many codes differ from nearest."""

    node: str
    nearest_loss: float
    adaptive_loss: float
    changed: int
    size: int


def weight_index(node: Node) -> int | None:
    """The input index of ``node``'s constant weights that adaptive rounding handles (None: not such a layer)."""
    if node.op not in ROUNDED_OPS or len(node.inputs) < 2 or node.inputs[0] is None:
        return None
    w, x = node.inputs[1], node.inputs[0]
    if w is None or not w.is_const or w.data is None or x.is_const or w.dtype != np.float32:
        return None
    if node.op == "batch_matmul":  # x @ C with a constant C of one matrix (leading axes of 1), x not adjoint
        if getattr(node.attrs, "adj_x", False) or w.data.ndim < 2 or int(np.prod(w.data.shape[:-2])) != 1:
            return None
    elif node.op == "fully_connected" and w.data.ndim != 2:
        return None
    elif node.op != "fully_connected" and w.data.ndim != 4:
        return None
    return 1


def layers(graph: Graph) -> list[Node]:
    """The nodes whose weights adaptive rounding can choose."""
    return [n for n in graph.nodes if weight_index(n) is not None]


# ---- gathering X^T X

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


def _gram(tf: Any, node: Node, x: Any) -> Any:  # noqa: ANN401
    """sum x x^T of ``node``'s input rows in this batch: [G, n, n]."""
    if node.op in ("fully_connected", "batch_matmul"):
        rows = tf.reshape(x, [-1, x.shape[-1]])
        per_sample = int(np.prod(x.shape[1:-1])) if x.shape.rank > 2 else 1
        if per_sample > ROWS:
            rows = rows[:: math.ceil(per_sample / ROWS)]
        return tf.matmul(rows, rows, transpose_a=True)[None]
    p = _patches(tf, node, x)
    if node.op == "conv_2d":
        return tf.matmul(p, p, transpose_a=True)[None]
    w = node.inputs[1].data  # type: ignore[union-attr]
    p = tf.reshape(p, [-1, w.shape[1] * w.shape[2], x.shape[3]])
    return tf.einsum("nkc,nlc->ckl", p, p)


def _rows(node: Node, x_shape: Sequence[int], samples: int) -> int:
    """How many input rows ``_gram`` sums for ``samples`` samples."""
    if node.op in ("fully_connected", "batch_matmul"):
        per_sample = int(np.prod(x_shape[1:-1])) if len(x_shape) > 2 else 1
        return samples * (len(range(0, per_sample, math.ceil(per_sample / ROWS))) if per_sample > ROWS else
                          per_sample)
    ho, wo = node.outputs[0].shape[1], node.outputs[0].shape[2]
    m = max(1, math.ceil(math.sqrt(ho * wo / POSITIONS)))
    return samples * len(range(0, ho, m)) * len(range(0, wo, m))


def collect(graph: Graph, data: Dataset, max_samples: int = MAX_SAMPLES) -> dict[str, LayerInputs]:
    """X^T X of every adaptively rounded layer's input on the first ``max_samples`` samples of ``data``, from the
    float graph, by node name."""
    from ..frontend.reference import ReferenceExecutor  # noqa: PLC0415 (TensorFlow)
    from ..tf_runtime import tensorflow  # noqa: PLC0415

    nodes = layers(graph)
    if not nodes:
        return {}
    tf = tensorflow()
    readers: dict[str, list[Node]] = {}
    fetch: list[Tensor] = []
    for n in nodes:
        x = n.inputs[0]
        assert x is not None
        if x.name not in readers:
            fetch.append(x)
        readers.setdefault(x.name, []).append(n)

    def summarize(t: Tensor, x: Any) -> list[Any]:  # noqa: ANN401
        return [_gram(tf, n, x) for n in readers[t.name]]

    executor = ReferenceExecutor(graph, fetch=fetch, summarize=summarize)
    order = [n for t in fetch for n in readers[t.name]]
    sums: list[np.ndarray | None] = [None] * len(order)
    total = min(data.num_samples, max_samples)
    batch = BATCH if executor.batched else 1
    seen = 0
    for inputs in data.batches(batch):
        if seen >= total:
            break
        take = min(len(inputs[0]), total - seen)
        inputs = [a[:take] for a in inputs]
        for start in range(0, take, batch):
            flat = executor.run_batch(executor.samples(inputs, start, min(start + batch, take)))
            for i, g in enumerate(flat):  # one batch's sum in float32 (<= BATCH x POSITIONS rows), the total in float64
                g = g.astype(np.float64)
                sums[i] = g if sums[i] is None else sums[i] + g
        seen += take
    out: dict[str, LayerInputs] = {}
    for n, g in zip(order, sums, strict=True):
        if g is not None:
            out[n.name] = LayerInputs(g, _rows(n, n.inputs[0].shape, seen))  # type: ignore[union-attr]
    return out


# ---- choosing the codes

def _as_rows(node: Node, w: np.ndarray) -> tuple[np.ndarray, Any]:
    """The weights as [G, R, n] (G groups sharing an H each, R output channels, n inputs per output) and the
    inverse reshaping."""
    if node.op == "batch_matmul":
        m = w.reshape(w.shape[-2:])
        adj = getattr(node.attrs, "adj_y", False)
        rows = m if adj else m.T  # [N out, K in]
        return rows[None], lambda r: (r[0] if adj else r[0].T).reshape(w.shape)
    if node.op == "depthwise_conv_2d":
        kh, kw, cm = w.shape[1], w.shape[2], w.shape[3]
        c = node.inputs[0].shape[3]  # type: ignore[union-attr]
        mult = cm // c
        rows = w.reshape(kh * kw, c, mult).transpose(1, 2, 0)  # [C, M, kh*kw]
        return rows, lambda r: r.transpose(2, 0, 1).reshape(w.shape)
    return w.reshape(w.shape[0], -1)[None], lambda r: r[0].reshape(w.shape)


def _bounds(p: QuantParams, narrow: bool) -> tuple[int, int]:
    if p.dtype == INT4:
        return -7, 7
    info = np.iinfo(p.dtype)
    return int(info.min) + (1 if narrow else 0), int(info.max)


def round_weights(node: Node, w: np.ndarray, p: QuantParams, inputs: LayerInputs,
                  narrow: bool) -> tuple[np.ndarray, Rounded]:
    """``w`` (``node``'s weights) quantized with parameters ``p`` by adaptive rounding on ``inputs`` (see the module
    docstring); returns the codes (as ``quantize_array`` would give them, in ``p.dtype``) and what it did."""
    w64 = np.asarray(w, np.float64)
    nearest = quantize_array(w64, np.asarray(p.scale), np.asarray(p.zero_point), p.dtype, p.axis, narrow)
    s, z = _along(np.asarray(p.scale, np.float64), np.asarray(p.zero_point, np.float64), w64.ndim, p.axis)
    real = np.broadcast_to(s, w64.shape)
    v = w64 / real + z  # the codes' real-valued targets, as quantize_array computes them before rounding
    qmin, qmax = _bounds(p, narrow)
    rows_v, back = _as_rows(node, v)
    rows_s, _ = _as_rows(node, real)
    rows_n, _ = _as_rows(node, nearest.astype(np.int64))
    h = hessian(inputs)
    if h is None or h.shape[-1] != rows_v.shape[-1] or h.shape[0] != rows_v.shape[0]:
        return nearest, Rounded(node.name, float("nan"), float("nan"), 0, int(nearest.size))
    q, ada, near = _choose(rows_v, h, qmin, qmax, rows_n)
    scale2 = rows_s[..., 0] ** 2  # a channel's scale is the same for all its inputs
    near_loss, ada_loss = float(np.sum(scale2 * near)), float(np.sum(scale2 * ada))
    codes = back(q).astype(p.dtype)
    return codes, Rounded(node.name, near_loss, ada_loss, int(np.count_nonzero(codes != nearest)), int(codes.size))


def hessian(inputs: LayerInputs) -> np.ndarray | None:
    """H = X^T X / N + lambda I per group (None when the input was always 0: nothing to choose by)."""
    h = inputs.gram / max(inputs.rows, 1)
    diag = np.einsum("gii->gi", h)
    mean = diag.mean(axis=1)
    if not np.all(np.isfinite(h)) or not np.any(mean > 0):
        return None
    lam = DAMPING * np.where(mean > 0, mean, 1.0)
    return h + lam[:, None, None] * np.eye(h.shape[-1])[None]


def loss(q: np.ndarray, v: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(q - v) H (q - v)^T per row: [G, R] (codes ``q`` and targets ``v`` as [G, R, n], ``h`` as [G, n, n])."""
    e = q - v
    return np.sum((e @ h) * e, axis=-1)


def adaptive_codes(v: np.ndarray, h: np.ndarray, qmin: int, qmax: int,
                   nearest: np.ndarray | None = None) -> np.ndarray:
    """Codes in {floor(v), ceil(v)} (clamped to [qmin, qmax]) approximately minimising ``loss`` per row: sequential
    rounding with error feedback, then coordinate descent, never worse than ``nearest`` (default: v rounded half
    away from zero). ``v``: [G, R, n] targets in code units; ``h``: [G, n, n] positive definite."""
    if nearest is None:
        nearest = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), qmin, qmax)
    return _choose(v, h, qmin, qmax, nearest)[0]


def _choose(v: np.ndarray, h: np.ndarray, qmin: int, qmax: int,
            nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``adaptive_codes`` with the loss per row of its result and of ``nearest``."""
    lo = np.clip(np.floor(v), qmin, qmax)
    hi = np.clip(np.ceil(v), qmin, qmax)
    nearest = nearest.astype(np.float64)
    q = _sequential(v, h, lo, hi)
    q = _descend(q, v, h, lo, hi)
    got, near = loss(q, v, h), loss(nearest, v, h)
    better = got < near
    return np.where(better[..., None], q, nearest).astype(np.int64), np.where(better, got, near), near


def _sequential(v: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Step 1: GPTQ-style rounding in input order with the error fed back to the unrounded weights; inside a
    block of ``BLOCK`` inputs one at a time, to the inputs after the block at once (one matrix product: the
    same updates, summed). Works on [G, n, R] copies so that one input's weights over all rows are contiguous."""
    n = v.shape[-1]
    low = _inverse_factor(h)
    if low is None:
        return np.where(np.abs(v - lo) <= np.abs(hi - v), lo, hi)
    target = np.ascontiguousarray(v.transpose(0, 2, 1))
    lo_t, hi_t = np.ascontiguousarray(lo.transpose(0, 2, 1)), np.ascontiguousarray(hi.transpose(0, 2, 1))
    q = np.empty_like(target)
    for b0 in range(0, n, BLOCK):
        b1 = min(n, b0 + BLOCK)
        errs = np.empty((v.shape[0], b1 - b0, v.shape[1]))
        for j in range(b0, b1):
            t = target[:, j]
            qj = np.where(np.abs(t - lo_t[:, j]) <= np.abs(hi_t[:, j] - t), lo_t[:, j], hi_t[:, j])
            q[:, j] = qj
            err = (t - qj) / low[:, j, j, None]
            errs[:, j - b0] = err
            target[:, j + 1:b1] -= low[:, j + 1:b1, j, None] * err[:, None, :]
        if b1 < n:
            target[:, b1:] -= low[:, b1:, b0:b1] @ errs
    return q.transpose(0, 2, 1)


def _inverse_factor(h: np.ndarray) -> np.ndarray | None:
    """L lower triangular with H^-1 = L L^T and L^T upper (the factor GPTQ feeds errors back with), per group,
    without inverting H: with J the reversal permutation and J H J = M M^T (Cholesky), H^-1 = J M^-T M^-1 J, so
    L = J M^-T J. Computed in TensorFlow (its thread pool; OpenBLAS's threads contend on a busy machine: a
    1280-input Cholesky took 5.5 s there, 0.4 s on one thread). None when H is not positive definite."""
    from ..tf_runtime import tensorflow  # noqa: PLC0415

    tf = tensorflow()
    n = h.shape[-1]
    try:
        m = tf.linalg.cholesky(tf.constant(np.ascontiguousarray(h[:, ::-1, ::-1])))
        m_inv = tf.linalg.triangular_solve(m, tf.eye(n, batch_shape=[h.shape[0]], dtype=tf.float64), lower=True)
    except tf.errors.InvalidArgumentError:
        return None
    out = np.transpose(m_inv.numpy(), (0, 2, 1))[:, ::-1, ::-1]
    return np.ascontiguousarray(out) if np.all(np.isfinite(out)) else None


def _descend(q: np.ndarray, v: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Step 2: single flips between floor and ceil that lower the loss, swept until none does (e H kept up to
    date for the flipped rows only)."""
    q = q.copy()
    grad = (q - v) @ h  # e H, [G, R, n]
    hd = np.einsum("gii->gi", h)
    for _ in range(SWEEPS):
        flips = 0
        for j in range(v.shape[-1]):
            other = np.where(q[..., j] == lo[..., j], hi[..., j], lo[..., j])
            d = other - q[..., j]
            gain = 2 * d * grad[..., j] + d * d * hd[:, None, j]
            gi, ri = np.nonzero(gain < -1e-12 * hd[:, None, j])
            if not len(gi):
                continue
            flips += len(gi)
            dj = d[gi, ri]
            q[gi, ri, j] += dj
            grad[gi, ri] += dj[:, None] * h[gi, j]
        if not flips:
            break
    return q


def summary(done: Sequence[Rounded]) -> str:
    """One line: layers rounded adaptively, codes changed, and the output error (on calibration inputs) relative
    to nearest rounding."""
    ok = [r for r in done if np.isfinite(r.nearest_loss)]
    if not ok:
        return "--weight_rounding=adaptive: no layer had calibration inputs to round by; weights rounded to nearest"
    changed = sum(r.changed for r in ok)
    size = sum(r.size for r in ok)
    ratios = [r.adaptive_loss / r.nearest_loss for r in ok if r.nearest_loss > 0]
    mean_db = float(np.mean([-10 * np.log10(max(x, 1e-12)) for x in ratios])) if ratios else 0.0
    return (f"--weight_rounding=adaptive: {len(ok)} layer(s), {changed} of {size} weight codes rounded the other way "
            f"than nearest; weight-induced output error on calibration inputs {mean_db:.2f} dB lower than nearest "
            f"rounding's (mean over layers)")

