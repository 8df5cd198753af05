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

Inputs as the quantized model computes them (``collect`` with QuantizeOptions, ``_collect_quantized``). The layer
really computes W_hat x_q, where x_q is its input in the integer model (activations read on their grids, every
earlier layer with the codes chosen for it), and should compute W x_f, x_f the float model's input. Per output row
w (real units, W_hat = s (Q - z)), over the N sampled rows of X_q, X_f, with A = X_q^T X_q / N,
B = X_q^T X_f / N, F = X_f^T X_f / N:

    |X_f w - X_q w_hat|^2 / N = w_hat A w_hat^T - 2 w_hat B w^T + w F w^T
                              = (w_hat - w*) A (w_hat - w*)^T + w (F - B^T A^-1 B) w^T,   w* = A^-1 B w,

so the asymmetric objective (AdaRound's ``|W x_f - W_hat x_q|``) is the same quadratic form with H = A and the
target moved from w to w* = T w, T = A^-1 B (the least-squares compensation, by this layer, of the error its input
already carries); the constant does not depend on the codes. Damped with mu |w_hat - w|^2 (mu = ``SHIFT_DAMPING``
x mean(diag A)): H = A + mu I, T = H^-1 (B + mu I), which is T = I when x_q = x_f. Codes are then w*'s floor or
ceil, chosen by steps 1-3 on H.

The target is a regression on the calibration inputs and can fit their noise (the digits CNN in uint8 lost 1.8 dB
held out with it alone), and the float-input objective (H = F, target w) can be the better one for a layer. So
each layer is validated on data its codes were not chosen on: the samples are split in two halves (every other
sample; ``LayerInputs.folds``), each candidate objective ("float": H = F, target w; "shifted": H = A, target T w;
``CANDIDATES``) rounds on one half and its exact error ``_data_loss`` (above, undamped) is summed over the other
half, both ways; the layer takes the candidate with the smallest held-back error, chosen again on all samples, or
nearest rounding when neither beats nearest's held-back error. The second moments are gathered by running the graph
node by node twice (float and simulated integer, as ``sensitivity.simulate``) over at most ``QUANTIZED_SAMPLES``
samples, within ``LIVE_BUDGET`` and ``WORK_BUDGET``; a model too large for ``MIN_QUANTIZED_SAMPLES`` of them
within those (MobileNetV2 at 224: 38) takes the float graph's inputs alone (one compiled run, as below, for the
conversion time budget) without validation.

The float graph's inputs (``collect`` without options; range_select's candidates, the fallback above): the layer's
input on the calibration samples, up to ``MAX_SAMPLES``, gathered in one run of the graph in TensorFlow, reduced to
X^T X inside the graph; convolutions use the patches of at most ``POSITIONS`` output positions per sample (a
strided subset, also in the quantized case), which bounds memory and time on large images.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir import Graph, Node, QuantParams
from .dataset import Dataset
from .qmath import INT4, _along, quantize_array

ROUNDED_OPS = ("conv_2d", "depthwise_conv_2d", "fully_connected", "batch_matmul")
DAMPING = 0.01
SWEEPS = 3
VALIDATION_SWEEPS = 0  # descent sweeps of the fits that only judge an objective on held-back samples
BLOCK = 32  # inputs rounded between two matrix-product updates of the rest (GPTQ's lazy batch)
SHIFT_DAMPING = 0.1  # the "shifted" objective's damping: its target is a regression on the inputs, which overfits


@dataclass(frozen=True)
class Rounded:
    """What adaptive rounding did to one layer: the output error (the loss L summed over channels, damped H)
    with nearest and with adaptive codes, and how many codes differ from nearest."""

    node: str
    nearest_loss: float
    adaptive_loss: float
    changed: int
    size: int
    how: str = "float inputs"  # the objective the codes minimise (or "nearest": none held up on held-back data)


@dataclass(frozen=True)
class LayerInputs:
    """Second moments of a layer's inputs on calibration data, over ``rows`` rows of each group g (one group;
    depthwise: one per input channel, x its kh*kw patch): ``gram[g] = sum x_q x_q^T`` of the input as the quantized
    model computes it, ``cross[g] = sum x_q x_f^T`` with the float model's input and ``target[g] = sum x_f x_f^T``
    (``cross``/``target`` None: x_q = x_f, the float graph's input alone). ``chosen`` caches the codes chosen
    for a weight grid (``round_weights``), so the layer's many quantizations round once."""

    gram: np.ndarray  # [G, n, n] float64
    rows: int
    cross: np.ndarray | None = None  # [G, n, n] float64
    target: np.ndarray | None = None  # [G, n, n] float64
    folds: tuple[LayerInputs, LayerInputs] | None = None  # the same of two halves of the samples (they sum to this)
    chosen: dict[tuple[QuantParams, bool], tuple[np.ndarray, Rounded]] = field(default_factory=dict, compare=False,
                                                                               repr=False)


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


