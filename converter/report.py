"""The conversion report as plain data (JSON-serialisable). Rendering to a terminal lives in the CLI.

The schema is docs/report-schema.json (JSON Schema, draft 2020-12); the tests validate reports against it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .debug_layers import DebugReport
from .ir import Node, Tensor
from .ir.attrs import CustomAttrs
from .pipeline import ConversionResult
from .quantize.mixed import PrecisionSearch
from .quantize.quantizer import QuantizeResult
from .size_report import size_report

REPORT_SCHEMA_VERSION = 2


def _io(t: Tensor, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "tensor": t.name, "dtype": t.dtype.name, "shape": list(t.shape)}
    if t.quant is not None:
        entry["scale"] = float(t.quant.scale[0])
        entry["zero_point"] = int(t.quant.zero_point[0])
    return entry


def _with_clipping(entry: dict[str, Any], result: ConversionResult) -> dict[str, Any]:
    for c in result.input_coverage:
        if c.name == entry["name"]:
            entry["clipping"] = {"covered_min": c.covered[0], "covered_max": c.covered[1], "data_min": c.data[0],
                                 "data_max": c.data[1], "fraction_clipped": c.clipped}
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


def _debug(d: DebugReport) -> dict[str, Any]:
    return {
        "samples": d.samples,
        "sqnr_db": _finite(d.sqnr_db),
        "layers": [{"rank": r.rank, "layer": r.name, "float_layers": r.pattern, "ops": list(r.ops),
                    "effect_db": _finite(r.effect.db), "effect_estimated_db": _finite(r.effect.estimated_db),
                    "effect_estimated_se_db": _finite(r.effect.estimated_se_db),
                    "effect_measured_db": None if r.effect.measured_db is None else _finite(r.effect.measured_db),
                    "effect_measured_se_db": None if r.measured_se_db is None else _finite(r.measured_se_db)}
                   for r in d.layers],
        "ops": [{"node": o.node, "op": o.op, "layer": o.layer, "tensor": o.tensor, "tf_name": o.tf_name,
                 "local_sqnr_db": _finite(o.local_sqnr_db), "sqnr_db": _finite(o.sqnr_db),
                 "effect_db": None if o.effect_db is None else _finite(o.effect_db),
                 "max_abs_error": o.max_abs_error if np.isfinite(o.max_abs_error) else None,
                 "max_error_lsb": _finite(o.max_error_lsb), "scale": o.scale} for o in d.ops],
    }


def _search(s: PrecisionSearch) -> dict[str, Any]:
    """--target_sqnr: the target, each step (the layer raised, the ops it changed, the SQNR measured after it, the
    file size and multiply-accumulates by precision) and the model it ended with."""
    return {
        "target_db": s.target_db, "met": s.met, "sqnr_db": _finite(s.final_sqnr_db), "tflite_bytes": s.final_bytes,
        "macs": dict(s.final_macs), "held_out_samples": s.held_out_samples,
        "calibration_samples": s.calibration_samples, "models_measured": s.measured, "seconds": round(s.seconds, 3),
        "lowered": list(s.lowered),
        "steps": [{"layer": st.layer, "tensor": st.tensor, "changed": dict(st.changed), "sqnr_db": _finite(st.sqnr_db),
                   "estimated_db": None if st.estimated_db is None else _finite(st.estimated_db),
                   "tflite_bytes": st.tflite_bytes, "macs": dict(st.macs)} for st in s.steps],
    }


def _compression(result: ConversionResult) -> dict[str, Any]:
    """The size the model costs (size_report) and what --prune, --cluster_weights, --sparsity and --weight_bits
    did."""
    out = size_report(result.graph, result.tflite)
    c, sp, cfg = result.compression, result.sparsity, result.config
    pr = c.prune if c is not None else None
    cl = c.cluster if c is not None else None
    out["prune"] = None if pr is None else {
        "target": pr.target, "sparsity": pr.sparsity, "sqnr_db": _finite(pr.sqnr_db), "samples": pr.samples,
        "forward_passes": pr.forward_passes,
        "layers": [{"name": x.name, "op": x.op, "weights": x.weights, "zeros": x.zeros, "sparsity": x.sparsity,
                    "block": x.block, "sqnr_db": _finite(x.sqnr_db), "bias_corrected": x.bias_corrected}
                   for x in pr.layers],
    }
    out["cluster"] = None if cl is None else {
        "clusters": cl.clusters, "sqnr_db": None if cl.sqnr_db is None else _finite(cl.sqnr_db),
        "samples": cl.samples,
        "layers": [{"name": x.name, "op": x.op, "per_channel": x.per_channel, "distinct": x.distinct,
                    "sqnr_db": None if x.sqnr_db is None else _finite(x.sqnr_db), "bias_corrected": x.bias_corrected}
                   for x in cl.layers],
    }
    out["sparsity"] = None if sp is None else {
        "layers": [{"name": x.node, "op": x.op, "tensor": x.tensor, "zero_fraction": x.zero_fraction,
                    "encoding": x.encoding, "densify": x.densify, "dense_bytes": x.dense_bytes,
                    "stored_bytes": x.stored_bytes, "reason": x.reason} for x in sp.layers],
    }
    kept = _kept_8bit(result) if cfg.weight_bits == 4 else []
    out["weight_bits"] = {"asked": cfg.weight_bits, "kept_8bit": kept}
    return out


def _kept_8bit(result: ConversionResult) -> list[dict[str, str]]:
    """With --weight_bits=4: the layers whose weights stay 8-bit, and why."""
    if result.weight_only is not None:
        return [{"name": n, "op": op, "reason": why} for n, op, why in result.weight_only.kept_8bit]
    q = result.quantization
    return [] if q is None else [{"name": f.name, "op": f.op, "reason": f.reason} for f in q.kept_8bit]


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
        "output": {"path": output_path or str(cfg.output_path), "bytes": result.model.size,
                   "inference_type": cfg.inference_type.value},
        "sizes": {"weights_bytes_float": result.weights_bytes[0], "weights_bytes_converted": result.weights_bytes[1],
                  "tflite_bytes": result.model.size},
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
        "debug": None if result.debug is None else _debug(result.debug),
        "precision_search": None if result.precision_search is None else _search(result.precision_search),
        "custom_ops": [_custom_op(n) for n in g.nodes if n.op == "custom"],
        "inputs": [_with_clipping(_io(t, n), result) for t, n in zip(g.inputs, in_names, strict=True)],
        "outputs": [_io(t, n) for t, n in zip(g.outputs, out_names, strict=True)],
        "compression": _compression(result),
        "notes": list(result.notes),
        "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
    }
