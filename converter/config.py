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


class InputFormat(enum.Enum):
    """What the model file is."""

    TENSORFLOW_GRAPHDEF = "TENSORFLOW_GRAPHDEF"
    SAVED_MODEL = "SAVED_MODEL"


class CalibrationMethod(enum.Enum):
    """How activation ranges are chosen from representative data."""

    MINMAX = "minmax"
    PERCENTILE = "percentile"
    MSE = "mse"


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
    allow_float_fallback: bool = True
    post_training_quantize: bool = False
    quantize_to_float16: bool = False
    float_layers: tuple[str, ...] = ()
    # Layers computed in int16x8 (int16 activations, int8 weights) inside an 8-bit model: names or regexes.
    int16_layers: tuple[str, ...] = ()
    # Per-layer error report (needs a representative dataset): float vs quantized on this many samples.
    debug_layers: bool = False
    debug_samples: int = 8
    # Write the IR as DOT before and after the passes (and after quantization) into this directory.
    dump_graphviz_dir: Path | None = None

    @property
    def input_type(self) -> InferenceType:
        return self.inference_input_type or self.inference_type

    @property
    def output_type(self) -> InferenceType:
        return self.inference_output_type or self.inference_type
