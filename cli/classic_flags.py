"""TOCO's and tflite_convert's flags beyond the core ones in main.py: each is honoured, or refused (exit 2) with one
line saying why qconvert cannot honour it and what to do instead. No flag is accepted and ignored.

Boolean flags take TOCO's forms: ``--flag``, ``--flag=true``, ``--flag=false`` (also 1/0, yes/no). A refused
boolean flag set to false asks for what qconvert does anyway and is accepted.

``FLAGS`` documents every classic flag (the README's flag table is checked against it by the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from converter.config import InferenceType, InputFormat, ModelCheck, OutputFormat
from converter.errors import UsageError

from . import parsing

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


@dataclass(frozen=True)
class ClassicFlag:
    """One flag of TOCO's (toco_cmdline_flags.cc, model_cmdline_flags.cc) or tflite_convert's command line."""

    name: str
    origin: str  # "TOCO", "tflite_convert" or "both"
    meaning: str  # what qconvert does with it, or why it refuses it
    refused: bool = False


_SELECT_TF = ("qconvert writes TFLite builtin ops only, never TensorFlow (Flex) ops; write ops without a builtin as "
              "custom ops with --allow_custom_ops, or use TensorFlow's converter with SELECT_TF_OPS")
# Refused flags: the reason (and what to do instead), shown as the one-line error.
REFUSALS: dict[str, str] = {
    "enable_select_tf_ops": _SELECT_TF,
    "force_select_tf_ops": _SELECT_TF,
    "experimental_select_user_tf_ops": _SELECT_TF,
    "propagate_fake_quant_num_bits": "FakeQuant grids of 2-8 bits are honoured on 8-bit arrays and 16-bit FakeQuant "
                                     "is not converted; choose int16 arrays with --inference_type=INT16X8 or "
                                     "--int16_layers",
    "unfold_batchmatmul": "LiteRT has a BATCH_MATMUL kernel, which qconvert writes; unfolding it into per-batch "
                          "FULLY_CONNECTED ops would only add ops; drop the flag",
    "allow_bfloat16": "LiteRT's builtin kernels have no bfloat16 tensors; use --quantize_to_float16 for 16-bit weights",
    "variable_batch": "qconvert writes static shapes; fix the batch with --batch_size or --input_shapes (LiteRT can "
                      "resize inputs at run time with resize_tensor_input)",
    "rnn_states": "TOCO's RNN state arrays describe its own back edges; qconvert unrolls TensorFlow loops itself; "
                  "drop the flag",
    "allow_nonexistent_arrays": "a model cannot be built from arrays that do not exist; fix the names in "
                                "--input_arrays/--output_arrays (the error lists close matches)",
}
_REFUSED_BOOL = frozenset({"enable_select_tf_ops", "force_select_tf_ops",
                           "propagate_fake_quant_num_bits", "unfold_batchmatmul",
                           "allow_bfloat16", "variable_batch", "allow_nonexistent_arrays"})

FLAGS: tuple[ClassicFlag, ...] = (
    ClassicFlag("allow_custom_ops", "both", "ops with no TFLite builtin become CUSTOM operators (TF op type as "
                "custom code, node attributes as FlexBuffer options)"),
    ClassicFlag("custom_opdefs", "both", "OpDef text protos (comma-separated) of custom ops TensorFlow does not "
                "know, registered so the graph imports and their outputs are typed; needs --allow_custom_ops"),
    ClassicFlag("change_concat_input_ranges", "both", "TRUE: a concatenation's inputs take its output range "
                "(computed at that scale by their producers); FALSE: they keep their own (uint8 rescales, int8 "
                "requantizes); default: uint8 FALSE, int8 TRUE"),
    ClassicFlag("debug_disable_recurrent_cell_fusion", "TOCO", "Keras LSTM loops are unrolled step by step like "
                "other loops instead of becoming one UNIDIRECTIONAL_SEQUENCE_LSTM each"),
    ClassicFlag("split_tflite_lstm_inputs", "TOCO", "accepted: qconvert's sequence LSTM ops always take their weights "
                "split per gate (the 24-input form LiteRT runs); false changes nothing (noted)"),
    ClassicFlag("reorder_across_fake_quant", "both", "fusions may cross FakeQuant nodes (a layer's activation fuses "
                "into it even with a FakeQuant between); default: a FakeQuant stays a separate quantized tensor"),
    ClassicFlag("drop_fake_quant", "TOCO", "ignore FakeQuant nodes: plain float weights and activations, no ranges"),
    ClassicFlag("drop_control_dependency", "both", "default true: control inputs are dropped (the summary counts "
                "them); false: a graph with control inputs is an error"),
    ClassicFlag("input_data_types", "TOCO", "types of the input arrays (FLOAT, QUANTIZED_UINT8, INT8, INT16, "
                "INT32, INT64, BOOL, ...), needed when an input array is not a Placeholder; alias --input_data_type"),
    ClassicFlag("input_type", "TOCO", "deprecated alias of --inference_input_type (also --input_types)"),
    ClassicFlag("output_format", "both", "TFLITE, or GRAPHVIZ_DOT: the converted graph as a DOT file at "
                "--output_file; TENSORFLOW_GRAPHDEF is refused"),
    ClassicFlag("keras_model_file", "tflite_convert", "a Keras model file (.h5 or .keras), loaded in safe mode "
                "(Lambda layers refused unless --unsafe_keras_lambda), traced and frozen"),
    ClassicFlag("input_format", "TOCO", "TENSORFLOW_GRAPHDEF or SAVED_MODEL (KERAS_MODEL with --keras_model_file); "
                "TFLITE is refused "
                "(qconvert converts TensorFlow models; `qconvert inspect` reads .tflite files)"),
    ClassicFlag("dump_graphviz_dir", "both", "DOT files of the graph as imported, after the passes and quantized "
                "(TOCO: --dump_graphviz)"),
    ClassicFlag("dump_graphviz_video", "both", "with --dump_graphviz_dir: also one DOT file after every rewrite "
                "that changed the graph"),
    ClassicFlag("conversion_summary_dir", "both", "write report.json and the DOT files of the conversion there"),
    ClassicFlag("allow_nudging_weights_to_use_fast_gemm_kernel", "TOCO", "uint8 conv / fully-connected weights: "
                "a 0 closer than 16 values to the previous 0 becomes 1 (TOCO's rule for old fast int8 GEMM kernels; "
                "LiteRT does not need it, so without the flag weights are left exact)"),
    ClassicFlag("dedupe_array_min_size_bytes", "TOCO", "constants smaller than this many bytes are not merged with "
                "identical ones (default 0: all are)"),
    ClassicFlag("quantize_weights", "both", "deprecated alias of --post_training_quantize"),
    ClassicFlag("target_ops", "tflite_convert", "TFLITE_BUILTINS (what qconvert writes); TFLITE_BUILTINS_INT8: "
                "integer kernels only, as --no_float_fallback; EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_"
                "INT8 with --inference_type=INT16X8; SELECT_TF_OPS and EXPERIMENTAL_STABLEHLO_OPS are refused"),
    ClassicFlag("enable_v1_converter", "tflite_convert", "accepted: the TF1 flags (--graph_def_file, "
                "--inference_type ...) are always available"),
    ClassicFlag("experimental_new_converter", "tflite_convert", "accepted: qconvert is one converter; the summary "
                "notes that the choice has no effect"),
    ClassicFlag("experimental_new_quantizer", "tflite_convert", "accepted: qconvert has one quantizer; the summary "
                "notes that the choice has no effect"),
    ClassicFlag("accumulation_type", "TOCO", "FLOAT32 with --quantize_to_float16 (LiteRT dequantizes float16 "
                "weights and accumulates in float32); FLOAT16 is refused"),
    ClassicFlag("batch_size", "TOCO", "sets an input's unknown first dimension (without --input_shapes)"),
    ClassicFlag("default_int16_ranges_min", "TOCO", "with --default_int16_ranges_max: the range of int16 arrays "
                "(INT16X8, --int16_layers) that have none of their own; --default_ranges_* otherwise"),
    ClassicFlag("default_int16_ranges_max", "TOCO", "see --default_int16_ranges_min"),
    ClassicFlag("allow_nonascii_arrays", "TOCO", "array names in --input_arrays/--output_arrays may hold characters "
                "outside printable ASCII (refused by default: usually a copy-paste accident)"),
    ClassicFlag("allow_dynamic_tensors", "TOCO", "default true; false: an output whose shape is unknown (a custom "
                "op without a shape) is an error"),
    ClassicFlag("arrays_extra_info_file", "TOCO", "ArraysExtraInfo proto (text or binary): min/max of arrays by name "
                "(or name_regexp), used as their quantization ranges"),
    ClassicFlag("model_flags_file", "TOCO", "ModelFlags proto (text or binary): input/output arrays, shapes, "
                "mean/std, data types, model checks, extra info; command-line flags override it"),
    ClassicFlag("model_checks", "TOCO", "{count_type:OP,count_min:N,count_max:M},...: the number of TensorFlow ops "
                "of type OP (None: all) converted must be in [N, M] (-1: no bound), else exit 1"),
    ClassicFlag("savedmodel_directory", "TOCO", "deprecated alias of --saved_model_dir"),
    ClassicFlag("savedmodel_tagset", "TOCO", "deprecated alias of --saved_model_tag_set"),
    *(ClassicFlag(name, "TOCO" if name not in ("experimental_select_user_tf_ops",) else "tflite_convert", reason,
                  refused=True) for name, reason in REFUSALS.items()),
)


# ------------------------------------------------------------------------------------------------ click options
def _optional_bool(name: str, help_text: str, *aliases: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(f"--{name}", *(f"--{a}" for a in aliases), name, is_flag=False, flag_value="true",
                        default=None, metavar="[=BOOL]", help=help_text)


def parse_bool(value: str | None, flag: str) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise UsageError(f"--{flag}={value}: give true or false (or the flag alone for true)")


def classic_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the classic flags handled in this module to the conversion command."""
    opts = [
        _optional_bool("allow_custom_ops", "Write ops with no TFLite builtin as CUSTOM operators (TF op type, node "
                       "attributes as FlexBuffers); the runtime needs their kernels."),
        click.option("--custom_opdefs", help="OpDef text protos of custom ops TensorFlow does not know, "
                     "comma-separated (with --allow_custom_ops)."),
        click.option("--change_concat_input_ranges", metavar="TRUE|FALSE",
                     help="TRUE: concatenation inputs take the output's range; FALSE: they keep their own."),
        _optional_bool("reorder_across_fake_quant", "Let fusions cross FakeQuant nodes (default: a FakeQuant keeps "
                       "its tensor)."),
        _optional_bool("debug_disable_recurrent_cell_fusion", "Unroll Keras LSTM loops instead of fusing each into "
                       "one UNIDIRECTIONAL_SEQUENCE_LSTM."),
        _optional_bool("split_tflite_lstm_inputs", "Accepted: sequence LSTM weights are always split per gate."),
        _optional_bool("drop_fake_quant", "Ignore FakeQuant nodes (plain float, no ranges)."),
        _optional_bool("drop_control_dependency", "Drop control inputs (default true; false: they are an error)."),
        click.option("--input_data_types", "--input_data_type", "input_data_types",
                     help="Types of the input arrays (FLOAT, QUANTIZED_UINT8, INT32, ...), comma-separated."),
        click.option("--input_type", "--input_types", "input_type",
                     help="Deprecated TOCO alias of --inference_input_type."),
        _optional_bool("dump_graphviz_video", "With --dump_graphviz_dir: a DOT file after every rewrite."),
        click.option("--conversion_summary_dir", type=click.Path(path_type=Path),
                     help="Write report.json and DOT files of the conversion into this directory."),
        _optional_bool("allow_nudging_weights_to_use_fast_gemm_kernel",
                       "uint8: nudge weight zeros that sit closer than 16 to the previous zero to 1 (TOCO's rule)."),
        click.option("--dedupe_array_min_size_bytes", type=click.IntRange(min=0),
                     help="Merge identical constants only from this size (bytes) on."),
        _optional_bool("quantize_weights", "Deprecated alias of --post_training_quantize."),
        click.option("--target_ops", help="TFLITE_BUILTINS, or TFLITE_BUILTINS_INT8 (integer kernels only)."),
        _optional_bool("enable_v1_converter", "Accepted: TF1 flags are always available."),
        _optional_bool("experimental_new_converter", "Accepted: qconvert is one converter (noted)."),
        _optional_bool("experimental_new_quantizer", "Accepted: qconvert has one quantizer (noted)."),
        click.option("--accumulation_type", help="FLOAT32 (with --quantize_to_float16)."),
        click.option("--batch_size", type=click.IntRange(min=1), help="An input's unknown first dimension."),
        click.option("--default_int16_ranges_min", type=float, help="Range min for int16 arrays without a range."),
        click.option("--default_int16_ranges_max", type=float, help="Range max for int16 arrays without a range."),
        _optional_bool("allow_nonascii_arrays", "Allow non-ASCII characters in array names."),
        _optional_bool("allow_dynamic_tensors", "Default true; false makes an unknown output shape an error."),
        click.option("--arrays_extra_info_file", type=click.Path(path_type=Path),
                     help="ArraysExtraInfo proto: min/max of arrays (ranges)."),
        click.option("--model_flags_file", type=click.Path(path_type=Path),
                     help="ModelFlags proto (arrays, shapes, mean/std ...); flags override it."),
        click.option("--model_checks", help="{count_type:OP,count_min:N,count_max:M},...: op-count checks."),
    ]
    for name, reason in REFUSALS.items():
        short = reason.split(";")[0]
        if name in _REFUSED_BOOL:
            opts.append(_optional_bool(name, f"Refused (exit 2): {short}."))
        else:
            opts.append(click.option(f"--{name}", help=f"Refused (exit 2): {short}."))
    for opt in reversed(opts):
        f = opt(f)
    return f


