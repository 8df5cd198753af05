"""Issue 11's fusion acceptance, against TensorFlow's converter on the same trained Keras models and data:
a PReLU layer is one PRELU op (shared axes too), a dilated convolution one CONV_2D / DEPTHWISE_CONV_2D with
dilation; FLOAT matches TensorFlow's model, INT8 SQNR on held-out digits is at least TensorFlow's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.inspect_model import describe
from converter.pipeline import convert
from tests.support.keras_models import digits_data, digits_dilated, digits_prelu

BUILDERS = {"prelu": digits_prelu, "dilated": digits_dilated}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    root: Path = tmp_path_factory.mktemp("fusions")
    x, _ = digits_data()
    cal, held_out = x[:200], x[1400:]  # calibration from the training digits; evaluation on the held-out ones
    np.save(root / "cal.npy", cal)
    out = {}
    for name, build in BUILDERS.items():
        model = build()
        sm = root / name
        model.export(str(sm), verbose=False)

        def ours(mode: InferenceType, sm: Path = sm, name: str = name) -> bytes:
            quant = {} if mode is InferenceType.FLOAT else {
                "representative_dataset": root / "cal.npy", "inference_input_type": InferenceType.FLOAT,
                "inference_output_type": InferenceType.FLOAT}
            return convert(ConversionConfig(input_path=sm, output_path=root / f"{name}.tflite", inference_type=mode,
                                            input_format=InputFormat.SAVED_MODEL, **quant)).tflite

        conv = tf.lite.TFLiteConverter.from_saved_model(str(sm))
        tf_float = conv.convert()
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([cal[i:i + 1]] for i in range(len(cal)))
        out[name] = {"float": ours(InferenceType.FLOAT), "int8": ours(InferenceType.INT8), "tf_float": tf_float,
                     "tf_int8": conv.convert(), "x": held_out, "ref": np.asarray(model.predict(held_out, verbose=0))}
    return out


def _ops(model: bytes) -> list[Any]:
    return describe(model).subgraphs[0].operators


def test_prelu_is_one_op_per_layer(models: dict[str, Any]) -> None:
    for kind in ("float", "int8"):
        counts = describe(models["prelu"][kind]).op_counts
        assert counts.get("PRELU") == 4, f"{kind}: {counts}"
        assert not {"RELU", "NEG", "SUB"} & set(counts), f"{kind}: {counts}"
    assert describe(models["prelu"]["tf_int8"]).op_counts.get("PRELU") == 4


def test_dilated_conv_is_one_op(models: dict[str, Any]) -> None:
    for kind in ("float", "int8"):
        ops = _ops(models["dilated"][kind])
        names = [o.op for o in ops]
        assert "SPACE_TO_BATCH_ND" not in names and "BATCH_TO_SPACE_ND" not in names, names
        convs = [o for o in ops if o.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
        assert [o.op for o in convs] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"], names
        for o in convs:
            assert (o.options["dilation_h_factor"], o.options["dilation_w_factor"]) == (2, 2), o.options


@pytest.mark.parametrize("name", list(BUILDERS))
def test_float_matches_tensorflow(name: str, models: dict[str, Any], litert: Any) -> None:  # noqa: ANN401
    m = models[name]
    ours, theirs = litert(m["float"]).run(m["x"])[0], litert(m["tf_float"]).run(m["x"])[0]
    # Both compute the same float32 network; the order of accumulation differs (dilated conv vs. space-to-batch
    # phases, PRELU vs. relu/neg/mul/add), so allow 1e-5 of the logits' magnitude.
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * float(np.abs(theirs).max()))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_int8_sqnr_at_least_tensorflows(name: str, models: dict[str, Any], litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    m = models[name]
    s_ours = sqnr(m["ref"], litert(m["int8"]).run(m["x"])[0])
    s_tf = sqnr(m["ref"], litert(m["tf_int8"]).run(m["x"])[0])
    print(f"{name} INT8 SQNR on {len(m['x'])} held-out digits: qconvert {s_ours:.2f} dB, TensorFlow {s_tf:.2f} dB")
    assert s_ours >= s_tf
