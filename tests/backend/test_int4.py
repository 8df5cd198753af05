"""int4 weights (--weight_bits=4) on a conv -> depthwise -> fully-connected chain, run in LiteRT and checked layer by
layer against a numpy reference computed from the int4 weights read back from the file (tests/support/
int4_reference.py: exact to 1 LSB for int8 activations, within the input-rounding bound for hybrid layers)."""

from __future__ import annotations

import numpy as np
import pytest

from converter.backend.packing import pack_int4, unpack_int4
from converter.backend.writer import write_tflite
from converter.ir import Activation
from converter.quantize.weights_only import dynamic_range
from tests.support import tflite_file
from tests.support.int4_reference import layer_differences
from tests.support.ir_models import Layer, build, calibrated, quantize_int8

IN_SHAPE = (1, 8, 8, 8)


def _layers(seed: int = 3) -> list[Layer]:
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)

    return [Layer("conv_2d", w(128, 3, 3, 8), 0.1 * rng.standard_normal(128), Activation.RELU),
            Layer("depthwise_conv_2d", w(1, 3, 3, 128) * 3, 0.1 * rng.standard_normal(128), Activation.RELU),
            Layer("fully_connected", w(10, 8 * 8 * 128), 0.1 * rng.standard_normal(10))]


def _x(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *IN_SHAPE[1:])).astype(np.float32)


def test_packing_matches_litert_layout() -> None:
    """Element 2i low nibble, 2i+1 high nibble, an odd last element in the low nibble; -8..7 round trip."""
    v = np.array([-7, 7, 0, -1, 3, -8, 5], np.int8)
    packed = pack_int4(v)
    assert packed.tolist() == [0x79, 0xF0, 0x83, 0x05]
    np.testing.assert_array_equal(unpack_int4(packed, v.size), v)


@pytest.fixture(scope="module")
def int8_model() -> bytes:
    m = calibrated(build(IN_SHAPE, _layers()), _x(64, seed=1))
    quantize_int8(m, weight_bits=4)
    return write_tflite(m.graph)


@pytest.fixture(scope="module")
def hybrid_model() -> tuple[bytes, object]:
    m = build(IN_SHAPE, _layers())
    result = dynamic_range(m.graph, weight_bits=4)
    return write_tflite(m.graph), result


def test_int8_activations_int4_weights_layer_by_layer(int8_model: bytes) -> None:
    f = tflite_file.read(int8_model)
    versions = f.op_versions()
    assert versions["CONV_2D"] == {7} and versions["DEPTHWISE_CONV_2D"] == {7} and versions["FULLY_CONNECTED"] == {10}
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        (w,) = f.weights(op)
        assert w.type == tflite_file.INT4 and w.buffer_bytes == (int(np.prod(w.shape)) + 1) // 2
    worst = layer_differences(int8_model, _x(4, seed=2))
    print(f"int8 x int4, largest difference from the numpy reference per layer (LSB): {worst}")
    assert set(worst) == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert all(v <= 1 for v in worst.values())


def test_hybrid_int4_layer_by_layer(hybrid_model: tuple[bytes, object]) -> None:
    model, result = hybrid_model
    f = tflite_file.read(model)
    (conv,), (dw,), (fc,) = f.weights("CONV_2D"), f.weights("DEPTHWISE_CONV_2D"), f.weights("FULLY_CONNECTED")
    assert conv.type == fc.type == tflite_file.INT4 and dw.type == 9  # depthwise: no hybrid int4 kernel
    assert [k[1] for k in result.kept_8bit] == ["depthwise_conv_2d"]  # type: ignore[attr-defined]
    worst = layer_differences(model, _x(4, seed=2))
    print(f"hybrid x int4, largest difference from the numpy reference as a share of its bound: {worst}")
    assert set(worst) == {"CONV_2D", "FULLY_CONNECTED"}
    assert all(v <= 1.0 for v in worst.values())
