"""--mean_values / --std_dev_values: bad counts or values; what they mean per input type (uint8, int8, float; with
a directory of images, pixel statistics); and no silent clipping of the representative data by the grid they
define."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import LiteRTModel
from tests.errors._support import EXIT_USAGE, Models, expect_failure, expect_failure_subprocess, run_cli

UINT8 = ["--inference_type=QUANTIZED_UINT8", "--default_ranges_min=-6", "--default_ranges_max=6"]


@pytest.mark.parametrize(("means", "stds", "exact"), [
    ("--mean_values=127.5,127.5", "--std_dev_values=127.5",
     "2 --mean_values but 1 --std_dev_values; give one mean and one std per input"),
    ("--mean_value=127.5", None, "1 --mean_values but 0 --std_dev_values; give one mean and one std per input"),
    (None, "--std_value=1,2,3", "0 --mean_values but 3 --std_dev_values; give one mean and one std per input"),
])
def test_mean_std_counts_differ(means: str | None, stds: str | None, exact: str,
                                capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    flags = [f for f in (means, stds) if f]
    expect_failure(capsys, [f"--input_file={models.graph}", *UINT8, *flags], out_dir / "m.tflite", EXIT_USAGE,
                   exact=exact)


def test_more_pairs_than_inputs(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", *UINT8, "--mean_values=0,128", "--std_dev_values=1,1"],
                   out_dir / "m.tflite", EXIT_USAGE,
                   exact="2 mean/std pair(s) given for 1 input(s); give one --mean_values and --std_dev_values entry "
                         "per input, comma-separated")


def test_counts_differ_subprocess(models: Models, out_dir: Path) -> None:
    expect_failure_subprocess([f"--input_file={models.graph}", *UINT8, "--mean_values=0,128,3",
                               "--std_dev_values=1,1"], out_dir / "m.tflite", EXIT_USAGE,
                              "3 --mean_values but 2 --std_dev_values; give one mean and one std per input")


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--mean_values=abc", "--std_dev_values=1"], "--mean_values='abc': 'abc' is not a number"),
    (["--mean_values=nan", "--std_dev_values=1"], "--mean_values='nan': values must be finite"),
    (["--mean_values=0", "--std_dev_values=0"], "--std_dev_values=0: std must be > 0"),
    (["--mean_values=0", "--std_dev_values=-2"], "--std_dev_values=-2: std must be > 0"),
])
def test_unusable_values(flags: list[str], fragment: str, capsys: pytest.CaptureFixture[str], models: Models,
                         out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", *UINT8, *flags], out_dir / "m.tflite", EXIT_USAGE,
                   fragment)


# ---- what mean/std mean per input type (issue 15) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def pixels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A directory of 8x8 RGB images (random pixels) and the pixels as an array."""
    from PIL import Image

    d = tmp_path_factory.mktemp("pixels")
    rng = np.random.default_rng(11)
    px = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    for i, p in enumerate(px):
        Image.fromarray(p).save(d / f"{i:02d}.png")
    return d, px


@pytest.mark.parametrize(("input_type", "zero_point"), [("INT8", 0), ("QUANTIZED_UINT8", 128), ("FLOAT", None)])
def test_image_statistics_are_pixel_statistics(input_type: str, zero_point: int | None,
                                               capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path,
                                               pixels: tuple[Path, np.ndarray], run_graph: Any, sqnr: Any) -> None:
    """The README's image flow: --inference_type=INT8 with images and mean/std 127.5 (issue 15's internal error).
    The int8 input takes pixel - 128 (zero point 0), a uint8 input the pixel (zero point 128), both at scale
    1/127.5; fed so, the model computes the float graph on (pixel - 127.5) / 127.5 as well as a model calibrated
    on those normalized images directly (same data, so within 1 dB: only the input's half-step offset differs)."""
    images, px = pixels
    out = out_dir / "m.tflite"
    run = run_cli(capsys, [f"--input_file={models.graph}", "--inference_type=INT8", f"--representative_dataset={images}",
                           "--mean_values=127.5", "--std_dev_values=127.5", f"--inference_input_type={input_type}",
                           "--inference_output_type=FLOAT", f"--output_file={out}", "-q"])
    assert (run.code, run.err) == (0, ""), run.err
    model = LiteRTModel(out.read_bytes())
    x = (px.astype(np.float32) - 127.5) / 127.5
    if zero_point is None:
        assert model.inputs[0]["dtype"] == np.float32
        got = model.run(x)[0]
    else:
        assert model.quantization("input") == (pytest.approx(1 / 127.5), zero_point)
        got = model.run(px.astype(np.int16) - 128 + zero_point)[0]
    ref = np.concatenate([run_graph(models.graph_def, {"input": x[i:i + 1]}, ["output"])[0] for i in range(len(x))])
    np.save(out_dir / "normalized.npy", x)
    run = run_cli(capsys, [f"--input_file={models.graph}", "--inference_type=INT8", "--inference_input_type=FLOAT",
                           "--inference_output_type=FLOAT", f"--representative_dataset={out_dir / 'normalized.npy'}",
                           f"--output_file={out}", "-q"])
    assert run.code == 0, run.err
    direct = LiteRTModel(out.read_bytes()).run(x)[0]
    assert sqnr(ref, got) >= sqnr(ref, direct) - 1.0


