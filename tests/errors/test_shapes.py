"""Bad input: --input_shapes that do not parse (usage error, exit 2) or do not fit the model's inputs (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.errors._support import EXIT_ERROR, EXIT_USAGE, Models, expect_failure, expect_failure_subprocess

HOW = "write comma-separated integers >= 0, one shape per input separated by ':' (e.g. 1,224,224,3)"


@pytest.mark.parametrize(("value", "bad"), [("1,a,8,3", "'a'"), ("1,8,8,3,", "''"), ("1,,8,3", "''"),
                                            ("1x8x8x3", "'1x8x8x3'"), ("1,8.5,8,3", "'8.5'")])
def test_unparseable(value: str, bad: str, capsys: pytest.CaptureFixture[str], models: Models,
                     out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", f"--input_shapes={value}"], out_dir / "m.tflite",
                   EXIT_USAGE, exact=f"--input_shapes={value!r}: {bad} is not a dimension; {HOW}")


@pytest.mark.parametrize("value", ["-1,8,8,3", "1,-2,8,3"])
def test_negative(value: str, capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", f"--input_shapes={value}"], out_dir / "m.tflite",
                   EXIT_USAGE, f"--input_shapes={value!r}: dimension", "must be 0 or more")


def test_unparseable_subprocess(models: Models, out_dir: Path) -> None:
    expect_failure_subprocess([f"--input_file={models.graph}", "--input_shape=1,224,two,3"], out_dir / "m.tflite",
                              EXIT_USAGE, "'two' is not a dimension")


@pytest.mark.parametrize(("value", "rank"), [("1,8,8", 3), ("1,8,8,3,1", 5), ("64", 1)])
def test_wrong_rank(value: str, rank: int, capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", f"--input_shapes={value}"], out_dir / "m.tflite",
                   EXIT_ERROR, exact=f"--input_shapes gives {rank} dims for input 'input', whose shape is [1,8,8,3] "
                                     "(rank 4); give 4 comma-separated dims")


def test_fixed_dim_differs(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", "--input_shapes=1,16,16,3"], out_dir / "m.tflite",
                   EXIT_ERROR, exact="--input_shapes gives [1,16,16,3] for input 'input', but the model fixes it to "
                                     "[1,8,8,3]; only unknown (-1) dims can be set")


def test_more_shapes_than_inputs(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.graph}", "--input_shapes=1,8,8,3:1,10"], out_dir / "m.tflite",
                   EXIT_ERROR, exact="2 input shapes given for 1 input array(s) (input); give one shape per input, "
                                     "separated by ':'")


def test_saved_model_wrong_rank(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--saved_model_dir={models.saved_model}", "--input_shapes=1,3,3"], out_dir / "m.tflite",
                   EXIT_ERROR, "--input_shapes gives 3 dims for input 'x', whose shape is [1,3] (rank 2)")
