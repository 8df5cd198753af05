"""Representative datasets: .npz (one array per input), .npy (one input), or a directory of images.

The first axis is samples. Arrays are loaded with ``allow_pickle=False``; anything that does not fit the model's
inputs (names, shapes, dtypes, NaN/Inf, no samples) is a CalibrationError naming the input and what differs.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import InputStats
from ..errors import CalibrationError
from ..ir import Tensor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class InputSpec:
    """What the dataset must provide for one model input."""

    name: str  # the graph input's tensor name
    signature_name: str
    dtype: np.dtype
    shape: tuple[int, ...]  # including the batch dimension (1)


@dataclass(frozen=True)
class Dataset:
    """Validated calibration samples, one array per model input (same order as the graph inputs)."""

    arrays: tuple[np.ndarray, ...]
    source: str

    @property
    def num_samples(self) -> int:
        return int(self.arrays[0].shape[0])


def specs_for(inputs: Sequence[Tensor], signature_names: Sequence[str]) -> list[InputSpec]:
    names = list(signature_names) if len(signature_names) == len(inputs) else [t.name for t in inputs]
    return [InputSpec(t.name, n, t.dtype, t.shape) for t, n in zip(inputs, names, strict=True)]


def load_dataset(path: Path, specs: Sequence[InputSpec], stats: Sequence[InputStats],
                 max_samples: int | None = None) -> Dataset:
    """Load and validate the representative dataset at ``path`` for a model with inputs ``specs``."""
    if not path.exists():
        raise CalibrationError(f"representative dataset {path} does not exist; check --representative_dataset")
    if path.is_dir():
        arrays = [_load_images(path, specs, stats)]
    elif path.suffix == ".npz":
        arrays = _load_npz(path, specs)
    elif path.suffix == ".npy":
        arrays = [_load_npy(path, specs)]
    else:
        raise CalibrationError(
            f"representative dataset {path}: unknown kind {path.suffix or '(no suffix)'}; give a .npz (one array "
            "per input, keyed by input name), a .npy (single input) or a directory of images"
        )
    arrays = [_check(a, s, path) for a, s in zip(arrays, specs, strict=True)]
    counts = {a.shape[0] for a in arrays}
    if len(counts) != 1:
        listed = ", ".join(f"{s.signature_name}: {a.shape[0]}" for a, s in zip(arrays, specs, strict=True))
        raise CalibrationError(f"representative dataset {path}: inputs have different sample counts ({listed})")
    if max_samples is not None:
        arrays = [a[:max_samples] for a in arrays]
    return Dataset(tuple(arrays), str(path))


def _load_npy(path: Path, specs: Sequence[InputSpec]) -> np.ndarray:
    if len(specs) != 1:
        raise CalibrationError(
            f"representative dataset {path} is a .npy (one array) but the model has {len(specs)} inputs "
            f"({', '.join(s.signature_name for s in specs)}); use a .npz with one array per input name"
        )
    return _np_load(path)


def _np_load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CalibrationError(
                f"representative dataset {path} holds pickled Python objects, which are never loaded; save plain "
                "numeric arrays (np.save / np.savez)"
            ) from None
        raise CalibrationError(
            f"representative dataset {path} is not a valid .npy file ({_one_line(e)}); save it with np.save"
        ) from None
    except EOFError:
        raise CalibrationError(
            f"representative dataset {path} is not a valid .npy file (empty or truncated); save it with np.save"
        ) from None
    except OSError as e:
        raise CalibrationError(
            f"cannot read representative dataset {path} ({_one_line(e)}); check the file and its permissions"
        ) from None


def _load_npz(path: Path, specs: Sequence[InputSpec]) -> list[np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise CalibrationError(
            f"representative dataset {path} is not a valid .npz archive ({_one_line(e)}); save it with np.savez"
        ) from None
    with archive:
        keys = list(archive.files)
        if not keys:
            raise CalibrationError(f"representative dataset {path} holds no arrays")
        out = []
        for spec in specs:
            key = next((k for k in (spec.signature_name, spec.name) if k in keys), None)
            if key is None and len(specs) == 1 and len(keys) == 1:
                key = keys[0]
            if key is None:
                raise CalibrationError(
                    f"representative dataset {path} has no array for input {spec.signature_name!r} (it has: "
                    f"{', '.join(keys)}); key each array by its input name"
                )
            try:
                out.append(archive[key])
            except ValueError as e:
                if "pickle" not in str(e).lower():
                    raise CalibrationError(
                        f"representative dataset {path}: array {key!r} is not a valid array ({_one_line(e)}); "
                        "save it again with np.savez"
                    ) from None
                raise CalibrationError(
                    f"representative dataset {path}: array {key!r} holds pickled Python objects, which are never "
                    "loaded; save plain numeric arrays"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile) as e:
                raise CalibrationError(
                    f"representative dataset {path}: array {key!r} cannot be read ({_one_line(e)}); the archive "
                    "is corrupt, save it again with np.savez"
                ) from None
    return out


def _load_images(path: Path, specs: Sequence[InputSpec], stats: Sequence[InputStats]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if len(specs) != 1:
        raise CalibrationError(
            f"a directory of images calibrates a single-input model; this one has {len(specs)} inputs: use a .npz"
        )
    spec = specs[0]
    if len(spec.shape) != 4 or spec.shape[3] not in (1, 3):
        raise CalibrationError(
            f"input {spec.signature_name!r} has shape {list(spec.shape)}, not an image (NHWC with 1 or 3 channels); "
            "use a .npz/.npy dataset"
        )
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CalibrationError(f"representative dataset directory {path} has no .jpg/.png/.bmp images")
    _, h, w, c = spec.shape
    mean, std = (stats[0].mean, stats[0].std) if stats else (0.0, 1.0)
    out = np.empty((len(files), h, w, c), dtype=np.float32)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as img:
                img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
                pixels = np.asarray(img, dtype=np.float32)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
            raise CalibrationError(
                f"cannot decode image {f} ({_one_line(e)}); remove it from the dataset directory"
            ) from None
        out[i] = ((pixels - mean) / std).reshape(h, w, c)
    return out


def _check(a: np.ndarray, spec: InputSpec, path: Path) -> np.ndarray:
    where = f"representative dataset {path}, input {spec.signature_name!r}"
    if a.dtype.kind not in "biuf":
        raise CalibrationError(f"{where}: dtype {a.dtype} is not numeric; save int or float arrays")
    # Samples stand on the batch axis of a batch-1 input ([N, ...], or [N, 1, ...]); an input of another batch size
    # or a scalar takes whole values, one per sample ([N, *shape]).
    whole = not spec.shape or spec.shape[0] != 1
    want = tuple(spec.shape) if whole else spec.shape[1:]
    if not whole and a.ndim == len(spec.shape) + 1 and tuple(a.shape[1:]) == tuple(spec.shape):
        a = a.reshape(a.shape[0], *want)
    if whole:
        if a.ndim != len(want) + 1 or tuple(a.shape[1:]) != want:
            raise CalibrationError(
                f"{where}: the input has shape {list(want)}; give one whole value per sample, an array of shape "
                f"[N{''.join(f', {d}' for d in want)}] (got {list(a.shape)})"
            )
    elif a.ndim == len(spec.shape) - 1 and tuple(a.shape) == want:
        raise CalibrationError(
            f"{where}: array has shape {list(a.shape)}, one sample without the samples axis; stack samples along "
            f"a first axis: [N, {', '.join(map(str, want))}]"
        )
    elif a.ndim != len(spec.shape) or tuple(a.shape[1:]) != want:
        raise CalibrationError(
            f"{where}: samples have shape {list(a.shape[1:])} but the model expects {list(want)} "
            f"(array shape {list(a.shape)}; first axis = samples)"
        )
    if a.shape[0] == 0:
        raise CalibrationError(f"{where}: no samples (the first axis is empty)")
    if spec.dtype.kind == "f":
        if a.dtype.kind == "f":
            bad = int(np.count_nonzero(~np.isfinite(a)))
            if bad:
                raise CalibrationError(f"{where}: {bad} value(s) are NaN or Inf; clean the data")
        with np.errstate(over="ignore"):
            out = a.astype(spec.dtype, copy=False)
        bad = int(np.count_nonzero(~np.isfinite(out)))
        if bad:
            raise CalibrationError(
                f"{where}: {bad} value(s) overflow {spec.dtype} (largest {float(np.max(np.abs(a))):g}); "
                f"scale the data into the range the model takes"
            )
        return out
    if a.dtype.kind == "f":
        raise CalibrationError(f"{where}: float data for an integer input ({spec.dtype}); save {spec.dtype} arrays")
    info = np.iinfo(spec.dtype) if spec.dtype.kind in "iu" else None
    if info is not None and a.size and (int(a.min()) < info.min or int(a.max()) > info.max):
        raise CalibrationError(
            f"{where}: values span [{int(a.min())}, {int(a.max())}], outside {spec.dtype}'s "
            f"[{info.min}, {info.max}]; save {spec.dtype} arrays"
        )
    return a.astype(spec.dtype, copy=False)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__
