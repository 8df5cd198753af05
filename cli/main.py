"""The `qconvert` command. Flat TOCO / tflite_convert flags convert a model; `qconvert inspect` reads a .tflite.

Exit codes: 0 ok, 1 conversion error, 2 usage error (bad or unknown flag), 130 interrupted (SIGINT), 143 terminated
(SIGTERM). An interrupt at any phase leaves no output and no temporary file; once the outputs are renamed into
place (the commit) the conversion has happened and finishes normally.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from converter.config import CalibrationMethod, ConversionConfig, InferenceType, InputFormat, Optimize, WeightRounding
from converter.errors import QConvertError, UsageError

from . import classic_flags as classic
from . import compression_flags as compression
from . import model_flags, parsing
from .render import Console

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt: not an error of the program
    """SIGTERM received: unwinds like Ctrl-C (temporary files removed on the way out), exit code 143."""


class _Signals:
    """SIGINT raises KeyboardInterrupt and SIGTERM raises Terminated until the outputs are committed; after the
    commit both are ignored (the model is written: finishing is the right answer)."""

    committed = False

    @classmethod
    @contextmanager
    def handled(cls) -> Iterator[None]:
        """The handlers, for the duration of one command (the previous ones are restored after it)."""
        cls.committed = False
        if threading.current_thread() is not threading.main_thread():
            yield  # handlers can only be set from the main thread (library or test use elsewhere)
            return
        previous = {s: signal.signal(s, cls._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @classmethod
    def commit(cls) -> None:
        cls.committed = True

    @classmethod
    def _handle(cls, signum: int, _frame: FrameType | None) -> None:
        if cls.committed:
            return
        if signum == signal.SIGTERM:
            raise Terminated
        raise KeyboardInterrupt

_HELP = """Convert a TensorFlow frozen GraphDef or SavedModel to a TFLite flatbuffer (float, uint8, int8 or int16x8).

The classic TOCO and tflite_convert flags work verbatim, e.g.

\b
  qconvert --input_file=frozen_eval_graph.pb --output_file=model.tflite \\
    --input_format=TENSORFLOW_GRAPHDEF --output_format=TFLITE \\
    --inference_type=QUANTIZED_UINT8 --input_shape="1,224, 224,3" \\
    --input_array=input --output_array=outputs --std_value=127.5 --mean_value=127.5

`qconvert inspect MODEL.tflite [--json]` describes any .tflite (tensors, ops, quantization, signatures, sizes).

Exit codes: 0 ok, 1 conversion error, 2 usage error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""


@click.command(name="qconvert", help=_HELP, context_settings={"help_option_names": ["-h", "--help"],
                                                              "max_content_width": 110})
@click.option("--input_file", "--graph_def_file", "input_file", type=click.Path(path_type=Path),
              help="Frozen GraphDef (.pb binary or text). TOCO: --input_file; tflite_convert: --graph_def_file.")
@click.option("--saved_model_dir", "--savedmodel_directory", "saved_model_dir", type=click.Path(path_type=Path),
              help="SavedModel directory (TOCO: --savedmodel_directory).")
@click.option("--keras_model_file", type=click.Path(path_type=Path),
              help="Keras model file: HDF5 (.h5, tf_keras / Keras 2) or .keras (Keras 3), loaded in safe mode.")
@click.option("--unsafe_keras_lambda", is_flag=True,
              help="Let Keras run the Python bytecode of Lambda layers in --keras_model_file (refused by default: "
                   "a model file is data). Only for files you trust.")
@click.option("--output_file", type=click.Path(path_type=Path), help="Where to write the .tflite.")
@click.option("--input_format", help="TENSORFLOW_GRAPHDEF or SAVED_MODEL; inferred from the input flag when omitted.")
@click.option("--output_format", default="TFLITE", show_default=True,
              help="TFLITE, or GRAPHVIZ_DOT: the converted graph as a DOT file at --output_file.")
