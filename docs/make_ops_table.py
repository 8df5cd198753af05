"""Regenerate docs/ops.md: every TensorFlow op TensorFlow 2.21's converter turns into TFLite builtins
(converter/frontend/legalizations.py) and what qconvert does with it, derived from qconvert's registries: each row's
probe (tests/support/op_probes) is converted by qconvert in FLOAT; the builtins come from the backend op table
(converter/backend/optable.py OPS) for the IR nodes the op became, and the INT8 / QUANTIZED_UINT8 status of each
node from the quantization spec table (converter/quantize/spec.py SPECS), through the quantizer's own rule
(quantizer.integer_kernel_refusal). Nothing in the table is written by hand.

    python docs/make_ops_table.py           # rewrite docs/ops.md (about a minute)
    python docs/make_ops_table.py --check   # exit 1 if docs/ops.md is stale

tests/frontend/test_op_table.py fails when docs/ops.md differs from what this script generates, and checks every
converted row against TensorFlow in LiteRT.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from converter.backend.optable import OPS  # noqa: E402
from converter.errors import QConvertError, UnsupportedOpsError  # noqa: E402
from converter.frontend.legalizations import LEGALIZATIONS, Legalization  # noqa: E402
from converter.frontend.registry import HANDLERS, load_handlers  # noqa: E402
from converter.ir import Node  # noqa: E402
from converter.quantize.quantizer import has_float_tensors, integer_kernel_refusal  # noqa: E402

TABLE = REPO / "docs" / "ops.md"
# TF ops every probe graph has that are not the row's (inputs, constants, pass-through).
_FRAME_OPS = frozenset({"Placeholder", "Const", "Identity", "IdentityN", "NoOp"})
_SECTIONS = {
    "math": "Arithmetic, math, comparisons, reductions", "activation": "Activations", "nn": "Neural-network layers",
    "signal": "Signal (FFT, complex)", "image": "Image", "detection": "Detection", "random": "Random",
    "array": "Array and shape", "quantization": "Fake quantization", "training": "Gradients and losses",
    "control": "Control flow",
}


@dataclass(frozen=True)
class RowStatus:
    """What qconvert does with one row's op. ``converts``: the FLOAT conversion of its probe succeeds;
    ``int8_integer``: in INT8 at least one of its nodes runs an integer kernel."""

    row: Legalization
    builtins: tuple[str, ...] | None  # None: not converted
    float: str
    int8: str
    uint8: str
    converts: bool
    int8_integer: bool


def _reason(error: QConvertError) -> str:
    """The first clause of a conversion error, without the node name (stable across probes)."""
    msg = str(error)
    if isinstance(error, UnsupportedOpsError):
        ops = ", ".join(o.op_type for o in error.ops)
        return (f"no TFLite builtin for the IR op of {ops}" if "no TFLite builtin" in msg
                else f"no handler for {ops}")
    if "): " in msg:
        msg = msg.split("): ", 1)[1]
    return msg.split(";")[0].strip()


def _row_nodes(row: Legalization, converted: object) -> list[Node]:
    """The IR nodes (after the passes) the row's op became: every node but those of the probe's other TF ops."""
    result = converted.result  # type: ignore[attr-defined]
    context = {op for op in result.tf_op_counts if op not in _FRAME_OPS and op != row.op}
    return [n for n in result.graph.nodes if n.tf_op not in context]


def _quantized(nodes: list[Node], dtype: np.dtype) -> tuple[str, bool]:
    quantized = [n for n in nodes if has_float_tensors(n)]
    if not nodes:
        return "n/a (folded)", False
    if not quantized:
        return "n/a (no float tensors)", False
    refused = {}
    for n in quantized:
        why = integer_kernel_refusal(n, dtype)
        if why is not None:
            refused.setdefault(OPS[n.op].builtin if n.op in OPS else n.op, why)
    if not refused:
        return "integer kernel", True
    reasons = "; ".join(dict.fromkeys(refused.values()))  # one op lowered to many builtins: its reason once
    if len(refused) == len({n.op for n in quantized}):
        return f"float fallback ({reasons})", False
    return f"partly integer; float: {', '.join(sorted(refused))} ({reasons})", True


def row_status(row: Legalization, converted: object | None) -> RowStatus:
    """The row's status from the FLOAT conversion of its probe (None: the row has no probe)."""
    if converted is None:
        status = "not probed" if row.op in HANDLERS else f"unsupported: no handler for {row.op}"
        return RowStatus(row, None, status, "-", "-", False, False)
    error = converted.error  # type: ignore[attr-defined]
    if error is not None:
        return RowStatus(row, None, f"unsupported: {_reason(error)}", "-", "-", False, False)
    nodes = _row_nodes(row, converted)
    builtins = tuple(sorted({OPS[n.op].builtin for n in nodes}))
    int8, int8_ok = _quantized(nodes, np.dtype(np.int8))
    uint8, _ = _quantized(nodes, np.dtype(np.uint8))
    return RowStatus(row, builtins, "converted" if nodes else "converted (folded to a constant)", int8, uint8,
                     True, int8_ok)


