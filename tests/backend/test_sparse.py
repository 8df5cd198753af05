"""Sparse weights (backend/sparse.py, --sparsity=auto) on single layers, run in LiteRT.

Every sparse model is checked against the same model written dense: a sparse tensor changes how the weights are
stored, never what the layer computes, so float layers agree to float rounding and int8 layers exactly (the sparse
int8 kernel accumulates the same integers). The file is read back (tests/support/tflite_file.py, an independent
reader) to find the sparse tensors, their block shapes, index types and operator versions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from converter.backend import optable
from converter.backend.sparse import MIN_SPARSITY, apply_sparsity, decode, encode, index_dtype
from converter.backend.writer import write_tflite
from converter.ir import Activation
from tests.support import tflite_file
from tests.support.ir_models import Layer, build, calibrated, litert_run, quantize_int8, sparse_weights

RNG_SEED = 7


def _x(n: int, shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape[1:])).astype(np.float32)


def _pair(input_shape: tuple[int, ...], layers: list[Layer], int8: bool) -> tuple[bytes, bytes, list]:
    """The model written dense and with --sparsity=auto (same quantization: the sparse one is the dense graph
    re-encoded)."""
    x = _x(32, input_shape)
    m = calibrated(build(input_shape, layers), x)
    if int8:
        quantize_int8(m)
    dense = write_tflite(m.graph)
    result = apply_sparsity(m.graph)
    return dense, write_tflite(m.graph), result.layers


@pytest.mark.parametrize("shape,block", [((24, 64), (1, 1)), ((24, 64), (1, 4)), ((16, 64), (1, 16)),
                                         ((8, 3, 3, 20), (1, 1, 1, 1)), ((300, 2), (1, 1))])
def test_encode_round_trips_and_picks_index_types(shape: tuple[int, ...], block: tuple[int, ...]) -> None:
    rng = np.random.default_rng(RNG_SEED)
    w = sparse_weights(rng, shape, 0.7, block)
    s = encode(w, block)
    np.testing.assert_array_equal(decode(s), w)
    # Stored blocks hold every nonzero; whole-zero blocks are dropped.
    assert np.count_nonzero(s.values) == np.count_nonzero(w)
    assert s.values.size == s.blocks * block[-1]
    for vec in (s.segments, s.indices):
        top = int(vec.max())
        assert vec.dtype == (np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.int32)
    assert index_dtype(np.array([70000])) == np.int32


def _same_integers(got: np.ndarray, ref: np.ndarray, model: bytes) -> None:
    """Equal int8 outputs: the float outputs are DEQUANTIZE(int8), which XNNPACK computes with another float rounding
    than the builtin kernel (a few ulps), so the codes are compared: round(y / scale) (zero point cancels)."""
    f = tflite_file.read(model)
    deq = next(op for op in f.ops if op.name == "DEQUANTIZE")
    scale = f.quant[deq.inputs[0]][0][0]
    np.testing.assert_array_equal(np.round(got / scale), np.round(ref / scale))


def _versions(model: bytes) -> dict[str, set[int]]:
    return tflite_file.read(model).op_versions()


@pytest.mark.parametrize("block", [None, (1, 4)])
def test_float_fully_connected_fed_directly_at_version_8(block: tuple[int, int] | None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Float FC reads CSR (element by element) or 1x4 blocks directly. At version 8 both LiteRT resolvers run the
    sparse kernel; written at version 1, XNNPACK (the default delegate) takes the layer and reads the stored values
    as a dense matrix: NaN or garbage. That is why the version is 8."""
    rng = np.random.default_rng(RNG_SEED)
    w = sparse_weights(rng, (32, 64), 0.8, block)
    layers = [Layer("fully_connected", w, rng.standard_normal(32).astype(np.float32))]
    dense, sparse, chosen = _pair((1, 64), layers, int8=False)
    f = tflite_file.read(sparse)
    (c,) = f.weights("FULLY_CONNECTED")
    assert c.sparsity is not None and "DENSIFY" not in _versions(sparse)
    assert c.sparsity.block_map == ([1] if block else [])
    np.testing.assert_array_equal(c.dense(), w)
    assert _versions(sparse)["FULLY_CONNECTED"] == {8}
    assert chosen[0].block == (block or (1, 1))
    x = _x(8, (1, 64), seed=2)
    ref = litert_run(dense, x)
    for default in (False, True):
        np.testing.assert_allclose(litert_run(sparse, x, default), ref, rtol=1e-5, atol=1e-5)
    assert len(sparse) < len(dense)

    entry = optable.OPS["fully_connected"]
    monkeypatch.setitem(optable.OPS, "fully_connected", dataclasses.replace(entry, version=lambda n: 1))
    m = calibrated(build((1, 64), layers), _x(32, (1, 64)))
    apply_sparsity(m.graph)
    wrong = litert_run(write_tflite(m.graph), x, default_resolver=True)
    err = np.abs(wrong - ref)
    assert not np.all(np.isfinite(wrong)) or err.max() > 0.1 * np.abs(ref).max()


