"""Byte-identical output: the same inputs and flags give the same .tflite (same sha256) on every run, in one
process and across processes with different hash seeds, for every mode and calibration method."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.errors._support import Models, run_cli, run_subprocess, sha256

MODES = {
    "float": [],
    "uint8-default-ranges": ["--inference_type=QUANTIZED_UINT8", "--default_ranges_min=-4", "--default_ranges_max=4",
                             "--mean_values=127.5", "--std_dev_values=127.5"],
    "uint8-dataset": ["--inference_type=QUANTIZED_UINT8", "--representative_dataset={cal}"],
    "int8-minmax": ["--inference_type=INT8", "--representative_dataset={cal}", "--calibration_method=minmax"],
    "int8-percentile": ["--inference_type=INT8", "--representative_dataset={cal}", "--calibration_method=percentile"],
    "int8-mse": ["--inference_type=INT8", "--representative_dataset={cal}", "--calibration_method=mse"],
    "int8-float-io": ["--inference_type=INT8", "--representative_dataset={cal}", "--inference_input_type=FLOAT",
                      "--inference_output_type=FLOAT", "--per_tensor"],
    "dynamic-range": ["--post_training_quantize"],
    "float16": ["--quantize_to_float16"],
}


def _flags(models: Models, mode: str, cal: Path | None = None) -> list[str]:
    return [f.format(cal=cal or models.calibration) for f in MODES[mode]]


def _convert(capsys: pytest.CaptureFixture[str], args: list[str], out: Path) -> str:
    run = run_cli(capsys, [*args, f"--output_file={out}", "-q"])
    assert run.code == 0, run.err
    return sha256(out.read_bytes())


@pytest.mark.parametrize("mode", list(MODES))
def test_graph_def_twice_gives_the_same_bytes(mode: str, capsys: pytest.CaptureFixture[str], models: Models,
                                              out_dir: Path) -> None:
    args = [f"--input_file={models.graph}", *_flags(models, mode)]
    first = _convert(capsys, args, out_dir / "first.tflite")
    second = _convert(capsys, args, out_dir / "second.tflite")
    assert first == second, f"{mode}: two runs differ"


@pytest.fixture(scope="module")
def saved_model_calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("sm_cal") / "x.npy"
    np.save(f, np.random.RandomState(5).uniform(-2, 2, (12, 3)).astype(np.float32))
    return f


@pytest.mark.parametrize("mode", ["float", "int8-percentile", "uint8-dataset", "dynamic-range"])
def test_saved_model_twice_gives_the_same_bytes(mode: str, capsys: pytest.CaptureFixture[str], models: Models,
                                                saved_model_calibration: Path, out_dir: Path) -> None:
    args = [f"--saved_model_dir={models.saved_model}", *_flags(models, mode, saved_model_calibration)]
    first = _convert(capsys, args, out_dir / "first.tflite")
    second = _convert(capsys, args, out_dir / "second.tflite")
    assert first == second, f"{mode}: two runs differ"


def test_modes_really_differ(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    """The hashes compared above are of different models (the flags are not ignored). Percentile and mse are left
    out: they keep the minmax range wherever clipping does not gain on held-out samples, so on this model they may
    rightly write the minmax file."""
    hashes = {m: _convert(capsys, [f"--input_file={models.graph}", *_flags(models, m)], out_dir / f"{m}.tflite")
              for m in ("float", "uint8-dataset", "int8-minmax", "int8-float-io", "dynamic-range", "float16")}
    assert len(set(hashes.values())) == len(hashes), hashes


def test_same_bytes_across_processes(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    """Another process, with another hash seed than this one (set and dict order, if anything depended on it)."""
    args = [f"--input_file={models.graph}", *_flags(models, "int8-percentile")]
    here = _convert(capsys, args, out_dir / "here.tflite")
    out = out_dir / "there.tflite"
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    run = run_subprocess([*args, f"--output_file={out}", "-q"], env={"PYTHONHASHSEED": seed})
    assert (run.code, run.err) == (0, ""), run.err
    assert sha256(out.read_bytes()) == here, "the other process wrote different bytes"