def collect(graph: Graph, data: Dataset, max_samples: int | None = None,
            opts: Any = None) -> dict[str, LayerInputs]:  # noqa: ANN401
    """X^T X of every adaptively rounded layer's input on the first samples of ``data``, by node name: from the
    float graph, or with ``opts`` (the QuantizeOptions the calibrated graph will be quantized with) from the partly
    quantized model, layer by layer (``rounding_inputs``)."""
    from .rounding_inputs import collect as gather  # noqa: PLC0415 (it imports this module)

    return gather(graph, data, max_samples, opts)


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
    if (p, narrow) in inputs.chosen:
        codes, done = inputs.chosen[(p, narrow)]
        return codes.copy(), done
    w64 = np.asarray(w, np.float64)
    nearest = quantize_array(w64, np.asarray(p.scale), np.asarray(p.zero_point), p.dtype, p.axis, narrow)
    s, z = _along(np.asarray(p.scale, np.float64), np.asarray(p.zero_point, np.float64), w64.ndim, p.axis)
    real = np.broadcast_to(s, w64.shape)
    v = w64 / real + z  # the codes' real-valued targets, as quantize_array computes them before rounding
    rows_v, back = _as_rows(node, v)
    rows_w, _ = _as_rows(node, w64)
    rows_s, _ = _as_rows(node, real)
    layer = _Layer(rows_w, rows_s, rows_v - rows_w / rows_s, *_bounds(p, narrow))
    rows_n, _ = _as_rows(node, nearest.astype(np.int64))
    n_groups, n_in = rows_v.shape[0], rows_v.shape[-1]
    if inputs.gram.shape[0] != n_groups or inputs.gram.shape[-1] != n_in or hessian(inputs) is None:
        return nearest, Rounded(node.name, float("nan"), float("nan"), 0, int(nearest.size))
    if inputs.cross is None:  # float inputs alone: the loss is s^2 (Q - V) H (Q - V)^T, H damped
        h = hessian(inputs)
        assert h is not None
        q, ada, near = _choose(rows_v, h, layer.qmin, layer.qmax, rows_n)
        scale2 = rows_s[..., 0] ** 2  # a channel's scale is the same for all its inputs
        near_loss, ada_loss, how = float(np.sum(scale2 * near)), float(np.sum(scale2 * ada)), "float inputs"
    else:
        how = _validated(layer, inputs, rows_n) if inputs.folds else "shifted"
        q = rows_n if how == "nearest" else _fit(layer, inputs, how, rows_n)
        near_loss = float(np.sum(_data_loss(layer, rows_n, inputs, exact=True)))
        ada_loss = float(np.sum(_data_loss(layer, q, inputs, exact=True)))
    codes = back(q).astype(p.dtype)
    done = Rounded(node.name, near_loss, ada_loss, int(np.count_nonzero(codes != nearest)), int(codes.size), how)
    inputs.chosen[(p, narrow)] = (codes.copy(), done)
    return codes, done


@dataclass(frozen=True)
class _Layer:
    """A layer's weights as rows [G, R, n] (real values, each row's scale, zero point) and its code range."""

    w: np.ndarray
    scale: np.ndarray
    zero: np.ndarray
    qmin: int
    qmax: int


CANDIDATES = ("float", "shifted")


def _validated(layer: _Layer, inputs: LayerInputs, nearest: np.ndarray) -> str:
    """Which of ``CANDIDATES`` (or "nearest") errs least on data it was not chosen on: each candidate rounds on
    one half of the samples (``inputs.folds``) and is judged by ``_data_loss`` on the other, both ways, summed.
    Nearest wins ties (and whenever no candidate lowers the held-back loss)."""
    assert inputs.folds is not None
    held: dict[str, float] = {"nearest": 0.0, **{c: 0.0 for c in CANDIDATES}}
    for k in (0, 1):
        fit, check = inputs.folds[k], inputs.folds[1 - k]
        if hessian(fit) is None or hessian(check) is None:
            return "nearest"
        bw = _cross_rows(layer, check)  # shared by every candidate's loss on this half
        held["nearest"] += float(np.sum(_data_loss(layer, nearest, check, bw)))
        for c in CANDIDATES:
            held[c] += float(np.sum(_data_loss(layer, _fit(layer, fit, c, nearest, VALIDATION_SWEEPS), check, bw)))
    return min(held, key=lambda c: (held[c], c != "nearest"))


def _fit(layer: _Layer, inputs: LayerInputs, how: str, nearest: np.ndarray, sweeps: int | None = None) -> np.ndarray:
    """Codes [G, R, n] chosen on ``inputs``: "float": minimising |(W_hat - W) X_f|^2 (H from the float inputs,
    the target the float weights); "shifted": |W X_f - W_hat X_q|^2 (H from the quantized model's inputs, the
    target moved to T W); damped (see the module docstring)."""
    target = layer.w / layer.scale + layer.zero
    if how == "float":
        h = _damped(inputs.target if inputs.target is not None else inputs.gram, inputs.rows, DAMPING)
    else:
        h, moved = _shifted(inputs, layer.w)
        target = moved / layer.scale + layer.zero
    if h is None:
        return nearest
    return _choose(target, h, layer.qmin, layer.qmax, nearest, sweeps)[0]


