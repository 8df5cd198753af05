"""IR -> TFLite flatbuffer, through the generated schema code. Never imports TensorFlow.

Layout: buffer 0 is the empty sentinel every non-constant tensor points at; each constant gets its own buffer,
written from its numpy bytes 16-byte aligned, inside the flatbuffer or, for models over 2 GiB, after it
(``layout``). Subgraph 0 is the main graph, then the subgraphs of its control-flow
nodes (WHILE cond/body, IF branches) in ``Graph.all_graphs`` order, each with its own tensors; buffers and operator
codes are shared. One SignatureDef (on subgraph 0) named after the model's inputs and outputs. Identical vectors
and tables (shapes, zero points, scales, min/max, operand lists, quantization parameters) are stored once and
referenced wherever they recur (``_Writer._shared``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType

import flatbuffers
import numpy as np

import schema
from schema.tflite import BuiltinOperator as _bo
from schema.tflite import BuiltinOptions as _bopt
from schema.tflite import Model as _model
from schema.tflite import Operator as _operator
from schema.tflite import OperatorCode as _opcode
from schema.tflite import QuantizationParameters as _qp
from schema.tflite import SignatureDef as _sig
from schema.tflite import SubGraph as _subgraph
from schema.tflite import Tensor as _tensor
from schema.tflite import TensorMap as _tmap

from ..errors import ConversionError, UnsupportedOp, UnsupportedOpsError
from ..ir import Graph, Node, QuantParams, Tensor, subgraphs_of
from . import custom, layout, packing, sparse
from .layout import MAX_FLATBUFFER_BYTES, ModelFile, buffer_tables, finish, raw_bytes, stored_after
from .optable import OPS, FieldValue, tensor_type
from .states import materialize_states

_DESCRIPTION = "qconvert"


def check_supported(graph: Graph) -> None:
    """Every IR op, in every subgraph, must have a TFLite builtin, every tensor a TFLite type; report all that don't
    at once."""
    missing: dict[str, list[str]] = {}
    for node in (n for g in graph.all_graphs() for n in g.nodes):
        if node.op not in OPS and node.op != custom.CUSTOM_OP:
            missing.setdefault(node.tf_op or node.op, []).append(node.name)
    if missing:
        raise UnsupportedOpsError([UnsupportedOp(op, tuple(names)) for op, names in missing.items()],
                                  context=" (no TFLite builtin for them)", custom_ops_hint=False)
    untyped: dict[str, list[str]] = {}
    for t in (t for g in graph.all_graphs() for t in g.tensors()):
        try:
            tensor_type(t.dtype)
        except ValueError:
            untyped.setdefault(t.dtype.name, []).append(t.tf_name)
    if untyped:
        listed = "; ".join(f"{dt} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                           for dt, names in untyped.items())
        raise ConversionError(f"TFLite has no tensor type for {listed}; cast these tensors to a type it has "
                              "(float32, int8/16/32/64, uint8/16/32, bool, complex64, string ...) in the model")


def _string_buffer(arr: np.ndarray) -> bytes:
    """A string tensor's buffer as TFLite lays it out: int32 count, int32 start offsets of each string plus the end
    offset (from the buffer's start), then the bytes."""
    items = [x if isinstance(x, bytes) else str(x).encode() for x in arr.reshape(-1)]
    header = 4 * (len(items) + 2)
    offsets = np.cumsum([header, *(len(x) for x in items)], dtype=np.int64).astype("<i4")
    return np.int32(len(items)).astype("<i4").tobytes() + offsets.tobytes() + b"".join(items)


def constant_bytes(graph: Graph) -> int:
    """Bytes of constant data the model will carry, subgraphs included (for the 2 GiB check before any work is
    done)."""
    return sum(packing.stored_nbytes(t) for g in graph.all_graphs() for t in g.tensors() if t.data is not None)


def _options_module(table: str) -> ModuleType:
    return importlib.import_module(f"schema.tflite.{table}")


def _build_options(b: flatbuffers.Builder, table: str, fields: dict[str, FieldValue]) -> int:
    mod = _options_module(table)
    vectors = {}
    for name, value in fields.items():
        if isinstance(value, list):
            is_float = any(isinstance(v, float) for v in value)
            vectors[name] = b.CreateNumpyVector(np.asarray(value, dtype=np.float32 if is_float else np.int32))
    mod.Start(b)
    for name, value in fields.items():
        adder = getattr(mod, f"Add{name}")
        adder(b, vectors[name] if name in vectors else value)
    return mod.End(b)


def _offset_vector(b: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    """A vector of tables (offsets), in order."""
    b.StartVector(4, len(offsets), 4)
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


class _Writer:
    def __init__(self, graph: Graph, inline_limit: int) -> None:
        self.graph = graph
        self.graphs = graph.all_graphs()
        self.subgraph_index = {id(g): i for i, g in enumerate(self.graphs)}
        self.inline_limit = inline_limit
        self.b = flatbuffers.Builder(0)
        # Per subgraph, its tensors in index order; a tensor belongs to one subgraph, so one map of indices.
        self.tensors: list[list[Tensor]] = []
        self.index: dict[int, int] = {}
        # Operator.intermediates (tensors of the file only, from the op table) by node, and the variable tensors.
        self.intermediates: dict[int, list[Tensor]] = {}
        self.variables = {id(n.inputs[i]) for g in self.graphs for n in g.nodes if n.op in OPS
                          for i in OPS[n.op].state_inputs if i < len(n.inputs) and n.inputs[i] is not None}
        self.opcodes: dict[tuple[int, int, str | None], int] = {}  # (builtin, version, custom code) -> index
        # Objects written once and referenced wherever they recur (``_shared``).
        self.shared: dict[tuple[object, ...], int] = {}

    def _shared(self, key: tuple[object, ...], make: Callable[[], int]) -> int:
        """The offset of the object ``key`` names, built by ``make`` the first time. FlatBuffers objects are
        immutable and addressed by offset, so identical vectors and tables are stored once and referenced from
        every table that holds them (shapes, zero points, operand lists, quantization parameters recur); the file
        reads the same, only smaller."""
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]

    def _vector(self, values: Sequence[int] | Sequence[float], dtype: type = np.int32) -> int:
        arr = np.asarray(values, dtype=dtype)
        return self._shared((arr.dtype.str, arr.tobytes()), lambda: self.b.CreateNumpyVector(arr))

    def _quantization(self, q: QuantParams) -> int:
        return self._shared(("quantization", q), lambda: self._quantization_table(q))

    def _quantization_table(self, q: QuantParams) -> int:
        b = self.b
        mins = self._vector(q.min, np.float32) if q.min else None
        maxs = self._vector(q.max, np.float32) if q.max else None
        scale = self._vector(q.scale, np.float32)
        zp = self._vector(q.zero_point, np.int64)
        _qp.Start(b)
        if mins is not None and maxs is not None:
            _qp.AddMin(b, mins)
            _qp.AddMax(b, maxs)
        _qp.AddScale(b, scale)
        _qp.AddZeroPoint(b, zp)
        _qp.AddQuantizedDimension(b, q.axis if q.axis is not None else 0)
        return _qp.End(b)

    def tensor_index(self, t: Tensor | None) -> int:
        if t is None:
            return -1
        return self.index[id(t)]

    def write(self) -> ModelFile:
        for g in self.graphs:
            tensors = list(g.tensors())
            for n in g.nodes:
                made = [_file_tensor(f"{n.name}/i{k}", dtype, quant)
                        for k, (dtype, quant) in enumerate(OPS[n.op].intermediates(n))] if n.op in OPS else []
                if made:
                    self.intermediates[id(n)] = made
                    tensors.extend(made)
            self.index.update((id(t), i) for i, t in enumerate(tensors))
            self.tensors.append(tensors)
        # Buffers: 0 = empty sentinel, then one per constant in tensor order; inside the flatbuffer, or after it
        # when they do not fit inside (``layout``).
        constants = [t for tensors in self.tensors for t in tensors if t.data is not None]
        buffer_of = {id(t): i + 1 for i, t in enumerate(constants)}
        payloads: list[np.ndarray | None] = [None]
        for t in constants:
            payloads.append(np.frombuffer(_string_buffer(t.data), np.uint8) if t.data.dtype.kind in "OS"  # type: ignore[union-attr]
                            else raw_bytes(packing.payload(t)))
        after = stored_after(payloads, self.inline_limit)
        inline_bytes = 0 if after else sum(p.size + 16 for p in payloads if p is not None)
        tensor_count = sum(len(tensors) for tensors in self.tensors)
        self.b = b = flatbuffers.Builder(1024 + inline_bytes + 64 * tensor_count)

        subgraphs = []
        for g, tensors in zip(self.graphs, self.tensors, strict=True):
            tensor_offsets = [self._tensor(t, buffer_of.get(id(t), 0)) for t in tensors]
            op_offsets = [self._operator(n) for n in g.nodes]
            subgraphs.append(self._subgraph(g, tensor_offsets, op_offsets))
        opcode_offsets = self._opcodes()
        signature = self._signature()
        description = b.CreateString(_DESCRIPTION)
        # The data is written last, so it sits together near the start of the file (the builder works back to
        # front), apart from the tables: general-purpose compressors (gzip) then see the weights as one stretch
        # (2% smaller gzip on a clustered CNN than with the tables in front).
        buffers = buffer_tables(b, payloads, after)

        opcodes_vec = _offset_vector(b, opcode_offsets)
        subgraphs_vec = _offset_vector(b, subgraphs)
        buffers_vec = _offset_vector(b, buffers)
        sig_vec = _offset_vector(b, [signature])

        _model.Start(b)
        _model.AddVersion(b, schema.SCHEMA_VERSION)
        _model.AddOperatorCodes(b, opcodes_vec)
        _model.AddSubgraphs(b, subgraphs_vec)
        _model.AddDescription(b, description)
        _model.AddBuffers(b, buffers_vec)
        _model.AddSignatureDefs(b, sig_vec)
        model = _model.End(b)
        b.Finish(model, file_identifier=schema.FILE_IDENTIFIER)
        size = len(b.Bytes) - b.Head()
        if size > MAX_FLATBUFFER_BYTES:
            raise ConversionError(f"the model's flatbuffer (tensors, ops and names) takes {size:,} bytes, beyond "
                                  "the 2 GiB a TFLite flatbuffer can address; split the model into smaller ones")
        return finish(b, payloads, after)

    def _tensor(self, t: Tensor, buffer: int) -> int:
        b = self.b
        name = b.CreateString(t.name)
        # A dim known only at run time is -1 in the signature and 1 in the shape (the kernels resize it).
        dynamic = any(d < 0 for d in t.shape)
        shape = self._vector([1 if d < 0 else d for d in t.shape])
        signature = self._vector(t.shape) if dynamic else None
        quant = self._quantization(t.quant) if t.quant is not None else None
        encoding = sparse.tensor_encoding(t)
        sparsity = sparse.sparsity_table(b, encoding) if encoding is not None else None
        _tensor.Start(b)
        _tensor.AddShape(b, shape)
        if signature is not None:
            _tensor.AddShapeSignature(b, signature)
        _tensor.AddType(b, tensor_type(t.dtype))
        _tensor.AddBuffer(b, buffer)
        _tensor.AddName(b, name)
        if id(t) in self.variables:
            _tensor.AddIsVariable(b, True)
        if quant is not None:
            _tensor.AddQuantization(b, quant)
        if sparsity is not None:
            _tensor.AddSparsity(b, sparsity)
        return _tensor.End(b)

    def _opcode_index(self, builtin: int, version: int, custom_code: str | None = None) -> int:
        key = (builtin, version, custom_code)
        if key not in self.opcodes:
            self.opcodes[key] = len(self.opcodes)
        return self.opcodes[key]

    def _operator(self, node: Node) -> int:
        b = self.b
        options = custom_options = None
        entry = OPS.get(node.op)
        if entry is None:  # a CUSTOM operator (backend/custom.py): custom code and FlexBuffer options
            opcode = self._opcode_index(custom.CUSTOM_BUILTIN, custom.CUSTOM_VERSION, custom.custom_code(node))
            raw = custom.custom_options(node)
            custom_options = b.CreateByteVector(raw) if raw else None
        else:
            builtin = getattr(_bo.BuiltinOperator, entry.builtin)
            opcode = self._opcode_index(builtin, entry.version(node))
            fields = entry.fields(node)
            fields.update(zip(entry.subgraph_fields, (self.subgraph_index[id(g)] for g in subgraphs_of(node)),
                              strict=True))
            options = _build_options(b, entry.options, fields) if entry.options else None
        inputs = self._vector([self.tensor_index(t) for t in node.inputs])
        outputs = self._vector([self.tensor_index(t) for t in node.outputs])
        made = self.intermediates.get(id(node))
        intermediates = self._vector([self.tensor_index(t) for t in made]) if made else None
        _operator.Start(b)
        _operator.AddOpcodeIndex(b, opcode)
        _operator.AddInputs(b, inputs)
        _operator.AddOutputs(b, outputs)
        if intermediates is not None:
            _operator.AddIntermediates(b, intermediates)
        if options is not None and entry is not None:
            _operator.AddBuiltinOptionsType(b, getattr(_bopt.BuiltinOptions, entry.options))  # type: ignore[arg-type]
            _operator.AddBuiltinOptions(b, options)
        if custom_options is not None:
            _operator.AddCustomOptions(b, custom_options)
            _operator.AddCustomOptionsFormat(b, 0)  # FLEXBUFFERS
        return _operator.End(b)

    def _subgraph(self, g: Graph, tensors: list[int], ops: list[int]) -> int:
        b = self.b
        tvec = _offset_vector(b, tensors)
        ovec = _offset_vector(b, ops)
        ins = self._vector([self.tensor_index(t) for t in g.inputs])
        outs = self._vector([self.tensor_index(t) for t in g.outputs])
        name = b.CreateString(g.name)
        _subgraph.Start(b)
        _subgraph.AddTensors(b, tvec)
        _subgraph.AddInputs(b, ins)
        _subgraph.AddOutputs(b, outs)
        _subgraph.AddOperators(b, ovec)
        _subgraph.AddName(b, name)
        return _subgraph.End(b)

    def _opcodes(self) -> list[int]:
        b = self.b
        offsets = []
        for (builtin, version, code), _ in sorted(self.opcodes.items(), key=lambda kv: kv[1]):
            name = b.CreateString(code) if code is not None else None
            _opcode.Start(b)
            if name is not None:
                _opcode.AddCustomCode(b, name)
            _opcode.AddDeprecatedBuiltinCode(b, min(builtin, 127))
            _opcode.AddVersion(b, version)
            _opcode.AddBuiltinCode(b, builtin)
            offsets.append(_opcode.End(b))
        return offsets

    def _tensor_maps(self, names: Sequence[str], tensors: Sequence[Tensor]) -> int:
        b = self.b
        maps = []
        for name, t in zip(names, tensors, strict=True):
            s = b.CreateString(name)
            _tmap.Start(b)
            _tmap.AddName(b, s)
            _tmap.AddTensorIndex(b, self.tensor_index(t))
            maps.append(_tmap.End(b))
        return _offset_vector(b, maps)

    def _signature(self) -> int:
        g, b = self.graph, self.b
        sig = g.signature
        in_names = list(sig.input_names) if sig and len(sig.input_names) == len(g.inputs) else \
            [t.name for t in g.inputs]
        out_names = list(sig.output_names) if sig and len(sig.output_names) == len(g.outputs) else \
            [t.name for t in g.outputs]
        ins = self._tensor_maps(in_names, g.inputs)
        outs = self._tensor_maps(out_names, g.outputs)
        key = b.CreateString(sig.key if sig else "serving_default")
        _sig.Start(b)
        _sig.AddInputs(b, ins)
        _sig.AddOutputs(b, outs)
        _sig.AddSignatureKey(b, key)
        _sig.AddSubgraphIndex(b, 0)
        return _sig.End(b)


def _file_tensor(name: str, dtype: np.dtype, quant: QuantParams | None) -> Tensor:
    """A tensor that exists only in the file (an operator's intermediate): no data, shape [0]."""
    t = Tensor(name, dtype, (0,))
    t.quant = quant
    return t


def build_tflite(graph: Graph, inline_limit: int | None = None) -> ModelFile:
    """Serialize ``graph`` (already quantized or float) to a .tflite, not yet joined into one bytes object
    (``inline_limit``: constant bytes beyond which the data is stored after the flatbuffer; default
    ``layout.INLINE_LIMIT``). Stateful operands are first given the variable tensors TFLite wants
    (``states.materialize_states``, a graph edit)."""
    materialize_states(graph)
    check_supported(graph)
    return _Writer(graph, layout.INLINE_LIMIT if inline_limit is None else inline_limit).write()


def write_tflite(graph: Graph, inline_limit: int | None = None) -> bytes:
    """Serialize ``graph`` to the bytes of a .tflite file."""
    return build_tflite(graph, inline_limit).to_bytes()
