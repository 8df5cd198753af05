"""How much of the representative data the input quantization given by --mean_values/--std_dev_values covers.

With mean/std an input's integer grid is fixed by the user: real = (q - mean) / std for q in the integer type, so
it represents [(qmin - mean') / std, (qmax - mean') / std] (mean' = the mean rounded to the zero point). Data
beyond that interval are clipped when the model runs; clipping is silent in the model, so it is measured on the
calibration data and reported: a value counts as clipped when it lies more than half a step beyond the interval
(closer values only round to the end of the grid, as every value rounds to its nearest step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import InputStats
from .params import input_stats_params


@dataclass(frozen=True)
class InputCoverage:
    """One input with mean/std: the real range its quantization represents, the range of the data, and the
    fraction of the data's values clipped."""

    name: str
    covered: tuple[float, float]
    data: tuple[float, float]
    clipped: float  # fraction of values, 0..1
    values: int  # values seen


class CoverageCounter:
    """Accumulates, batch by batch, each stats-quantized input's data range and values beyond its grid."""

    def __init__(self, names: Sequence[str], stats: Sequence[InputStats | None], units: np.dtype) -> None:
        self.names = list(names)
        self.grids: list[tuple[float, float, float] | None] = []
        for st in stats:
            if st is None:
                self.grids.append(None)
                continue
            p = input_stats_params(st.mean, st.std, units)
            self.grids.append((p.min[0], p.max[0], p.scale[0] / 2))
        self.grids += [None] * (len(self.names) - len(self.grids))
        n = len(self.names)
        self.lo, self.hi = [np.inf] * n, [-np.inf] * n
        self.clipped, self.total = [0] * n, [0] * n

    @property
    def active(self) -> bool:
        return any(g is not None for g in self.grids)

    def update(self, batch: Sequence[np.ndarray]) -> None:
        for i, (grid, x) in enumerate(zip(self.grids, batch, strict=False)):
            if grid is None or not x.size:
                continue
            lo, hi, half = grid
            self.lo[i] = min(self.lo[i], float(np.min(x)))
            self.hi[i] = max(self.hi[i], float(np.max(x)))
            self.clipped[i] += int(np.count_nonzero((x < lo - half) | (x > hi + half)))
            self.total[i] += int(x.size)

    def result(self) -> list[InputCoverage]:
        out = []
        for i, grid in enumerate(self.grids):
            if grid is None or not self.total[i]:
                continue
            out.append(InputCoverage(self.names[i], (grid[0], grid[1]), (self.lo[i], self.hi[i]),
                                     self.clipped[i] / self.total[i], self.total[i]))
        return out
