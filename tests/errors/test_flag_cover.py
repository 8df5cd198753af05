"""No combination of the newer flags (--optimize, --target_sqnr, --prune, --cluster_weights, --sparsity,
--weight_bits, --bias_correction, --equalize, --weight_rounding, --calibration_method entropy ...) with the modes,
I/O types and datasets reaches an internal error (issue 15): they run in a covering design (``COVER``,
``Cover.predict``), by default every pair of values, and every value in a run that converts; with ``-m slow`` every
triple, and every pair (and triple) among the runs that convert. Each run ends in a model that LiteRT runs with the
I/O types asked, or in a one-line typed error with exit code 1 or 2, as ``Cover.predict`` says. The runs go through
the CLI's conversion function in this process with the flag-independent stages replayed, as in test_flag_matrix.py
(tests/errors/_flag_sweep.py).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.errors._flag_sweep import DATASETS, EIGHT_BIT, IO_TYPES, MODES, check_outcome

# Each dimension's values (None: the flag left out). A covering array crosses them so that each pair of values of
# any two dimensions (default run) or each triple of any three (slow run) meets in at least one run: a few dozen
# runs for pairs where the full product would be millions. Refusals come early, so a design over every value
# mostly exercises the checks; a second design over the combinations ``predict`` says convert exercises how the
# flags work together.
COVER: dict[str, list[Any]] = {
    "model": ["float", "qat"],
    "mode": list(MODES),
    "input_type": [None, *IO_TYPES[1:]],
    "output_type": [None, *IO_TYPES[1:]],
    "dataset": DATASETS,
    "method": [None, "percentile", "mse", "entropy"],
    "stats": [False, True],
    "optimize": [None, "default", "size", "latency", "accuracy"],
    "target_sqnr": [None, 5.0, 300.0],  # 5 dB: met by the 8-bit model; 300 dB: out of reach (float32 kernels)
    "prune": [None, 0.5],
    "cluster_weights": [None, 4],
    "sparsity": [False, True],
    "weight_bits": [8, 4],
    "bias_correction": [False, True],
    "int16_layers": [False, True],
    "float_layers": [False, True],
    "per_tensor": [False, True],
    "num_calibration_samples": [None, 3],
    "debug_layers": [False, True],
    "equalize": [False, True],
    "weight_rounding": [None, "adaptive"],
}
_SAMPLES = {None: 0, "npz": 6, "npy": 6, "images": 4}  # samples in each dataset (the ``files`` fixture)


class Cover(collections.namedtuple("Cover", list(COVER))):  # type: ignore[misc]
    """One run of the covering design: a value of every ``COVER`` dimension."""

    __slots__ = ()

    def args(self, files: dict[str, Path]) -> list[str]:
        out = [f"--input_file={files[self.model]}", *MODES[self.mode]]
        for name, flag in (("input_type", "inference_input_type"), ("output_type", "inference_output_type"),
                           ("method", "calibration_method"), ("optimize", "optimize"), ("prune", "prune"),
                           ("target_sqnr", "target_sqnr"), ("cluster_weights", "cluster_weights"),
                           ("num_calibration_samples", "num_calibration_samples"),
                           ("weight_rounding", "weight_rounding")):
            if getattr(self, name) is not None:
                out.append(f"--{flag}={getattr(self, name)}")
        if self.dataset:
            out.append(f"--representative_dataset={files[self.dataset]}")
        if self.stats:
            out += ["--mean_values=127.5", "--std_dev_values=127.5"]
        if self.weight_bits != 8:
            out.append(f"--weight_bits={self.weight_bits}")
        for name, flags in (("sparsity", ["--sparsity=auto"]), ("bias_correction", ["--bias_correction"]),
                            ("int16_layers", ["--int16_layers=conv"]), ("float_layers", ["--float_layers=conv"]),
                            ("per_tensor", ["--per_tensor"]), ("debug_layers", ["--debug_layers"]),
                            ("equalize", ["--equalize"])):
            if getattr(self, name):
                out += flags
        return out

    def predict(self) -> tuple[int, str, str]:
        """The exit code the run must give, and the model's input and output types when it is 0."""
        ds, mode = self.dataset, self.mode
        itype = mode if mode in ("QUANTIZED_UINT8", "INT8", "INT16X8") else "FLOAT"
        ptq, fp16 = mode == "dynamic", mode == "float16"
        it, ot = self.input_type, self.output_type
        usage = []
        # --optimize as tf.lite.Optimize: DEFAULT (= SIZE = LATENCY) is dynamic range without data, INT8 with float
        # I/O with it; with --quantize_to_float16 it is float16 (TF's supported_types=[float16]); an explicit
        # quantization mode is kept. accuracy is that INT8 model, tuned on the data.
        if self.optimize is not None:
            usage.append(self.optimize == "accuracy" and (not ds or fp16 or ptq))
            if itype == "FLOAT" and not ptq and not fp16:
                if ds:
                    itype, it, ot = "INT8", it or "FLOAT", ot or "FLOAT"
                else:
                    ptq = True
            usage.append(self.optimize == "accuracy" and self.method is not None)  # it picks per tensor
        q = itype != "FLOAT"
        eight = itype in EIGHT_BIT
        given = [t for t in (it, ot) if t not in (None, "FLOAT")]
        usage += [
            self.weight_bits == 4 and (not (q or ptq) or itype in ("QUANTIZED_UINT8", "INT16X8") or fp16),
            self.prune is not None and not ds,
            self.debug_layers and not (q and ds),
            not q and bool(ds) and self.prune is None and self.cluster_weights is None,
            not q and bool(given),  # integer I/O of a float model
            itype == "INT16X8" and any(t in EIGHT_BIT for t in given),
            itype != "INT16X8" and "INT16X8" in given,
            self.target_sqnr is not None and not (eight and ds),
            self.bias_correction and not (q and ds),
            self.int16_layers and not eight,
            self.int16_layers and self.float_layers,  # the same layer named twice
            self.method is not None and not (q and ds),  # a calibrator needs data to calibrate
            self.equalize and not q,  # rescaling weights helps integer weights only
            self.weight_rounding is not None and not (q and ds),  # rounding by the output error on the data
        ]
        if q and self.stats:
            if itype == "INT16X8":
                usage.append(ds != "images")  # mean 127.5 is not zero point 0
            else:
                units = "QUANTIZED_UINT8" if ds == "images" else (it if it in EIGHT_BIT else itype)
                usage.append(units == "INT8")  # zero point 128 is not an int8 value
        if any(usage):
            return 2, "", ""
        samples = min(_SAMPLES[ds], self.num_calibration_samples or 99)
        error = [
            q and self.model == "float" and not ds,  # activations without a range
            self.target_sqnr is not None and (samples < 5 or self.target_sqnr > 100),  # no hold-out / unreachable
        ]
        if any(error):
            return 1, "", ""
        return 0, it or itype, ot or itype


