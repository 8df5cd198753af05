"""Read any .tflite into a typed, JSON-serialisable description (``qconvert inspect``).

Works on every TFLite flatbuffer (schema v3), not only on the ones qconvert writes: TensorFlow's converter output,
custom ops (named by their custom code, FlexBuffer options decoded), builtin codes newer than our schema (shown by
number), buffers stored after the flatbuffer (``Buffer.offset``/``size``, models over 2 GB) and external weight
buffers. It reads the file
with the generated reader in ``schema/tflite`` and never imports TensorFlow.

    info = read_model(Path("model.tflite"))
    info.subgraphs[0].tensors[3].quantization.scale
    json.dumps(info.to_dict())
"""

from __future__ import annotations

import importlib
import inspect
import mmap
import os
import re
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from flatbuffers import flexbuffers

import schema
from schema.tflite.ActivationFunctionType import ActivationFunctionType
from schema.tflite.BuiltinOperator import BuiltinOperator
from schema.tflite.BuiltinOptions import BuiltinOptions
from schema.tflite.BuiltinOptions2 import BuiltinOptions2
from schema.tflite.CombinerType import CombinerType
from schema.tflite.FullyConnectedOptionsWeightsFormat import FullyConnectedOptionsWeightsFormat
from schema.tflite.LSHProjectionType import LSHProjectionType
from schema.tflite.LSTMKernelType import LSTMKernelType
from schema.tflite.MirrorPadMode import MirrorPadMode
from schema.tflite.Model import Model
from schema.tflite.Operator import Operator
from schema.tflite.Padding import Padding
from schema.tflite.QuantizationDetails import QuantizationDetails
from schema.tflite.QuantizationParameters import QuantizationParameters
from schema.tflite.ReduceWindowFunction import ReduceWindowFunction
from schema.tflite.RngAlgorithm import RngAlgorithm
from schema.tflite.StablehloComparisonDirection import StablehloComparisonDirection
from schema.tflite.StablehloComparisonType import StablehloComparisonType
from schema.tflite.SubGraph import SubGraph
from schema.tflite.TensorType import TensorType

from .errors import InputError

OptionValue = bool | int | float | str | list[int] | list[float] | list[str]

_HEADER_BYTES = 8  # root table offset (4) + file identifier (4)


def _names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


BUILTIN_NAMES = _names(BuiltinOperator)
DTYPE_NAMES = {code: name.lower() for code, name in _names(TensorType).items()}
_OPTIONS_TABLES = _names(BuiltinOptions)
_OPTIONS2_TABLES = _names(BuiltinOptions2)
_DETAILS_NAMES = _names(QuantizationDetails)
# Option fields whose integer is an enum of the schema, by field name (fields with one meaning across tables).
_OPTION_ENUMS: dict[str, dict[int, str]] = {
    "padding": _names(Padding),
    "fused_activation_function": _names(ActivationFunctionType),
    "weights_format": _names(FullyConnectedOptionsWeightsFormat),
    "kernel_type": _names(LSTMKernelType),
    "combiner": _names(CombinerType),
    "mode": _names(MirrorPadMode),
    "type": _names(LSHProjectionType),
    "comparison_direction": _names(StablehloComparisonDirection),
    "compare_type": _names(StablehloComparisonType),
    "algorithm": _names(RngAlgorithm),
    "reduce_function": _names(ReduceWindowFunction),
    **{f: DTYPE_NAMES for f in ("quantized_bias_type", "in_data_type", "out_data_type", "output_type",
                                "out_type", "idx_out_type", "key_dtype", "value_dtype")},
}
# Option fields left out when they hold this value, which means "not set" (0 = FLOAT32 would mislead).
_UNSET_OPTIONS: dict[str, int] = {"quantized_bias_type": 0}


