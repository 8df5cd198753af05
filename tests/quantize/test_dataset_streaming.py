"""Calibration data is streamed (issue 15): every dataset kind yields exactly the samples numpy / PIL would load,
batch by batch, without loading the file whole (np.load is never called), and resident memory stays about one
batch while a large array is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converter.config import InputStats
from converter.quantize.dataset import InputSpec, load_dataset

SPEC = InputSpec("input", "input", np.dtype(np.float32), (1, 6, 5, 3))


@pytest.fixture
def no_np_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the dataset was loaded whole with np.load")

    monkeypatch.setattr(np, "load", refuse)


def _array(n: int, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(n).uniform(-3, 3, (n, 6, 5, 3)).astype(dtype)


@pytest.mark.parametrize("kind", ["npy", "npy-float64", "npy-fortran", "npz", "npz-compressed"])
def test_batches_are_the_arrays(kind: str, tmp_path: Path, no_np_load: None) -> None:
    a = _array(23, np.float64 if kind == "npy-float64" else np.float32)
    if kind == "npy-fortran":
        a = np.asfortranarray(a)
    if kind.startswith("npy"):
        path = tmp_path / "cal.npy"
        np.save(path, a)
    else:
        path = tmp_path / "cal.npz"
        (np.savez_compressed if kind == "npz-compressed" else np.savez)(path, other=np.arange(3), input=a)
    data = load_dataset(path, [SPEC], ())
    assert data.num_samples == 23
    got = list(data.batches(5))
    assert [b[0].shape[0] for b in got] == [5, 5, 5, 5, 3]
    assert all(b[0].dtype == np.float32 and b[0].flags.c_contiguous for b in got)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), a.astype(np.float32))
    np.testing.assert_array_equal(data.head(7)[0], a[:7].astype(np.float32))
    # A second pass (and a limited one) read the same samples again.
    limited = load_dataset(path, [SPEC], (), max_samples=8)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in limited.batches(3)]), a[:8].astype(np.float32))
    # A selection (the halves range selection calibrates on, --target_sqnr's fifths) reads the same rows, streamed.
    for idx in (np.arange(11), np.arange(11, 23), np.setdiff1d(np.arange(23), np.arange(4, 23, 5)),
                np.arange(4, 23, 5), np.array([], np.int64)):
        part = data.select(idx)
        assert part.num_samples == idx.size
        got = [b[0] for b in part.batches(4)]
        np.testing.assert_array_equal(np.concatenate(got) if got else np.empty((0, 6, 5, 3), np.float32),
                                      a[idx].astype(np.float32))
        np.testing.assert_array_equal(part.head(3)[0], a[idx[:3]].astype(np.float32))


def test_images_are_decoded_batch_by_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    rng = np.random.default_rng(3)
    pixels = [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(7)]
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(tmp_path / f"{i:02d}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    opened: list[str] = []
    real_open = Image.open

    def counting(f: object, *a: object, **kw: object) -> object:
        opened.append(Path(str(f)).name)
        return real_open(f, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", counting)
    data = load_dataset(tmp_path, [SPEC], (InputStats(127.5, 127.5),))
    assert data.num_samples == 7 and opened == []  # nothing decoded up front
    first = next(iter(data.batches(3)))[0]
    assert opened == ["00.png", "01.png", "02.png"]
    want = (np.stack(pixels).astype(np.float32) - 127.5) / 127.5  # the same size: resizing changes nothing
    np.testing.assert_allclose(first, want[:3], rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([b[0] for b in data.batches(3)]), want, rtol=0, atol=1e-6)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.parametrize("kind", ["npy", "npz", "npz-compressed"])
def test_memory_stays_at_a_batch(kind: str, tmp_path: Path) -> None:
    """64 MiB of samples checked, then read in 1 MiB batches: resident memory grows by a few chunks at most (loading
    the array would add 64 MiB). Memory-mapped pages are handed back after each batch; compressed members stream."""
    spec = InputSpec("input", "input", np.dtype(np.float32), (1, 256, 256, 4))  # 1 MiB per sample
    a = np.ones((64, 256, 256, 4), np.float32)
    path = tmp_path / ("cal.npy" if kind == "npy" else "cal.npz")
    if kind == "npy":
        np.save(path, a)
    else:
        (np.savez_compressed if kind == "npz-compressed" else np.savez)(path, input=a)
    del a
    before = _rss_mib()
    data = load_dataset(path, [spec], ())  # streams over the data once to check it
    peak = _rss_mib()
    total = 0.0
    for (batch,) in data.batches(1):
        total += float(batch[0, 0, 0, 0])
        peak = max(peak, _rss_mib())
    assert total == 64
    assert peak - before < 24, f"resident memory grew by {peak - before:.0f} MiB reading 64 MiB in 1 MiB batches"
