"""No flag combination reaches an internal error (issue 15). Every mode x input type x output type x dataset kind
(none, .npz, .npy, image directory) x calibration method x mean/std given or not, on a small float model and on a
small QAT graph, plus each weight/precision flag against every mode, I/O type and dataset kind: each run ends in a
model that LiteRT runs with the I/O types asked, or in a one-line typed error with exit code 1 or 2, and which of
the two is predicted by ``expected`` (so a combination that silently stopped working, or started to be refused,
fails too). The newer flags run in a covering design (test_flag_cover.py).

The default run crosses every dimension with every other except calibration method with the I/O types (the method
only changes the ranges calibration records, the I/O types only the model's edges: minmax runs with every I/O
type, each method with every mode, dataset kind and mean/std): 2,544 of the 6,000 combinations, most of the
added ones usage errors. The whole product runs with ``-m slow``.

The runs go through the CLI's conversion function in this process (``run_conversion``, after click has parsed the
flags: every flag is a plain value here; parsing is tested elsewhere). The stages that do not depend on the flags
swept are computed once per distinct input and replayed, to keep some 4,000 conversions within seconds: import and
passes (a copy of the optimized graph per run), calibration (the ranges it set, by tensor name, keyed by the
graph's tensor names and weights, the dataset's bytes, the method, the tensors whose means it collects and the
methods proposed; ``on_batch`` still sees every batch; range selection's calibration of a half too) and the
MSE search of uint8 weight ranges (a pure function of the weights). A sample of combinations runs as real
processes of the console script, with nothing replayed. (What the sweeps share: tests/errors/_flag_sweep.py.)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.errors._flag_sweep import DATASETS, EIGHT_BIT, IO_TYPES, MODES, check_outcome
from tests.errors._support import run_subprocess

STATS = [None, (127.5, 127.5)]
METHODS = ["minmax", "percentile", "mse"]
# The weight/precision flags on main; a flag that lands later adds a row here and a rule in ``expected``.
EXTRA_FLAGS = {
    "per_tensor": ["--per_tensor"],
    "equalize": ["--equalize"],
    "no_float_fallback": ["--no_float_fallback"],
    "float_layers": ["--float_layers=conv"],
    "default_ranges": ["--default_ranges_min=-6", "--default_ranges_max=6"],
    "num_calibration_samples": ["--num_calibration_samples=3"],
    "debug_layers": ["--debug_layers"],
    "int16_layers": ["--int16_layers=conv"],
    "default_int16_ranges": ["--default_int16_ranges_min=-8", "--default_int16_ranges_max=8"],
}


@dataclass(frozen=True)
class Combo:
    model: str  # "float" or "qat"
    mode: str
    input_type: str | None
    output_type: str | None
    dataset: str | None
    method: str | None
    stats: tuple[float, float] | None
    extra: str | None = None

    @property
    def quantized(self) -> bool:
        return self.mode in ("QUANTIZED_UINT8", "INT8", "INT16X8")

    def kwargs(self, files: dict[str, Path]) -> dict[str, Any]:
        """The flags as the click command hands them to ``run_conversion``."""
        kw: dict[str, Any] = {"input_file": files[self.model], "quiet": True,
                              "inference_type": "FLOAT" if not self.quantized else self.mode,
                              "post_training_quantize": "true" if self.mode == "dynamic" else None,
                              "quantize_to_float16": "true" if self.mode == "float16" else None,
                              "inference_input_type": self.input_type, "inference_output_type": self.output_type,
                              "representative_dataset": files[self.dataset] if self.dataset else None,
                              "calibration_method": self.method or "minmax"}
        if self.stats:
            kw["mean_values"], kw["std_dev_values"] = str(self.stats[0]), str(self.stats[1])
        return kw

    def args(self, files: dict[str, Path]) -> list[str]:
        out = [f"--input_file={files[self.model]}", *MODES[self.mode]]
        if self.input_type:
            out.append(f"--inference_input_type={self.input_type}")
        if self.output_type:
            out.append(f"--inference_output_type={self.output_type}")
        if self.dataset:
            out.append(f"--representative_dataset={files[self.dataset]}")
        if self.method:
            out.append(f"--calibration_method={self.method}")
        if self.stats:
            out += [f"--mean_values={self.stats[0]}", f"--std_dev_values={self.stats[1]}"]
        if self.extra:
            out += EXTRA_FLAGS[self.extra]
        return out


def expected(c: Combo) -> int:
    """The exit code the combination must give: 0 (a model), 1 (conversion error) or 2 (usage error)."""
    io = (c.input_type, c.output_type)
    if not c.quantized:
        if c.dataset or any(t not in (None, "FLOAT") for t in io) or \
                c.extra in ("debug_layers", "int16_layers", "equalize"):
            return 2  # calibration data, integer I/O, --debug_layers, --int16_layers, --equalize: an integer model
        return 0
    if c.mode == "INT16X8" and (any(t in EIGHT_BIT for t in io) or c.extra == "int16_layers"):
        return 2  # an INT16X8 model's inputs and outputs are float or int16; --int16_layers is for 8-bit models
    if c.mode != "INT16X8" and "INT16X8" in io:
        return 2  # int16 inputs and outputs need int16 activations inside
    if c.extra == "debug_layers" and not c.dataset:
        return 2
    if c.stats is not None:
        # The integers mean/std describe: int16 (zero point 0) for int16 inputs, whose scale comes from calibration
        # with images; else pixels with images, else the fed type, else the inference type.
        if c.mode == "INT16X8":
            if c.dataset != "images":
                return 2  # mean 127.5 is not zero point 0
        else:
            units = "QUANTIZED_UINT8" if c.dataset == "images" else \
                (c.input_type if c.input_type in EIGHT_BIT else c.mode)
            if units == "INT8":  # zero point 128 is not an int8 value
                return 2
    if c.model == "float" and not c.dataset and c.extra not in ("default_ranges", "default_int16_ranges"):
        return 1  # activations without a range: no calibration data, no fake quant, no default range
    if c.model == "float" and not c.dataset and c.extra == "default_int16_ranges" and c.mode != "INT16X8":
        return 1  # the int16 default range is for int16 arrays only
    return 0


def main_combos(full: bool) -> list[Combo]:
    out = []
    for model, mode, it, ot, ds, st in itertools.product(("float", "qat"), MODES, IO_TYPES, IO_TYPES, DATASETS,
                                                         STATS):
        for method in (METHODS if ds else [None]):
            if full or method in (None, "minmax") or (it, ot) == (None, None):
                out.append(Combo(model, mode, it, ot, ds, method, st))
    return out


def extra_combos() -> list[Combo]:
    out = []
    for model, mode, it, ds, extra in itertools.product(("float", "qat"), MODES, IO_TYPES, (None, "npz"),
                                                        EXTRA_FLAGS):
        out.append(Combo(model, mode, it, it, ds, "minmax" if ds else None, None, extra))
    return out


# ---- checking one run ---------------------------------------------------------------------------------------------
def check_run(c: Combo, code: int, err: str, output: Path) -> str | None:
    """None if the run did what ``expected`` says, else what went wrong."""
    default = c.mode if c.quantized else "FLOAT"
    return check_outcome(expected(c), c.input_type or default, c.output_type or default, code, err, output)


def sweep(capsys: pytest.CaptureFixture[str], combos: Sequence[Combo], files: dict[str, Path],
          out_dir: Path) -> list[str]:
    from cli.main import convert_command, run_conversion

    bases: dict[str | None, dict[str, Any]] = {}  # click's values of the other flags (defaults, the extra flag)
    failures = []
    out = out_dir / "m.tflite"
    for c in combos:
        if c.extra not in bases:
            bases[c.extra] = convert_command.make_context(
                "qconvert", ["--input_file=m.pb", "--output_file=m.tflite", *EXTRA_FLAGS.get(c.extra or "", [])]).params
        out.unlink(missing_ok=True)
        capsys.readouterr()
        try:
            run_conversion({**bases[c.extra], **c.kwargs(files), "output_file": out})
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        problem = check_run(c, code, capsys.readouterr().err, out)
        if problem:
            failures.append(f"{c}: {problem}")
    return failures


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow(reason="6,000 conversions"))],
                         ids=["pairs-of-method-and-io", "full-product"])
def test_every_mode_io_type_dataset_method_and_mean_std(full: bool, capsys: pytest.CaptureFixture[str],
                                                       files: dict[str, Path], out_dir: Path, replayed: None) -> None:
    combos = main_combos(full)
    outcomes = {code: sum(1 for c in combos if expected(c) == code) for code in (0, 1, 2)}
    assert outcomes[0] > 500 and outcomes[1] > 20 and outcomes[2] > 1000, outcomes  # all three outcomes exercised
    failures = sweep(capsys, combos, files, out_dir)
    assert not failures, f"{len(failures)} of {len(combos)} combinations:\n" + "\n".join(failures[:400])


def test_weight_and_precision_flags(capsys: pytest.CaptureFixture[str], files: dict[str, Path], out_dir: Path,
                                    replayed: None) -> None:
    combos = extra_combos()
    failures = sweep(capsys, combos, files, out_dir)
    assert not failures, f"{len(failures)} of {len(combos)} combinations:\n" + "\n".join(failures[:400])


# As real processes of the console script, nothing replayed: issue 15's README image flow by default (its QAT case
# runs in process in the sweep and in test_mean_std), the QAT case and one combination per other outcome and
# dataset kind in the slow run.
_SLOW = pytest.mark.slow(reason="a sample of the matrix in real processes")
SAMPLED = [
    Combo("float", "INT8", None, None, "images", "minmax", (127.5, 127.5)),
    pytest.param(Combo("qat", "INT8", None, None, None, None, (127.5, 127.5)), marks=_SLOW),
    pytest.param(Combo("float", "INT8", "FLOAT", "FLOAT", "images", "mse", (127.5, 127.5)), marks=_SLOW),
    pytest.param(Combo("qat", "QUANTIZED_UINT8", "INT8", "FLOAT", "npz", "percentile", None), marks=_SLOW),
    pytest.param(Combo("float", "QUANTIZED_UINT8", None, None, "npy", None, None), marks=_SLOW),
    pytest.param(Combo("float", "QUANTIZED_UINT8", None, None, None, None, None), marks=_SLOW),
]


@pytest.mark.parametrize("combo", SAMPLED, ids=lambda c: f"{c.model}-{c.mode}-{c.input_type}-{c.dataset}")
def test_sampled_in_a_real_process(combo: Combo, files: dict[str, Path], out_dir: Path) -> None:
    out = out_dir / "m.tflite"
    run = run_subprocess([*combo.args(files), f"--output_file={out}", "-q"])
    problem = check_run(combo, run.code, run.err, out)
    assert problem is None, problem