def test_int8_fully_connected_1x16_blocks_exact() -> None:
    """int8 FC weights in 1x16 blocks are fed directly (version 8) and give the dense int8 layer's integers."""
    rng = np.random.default_rng(RNG_SEED)
    w = sparse_weights(rng, (24, 64), 0.75, (1, 16))
    layers = [Layer("fully_connected", w, rng.standard_normal(24).astype(np.float32), Activation.RELU)]
    dense, sparse, chosen = _pair((1, 64), layers, int8=True)
    (c,) = tflite_file.read(sparse).weights("FULLY_CONNECTED")
    assert c.type == 9 and c.sparsity is not None
    assert c.sparsity.block_map == [1] and c.sparsity.dense_sizes[-1] == 16
    assert _versions(sparse)["FULLY_CONNECTED"] == {8}
    x = _x(16, (1, 64), seed=3)
    ref = litert_run(dense, x)
    for default in (False, True):
        _same_integers(litert_run(sparse, x, default), ref, sparse)
    assert chosen[0].encoding == "fed directly, 1x16 blocks"


def test_int8_fully_connected_random_sparsity_goes_through_densify(monkeypatch: pytest.MonkeyPatch) -> None:
    """int8 FC has no element-by-element sparse kernel: random zeros are stored CSR and expanded by DENSIFY
    (exactly the dense integers). The FC is written at version 8, which XNNPACK refuses: at version 4 it takes the
    layer and fails to prepare it (checked below), so the builtin kernel runs it in both resolvers."""
    rng = np.random.default_rng(RNG_SEED)
    w = sparse_weights(rng, (40, 96), 0.85)
    layers = [Layer("fully_connected", w, rng.standard_normal(40).astype(np.float32))]
    dense, sparse, chosen = _pair((1, 96), layers, int8=True)
    v = _versions(sparse)
    assert v["DENSIFY"] == {1} and v["FULLY_CONNECTED"] == {8}
    x = _x(16, (1, 96), seed=4)
    ref = litert_run(dense, x)
    for default in (False, True):
        _same_integers(litert_run(sparse, x, default), ref, sparse)
    assert chosen[0].densify and len(sparse) < len(dense)
    entry = optable.OPS["fully_connected"]
    monkeypatch.setitem(optable.OPS, "fully_connected", dataclasses.replace(entry, version=lambda n: 4))
    m = calibrated(build((1, 96), layers), _x(32, (1, 96)))
    quantize_int8(m)
    apply_sparsity(m.graph)
    with pytest.raises(RuntimeError, match="failed to prepare"):
        litert_run(write_tflite(m.graph), x, default_resolver=True)


@pytest.mark.parametrize("int8", [False, True])
@pytest.mark.parametrize("op", ["conv_2d", "depthwise_conv_2d", "transpose_conv"])
def test_conv_family_csr_and_densify(op: str, int8: bool) -> None:
    """Conv layers read dense weights: CSR on the last dimension + DENSIFY, the same outputs as dense (float to
    rounding, int8 exactly)."""
    rng = np.random.default_rng(RNG_SEED)
    shape = {"conv_2d": (24, 3, 3, 16), "depthwise_conv_2d": (1, 5, 5, 64),
             "transpose_conv": (16, 3, 3, 16)}[op]
    w = sparse_weights(rng, shape, 0.85)
    # The IR's transpose conv has no bias (TensorFlow's Conv2DBackpropInput has none).
    bias = None if op == "transpose_conv" else \
        rng.standard_normal(shape[0] if op == "conv_2d" else shape[3]).astype(np.float32)
    layers = [Layer(op, w, bias)]
    dense, sparse, chosen = _pair((1, 6, 6, 16), layers, int8)
    f = tflite_file.read(sparse)
    name = op.upper()
    (c,) = f.weights(name, 1)
    assert c.sparsity is not None and c.sparsity.formats == [0, 0, 0, 1] and c.sparsity.block_map == []
    assert "DENSIFY" in f.op_versions()
    np.testing.assert_array_equal(c.dense(), tflite_file.read(dense).weights(name, 1)[0].dense())
    x = _x(8, (1, 6, 6, 16), seed=5)
    for default in (False, True):  # XNNPACK rounds int8 convolutions its own way: compare within each resolver
        ref, got = litert_run(dense, x, default), litert_run(sparse, x, default)
        if int8:
            _same_integers(got, ref, sparse)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert len(sparse) < len(dense)
    assert chosen[0].stored_bytes < chosen[0].dense_bytes


def test_sparse_only_where_smaller() -> None:
    """Under 30% zeros: dense. Over 30% but an encoding larger than the dense bytes (int8 3x3x1 filters: one index
    per value and a segment per row): dense. The estimate of what a sparse encoding costs is an upper bound of
    what the file saves."""
    rng = np.random.default_rng(RNG_SEED)
    few = sparse_weights(rng, (32, 64), MIN_SPARSITY - 0.1)
    thin = sparse_weights(rng, (16, 3, 3, 1), 0.5)
    many = sparse_weights(rng, (32, 64), 0.9)
    _, _, chosen = _pair((1, 64), [Layer("fully_connected", few)], int8=True)
    assert chosen[0].block is None and "under 30%" in chosen[0].reason
    _, _, chosen = _pair((1, 8, 8, 1), [Layer("conv_2d", thin, np.zeros(16))], int8=True)
    assert chosen[0].block is None and "dense" in chosen[0].reason
    dense, sparse, chosen = _pair((1, 64), [Layer("fully_connected", many)], int8=True)
    saved = chosen[0].dense_bytes - chosen[0].stored_bytes
    assert 0 < saved <= len(dense) - len(sparse)
