"""--prune=S: post-training magnitude pruning of the conv and fully-connected weights to a global sparsity S.

Within a layer the smallest weights go first (by magnitude; fully-connected layers that will run int8 in whole 1x16
blocks along the input dimension, by block L2 norm, the pattern LiteRT's sparse int8 kernels run). How many each
layer loses is chosen by its sensitivity, so that the model's outputs move least:

  1. each layer l is pruned alone to each sparsity of ``GRID``, its bias corrected (weight_probe), and the relative
     output noise D_l(s) = sum (y_s - y)^2 / sum y^2 measured on the representative samples;
  2. assuming the layers' noises add up, the sum of D_l(s_l) is minimised subject to sum zeros_l = S * N (N: all
     the layers' weights) by taking, over all layers, the steps of the lower convex hulls of (zeros_l, D_l) in
     order of increasing cost per zero (the greedy solution of this separable problem); the last step is taken
     partway, so the total is exactly S * N (to a block);
  3. the layers are pruned to those counts and their biases corrected: b' = b - (W' - W) E[x].

Each layer's cost is reported as the output SQNR with only that layer pruned, and the total as the SQNR with all of
them pruned (both measured, with bias correction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from ..ir import Graph
from .weight_probe import (WeightProbe, corrected_bias, ensure_biases, set_bias, set_weights, sqnr_db,
                           weight_layers)

GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
# A layer keeps at least this share of its weights (a layer pruned away entirely cuts the model).
MAX_LAYER_SPARSITY = 0.98
FC_BLOCK = 16


@dataclass(frozen=True)
class PrunedLayer:
    name: str
    op: str
    weights: int
    zeros: int  # after pruning
    block: int  # 1, or 16: whole 1x16 blocks pruned
    sqnr_db: float  # output SQNR with only this layer pruned (bias corrected)
    bias_corrected: bool

    @property
    def sparsity(self) -> float:
        return self.zeros / self.weights if self.weights else 0.0


@dataclass
class PruneResult:
    target: float
    layers: list[PrunedLayer] = field(default_factory=list)
    sqnr_db: float = float("inf")  # output SQNR with every layer pruned
    samples: int = 0
    forward_passes: int = 0

    @property
    def sparsity(self) -> float:
        total = sum(x.weights for x in self.layers)
        return sum(x.zeros for x in self.layers) / total if total else 0.0


class _Units:
    """A layer's weights as pruning units (single weights, or 1xB blocks of the last axis) ranked by magnitude."""

    def __init__(self, w: np.ndarray, block: int) -> None:
        self.w = np.asarray(w, np.float32)
        self.block = block
        grouped = self.w.reshape(-1, block)
        score = np.sqrt(np.sum(grouped.astype(np.float64) ** 2, axis=1))
        self.order = np.argsort(score, kind="stable")
        self.count = grouped.shape[0]

    def pruned(self, units: int) -> np.ndarray:
        out = self.w.reshape(-1, self.block).copy()
        out[self.order[:units]] = 0.0
        return out.reshape(self.w.shape)

    def zeros(self, units: int) -> int:
        return int(self.w.size - np.count_nonzero(self.pruned(units)))


def _hull(points: Sequence[tuple[int, float, int]]) -> list[tuple[int, float, int]]:
    """Lower convex hull of (zeros, noise, units) points from (0, 0, 0), zeros increasing."""
    pts = sorted(points)
    hull: list[tuple[int, float, int]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1, _), (x2, y2, _) = hull[-2], hull[-1]
            if (y2 - y1) * (p[0] - x1) >= (p[1] - y1) * (x2 - x1):  # hull[-1] is not below the chord
                hull.pop()
            else:
                break
        if not hull or p[0] > hull[-1][0]:
            hull.append(p)
    return hull


def prune(graph: Graph, arrays: Sequence[np.ndarray], sparsity: float, fc_block: int = 1) -> PruneResult:
    """Prune ``graph``'s layers in place to global ``sparsity`` (module docstring). ``fc_block`` = 16 prunes
    fully-connected layers in 1x16 blocks (where their input size allows it)."""
    if not 0.0 < sparsity < 1.0:
        raise UsageError(f"--prune={sparsity:g}: give the share of weights to remove, between 0 and 1 (e.g. 0.5)")
    layers = weight_layers(graph)
    result = PruneResult(target=sparsity)
    if not layers:
        return result
    ensure_biases(graph, layers)
    layers = weight_layers(graph)
    probe = WeightProbe(graph, layers, arrays)
    result.samples = probe.samples
    units = []
    for lay in layers:
        w = np.asarray(lay.weights.data)
        block = fc_block if lay.node.op == "fully_connected" and w.shape[-1] % fc_block == 0 else 1
        units.append(_Units(w, block))

    def changed(i: int, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        w = units[i].pruned(k)
        return w, corrected_bias(layers[i], w - units[i].w, probe.means)

    # 1. each layer's output noise at each sparsity of the grid
    hulls = []
    for i, u in enumerate(units):
        cap = int(np.floor(MAX_LAYER_SPARSITY * u.count))
        points = [(u.zeros(0), 0.0, 0)]
        for s in GRID:
            k = min(int(round(s * u.count)), cap)
            points.append((u.zeros(k), probe.noise({i: changed(i, k)}), k))
            result.forward_passes += 1
        hulls.append(_hull(points))
    # 2. allocate the zeros: hull steps in order of cost per zero, the last one partway
    total = sum(lay.weights.size for lay in layers)
    need = int(round(sparsity * total)) - sum(h[0][0] for h in hulls)
    steps = sorted(((b[1] - a[1]) / max(b[0] - a[0], 1), i, a, b)
                   for i, h in enumerate(hulls) for a, b in zip(h, h[1:], strict=False))
    chosen = [h[0][2] for h in hulls]
    for _, i, a, b in steps:
        if need <= 0:
            break
        gain = b[0] - a[0]
        if gain <= need:
            chosen[i] = b[2]
            need -= gain
        else:  # partway: units between a and b until the target is met
            lo, hi = a[2], b[2]
            while lo < hi:
                mid = (lo + hi) // 2
                if units[i].zeros(mid) - a[0] >= need:
                    hi = mid
                else:
                    lo = mid + 1
            chosen[i] = lo
            need = 0
    # 3. apply, measuring each layer's cost alone and all together
    final = {i: changed(i, k) for i, k in enumerate(chosen) if k > 0}
    for i, lay in enumerate(layers):
        noise = probe.noise({i: final[i]}) if i in final else 0.0
        result.forward_passes += i in final
        result.layers.append(PrunedLayer(lay.name, lay.node.op, int(lay.weights.size), units[i].zeros(chosen[i]),
                                         units[i].block, sqnr_db(noise), i in final and final[i][1] is not None))
    result.sqnr_db = sqnr_db(probe.noise(final))
    result.forward_passes += 1
    for i, (w, b) in final.items():
        set_weights(graph, layers[i], w, "pruned")
        if b is not None:
            set_bias(graph, layers[i], b, "pruned")
    return result

