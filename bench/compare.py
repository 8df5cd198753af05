"""qconvert against TensorFlow's TFLiteConverter: same SavedModel, same calibration data, one run, one table.

    .venv/bin/python bench/compare.py                      # MobileNetV2 224 alpha 1.0, int8, 100 samples
    .venv/bin/python bench/compare.py --model digits --mode uint8 --json out.json
    .venv/bin/python bench/compare.py --model digits_prelu --runs 200   # PReLU layers: PRELU ops, latency
    .venv/bin/python bench/compare.py --model lstm --mode float         # LSTM over 100 steps: fused sequence op
    .venv/bin/python bench/compare.py --logits --variants adaptive,accuracy --target_sqnr +6
        # plain INT8 next to --weight_rounding=adaptive, --optimize=accuracy and --target_sqnr: time ratio, SQNR

Each converter runs in its own fresh process (qconvert through its real CLI, TensorFlow through bench/tf_convert.py),
so wall time and peak RSS cover the whole process, Python start-up and the TensorFlow import included. Peak RSS is
the child's ru_maxrss as returned by wait4() for that child alone. This process never imports TensorFlow (the model
is built by bench/build.py in a child of its own), so a child never inherits a large parent's pages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# qconvert flags per mode; the TensorFlow setting for each mode is in tf_convert.py.
QCONVERT_FLAGS: dict[str, list[str]] = {
    "float": ["--inference_type=FLOAT"],
    "int8": ["--inference_type=INT8", "--inference_input_type=FLOAT", "--inference_output_type=FLOAT"],
    "uint8": ["--inference_type=QUANTIZED_UINT8", "--inference_input_type=FLOAT", "--inference_output_type=FLOAT"],
    "dynamic": ["--inference_type=FLOAT", "--post_training_quantize"],
    "float16": ["--inference_type=FLOAT", "--quantize_to_float16"],
}
TF_MODE = {"float": "float", "int8": "int8", "uint8": "int8", "dynamic": "dynamic", "float16": "float16"}
CALIBRATED = ("int8", "uint8")

# Issue 4's targets, as (metric key, bound on qconvert / TensorFlow).
TARGETS = [("wall_s", 0.6, "conversion wall time <= 0.6x TF"),
           ("peak_rss_mib", 0.8, "peak RSS <= 0.8x TF"),
           ("tflite_bytes", 1.0, "output bytes <= TF")]


@dataclass
class Run:
    """One measured child process."""

    wall_s: float
    peak_rss_mib: float
    cpu_s: float
    returncode: int


@dataclass
class Side:
    """One converter's figures (medians over --repeat runs for time, the largest peak RSS)."""

    name: str
    command: list[str]
    runs: list[Run] = field(default_factory=list)
    phase_runs: list[dict[str, float]] = field(default_factory=list)
    tflite: str = ""
    tflite_bytes: int = 0
    sqnr_db: float = float("nan")
    latency_ms: float = float("nan")

    @property
    def phases(self) -> dict[str, float]:
        """Median seconds per phase over the runs (the phases the converter itself reports)."""
        return {k: statistics.median(p[k] for p in self.phase_runs) for k in self.phase_runs[0]} \
            if self.phase_runs else {}

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return max(r.peak_rss_mib for r in self.runs)


def measure(cmd: list[str], log: Path, env: dict[str, str]) -> Run:
    """Run ``cmd`` in a fresh process; wall time, and that process's own peak RSS and CPU time from wait4()."""
    with open(log.with_suffix(".out"), "wb") as out, open(log.with_suffix(".err"), "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Run(wall, rss, usage.ru_utime + usage.ru_stime, proc.returncode)


def check(run: Run, cmd: list[str], log: Path) -> None:
    if run.returncode != 0:
        tail = log.with_suffix(".err").read_text(errors="replace").strip().splitlines()[-15:]
        sys.exit(f"compare: exit code {run.returncode} from\n  {' '.join(cmd)}\n" + "\n".join(tail))


# --- accuracy and latency in LiteRT ----------------------------------------------------------------------------

def _feed(interp: Any, x: np.ndarray) -> None:  # noqa: ANN401
    detail = interp.get_input_details()[0]
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zp = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale) + zp, info.min, info.max)
    interp.set_tensor(detail["index"], x.astype(detail["dtype"]))


