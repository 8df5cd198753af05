"""Sparse constant tensors (TFLite ``SparsityParameters``): the encoding, the table the writer adds to a tensor,
and ``--sparsity=auto``, which decides per layer how its weights are stored.

Encoding of a constant of shape [d0, ..., dn] in blocks of [1, ..., 1, b] (b = 1: element by element): every
dimension but the last is dense; the last, cut into dn / b blocks, is compressed (CSR): ``segments[r]`` ..
``segments[r + 1]`` index the stored blocks of row r (a row = one index of d0..dn-1, row-major), ``indices`` their
block column; the buffer holds the stored blocks' values only, row by row. With b > 1 the block is one more dense
dimension of size b at the end of the traversal order (``block_map`` = [n]). Index vectors use the smallest type
that holds their largest value (uint8, uint16, int32), as TensorFlow's converter writes them.

Who reads what (LiteRT, checked by tests/backend/test_sparse.py):
  * FULLY_CONNECTED runs sparse weights directly, at version 8: float weights element by element or in 1x4 blocks,
    int8 weights of an int8 layer (zero point 0) in 1x16 blocks, int8 weights of a hybrid layer in 1x16 blocks.
    XNNPACK (the default delegate) refuses version 8; at an older version it would take the layer and read the
    stored values as a dense matrix (NaN or garbage).
  * Every other layer reads dense weights: the sparse constant goes through DENSIFY (float32, float16, int8), which
    expands it once, at the first run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import flatbuffers
import numpy as np

from schema.tflite import DimensionMetadata as _dim
from schema.tflite import Int32Vector as _i32v
from schema.tflite import SparsityParameters as _sp
from schema.tflite import Uint8Vector as _u8v
from schema.tflite import Uint16Vector as _u16v
from schema.tflite.DimensionType import DimensionType
from schema.tflite.SparseIndexVector import SparseIndexVector

from ..ir import Graph, Node, Tensor

# TensorFlow's converter leaves weights with fewer zeros than this dense (dense_to_sparse_pass: kMinSparsityLevel).
MIN_SPARSITY = 0.3
# The layers whose weights may be stored sparse, and which input holds the weights.
WEIGHT_INPUT = {"fully_connected": 1, "conv_2d": 1, "depthwise_conv_2d": 1, "transpose_conv": 1}
# Types DENSIFY expands.
DENSIFY_TYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int8))
# The hybrid sparse FULLY_CONNECTED kernel counts a row's blocks in a uint8 ledger.
_HYBRID_MAX_BLOCKS_PER_ROW = 255
_F32, _I8 = np.dtype(np.float32), np.dtype(np.int8)

# Flatbuffer bytes beyond the index vectors and values (tables, vtables, vector lengths, alignment), an upper
# bound measured on written files (tests/backend/test_sparse.py checks it).
_TABLE_BYTES = 64
_BYTES_PER_DIM = 40
# What a DENSIFY adds besides the sparse constant: the dense tensor (table, name, shape), the operator, and its
# share of the operator code.
_DENSIFY_BYTES = 176


@dataclass(frozen=True)
class SparseTensor:
    """A constant in sparse form: the stored values and the metadata that locates them."""

    values: np.ndarray  # stored values, 1-D (blocks flattened in order)
    shape: tuple[int, ...]  # the dense shape
    block: tuple[int, ...]
    segments: np.ndarray  # CSR row starts on the last dimension, len(rows) + 1
    indices: np.ndarray  # block column of each stored block

    @property
    def blocks(self) -> int:
        return int(self.indices.size)

    def nbytes(self) -> int:
        """Bytes this encoding takes in the file, tables included (an upper bound)."""
        dims = len(self.shape) + (1 if self.block[-1] > 1 else 0)
        return int(self.values.nbytes + self.segments.nbytes + self.indices.nbytes + _TABLE_BYTES
                   + _BYTES_PER_DIM * dims)


def index_dtype(values: np.ndarray) -> np.dtype:
    """The smallest index type LiteRT reads that holds ``values`` (uint8, uint16, int32)."""
    top = int(values.max(initial=0))
    return np.dtype(np.uint8 if top <= 0xFF else np.uint16 if top <= 0xFFFF else np.int32)


def block_fits(shape: Sequence[int], block: Sequence[int]) -> bool:
    """Blocks tile the tensor: only the last dimension is blocked, and evenly."""
    return len(block) == len(shape) and all(b == 1 for b in block[:-1]) and shape[-1] % block[-1] == 0


def encode(data: np.ndarray, block: Sequence[int]) -> SparseTensor:
    """``data`` compressed on its last dimension in blocks of ``block`` (module docstring). A block is stored when
    any of its values is nonzero."""
    shape = tuple(int(d) for d in data.shape)
    block = tuple(int(b) for b in block)
    if not block_fits(shape, block):
        raise ValueError(f"blocks {block} do not tile a tensor of shape {shape}")
    b = block[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    tiles = np.ascontiguousarray(data).reshape(rows, shape[-1] // b, b)
    kept = np.any(tiles != 0, axis=2)
    values = tiles[kept].reshape(-1)
    counts = kept.sum(axis=1)
    segments = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.nonzero(kept)[1].astype(np.int64)
    return SparseTensor(values, shape, block, segments.astype(index_dtype(segments)),
                        indices.astype(index_dtype(indices)))


def decode(s: SparseTensor) -> np.ndarray:
    """The dense tensor back (inverse of ``encode``)."""
    b = s.block[-1]
    rows = len(s.segments) - 1
    out = np.zeros((rows, s.shape[-1] // b, b), s.values.dtype)
    row_of = np.repeat(np.arange(rows), np.diff(s.segments.astype(np.int64)))
    out[row_of, s.indices.astype(np.int64)] = s.values.reshape(-1, b)
    return out.reshape(s.shape)


def zero_fraction(data: np.ndarray) -> float:
    return float(1.0 - np.count_nonzero(data) / data.size) if data.size else 0.0


def tensor_encoding(t: Tensor) -> SparseTensor | None:
    """The sparse form of a constant marked sparse (``Tensor.sparse_block``), else None."""
    if t.sparse_block is None or t.data is None:
        return None
    return encode(np.asarray(t.data), t.sparse_block)


# ---- the flatbuffer table --------------------------------------------------------------------------------------

_INDEX_TABLES = {np.dtype(np.uint8): (SparseIndexVector.Uint8Vector, _u8v),
                 np.dtype(np.uint16): (SparseIndexVector.Uint16Vector, _u16v),
                 np.dtype(np.int32): (SparseIndexVector.Int32Vector, _i32v)}


def _index_vector(b: flatbuffers.Builder, values: np.ndarray) -> tuple[int, int]:
    kind, mod = _INDEX_TABLES[values.dtype]
    vec = b.CreateNumpyVector(values)
    mod.Start(b)
    mod.AddValues(b, vec)
    return kind, mod.End(b)


def _int_vector(b: flatbuffers.Builder, values: Sequence[int]) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))


def sparsity_table(b: flatbuffers.Builder, s: SparseTensor) -> int:
    """Write the ``SparsityParameters`` of ``s``; returns its offset (for ``Tensor.AddSparsity``)."""
    n = len(s.shape)
    blocked = s.block[-1] > 1
    dims: list[int] = []
    for i, size in enumerate(s.shape):
        if i < n - 1:
            _dim.Start(b)
            _dim.AddFormat(b, DimensionType.DENSE)
            _dim.AddDenseSize(b, size)
        else:
            seg_kind, seg = _index_vector(b, s.segments)
            idx_kind, idx = _index_vector(b, s.indices)
            _dim.Start(b)
            _dim.AddFormat(b, DimensionType.SPARSE_CSR)
            _dim.AddArraySegmentsType(b, seg_kind)
            _dim.AddArraySegments(b, seg)
            _dim.AddArrayIndicesType(b, idx_kind)
            _dim.AddArrayIndices(b, idx)
        dims.append(_dim.End(b))
    if blocked:
        _dim.Start(b)
        _dim.AddFormat(b, DimensionType.DENSE)
        _dim.AddDenseSize(b, s.block[-1])
        dims.append(_dim.End(b))
    order = _int_vector(b, range(n + (1 if blocked else 0)))
    block_map = _int_vector(b, [n - 1] if blocked else [])
    b.StartVector(4, len(dims), 4)
    for d in reversed(dims):
        b.PrependUOffsetTRelative(d)
    dim_vec = b.EndVector()
    _sp.Start(b)
    _sp.AddTraversalOrder(b, order)
    _sp.AddBlockMap(b, block_map)
    _sp.AddDimMetadata(b, dim_vec)
    return _sp.End(b)


# ---- --sparsity=auto -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SparseLayer:
    """How one layer's weights are stored."""

    node: str
    op: str
    tensor: str
    zero_fraction: float
    encoding: str  # "dense", "fed directly, 1x16 blocks", "CSR on the last dimension + DENSIFY"
    block: tuple[int, ...] | None  # None: dense
    densify: bool  # sparse through a DENSIFY (else read directly by the kernel)
    dense_bytes: int
    stored_bytes: int  # bytes the weights take in the file as chosen (an upper bound when sparse)
    reason: str = ""  # why dense