# ------------------------------------------------------------------------------------------------ flags -> config
def refuse(kw: dict[str, object]) -> None:
    """The one-line error for the first refused flag given (a refused boolean set to false is accepted)."""
    for name, reason in REFUSALS.items():
        value = kw.get(name)
        if value is None:
            continue
        if name in _REFUSED_BOOL and parse_bool(str(value), name) is False:
            continue
        shown = "" if name in _REFUSED_BOOL else f"={value}"
        raise UsageError(f"--{name}{shown}: {reason}")


_IO_DATA_TYPES = {
    "FLOAT": "float32", "FLOAT32": "float32", "FLOAT16": "float16", "FLOAT64": "float64",
    "QUANTIZED_UINT8": "uint8", "UINT8": "uint8", "INT8": "int8", "QUANTIZED_INT8": "int8", "INT16": "int16",
    "QUANTIZED_INT16": "int16", "UINT16": "uint16", "INT32": "int32", "UINT32": "uint32", "INT64": "int64",
    "UINT64": "uint64", "BOOL": "bool", "STRING": "string", "COMPLEX64": "complex64", "COMPLEX128": "complex128",
}


def data_types(value: str | None, flag: str = "input_data_types") -> tuple[str, ...]:
    """TOCO IODataType names -> dtype names ('QUANTIZED_UINT8,INT32' -> ('uint8', 'int32'))."""
    out = []
    for name in parsing.name_list(value):
        key = name.upper()
        if key not in _IO_DATA_TYPES:
            raise UsageError(f"--{flag}={value}: {name!r} is not a type; use FLOAT, QUANTIZED_UINT8, INT8, INT16, "
                             "INT32, INT64, BOOL, STRING ...")
        out.append(_IO_DATA_TYPES[key])
    return tuple(out)