@click.option("--inference_type", default="FLOAT", show_default=True,
              help="FLOAT, QUANTIZED_UINT8, INT8 or INT16X8 (int16 activations, int8 weights, int64 biases): "
                   "numeric type of the model's arrays.")
@click.option("--inference_input_type",
              help="Type of the inputs if it differs (FLOAT, QUANTIZED_UINT8, INT8; FLOAT or INT16 for INT16X8).")
@click.option("--inference_output_type",
              help="Type of the outputs if it differs (FLOAT, QUANTIZED_UINT8, INT8; FLOAT or INT16 for INT16X8).")
@click.option("--input_arrays", "--input_array", "input_arrays", help="Input tensor names, comma-separated.")
@click.option("--output_arrays", "--output_array", "output_arrays", help="Output tensor names, comma-separated.")
@click.option("--input_shapes", "--input_shape", "input_shapes",
              help="Shapes of the inputs: dims comma-separated, inputs ':'-separated, e.g. \"1,224,224,3\"; an "
                   "empty entry is a scalar (\"1,4:\").")
@click.option("--mean_values", "--mean_value", "mean_values",
              help="Per input, comma-separated: real = (q - mean) / std, q being what users feed: uint8 inputs "
                   "their uint8 value (mean in 0..255); int8 inputs their int8 value (mean in -128..127; for "
                   "0..255 statistics, their zero point minus 128); int16 inputs their int16 value (mean 0); float "
                   "inputs the integers of --inference_type inside the model. With a directory of calibration "
                   "images: pixel statistics (0..255) for every input type (images normalized (pixel - mean) / "
                   "std; an int8 input takes pixel - 128). Float models ignore them.")
@click.option("--std_dev_values", "--std_value", "--std_values", "std_dev_values",
              help="Per input std (see --mean_values): scale = 1 / std.")
@click.option("--default_ranges_min", type=float, help="Range min for arrays that have no range of their own.")
@click.option("--default_ranges_max", type=float, help="Range max for arrays that have no range of their own.")
@click.option("--saved_model_tag_set", "--savedmodel_tagset", "saved_model_tag_set", default="serve",
              show_default=True, help="Comma-separated MetaGraph tags.")
@click.option("--saved_model_signature_key", default="serving_default", show_default=True,
              help="SavedModel signature to convert.")
@click.option("--representative_dataset", type=click.Path(path_type=Path),
              help="Calibration data: .npz (one array per input), .npy, or a directory of images.")
@click.option("--num_calibration_samples", type=click.IntRange(min=1), help="Use the first N samples only.")
@click.option("--calibration_method", type=click.Choice([m.value for m in CalibrationMethod]), default="minmax",
              show_default=True, help="How activation ranges are chosen from the representative data: minmax "
              "(TensorFlow's); percentile, mse and entropy propose clipped ranges, kept only where they lower the "
              "model's error on held-back calibration samples.")
@click.option("--optimize", type=click.Choice([o.value for o in Optimize]),
              help="tf.lite.Optimize for TOCO users. default, size and latency are one mode, as in TensorFlow 2.x "
                   "(OPTIMIZE_FOR_SIZE/LATENCY are deprecated aliases of DEFAULT): with --representative_dataset, "
                   "--inference_type=INT8 with float fallback and float input/output; without, int8 weights and "
                   "float activations (--post_training_quantize); with --quantize_to_float16, float16 weights. "
                   "accuracy: that INT8 model (same ops, same size) "
                   "with each tensor's range from the calibrator (minmax/percentile/mse/entropy) that gains most on "
                   "held-back calibration samples, bias correction or adaptive weight rounding "
                   "(--weight_rounding) only where it gains there, then the ranges of the few activations whose "
                   "rounding costs most narrowed where LiteRT measures a gain; needs --representative_dataset.")
