"""--default_ranges_min/max reach every array without a range, as in TOCO, also the graph output a float op
(no integer kernel) writes when the output type is quantized: there the QUANTIZE after the float op takes the
default range. Checked in LiteRT against exact math."""

from __future__ import annotations

import numpy as np

from converter.backend.writer import write_tflite
from converter.ir import Graph, QuantRange, RangeSource
from converter.quantize.params import activation_params
from converter.quantize.precision import Precision, PrecisionPlan
from converter.quantize.qmath import UINT8
from converter.quantize.quantizer import FLOAT32, QuantizeOptions, quantize_graph

LO, HI = -6.0, 6.0


def test_float_op_output_takes_the_default_range(litert: object) -> None:
    """y = exp(relu(x)) in uint8: RELU runs in uint8, EXP has no uint8 kernel and stays float, and the uint8
    output y is EXP's output quantized on the default range."""
    g = Graph()
    x, h, y = (g.tensor(n, np.float32, (1, 16)) for n in "xhy")
    g.add_input(x)
    g.add_node("relu", [x], [h])
    g.add_node("exp", [h], [y])
    g.set_outputs([y])
    res = quantize_graph(g, QuantizeOptions(plan=PrecisionPlan.uniform(Precision.UINT8), weights_per_channel=False,
                                            input_dtype=FLOAT32, output_dtype=UINT8, default_range=(LO, HI)))
    assert [f.op for f in res.float_nodes] == ["exp"]
    p = activation_params(QuantRange.per_tensor(LO, HI, RangeSource.DEFAULT), UINT8)
    model = litert(write_tflite(g))  # type: ignore[operator]
    assert model.quantization("output") == (np.float32(p.scale[0]), p.zero_point[0])
    xs = np.random.default_rng(0).uniform(-3, 2, (64, 1, 16)).astype(np.float32)
    got = np.concatenate([model.run(v)[0] for v in xs]).astype(np.int32)
    # Exact math: x and relu(x) on the default grid (RELU keeps its input's scale), exp in float, rounded onto
    # the default grid, saturating at its ends (exp(2) = 7.4 > 6).
    s, zp = p.scale[0], p.zero_point[0]
    hq = np.maximum(np.clip(np.round(xs.reshape(64, 16) / s) + zp, 0, 255), zp)
    want = np.clip(np.round(np.exp((hq - zp) * s) / s) + zp, 0, 255)
    # LiteRT's QUANTIZE rounds float32 exp values half away from zero: at most one step apart at ties.
    assert np.max(np.abs(got - want)) <= 1
    assert np.mean(got == want) >= 0.99
    assert (got == 255).any() and (got < 255).any()  # the saturated end and the in-range values both occur
