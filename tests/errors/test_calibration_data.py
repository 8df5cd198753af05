"""Bad input: a representative dataset that does not fit the model (shape, count, dtype, keys), holds NaN/Inf or
no samples, is not a numpy file, or holds pickled objects, which are refused without being unpickled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.errors._support import EXIT_ERROR, EXIT_USAGE, Models, expect_failure, expect_failure_subprocess

INT8 = ["--inference_type=INT8"]


class PickleTrap:
    """Unpickling this object creates the directory ``marker``: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # noqa: ANN401
        return os.mkdir, (str(self.marker),)


def _args(models: Models, dataset: Path) -> list[str]:
    return [f"--input_file={models.graph}", *INT8, f"--representative_dataset={dataset}"]


def _data(n: int = 4, shape: tuple[int, ...] = (8, 8, 3), dtype: type = np.float32) -> np.ndarray:
    return np.random.RandomState(3).uniform(-1, 1, (n, *shape)).astype(dtype)


def test_sample_shape_mismatch(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                               out_dir: Path) -> None:
    f = tmp_path / "cal.npy"
    np.save(f, _data(shape=(8, 8, 4)))
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f}, input 'input': samples have shape [8, 8, 4] but the model "
                         "expects [8, 8, 3] (array shape [4, 8, 8, 4]; first axis = samples)")


def test_missing_samples_axis(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                              out_dir: Path) -> None:
    f = tmp_path / "cal.npy"
    np.save(f, _data()[0])
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f}, input 'input': array has shape [8, 8, 3], one sample without "
                         "the samples axis; stack samples along a first axis: [N, 8, 8, 3]")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf(bad: float, capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                    out_dir: Path) -> None:
    a = _data()
    a[1, 2, 3, 0] = a[3, 0, 0, 1] = bad
    f = tmp_path / "cal.npy"
    np.save(f, a)
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f}, input 'input': 2 value(s) are NaN or Inf; clean the data")


def test_nan_subprocess(models: Models, tmp_path: Path, out_dir: Path) -> None:
    a = _data()
    a[0, 0, 0, 0] = np.nan
    f = tmp_path / "cal.npy"
    np.save(f, a)
    expect_failure_subprocess(_args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                              f"representative dataset {f}, input 'input': 1 value(s) are NaN or Inf")


def test_overflow_when_cast_to_float32(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                                       out_dir: Path) -> None:
    a = _data(dtype=np.float64)
    a[0, 0, 0, 0] = 1e300
    f = tmp_path / "cal.npy"
    np.save(f, a)
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   f"representative dataset {f}, input 'input': 1 value(s) overflow float32 (largest 1e+300)")


def test_no_samples(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / "cal.npy"
    np.save(f, _data(n=0))
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f}, input 'input': no samples (the first axis is empty)")


def test_empty_npz(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / "cal.npz"
    np.savez(f)
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f} holds no arrays")


def test_npz_without_the_input_name(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                                    out_dir: Path) -> None:
    f = tmp_path / "cal.npz"
    np.savez(f, images=_data(), labels=np.arange(4))
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f} has no array for input 'input' (it has: images, labels); "
                         "key each array by its input name")


def test_string_data(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / "cal.npy"
    np.save(f, np.array([["a", "b"]]))
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f}, input 'input': dtype <U1 is not numeric; save int or float "
                         "arrays")


def test_pickled_objects_in_npy_are_never_unpickled(capsys: pytest.CaptureFixture[str], models: Models,
                                                     tmp_path: Path, out_dir: Path) -> None:
    armed, marker = tmp_path / "armed", tmp_path / "unpickled"
    # The trap works: loading with pickles allowed runs it.
    check = tmp_path / "check.npy"
    np.save(check, np.array([PickleTrap(armed)], dtype=object), allow_pickle=True)
    np.load(check, allow_pickle=True)
    assert armed.is_dir()
    f = tmp_path / "cal.npy"
    np.save(f, np.array([PickleTrap(marker)] * 4, dtype=object), allow_pickle=True)
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f} holds pickled Python objects, which are never loaded; save "
                         "plain numeric arrays (np.save / np.savez)")
    assert not marker.exists()