@click.option("--per_tensor", is_flag=True, help="INT8: per-tensor weights instead of per-channel.")
@click.option("--equalize", is_flag=True,
              help="Cross-layer equalization for per-tensor weights (QUANTIZED_UINT8, INT8 --per_tensor): rescale "
                   "the channels of consecutive layers (conv/depthwise/dense through ReLU or none, pooling, mean) "
                   "so that each channel's weight range is equal on both sides; the float model is unchanged. Off "
                   "by default: it also changes the activations' ranges, and gains or loses depending on the model.")
@click.option("--bias_correction", is_flag=True,
              help="INT8 per-channel weights: subtract from each bias the mean shift weight rounding causes, "
                   "estimated from calibration (per-tensor and uint8 weights always get it); needs "
                   "--representative_dataset.")
@click.option("--weight_rounding", type=click.Choice([r.value for r in WeightRounding]), default="nearest",
              show_default=True,
              help="How weights are rounded onto their grid (same scales, ops and file size either way): nearest, or "
                   "adaptive: each conv / depthwise / fully connected / constant batch-matmul weight rounded up or "
                   "down to minimize the layer's output error on the calibration data, its inputs as the partly "
                   "quantized model computes them (sequential rounding with error feedback, AdaRound's objective, "
                   "validated per layer on held-back samples); needs --representative_dataset.")
@click.option("--no_float_fallback", is_flag=True, help="Fail if some op cannot run as an integer kernel.")
@click.option("--float_layers", help="Keep these nodes float: names or regular expressions, comma-separated.")
@click.option("--int16_layers",
              help="Compute these nodes in int16x8 (int16 activations, int8 weights) inside an INT8 or uint8 model: "
                   "names or regular expressions, comma-separated (as --float_layers).")
@click.option("--target_sqnr", type=float, metavar="DB",
              help="Automatic mixed precision: raise layers of the INT8/uint8 model to int16x8 (or float) until the "
                   "output SQNR on held-out samples (every 5th of --representative_dataset, at most 256, not "
                   "calibrated on) reaches DB; exit 1 if it cannot.")
@click.option("--post_training_quantize", is_flag=False, flag_value="true", default=None, metavar="[=BOOL]",
              help="Dynamic range: int8 weights, float activations (hybrid kernels). With --inference_type=FLOAT.")
@click.option("--quantize_to_float16", is_flag=False, flag_value="true", default=None, metavar="[=BOOL]",
              help="float16 weights. With --inference_type=FLOAT.")
@click.option("--debug_layers", is_flag=True,
              help="Per-layer report on representative data: layers ranked by the output SQNR gained when kept float "
                   "(estimated; measured in LiteRT for the output layers and the top few, and more until one stands "
                   "out of its noise), each op's local and cumulative error.")
@click.option("--debug_samples", type=click.IntRange(min=1), default=8, show_default=True,
              help="Representative samples --debug_layers simulates its estimates on (its LiteRT measurements "
                   "run on up to 64 held-back ones in each of four calibrations).")
@click.option("--dump_graphviz_dir", "--dump_graphviz", "dump_graphviz_dir", type=click.Path(path_type=Path),
              help="Write the graph as DOT files (imported, after passes, quantized) into this directory.")
@click.option("--report", "report_path", type=click.Path(path_type=Path),
              help="Also write the report as JSON (schema: docs/report-schema.json).")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log what each stage does.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@compression.compression_options
@classic.classic_options
def convert_command(**kw: object) -> None:
    run_conversion(kw)


