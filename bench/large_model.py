"""A model over 2 GiB (issue 15): qconvert against TensorFlow's converter on a float32 stack of 9 dense 8192x8192
layers (2.25 GiB of weights, ``tests/support/large_model.py``), FLOAT and dynamic range, in one run.

    .venv/bin/python bench/large_model.py [--work-dir bench/.work] [--modes float,dynamic] [--no-tensorflow]

Each conversion runs in its own fresh process (qconvert through its console script, TensorFlow through
bench/tf_convert.py), measured as in compare.py (wall time start to exit, the child's own peak RSS from wait4).
Then, in another child, LiteRT runs both .tflite files of each mode on 2 inputs against the SavedModel run by
TensorFlow: FLOAT max relative error, dynamic-range SQNR. Printed: the figures, and the targets
"qconvert peak RSS <= 2.5x the weights" and "qconvert wall time <= 0.7x TensorFlow's".
It needs disk for the SavedModel and four .tflite files (~10 GiB) and memory for TensorFlow's converter (~3.3x the
weights): mind a shared machine.
"""

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

from bench.compare import Run, measure  # noqa: E402
from tests.support.large_model import weight_bytes  # noqa: E402

QCONVERT_FLAGS = {"float": [], "dynamic": ["--post_training_quantize"]}

CHECK = r"""
import json, sys
from pathlib import Path
import numpy as np
from tests.support.large_model import inputs, litert_outputs, tensorflow_outputs
saved_model, files = Path(sys.argv[1]), json.loads(sys.argv[2])
x = inputs(2)
ref = tensorflow_outputs(saved_model, x)
out = {}
for name, path in files.items():
    y = litert_outputs(Path(path), x)
    out[name] = {"max_rel_err": float(np.max(np.abs(y - ref)) / np.max(np.abs(ref))),
                 "sqnr_db": float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((y - ref) ** 2), 1e-30)))}
print(json.dumps(out))
"""

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work-dir", type=Path, default=HERE / ".work")
    p.add_argument("--modes", default="float,dynamic")
    p.add_argument("--no-tensorflow", action="store_true", help="measure qconvert only")
    a = p.parse_args()
    work = a.work_dir.resolve() / "large_model"
    work.mkdir(parents=True, exist_ok=True)
    saved_model = work / "saved_model"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if not (saved_model / "saved_model.pb").exists():
        print(f"large_model: building {saved_model} (once)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "tests.support.large_model", str(saved_model)], check=True, env=env,
                       cwd=REPO)
    weights = weight_bytes()
    qconvert = str(Path(sys.executable).parent / "qconvert")
    # An unmeasured import first warms the file cache for TensorFlow's shared libraries.
    subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    results: dict[str, dict[str, Run]] = {}
    files: dict[str, str] = {}
    for mode in a.modes.split(","):
        sides = {"qconvert": [qconvert, f"--saved_model_dir={saved_model}", f"--output_file={work / f'q_{mode}.tflite'}",
                              "-q", *QCONVERT_FLAGS[mode]]}
        if not a.no_tensorflow:
            sides["TensorFlow"] = [sys.executable, str(HERE / "tf_convert.py"), f"--saved_model_dir={saved_model}",
                                   f"--output_file={work / f'tf_{mode}.tflite'}", f"--mode={mode}"]
        results[mode] = {}
        for name, cmd in sides.items():
            print(f"large_model: {mode} {name} ...", file=sys.stderr, flush=True)
            run = measure(cmd, work / f"{name}_{mode}", env)
            if run.returncode != 0:
                sys.exit(f"large_model: {name} {mode} failed (exit {run.returncode}); see {work / f'{name}_{mode}.err'}")
            results[mode][name] = run
            files[f"{name} {mode}"] = str(work / f"{'q' if name == 'qconvert' else 'tf'}_{mode}.tflite")
    print("large_model: checking the outputs in LiteRT ...", file=sys.stderr, flush=True)
    check = subprocess.run([sys.executable, "-c", CHECK, str(saved_model), json.dumps(files)], env=env, cwd=REPO,
                           capture_output=True, text=True)
    quality = json.loads(check.stdout.strip().splitlines()[-1]) if check.returncode == 0 else {}

    gib = weights / 2**30
    print(f"float32 stack of 9 dense 8192x8192 layers: {weights:,} bytes of weights ({gib:.2f} GiB); "
          f"1-min load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print(f"{'mode':8s} {'converter':11s} {'wall s':>8s} {'CPU s':>8s} {'peak RSS MiB':>13s} {'RSS / weights':>14s} "
          f"{'file bytes':>15s}  LiteRT vs TensorFlow")
    for mode, sides in results.items():
        for name, run in sides.items():
            path = Path(files[f"{name} {mode}"])
            q = quality.get(f"{name} {mode}", {})
            what = (f"max rel err {q['max_rel_err']:.2e}" if mode == "float" else f"SQNR {q['sqnr_db']:.1f} dB") \
                if q else "(not checked)"
            print(f"{mode:8s} {name:11s} {run.wall_s:8.1f} {run.cpu_s:8.1f} {run.peak_rss_mib:13,.0f} "
                  f"{run.peak_rss_mib * 2**20 / weights:13.2f}x {path.stat().st_size:15,}  {what}")
    for mode, sides in results.items():
        q = sides["qconvert"]
        rss = q.peak_rss_mib * 2**20 / weights
        print(f"target {mode}: qconvert peak RSS <= 2.5x the weights: {rss:.2f}x  {'PASS' if rss <= 2.5 else 'MISS'}")
        if "TensorFlow" in sides:
            t = sides["TensorFlow"]
            r = q.wall_s / t.wall_s
            print(f"target {mode}: qconvert wall time <= 0.7x TensorFlow's: {q.wall_s:.1f} s / {t.wall_s:.1f} s = "
                  f"{r:.2f}x  {'PASS' if r <= 0.7 else 'MISS'} (peak RSS {q.peak_rss_mib / t.peak_rss_mib:.2f}x TF's)")
        if mode == "float" and quality:
            err = quality["qconvert float"]["max_rel_err"]
            print(f"target float: LiteRT within 1e-5 relative of TensorFlow: {err:.2e}  "
                  f"{'PASS' if err <= 1e-5 else 'MISS'}")


if __name__ == "__main__":
    main()