# ---------------------------------------------------------------------------------------------- the description
@dataclass(frozen=True)
class QuantizationInfo:
    """A tensor's QuantizationParameters: real = scale * (q - zero_point); one entry per channel when per-channel
    (along ``quantized_dimension``); ``min``/``max`` are the recorded float ranges (may be empty)."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    min: tuple[float, ...]
    max: tuple[float, ...]
    quantized_dimension: int
    details: str | None = None  # CustomQuantization, BlockwiseQuantization, ... when present

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def to_dict(self) -> dict[str, Any]:
        return {"scale": list(self.scale), "zero_point": list(self.zero_point), "min": list(self.min),
                "max": list(self.max), "quantized_dimension": self.quantized_dimension,
                "channels": len(self.scale), "details": self.details}


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str  # lower-case TensorType name: float32, int8, uint8, ... ("type_<n>" if unknown)
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None  # -1 for dynamic dims; None when the file has none
    buffer: int
    buffer_bytes: int  # bytes of constant data (0 for activations)
    is_variable: bool
    sparse: bool
    quantization: QuantizationInfo | None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "shape_signature": None if self.shape_signature is None else list(self.shape_signature),
                "buffer": self.buffer, "buffer_bytes": self.buffer_bytes, "is_variable": self.is_variable,
                "sparse": self.sparse,
                "quantization": None if self.quantization is None else self.quantization.to_dict()}


@dataclass(frozen=True)
class OperatorCodeInfo:
    index: int
    builtin: str  # BuiltinOperator name, "CUSTOM", or "UNKNOWN(<code>)" for codes newer than our schema
    builtin_code: int  # max(deprecated_builtin_code, builtin_code)
    custom_code: str | None
    version: int

    @property
    def op(self) -> str:
        """What the op is: the custom code for custom ops, else the builtin name."""
        return self.custom_code if self.builtin == "CUSTOM" and self.custom_code else self.builtin

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "op": self.op, "builtin": self.builtin, "builtin_code": self.builtin_code,
                "custom_code": self.custom_code, "version": self.version}


@dataclass(frozen=True)
class OperatorInfo:
    index: int
    opcode_index: int
    op: str  # see OperatorCodeInfo.op
    builtin: str
    custom_code: str | None
    version: int
    inputs: tuple[int, ...]  # tensor indices; -1 = optional input left out
    outputs: tuple[int, ...]
    options_type: str | None  # e.g. "Conv2DOptions"
    options: Mapping[str, OptionValue]  # snake_case schema field -> value (enums by name)
    custom_options_bytes: int
    # A custom op's FlexBuffer options as a map (TOCO's and TF's converters write the TF node's attributes so);
    # None when the op has none or they are not a FlexBuffer map.
    custom_options: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "opcode_index": self.opcode_index, "op": self.op, "builtin": self.builtin,
                "custom_code": self.custom_code, "version": self.version, "inputs": list(self.inputs),
                "outputs": list(self.outputs), "options_type": self.options_type, "options": dict(self.options),
                "custom_options_bytes": self.custom_options_bytes,
                "custom_options": None if self.custom_options is None else dict(self.custom_options)}


@dataclass(frozen=True)
class SubgraphInfo:
    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    tensors: tuple[TensorInfo, ...]
    operators: tuple[OperatorInfo, ...]

    def tensor(self, index: int) -> TensorInfo | None:
        return self.tensors[index] if 0 <= index < len(self.tensors) else None

    def to_dict(self, tensors: bool = True) -> dict[str, Any]:
        def io(indices: tuple[int, ...]) -> list[dict[str, Any]]:
            out = []
            for i in indices:
                t = self.tensor(i)
                out.append({"index": i, "name": None, "dtype": None, "shape": None, "quantization": None} if t is None
                           else {k: v for k, v in t.to_dict().items()
                                 if k in ("index", "name", "dtype", "shape", "shape_signature", "quantization")})
            return out

        d: dict[str, Any] = {"index": self.index, "name": self.name, "inputs": io(self.inputs),
                             "outputs": io(self.outputs), "operators": [op.to_dict() for op in self.operators],
                             "tensor_count": len(self.tensors)}
        if tensors:
            d["tensors"] = [t.to_dict() for t in self.tensors]
        return d


@dataclass(frozen=True)
class SignatureInfo:
    key: str
    subgraph_index: int
    inputs: tuple[tuple[str, int], ...]  # (signature name, tensor index)
    outputs: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "subgraph_index": self.subgraph_index,
                "inputs": [{"name": n, "tensor": i} for n, i in self.inputs],
                "outputs": [{"name": n, "tensor": i} for n, i in self.outputs]}


@dataclass(frozen=True)
class MetadataInfo:
    name: str
    buffer: int
    bytes: int
    text: str | None  # the value when it is short printable text (e.g. min_runtime_version)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "buffer": self.buffer, "bytes": self.bytes, "text": self.text}


@dataclass(frozen=True)
class SizeInfo:
    file_bytes: int
    buffer_bytes: int  # all buffers: inline data plus data stored after the flatbuffer
    bytes_by_dtype: Mapping[str, int]  # buffer bytes by the dtype of the tensors using them (each buffer once)
    other_buffer_bytes: int  # buffers no tensor uses (metadata, unused)
    offset_buffers: int  # buffers stored after the flatbuffer (Buffer.offset/size)
    external_buffers: int  # weights in external files (Model.external_buffers)

    def to_dict(self) -> dict[str, Any]:
        return {"file_bytes": self.file_bytes, "buffer_bytes": self.buffer_bytes,
                "bytes_by_dtype": dict(self.bytes_by_dtype), "other_buffer_bytes": self.other_buffer_bytes,
                "offset_buffers": self.offset_buffers, "external_buffers": self.external_buffers}


@dataclass(frozen=True)
class ModelInfo:
    path: str | None
    schema_version: int
    description: str
    subgraphs: tuple[SubgraphInfo, ...]
    operator_codes: tuple[OperatorCodeInfo, ...]
    signatures: tuple[SignatureInfo, ...]
    metadata: tuple[MetadataInfo, ...]
    sizes: SizeInfo

    @property
    def op_counts(self) -> dict[str, int]:
        """Operators by type over all subgraphs, most frequent first."""
        counts = Counter(op.op for sg in self.subgraphs for op in sg.operators)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self, tensors: bool = True) -> dict[str, Any]:
        """The description as plain JSON types (no NaN/Inf: non-finite floats become strings)."""
        return _finite({
            "path": self.path, "schema_version": self.schema_version, "description": self.description,
            "subgraphs": [sg.to_dict(tensors) for sg in self.subgraphs],
            "operator_codes": [c.to_dict() for c in self.operator_codes],
            "signatures": [s.to_dict() for s in self.signatures],
            "metadata": [m.to_dict() for m in self.metadata],
            "sizes": self.sizes.to_dict(), "op_counts": self.op_counts,
        })


def _finite(value: Any) -> Any:  # noqa: ANN401 - walks JSON-shaped data
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # "nan", "inf", "-inf": strict JSON has no such numbers
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# -------------------------------------------------------------------------------------------------- reading
def read_model(path: Path) -> ModelInfo:
    """Describe the .tflite at ``path``; InputError (one line, says what to do) if it is missing or not TFLite."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; give the path of a .tflite model")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a .tflite file; give the path of a .tflite model")
    try:
        with open(path, "rb") as f:
            # Memory-mapped: a model over 2 GiB is described without reading its weights (only the pages the
            # flatbuffer's tables sit in are touched).
            data: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if \
                os.fstat(f.fileno()).st_size else b""
    except OSError as e:
        raise InputError(f"cannot read {path} ({e.strerror or e}); check that the file is readable") from e
    return describe(data, str(path))


