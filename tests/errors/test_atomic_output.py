"""Atomic output: the .tflite goes through a temporary file in the same directory and a rename. A failure at any
point (while building, while writing, at the rename, on Ctrl-C) leaves no file and an existing file untouched;
a success replaces the existing file whole."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.errors._support import (EXIT_ERROR, SENTINEL, Models, assert_error_line, assert_output_untouched,
                                   expect_failure, run_cli, run_subprocess, temp_leftovers)

EXIT_INTERRUPTED = 130


def test_failure_while_building_the_flatbuffer(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer has done its work when it fails: nothing reaches the disk."""
    import converter.backend.writer as writer
    from converter.errors import ConversionError

    real = writer.build_tflite

    def write_then_fail(graph: Any) -> Any:  # noqa: ANN401
        real(graph)
        raise ConversionError("simulated failure after the flatbuffer was built")

    monkeypatch.setattr(writer, "build_tflite", write_then_fail)
    expect_failure(capsys, [f"--input_file={models.graph}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact="simulated failure after the flatbuffer was built")


def test_unexpected_exception_in_the_pipeline(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a bug (a non-qconvert exception) is one line, exit 1, and writes nothing."""
    import converter.backend.writer as writer

    def broken(*_: Any, **__: Any) -> None:  # noqa: ANN401
        raise RuntimeError("simulated bug\nwith a second line")

    monkeypatch.setattr(writer, "check_supported", broken)
    expect_failure(capsys, [f"--input_file={models.graph}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact="internal error (RuntimeError: simulated bug with a second line); rerun with --debug and "
                         "report it")


def test_failure_at_the_rename(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The temporary file is complete when the rename fails: it is removed."""
    import converter.pipeline as pipeline

    def replace(*_: Any) -> None:  # noqa: ANN401
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    monkeypatch.setattr(pipeline.os, "replace", replace)
    out = out_dir / "m.tflite"
    expect_failure(capsys, [f"--input_file={models.graph}"], out, EXIT_ERROR,
                   f"cannot write {out}: Device or resource busy", debug=False)


def test_interrupted_while_writing(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after part of the file was written: exit 130, the partial temporary file is removed."""
    import converter.pipeline as pipeline

    class Interrupting:
        def __getattr__(self, name: str) -> Any:  # noqa: ANN401
            return getattr(os, name)

        def write(self, fd: int, data: Any) -> int:  # noqa: ANN401
            os.write(fd, bytes(data[:100]))
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "os", Interrupting())
    out = out_dir / "m.tflite"
    out.write_bytes(SENTINEL)
    run = run_cli(capsys, [f"--input_file={models.graph}", f"--output_file={out}"])
    assert_error_line(run, EXIT_INTERRUPTED, exact="interrupted; no output was written")
    assert_output_untouched(out, existed=True)
    assert sorted(p.name for p in out_dir.iterdir()) == ["m.tflite"]


def test_success_replaces_the_existing_file(capsys: pytest.CaptureFixture[str], models: Models,
                                            out_dir: Path) -> None:
    out = out_dir / "m.tflite"
    out.write_bytes(SENTINEL)
    out.chmod(0o600)
    run = run_cli(capsys, [f"--input_file={models.graph}", f"--output_file={out}", "-q"])
    assert (run.code, run.out, run.err) == (0, "", "")
    data = out.read_bytes()
    assert data == models.tflite.read_bytes()  # the whole new model, nothing of the old file
    assert data[4:8] == b"TFL3"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert temp_leftovers(out_dir) == [] and sorted(p.name for p in out_dir.iterdir()) == ["m.tflite"]


def test_success_replaces_the_existing_file_subprocess(models: Models, out_dir: Path) -> None:
    out, report = out_dir / "m.tflite", out_dir / "report.json"
    out.write_bytes(SENTINEL)
    report.write_bytes(SENTINEL)
    run = run_subprocess([f"--input_file={models.graph}", f"--output_file={out}", f"--report={report}"])
    assert run.code == 0, run.err
    assert run.err == ""
    assert run.out.startswith(f"qconvert: wrote {out} (")
    assert out.read_bytes() == models.tflite.read_bytes()
    assert report.read_bytes().startswith(b"{")
    assert sorted(p.name for p in out_dir.iterdir()) == ["m.tflite", "report.json"]


def test_failed_conversion_keeps_the_report_too(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path,
                                                tmp_path: Path) -> None:
    out, report = out_dir / "m.tflite", out_dir / "report.json"
    report.write_bytes(SENTINEL)
    missing = tmp_path / "missing.pb"
    expect_failure(capsys, [f"--input_file={missing}", f"--report={report}"], out, EXIT_ERROR,
                   f"input file {missing} does not exist", debug=False)
    assert report.read_bytes() == SENTINEL
