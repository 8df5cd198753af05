"""Issue 4 acceptance: post-training quantization from a representative dataset, against TensorFlow's converter
on the same models and data, checked in LiteRT (and TFLite Micro for int8)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.keras_models import mobilenet_v2, sample_images
from tests.support.trained import trained


@dataclass
class Case:
    name: str
    saved_model: Path
    calibration: Path  # .npy of calibration samples
    cal_data: np.ndarray
    eval_x: np.ndarray
    eval_float: np.ndarray  # float model outputs on eval_x
    eval_y: np.ndarray | None = None


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Case]:  # noqa: ANN401
    root = tmp_path_factory.mktemp("ptq")
    out: dict[str, Case] = {}
    digits = trained("digits")
    digits.model.export(str(root / "digits"), verbose=False)
    np.save(root / "digits_cal.npy", digits.calibration(200))
    out["digits"] = Case("digits", root / "digits", root / "digits_cal.npy", digits.calibration(200), digits.x_held_out,
                         digits.model.predict(digits.x_held_out, verbose=0), digits.y_held_out)
    mnv2 = mobilenet_v2(96, 0.35)
    mnv2.export(str(root / "mnv2"), verbose=False)
    cal = sample_images(48, 96, seed=1)
    np.save(root / "mnv2_cal.npy", cal)
    ev = sample_images(16, 96, seed=2)
    out["mobilenet_v2"] = Case("mobilenet_v2", root / "mnv2", root / "mnv2_cal.npy", cal, ev,
                               mnv2.predict(ev, verbose=0))
    return out


def _ours(case: Case, tmp: Path, **kw: Any) -> Any:  # noqa: ANN401
    from converter.config import ConversionConfig, InferenceType, InputFormat
    from converter.pipeline import convert

    kw.setdefault("inference_type", InferenceType.INT8)
    if kw["inference_type"] is not InferenceType.FLOAT:
        kw.setdefault("representative_dataset", case.calibration)
        kw.setdefault("inference_input_type", InferenceType.FLOAT)
        kw.setdefault("inference_output_type", InferenceType.FLOAT)
    return convert(ConversionConfig(input_path=case.saved_model, output_path=tmp / "m.tflite",
                                    input_format=InputFormat.SAVED_MODEL, **kw))


def _tensorflow_int8(case: Case, tf: Any) -> bytes:  # noqa: ANN401
    conv = tf.lite.TFLiteConverter.from_saved_model(str(case.saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([case.cal_data[i:i + 1]] for i in range(len(case.cal_data)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return conv.convert()


@pytest.fixture(scope="module")
def int8_models(cases: dict[str, Case], tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, bytes]]:  # noqa: ANN401
    tmp = tmp_path_factory.mktemp("int8")
    return {name: (_ours(c, tmp).tflite, _tensorflow_int8(c, tf)) for name, c in cases.items()}


@pytest.mark.parametrize("name", ["digits", "mobilenet_v2"])
def test_int8_sqnr_at_least_tensorflow(name: str, cases: dict[str, Case], int8_models: dict[str, tuple[bytes, bytes]],
                                       litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    case = cases[name]
    ours_bytes, tf_bytes = int8_models[name]
    ours = litert(ours_bytes).run(case.eval_x)[0]
    theirs = litert(tf_bytes).run(case.eval_x)[0]
    s_ours, s_tf = sqnr(case.eval_float, ours), sqnr(case.eval_float, theirs)
    print(f"{name} INT8 minmax: SQNR qconvert {s_ours:.2f} dB, TensorFlow {s_tf:.2f} dB; "
          f"size {len(ours_bytes):,} vs {len(tf_bytes):,} bytes")
    # Both converters quantize the same trained (or BN-calibrated) model on the same data in this run: the margin
    # compares the converters, whatever weights training produced on this machine.
    assert s_ours >= s_tf - 0.5
    assert len(ours_bytes) <= len(tf_bytes)


def test_digits_accuracy_drop_at_most_one_point(cases: dict[str, Case], int8_models: dict[str, tuple[bytes, bytes]],
                                                litert: Any) -> None:  # noqa: ANN401
    case = cases["digits"]
    ours = litert(int8_models["digits"][0]).run(case.eval_x)[0]
    acc_float = float(np.mean(case.eval_float.argmax(1) == case.eval_y))
    acc_int8 = float(np.mean(ours.argmax(1) == case.eval_y))
    print(f"digits accuracy: float {100 * acc_float:.2f}%, INT8 {100 * acc_int8:.2f}% on {len(case.eval_y)} images")
    # The digits task (tests/support/trained.py: seeded, op determinism; fixed threads: tests/conftest.py) reaches
    # ~92% on its 397 held-out digits, well above 85%. int8 with per-channel weights moves a few logits by a few
    # LSBs of the 1/256 softmax step: it flips at most a couple of the near-tie images (a point is 4 images).
    assert acc_float > 0.85
    assert acc_float - acc_int8 <= 0.01


@pytest.mark.parametrize("name", ["digits", "mobilenet_v2"])
def test_int8_runs_in_tflite_micro(name: str, cases: dict[str, Case], int8_models: dict[str, tuple[bytes, bytes]],
                                   litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    """TFLite Micro's reference kernels round differently from LiteRT's optimized ones (TensorFlow's own int8
    model differs between the two runtimes by as much), so the check is accuracy against the float model."""
    from tflite_micro.python.tflite_micro import runtime

    case = cases[name]
    model = int8_models[name][0]
    n = 32 if name == "digits" else 16
    x = case.eval_x[:n]
    micro = runtime.Interpreter.from_bytes(model, arena_size=16 << 20)
    outs = []
    for i in range(n):
        micro.set_input(x[i:i + 1], 0)
        micro.invoke()
        outs.append(np.array(micro.get_output(0)))
    out_micro = np.concatenate(outs)
    out_lite = litert(model).run(x)[0]
    s_micro, s_lite = sqnr(case.eval_float[:n], out_micro), sqnr(case.eval_float[:n], out_lite)
    agree = float(np.mean(out_micro.argmax(1) == out_lite.argmax(1)))
    print(f"{name} INT8 in TFLite Micro: SQNR {s_micro:.2f} dB (LiteRT {s_lite:.2f} dB), argmax agreement {agree:.2f}")
    assert out_micro.shape == out_lite.shape
    assert s_micro >= s_lite - 2.0
    if name == "digits":  # a trained classifier; random-weight MobileNetV2's near-uniform argmax means nothing
        assert agree >= 0.95


@pytest.mark.parametrize("name", ["digits", "mobilenet_v2"])
def test_uint8_ptq_within_1db_of_int8(name: str, cases: dict[str, Case], int8_models: dict[str, tuple[bytes, bytes]],
                                      litert: Any, sqnr: Any, tmp_path: Path) -> None:  # noqa: ANN401
    from converter.config import InferenceType

    case = cases[name]
    res = _ours(case, tmp_path, inference_type=InferenceType.QUANTIZED_UINT8)
    m = litert(res.tflite)
    assert m.inputs[0]["dtype"] == np.float32
    out_u8 = m.run(case.eval_x)[0]
    out_i8 = litert(int8_models[name][0]).run(case.eval_x)[0]
    s_u8, s_i8 = sqnr(case.eval_float, out_u8), sqnr(case.eval_float, out_i8)
    print(f"{name}: QUANTIZED_UINT8 SQNR {s_u8:.2f} dB, INT8 {s_i8:.2f} dB")
    assert s_u8 >= s_i8 - 1.0


@pytest.mark.parametrize("name", ["digits", "mobilenet_v2"])
def test_weight_only_modes(name: str, cases: dict[str, Case], litert: Any, sqnr: Any, tf: Any,  # noqa: ANN401
                           tmp_path: Path) -> None:
    """Dynamic range ~4x and float16 ~2x smaller than float (less on small models, whose biases and sub-1024
    element weights stay float): at least as small as TensorFlow's converter makes them, and accurate."""
    from converter.config import InferenceType

    case = cases[name]
    flt = _ours(case, tmp_path, inference_type=InferenceType.FLOAT).tflite
    dyn = _ours(case, tmp_path, inference_type=InferenceType.FLOAT, post_training_quantize=True).tflite
    f16 = _ours(case, tmp_path, inference_type=InferenceType.FLOAT, quantize_to_float16=True).tflite
    s_dyn = sqnr(case.eval_float, litert(dyn).run(case.eval_x)[0])
    s_f16 = sqnr(case.eval_float, litert(f16).run(case.eval_x)[0])

    def tf_convert(**opts: Any) -> bytes:  # noqa: ANN401
        conv = tf.lite.TFLiteConverter.from_saved_model(str(case.saved_model))
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if opts.get("fp16"):
            conv.target_spec.supported_types = [tf.float16]
        return conv.convert()

    tf_dyn, tf_f16 = tf_convert(), tf_convert(fp16=True)
    print(f"{name}: float {len(flt):,} B; dynamic range {len(dyn):,} B ({len(flt) / len(dyn):.2f}x smaller; "
          f"TF {len(tf_dyn):,} B), SQNR {s_dyn:.1f} dB; float16 {len(f16):,} B ({len(flt) / len(f16):.2f}x "
          f"smaller; TF {len(tf_f16):,} B), SQNR {s_f16:.1f} dB")
    assert s_f16 > 40
    assert s_dyn > 20
    assert len(flt) / len(f16) >= 1.8 and len(f16) <= len(tf_f16)
    assert len(flt) / len(dyn) >= 2.5 and len(dyn) <= len(tf_dyn)