def model_checks(value: str | None) -> tuple[ModelCheck, ...]:
    """TOCO's --model_checks: '{count_type:Conv2D,count_min:1,count_max:4},{count_type:None,count_max:100}'."""
    if value is None or not value.strip():
        return ()
    checks = []
    for element in value.strip().strip("{}").split("},{"):
        fields: dict[str, str] = {}
        for pair in element.split(","):
            key, sep, val = pair.partition(":")
            if not sep or key.strip() not in ("count_type", "count_min", "count_max"):
                raise UsageError(f"--model_checks={value!r}: {pair!r} is not count_type:OP, count_min:N or "
                                 "count_max:N")
            fields[key.strip()] = val.strip()
        try:
            lo, hi = int(fields.get("count_min", "-1")), int(fields.get("count_max", "-1"))
        except ValueError:
            raise UsageError(f"--model_checks={value!r}: count_min/count_max must be integers") from None
        if lo < -1 or hi < -1 or "count_type" not in fields:
            raise UsageError(f"--model_checks={value!r}: each check needs a count_type and bounds >= -1")
        checks.append(ModelCheck(fields["count_type"], lo, hi))
    return tuple(checks)


def check_array_names(kw: dict[str, object]) -> None:
    """TOCO refused array names with characters outside printable ASCII (invisible copy-paste characters) unless
    --allow_nonascii_arrays."""
    if parse_bool(kw.get("allow_nonascii_arrays"), "allow_nonascii_arrays"):  # type: ignore[arg-type]
        return
    for flag in ("input_arrays", "output_arrays"):
        for name in parsing.name_list(kw.get(flag)):  # type: ignore[arg-type]
            bad = [c for c in name if not 32 <= ord(c) < 127]
            if bad:
                raise UsageError(f"--{flag}: {name!r} holds {', '.join(f'U+{ord(c):04X}' for c in bad)}, outside "
                                 "printable ASCII (often an invisible character pasted with the name); retype it, or "
                                 "pass --allow_nonascii_arrays if the graph really uses such names")