def describe(data: bytes | mmap.mmap, path: str | None = None) -> ModelInfo:
    """Describe a TFLite flatbuffer held in memory (``path`` only names it in messages and in the result)."""
    label = path or "the model"
    check_identifier(data, label)
    try:
        return _Reader(data, label).model(path)
    except (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError) as e:
        raise InputError(f"{label} is truncated or corrupt (its flatbuffer points outside its {len(data):,} bytes "
                         "or holds invalid values); re-export or re-download the model") from e


def check_identifier(data: bytes | mmap.mmap, label: str) -> None:
    """A TFLite file starts with a root offset and the identifier "TFL3" at bytes 4..8."""
    if len(data) < _HEADER_BYTES:
        raise InputError(f"{label} is not a TFLite model ({len(data)} bytes, too short for a flatbuffer); "
                         "give a .tflite file")
    found = bytes(data[4:8])
    if found != schema.FILE_IDENTIFIER:
        raise InputError(f"{label} is not a TFLite model (bytes 4..8 are {found!r}, not the 'TFL3' identifier); "
                         "give a .tflite file (to convert a TensorFlow model run qconvert --input_file=MODEL.pb "
                         "or --saved_model_dir=DIR)")
    root = struct.unpack_from("<I", data, 0)[0]
    if root < _HEADER_BYTES or root + 4 > len(data):
        raise InputError(f"{label} is truncated or corrupt (root table at byte {root} of {len(data)}); "
                         "re-export or re-download the model")


