"""Read the constants and operators of any .tflite (qconvert's or TensorFlow's converter's) back as numbers, written
independently of qconvert's writer: int4 buffers unpacked, sparse tensors (SparsityParameters: any traversal order,
block map, DENSE / SPARSE_CSR levels, uint8 / uint16 / int32 index vectors) expanded to dense the way TFLite's
format converter walks them. The compression tests use it to find sparse tensors and to build numpy references from
the weights actually stored."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from schema.tflite.BuiltinOperator import BuiltinOperator
from schema.tflite.DimensionType import DimensionType
from schema.tflite.Model import Model
from schema.tflite.SparseIndexVector import SparseIndexVector

_OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
_NUMPY = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8, 17: "int4"}
INT4 = 17


@dataclass
class Sparsity:
    traversal_order: list[int]
    block_map: list[int]
    formats: list[int]  # DimensionType per level
    dense_sizes: list[int]
    segments: list[np.ndarray | None]
    indices: list[np.ndarray | None]
    index_types: list[tuple[int, int]]  # (segments, indices) SparseIndexVector kinds of each level


@dataclass
class Constant:
    name: str
    type: int  # TensorType
    shape: tuple[int, ...]
    stored: np.ndarray  # the buffer's values as stored (int4 unpacked to int8; sparse: the stored values only)
    buffer_bytes: int
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    axis: int
    sparsity: Sparsity | None

    def dense(self) -> np.ndarray:
        """The constant as a dense array of its shape."""
        if self.sparsity is None:
            return self.stored.reshape(self.shape)
        return expand(self.stored, self.shape, self.sparsity)


@dataclass
class Op:
    name: str
    version: int
    inputs: list[int]
    outputs: list[int]


@dataclass
class TFLiteFile:
    ops: list[Op]
    tensors: list[str]  # names by index
    constants: dict[int, Constant]  # by tensor index
    quant: dict[int, tuple[np.ndarray, np.ndarray, int]]  # (scale, zero point, axis) of every quantized tensor

    def op_versions(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for op in self.ops:
            out.setdefault(op.name, set()).add(op.version)
        return out

    def weights(self, op: str, index: int = 1) -> list[Constant]:
        """The constant read as input ``index`` by each ``op``, through a DENSIFY if there is one."""
        producers = {o: op_ for op_ in self.ops for o in op_.outputs}
        out = []
        for o in self.ops:
            if o.name != op or index >= len(o.inputs):
                continue
            t = o.inputs[index]
            if t not in self.constants and t in producers and producers[t].name == "DENSIFY":
                c = self.constants[producers[t].inputs[0]]
                if c.scale is None and t in self.quant:  # the quantization sits on the dense tensor
                    c = dataclasses.replace(c, scale=self.quant[t][0], zero_point=self.quant[t][1],
                                            axis=self.quant[t][2])
                out.append(c)
            elif t in self.constants:
                out.append(self.constants[t])
        return out

    def sparse(self) -> list[Constant]:
        return [c for c in self.constants.values() if c.sparsity is not None]


def _index_vector(kind: int, table: object) -> np.ndarray | None:
    if table is None or kind == SparseIndexVector.NONE:
        return None
    from schema.tflite.Int32Vector import Int32Vector
    from schema.tflite.Uint8Vector import Uint8Vector
    from schema.tflite.Uint16Vector import Uint16Vector

    cls = {SparseIndexVector.Int32Vector: Int32Vector, SparseIndexVector.Uint16Vector: Uint16Vector,
           SparseIndexVector.Uint8Vector: Uint8Vector}[kind]
    v = cls()
    v.Init(table.Bytes, table.Pos)  # type: ignore[attr-defined]
    return np.asarray(v.ValuesAsNumpy()).astype(np.int64)


def _sparsity(sp: object) -> Sparsity | None:
    if sp is None:
        return None
    order = [int(v) for v in sp.TraversalOrderAsNumpy()] if sp.TraversalOrderLength() else []  # type: ignore[attr-defined]
    bmap = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []  # type: ignore[attr-defined]
    formats, sizes, segs, idxs, kinds = [], [], [], [], []
    for i in range(sp.DimMetadataLength()):  # type: ignore[attr-defined]
        d = sp.DimMetadata(i)  # type: ignore[attr-defined]
        formats.append(d.Format())
        sizes.append(d.DenseSize())
        segs.append(_index_vector(d.ArraySegmentsType(), d.ArraySegments()))
        idxs.append(_index_vector(d.ArrayIndicesType(), d.ArrayIndices()))
        kinds.append((d.ArraySegmentsType(), d.ArrayIndicesType()))
    return Sparsity(order, bmap, formats, sizes, segs, idxs, kinds)


def expand(values: np.ndarray, shape: tuple[int, ...], sp: Sparsity) -> np.ndarray:
    """Dense tensor from stored values and SparsityParameters (TFLite's format converter, written from the schema's
    description: level l walks dimension traversal_order[l]; DENSE levels all dense_size positions, CSR levels the
    positions segments[p]..segments[p+1] of the parent position p; block dimensions (index n + j) index inside the
    block of dimension block_map[j])."""
    n = len(shape)
    levels = len(sp.traversal_order)
    block_size = {sp.block_map[j]: sp.dense_sizes[sp.traversal_order.index(n + j)] for j in range(len(sp.block_map))}
    out = np.zeros(shape, values.dtype)
    coords = [0] * levels

    def place(value_index: int) -> None:
        pos = []
        for i in range(n):
            c = coords[i]
            if i in block_size:
                c = c * block_size[i] + coords[n + sp.block_map.index(i)]
            pos.append(c)
        out[tuple(pos)] = values[value_index]

    def walk(level: int, parent: int) -> None:
        dim = sp.traversal_order[level]
        if sp.formats[level] == DimensionType.DENSE:
            size = sp.dense_sizes[level]
            for i in range(size):
                coords[dim] = i
                (place if level == levels - 1 else lambda k: walk(level + 1, k))(parent * size + i)
        else:
            seg, ind = sp.segments[level], sp.indices[level]
            assert seg is not None and ind is not None
            for k in range(int(seg[parent]), int(seg[parent + 1])):
                coords[dim] = int(ind[k])
                (place if level == levels - 1 else lambda k2: walk(level + 1, k2))(k)

    walk(0, 0)
    return out


def _unpack_int4(raw: np.ndarray, count: int) -> np.ndarray:
    lo = (raw & 0x0F).astype(np.int16)
    hi = (raw >> 4).astype(np.int16)
    both = np.empty(2 * raw.size, np.int16)
    both[0::2], both[1::2] = lo, hi
    return np.where(both > 7, both - 16, both).astype(np.int8)[:count]


def read(model: bytes) -> TFLiteFile:
    m = Model.GetRootAs(model, 0)
    sg = m.Subgraphs(0)
    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ops.append(Op(_OP_NAMES.get(builtin, str(builtin)), code.Version(), [int(v) for v in op.InputsAsNumpy()],
                      [int(v) for v in op.OutputsAsNumpy()]))
    names, constants, quant = [], {}, {}
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        names.append(t.Name().decode())
        q = t.Quantization()
        scale = zp = None
        axis = 0
        if q is not None and q.ScaleLength():
            scale = np.asarray(q.ScaleAsNumpy(), np.float64)
            zp = np.asarray(q.ZeroPointAsNumpy(), np.int64) if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
            axis = q.QuantizedDimension()
            quant[i] = (scale, zp, axis)
        buf = m.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            continue
        raw = np.asarray(buf.DataAsNumpy(), dtype=np.uint8)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        sparsity = _sparsity(t.Sparsity())
        kind = _NUMPY.get(t.Type())
        if kind is None:
            continue
        if kind == "int4":
            count = int(np.prod(shape)) if sparsity is None else 2 * raw.size
            stored = _unpack_int4(raw, count)
        else:
            stored = raw.view(kind).copy()
        constants[i] = Constant(names[-1], t.Type(), shape, stored, raw.size, scale, zp, axis, sparsity)
    return TFLiteFile(ops, names, constants, quant)


def distinct_per_channel(c: Constant) -> int:
    """The largest number of distinct values in one slice of the quantized dimension (axis 0 for float weights)."""
    dense = c.dense()
    axis = c.axis if c.scale is not None and c.scale.size > 1 else 0
    slices = np.moveaxis(dense, axis, 0).reshape(dense.shape[axis], -1)
    return max(len(np.unique(s)) for s in slices)
