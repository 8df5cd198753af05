"""Small models the bad-input tests start from, built once per session: a conv + matmul GraphDef, its
calibration data and float .tflite, and a one-variable SavedModel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.errors._flag_sweep import make_files, replay
from tests.errors._support import Models, build_graph_def


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> Models:  # noqa: ANN401
    from converter.config import ConversionConfig
    from converter.pipeline import convert

    root = tmp_path_factory.mktemp("error_models")
    gd = build_graph_def(tf)
    graph = root / "model.pb"
    graph.write_bytes(gd.SerializeToString())
    calibration = root / "calibration.npy"
    np.save(calibration, np.random.RandomState(1).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32))
    tflite = root / "model.tflite"
    tflite.write_bytes(convert(ConversionConfig(input_path=graph, output_path=tflite)).tflite)

    class Tiny(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2))

        @tf.function(input_signature=[tf.TensorSpec([1, 3], tf.float32, name="x")])
        def __call__(self, x: Any) -> dict[str, Any]:  # noqa: ANN401
            return {"y": tf.nn.relu(tf.matmul(x, self.w))}

    saved_model = root / "saved_model"
    tf.saved_model.save(Tiny(), str(saved_model))
    return Models(graph, gd, calibration, tflite, saved_model)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def files(models: Models, tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Path]:  # noqa: ANN401
    """The flag sweeps' inputs (test_flag_matrix, test_flag_cover): ``_flag_sweep.make_files``."""
    return make_files(models, tmp_path_factory.mktemp("matrix"), tf)


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flag sweeps' runs replay the stages that do not depend on the flags swept (``_flag_sweep.replay``)."""
    replay(monkeypatch)
