"""Range observers for calibration, behind one registry keyed by CalibrationMethod.

minmax      the smallest and largest value seen (what TensorFlow's converter does);
percentile  the 0.01% / 99.99% percentiles (clips rare outliers that would waste resolution);
mse         the clipping range minimising the mean squared quantization error (clipping + rounding) of the
            observed values on the 8-bit grid, searched over shrinking candidates of the min/max range;
entropy     the clipping threshold whose 8-bit histogram loses the least information (KL divergence between the
            observed histogram, outliers folded into its last bin, and its quantized version; TensorRT's method).
These propose a range per tensor. Unless the method is minmax, ``range_select`` then keeps a proposed range only
where the model output, simulated on calibration samples, gains from it (else the tensor keeps its min/max).
Observers see summaries computed inside the calibration graph: each batch's min and max, and, for the methods
that need a distribution, an evenly strided sample of the batch's values (``SAMPLE_PER_BATCH``), so activations
never leave TensorFlow whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..config import CalibrationMethod
from .qmath import entropy_clip, mse_clip_range

SAMPLE_PER_BATCH = 4096
MAX_SAMPLE = 1 << 16


class Observer(Protocol):
    needs_sample: bool

    def update(self, lo: float, hi: float, sample: np.ndarray | None) -> None: ...

    def range(self) -> tuple[float, float]: ...


OBSERVERS: dict[CalibrationMethod, Callable[[], Observer]] = {}


def observer(method: CalibrationMethod) -> Callable[[type], type]:
    def register(cls: type) -> type:
        OBSERVERS[method] = cls
        return cls

    return register


def make_observer(method: CalibrationMethod, keep_sample: bool = False) -> Observer:
    """An observer for ``method``; with ``keep_sample`` one that keeps the strided sample even where ``method``
    needs none (min/max range), so that ``range_as`` can give other methods' ranges from it."""
    if keep_sample and not needs_sample(method):
        return _SampledObserver()
    return OBSERVERS[method]()


def range_as(obs: Observer, method: CalibrationMethod) -> tuple[float, float]:
    """The range ``method`` would choose from what the sampling observer ``obs`` saw (same statistics, other
    rule), so one calibration pass proposes every method's range."""
    other = make_observer(method)
    other.__dict__.update(obs.__dict__)
    return other.range()


def needs_sample(method: CalibrationMethod) -> bool:
    return bool(getattr(OBSERVERS[method], "needs_sample", False))


@observer(CalibrationMethod.MINMAX)
class MinMaxObserver:
    needs_sample = False

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf

    def update(self, lo: float, hi: float, sample: np.ndarray | None) -> None:
        self.lo = min(self.lo, lo)
        self.hi = max(self.hi, hi)

    def range(self) -> tuple[float, float]:
        if not np.isfinite(self.lo):
            return 0.0, 0.0
        return float(self.lo), float(self.hi)


class _SampledObserver(MinMaxObserver):
    """Min/max plus the strided samples of every batch (thinned evenly once they exceed MAX_SAMPLE); its own range
    is min/max."""

    needs_sample = True

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[np.ndarray] = []
        self.count = 0

    def update(self, lo: float, hi: float, sample: np.ndarray | None) -> None:
        super().update(lo, hi, sample)
        if sample is None or not sample.size:
            return
        self.parts.append(sample.reshape(-1).astype(np.float32))
        self.count += sample.size
        if self.count > 2 * MAX_SAMPLE:
            merged = np.concatenate(self.parts)
            self.parts = [merged[:: max(1, merged.size // MAX_SAMPLE)]]
            self.count = self.parts[0].size

    @property
    def sample(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.empty(0, np.float32)


@observer(CalibrationMethod.PERCENTILE)
class PercentileObserver(_SampledObserver):
    percent = 99.99

    def range(self) -> tuple[float, float]:
        x = self.sample
        if x.size == 0:
            return super().range()
        lo, hi = np.percentile(x, [100 - self.percent, self.percent])
        return float(max(lo, self.lo)), float(min(hi, self.hi))


@observer(CalibrationMethod.MSE)
class MseObserver(_SampledObserver):
    def range(self) -> tuple[float, float]:
        x = self.sample
        if x.size == 0:
            return super().range()
        return mse_clip_range(x, min_fraction=0.3)


@observer(CalibrationMethod.ENTROPY)
class EntropyObserver(_SampledObserver):
    def range(self) -> tuple[float, float]:
        x = self.sample
        if x.size == 0:
            return super().range()
        t = entropy_clip(x, levels=256 if self.lo >= 0 else 128)
        return float(max(self.lo, -t)), float(min(self.hi, t))