class _Reader:
    def __init__(self, data: bytes | mmap.mmap, label: str) -> None:
        self.data = data
        self.label = label
        self.m = Model.GetRootAs(data, 0)

    def _count(self, n: int, what: str) -> int:
        """Vector lengths read from the file; a corrupt length would make us loop billions of times."""
        if n < 0 or n * 4 > len(self.data):
            raise InputError(f"{self.label} is corrupt ({what}: {n} entries in a {len(self.data):,}-byte file); "
                             "re-export or re-download the model")
        return n

    def _text(self, raw: bytes | None) -> str:
        return "" if raw is None else bytes(raw).decode("utf-8", errors="replace")

    def model(self, path: str | None) -> ModelInfo:
        m = self.m
        buffer_sizes, offset_buffers = self.buffers()
        codes = tuple(self.opcode(i) for i in range(self._count(m.OperatorCodesLength(), "operator codes")))
        subgraphs = tuple(self.subgraph(i, m.Subgraphs(i), codes, buffer_sizes)
                          for i in range(self._count(m.SubgraphsLength(), "subgraphs")))
        metadata = tuple(self.metadata(i, buffer_sizes) for i in range(self._count(m.MetadataLength(), "metadata")))
        signatures = tuple(self.signature(i) for i in range(self._count(m.SignatureDefsLength(), "signatures")))
        by_dtype: dict[str, int] = {}
        used: set[int] = set()
        for sg in subgraphs:
            for t in sg.tensors:
                if t.buffer not in used and 0 <= t.buffer < len(buffer_sizes):
                    used.add(t.buffer)
                    if t.buffer_bytes:
                        by_dtype[t.dtype] = by_dtype.get(t.dtype, 0) + t.buffer_bytes
        total = sum(buffer_sizes)
        sizes = SizeInfo(file_bytes=len(self.data), buffer_bytes=total,
                         bytes_by_dtype=dict(sorted(by_dtype.items(), key=lambda kv: -kv[1])),
                         other_buffer_bytes=total - sum(by_dtype.values()), offset_buffers=offset_buffers,
                         external_buffers=self._count(m.ExternalBuffersLength(), "external buffers"))
        return ModelInfo(path=path, schema_version=m.Version(), description=self._text(m.Description()),
                         subgraphs=subgraphs, operator_codes=codes, signatures=signatures, metadata=metadata,
                         sizes=sizes)

    def buffers(self) -> tuple[list[int], int]:
        """Bytes of each buffer, inline (data) or stored after the flatbuffer (offset > 1, size)."""
        sizes, offset_buffers = [], 0
        for i in range(self._count(self.m.BuffersLength(), "buffers")):
            b = self.m.Buffers(i)
            if b is None:
                sizes.append(0)
                continue
            offset = b.Offset()
            if offset > 1:
                size = b.Size()
                if offset + size > len(self.data):
                    raise InputError(f"{self.label} is truncated: buffer {i} is stored at bytes "
                                     f"{offset}..{offset + size} but the file has {len(self.data):,} bytes; "
                                     "re-export or re-download the model")
                offset_buffers += 1
                sizes.append(size)
            elif b.DataIsNone():
                sizes.append(0)
            else:  # a numpy view (no copy) checks that the data lies inside the file: a cut file fails here
                sizes.append(int(np.asarray(b.DataAsNumpy()).size))
        return sizes, offset_buffers

    def opcode(self, i: int) -> OperatorCodeInfo:
        c = self.m.OperatorCodes(i)
        code = max(c.DeprecatedBuiltinCode(), c.BuiltinCode())
        builtin = BUILTIN_NAMES.get(code, f"UNKNOWN({code})")
        custom = self._text(c.CustomCode()) if c.CustomCode() is not None else None
        return OperatorCodeInfo(index=i, builtin=builtin, builtin_code=code, custom_code=custom, version=c.Version())

    def subgraph(self, index: int, sg: SubGraph, codes: tuple[OperatorCodeInfo, ...],
                 buffer_sizes: list[int]) -> SubgraphInfo:
        tensors = tuple(self.tensor(sg, i, buffer_sizes) for i in range(self._count(sg.TensorsLength(), "tensors")))
        ops = tuple(self.operator(sg.Operators(i), i, codes, index)
                    for i in range(self._count(sg.OperatorsLength(), "operators")))
        return SubgraphInfo(index=index, name=self._text(sg.Name()), inputs=_ints(sg.InputsIsNone(), sg.InputsAsNumpy),
                            outputs=_ints(sg.OutputsIsNone(), sg.OutputsAsNumpy), tensors=tensors, operators=ops)

    def tensor(self, sg: SubGraph, i: int, buffer_sizes: list[int]) -> TensorInfo:
        t = sg.Tensors(i)
        buffer = t.Buffer()
        signature = None if t.ShapeSignatureIsNone() else _ints(False, t.ShapeSignatureAsNumpy)
        return TensorInfo(index=i, name=self._text(t.Name()), dtype=DTYPE_NAMES.get(t.Type(), f"type_{t.Type()}"),
                          shape=_ints(t.ShapeIsNone(), t.ShapeAsNumpy), shape_signature=signature, buffer=buffer,
                          buffer_bytes=buffer_sizes[buffer] if 0 < buffer < len(buffer_sizes) else 0,
                          is_variable=bool(t.IsVariable()), sparse=t.Sparsity() is not None,
                          quantization=_quantization(t.Quantization()))

    def operator(self, op: Operator, i: int, codes: tuple[OperatorCodeInfo, ...], sg: int) -> OperatorInfo:
        k = op.OpcodeIndex()
        if not 0 <= k < len(codes):
            raise InputError(f"{self.label} is corrupt (subgraph {sg} operator {i} uses operator code {k}, but there "
                             f"are {len(codes)}); re-export or re-download the model")
        code = codes[k]
        options_type, options = _options(op)
        raw = self.custom_options_raw(op)
        return OperatorInfo(index=i, opcode_index=k, op=code.op, builtin=code.builtin, custom_code=code.custom_code,
                            version=code.version, inputs=_ints(op.InputsIsNone(), op.InputsAsNumpy),
                            outputs=_ints(op.OutputsIsNone(), op.OutputsAsNumpy), options_type=options_type,
                            options=options, custom_options_bytes=len(raw),
                            custom_options=decode_flexbuffer_map(raw) if op.CustomOptionsFormat() == 0 else None)

    def custom_options_raw(self, op: Operator) -> bytes:
        """The operator's custom options: inline, or stored after the flatbuffer (large_custom_options_*)."""
        if not op.CustomOptionsIsNone():
            return bytes(op.CustomOptionsAsNumpy())
        offset, size = op.LargeCustomOptionsOffset(), op.LargeCustomOptionsSize()
        if offset > 1 and size:
            if offset + size > len(self.data):
                raise InputError(f"{self.label} is truncated: custom options stored at bytes {offset}..{offset + size} "
                                 f"but the file has {len(self.data):,} bytes; re-export or re-download the model")
            return bytes(self.data[offset:offset + size])
        return b""

    def signature(self, i: int) -> SignatureInfo:
        s = self.m.SignatureDefs(i)

        def maps(n: int, get: Callable[[int], Any]) -> tuple[tuple[str, int], ...]:
            return tuple((self._text(get(j).Name()), get(j).TensorIndex()) for j in range(self._count(n, "signature")))

        return SignatureInfo(key=self._text(s.SignatureKey()), subgraph_index=s.SubgraphIndex(),
                             inputs=maps(s.InputsLength(), s.Inputs), outputs=maps(s.OutputsLength(), s.Outputs))

    def metadata(self, i: int, buffer_sizes: list[int]) -> MetadataInfo:
        md = self.m.Metadata(i)
        buffer = md.Buffer()
        size = buffer_sizes[buffer] if 0 <= buffer < len(buffer_sizes) else 0
        text = None
        if 0 < size <= 64 and 0 <= buffer < len(buffer_sizes):
            b = self.m.Buffers(buffer)
            if b.Offset() <= 1:
                raw = bytes(b.DataAsNumpy()).rstrip(b"\0")
                if raw and all(32 <= c < 127 for c in raw):
                    text = raw.decode("ascii")
        return MetadataInfo(name=self._text(md.Name()), buffer=buffer, bytes=size, text=text)


