"""Probes for docs/ops.md: one tiny tf.function per row (keyed by the TensorFlow op the row is about), plus
parameter variants. The probe test (tests/frontend/test_op_table.py) saves them as SavedModel signatures, converts
them with qconvert and with TensorFlow's converter and runs both in LiteRT; docs/make_ops_table.py derives each row's
status from qconvert's conversion of the same probe.

Each family module (math, nn, signal, array, ...) defines ``PROBES: dict[str, Probe]`` (the row's probe, keyed by TF
op) and ``VARIANTS: dict[str, tuple[Probe, ...]]`` (more forms of the same op). To add a row's probe, add it to its
family's module; a row without a probe is listed in docs/ops.md as "not probed".

A builder is ``build(tf, *inputs) -> tensor or tuple of tensors``; its inputs are the signature's inputs (``In``),
everything else it uses is a constant of the traced function. Builders must be deterministic functions of their
inputs (the random ops are seeded)."""

from __future__ import annotations

import dataclasses
import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_FAMILIES = ("math", "activation", "nn", "signal", "image", "detection", "random", "array", "quantization",
             "training", "control")


@dataclass(frozen=True)
class In:
    """One input of a probe: shape, dtype and the distribution its samples come from.

    dist: "normal" (standard normal times ``scale``), "uniform" ([low, high)), "int" (integers in [low, high)),
    "bool", "positive" (|normal| * scale + low: strictly positive, for logs and roots), "special" (normal with
    some entries +inf, -inf and NaN), "permutation" (a random permutation of range(last dim))."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    dist: str = "normal"
    low: float = 0.0
    high: float = 1.0
    scale: float = 1.0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` samples of this input, as one array [n, *shape] (fed one sample at a time)."""
        shape = (n, *self.shape)
        if self.dist == "normal":
            x = rng.standard_normal(shape) * self.scale
        elif self.dist == "uniform":
            x = rng.uniform(self.low, self.high, shape)
        elif self.dist == "int":
            x = rng.integers(int(self.low), int(self.high), shape)
        elif self.dist == "bool":
            x = rng.integers(0, 2, shape).astype(bool)
        elif self.dist == "positive":
            x = np.abs(rng.standard_normal(shape)) * self.scale + self.low
        elif self.dist == "special":
            x = rng.standard_normal(shape) * self.scale
            flat = x.reshape(-1)
            picks = rng.choice(flat.size, size=min(3 * max(1, flat.size // 8), flat.size), replace=False)
            flat[picks] = np.resize(np.array([np.inf, -np.inf, np.nan]), picks.size)
        elif self.dist == "permutation":
            x = np.argsort(rng.random(shape), axis=-1)
        else:
            raise ValueError(f"unknown distribution {self.dist}")
        return np.asarray(x).astype(self.dtype)


@dataclass(frozen=True)
class Probe:
    """A one-op model. ``int8``: also checked in INT8 in the default run (one or more per op family); every
    probe is checked in INT8 by the slow run. ``refuse``: qconvert is expected to refuse this form with a one-line
    error matching this regular expression (a variant TFLite cannot express). ``slow``: only in the slow run.
    ``context``: builtins TensorFlow writes for the probe's other ops (a complex result's REAL/IMAG, the ADD that
    makes a random op's output depend on the input), which are not the row's. ``reference``: "eager" compares
    with TensorFlow running the function; "tflite" with TensorFlow's converted model in LiteRT (random ops: LiteRT
    draws from another generator than TensorFlow). ``float_gap`` / ``int8_gap``: qconvert gets this probe wrong in
    that mode today, and why (whose work it is); the test then expects the failure and fails once it is fixed, so
    the gap is removed with the fix."""

    build: Callable[..., Any]
    inputs: tuple[In, ...] = (In((1, 8)),)
    int8: bool = False
    slow: bool = False
    refuse: str | None = None
    context: tuple[str, ...] = ()
    reference: str = "eager"
    float_gap: str = ""
    int8_gap: str = ""
    name: str = field(default="", compare=False)
    op: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """Signature key: the TF op, or op__variant."""
        return self.op if not self.name else f"{self.op}__{self.name}"

    def data(self, n: int, offset: int = 0) -> list[np.ndarray]:
        """``n`` samples per input, deterministic per probe (``offset`` selects another, disjoint-seeded set)."""
        rng = np.random.default_rng(zlib.crc32(f"{self.key}/{offset}".encode()))
        return [spec.sample(rng, n) for spec in self.inputs]


def _load() -> tuple[dict[str, Probe], dict[str, tuple[Probe, ...]], dict[str, str]]:
    probes: dict[str, Probe] = {}
    variants: dict[str, tuple[Probe, ...]] = {}
    family_of: dict[str, str] = {}
    for fam in _FAMILIES:
        mod = importlib.import_module(f"{__name__}.{fam}")
        for op, p in getattr(mod, "PROBES", {}).items():
            if op in probes:
                raise RuntimeError(f"probe for {op} defined twice ({family_of[op]}, {fam})")
            probes[op] = dataclasses.replace(p, name="", op=op)
            family_of[op] = fam
        for op, vs in getattr(mod, "VARIANTS", {}).items():
            named = tuple(dataclasses.replace(v, op=op) for v in vs)
            if len({v.name for v in named}) != len(named) or any(not v.name for v in named):
                raise RuntimeError(f"variants of {op} need distinct, non-empty names")
            variants[op] = variants.get(op, ()) + named
    return probes, variants, family_of


PROBES, VARIANTS, FAMILY_OF = _load()


def all_probes(include_slow: bool = True) -> list[Probe]:
    """Every row probe, then every variant (slow ones only if asked)."""
    out = list(PROBES.values())
    out += [v for vs in VARIANTS.values() for v in vs if include_slow or not v.slow]
    return out