def _fetch(interp: Any) -> np.ndarray:  # noqa: ANN401
    detail = interp.get_output_details()[0]
    y = interp.get_tensor(detail["index"])
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zp = detail["quantization"]
        y = (y.astype(np.float32) - zp) * scale
    return np.asarray(y, np.float32).copy()


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    ref = np.asarray(reference, np.float64)
    noise = ref - np.asarray(test, np.float64)
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum(noise ** 2), 1e-30)))


def accuracy(path: str, x: np.ndarray, ref: np.ndarray) -> float:
    """SQNR of the model's outputs (builtin kernels, no XNNPACK: the kernels the spec defines) against ``ref``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=path,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    outs = []
    for i in range(len(x)):
        # Each input from the model's initial state: TensorFlow's converter keeps an LSTM's state in variable
        # tensors that carry over from one invoke to the next unless reset (no-op for models without variables).
        interp.reset_all_variables()
        _feed(interp, x[i:i + 1])
        interp.invoke()
        outs.append(_fetch(interp))
    return sqnr_db(ref, np.concatenate(outs).reshape(ref.shape))


def latencies(paths: list[str], x: np.ndarray, runs: int, warmup: int, threads: int) -> list[float]:
    """Median ms per invoke for each model, default resolver (XNNPACK, as a user runs it); the models take turns
    run by run so that drift in machine load hits both alike."""
    from ai_edge_litert.interpreter import Interpreter

    interps = []
    for path in paths:
        interp = Interpreter(model_path=path, num_threads=threads)
        interp.allocate_tensors()
        _feed(interp, x[:1])
        for _ in range(warmup):
            interp.invoke()
        interps.append(interp)
    times: list[list[float]] = [[] for _ in paths]
    for _ in range(runs):
        for k, interp in enumerate(interps):
            t0 = time.perf_counter()
            interp.invoke()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(t) for t in times]


# --- output ------------------------------------------------------------------------------------------------------

def ms(v: float) -> str:
    return f"{v:.4f}" if v < 1 else f"{v:.2f}"


def fmt_ratio(r: float) -> str:
    """Two decimals, more when that would print 1.00 for a ratio that is not 1 (a target may hinge on it)."""
    return f"{r:.4f}x" if r != 1 and abs(r - 1) < 0.005 else f"{r:.2f}x"


def ratio(q: float, t: float) -> str:
    return fmt_ratio(q / t) if t else "-"


def rows(q: Side, t: Side) -> list[tuple[str, str, str, str]]:
    return [
        ("conversion wall time (s)", f"{q.wall_s:.2f}", f"{t.wall_s:.2f}", ratio(q.wall_s, t.wall_s)),
        ("peak RSS (MiB)", f"{q.peak_rss_mib:,.0f}", f"{t.peak_rss_mib:,.0f}", ratio(q.peak_rss_mib, t.peak_rss_mib)),
        ("CPU time user+sys (s)", f"{q.cpu_s:.2f}", f"{t.cpu_s:.2f}", ratio(q.cpu_s, t.cpu_s)),
        (".tflite bytes", f"{q.tflite_bytes:,}", f"{t.tflite_bytes:,}", ratio(q.tflite_bytes, t.tflite_bytes)),
        ("SQNR vs Keras float (dB)", f"{q.sqnr_db:.2f}", f"{t.sqnr_db:.2f}", f"{q.sqnr_db - t.sqnr_db:+.2f} dB"),
        ("LiteRT latency, median (ms)", ms(q.latency_ms), ms(t.latency_ms),
         ratio(q.latency_ms, t.latency_ms)),
    ]


def targets(q: Side, t: Side) -> list[tuple[str, float, bool]]:
    out = []
    for key, bound, text in TARGETS:
        r = getattr(q, key) / getattr(t, key)
        out.append((text, r, r <= bound))
    return out


def print_report(title: str, notes: list[str], q: Side, t: Side, use_rich: bool) -> None:
    header = ("metric", "qconvert", t.name, "qconvert / TF")
    body = rows(q, t)
    goals = targets(q, t)
    if use_rich:
        from rich.console import Console
        from rich.table import Table

        con = Console()
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right")
        for r in body:
            table.add_row(*r)
        con.print(table)
        for n in notes:
            con.print(n, markup=False, highlight=False)
        for text, r, ok in goals:
            con.print(f"target {text}: {fmt_ratio(r)}  " + ("[green]PASS[/]" if ok else "[red]MISS[/]"), highlight=False)
        return
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
    print(title)
    line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header))
    print(line)
    print("-" * len(line))
    for r in body:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
    for n in notes:
        print(n)
    for text, r, ok in goals:
        print(f"target {text}: {fmt_ratio(r)}  {'PASS' if ok else 'MISS'}")


# --optimize... variants of the plain qconvert command (--variants): label -> extra flags.
VARIANTS: dict[str, list[str]] = {
    "adaptive": ["--weight_rounding=adaptive"],
    "accuracy": ["--optimize=accuracy"],
}


def variant(tag: str, flags: list[str], q: Side, q_cmd: list[str], q_out: Path, out_dir: Path,
            env: dict[str, str], x: np.ndarray, y_ref: np.ndarray) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """qconvert's command again with ``flags`` (one run): its conversion time next to the plain one's (the ratio),
    its size and SQNR on the evaluation inputs. Returns the printed line, the figures and qconvert's JSON report
    (None when it exited non-zero: the line then ends with its one-line error)."""
    out, report = out_dir / f"qconvert_{tag}.tflite", out_dir / f"qconvert_{tag}_report.json"
    cmd = [c for c in q_cmd if not c.startswith(("--output_file=", "--report="))]
    cmd += [f"--output_file={out}", f"--report={report}", *flags]
    print(f"compare: qconvert {' '.join(flags)} ...", file=sys.stderr, flush=True)
    run = measure(cmd, out_dir / f"qconvert_{tag}", env)
    line = (f"qconvert {' '.join(flags)}: conversion {run.wall_s:.2f} s wall, {run.cpu_s:.2f} s CPU "
            f"(plain: {q.wall_s:.2f} s, {q.cpu_s:.2f} s; {run.wall_s / q.wall_s:.2f}x wall, "
            f"{run.cpu_s / q.cpu_s:.2f}x CPU)")
    result: dict[str, Any] = {"flags": flags, "wall_s": run.wall_s, "cpu_s": run.cpu_s, "plain_wall_s": q.wall_s,
                              "plain_cpu_s": q.cpu_s, "wall_ratio": run.wall_s / q.wall_s,
                              "cpu_ratio": run.cpu_s / q.cpu_s, "returncode": run.returncode}
    if run.returncode != 0:
        err = (out_dir / f"qconvert_{tag}.err").read_text(errors="replace").strip().splitlines()
        line += f"; exit {run.returncode}: {err[-1] if err else ''}"
        result["error"] = err[-1] if err else ""
        return line, result, None
    size, plain = out.stat().st_size, q_out.stat().st_size
    sqnr = accuracy(str(out), x, y_ref)
    line += (f"; {size:,} bytes ({size / plain:.3f}x plain); SQNR on the {len(x)} evaluation inputs {sqnr:.2f} dB "
             f"(plain {q.sqnr_db:.2f})")
    result.update(tflite_bytes=size, sqnr_db=sqnr)
    return line, result, json.loads(report.read_text())


def target_sqnr(db: float, q: Side, q_cmd: list[str], q_out: Path, out_dir: Path, env: dict[str, str],
                x: np.ndarray, y_ref: np.ndarray) -> dict[str, Any]:
    """qconvert's command again with --target_sqnr=DB (``variant``), with what the search reported."""
    line, result, report = variant("target_sqnr", [f"--target_sqnr={db:g}"], q, q_cmd, q_out, out_dir, env, x, y_ref)
    result["target_db"] = db
    if report is not None:
        s = report["precision_search"]
        line += (f"; search: {len(s['steps']) - 1} step(s), {s['models_measured']} models measured, "
                 f"{s['sqnr_db']:.2f} dB on its {s['held_out_samples']} held-out samples")
        result["search"] = s
    print(line)
    return result


