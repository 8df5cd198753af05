"""The conversion report as plain data (JSON-serialisable). Rendering to a terminal lives in the CLI.

The schema is docs/report-schema.json (JSON Schema, draft 2020-12); the tests validate reports against it.
"""

from __future__ import annotations

import math
from typing import Any

from .ir import Node, Tensor
from .ir.attrs import CustomAttrs
from .pipeline import ConversionResult
from .quantize.quantizer import QuantizeResult

REPORT_SCHEMA_VERSION = 1


def _io(t: Tensor, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "tensor": t.name, "dtype": t.dtype.name, "shape": list(t.shape)}
    if t.quant is not None:
        entry["scale"] = float(t.quant.scale[0])
        entry["zero_point"] = int(t.quant.zero_point[0])
    return entry


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _precision(q: QuantizeResult) -> dict[str, Any]:
    """The resolved precision plan: the mode's default and every op's precision, weight width and why."""
    plan = q.plan
    assert plan is not None
    return {
        "default": plan.default.precision.value,
        "counts": plan.counts(plan.layers),
        "layers": [{"name": name, "op": q.layer_ops.get(name, ""), "precision": lp.precision.value,
                    "weight_bits": lp.weight_bits, "reason": lp.reason} for name, lp in plan.layers.items()],
    }


def _custom_op(node: Node) -> dict[str, Any]:
    """A CUSTOM operator as written: custom code, node, the attributes in its FlexBuffer options, I/O types."""
    a: CustomAttrs = node.attrs  # type: ignore[assignment]
    return {"name": node.name, "custom_code": a.code,
            "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in a.options},
            "quantized": a.quantized,
            "inputs": [t.dtype.name for t in node.inputs if t is not None],
            "outputs": [t.dtype.name for t in node.outputs]}


def build_report(result: ConversionResult, output_path: str | None = None) -> dict[str, Any]:
    cfg, g = result.config, result.graph
    sig = g.signature
    in_names = list(sig.input_names) if sig and len(sig.input_names) == len(g.inputs) else [t.name for t in g.inputs]
    out_names = list(sig.output_names) if sig and len(sig.output_names) == len(g.outputs) else \
        [t.name for t in g.outputs]
    q = result.quantization
    cal = result.calibration
    passes = [{"name": name, "fired": n, "seconds": round(result.passes.seconds.get(name, 0.0), 4)}
              for name, n in result.passes.fired.items()]
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "input": {"path": str(cfg.input_path), "format": cfg.input_format.value, "bytes": result.input_bytes},
        "output": {"path": output_path or str(cfg.output_path), "bytes": len(result.tflite),
                   "inference_type": cfg.inference_type.value},
        "sizes": {"weights_bytes_float": result.weights_bytes[0], "weights_bytes_converted": result.weights_bytes[1],
                  "tflite_bytes": len(result.tflite)},
        "ops": {"tensorflow": result.tf_op_counts, "before_passes": result.ir_ops_before,
                "after_passes": result.ir_ops_after,
                "subgraphs": [{"index": i, "name": sg.name, "ops": sg.op_counts()}
                              for i, sg in enumerate(g.all_graphs())]},
        "passes": passes,
        "calibration": None if cal is None else {
            "samples": cal.samples, "tensors": cal.tensors, "method": cal.method.value,
        },
        "quantization": None if q is None else {
            "quantized_tensors": q.quantized_tensors,
            "float_ops": [{"name": f.name, "op": f.op, "reason": f.reason} for f in q.float_nodes],
            "inserted_ops": q.inserted,
            "bias_corrected": q.bias_corrected,
            "precision": None if q.plan is None else _precision(q),
        },
        "weight_only": None if result.weight_only is None else {
            "tensors": result.weight_only.tensors, "bytes_before": result.weight_only.bytes_before,
            "bytes_after": result.weight_only.bytes_after,
        },
        "layers": None if result.layer_errors is None else [
            {"tensor": e.tensor, "tf_name": e.tf_name, "op": e.op, "sqnr_db": _finite(e.sqnr_db),
             "max_abs_error": e.max_abs_error, "max_error_lsb": _finite(e.max_error_lsb), "scale": e.scale}
            for e in result.layer_errors
        ],
        "custom_ops": [_custom_op(n) for n in g.nodes if n.op == "custom"],
        "inputs": [_io(t, n) for t, n in zip(g.inputs, in_names, strict=True)],
        "outputs": [_io(t, n) for t, n in zip(g.outputs, out_names, strict=True)],
        "notes": list(result.notes),
        "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
    }
