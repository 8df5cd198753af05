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
        (X,), context=("MUL", "TANH"), int8=True),
    # V2: V4 without its gradient; V3 takes num_bits as a tensor (TensorFlow's converter fails on V3).
    "QuantizeAndDequantizeV2": Probe(
        lambda tf, x: tf.raw_ops.QuantizeAndDequantizeV2(input=tf.tanh(x) * 3.0, input_min=-2.0, input_max=2.5,
                                                         range_given=True),
        (X,), context=("MUL", "TANH")),
    "QuantizeAndDequantizeV3": Probe(
        lambda tf, x: tf.raw_ops.QuantizeAndDequantizeV3(input=tf.tanh(x) * 3.0, input_min=-2.6, input_max=1.5,
                                                         num_bits=8, range_given=True),
        (X,), context=("MUL", "TANH")),
}


def _qdq(**kw):  # noqa: ANN003, ANN202
    return lambda tf, x: tf.raw_ops.QuantizeAndDequantizeV4(input=tf.tanh(x) * 3.0, **kw)


VARIANTS: dict[str, tuple[Probe, ...]] = {
    "QuantizeAndDequantizeV4": (
        # narrow_range: codes -127..127 (a MAXIMUM clamps below); TensorFlow's converter ignores it (0.48 off).
        Probe(_qdq(input_min=-2.0, input_max=2.5, range_given=True, narrow_range=True), (X,), name="narrow"),
        Probe(_qdq(input_min=0.0, input_max=2.0, range_given=True, signed_input=False), (X,), slow=True,
              name="unsigned"),
        Probe(_qdq(input_min=-3.0, input_max=3.0, range_given=True, round_mode="HALF_UP"), (X,), slow=True,
              name="half_up"),
        Probe(_qdq(input_min=-3.0, input_max=3.0, range_given=False), (X,), name="range_at_run_time",
              refuse=r"range_given=False takes the range from each input at run time"),
        Probe(_qdq(input_min=-3.0, input_max=3.0, range_given=True, num_bits=4), (X,), slow=True, name="4_bits",
              refuse=r"num_bits=4: only 8-bit"),
    ),
}