_FORMAT_REFUSALS = {
    ("input_format", "TFLITE"): "qconvert converts TensorFlow models, not .tflite files; describe one with "
                                "`qconvert inspect MODEL.tflite`",
    ("output_format", "TENSORFLOW_GRAPHDEF"): "qconvert writes TFLite models (or GRAPHVIZ_DOT); to transform a "
                                              "GraphDef use TensorFlow's graph tools",
}


def file_format(value: str, flag: str, kind: type[InputFormat] | type[OutputFormat]) -> Any:  # noqa: ANN401
    """--input_format / --output_format: the enum member, or the one-line refusal of TOCO's other formats."""
    key = value.strip().upper()
    if (flag, key) in _FORMAT_REFUSALS:
        raise UsageError(f"--{flag}={value}: {_FORMAT_REFUSALS[flag, key]}")
    try:
        return kind(key)
    except ValueError:
        raise UsageError(f"--{flag}={value}: use {' or '.join(m.value for m in kind)}") from None


_INT16_OPS = "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"


def target_ops(value: str | None, inference_type: InferenceType) -> bool:
    """--target_ops: returns whether only integer kernels are allowed (TFLITE_BUILTINS_INT8)."""
    ops = {o.strip().upper() for o in parsing.name_list(value)}
    refused = {"SELECT_TF_OPS": _SELECT_TF,
               "EXPERIMENTAL_STABLEHLO_OPS": "qconvert writes TFLite builtin ops, not StableHLO ops; drop it"}
    for op in sorted(ops):
        if op in refused:
            raise UsageError(f"--target_ops={value}: {op}: {refused[op]}")
        if op not in ("TFLITE_BUILTINS", "TFLITE_BUILTINS_INT8", _INT16_OPS):
            raise UsageError(f"--target_ops={value}: {op} is not an ops set; use TFLITE_BUILTINS, "
                             f"TFLITE_BUILTINS_INT8 or {_INT16_OPS}")
    if _INT16_OPS in ops and inference_type is not InferenceType.INT16X8:
        raise UsageError(f"--target_ops={_INT16_OPS} is the int16-activation ops set; add --inference_type=INT16X8")
    return "TFLITE_BUILTINS_INT8" in ops


