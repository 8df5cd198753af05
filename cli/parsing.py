"""Parsing TOCO / tflite_convert flag values into typed config values. Each error names the flag."""

from __future__ import annotations

import math

from converter.config import InferenceType, InputStats
from converter.errors import UsageError

_INFERENCE_ALIASES = {
    "FLOAT": InferenceType.FLOAT, "FLOAT32": InferenceType.FLOAT,
    "QUANTIZED_UINT8": InferenceType.QUANTIZED_UINT8, "UINT8": InferenceType.QUANTIZED_UINT8,
    "INT8": InferenceType.INT8, "QUANTIZED_INT8": InferenceType.INT8,
    "INT16X8": InferenceType.INT16X8, "INT16": InferenceType.INT16X8, "QUANTIZED_INT16": InferenceType.INT16X8,
}


def inference_type(value: str | None, flag: str) -> InferenceType | None:
    if value is None:
        return None
    key = value.strip().upper()
    if key not in _INFERENCE_ALIASES:
        raise UsageError(f"--{flag}={value} is not a type; use FLOAT, QUANTIZED_UINT8, INT8 or INT16X8 (INT16 for "
                         "inputs/outputs)")
    return _INFERENCE_ALIASES[key]


def name_list(value: str | None) -> tuple[str, ...]:
    """'a,b , c' -> ('a', 'b', 'c')."""
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def shapes(value: str | None, flag: str = "input_shapes") -> tuple[tuple[int, ...] | None, ...]:
    """'1,224, 224,3:1,10' -> ((1, 224, 224, 3), (1, 10)); spaces are allowed, as TOCO allowed them.
    An empty entry is a scalar, as in tflite_convert ('1,4:' -> ((1, 4), ())); a 0 dim makes a zero-size input.
    '-1' or '?' is refused: the point of the flag is to fix shapes."""
    if value is None or not value.strip():
        return ()
    out: list[tuple[int, ...] | None] = []
    for part in value.split(":"):
        part = part.strip()
        if not part:
            out.append(())
            continue
        dims = []
        for d in part.split(","):
            d = d.strip()
            try:
                n = int(d)
            except ValueError:
                raise UsageError(
                    f"--{flag}={value!r}: {d!r} is not a dimension; write comma-separated integers >= 0, "
                    "one shape per input separated by ':' (e.g. 1,224,224,3)"
                ) from None
            if n < 0:
                raise UsageError(f"--{flag}={value!r}: dimension {n} must be 0 or more")
            dims.append(n)
        out.append(tuple(dims))
    return tuple(out)


def floats(value: str | None, flag: str) -> tuple[float, ...]:
    if value is None or not value.strip():
        return ()
    out = []
    for v in value.split(","):
        try:
            f = float(v.strip())
        except ValueError:
            raise UsageError(f"--{flag}={value!r}: {v.strip()!r} is not a number") from None
        if not math.isfinite(f):
            raise UsageError(f"--{flag}={value!r}: values must be finite")
        out.append(f)
    return tuple(out)


def input_stats(means: str | None, stds: str | None) -> tuple[InputStats, ...]:
    m = floats(means, "mean_values")
    s = floats(stds, "std_dev_values")
    if len(m) != len(s):
        raise UsageError(
            f"{len(m)} --mean_values but {len(s)} --std_dev_values; give one mean and one std per input"
        )
    for v in s:
        if v <= 0:
            raise UsageError(f"--std_dev_values={stds}: std must be > 0 (real = (q - mean) / std)")
    return tuple(InputStats(a, b) for a, b in zip(m, s, strict=True))


def default_ranges(lo: float | None, hi: float | None, flag: str = "default_ranges") -> tuple[float, float] | None:
    """--default_ranges_min/max (or TOCO's --default_int16_ranges_min/max with ``flag``) as one range."""
    if lo is None and hi is None:
        return None
    if lo is None or hi is None:
        raise UsageError(f"give both --{flag}_min and --{flag}_max, or neither")
    if not lo < hi:
        raise UsageError(f"--{flag}_min={lo} must be below --{flag}_max={hi}")
    return (lo, hi)


def target_sqnr(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--target_sqnr={value}: give the output SQNR to reach in dB, a positive number (e.g. 40)")
    return float(value)
