"""--cluster_weights=K: k-means weight sharing (Deep Compression), on the float weights before quantization.

Each output channel of a layer's weights (each layer, when weights are quantized per tensor or stay float) is
replaced by K shared values: 1-D k-means (Lloyd) from centroids spread evenly over [min, max] (Deep Compression's
linear initialisation, which keeps the large weights' own centroids). A channel with zeros (pruned) keeps 0 as one of
its K values, so the zeros stay zeros. Biases are then corrected for the change (weight_probe) when representative
data give the layers' input means.

Quantization keeps the clusters: a channel's K distinct floats map to at most K distinct integers (rounding onto one
grid never splits equal values), so the quantized weights also hold at most K values per channel and the file
compresses (LiteRT has no codebook type; gzip or the download's compression gets the gain)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from ..ir import Graph
from .weight_probe import (WeightProbe, corrected_bias, ensure_biases, set_bias, set_weights, sqnr_db,
                           weight_layers)

MAX_CLUSTERS = 256
ITERATIONS = 40


@dataclass(frozen=True)
class ClusteredLayer:
    name: str
    op: str
    per_channel: bool
    distinct: int  # the most distinct values in one channel (or the layer) after clustering
    sqnr_db: float | None  # output SQNR with only this layer clustered (None: no representative data)
    bias_corrected: bool


@dataclass
class ClusterResult:
    clusters: int
    layers: list[ClusteredLayer] = field(default_factory=list)
    sqnr_db: float | None = None  # output SQNR with every layer clustered (None: no representative data)
    samples: int = 0


def _row_search(sorted_rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row r, np.searchsorted(sorted_rows[r], values[r]) for all rows at once (rows shifted apart)."""
    rows, n = sorted_rows.shape
    span = float(np.abs(sorted_rows).max(initial=0.0)) * 2 + float(np.abs(values).max(initial=0.0)) * 2 + 1.0
    offset = np.arange(rows, dtype=np.float64)[:, None] * span
    flat = np.searchsorted((sorted_rows + offset).ravel(), (values + offset).ravel())
    return flat.reshape(values.shape) - np.arange(rows)[:, None] * n


def kmeans_rows(x: np.ndarray, k: int, iterations: int = ITERATIONS) -> np.ndarray:
    """Each row of ``x`` [rows, n] replaced by its nearest of k centroids found by 1-D k-means; rows that contain
    0.0 keep an exact 0 centroid."""
    x = np.asarray(x, np.float64)
    rows, n = x.shape
    if n <= k:
        return x.copy()
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    prefix = np.concatenate([np.zeros((rows, 1)), np.cumsum(xs, axis=1)], axis=1)
    pinned = np.any(xs == 0.0, axis=1)
    lo, hi = xs[:, :1], xs[:, -1:]
    c = lo + (hi - lo) * (np.arange(k) + 0.5) / k
    r = np.arange(rows)[:, None]

    def pin(c: np.ndarray) -> np.ndarray:
        near = np.argmin(np.abs(c), axis=1)
        c[pinned, near[pinned]] = 0.0
        return np.sort(c, axis=1)

    def bounds(c: np.ndarray) -> np.ndarray:
        mid = (c[:, 1:] + c[:, :-1]) / 2
        inner = _row_search(xs, mid)
        return np.concatenate([np.zeros((rows, 1), np.int64), inner, np.full((rows, 1), n)], axis=1)

    c = pin(c)
    for _ in range(iterations):
        b = bounds(c)
        counts = np.diff(b, axis=1)
        sums = prefix[r, b[:, 1:]] - prefix[r, b[:, :-1]]
        new = pin(np.where(counts > 0, sums / np.maximum(counts, 1), c))
        if np.allclose(new, c, rtol=0, atol=1e-12):
            c = new
            break
        c = new
    inner = bounds(c)[:, 1:-1].astype(np.float64)
    # Sorted position p is in cluster j when j inner bounds are <= p.
    cluster_of = _row_search(inner, np.broadcast_to(np.arange(n) + 0.5, (rows, n)))
    out_sorted = np.take_along_axis(c, cluster_of, axis=1)
    out = np.empty_like(out_sorted)
    np.put_along_axis(out, order, out_sorted, axis=1)
    return out


def cluster_weights(w: np.ndarray, k: int, axis: int | None) -> np.ndarray:
    """``w`` with at most k distinct values per slice of ``axis`` (None: in the whole tensor)."""
    w = np.asarray(w, np.float32)
    if axis is None:
        return kmeans_rows(w.reshape(1, -1), k).reshape(w.shape).astype(np.float32)
    moved = np.moveaxis(w, axis, 0)
    flat = kmeans_rows(moved.reshape(moved.shape[0], -1), k)
    return np.moveaxis(flat.reshape(moved.shape), 0, axis).astype(np.float32)


def distinct_per_slice(w: np.ndarray, axis: int | None) -> int:
    """The most distinct values in one slice of ``axis`` (None: in the whole tensor)."""
    w = np.asarray(w)
    if axis is None:
        return int(np.unique(w).size)
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    return max(int(np.unique(row).size) for row in moved) if moved.size else 0


def cluster(graph: Graph, k: int, per_channel: bool, arrays: Sequence[np.ndarray] | None) -> ClusterResult:
    """Cluster ``graph``'s layers in place to ``k`` values per output channel (``per_channel``) or per layer; with
    representative samples ``arrays``, correct the biases and measure what it cost (module docstring)."""
    if not 2 <= k <= MAX_CLUSTERS:
        raise UsageError(f"--cluster_weights={k}: give the number of shared values per channel, 2 to {MAX_CLUSTERS}")
    result = ClusterResult(clusters=k)
    layers = weight_layers(graph)
    if not layers:
        return result
    probe = None
    if arrays is not None:
        ensure_biases(graph, layers)
        layers = weight_layers(graph)
        probe = WeightProbe(graph, layers, arrays)
        result.samples = probe.samples
    final: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    for i, lay in enumerate(layers):
        w = np.asarray(lay.weights.data, np.float32)
        axis = lay.axis if per_channel else None
        new = cluster_weights(w, k, axis)
        bias = corrected_bias(lay, new - w, probe.means) if probe is not None else None
        final[i] = (new, bias)
        cost = sqnr_db(probe.noise({i: final[i]})) if probe is not None else None
        result.layers.append(ClusteredLayer(lay.name, lay.node.op, per_channel, distinct_per_slice(new, axis), cost,
                                            bias is not None))
    if probe is not None:
        result.sqnr_db = sqnr_db(probe.noise(final))
    for i, (w, b) in final.items():
        set_weights(graph, layers[i], w, "clustered")
        if b is not None:
            set_bias(graph, layers[i], b, "clustered")
    return result