def notes_for(kw: dict[str, object]) -> tuple[str, ...]:
    """What the summary says about flags that choose between TensorFlow's converters."""
    notes = []
    for flag in ("experimental_new_converter", "experimental_new_quantizer", "enable_v1_converter"):
        value = parse_bool(kw.get(flag), flag)  # type: ignore[arg-type]
        if value is not None:
            notes.append(f"--{flag}={str(value).lower()}: qconvert has one converter and quantizer, which follow "
                         "TOCO's rules for the classic flags; the choice changes nothing")
    if parse_bool(kw.get("split_tflite_lstm_inputs"), "split_tflite_lstm_inputs") is False:  # type: ignore[arg-type]
        notes.append("--split_tflite_lstm_inputs=false: qconvert writes LiteRT's sequence LSTM ops, whose weights are "
                     "always split per gate (TOCO's unsplit form was its own basic LSTM cell); the choice changes "
                     "nothing")
    return tuple(notes)


def config_fields(kw: dict[str, object]) -> dict[str, Any]:
    """ConversionConfig fields set by the flags of this module."""
    b = parse_bool
    concat = kw.get("change_concat_input_ranges")
    accumulation = kw.get("accumulation_type")
    if accumulation is not None and str(accumulation).strip().upper() not in ("FLOAT32", "FLOAT"):
        raise UsageError(f"--accumulation_type={accumulation}: LiteRT dequantizes float16 weights and accumulates in "
                         "float32; FLOAT32 is the only accumulation qconvert's models get")
    return {
        "allow_custom_ops": bool(b(kw.get("allow_custom_ops"), "allow_custom_ops")),  # type: ignore[arg-type]
        "custom_opdefs": parsing.name_list(kw.get("custom_opdefs")),  # type: ignore[arg-type]
        "drop_fake_quant": bool(b(kw.get("drop_fake_quant"), "drop_fake_quant")),  # type: ignore[arg-type]
        "disable_recurrent_cell_fusion": bool(b(kw.get("debug_disable_recurrent_cell_fusion"),  # type: ignore[arg-type]
                                                "debug_disable_recurrent_cell_fusion")),
        "reorder_across_fake_quant": bool(b(kw.get("reorder_across_fake_quant"),  # type: ignore[arg-type]
                                            "reorder_across_fake_quant")),
        "change_concat_input_ranges": b(concat, "change_concat_input_ranges"),  # type: ignore[arg-type]
        "drop_control_dependency": b(kw.get("drop_control_dependency"),  # type: ignore[arg-type]
                                     "drop_control_dependency") is not False,
        "input_data_types": data_types(kw.get("input_data_types")),  # type: ignore[arg-type]
        "batch_size": kw.get("batch_size"),
        "output_format": file_format(str(kw.get("output_format") or "TFLITE"), "output_format", OutputFormat),
        "dump_graphviz_video": bool(b(kw.get("dump_graphviz_video"), "dump_graphviz_video")),  # type: ignore[arg-type]
        "nudge_weights_for_fast_gemm": bool(b(kw.get("allow_nudging_weights_to_use_fast_gemm_kernel"),  # type: ignore[arg-type]
                                              "allow_nudging_weights_to_use_fast_gemm_kernel")),
        "dedupe_min_bytes": int(kw.get("dedupe_array_min_size_bytes") or 0),  # type: ignore[call-overload]
        "allow_dynamic_tensors": b(kw.get("allow_dynamic_tensors"), "allow_dynamic_tensors") is not False,  # type: ignore[arg-type]
        "arrays_extra_info": kw.get("arrays_extra_info_file"),
        "default_int16_ranges": parsing.default_ranges(kw.get("default_int16_ranges_min"),  # type: ignore[arg-type]
                                                       kw.get("default_int16_ranges_max"),  # type: ignore[arg-type]
                                                       "default_int16_ranges"),
        "model_checks": model_checks(kw.get("model_checks")),  # type: ignore[arg-type]
        "conversion_summary_dir": kw.get("conversion_summary_dir"),
        "flag_notes": notes_for(kw),
    }


def check_config(config: Any, kw: dict[str, object]) -> None:  # noqa: ANN401 - ConversionConfig
    """Combinations tflite_convert refused, refused the same way."""
    if config.custom_opdefs and not config.allow_custom_ops:
        raise UsageError("--custom_opdefs registers custom ops; add --allow_custom_ops to write them")
    if config.dump_graphviz_video and config.dump_graphviz_dir is None:
        raise UsageError("--dump_graphviz_video writes into --dump_graphviz_dir; give that directory too")
    if kw.get("accumulation_type") is not None and not config.quantize_to_float16:
        raise UsageError("--accumulation_type applies to float16 weights; add --quantize_to_float16")
    if config.drop_fake_quant and config.reorder_across_fake_quant:
        raise UsageError("--drop_fake_quant removes the FakeQuant nodes --reorder_across_fake_quant would move "
                         "across; pick one")
    if config.batch_size is not None and config.input_shapes:
        raise UsageError("--batch_size sets unknown first dimensions; --input_shapes already gives the shapes, "
                         "put the batch there")