def covering_rows(strength: int, allowed: Callable[[Cover], bool] = lambda c: True, seed: int = 0,
                  candidates: int = 60) -> list[Cover]:
    """Runs (``Cover``) in which every ``strength``-tuple of values of any ``strength`` dimensions occurs in some
    run that ``allowed`` admits: greedy, each run the best of ``candidates`` random ones (each holding one tuple
    not yet covered, so every run makes progress) by the number of tuples it covers first. A tuple no admitted
    candidate holds counts as covered (it cannot occur)."""
    sizes = np.array([len(v) for v in COVER.values()])
    cols = np.array(list(itertools.combinations(range(len(sizes)), strength)))
    radix = np.ones((len(cols), strength), np.int64)
    for j in range(strength - 2, -1, -1):
        radix[:, j] = radix[:, j + 1] * sizes[cols[:, j + 1]]
    covered = np.zeros((len(cols), int(np.prod(sizes[cols], axis=1).max())), bool)
    for i, c in enumerate(cols):  # slots beyond a tuple of dimensions' own product do not exist
        covered[i, int(np.prod(sizes[c])):] = True
    rng = np.random.default_rng(seed)
    values = list(COVER.values())
    rows: list[Cover] = []
    while not covered.all():
        t, flat = np.argwhere(~covered)[0]
        cand = rng.integers(0, sizes, (candidates * 4, len(sizes)))
        for j in range(strength):
            cand[:, cols[t, j]] = (flat // radix[t, j]) % sizes[cols[t, j]]
        runs = (Cover(*(values[d][k] for d, k in enumerate(r))) for r in cand)
        ok = list(itertools.islice(((i, r) for i, r in enumerate(runs) if allowed(r)), candidates))
        if not ok:
            covered[t, flat] = True
            continue
        keys = (cand[[i for i, _ in ok]][:, cols] * radix).sum(axis=2)  # candidates x column tuples
        best = int(np.argmax((~covered[np.arange(len(cols)), keys]).sum(axis=1)))
        covered[np.arange(len(cols)), keys[best]] = True
        rows.append(ok[best][1])
    return rows


def sweep_runs(capsys: pytest.CaptureFixture[str], runs: Sequence[Cover], files: dict[str, Path],
               out_dir: Path) -> list[str]:
    """Each run's flags parsed by click and converted in this process; what went wrong, per run."""
    from cli.main import convert_command, run_conversion

    out = out_dir / "m.tflite"
    failures = []
    for c in runs:
        out.unlink(missing_ok=True)
        capsys.readouterr()
        try:
            run_conversion(convert_command.make_context("qconvert", [*c.args(files), f"--output_file={out}",
                                                                     "-q"]).params)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        problem = check_outcome(*c.predict(), code, capsys.readouterr().err, out)
        if problem:
            failures.append(f"{' '.join(c.args({k: Path(k) for k in files}))}: {problem}")
    return failures


# By default every pair of values over all values (43 runs, ~5 s) and every value in a converting run (~10 runs);
# with -m slow every triple both ways (~230 + ~220 runs, of which the converting ones take ~2 s each).
@pytest.mark.parametrize("strengths", [(2, 1), pytest.param((3, 2), marks=pytest.mark.slow(reason="~280 runs")),
                                       pytest.param((3, 3), marks=pytest.mark.slow(reason="~450 runs"))],
                         ids=["pairs", "triples-pairs", "triples"])
def test_newer_flags_in_a_covering_design(strengths: tuple[int, int], capsys: pytest.CaptureFixture[str],
                                          files: dict[str, Path], out_dir: Path, replayed: None) -> None:
    """--optimize, --target_sqnr, --prune, --cluster_weights, --sparsity, --weight_bits, --bias_correction,
    --int16_layers, --calibration_method entropy, --equalize, --weight_rounding with the modes, I/O types, datasets
    and the other precision flags: every ``strengths[0]`` values of any as many flags together over all values
    (mostly refusals: each must be a one-line usage error), and every ``strengths[1]`` over the combinations that
    convert (each must give a model LiteRT runs, with the I/O types asked)."""
    every = covering_rows(strengths[0])
    converting = covering_rows(strengths[1], lambda c: c.predict()[0] == 0)
    outcomes = collections.Counter(c.predict()[0] for c in every + converting)
    assert outcomes[0] >= 5 and outcomes[1] >= 1 and outcomes[2] >= 30, outcomes  # all three outcomes exercised
    failures = sweep_runs(capsys, every + converting, files, out_dir)
    assert not failures, f"{len(failures)} of {len(every) + len(converting)} runs:\n" + "\n".join(failures[:200])
