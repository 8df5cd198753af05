"""Diagonals, bands and sequence reversal over the last two (or given) axes.

TF -> IR:
  MatrixDiag, MatrixDiagV2/V3 (main diagonal, square, zero padding) -> matrix_diag(diagonal)
  MatrixSetDiag, MatrixSetDiagV2/V3 (main diagonal)                  -> matrix_set_diag(x, diagonal)
  MatrixBandPart(x, lower, upper)                                    -> select_v2(in_band, x, 0), where in_band[i, j]
        = (lower < 0 or i - j <= lower) and (upper < 0 or j - i <= upper): constant when the bounds are
  ReverseSequence                                                    -> reverse_sequence(x, lengths)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node, Tensor
from ...ir.attrs import ReverseSequenceAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import int32_operand


def _main_diagonal_only(ctx: ImportContext, k_input: int) -> None:
    k = ctx.const_input(k_input)
    if k is None or np.any(np.asarray(k) != 0):
        raise ctx.fail(f"only the main diagonal (k = 0, a constant) maps to TFLite; got k = "
                       f"{'a run-time value' if k is None else np.asarray(k).tolist()}")


@tf_op("MatrixDiag", "MatrixDiagV2", "MatrixDiagV3")
def matrix_diag(ctx: ImportContext) -> None:
    diagonal = ctx.input(0)
    if ctx.op_type != "MatrixDiag":
        _main_diagonal_only(ctx, 1)
        n = diagonal.shape[-1]
        rows, cols, pad = (ctx.const_input(i) for i in (2, 3, 4))
        if rows is None or cols is None or int(rows) not in (-1, n) or int(cols) not in (-1, n):
            raise ctx.fail("only a square result of the diagonal's length maps to TFLite's MATRIX_DIAG "
                           "(num_rows, num_cols -1 or that length)")
        if pad is None or np.asarray(pad).item() != 0:
            raise ctx.fail("only zero padding maps to TFLite's MATRIX_DIAG")
    ctx.emit("matrix_diag", [diagonal])


@tf_op("MatrixSetDiag", "MatrixSetDiagV2", "MatrixSetDiagV3")
def matrix_set_diag(ctx: ImportContext) -> None:
    if ctx.op_type != "MatrixSetDiag":
        _main_diagonal_only(ctx, 2)
    ctx.emit("matrix_set_diag", [ctx.input(0), ctx.input(1)])


def _within(ctx: ImportContext, dist: Tensor, bound: int, name: str) -> Tensor:
    """bound < 0 or dist <= bound, elementwise (bool [M, N]); folds to a constant when the bound is one."""
    b = int32_operand(ctx, bound, name)
    shape = dist.shape
    close = ctx.intermediate(f"{name}_close", np.bool_, shape)
    ctx.emit("less_equal", [dist, b], outputs=[close], suffix=f"{name}_close")
    unbounded = ctx.intermediate(f"{name}_unbounded", np.bool_, b.shape)
    ctx.emit("less", [b, ctx.const(f"{name}_zero", np.array(0, np.int32))], outputs=[unbounded],
             suffix=f"{name}_unbounded")
    ok = ctx.intermediate(f"{name}_ok", np.bool_, shape)
    ctx.emit("logical_or", [close, unbounded], outputs=[ok], suffix=f"{name}_ok")
    return ok


@tf_op("MatrixBandPart")
def matrix_band_part(ctx: ImportContext) -> None:
    x = ctx.input(0)
    m, n = x.shape[-2:]
    if m < 0 or n < 0:
        raise ctx.fail("the matrices have a run-time size; TFLite needs the last two dims static here")
    i, j = np.meshgrid(np.arange(m, dtype=np.int32), np.arange(n, dtype=np.int32), indexing="ij")
    lower = _within(ctx, ctx.const("below", i - j), 1, "lower")
    upper = _within(ctx, ctx.const("above", j - i), 2, "upper")
    band = ctx.intermediate("band", np.bool_, (m, n))
    ctx.emit("logical_and", [lower, upper], outputs=[band], suffix="band")
    ctx.emit("select_v2", [band, x, ctx.const("zero", np.zeros((), x.dtype))])


@tf_op("ReverseSequence")
def reverse_sequence(ctx: ImportContext) -> None:
    rank = len(ctx.input(0).shape)
    seq, batch = int(ctx.attr("seq_dim")), int(ctx.attr("batch_dim", 0))
    ctx.emit("reverse_sequence", [ctx.input(0), ctx.input(1)],
             ReverseSequenceAttrs(seq_dim=seq + rank if seq < 0 else seq,
                                  batch_dim=batch + rank if batch < 0 else batch))


# ---------------------------------------------------------------- references
@reference("matrix_diag")
def ref_matrix_diag(node: Node, diagonal: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().linalg.diag(diagonal)]


@reference("matrix_set_diag")
def ref_matrix_set_diag(node: Node, x: Any, diagonal: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().linalg.set_diag(x, diagonal)]


@reference("reverse_sequence")
def ref_reverse_sequence(node: Node, x: Any, lengths: Any) -> list[Any]:  # noqa: ANN401
    a: ReverseSequenceAttrs = node.attrs  # type: ignore[assignment]
    return [tensorflow().reverse_sequence(x, lengths, seq_axis=a.seq_dim, batch_axis=a.batch_dim)]