def _cross_rows(layer: _Layer, inputs: LayerInputs) -> np.ndarray:
    """(X_q^T X_f) w per row: [G, R, n]."""
    assert inputs.cross is not None
    return layer.w @ inputs.cross.transpose(0, 2, 1)


def _data_loss(layer: _Layer, q: np.ndarray, inputs: LayerInputs, bw: np.ndarray | None = None,
               exact: bool = False) -> np.ndarray:
    """sum over ``inputs``' rows of (W_hat x_q - W x_f)^2 per output channel, / rows: [G, R] (W_hat: codes ``q``
    dequantized; undamped: the error the layer's output has on those samples). Without ``exact`` less the term
    w X_f^T X_f w, which is the same for every W_hat (comparisons only). ``bw``: ``_cross_rows``, if at hand."""
    w_hat = layer.scale * (q - layer.zero)
    bw = _cross_rows(layer, inputs) if bw is None else bw
    out = _quad(w_hat, inputs.gram, w_hat) - 2 * np.sum(w_hat * bw, axis=-1)
    if exact:
        assert inputs.target is not None
        out = np.maximum(out + _quad(layer.w, inputs.target, layer.w), 0.0)
    return out / max(inputs.rows, 1)


def _quad(u: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u_r M v_r per row: [G, R] for rows [G, R, n] and M [G, n, n] (a matrix product, then a row sum)."""
    return np.sum((u @ m) * v, axis=-1)


def _damping(gram: np.ndarray, rows: int) -> np.ndarray | None:
    """mean(diag X^T X / N) per group, None when the input was always 0 or not finite."""
    diag = np.einsum("gii->gi", gram) / max(rows, 1)
    mean = diag.mean(axis=1)
    if not np.all(np.isfinite(gram)) or not np.any(mean > 0):
        return None
    return np.where(mean > 0, mean, 1.0)


def _damped(gram: np.ndarray, rows: int, factor: float) -> np.ndarray | None:
    """X^T X / N + factor x mean(diag) x I per group (None: no input to choose by)."""
    mean = _damping(gram, rows)
    if mean is None:
        return None
    return gram / max(rows, 1) + (factor * mean)[:, None, None] * np.eye(gram.shape[-1])[None]


def hessian(inputs: LayerInputs) -> np.ndarray | None:
    """H = X^T X / N + lambda I per group, lambda = ``DAMPING`` x mean(diag X^T X / N) (None when the input was
    always 0: nothing to choose by)."""
    return _damped(inputs.gram, inputs.rows, DAMPING)


def _shifted(inputs: LayerInputs, w: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(H, T W) for the "shifted" objective: H = X_q^T X_q / N + mu I and the least-squares target rows
    T w = H^-1 (X_q^T X_f / N + mu I) w, mu = ``SHIFT_DAMPING`` x mean(diag X_q^T X_q / N) ((None, w) when H is
    not positive definite)."""
    from ..tf_runtime import tensorflow  # noqa: PLC0415

    mean = _damping(inputs.gram, inputs.rows)
    if mean is None or inputs.cross is None:
        return None, w
    tf = tensorflow()
    mu = (SHIFT_DAMPING * mean)[:, None, None] * np.eye(inputs.gram.shape[-1])[None]
    h = inputs.gram / max(inputs.rows, 1) + mu
    rhs = (inputs.cross / max(inputs.rows, 1) + mu) @ w.transpose(0, 2, 1)  # (B + mu I) w per row: [G, n, R]
    try:
        moved = tf.linalg.cholesky_solve(tf.linalg.cholesky(tf.constant(h)), tf.constant(rhs)).numpy()
    except tf.errors.InvalidArgumentError:
        return None, w
    if not np.all(np.isfinite(moved)):
        return None, w
    return h, np.ascontiguousarray(moved.transpose(0, 2, 1))


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


def _choose(v: np.ndarray, h: np.ndarray, qmin: int, qmax: int, nearest: np.ndarray,
            sweeps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``adaptive_codes`` with the loss per row of its result and of ``nearest`` (``sweeps``: of the descent,
    default ``SWEEPS``)."""
    lo = np.clip(np.floor(v), qmin, qmax)
    hi = np.clip(np.ceil(v), qmin, qmax)
    nearest = nearest.astype(np.float64)
    q = _sequential(v, h, lo, hi)
    q = _descend(q, v, h, lo, hi, SWEEPS if sweeps is None else sweeps)
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


def _descend(q: np.ndarray, v: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray, sweeps: int) -> np.ndarray:
    """Step 2: single flips between floor and ceil that lower the loss, swept until none does (e H kept up to
    date for the flipped rows only)."""
    q = q.copy()
    grad = (q - v) @ h  # e H, [G, R, n]
    hd = np.einsum("gii->gi", h)
    for _ in range(sweeps):
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
    kinds = Counter(r.how for r in ok)
    return (f"--weight_rounding=adaptive: {len(ok)} layer(s) ({', '.join(f'{k} {kinds[k]}' for k in sorted(kinds))}), "
            f"{changed} of {size} weight codes rounded the other way than nearest; layer output error on "
            f"calibration inputs {mean_db:.2f} dB lower than nearest rounding's (mean over layers)")

