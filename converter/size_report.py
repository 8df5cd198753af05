"""What the model costs to ship: per layer with weights, how they are stored (bits, zeros, distinct values, sparse
or dense, bytes), and the file's size raw and gzip-compressed (what an over-the-air download pays). Plain data for
the report; no TensorFlow."""

from __future__ import annotations

import gzip
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .backend.packing import is_int4, stored_nbytes
from .backend.sparse import tensor_encoding
from .ir import Graph, Node, Tensor
from .quantize.spec import spec_for

LAYER_OPS = ("conv_2d", "depthwise_conv_2d", "fully_connected", "transpose_conv")
# gzip's own default level (what `gzip model.tflite` gives).
GZIP_LEVEL = 6
# Larger files are not compressed for the report (it would take seconds per hundred MiB).
GZIP_MAX_BYTES = 256 * 2**20


@dataclass(frozen=True)
class LayerSize:
    name: str
    op: str
    tensor: str
    dtype: str
    bits: int
    elements: int
    sparsity: float  # share of zero weights
    distinct: int  # distinct values in the tensor
    distinct_per_channel: int  # the most distinct values in one output channel
    encoding: str  # dense, or how the sparse tensor is read
    bytes: int  # stored: values (packed, or only the stored blocks) and sparse index vectors


def _const_behind(t: Tensor | None) -> tuple[Tensor | None, str]:
    """The constant a layer's weights come from (through a DENSIFY or a float16 DEQUANTIZE), and how it is read."""
    how = ""
    while t is not None and t.data is None and t.producer is not None and t.producer.op in ("densify", "dequantize"):
        how = how or ("through DENSIFY" if t.producer.op == "densify" else "")
        t = t.producer.inputs[0]
    return (t if t is not None and t.data is not None else None), how


def _layer(node: Node) -> LayerSize | None:
    spec = spec_for(node.op)
    if node.op not in LAYER_OPS or spec is None or len(node.inputs) < 2:
        return None
    w, how = _const_behind(node.inputs[1])
    if w is None or w.data is None or w.data.size == 0:
        return None
    data = np.asarray(w.data)
    values = data.astype(np.int8) if is_int4(data.dtype) else data
    axis = spec.weight_axis if spec.weight_axis is not None and spec.weight_axis < data.ndim else 0
    rows = np.moveaxis(values, axis, 0).reshape(data.shape[axis], -1)
    sparse = tensor_encoding(w)
    if sparse is None:
        encoding, size = "dense", stored_nbytes(w)
    else:
        encoding = ("CSR on the last dimension" if sparse.block[-1] == 1 else f"1x{sparse.block[-1]} blocks") + \
            (f", {how}" if how else ", read directly")
        size = int(sparse.values.nbytes + sparse.segments.nbytes + sparse.indices.nbytes)
    bits = 4 if is_int4(data.dtype) else data.dtype.itemsize * 8
    return LayerSize(node.name, node.op, w.name, data.dtype.name, bits, int(data.size),
                     float(1.0 - np.count_nonzero(values) / data.size), int(np.unique(values).size),
                     max(int(np.unique(r).size) for r in rows), encoding, size)


def gzip_size(data: bytes) -> int | None:
    """Bytes of ``data`` gzip-compressed at gzip's default level (None above ``GZIP_MAX_BYTES``)."""
    if len(data) > GZIP_MAX_BYTES:
        return None
    return len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))


def size_report(graph: Graph, tflite: bytes) -> dict[str, Any]:
    """Per layer and in total: bits, sparsity, distinct values, stored bytes; the file raw and gzip-compressed."""
    layers = [x for x in (_layer(n) for n in graph.nodes) if x is not None]
    elements = sum(x.elements for x in layers)
    zeros = sum(round(x.sparsity * x.elements) for x in layers)
    packed = gzip_size(tflite)
    return {
        "layers": [asdict(x) for x in layers],
        "total": {
            "layers": len(layers),
            "weights": elements,
            "sparsity": zeros / elements if elements else 0.0,
            "weight_bytes": sum(x.bytes for x in layers),
            "max_distinct_per_channel": max((x.distinct_per_channel for x in layers), default=0),
            "file_bytes": len(tflite),
            "gzip_bytes": packed,
            "gzip_level": GZIP_LEVEL,
        },
    }