_MAX_FLEXBUFFER_BYTES = 1 << 20  # custom options larger than this are counted, not decoded


def decode_flexbuffer_map(raw: bytes) -> dict[str, Any] | None:
    """FlexBuffer bytes as a JSON-ready dict (bytes as hex strings), or None if they are not a FlexBuffer map."""
    if not raw or len(raw) > _MAX_FLEXBUFFER_BYTES:
        return None
    try:
        value = flexbuffers.Loads(raw)
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, UnicodeDecodeError, RecursionError,
            struct.error, MemoryError):
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return None
    return {k: _plain(v) for k, v in value.items()}


def _plain(value: Any) -> Any:  # noqa: ANN401 - a decoded FlexBuffer value
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _ints(is_none: bool, as_numpy: Callable[[], Any]) -> tuple[int, ...]:
    return () if is_none else tuple(int(v) for v in as_numpy())


def _floats(is_none: bool, as_numpy: Callable[[], Any]) -> tuple[float, ...]:
    return () if is_none else tuple(float(v) for v in as_numpy())


def _quantization(q: QuantizationParameters | None) -> QuantizationInfo | None:
    if q is None:
        return None
    details = _DETAILS_NAMES.get(q.DetailsType(), f"details_{q.DetailsType()}") if q.DetailsType() else None
    info = QuantizationInfo(scale=_floats(q.ScaleIsNone(), q.ScaleAsNumpy),
                            zero_point=_ints(q.ZeroPointIsNone(), q.ZeroPointAsNumpy),
                            min=_floats(q.MinIsNone(), q.MinAsNumpy), max=_floats(q.MaxIsNone(), q.MaxAsNumpy),
                            quantized_dimension=q.QuantizedDimension(), details=details)
    if not (info.scale or info.zero_point or info.min or info.max or info.details):
        return None  # an empty QuantizationParameters table: TensorFlow writes one for every float tensor
    return info