def build_config(kw: dict[str, object]) -> ConversionConfig:
    """Flags -> ConversionConfig, with every inconsistency reported as a UsageError naming the flag."""
    kw = model_flags.merge(kw)
    classic.refuse(kw)
    classic.check_array_names(kw)
    input_file, saved_model, keras_file = kw.get("input_file"), kw.get("saved_model_dir"), kw.get("keras_model_file")
    fmt = kw.get("input_format")
    if sum(bool(x) for x in (input_file, saved_model, keras_file)) > 1:
        raise UsageError("give one of --input_file/--graph_def_file, --saved_model_dir and --keras_model_file")
    if not input_file and not saved_model and not keras_file:
        raise UsageError("no model given; use --input_file=MODEL.pb (or --graph_def_file), --saved_model_dir=DIR or "
                         "--keras_model_file=MODEL.h5|.keras")
    if not kw.get("output_file"):
        raise UsageError("no output given; use --output_file=MODEL.tflite")
    if kw.get("unsafe_keras_lambda") and not keras_file:
        raise UsageError("--unsafe_keras_lambda applies to --keras_model_file; give the Keras model file")
    path = Path(str(input_file or saved_model or keras_file))
    if keras_file:
        if fmt is not None and str(fmt).strip().upper() != InputFormat.KERAS_MODEL.value:
            raise UsageError(f"--input_format={fmt} contradicts --keras_model_file; leave --input_format out")
        input_format = InputFormat.KERAS_MODEL
    elif fmt is None:
        input_format = InputFormat.SAVED_MODEL if saved_model else InputFormat.TENSORFLOW_GRAPHDEF
    else:
        input_format = classic.file_format(str(fmt), "input_format", InputFormat)
        if input_format is InputFormat.SAVED_MODEL and input_file and not saved_model:
            path = Path(str(input_file))
    itype = parsing.inference_type(str(kw["inference_type"]), "inference_type")
    assert itype is not None
    input_type = kw.get("inference_input_type")
    if kw.get("input_type") is not None:
        if input_type is not None:
            raise UsageError("--input_type is TOCO's old name of --inference_input_type; give one of them")
        kinds = set(parsing.name_list(str(kw["input_type"]).upper()))
        if len(kinds) != 1:
            raise UsageError(f"--input_types={kw['input_type']}: TOCO took one type for all inputs; give one")
        input_type = kinds.pop()
    ptq = classic.parse_bool(kw.get("post_training_quantize"), "post_training_quantize")  # type: ignore[arg-type]
    ptq = bool(ptq or classic.parse_bool(kw.get("quantize_weights"), "quantize_weights"))  # type: ignore[arg-type]
    fp16 = bool(classic.parse_bool(kw.get("quantize_to_float16"), "quantize_to_float16"))  # type: ignore[arg-type]
    integer_only = classic.target_ops(kw.get("target_ops"), itype)  # type: ignore[arg-type]
    if integer_only and not itype.is_quantized:
        raise UsageError("--target_ops=TFLITE_BUILTINS_INT8 asks for integer kernels only; add "
                         "--inference_type=INT8 (or QUANTIZED_UINT8) and --representative_dataset")
    optimize = Optimize(kw["optimize"]) if kw.get("optimize") else None
    if optimize is not None:
        itype, input_type, ptq = _optimize(optimize, itype, input_type, ptq, fp16, kw)
    config = ConversionConfig(
        input_path=path,
        output_path=Path(str(kw["output_file"])),
        input_format=input_format,
        input_arrays=parsing.name_list(kw.get("input_arrays")),  # type: ignore[arg-type]
        output_arrays=parsing.name_list(kw.get("output_arrays")),  # type: ignore[arg-type]
        input_shapes=parsing.shapes(kw.get("input_shapes")),  # type: ignore[arg-type]
        saved_model_tag_set=parsing.name_list(str(kw.get("saved_model_tag_set") or "serve")),
        saved_model_signature_key=str(kw.get("saved_model_signature_key") or "serving_default"),
        inference_type=itype,
        inference_input_type=parsing.inference_type(input_type, "inference_input_type"),  # type: ignore[arg-type]
        inference_output_type=parsing.inference_type(kw.get("inference_output_type"), "inference_output_type"),  # type: ignore[arg-type]
        input_stats=parsing.input_stats(kw.get("mean_values"), kw.get("std_dev_values")),  # type: ignore[arg-type]
        default_ranges=parsing.default_ranges(kw.get("default_ranges_min"), kw.get("default_ranges_max")),  # type: ignore[arg-type]
        representative_dataset=kw.get("representative_dataset"),  # type: ignore[arg-type]
        num_calibration_samples=kw.get("num_calibration_samples"),  # type: ignore[arg-type]
        calibration_method=CalibrationMethod(str(kw.get("calibration_method") or "minmax")),
        per_tensor=bool(kw.get("per_tensor")),
        equalize=bool(kw.get("equalize")),
        bias_correction=bool(kw.get("bias_correction")),
        optimize_accuracy=optimize is Optimize.ACCURACY,
        weight_rounding=WeightRounding(str(kw.get("weight_rounding") or "nearest")),
        allow_float_fallback=not (kw.get("no_float_fallback") or integer_only),
        post_training_quantize=ptq,
        quantize_to_float16=fp16,
        float_layers=parsing.name_list(kw.get("float_layers")),  # type: ignore[arg-type]
        int16_layers=parsing.name_list(kw.get("int16_layers")),  # type: ignore[arg-type]
        target_sqnr=parsing.target_sqnr(kw.get("target_sqnr")),  # type: ignore[arg-type]
        debug_layers=bool(kw.get("debug_layers")),
        debug_samples=int(kw.get("debug_samples") or 8),  # type: ignore[call-overload]
        dump_graphviz_dir=kw.get("dump_graphviz_dir"),  # type: ignore[arg-type]
        unsafe_keras_lambda=bool(kw.get("unsafe_keras_lambda")),
        **classic.config_fields(kw),
        **compression.config_fields(kw),
    )
    classic.check_config(config, kw)
    compression.check(config)
    if config.debug_layers and (not quantized_type(config) or config.representative_dataset is None):
        raise UsageError("--debug_layers compares the quantized model with float on representative data: it needs "
                         f"--inference_type={InferenceType.quantized_names()} and --representative_dataset")
    quantized = config.inference_type is not InferenceType.FLOAT
    if config.post_training_quantize and config.quantize_to_float16:
        raise UsageError("--post_training_quantize and --quantize_to_float16 exclude each other; pick one")
    if quantized and (config.post_training_quantize or config.quantize_to_float16):
        raise UsageError(
            "--post_training_quantize/--quantize_to_float16 quantize weights only and need --inference_type=FLOAT; "
            f"--inference_type={config.inference_type.value} already quantizes everything"
        )
    if not quantized and config.representative_dataset is not None and config.prune is None \
            and config.cluster_weights is None:
        raise UsageError(
            "--representative_dataset calibrates integer models; add "
            f"--inference_type={InferenceType.quantized_names()}"
        )
    if config.inference_type is InferenceType.FLOAT and (config.input_type.is_quantized or
                                                          config.output_type.is_quantized):
        raise UsageError("--inference_input_type/--inference_output_type can only be quantized when "
                         f"--inference_type is {InferenceType.quantized_names()}")
    _check_io_types(config)
    if config.target_sqnr is not None and (config.inference_type not in (InferenceType.INT8,
                                                                         InferenceType.QUANTIZED_UINT8)
                                           or config.representative_dataset is None):
        raise UsageError("--target_sqnr raises layers of an 8-bit model, measured on held-out representative "
                         "samples: it needs --inference_type=INT8 or QUANTIZED_UINT8 and --representative_dataset")
    if config.calibration_method is not CalibrationMethod.MINMAX and (
            not config.inference_type.is_quantized or config.representative_dataset is None):
        raise UsageError(f"--calibration_method={config.calibration_method.value} chooses the activation ranges of "
                         "an integer model from calibration data: it needs --inference_type="
                         f"{InferenceType.quantized_names()} and --representative_dataset")
    if config.bias_correction and (not config.inference_type.is_quantized or config.representative_dataset is None):
        raise UsageError("--bias_correction corrects the biases of quantized weights from calibration data: it needs "
                         "--inference_type=INT8 (or QUANTIZED_UINT8, INT16X8) and --representative_dataset")
    if config.equalize and not config.inference_type.is_quantized:
        raise UsageError("--equalize rescales weights for integer quantization; it needs --inference_type="
                         f"{InferenceType.quantized_names()} (a float model gains nothing from it)")
    if config.weight_rounding is WeightRounding.ADAPTIVE and (not config.inference_type.is_quantized
                                                              or config.representative_dataset is None):
        raise UsageError("--weight_rounding=adaptive rounds weights by their layers' output error on calibration "
                         "data: it needs --inference_type=INT8 (or QUANTIZED_UINT8, INT16X8) and "
                         "--representative_dataset")
    if config.int16_layers and config.inference_type not in (InferenceType.INT8, InferenceType.QUANTIZED_UINT8):
        raise UsageError(f"--int16_layers raises layers of an 8-bit model to int16x8; it needs --inference_type=INT8 "
                         f"or QUANTIZED_UINT8 (with --inference_type={config.inference_type.value} it means nothing)")
    return config


