"""Fake quantization (quantization-aware training graphs). Each fake quant follows another op: one straight from
a model input to an output cannot be bypassed today (Graph.bypass refuses to join an input to an output)."""

from __future__ import annotations

import numpy as np

from . import In, Probe

X = In((1, 4, 6), scale=2.0)
CH_MIN = np.linspace(-3, -1, 6).astype(np.float32)
CH_MAX = np.linspace(1, 3, 6).astype(np.float32)
FLOAT_GAP = ("qconvert's FLOAT conversion drops a fake quant on an activation (its range only serves INT8/uint8); "
             "TensorFlow keeps it as QUANTIZE + DEQUANTIZE")

PROBES: dict[str, Probe] = {
    "FakeQuantWithMinMaxArgs": Probe(
        lambda tf, x: tf.quantization.fake_quant_with_min_max_args(tf.nn.relu6(x), 0.0, 6.0), (X,),
        context=("RELU6",)),
    "FakeQuantWithMinMaxVars": Probe(
        lambda tf, x: tf.quantization.fake_quant_with_min_max_vars(tf.nn.relu6(x), 0.0, 6.0), (X,),
        context=("RELU6",), int8=True),
    "FakeQuantWithMinMaxVarsPerChannel": Probe(
        lambda tf, x: tf.quantization.fake_quant_with_min_max_vars_per_channel(tf.tanh(x) * 3.0, CH_MIN, CH_MAX),
        (X,), context=("MUL", "TANH"), float_gap=FLOAT_GAP),
    "QuantizeAndDequantizeV4": Probe(
        lambda tf, x: tf.raw_ops.QuantizeAndDequantizeV4(input=tf.tanh(x) * 3.0, input_min=-3.0, input_max=3.0,
                                                         range_given=True),
        (X,), context=("MUL", "TANH")),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}
