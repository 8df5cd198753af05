"""Terminal output: rich tables and colour on a terminal, plain lines otherwise (CI logs, pipes, NO_COLOR,
TERM=dumb). Errors are one line on stderr."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console as RichConsole
from rich.table import Table


_MAX_ROWS = 20


def _db(value: float | None) -> str:
    return "inf" if value is None else f"{value:.2f}"


# Past this fraction of the representative data's values clipped by an input's mean/std grid, a warning on stderr.
CLIPPING_WARNING = 0.01


def clipping_text(io: dict[str, Any]) -> str:
    """One input's clipping (report ``inputs[].clipping``) as a sentence."""
    c = io["clipping"]
    return (f"input {io['name']!r}: its quantization (--mean_values/--std_dev_values) covers [{c['covered_min']:.6g}, "
            f"{c['covered_max']:.6g}] but the representative data span [{c['data_min']:.6g}, {c['data_max']:.6g}]: "
            f"{100 * c['fraction_clipped']:.2f}% of the values are clipped")


def _plain() -> bool:
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb" or not sys.stdout.isatty()


class Console:
    def __init__(self, quiet: bool, verbose: bool) -> None:
        self.quiet = quiet
        self.verbose = verbose
        plain = _plain()
        self.plain = plain
        self.out = RichConsole(highlight=False, no_color=plain, force_terminal=None if not plain else False,
                               soft_wrap=plain)
        self.err = RichConsole(stderr=True, highlight=False, no_color=plain or not sys.stderr.isatty(),
                               soft_wrap=True)
        self.animated = not plain and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._phase = ""

    def error(self, message: str) -> None:
        self._close_bar()
        self.err.print(f"qconvert: error: {message}", markup=False, highlight=False)

    def warning(self, message: str) -> None:
        self._close_bar()
        if not self.quiet:
            self.err.print(f"qconvert: warning: {message}", markup=False, highlight=False)

    def phase(self, name: str) -> None:
        self._close_bar()
        if self.verbose and not self.quiet:
            self.err.print(f"qconvert: {name} ...", markup=False)
        self._phase = name

    def advance(self, done: int, total: int) -> None:
        """Progress within a phase: a bar on a terminal, nothing animated otherwise."""
        if self.quiet or not self.animated:
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=self.err, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self._phase, total=total)
        self._bar.update(self._task, completed=done, total=total)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def summary(self, report: dict[str, Any]) -> None:
        """The conversion summary: a few rich tables on a terminal, the same content as plain lines otherwise."""
        self._close_bar()
        if self.quiet:
            return
        out, sizes, q = report["output"], report["sizes"], report["quantization"]
        self.line(f"qconvert: wrote {out['path']} ({out['bytes']:,} bytes, {out['inference_type']}) from "
                  f"{report['input']['path']} ({report['input']['bytes']:,} bytes)")
        before, after = report["ops"]["before_passes"], report["ops"]["after_passes"]
        self.table("ops", ["op", "before passes", "after passes"],
                   [[n, str(before.get(n, "")), str(after.get(n, ""))] for n in sorted(set(before) | set(after))])
        subgraphs = report["ops"]["subgraphs"]
        if len(subgraphs) > 1:
            self.table("subgraphs (WHILE cond/body, IF branches)", ["#", "name", "ops"],
                       [[str(sg["index"]), sg["name"], ", ".join(f"{k} {v}" for k, v in sg["ops"].items())]
                        for sg in subgraphs])
        fired = [f"{p['name']} x{p['fired']}" for p in report["passes"] if p["fired"]]
        self.line("passes: " + (", ".join(fired) or "none fired"))
        if report["calibration"] is not None:
            c = report["calibration"]
            self.line(f"calibration: {c['samples']} samples, {c['method']}, {c['tensors']} tensors")
        if q is not None:
            extra = f", bias corrected in {q['bias_corrected']} layers" if q["bias_corrected"] else ""
            self.line(f"quantized tensors: {q['quantized_tensors']}{extra}")
            prec = q.get("precision")
            if prec is not None:
                counts = ", ".join(f"{k} x{v}" for k, v in sorted(prec["counts"].items()))
                self.line(f"precision: {counts} (default {prec['default']})")
                self.table(f"layers not at {prec['default']} (float ones below)", ["node", "op", "precision", "why"],
                           [[e["name"], e["op"], e["precision"] + (f" w{e['weight_bits']}" if e["weight_bits"] != 8
                                                                   else ""), e["reason"]]
                            for e in prec["layers"] if e["precision"] not in (prec["default"], "float")])
            if report.get("precision_search"):
                self._search(report["precision_search"])
            if q["float_ops"]:
                self.table("float ops (no integer kernel, or kept float)", ["node", "op", "reason"],
                           [[f["name"], f["op"], f["reason"]] for f in q["float_ops"]])
        self.table("custom ops (the runtime needs their kernels)", ["node", "custom code", "types", "attributes"],
                   [[c["name"], c["custom_code"], f"{','.join(c['inputs'])} -> {','.join(c['outputs'])}",
                     " ".join(f"{k}={v}" for k, v in c["attributes"].items())] for c in report.get("custom_ops", [])])
        rows = []
        for kind in ("inputs", "outputs"):
            for io in report[kind]:
                quant = f"scale={io['scale']:.6g} zero_point={io['zero_point']}" if "scale" in io else "float"
                rows.append([kind[:-1], io["name"], io["dtype"], str(io["shape"]), quant])
        self.table("inputs and outputs", ["", "name", "type", "shape", "quantization"], rows)
        for io in report["inputs"]:
            if "clipping" in io and io["clipping"]["fraction_clipped"] > 0:
                self.line(clipping_text(io))
                if io["clipping"]["fraction_clipped"] > CLIPPING_WARNING:
                    self.warning(clipping_text(io) + "; fix --mean_values/--std_dev_values so that they describe "
                                 "the data (real = (q - mean) / std)")
        w0, w1 = sizes["weights_bytes_float"], sizes["weights_bytes_converted"]
        ratio = f" ({w0 / w1:.2f}x smaller)" if w1 and w1 != w0 else ""
        self.line(f"weights: {w0:,} bytes float -> {w1:,} bytes{ratio}; file {sizes['tflite_bytes']:,} bytes")
        if report.get("compression") is not None:
            self.compression(report["compression"])
        if report["debug"] is not None:
            self._debug(report["debug"])
        for note in report["notes"]:
            self.line(f"note: {note}")
        self.line("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in report["seconds"].items()))

    def _debug(self, d: dict[str, Any]) -> None:
        """--debug_layers: model layers by effect, then the ops of the top layers."""
        def db(v: float | None, signed: bool = False) -> str:
            return "inf" if v is None else f"{v:+.2f}" if signed else f"{v:.2f}"

        self.line(f"per-layer report on {d['samples']} samples: model output SQNR {db(d['sqnr_db'])} dB in LiteRT")
        self.table("layers by effect: output SQNR gained with the layer float (measured in LiteRT, else simulated)",
                   ["rank", "layer", "ops", "effect dB", "measured", "--float_layers"],
                   [[str(r["rank"]), r["layer"], str(len(r["ops"])), db(r["effect_db"], True),
                     "yes" if r["effect_measured_db"] is not None else "-", r["float_layers"]]
                    for r in d["layers"][:10]])
        self.table("ops (in their layer's order): local error alone, cumulative error in the model, effect",
                   ["node", "op", "local SQNR dB", "SQNR dB", "effect dB", "max err LSB"],
                   [[o["node"], o["op"], db(o["local_sqnr_db"]), db(o["sqnr_db"]),
                     "-" if o["effect_db"] is None else db(o["effect_db"], True),
                     "-" if o["max_error_lsb"] is None else f"{o['max_error_lsb']:.1f}"] for o in d["ops"][:12]])

    def _search(self, s: dict[str, Any]) -> None:
        """--target_sqnr: the outcome, then one row per step."""
        self.line(f"target SQNR {s['target_db']:g} dB: {'met' if s['met'] else 'not met'}, {s['sqnr_db']:.2f} dB on "
                  f"{s['held_out_samples']} held-out samples (calibrated on {s['calibration_samples']}); "
                  f"{s['models_measured']} models measured in {s['seconds']:.1f}s"
                  + (f"; lowered back: {', '.join(s['lowered'])}" if s["lowered"] else ""))

        def macs(m: dict[str, int]) -> str:
            return " ".join(f"{k} {v / 1e6:.3g}M" if v >= 1e5 else f"{k} {v / 1e3:.3g}k" for k, v in sorted(m.items()))

        rows = []
        for i, st in enumerate(s["steps"]):
            by: dict[str, int] = {}
            for p in st["changed"].values():
                by[p] = by.get(p, 0) + 1
            changed = ", ".join(f"{n} op(s) to {p}" for p, n in by.items()) or "(8-bit model)"
            est = "-" if st["estimated_db"] is None else f"{st['estimated_db']:.2f}"
            rows.append([str(i), st["tensor"] or "-", changed, f"{st['sqnr_db']:.2f}", est,
                         f"{st['tflite_bytes']:,}", macs(st["macs"])])
        self.table("precision steps (--target_sqnr): the tensor kept at 16 bits and the ops raised for it",
                   ["step", "tensor", "ops raised", "SQNR dB", "estimated dB", "file bytes", "MACs"], rows)

    def compression(self, c: dict[str, Any]) -> None:
        """File size raw and gzip-compressed; with a compression flag, the weights per layer and what each flag did."""
        total = c["total"]
        gz = total["gzip_bytes"]
        packed = f", gzip {gz:,} bytes ({total['file_bytes'] / gz:.2f}x)" if gz else ""
        self.line(f"file: {total['file_bytes']:,} bytes{packed}; weights {total['weights']:,}, "
                  f"{100 * total['sparsity']:.1f}% zeros, at most {total['max_distinct_per_channel']} distinct "
                  "values per channel")
        pr, cl, sp, wb = c["prune"], c["cluster"], c["sparsity"], c["weight_bits"]
        if pr is None and cl is None and sp is None and wb["asked"] == 8:
            return
        rows = [[x["name"], x["op"], str(x["bits"]), f"{100 * x['sparsity']:.1f}%", str(x["distinct_per_channel"]),
                 x["encoding"], f"{x['bytes']:,}"] for x in c["layers"]]
        more = len(rows) - _MAX_ROWS
        self.table("weights per layer" + (f" (first {_MAX_ROWS}; all in --report)" if more > 0 else ""),
                   ["node", "op", "bits", "zeros", "distinct/ch", "stored", "bytes"], rows[:_MAX_ROWS])
        if pr is not None:
            self.line(f"pruned: {100 * pr['sparsity']:.1f}% of conv/fully-connected weights zero (asked "
                      f"{100 * pr['target']:.0f}%), output SQNR {_db(pr['sqnr_db'])} on {pr['samples']} samples")
            self.table("pruning per layer (SQNR: outputs with only that layer pruned)",
                       ["node", "op", "zeros", "block", "SQNR dB"],
                       [[x["name"], x["op"], f"{100 * x['sparsity']:.1f}%", f"1x{x['block']}", _db(x["sqnr_db"])]
                        for x in pr["layers"]][:_MAX_ROWS])
        if cl is not None:
            where = "channel" if any(x["per_channel"] for x in cl["layers"]) else "layer"
            cost = f", output SQNR {_db(cl['sqnr_db'])} on {cl['samples']} samples" if cl["sqnr_db"] is not None else ""
            self.line(f"clustered: at most {cl['clusters']} values per {where} in {len(cl['layers'])} layers{cost}")
        if sp is not None:
            sparse = [x for x in sp["layers"] if x["encoding"] != "dense"]
            saved = sum(x["dense_bytes"] - x["stored_bytes"] for x in sparse)
            self.line(f"sparse weights: {len(sparse)} of {len(sp['layers'])} layers, about {saved:,} bytes saved")
        if wb["kept_8bit"]:
            self.table("8-bit weights (no int4 kernel)", ["node", "op", "why"],
                       [[x["name"], x["op"], x["reason"]] for x in wb["kept_8bit"]])

    def line(self, text: str) -> None:
        self.out.print(text, markup=False, highlight=False)

    def table(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        if not rows:
            return
        if self.plain:
            self.line(f"{title}:")
            widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
            for r in [header, *rows]:
                self.line("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            return
        t = Table(title=title, show_edge=False, title_justify="left")
        for h in header:
            t.add_column(h)
        for r in rows:
            t.add_row(*r)
        self.out.print(t)
