"""Issue 5: the model zoo converts in every mode and runs in LiteRT. One row per model; rows outside the default
run are marked slow, each with its reason (run them with `pytest -m slow tests/models/test_zoo.py`).

FLOAT matches TensorFlow within 1e-4 (relative to the output's magnitude); INT8 has SQNR >= TensorFlow's
converter's - 1 dB on the same calibration data; QUANTIZED_UINT8 runs in LiteRT for every CNN."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.zoo import ZOO, ZooModel
from tests.support.zoo_runner import convert_row

ROWS = [pytest.param(m, id=m.name) if m.default else
        pytest.param(m, id=m.name, marks=pytest.mark.slow(reason=m.why_slow)) for m in ZOO]


@pytest.mark.parametrize("zm", ROWS)
def test_zoo_model(zm: ZooModel, tmp_path: Path, tf: Any) -> None:  # noqa: ANN401
    row = convert_row(zm, tmp_path)
    print(f"{zm.name}: float max rel err {row.float_max_rel:.2e}; INT8 SQNR {row.int8_sqnr:.2f} dB vs TensorFlow "
          f"{row.tf_int8_sqnr:.2f} dB; uint8 SQNR {row.uint8_sqnr}; float ops in INT8: {row.float_fallback}; "
          f"sizes float {row.float_bytes:,} B, int8 {row.int8_bytes:,} B (TF {row.tf_int8_bytes:,} B); {row.errors}")
    assert row.float_max_rel <= 1e-4
    assert "tensorflow_int8" not in row.errors
    assert row.int8_sqnr >= row.tf_int8_sqnr - 1.0
    assert row.int8_bytes <= row.tf_int8_bytes * 1.02
    if zm.kind == "cnn":
        assert row.uint8_sqnr is not None and row.uint8_sqnr >= row.int8_sqnr - 3.0
    recorded = json.loads((Path(__file__).resolve().parents[2] / "docs" / "zoo.json").read_text())
    for name in zm.stands_in_for:  # a default row standing in for slow ones has every op they have, TF and TFLite
        for kind, ops in (("tf_ops", row.tf_ops), ("tflite_ops", row.tflite_ops)):
            missing = set(recorded[name][kind]) - set(ops)
            assert not missing, f"{zm.name} does not cover {name}'s {kind} {sorted(missing)}"