# --- main --------------------------------------------------------------------------------------------------------

def _target_db(value: str) -> str:
    """--target_sqnr's value: a number of dB, or +D (D dB above plain qconvert's SQNR)."""
    float(value)  # ValueError: argparse says the value is invalid
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mobilenet_v2", "digits", "digits_prelu", "digits_dilated", "lstm"],
                   default="mobilenet_v2")
    p.add_argument("--mode", choices=list(QCONVERT_FLAGS), default="int8")
    p.add_argument("--logits", action="store_true",
                   help="mobilenet_v2 without its final softmax: with weights=None the 1000-way softmax is nearly "
                        "uniform (~0.001 each), below the int8 output step of 1/256, so its SQNR says little")
    p.add_argument("--samples", type=int, default=100, help="calibration samples (int8/uint8) [100]")
    p.add_argument("--eval", type=int, default=16, help="held-out inputs for SQNR [16]")
    p.add_argument("--work-dir", type=Path, default=HERE / ".work", help="scratch dir [bench/.work]")
    p.add_argument("--repeat", type=int, default=1, help="conversions per converter; median time [1]")
    p.add_argument("--runs", type=int, default=20, help="timed LiteRT invokes per model [20]")
    p.add_argument("--warmup", type=int, default=5, help="untimed LiteRT invokes first [5]")
    p.add_argument("--threads", type=int, default=2, help="LiteRT num_threads for latency [2]")
    p.add_argument("--target_sqnr", metavar="DB", type=_target_db,
                   help="int8/uint8: also convert with qconvert --target_sqnr=DB and print its conversion time, size "
                        "and SQNR next to plain qconvert's; +D (e.g. +6, issue 13's acceptance): D dB above plain "
                        "qconvert's SQNR on the evaluation inputs")
    p.add_argument("--variants", default="",
                   help="int8/uint8: also convert with these qconvert settings, comma-separated: adaptive "
                        "(--weight_rounding=adaptive), accuracy (--optimize=accuracy); prints each one's conversion "
                        "time as a ratio to plain qconvert's, its size and SQNR")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    p.add_argument("--qconvert", default=None, help="qconvert executable [the one next to this Python]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    py = sys.executable
    qconvert = a.qconvert or str(Path(py).parent / "qconvert")
    if not Path(qconvert).exists():
        qconvert = shutil.which("qconvert") or sys.exit("compare: no qconvert executable; pass --qconvert PATH")
    if a.logits and a.model != "mobilenet_v2":
        sys.exit("compare: --logits applies to --model mobilenet_v2 only")
    name = a.model + ("_logits" if a.logits else "")
    work = a.work_dir.resolve() / name
    env = dict(os.environ)

    # 1. model + data, once (not measured)
    cal = work / f"cal_{a.samples}.npy"
    ev, ref = work / f"eval_{a.eval}.npy", work / f"ref_{a.eval}.npy"
    if not all(p.exists() for p in (work / "saved_model" / "saved_model.pb", cal, ev, ref)):
        build_env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
        cmd = [py, str(HERE / "build.py"), "--model", a.model, "--samples", str(a.samples), "--eval", str(a.eval),
               "--work-dir", str(a.work_dir.resolve())] + (["--logits"] if a.logits else [])
        print(f"compare: building {name} and its data in {work} (once)", file=sys.stderr, flush=True)
        if subprocess.run(cmd, env=build_env, cwd=REPO).returncode != 0:
            sys.exit("compare: building the model failed")
    saved_model = work / "saved_model"
    out_dir = work / f"out_{a.mode}_{a.samples}"
    out_dir.mkdir(exist_ok=True)

    # 2. conversions, each in a fresh process (the load average says whether something else competed for the CPU)
    load_before = os.getloadavg()[0]
    q_out, t_out = out_dir / "qconvert.tflite", out_dir / "tensorflow.tflite"
    q_cmd = [qconvert, f"--saved_model_dir={saved_model}", f"--output_file={q_out}", *QCONVERT_FLAGS[a.mode],
             f"--report={out_dir / 'qconvert_report.json'}"]
    t_cmd = [py, str(HERE / "tf_convert.py"), f"--saved_model_dir={saved_model}", f"--output_file={t_out}",
             f"--mode={TF_MODE[a.mode]}"]
    if a.mode in CALIBRATED:
        q_cmd.append(f"--representative_dataset={cal}")
        t_cmd.append(f"--representative_dataset={cal}")
    tf_name = "TensorFlow" + (" (int8)" if a.mode == "uint8" else "")
    q, t = Side("qconvert", q_cmd), Side(tf_name, t_cmd)
    floor = Side("python -c 'import tensorflow'", [py, "-c", "import tensorflow"])
    # An unmeasured import first warms the file cache for TensorFlow's shared libraries, for every measured run.
    subprocess.run(floor.command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for i in range(a.repeat):
        # Alternate which converter goes first, so slow drift in machine load does not favour one of them.
        order = [(floor, "floor"), (q, "qconvert"), (t, "tensorflow")]
        if i % 2:
            order = [order[0], order[2], order[1]]
        for side, tag in order:
            print(f"compare: [{i + 1}/{a.repeat}] {side.name} ...", file=sys.stderr, flush=True)
            run = measure(side.command, out_dir / tag, env)
            check(run, side.command, out_dir / tag)
            side.runs.append(run)
        q.phase_runs.append(json.loads((out_dir / "qconvert_report.json").read_text())["seconds"])
        t.phase_runs.append(json.loads((out_dir / "tensorflow.out").read_text().strip().splitlines()[-1])["seconds"])
    load_after = os.getloadavg()[0]

    # 3. size, accuracy, latency
    x, y_ref = np.load(ev), np.load(ref)
    for side, path in ((q, q_out), (t, t_out)):
        side.tflite, side.tflite_bytes = str(path), path.stat().st_size
        side.sqnr_db = accuracy(str(path), x, y_ref)
    q.latency_ms, t.latency_ms = latencies([q.tflite, t.tflite], x, a.runs, a.warmup, a.threads)

    # 4. report
    title = (f"{name}, {a.mode}" + (f", {a.samples} calibration samples" if a.mode in CALIBRATED else "") +
             f", SQNR on {a.eval} held-out inputs, latency {a.threads} threads x {a.runs} runs"
             + (f", median of {a.repeat} conversions" if a.repeat > 1 else ""))
    notes = [f"1-min load average before/after the conversions: {load_before:.2f} / {load_after:.2f} "
             f"({os.cpu_count()} CPUs)"]
    if max(load_before, load_after) > (os.cpu_count() or 1):
        notes.append("note: other processes competed for the CPUs; wall-time ratios are noisy, CPU time is steadier.")
    if a.mode in CALIBRATED and float(y_ref.min()) >= 0 and float(y_ref.max()) < 4 / 256:
        notes.append(f"note: the float outputs are a near-uniform softmax (max {float(y_ref.max()):.4f}), under a few "
                     "steps of the quantized output (1/256): SQNR mostly measures output rounding; see --logits.")
    if a.mode == "uint8":
        notes.append("note: TensorFlow has no uint8 post-training quantization; its column is TF int8.")
    notes.append(f"floor (python + import tensorflow): {floor.wall_s:.2f} s, {floor.peak_rss_mib:,.0f} MiB "
                 "(both converters pay it)")
    q_rest = q.wall_s - sum(q.phases.values())
    notes.append("qconvert phases (its load includes the TensorFlow import): " + ", ".join(f"{k} {v:.2f}s" for k, v in q.phases.items()) +
                 f"; start-up/imports/report {q_rest:.2f}s")
    notes.append("TensorFlow phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in t.phases.items()))
    print_report(title, notes, q, t, use_rich=sys.stdout.isatty())
    variants: dict[str, Any] = {}
    for tag in filter(None, a.variants.split(",")):
        if tag not in VARIANTS:
            sys.exit(f"compare: unknown variant {tag!r}; known: {', '.join(VARIANTS)}")
        if a.mode in CALIBRATED:
            line, variants[tag], _ = variant(tag, VARIANTS[tag], q, q_cmd, q_out, out_dir, env, x, y_ref)
            print(line)
    mixed = None
    if a.target_sqnr is not None and a.mode in CALIBRATED:
        db = float(a.target_sqnr) + (round(q.sqnr_db, 2) if a.target_sqnr.startswith("+") else 0.0)
        mixed = target_sqnr(db, q, q_cmd, q_out, out_dir, env, x, y_ref)

    if a.json:
        result = {
            "model": name, "mode": a.mode, "tf_mode": TF_MODE[a.mode], "samples": a.samples, "eval": a.eval,
            "latency": {"runs": a.runs, "warmup": a.warmup, "threads": a.threads},
            "sides": {s.name: {**{k: v for k, v in asdict(s).items() if k != "runs"},
                               "runs": [asdict(r) for r in s.runs], "wall_s": s.wall_s, "cpu_s": s.cpu_s,
                               "peak_rss_mib": s.peak_rss_mib, "phases": s.phases}
                      for s in (q, t, floor)},
            "load_average": [load_before, load_after],
            "targets": [{"target": text, "ratio": round(r, 4), "holds": ok} for text, r, ok in targets(q, t)],
            "target_sqnr": mixed,
            "variants": variants,
        }
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
