"""--target_sqnr: automatic mixed precision on trained models (tests/support/trained.py).

The representative dataset given to qconvert holds the task's calibration samples, and at the positions qconvert
holds out (every fifth) samples of the task's held-out split: what qconvert measures on is held-out data, never
calibrated on or trained on, and this test measures the same samples independently in LiteRT. The plain INT8
model is calibrated on the same calibration samples, so "INT8 SQNR + 6 dB" compares like with like."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli.main import main
from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.pipeline import ConversionResult, convert
from converter.quantize.mixed import held_out_indices
from tests.support.trained import trained

REPO = Path(__file__).resolve().parents[2]
CALIBRATION, HELD_OUT = 160, 40


@dataclass
class Case:
    name: str
    saved_model: Path
    representative: Path  # calibration samples, with held-out ones at the positions qconvert holds out
    calibration: Path  # the calibration samples alone
    held_out: np.ndarray
    float_out: np.ndarray  # the float model on held_out
    int8: bytes
    int8_sqnr: float


def _case(name: str, root: Path, litert: Any, sqnr: Any) -> Case:  # noqa: ANN401
    task = trained(name)
    task.model.export(str(root / "sm"), verbose=False)
    cal, held = task.calibration(CALIBRATION), task.held_out(HELD_OUT, seed=1)
    n = CALIBRATION + HELD_OUT
    at = np.zeros(n, bool)
    at[held_out_indices(n)] = True
    rep = np.empty((n, *cal.shape[1:]), cal.dtype)
    rep[at], rep[~at] = held, cal
    np.save(root / "rep.npy", rep)
    np.save(root / "cal.npy", cal)
    int8 = _convert(root / "sm", root / "cal.npy").tflite
    float_out = task.model.predict(held, verbose=0)
    return Case(name, root / "sm", root / "rep.npy", root / "cal.npy", held, float_out, int8,
                sqnr(float_out, litert(int8).run(held)[0]))


def _convert(saved_model: Path, dataset: Path, **kw: Any) -> ConversionResult:  # noqa: ANN401
    return convert(ConversionConfig(input_path=saved_model, output_path=saved_model.parent / "m.tflite",
                                    input_format=InputFormat.SAVED_MODEL, inference_type=InferenceType.INT8,
                                    inference_input_type=InferenceType.FLOAT, inference_output_type=InferenceType.FLOAT,
                                    representative_dataset=dataset, **kw))


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, litert: Any, sqnr: Any) -> dict[str, Case]:  # noqa: ANN401
    return {}


def _get(cases: dict[str, Case], name: str, tmp_path_factory: pytest.TempPathFactory, litert: Any,  # noqa: ANN401
         sqnr: Any) -> Case:  # noqa: ANN401
    if name not in cases:
        cases[name] = _case(name, tmp_path_factory.mktemp(f"target_{name}"), litert, sqnr)
    return cases[name]


# The digits CNN trains in seconds and its search measures ~40 small models; the other three (training 30-60 s
# each, the LSTM's search many more candidates) run with -m slow.
@pytest.mark.parametrize("name", ["digits", *(pytest.param(n, marks=pytest.mark.slow)
                                              for n in ("dwsep", "lstm", "transformer"))])
def test_int8_plus_6db_met_on_held_out_data(name: str, cases: dict[str, Case], tmp_path_factory: Any,  # noqa: ANN401
                                            litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    case = _get(cases, name, tmp_path_factory, litert, sqnr)
    target = case.int8_sqnr + 6.0
    res = _convert(case.saved_model, case.representative, target_sqnr=target)
    search = res.precision_search
    assert search is not None and search.met
    measured = sqnr(case.float_out, litert(res.tflite).run(case.held_out)[0])
    raised = {n: lp.precision.value for n, lp in res.quantization.plan.layers.items()  # type: ignore[union-attr]
              if lp.reason.startswith("--target_sqnr")}
    print(f"{name}: INT8 {case.int8_sqnr:.2f} dB -> target {target:.2f} dB: {measured:.2f} dB with {raised}; "
          f"file {len(res.tflite):,} vs INT8 {len(case.int8):,} bytes ({len(res.tflite) / len(case.int8):.3f}x); "
          f"{len(search.steps) - 1} steps, {search.measured} models measured in {search.seconds:.1f}s")
    # qconvert measured these very samples with the same LiteRT kernels: the same figure, but for its float
    # reference (the IR run in float32, not Keras: ~1e-6 relative apart, far below 0.01 dB of the noise).
    assert measured == pytest.approx(search.final_sqnr_db, abs=0.01)
    assert measured >= target
    assert len(res.tflite) <= 1.3 * len(case.int8)
    assert raised and search.steps[0].sqnr_db == pytest.approx(case.int8_sqnr, abs=0.01)
    sqnrs = [s.sqnr_db for s in search.steps]
    assert sqnrs == sorted(sqnrs)  # each step was taken for its gain


def test_int4_weights_raised_until_the_target(cases: dict[str, Case], tmp_path_factory: Any, litert: Any,  # noqa: ANN401
                                              sqnr: Any) -> None:  # noqa: ANN401
    """--target_sqnr with --weight_bits=4: starting from the int4-weight INT8 model, the search gives layers their
    8-bit weights back (or raises them further) until the held-out SQNR, measured here in LiteRT on the same
    held-out samples, reaches int4 + 6 dB; the file stays below the all-8-bit INT8 file (6 dB is one bit: the
    int4 layers with the most noise get 8 bits back, not the whole model)."""
    case = _get(cases, "digits", tmp_path_factory, litert, sqnr)
    int4 = _convert(case.saved_model, case.calibration, weight_bits=4).tflite
    int4_sqnr = sqnr(case.float_out, litert(int4).run(case.held_out)[0])
    target = int4_sqnr + 6.0
    res = _convert(case.saved_model, case.representative, weight_bits=4, target_sqnr=target)
    search = res.precision_search
    assert search is not None and search.met
    measured = sqnr(case.float_out, litert(res.tflite).run(case.held_out)[0])
    plan = res.quantization.plan  # type: ignore[union-attr]
    changed = {n: (lp.precision.value, lp.weight_bits) for n, lp in plan.layers.items()
               if lp.reason.startswith("--target_sqnr")}
    print(f"digits --weight_bits=4: {int4_sqnr:.2f} dB ({len(int4):,} B) -> target {target:.2f} dB: {measured:.2f} "
          f"dB with {changed}; file {len(res.tflite):,} B vs INT8 {len(case.int8):,} B ({case.int8_sqnr:.2f} dB)")
    # The int4 model's SQNR is the search's first step: the same samples, the same kernels.
    assert search.steps[0].sqnr_db == pytest.approx(int4_sqnr, abs=0.01)
    assert measured == pytest.approx(search.final_sqnr_db, abs=0.01)
    assert measured >= target
    assert changed and len(int4) < len(res.tflite) < len(case.int8)
    # Some layer still has int4 weights: the target was met without undoing --weight_bits=4 everywhere.
    layers = [n for n in res.graph.nodes if n.op in ("conv_2d", "depthwise_conv_2d", "fully_connected")]
    assert any(plan.of(n).weight_bits == 4 for n in layers), {n.name: plan.of(n) for n in layers}


def test_report_lists_the_steps_and_an_unreachable_target_exits_1(
        cases: dict[str, Case], tmp_path_factory: Any, tmp_path: Path, litert: Any, sqnr: Any,  # noqa: ANN401
        capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    case = _get(cases, "digits", tmp_path_factory, litert, sqnr)
    flags = [f"--saved_model_dir={case.saved_model}", "--inference_type=INT8", "--inference_input_type=FLOAT",
             "--inference_output_type=FLOAT", f"--representative_dataset={case.representative}"]
    out, rep = tmp_path / "m.tflite", tmp_path / "r.json"
    main([*flags, f"--output_file={out}", f"--report={rep}", f"--target_sqnr={case.int8_sqnr + 3:.2f}"])
    report = json.loads(rep.read_text())
    jsonschema.validate(report, json.loads((REPO / "docs" / "report-schema.json").read_text()))
    s = report["precision_search"]
    assert s["met"] and s["sqnr_db"] >= s["target_db"] and s["held_out_samples"] == HELD_OUT
    assert s["calibration_samples"] == CALIBRATION and len(s["steps"]) >= 2 and s["tflite_bytes"] == out.stat().st_size
    assert all(step["changed"] for step in s["steps"][1:]) and not s["steps"][0]["changed"]
    assert sqnr(case.float_out, litert(out.read_bytes()).run(case.held_out)[0]) == pytest.approx(s["sqnr_db"], abs=0.01)
    text = capsys.readouterr().out
    assert f"target SQNR {s['target_db']:g} dB: met" in text and "precision steps (--target_sqnr)" in text

    # 200 dB is out of reach: even with every layer float, LiteRT's float32 kernels differ from the reference's
    # float32 arithmetic by ~1e-7 relative (~140 dB).
    bad = tmp_path / "bad.tflite"
    with pytest.raises(SystemExit) as e:
        main([*flags, f"--output_file={bad}", "--target_sqnr=200"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.count("\n") == 1, err
    assert "--target_sqnr=200 dB not reached: " in err and "held-out samples" in err
    assert not bad.exists()


@pytest.mark.parametrize("flags, message", [
    (["--inference_type=INT16X8"], "--target_sqnr raises layers of an 8-bit model"),
    (["--inference_type=FLOAT"], "--target_sqnr raises layers of an 8-bit model"),
    (["--inference_type=INT8", "--target_sqnr=-3"], "--target_sqnr=-3.0: give the output SQNR to reach in dB"),
])
def test_target_sqnr_usage_errors(flags: list[str], message: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "d.npy", np.zeros((10, 8, 8, 1), np.float32))
    args = [f"--saved_model_dir={tmp_path}", f"--output_file={tmp_path / 'm.tflite'}", "--target_sqnr=40",
            f"--representative_dataset={tmp_path / 'd.npy'}", *flags]
    if flags[0] == "--inference_type=FLOAT":
        args.remove(f"--representative_dataset={tmp_path / 'd.npy'}")
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err, err