@dataclass(frozen=True)
class Coverage:
    rows: int
    float_ok: int
    tf_quantized: int
    int8_ok: int

    @property
    def float_pct(self) -> float:
        return 100.0 * self.float_ok / max(self.rows, 1)

    @property
    def int8_pct(self) -> float:
        return 100.0 * self.int8_ok / max(self.tf_quantized, 1)

    def line(self) -> str:
        return (f"{self.rows} rows; FLOAT: {self.float_ok} convert ({self.float_pct:.1f}%); INT8: of the "
                f"{self.tf_quantized} rows TensorFlow quantizes (all or in part), {self.int8_ok} run integer kernels "
                f"in qconvert ({self.int8_pct:.1f}%)")


def coverage(statuses: list[RowStatus]) -> Coverage:
    tf_q = [s for s in statuses if s.row.tf_int8 in ("yes", "partial")]
    return Coverage(len(statuses), sum(s.converts for s in statuses), len(tf_q), sum(s.int8_integer for s in tf_q))


def statuses_for(results: Mapping[str, object | None]) -> list[RowStatus]:
    """One status per row, from the FLOAT conversions keyed by TF op (a row missing from ``results``: no probe)."""
    load_handlers()
    return [row_status(r, results.get(r.op)) for r in LEGALIZATIONS]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(statuses: list[RowStatus]) -> str:
    load_handlers()
    cov = coverage(statuses)
    out = [
        "# TensorFlow ops and the TFLite builtins they become",
        "",
        "Generated by `python docs/make_ops_table.py`; do not edit. One row per TensorFlow op that TensorFlow 2.21's",
        "converter turns into TFLite builtins (`converter/frontend/legalizations.py`, read from its legalization",
        "sources and checked against it). For each: the builtins TensorFlow writes and whether its INT8 conversion",
        "runs them as integer kernels, then what qconvert writes and its status per `--inference_type`, derived from",
        "qconvert's handler registry, backend op table and quantization spec table by converting the row's probe",
        "(`tests/support/op_probes`). `tests/frontend/test_op_table.py` checks every row against TensorFlow in LiteRT",
        "(FLOAT within 1e-5, INT8 SQNR at least TensorFlow's - 0.5 dB) and fails when this file is stale.",
        "",
        "INT8 / QUANTIZED_UINT8: *integer kernel*: runs on 8-bit data; *float fallback*: stays float between",
        "QUANTIZE and DEQUANTIZE (listed as a float island in the conversion summary; `--no_float_fallback` makes it",
        "an error); *n/a*: the op has no float data (integer, bool) or was folded away.",
        "",
        f"**Coverage:** {cov.line()}.",
        "",
    ]
    for family, title in _SECTIONS.items():
        rows = [s for s in statuses if s.row.family == family]
        if not rows:
            continue
        out += [f"## {title}", "",
                "| TF op | TensorFlow 2.21 writes | TF INT8 | qconvert writes | FLOAT | INT8 | QUANTIZED_UINT8 |",
                "|---|---|---|---|---|---|---|"]
        for s in rows:
            tf_b = " ".join(s.row.builtins) or "(folded)"
            if s.row.note:
                tf_b += f" ({s.row.note})"
            q_b = "-" if s.builtins is None else (" ".join(s.builtins) or "(folded)")
            out.append(f"| {s.row.op} | {_cell(tf_b)} | {s.row.tf_int8} | {q_b} | {_cell(s.float)} | "
                       f"{_cell(s.int8)} | {_cell(s.uint8)} |")
        out.append("")
    extra = sorted(op for op in HANDLERS if op not in {r.op for r in LEGALIZATIONS})
    out += ["## Ops qconvert converts that are not in the table", "",
            "TensorFlow's converter keeps these as Flex/custom ops, removes them, or has no TF2 form of them; "
            "qconvert has handlers for them:", "", ", ".join(extra), ""]
    return "\n".join(out)


def convert_all(workdir: Path) -> dict[str, object]:
    """qconvert's FLOAT conversion of every row probe (keyed by TF op)."""
    from converter.tf_runtime import tensorflow
    from tests.support import op_runner
    from tests.support.op_probes import PROBES

    probes = op_runner.ProbeSet(tensorflow(), list(PROBES.values()), workdir)
    return {key: probes.float(key) for key, t in probes.traced.items() if t.error is None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/ops.md is stale, without writing it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        statuses = statuses_for(convert_all(Path(tmp)))
    text = render(statuses)
    print(coverage(statuses).line())
    if args.check:
        stale = not TABLE.exists() or TABLE.read_text() != text
        print("docs/ops.md is stale: run python docs/make_ops_table.py" if stale else "docs/ops.md is up to date")
        return 1 if stale else 0
    TABLE.write_text(text)
    print(f"wrote {TABLE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
