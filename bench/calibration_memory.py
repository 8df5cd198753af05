"""Calibration streams its data (issue 15): qconvert's peak RSS converting MobileNetV2 (224, alpha 1.0) to int8 with
100 and with 2,000 calibration samples (60 MB and 1.2 GB .npy files), in one run; the second must stay within 1.1x
the first. Also the peak above the floor every conversion pays (`python -c "import tensorflow"`).

    .venv/bin/python bench/calibration_memory.py [--samples 100,2000] [--work-dir bench/.work]
        [--flags="--calibration_method=entropy"]

``--flags`` adds qconvert flags to both conversions: the non-minmax calibrators (histogram-free strided samples,
bounded per tensor, plus range selection on a streamed half and at most 256 held-back samples), ``--target_sqnr``,
``--prune``, ``--optimize=accuracy`` must all stay flat too.

The model and data come from bench/build.py (as for compare.py); each conversion runs in a fresh process, measured
as in compare.py (the child's own peak RSS from wait4)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.compare import QCONVERT_FLAGS, measure  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", default="100,2000")
    p.add_argument("--work-dir", type=Path, default=HERE / ".work")
    p.add_argument("--flags", default="", help="extra qconvert flags, space-separated")
    a = p.parse_args()
    counts = [int(n) for n in a.samples.split(",")]
    work = a.work_dir.resolve() / "mobilenet_v2"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for n in counts:
        if not (work / f"cal_{n}.npy").exists() or not (work / "saved_model" / "saved_model.pb").exists():
            print(f"calibration_memory: building MobileNetV2 and {n} calibration samples (once)", file=sys.stderr,
                  flush=True)
            subprocess.run([sys.executable, str(HERE / "build.py"), "--model", "mobilenet_v2", "--samples", str(n),
                            "--eval", "16", "--work-dir", str(a.work_dir.resolve())], check=True, env=env, cwd=REPO)
    subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    floor = measure([sys.executable, "-c", "import tensorflow"], work / "floor", env)
    qconvert = str(Path(sys.executable).parent / "qconvert")
    rows = []
    for n in counts:
        out = work / f"out_memory_{n}"
        out.mkdir(exist_ok=True)
        cmd = [qconvert, f"--saved_model_dir={work / 'saved_model'}", f"--output_file={out / 'qconvert.tflite'}",
               *QCONVERT_FLAGS["int8"], f"--representative_dataset={work / f'cal_{n}.npy'}",
               f"--report={out / 'report.json'}", "-q", *a.flags.split()]
        print(f"calibration_memory: {n} samples ...", file=sys.stderr, flush=True)
        run = measure(cmd, out / "qconvert", env)
        if run.returncode != 0:
            sys.exit(f"calibration_memory: qconvert failed with {n} samples; see {out / 'qconvert.err'}")
        report = json.loads((out / "report.json").read_text())
        rows.append((n, run, report))
    weights = rows[0][2]["sizes"]["weights_bytes_float"]
    flags = f" {a.flags}" if a.flags else ""
    print(f"MobileNetV2 224 alpha 1.0, int8{flags}: float weights {weights:,} bytes ({weights / 2**20:.1f} MiB); floor "
          f"(python + import tensorflow) peak RSS {floor.peak_rss_mib:,.0f} MiB; 1-min load average "
          f"{os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print(f"{'samples':>8s} {'data bytes':>15s} {'wall s':>8s} {'calibrate s':>12s} {'peak RSS MiB':>13s}")
    for n, run, report in rows:
        data = (work / f"cal_{n}.npy").stat().st_size
        print(f"{n:8d} {data:15,} {run.wall_s:8.1f} {report['seconds'].get('calibrate', 0):12.1f} "
              f"{run.peak_rss_mib:13,.0f}")
    first, last = rows[0][1].peak_rss_mib, rows[-1][1].peak_rss_mib
    r = last / first
    print(f"target: peak RSS with {rows[-1][0]:,} samples <= 1.1x with {rows[0][0]:,}: {r:.3f}x  "
          f"{'PASS' if r <= 1.1 else 'MISS'}")
    above = max(run.peak_rss_mib for _, run, _ in rows) - floor.peak_rss_mib
    print(f"largest peak RSS above the floor: {above:,.0f} MiB ({above * 2**20 / weights:.1f}x the float weights: "
          "TensorFlow's graph and working memory for one batch, whatever the number of samples)")

if __name__ == "__main__":
    main()
