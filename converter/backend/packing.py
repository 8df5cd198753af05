"""The bytes the writer stores for a constant: int4 values packed two per byte, sparse tensors' stored values, else
the array as it is.

int4 (TensorType INT4) packing, as LiteRT unpacks it (tensor_utils::UnpackPackedIntToInt8): element 2i in the low
nibble of byte i, element 2i+1 in the high nibble; an odd last element sits in the low nibble of the last byte.
In the IR an int4 constant is an ``ml_dtypes.int4`` array (one value per byte in memory)."""

from __future__ import annotations

import numpy as np

from ..ir import Tensor
from .sparse import tensor_encoding


def is_int4(dtype: np.dtype) -> bool:
    return np.dtype(dtype).name == "int4"


def int4_dtype() -> np.dtype:
    """numpy's int4 type (ml_dtypes, which TensorFlow and LiteRT install)."""
    import ml_dtypes  # noqa: PLC0415 (only int4 models need it)

    return np.dtype(ml_dtypes.int4)


def pack_int4(values: np.ndarray) -> np.ndarray:
    """Signed 4-bit values (any integer array in [-8, 7], or int4) packed two per byte, lower index low."""
    v = np.asarray(values).reshape(-1).astype(np.int8)
    if v.size % 2:
        v = np.concatenate([v, np.zeros(1, np.int8)])
    nibbles = v.view(np.uint8) & 0x0F
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """``count`` signed 4-bit values from packed bytes, as int8 (inverse of ``pack_int4``)."""
    p = np.asarray(packed, dtype=np.uint8).reshape(-1)
    nibbles = np.empty(2 * p.size, np.uint8)
    nibbles[0::2] = p & 0x0F
    nibbles[1::2] = p >> 4
    return ((nibbles.astype(np.int16) ^ 0x8) - 0x8).astype(np.int8)[:count]


def payload(t: Tensor) -> np.ndarray:
    """The bytes (as an array) the writer stores in ``t``'s buffer."""
    assert t.data is not None
    sparse = tensor_encoding(t)
    if sparse is not None:
        return sparse.values
    if is_int4(t.data.dtype):
        return pack_int4(t.data)
    return np.ascontiguousarray(t.data)


def stored_nbytes(t: Tensor) -> int:
    """Bytes of ``t``'s constant data in the file (packed or sparse values; without the sparsity tables)."""
    if t.data is None:
        return 0
    if t.sparse_block is None and is_int4(t.data.dtype):
        return (t.data.size + 1) // 2
    if t.sparse_block is None:
        return int(t.data.nbytes)
    return int(payload(t).nbytes)