def _optimize(optimize: Optimize, itype: InferenceType, input_type: object, ptq: bool, fp16: bool,
              kw: dict[str, object]) -> tuple[InferenceType, object, bool]:
    """--optimize as tf.lite.Optimize (help text): the inference type, input type and --post_training_quantize it
    implies; an explicit --inference_type=INT8/QUANTIZED_UINT8 is kept as given, and with --quantize_to_float16 the
    weights are float16 (TensorFlow's DEFAULT with supported_types=[float16])."""
    dataset = kw.get("representative_dataset") is not None
    if optimize is Optimize.ACCURACY:
        if not dataset:
            raise UsageError("--optimize=accuracy chooses ranges and biases on calibration data: add "
                             "--representative_dataset")
        if ptq or fp16:
            flag = "--post_training_quantize" if ptq else "--quantize_to_float16"
            raise UsageError(f"--optimize=accuracy tunes the activation ranges of an integer model; {flag} keeps "
                             f"activations float: leave {flag} out (or use --optimize=default)")
        if str(kw.get("calibration_method") or "minmax") != "minmax":
            raise UsageError(f"--optimize=accuracy picks each tensor's calibrator itself; leave "
                             f"--calibration_method={kw['calibration_method']} out")
    if itype.is_quantized or ptq or fp16:
        return itype, input_type, ptq
    if not dataset:
        return itype, input_type, True  # TensorFlow's DEFAULT without a dataset: dynamic range
    if kw.get("inference_output_type") is None:
        kw["inference_output_type"] = InferenceType.FLOAT.value
    return InferenceType.INT8, input_type or InferenceType.FLOAT.value, False