def test_pickled_objects_in_npz_are_never_unpickled(capsys: pytest.CaptureFixture[str], models: Models,
                                                     tmp_path: Path, out_dir: Path) -> None:
    marker = tmp_path / "unpickled"
    f = tmp_path / "cal.npz"
    np.savez(f, input=np.array([PickleTrap(marker)] * 4, dtype=object))
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f}: array 'input' holds pickled Python objects, which are never "
                         "loaded; save plain numeric arrays")
    assert not marker.exists()


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("cal.npy", b"\x93NUMPY\x07\x00garbage", "is not a valid .npy file ("),
    ("cal.npy", b"", "is not a valid .npy file ("),
    ("cal.npz", b"PK\x03\x04garbage", "is not a valid .npz archive ("),
])
def test_not_a_numpy_file(name: str, content: bytes, fragment: str, capsys: pytest.CaptureFixture[str],
                          models: Models, tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    line = expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                          f"representative dataset {f} {fragment}")
    assert line.endswith("; save it with np.save") or line.endswith("; save it with np.savez")


def test_missing_dataset(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / "nope.npy"
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f} does not exist; check --representative_dataset")


def test_unknown_kind(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / "cal.csv"
    f.write_text("1,2,3\n")
    expect_failure(capsys, _args(models, f), out_dir / "m.tflite", EXIT_ERROR,
                   f"representative dataset {f}: unknown kind .csv; give a .npz")


def test_image_directory_without_images(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                                        out_dir: Path) -> None:
    d = tmp_path / "images"
    d.mkdir()
    (d / "readme.txt").write_text("no images here")
    expect_failure(capsys, _args(models, d), out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset directory {d} has no .jpg/.png/.bmp images")


def test_undecodable_image(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                           out_dir: Path) -> None:
    d = tmp_path / "images"
    d.mkdir()
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    expect_failure(capsys, _args(models, d), out_dir / "m.tflite", EXIT_ERROR,
                   f"cannot decode image {d / 'broken.png'} (", "remove it from the dataset directory")


def test_dataset_for_a_float_model(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    # Every quantized inference type takes a dataset: the message lists all of them, built from the enum.
    from converter.config import InferenceType
    quantized = [t.value for t in InferenceType if t.is_quantized]
    assert quantized == ["QUANTIZED_UINT8", "INT8", "INT16X8"]
    expect_failure(capsys, [f"--input_file={models.graph}", f"--representative_dataset={models.calibration}"],
                   out_dir / "m.tflite", EXIT_USAGE,
                   exact="--representative_dataset calibrates integer models; add --inference_type=QUANTIZED_UINT8, "
                         "INT8 or INT16X8")


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> Path:  # noqa: ANN401
    g = tf.Graph()
    with g.as_default():
        a = tf.compat.v1.placeholder(tf.float32, [1, 4], name="a")
        b = tf.compat.v1.placeholder(tf.float32, [1, 4], name="b")
        tf.identity(tf.nn.relu(a + b), name="output")
    path = tmp_path_factory.mktemp("two_inputs") / "two.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def test_npy_for_two_inputs(capsys: pytest.CaptureFixture[str], two_inputs: Path, tmp_path: Path,
                            out_dir: Path) -> None:
    f = tmp_path / "cal.npy"
    np.save(f, _data(shape=(4,)))
    expect_failure(capsys, [f"--input_file={two_inputs}", *INT8, f"--representative_dataset={f}"],
                   out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f} is a .npy (one array) but the model has 2 inputs (a, b); use a "
                         ".npz with one array per input name")


def test_sample_counts_differ_between_inputs(capsys: pytest.CaptureFixture[str], two_inputs: Path, tmp_path: Path,
                                             out_dir: Path) -> None:
    f = tmp_path / "cal.npz"
    np.savez(f, a=_data(n=4, shape=(4,)), b=_data(n=3, shape=(4,)))
    expect_failure(capsys, [f"--input_file={two_inputs}", *INT8, f"--representative_dataset={f}"],
                   out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"representative dataset {f}: inputs have different sample counts (a: 4, b: 3)")
