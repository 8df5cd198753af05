"""IR tensors: static shape and dtype, constant data, range and quantization annotations, producer and uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .node import Node


class RangeSource:
    """Where a tensor's real-valued range came from (shown in reports)."""

    FAKE_QUANT = "fake_quant"
    CALIBRATION = "calibration"
    DEFAULT = "default_ranges"
    FIXED = "fixed_by_kernel"
    PROPAGATED = "propagated"
    INPUT_STATS = "mean_std"
    WEIGHTS = "weights"


@dataclass(frozen=True)
class QuantRange:
    """A real interval a tensor's values are quantized over: one (min, max) pair, or one per channel of ``axis``.

    ``fake_quant`` marks the raw min/max of a FakeQuant op: converting it to scale/zero point applies FakeQuant's
    nudge (with ``narrow_range``), so the integer grid is exactly the one the training graph simulated.
    """

    min: tuple[float, ...]
    max: tuple[float, ...]
    axis: int | None = None
    num_bits: int = 8
    narrow_range: bool = False
    fake_quant: bool = False
    source: str = RangeSource.CALIBRATION

    @staticmethod
    def per_tensor(lo: float, hi: float, source: str, **kw: object) -> QuantRange:
        return QuantRange((float(lo),), (float(hi),), None, source=source, **kw)  # type: ignore[arg-type]

    @property
    def per_channel(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True)
class QuantParams:
    """Final quantization of a tensor as written to the flatbuffer: real = scale * (q - zero_point)."""

    dtype: np.dtype
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    min: tuple[float, ...] = ()
    max: tuple[float, ...] = ()
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    def scale_array(self) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float64)

    def zero_point_array(self) -> np.ndarray:
        return np.asarray(self.zero_point, dtype=np.int64)


class Tensor:
    """A value in the graph. Edges are changed only through ``Graph`` methods, which keep producer/uses right."""

    __slots__ = ("name", "dtype", "shape", "data", "qrange", "quant", "producer", "uses", "tf_name", "sparse_block")

    def __init__(
        self,
        name: str,
        dtype: np.dtype | type,
        shape: tuple[int, ...],
        data: np.ndarray | None = None,
        tf_name: str | None = None,
    ) -> None:
        self.name = name
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(d) for d in shape)
        self.data = data
        self.qrange: QuantRange | None = None
        self.quant: QuantParams | None = None
        self.producer: Node | None = None
        self.uses: list[Node] = []
        self.tf_name = tf_name if tf_name is not None else name
        # A constant written as a sparse tensor: every dimension dense but the last, stored compressed (CSR) in
        # blocks of this shape (all 1: element by element). None: dense.
        self.sparse_block: tuple[int, ...] | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def consumers(self) -> list[Node]:
        """Distinct nodes that read this tensor, in first-use order."""
        seen: dict[int, Node] = {}
        for n in self.uses:
            seen.setdefault(id(n), n)
        return list(seen.values())

    def __repr__(self) -> str:
        kind = "const " if self.is_const else ""
        return f"Tensor({kind}{self.name!r}, {self.dtype.name}, {list(self.shape)})"
