"""Conversion time of each compression mode next to plain INT8 (and dynamic range), on one benchmark model.

    .venv/bin/python bench/compression.py                         # digits CNN, 200 calibration samples
    .venv/bin/python bench/compression.py --repeat 3 --json out.json

Every conversion is qconvert's real CLI in a fresh process (compare.py's ``measure``: wall time, that child's CPU
time and peak RSS), on the model and calibration file bench/build.py makes once. Each row also gives the file's size
raw and gzip-compressed and the SQNR of its outputs against the float Keras model on held-out inputs (LiteRT,
builtin kernels), so the time is shown next to what it buys. Ratios are to plain INT8 (to plain dynamic range for
the dynamic rows).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from compare import HERE, QCONVERT_FLAGS, REPO, Side, accuracy, check, measure

CAL = ["--representative_dataset={cal}"]
# mode -> (baseline mode, flags)
MODES: dict[str, tuple[str, list[str]]] = {
    "int8": ("int8", QCONVERT_FLAGS["int8"] + CAL),
    "int8 --sparsity=auto": ("int8", QCONVERT_FLAGS["int8"] + CAL + ["--sparsity=auto"]),
    "int8 --prune=0.5 --sparsity=auto": ("int8", QCONVERT_FLAGS["int8"] + CAL + ["--prune=0.5", "--sparsity=auto"]),
    "int8 --cluster_weights=16": ("int8", QCONVERT_FLAGS["int8"] + CAL + ["--cluster_weights=16"]),
    "int8 --weight_bits=4": ("int8", QCONVERT_FLAGS["int8"] + CAL + ["--weight_bits=4"]),
    "int8 --prune=0.5 --cluster_weights=16 --sparsity=auto": (
        "int8", QCONVERT_FLAGS["int8"] + CAL + ["--prune=0.5", "--cluster_weights=16", "--sparsity=auto"]),
    "dynamic": ("dynamic", QCONVERT_FLAGS["dynamic"]),
    "dynamic --weight_bits=4": ("dynamic", QCONVERT_FLAGS["dynamic"] + ["--weight_bits=4"]),
}


@dataclass
class Row(Side):
    """One mode: compare.Side (name = the mode) with its baseline mode and the file's gzip size."""

    baseline: str = ""
    gzip_bytes: int = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["digits", "digits_prelu", "digits_dilated", "mobilenet_v2"], default="digits")
    p.add_argument("--samples", type=int, default=200, help="calibration samples [200]")
    p.add_argument("--eval", type=int, default=397, help="held-out inputs for SQNR [397]")
    p.add_argument("--repeat", type=int, default=1, help="conversions per mode; median time [1]")
    p.add_argument("--work-dir", type=Path, default=HERE / ".work", help="scratch dir [bench/.work]")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    py = sys.executable
    qconvert = str(Path(py).parent / "qconvert")
    env = dict(os.environ)
    work = a.work_dir.resolve() / a.model
    cal, ev, ref = work / f"cal_{a.samples}.npy", work / f"eval_{a.eval}.npy", work / f"ref_{a.eval}.npy"
    if not all(p.exists() for p in (work / "saved_model" / "saved_model.pb", cal, ev, ref)):
        build_env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
        cmd = [py, str(HERE / "build.py"), "--model", a.model, "--samples", str(a.samples), "--eval", str(a.eval),
               "--work-dir", str(a.work_dir.resolve())]
        if subprocess.run(cmd, env=build_env, cwd=REPO).returncode != 0:
            sys.exit("compression: building the model failed")
    out_dir = work / "out_compression"
    out_dir.mkdir(exist_ok=True)
    rows = []
    for i, (mode, (base, flags)) in enumerate(MODES.items()):
        out = out_dir / f"m{i}.tflite"
        cmd = [qconvert, f"--saved_model_dir={work / 'saved_model'}", f"--output_file={out}", "-q",
               *(f.format(cal=cal) for f in flags)]
        rows.append(Row(mode, cmd, baseline=base))
    load_before = os.getloadavg()[0]
    subprocess.run([py, "-c", "import tensorflow"], env=env, cwd=REPO, capture_output=True)  # warm the file cache
    for r in range(a.repeat):
        for i, row in enumerate(rows):  # modes take turns, so drift in machine load hits them alike
            print(f"compression: [{r + 1}/{a.repeat}] {row.name} ...", file=sys.stderr, flush=True)
            run = measure(row.command, out_dir / f"m{i}", env)
            check(run, row.command, out_dir / f"m{i}")
            row.runs.append(run)
    load_after = os.getloadavg()[0]
    x, y_ref = np.load(ev), np.load(ref)
    for i, row in enumerate(rows):
        data = (out_dir / f"m{i}.tflite").read_bytes()
        row.tflite_bytes, row.gzip_bytes = len(data), len(gzip.compress(data, 6, mtime=0))
        row.sqnr_db = accuracy(str(out_dir / f"m{i}.tflite"), x, y_ref)
    by_mode = {row.name: row for row in rows}
    print(f"{a.model}: qconvert conversion time per mode ({a.samples} calibration samples, median of {a.repeat}; "
          f"SQNR on {a.eval} held-out inputs)")
    print("| mode | wall s | CPU s | wall / baseline | bytes | gzip bytes | SQNR dB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        b = by_mode[row.baseline]
        print(f"| {row.name} | {row.wall_s:.2f} | {row.cpu_s:.2f} | {row.wall_s / b.wall_s:.2f}x {row.baseline} | "
              f"{row.tflite_bytes:,} | {row.gzip_bytes:,} | {row.sqnr_db:.2f} |")
    print(f"1-min load average before/after: {load_before:.2f} / {load_after:.2f} ({os.cpu_count()} CPUs)"
          + ("; other processes competed for the CPUs: CPU time is steadier than wall time"
             if max(load_before, load_after) > (os.cpu_count() or 1) else ""))
    if a.json:
        a.json.write_text(json.dumps({"model": a.model, "samples": a.samples, "eval": a.eval,
                                      "load_average": [load_before, load_after],
                                      "rows": [{**asdict(r), "wall_s": r.wall_s, "cpu_s": r.cpu_s} for r in rows]},
                                     indent=2) + "\n")


if __name__ == "__main__":
    main()
