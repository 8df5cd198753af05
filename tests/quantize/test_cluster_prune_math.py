"""The math under --cluster_weights and --prune, against exact references: k-means per row reaches a Lloyd fixed
point with at most K values and keeps zeros; the pruning allocator's lower convex hull matches a brute-force one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from converter.quantize.cluster import cluster_weights, distinct_per_slice, kmeans_rows
from converter.quantize.prune import _hull


@pytest.mark.parametrize("k", [2, 5, 16])
def test_kmeans_rows_is_a_lloyd_fixed_point(k: int) -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 200))
    x[1, rng.choice(200, 120, replace=False)] = 0.0  # a pruned row: its zeros must stay exactly zero
    out = kmeans_rows(x, k)
    for row, got in zip(x, out, strict=True):
        cents = np.unique(got)
        assert cents.size <= k
        # Every value sits on its nearest centroid (ties at a midpoint may go either way: 1e-12).
        dist = np.abs(row[:, None] - cents[None, :])
        assert np.all(np.abs(row - got) <= dist.min(axis=1) + 1e-12)
        # Every centroid but a pinned 0 is the mean of its members (converged within ITERATIONS on this data).
        for c in cents:
            if c != 0.0:
                np.testing.assert_allclose(c, row[got == c].mean(), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(out[1][x[1] == 0.0], 0.0)


def test_cluster_weights_per_channel_axis() -> None:
    """Per output channel of an OHWI conv kernel (axis 0) and of a depthwise kernel (axis 3)."""
    rng = np.random.default_rng(12)
    w = rng.standard_normal((8, 3, 3, 16)).astype(np.float32)
    for axis in (0, 3):
        c = cluster_weights(w, 4, axis)
        assert c.shape == w.shape and c.dtype == np.float32
        assert distinct_per_slice(c, axis) <= 4
        # Clustering one slice does not depend on the others: slice 0 alone gives the same values.
        alone = cluster_weights(np.take(w, [0], axis=axis), 4, axis)
        np.testing.assert_array_equal(np.take(c, [0], axis=axis), alone)
    assert distinct_per_slice(cluster_weights(w, 4, None), None) <= 4


def _brute_hull(points: list[tuple[int, float, int]]) -> list[tuple[int, float, int]]:
    """Vertices of the lower convex hull by definition: p is one when no chord between two other points (or a
    point with fewer zeros and no more noise) lies below it."""
    out = []
    for p in points:
        below = any(q[0] < p[0] <= r[0] and q[1] + (r[1] - q[1]) * (p[0] - q[0]) / (r[0] - q[0]) <= p[1] and
                    (r != p) for q, r in itertools.permutations(points, 2) if q[0] < r[0])
        if not below:
            out.append(p)
    return sorted(out)


def test_prune_hull_matches_brute_force() -> None:
    rng = np.random.default_rng(13)
    for _ in range(50):
        xs = np.sort(rng.choice(np.arange(1, 100), 8, replace=False))
        ys = np.cumsum(rng.exponential(1.0, 8))  # noise grows with zeros, not necessarily convexly
        pts = [(0, 0.0, 0)] + [(int(a), float(b), i + 1) for i, (a, b) in enumerate(zip(xs, ys, strict=True))]
        assert _hull(pts) == _brute_hull(pts)
