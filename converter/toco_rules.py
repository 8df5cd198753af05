"""Model-level rules of TOCO's flags, applied by the pipeline: control dependencies (--drop_control_dependency),
shapes known only at run time (--allow_dynamic_tensors), op-count checks (--model_checks), array ranges from an
ArraysExtraInfo file (--arrays_extra_info_file) and TOCO's weight nudge for fast uint8 GEMM kernels
(--allow_nudging_weights_to_use_fast_gemm_kernel)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConversionConfig
from .errors import ConversionError, InputError
from .frontend.importer import ImportResult
from .ir import Graph, QuantRange, RangeSource

# TOCO's EnsureUint8WeightsSafeForFastInt8Kernels: two zeros of uint8 weights closer than this (in the flattened
# weights) could overflow the fast int8 GEMM kernels of the time.
FAST_GEMM_MIN_ZERO_DISTANCE = 16
_GEMM_OPS = ("conv_2d", "fully_connected")


def check_import(config: ConversionConfig, imported: ImportResult) -> list[str]:
    """--drop_control_dependency=false, --allow_dynamic_tensors=false and --model_checks, on the imported graph.
    Returns notes."""
    notes = []
    if imported.control_edges_dropped:
        if not config.drop_control_dependency:
            raise ConversionError(
                f"the selected graph has {imported.control_edges_dropped} control input(s) (TFLite has no control "
                "dependencies); drop them with --drop_control_dependency (the default), or re-export the graph "
                "without them"
            )
        notes.append(f"{imported.control_edges_dropped} control input(s) dropped (--drop_control_dependency)")
    if imported.dynamic_tensors:
        names = ", ".join(imported.dynamic_tensors[:5])
        if not config.allow_dynamic_tensors:
            raise ConversionError(
                f"tensor(s) {names} have no static shape (custom op outputs without _output_shapes); give the node "
                "an _output_shapes attribute, or allow run-time shapes with --allow_dynamic_tensors"
            )
        notes.append(f"shape known only at run time (written as []): {names}")
    counts = imported.tf_op_counts
    for check in config.model_checks:
        n = sum(counts.values()) if check.op_type == "None" else counts.get(check.op_type, 0)
        if (check.count_min >= 0 and n < check.count_min) or (check.count_max >= 0 and n > check.count_max):
            what = "ops" if check.op_type == "None" else f"{check.op_type} ops"
            bounds = f"[{check.count_min if check.count_min >= 0 else '-'}, " \
                     f"{check.count_max if check.count_max >= 0 else '-'}]"
            raise ConversionError(f"--model_checks failed: the converted graph has {n} {what}, expected {bounds}; "
                                  "check the model or the --output_arrays that select it")
    return notes


def apply_arrays_extra_info(graph: Graph, path: Path) -> list[str]:
    """TOCO's ArraysExtraInfo (text or binary proto): each entry's min/max becomes the range of the tensors it names
    (by TF name or name_regexp) that have no fake-quant range. Entries with other fields (data_type, shape,
    constant_float_value) are refused: qconvert takes types and shapes from the graph and the flags."""
    info = read_proto(path, "ArraysExtraInfo")
    notes = []
    for entry in info.entries:
        label = entry.name or f"/{entry.name_regexp}/"
        if entry.HasField("data_type") or entry.HasField("shape") or entry.HasField("constant_float_value"):
            raise InputError(f"--arrays_extra_info_file={path}: entry {label} sets data_type, shape or "
                             "constant_float_value, which qconvert takes from the graph (--input_data_types, "
                             "--input_shapes); keep only name and min/max")
        if not (entry.HasField("min") and entry.HasField("max")) or not entry.min <= entry.max:
            raise InputError(f"--arrays_extra_info_file={path}: entry {label} needs min <= max")
        pattern = re.compile(entry.name_regexp) if entry.name_regexp else None
        hits = 0
        for t in graph.tensors():
            if t.is_const or t.dtype != np.float32 or (t.qrange is not None and t.qrange.fake_quant):
                continue
            if (pattern is not None and pattern.fullmatch(t.tf_name)) or t.tf_name == entry.name:
                t.qrange = QuantRange.per_tensor(entry.min, entry.max, RangeSource.DEFAULT)
                hits += 1
        notes.append(f"--arrays_extra_info_file: {label} -> [{entry.min:g}, {entry.max:g}] on {hits} tensor(s)")
    return notes


def read_proto(path: Path, message: str) -> Any:  # noqa: ANN401
    """A tflite ModelFlags-family proto from a text or binary file."""
    from google.protobuf import message as pb_message  # noqa: PLC0415
    from google.protobuf import text_format  # noqa: PLC0415

    from .tf_runtime import tensorflow  # noqa: PLC0415

    tensorflow()
    from tensorflow.compiler.mlir.lite import model_flags_pb2  # noqa: PLC0415

    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}; check the path") from None
    proto = getattr(model_flags_pb2, message)()
    try:
        text_format.Parse(data.decode("utf-8"), proto)
        return proto
    except (UnicodeDecodeError, text_format.ParseError):
        pass
    try:
        proto.ParseFromString(data)
    except (pb_message.DecodeError, ValueError):
        raise InputError(f"{path} is not a {message} proto (text or binary); write it as in TOCO's "
                         "model_flags.proto") from None
    return proto


def nudge_weights_for_fast_gemm(graph: Graph) -> int:
    """uint8 conv / fully-connected weights: a 0 within ``FAST_GEMM_MIN_ZERO_DISTANCE`` of the previous 0 kept as 0
    becomes 1 (one step, at most one LSB of error on that weight), as TOCO did with
    --allow_nudging_weights_to_use_fast_gemm_kernel. Returns how many values moved."""
    moved = 0
    for node in graph.nodes:
        if node.op not in _GEMM_OPS or len(node.inputs) < 2:
            continue
        w = node.inputs[1]
        if w is None or not w.is_const or w.dtype != np.uint8:
            continue
        flat = np.array(w.data, copy=True).reshape(-1)
        previous = None
        for i in np.flatnonzero(flat == 0):
            if previous is not None and i - previous < FAST_GEMM_MIN_ZERO_DISTANCE:
                flat[i] = 1
                moved += 1
                continue
            previous = int(i)
        w.data = flat.reshape(w.data.shape)  # type: ignore[union-attr]
    return moved