def test_qat_int8_with_uint8_statistics(capsys: pytest.CaptureFixture[str], out_dir: Path, tmp_path: Path,
                                        tf: Any) -> None:  # noqa: ANN401
    """Issue 15: a QAT graph with --inference_type=INT8 --mean_values=127.5 gave an internal error. With int8
    inputs the mean is in int8 units (TensorFlow's rule): 127.5 is a usage error naming the fix, and the fix works."""
    from tests.errors._flag_sweep import build_qat_graph

    graph = tmp_path / "qat.pb"
    graph.write_bytes(build_qat_graph(tf).SerializeToString())
    args = [f"--input_file={graph}", "--inference_type=INT8", "--std_dev_values=127.5"]
    expect_failure(capsys, [*args, "--mean_values=127.5"], out_dir / "m.tflite", EXIT_USAGE,
                   exact="--mean_values=127.5 (input 'input') is outside int8's [-128, 127]: with int8 inputs, "
                         "real = (q - mean) / std for the int8 value q; for statistics of 0..255 values (uint8 "
                         "pixels) subtract 128 from their zero point 128 (--mean_values=0), or feed uint8 with "
                         "--inference_input_type=QUANTIZED_UINT8")
    out = out_dir / "m.tflite"
    run = run_cli(capsys, [*args, "--mean_values=0", f"--output_file={out}", "-q"])
    assert (run.code, run.err) == (0, ""), run.err
    assert LiteRTModel(out.read_bytes()).quantization("input") == (pytest.approx(1 / 127.5), 0)


@pytest.mark.parametrize(("flags", "exact"), [
    (["--inference_type=QUANTIZED_UINT8", "--mean_values=300", "--std_dev_values=1"],
     "--mean_values=300 (input 'input') is outside uint8's [0, 255]: with uint8 inputs, real = (q - mean) / std for "
     "the uint8 value q; give the mean of the 0..255 values"),
    (["--inference_type=INT8", "--inference_input_type=FLOAT", "--mean_values=-200", "--std_dev_values=1"],
     "--mean_values=-200 (input 'input') is outside int8's [-128, 127]: with float inputs and --inference_type=INT8, "
     "real = (q - mean) / std for the int8 value q; or feed uint8 with --inference_input_type=QUANTIZED_UINT8"),
])
def test_mean_outside_its_type(flags: list[str], exact: str, capsys: pytest.CaptureFixture[str], models: Models,
                               out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", "--default_ranges_min=-6", "--default_ranges_max=6",
                            *flags], out_dir / "m.tflite", EXIT_USAGE, exact=exact)


def test_float_models_ignore_mean_std(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    out, report = out_dir / "m.tflite", out_dir / "r.json"
    run = run_cli(capsys, [f"--input_file={models.graph}", "--mean_values=127.5", "--std_dev_values=127.5",
                           f"--output_file={out}", f"--report={report}"])
    assert run.code == 0 and run.err == "", run.err
    assert out.read_bytes() == models.tflite.read_bytes()
    assert any("not used" in n for n in json.loads(report.read_text())["notes"])


# ---- no silent input clipping ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mean", "outliers", "warned"), [(0.0, 0, True), (-128.0, 0, False), (-128.0, 0.005, False),
                                                          (-128.0, 0.03, True)])
def test_clipping_is_reported(mean: float, outliers: float, warned: bool, capsys: pytest.CaptureFixture[str],
                              models: Models, out_dir: Path) -> None:
    """Data in [0, 1]: std 255 with mean 0 covers [-0.502, 0.498] (issue 15's example: half the values clipped);
    mean -128 covers [0, 1] exactly. Some values set to 1.5 are clipped in any case. The report gives the exact
    fraction of values more than half a step beyond the grid; the summary says so whenever values are clipped;
    past 1% a warning goes to stderr."""
    x = np.random.default_rng(8).uniform(0, 1, (20, 8, 8, 3)).astype(np.float32)
    flat = x.reshape(-1)
    flat[: int(outliers * flat.size)] = 1.5
    cal = out_dir.parent / "cal.npy"
    np.save(cal, x)
    out, report = out_dir / "m.tflite", out_dir / "r.json"
    run = run_cli(capsys, [f"--input_file={models.graph}", "--inference_type=INT8", f"--representative_dataset={cal}",
                           f"--mean_values={mean}", "--std_dev_values=255", f"--output_file={out}",
                           f"--report={report}"])
    assert run.code == 0, run.err
    lo, hi = (-128 - mean) / 255, (127 - mean) / 255
    half = 0.5 / 255
    expected = float(np.mean((x < lo - half) | (x > hi + half)))
    clipping = json.loads(report.read_text())["inputs"][0]["clipping"]
    assert clipping["fraction_clipped"] == pytest.approx(expected, abs=1e-12)
    assert (clipping["covered_min"], clipping["covered_max"]) == (pytest.approx(lo), pytest.approx(hi))
    assert (clipping["data_min"], clipping["data_max"]) == (pytest.approx(float(x.min())), pytest.approx(float(x.max())))
    said = "of the values are clipped"
    assert (said in run.out) == (expected > 0)
    warnings = [line for line in run.err.splitlines() if line.startswith("qconvert: warning: ")]
    assert len(warnings) == int(warned) and run.err.count("\n") == int(warned), run.err
    if warned:
        assert f"{100 * expected:.2f}% of the values are clipped" in warnings[0]
        assert "fix --mean_values/--std_dev_values" in warnings[0]