@dataclass
class SparsityResult:
    layers: list[SparseLayer] = dataclasses.field(default_factory=list)

    @property
    def sparse(self) -> list[SparseLayer]:
        return [x for x in self.layers if x.block is not None]


def direct_blocks(node: Node, w: Tensor) -> list[tuple[int, int]]:
    """Block shapes a FULLY_CONNECTED kernel runs ``w`` in without DENSIFY (empty for other layers)."""
    if node.op != "fully_connected" or len(w.shape) != 2:
        return []
    x = node.inputs[0]
    in_dt = x.dtype if x is not None else None
    if w.dtype == _F32 and in_dt == _F32:
        candidates = [(1, 1), (1, 4)]
    elif w.dtype == _I8 and in_dt == _I8:
        if w.quant is None or any(z != 0 for z in w.quant.zero_point):
            return []
        candidates = [(1, 16)]
    elif w.dtype == _I8 and in_dt == _F32:
        candidates = [] if w.shape[1] // 16 > _HYBRID_MAX_BLOCKS_PER_ROW else [(1, 16)]
    else:
        return []
    return [b for b in candidates if block_fits(w.shape, b)]


def _densify_bytes(w: Tensor) -> int:
    """What DENSIFY costs beyond the sparse constant (its quantization moves to the dense tensor)."""
    return _DENSIFY_BYTES + len(w.name) + 4 * len(w.shape)