def _check_io_types(config: ConversionConfig) -> None:
    """int16 models take FLOAT or INT16 at their edges, 8-bit models FLOAT or an 8-bit type."""
    int16 = config.inference_type is InferenceType.INT16X8
    for flag, t in (("inference_input_type", config.inference_input_type),
                    ("inference_output_type", config.inference_output_type)):
        if t is None or t is InferenceType.FLOAT:
            continue
        if int16 and t is not InferenceType.INT16X8:
            raise UsageError(f"--{flag}={t.value}: an INT16X8 model's inputs and outputs are FLOAT or INT16")
        if not int16 and t is InferenceType.INT16X8:
            raise UsageError(f"--{flag}=INT16 needs --inference_type=INT16X8 (int16 activations inside); "
                             f"--inference_type={config.inference_type.value} takes FLOAT or an 8-bit type")


def quantized_type(config: ConversionConfig) -> bool:
    return config.inference_type is not InferenceType.FLOAT


def run_conversion(kw: dict[str, object]) -> None:
    debug = bool(kw.get("debug"))
    console = Console(quiet=bool(kw.get("quiet")), verbose=bool(kw.get("verbose")))
    _setup_logging(bool(kw.get("verbose")), bool(kw.get("quiet")))
    try:
        config = build_config(kw)
        from converter.pipeline import convert, write_all_atomically  # noqa: PLC0415 (imports TensorFlow lazily)
        from converter.report import build_report  # noqa: PLC0415

        report_path = Path(str(kw["report_path"])) if kw.get("report_path") else None
        _check_outputs(config, report_path)
        result = convert(config, progress=console)
        report = build_report(result)
        files: list[tuple[Path, object, str]] = [(config.output_path, result.model, "--output_file")]
        report_bytes = (json.dumps(report, indent=2) + "\n").encode()
        if report_path is not None:
            files.append((report_path, report_bytes, "--report"))
        if config.conversion_summary_dir is not None:
            files.append((config.conversion_summary_dir / "report.json", report_bytes, "--conversion_summary_dir"))
        write_all_atomically(files, on_commit=_Signals.commit)  # type: ignore[arg-type] # all or none
        console.summary(report)
    except QConvertError as e:
        if debug:
            traceback.print_exc()
        console.error(_one_line(str(e)))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.error("interrupted; no output was written")
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        console.error("terminated (SIGTERM); no output was written")
        sys.exit(EXIT_TERMINATED)
    except MemoryError:
        if debug:
            traceback.print_exc()
        console.error("out of memory; close other programs, or convert on a machine with more memory")
        sys.exit(EXIT_ERROR)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if debug:
            traceback.print_exc()
        console.error(_one_line(f"internal error ({type(e).__name__}: {e}); rerun with --debug and report it"))
        sys.exit(EXIT_ERROR)


