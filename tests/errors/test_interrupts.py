"""Interrupts (issue 15): SIGINT or SIGTERM at any phase of a conversion leaves no output file, no temporary file
and the previous output untouched; the exit code is 130 (SIGINT) or 143 (SIGTERM), with one line on stderr.

Each case runs the console script's entry point in a real process. A prelude makes the chosen phase pause (it
writes a marker file, then sleeps) at a deterministic point: while importing the model, after the first
calibration batch, or once part of the temporary output file is written. The test waits for the marker and sends
the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.errors._support import PREFIX, REPO, SENTINEL, Models, temp_leftovers

PAUSE = """
import os, time
from pathlib import Path

def pause():
    Path(os.environ["QCONVERT_TEST_MARKER"]).write_text("paused")
    time.sleep(120)
"""

PHASES = {
    # Inside load_and_import, before the model is read.
    "import": PAUSE + """
import converter.pipeline as pipeline
real = pipeline.load_and_import
def load_and_import(config):
    pause()
    return real(config)
pipeline.load_and_import = load_and_import
""",
    # After the first calibration batch (the progress callback runs once per batch).
    "calibrate": PAUSE + """
import converter.pipeline as pipeline
real = pipeline.calibrate
def calibrate(graph, data, method, progress=None, *args, **kwargs):
    def paused(done, total):
        pause()
    return real(graph, data, method, paused, *args, **kwargs)
pipeline.calibrate = calibrate
""",
    # Once the first bytes of the model are in its temporary file.
    "write": PAUSE + """
import os as real_os
import converter.pipeline as pipeline
class PausingOs:
    def __getattr__(self, name):
        return getattr(real_os, name)
    def write(self, fd, data):
        n = real_os.write(fd, bytes(data[:64]))
        pause()
        return n
pipeline.os = PausingOs()
""",
}
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
MESSAGE = {signal.SIGINT: "interrupted; no output was written",
           signal.SIGTERM: "terminated (SIGTERM); no output was written"}


def interrupt(phase: str, sig: signal.Signals, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    marker = tmp_path / "paused"
    code = PHASES[phase] + "\nimport sys\nfrom cli.main import entry\nsys.argv[1:] = " + repr(args) + "\nentry()\n"
    env = {**os.environ, "NO_COLOR": "1", "QCONVERT_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the {phase} phase was never reached (exit {proc.returncode}):\n{err}")
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


_SLOW = pytest.mark.slow(reason="the other signal of this phase runs by default")


@pytest.mark.parametrize(("phase", "sig"), [
    ("import", signal.SIGINT), ("import", signal.SIGTERM), pytest.param("calibrate", signal.SIGINT, marks=_SLOW),
    ("calibrate", signal.SIGTERM), ("write", signal.SIGINT), pytest.param("write", signal.SIGTERM, marks=_SLOW),
], ids=lambda v: v if isinstance(v, str) else v.name)
def test_signal_leaves_nothing_behind(phase: str, sig: signal.Signals, models: Models, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out, report = out_dir / "m.tflite", out_dir / "report.json"
    out.write_bytes(SENTINEL)
    args = [f"--input_file={models.graph}", f"--output_file={out}", f"--report={report}"]
    if phase == "calibrate":
        args += ["--inference_type=INT8", f"--representative_dataset={models.calibration}"]
    run = interrupt(phase, sig, args, tmp_path)
    assert run.returncode == EXIT[sig], run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == [PREFIX + MESSAGE[sig]], run.stderr
    assert out.read_bytes() == SENTINEL  # the previous model, untouched
    assert not report.exists()
    assert temp_leftovers(out_dir) == [] and sorted(p.name for p in out_dir.iterdir()) == ["m.tflite"]