def choose(node: Node, w: Tensor) -> SparseLayer:
    """The smallest way to store ``w`` read by ``node``: dense, sparse fed directly to the kernel (in a block shape
    it runs), or sparse through DENSIFY."""
    data = np.asarray(w.data)
    zeros = zero_fraction(data)
    dense = int(data.nbytes)

    def keep(reason: str) -> SparseLayer:
        return SparseLayer(node.name, node.op, w.name, zeros, "dense", None, False, dense, dense, reason)

    if zeros < MIN_SPARSITY:
        return keep(f"{100 * zeros:.0f}% zeros, under {100 * MIN_SPARSITY:.0f}%")
    if w.dtype.name == "int4":
        return keep("int4 weights: no sparse int4 kernel in LiteRT")
    best: tuple[int, str, tuple[int, ...], bool] | None = None
    for blk in direct_blocks(node, w):
        size = encode(data, blk).nbytes()
        if best is None or size < best[0]:
            best = (size, f"fed directly, {blk[0]}x{blk[1]} blocks", blk, False)
    if w.dtype in DENSIFY_TYPES and data.ndim >= 2:
        blk = (1,) * data.ndim
        size = encode(data, blk).nbytes() + _densify_bytes(w)
        if best is None or size < best[0]:
            best = (size, "CSR on the last dimension + DENSIFY", blk, True)
    if best is None:
        return keep(f"no sparse kernel or DENSIFY for {w.dtype.name} weights")
    if best[0] >= dense:
        return keep(f"sparse ({best[1]}) would take {best[0]:,} bytes, dense {dense:,}")
    return SparseLayer(node.name, node.op, w.name, zeros, best[1], best[2], best[3], dense, best[0])


def apply_sparsity(graph: Graph) -> SparsityResult:
    """``--sparsity=auto``: store the weights of FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV
    that are at least ``MIN_SPARSITY`` zeros in their smallest form (``choose``); a layer that cannot read them
    sparse gets a DENSIFY in front. A weight tensor read by several nodes, or not constant, stays dense."""
    result = SparsityResult()
    for node in list(graph.nodes):
        index = WEIGHT_INPUT.get(node.op)
        if index is None or index >= len(node.inputs):
            continue
        w = node.inputs[index]
        if w is None or not w.is_const or len(w.consumers) != 1 or w.sparse_block is not None:
            continue
        layer = choose(node, w)
        result.layers.append(layer)
        if layer.block is None:
            continue
        w.sparse_block = layer.block
        if not layer.densify:
            continue
        dense = graph.tensor(f"{w.name}/densified", w.dtype, w.shape, tf_name=w.tf_name)
        dense.quant, w.quant = w.quant, None  # the layer reads it on the dense tensor; DENSIFY copies bytes
        graph.add_node("densify", [w], [dense], name=f"{w.name}/densify", before=node)
        graph.set_input(node, index, dense)
    graph.toposort()
    return result