def _check_outputs(config: ConversionConfig, report_path: Path | None) -> None:
    """Unwritable outputs, or outputs that would overwrite an input, fail before any work."""
    from converter.pipeline import check_output_path  # noqa: PLC0415

    outputs = [(config.output_path, "--output_file")]
    if report_path is not None:
        outputs.append((report_path, "--report"))
        if report_path.resolve() == config.output_path.resolve():
            raise UsageError(f"--report={report_path} is the --output_file; give the report its own name")
    dataset = config.representative_dataset
    for path, flag in outputs:
        check_output_path(path, config.input_path, flag=flag)
        if dataset is not None and dataset.exists():
            target, source = path.resolve(), dataset.resolve()
            if target == source or source in target.parents:
                raise UsageError(f"{flag}={path} would overwrite the representative dataset {dataset}; "
                                 "write it elsewhere")


def _one_line(message: str) -> str:
    """Errors are one line on stderr, whatever a library put in the message."""
    return " ".join(message.split())


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("qconvert").setLevel(level)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: `qconvert inspect ...` or the flat conversion flags. Flag errors are one line on
    stderr and exit code 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    command, prog = convert_command, "qconvert"
    if args and args[0] == "inspect":
        from .inspect_cmd import inspect_command  # noqa: PLC0415

        command, prog, args = inspect_command, "qconvert inspect", args[1:]
    try:
        with _Signals.handled():
            command.main(args=args, prog_name=prog, standalone_mode=False)
    except click.UsageError as e:
        Console(quiet=False, verbose=False).error(_one_line(f"{e.format_message()}; see `{prog} --help`"))
        sys.exit(EXIT_USAGE)
    except (click.Abort, KeyboardInterrupt):
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        sys.exit(EXIT_TERMINATED)


def entry() -> None:
    """The ``qconvert`` console script: ``main()``, then, when TensorFlow was loaded, an immediate process exit
    once the streams are flushed. The model and report are already written (atomically); TensorFlow's teardown
    at interpreter shutdown takes about a second that the user would otherwise wait for."""
    try:
        main()
        code = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