# ---------------------------------------------------------------------------------------------- operator options
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def _options_fields(table: str) -> tuple[tuple[str, str, str], ...] | None:
    """(field, accessor, kind) of the generated options class ``table``; kind: scalar, numpy, strings.

    The generated module of a union member is named after it (as backend/writer.py builds options); None if this
    schema has no such module."""
    try:
        cls = getattr(importlib.import_module(f"schema.tflite.{table}"), table)
    except (ImportError, AttributeError):
        return None
    methods = {k: v for k, v in vars(cls).items() if callable(v) and not k.startswith("_")}
    fields = []
    for name, fn in methods.items():
        if name == "Init" or name.startswith("GetRootAs") or name.endswith(("BufferHasIdentifier", "Length",
                                                                             "IsNone", "AsNumpy")):
            continue
        params = len(inspect.signature(fn).parameters)
        if params == 1:
            fields.append((_snake(name), name, "scalar"))
        elif params == 2 and f"{name}AsNumpy" in methods:
            fields.append((_snake(name), name, "numpy"))
        elif params == 2 and f"{name}Length" in methods:
            fields.append((_snake(name), name, "strings"))
    return tuple(fields)


def _options(op: Operator) -> tuple[str | None, dict[str, OptionValue]]:
    """The operator's builtin options table, every scalar or vector field by its schema name."""
    for type_of, table_of, names in ((op.BuiltinOptionsType, op.BuiltinOptions, _OPTIONS_TABLES),
                                     (op.BuiltinOptions2Type, op.BuiltinOptions2, _OPTIONS2_TABLES)):
        kind = type_of()
        if kind == 0:
            continue
        table = names.get(kind)
        if table is None:
            return f"options_{kind}", {}
        fields, raw = _options_fields(table), table_of()
        if fields is None or raw is None:
            return table, {}
        obj = getattr(importlib.import_module(f"schema.tflite.{table}"), table)()
        obj.Init(raw.Bytes, raw.Pos)
        return table, _read_fields(obj, fields)
    return None, {}


def _read_fields(obj: Any, fields: tuple[tuple[str, str, str], ...]) -> dict[str, OptionValue]:  # noqa: ANN401
    values: dict[str, OptionValue] = {}
    for field, accessor, kind in fields:
        if kind == "scalar":
            v = getattr(obj, accessor)()
            if isinstance(v, bytes):
                values[field] = v.decode("utf-8", errors="replace")
            elif isinstance(v, bool | int | float) and _UNSET_OPTIONS.get(field, None) != v:
                enum = _OPTION_ENUMS.get(field)
                values[field] = enum.get(v, v) if enum is not None and not isinstance(v, bool) else v
            # nested tables are left out: the scalar fields are what a reader compares
        elif getattr(obj, f"{accessor}IsNone")():
            continue
        elif kind == "numpy":
            arr = np.asarray(getattr(obj, f"{accessor}AsNumpy")())
            values[field] = [float(x) for x in arr] if arr.dtype.kind == "f" else [int(x) for x in arr]
        else:
            items = [getattr(obj, accessor)(j) for j in range(getattr(obj, f"{accessor}Length")())]
            if all(isinstance(x, bytes) for x in items):
                values[field] = [x.decode("utf-8", errors="replace") for x in items]
    return values
