"""Shared configuration types: the one module of frozen dataclasses and enums the pipeline stages share."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class InferenceType(enum.Enum):
    """Numeric type of the converted model's arrays (TOCO's --inference_type)."""

    FLOAT = "FLOAT"
    QUANTIZED_UINT8 = "QUANTIZED_UINT8"
    INT8 = "INT8"
    # int16 activations (zero point 0), int8 weights, int64 biases; as an input/output type: int16.
    INT16X8 = "INT16X8"

    @property
    def is_quantized(self) -> bool:
        return self is not InferenceType.FLOAT

    @classmethod
    def quantized_names(cls) -> str:
        """Every quantized type, for messages: "QUANTIZED_UINT8, INT8 or INT16X8"."""
        names = [t.value for t in cls if t.is_quantized]
        return f"{', '.join(names[:-1])} or {names[-1]}"


class InputFormat(enum.Enum):
    """What the model file is."""

    TENSORFLOW_GRAPHDEF = "TENSORFLOW_GRAPHDEF"
    SAVED_MODEL = "SAVED_MODEL"
    KERAS_MODEL = "KERAS_MODEL"


class OutputFormat(enum.Enum):
    """What --output_file receives: the model, or the converted graph as DOT (TOCO's GRAPHVIZ_DOT)."""

    TFLITE = "TFLITE"
    GRAPHVIZ_DOT = "GRAPHVIZ_DOT"


@dataclass(frozen=True)
class ModelCheck:
    """TOCO's --model_checks: the number of TF ops of ``op_type`` ("None": all ops) must be in [lo, hi] (-1: no
    bound)."""

    op_type: str
    count_min: int = -1
    count_max: int = -1


class Optimize(enum.Enum):
    """--optimize: TensorFlow's tf.lite.Optimize for TOCO users, plus ``accuracy``. In TF 2.x DEFAULT,
    OPTIMIZE_FOR_SIZE and OPTIMIZE_FOR_LATENCY are one mode (the latter two deprecated: "Does the same as
    DEFAULT"): weights quantized; with a representative dataset, activations too (INT8, float fallback, float I/O).
    ACCURACY is that INT8 model (same ops, same size) with ranges and biases chosen for accuracy."""

    DEFAULT = "default"
    ACCURACY = "accuracy"
    SIZE = "size"
    LATENCY = "latency"


class WeightRounding(enum.Enum):
    """How weights are rounded onto their grid: each to the nearest code, or up or down by the layer's output
    error on calibration data (quantize.rounding)."""

    NEAREST = "nearest"
    ADAPTIVE = "adaptive"


class CalibrationMethod(enum.Enum):
    """How activation ranges are chosen from representative data."""

    MINMAX = "minmax"
    PERCENTILE = "percentile"
    MSE = "mse"
    ENTROPY = "entropy"


@dataclass(frozen=True)
class InputStats:
    """Quantization of a model input given by the user: real = (q - mean) / std."""

    mean: float
    std: float


@dataclass(frozen=True)
class ConversionConfig:
    """Everything one conversion needs; built by the CLI, read by every stage."""

    input_path: Path
    output_path: Path
    input_format: InputFormat = InputFormat.TENSORFLOW_GRAPHDEF
    input_arrays: tuple[str, ...] = ()
    output_arrays: tuple[str, ...] = ()
    # One entry per input array; None leaves that input's shape as the model declares it.
    input_shapes: tuple[tuple[int, ...] | None, ...] = ()
    saved_model_tag_set: tuple[str, ...] = ("serve",)
    saved_model_signature_key: str = "serving_default"
    inference_type: InferenceType = InferenceType.FLOAT
    # None: same as inference_type for quantized models' inputs/outputs (TOCO semantics).
    inference_input_type: InferenceType | None = None
    inference_output_type: InferenceType | None = None
    # One per input array (TOCO: --mean_values / --std_dev_values).
    input_stats: tuple[InputStats, ...] = ()
    default_ranges: tuple[float, float] | None = None
    representative_dataset: Path | None = None
    num_calibration_samples: int | None = None
    calibration_method: CalibrationMethod = CalibrationMethod.MINMAX
    per_tensor: bool = False
    # --equalize: cross-layer equalization of consecutive layers' weights before calibration (passes/equalize.py).
    equalize: bool = False
    # Bias correction for per-channel int8 weights too (per-tensor and uint8 weights always get it).
    bias_correction: bool = False
    # --optimize=accuracy: each tensor's range from the calibrator that gains most on held-back calibration
    # samples, bias correction or adaptive rounding where it gains there (range_select.choose_best), then ranges
    # narrowed where LiteRT gains (range_refine).
    optimize_accuracy: bool = False
    weight_rounding: WeightRounding = WeightRounding.NEAREST
    allow_float_fallback: bool = True
    post_training_quantize: bool = False
    quantize_to_float16: bool = False
    float_layers: tuple[str, ...] = ()
    # Layers computed in int16x8 (int16 activations, int8 weights) inside an 8-bit model: names or regexes.
    int16_layers: tuple[str, ...] = ()
    # Automatic mixed precision: raise layers of the 8-bit model until the output SQNR (dB) on held-out
    # representative samples reaches this.
    target_sqnr: float | None = None
    # Per-layer error report (needs a representative dataset): float vs quantized on this many samples.
    debug_layers: bool = False
    debug_samples: int = 8
    # Write the IR as DOT before and after the passes (and after quantization) into this directory.
    dump_graphviz_dir: Path | None = None
    # Ops with no TFLite builtin become CUSTOM operators (TF op type as custom code, attributes as FlexBuffers).
    allow_custom_ops: bool = False
    # Keras model files: let Keras run the bytecode of Lambda layers (the user trusts the file).
    unsafe_keras_lambda: bool = False
    # OpDef text protos of custom ops TensorFlow does not know (--custom_opdefs).
    custom_opdefs: tuple[str, ...] = ()
    # FakeQuant nodes: ignored entirely (plain float), or no fusion barrier (passes/fake_quant.py).
    drop_fake_quant: bool = False
    reorder_across_fake_quant: bool = False
    # Keras LSTM loops are unrolled like other loops instead of becoming sequence LSTM ops
    # (--debug_disable_recurrent_cell_fusion).
    disable_recurrent_cell_fusion: bool = False
    # Concatenation inputs take the output's range (True), keep theirs (False), or the mode's default (None).
    change_concat_input_ranges: bool | None = None
    # Control inputs are dropped (True, tflite_convert's default) or an error (False).
    drop_control_dependency: bool = True
    # Types of the input arrays (dtype names), for inputs that are not Placeholders.
    input_data_types: tuple[str, ...] = ()
    # An input's unknown first dimension, when --input_shapes does not give it.
    batch_size: int | None = None
    output_format: OutputFormat = OutputFormat.TFLITE
    # --dump_graphviz_video: with dump_graphviz_dir, a DOT file after every rewrite that changed the graph.
    dump_graphviz_video: bool = False
    # uint8 conv / fully-connected weights: zeros too close to the previous zero become 1 (TOCO's fast GEMM rule).
    nudge_weights_for_fast_gemm: bool = False
    # Constants smaller than this are not merged with identical ones.
    dedupe_min_bytes: int = 0
    # False: an output of unknown shape (a custom op without one) is an error.
    allow_dynamic_tensors: bool = True
    # Range for int16 arrays (INT16X8, --int16_layers) that have no range of their own (TOCO's
    # --default_int16_ranges_min/max); default_ranges otherwise.
    default_int16_ranges: tuple[float, float] | None = None
    # ArraysExtraInfo proto: min/max ranges of arrays by name.
    arrays_extra_info: Path | None = None
    model_checks: tuple[ModelCheck, ...] = ()
    # --conversion_summary_dir: the report and the DOT files of the conversion go there too.
    conversion_summary_dir: Path | None = None
    # Notes the CLI wants in the report (flags with no effect on the conversion, said so).
    flag_notes: tuple[str, ...] = ()
    # --sparsity=auto: weights with >= 30% zeros written as sparse tensors where that makes the file smaller.
    sparsity: bool = False
    # --prune=S: post-training magnitude pruning of conv/fully-connected weights to global sparsity S (0 < S < 1).
    prune: float | None = None
    # --weight_bits: width of conv/fully-connected weights, 8 or 4 (int4 where LiteRT has int4 kernels).
    weight_bits: int = 8
    # --cluster_weights=K: k-means weight sharing, at most K values per output channel (2 <= K <= 256).
    cluster_weights: int | None = None

    @property
    def input_type(self) -> InferenceType:
        return self.inference_input_type or self.inference_type

    @property
    def output_type(self) -> InferenceType:
        return self.inference_output_type or self.inference_type
