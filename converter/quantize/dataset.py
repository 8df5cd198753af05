"""Representative datasets: .npz (one array per input), .npy (one input), or a directory of images.

The first axis is samples. Nothing is loaded whole: calibration reads the data batch by batch (``Dataset.batches``),
so memory does not grow with the number of samples.

* .npy, and .npz members stored uncompressed (``np.savez``): memory-mapped at the array's offset in the file; the
  pages of each batch are handed back to the OS once it is read (``_MappedArray``).
* .npz members stored compressed (``np.savez_compressed``): decompressed as a stream, batch by batch.
* image directories: decoded, resized and normalized with --mean_values/--std_dev_values one batch at a time.

Arrays are read from their .npy headers without ever unpickling (an object dtype is refused). Anything that does not
fit the model's inputs (names, shapes, dtypes, NaN/Inf, no samples) is a CalibrationError naming the input and what
differs; the data checks stream over the arrays before calibration starts.
"""

from __future__ import annotations

import mmap
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from ..config import InputStats
from ..errors import CalibrationError
from ..ir import Tensor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# Rows read per step while checking or converting the data (bounded memory whatever the array's size).
_CHUNK_BYTES = 4 * 2**20


@dataclass(frozen=True)
class InputSpec:
    """What the dataset must provide for one model input."""

    name: str  # the graph input's tensor name
    signature_name: str
    dtype: np.dtype
    shape: tuple[int, ...]  # including the batch dimension (1)


class _Source(Protocol):
    """One input's samples: shape and dtype known up front, rows read in order."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def rows(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Dataset:
    """Validated calibration samples, one source per model input (same order as the graph inputs), read in
    batches."""

    sources: tuple[_Source, ...]
    dtypes: tuple[np.dtype, ...]  # what each model input takes
    samples: tuple[tuple[int, ...], ...]  # the shape of one sample of each input (rows are reshaped to it)
    num_samples: int
    source: str

    def batches(self, size: int) -> Iterator[list[np.ndarray]]:
        """``size`` samples at a time (the last batch may be smaller), one array per input (first axis = samples),
        in the input's dtype."""
        for start in range(0, self.num_samples, size):
            yield self._rows(start, min(start + size, self.num_samples))

    def select(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """The samples at ``indices`` (increasing) as a dataset that still reads its rows batch by batch: halves of
        the data, every fifth sample, without reading the rest (nothing is loaded whole)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= self.num_samples):
            raise ValueError("select() takes increasing sample indices within the dataset")
        return replace(self, sources=tuple(_Selected(src, idx) for src in self.sources), num_samples=int(idx.size))

    @classmethod
    def in_memory(cls, arrays: Sequence[np.ndarray], source: str) -> Dataset:
        """A dataset of arrays already in memory (first axis = samples), in the inputs' dtypes."""
        return cls(tuple(_InMemory(a) for a in arrays), tuple(a.dtype for a in arrays),
                   tuple(tuple(a.shape[1:]) for a in arrays), int(arrays[0].shape[0]), source)

    def head(self, n: int) -> list[np.ndarray]:
        """The first ``n`` samples of every input (``--debug_layers``)."""
        return self._rows(0, min(n, self.num_samples))

    def _rows(self, start: int, stop: int) -> list[np.ndarray]:
        out = []
        for src, dt, shape in zip(self.sources, self.dtypes, self.samples, strict=True):
            with np.errstate(over="ignore"):
                out.append(np.ascontiguousarray(src.rows(start, stop), dtype=dt).reshape(stop - start, *shape))
        return out


def specs_for(inputs: Sequence[Tensor], signature_names: Sequence[str]) -> list[InputSpec]:
    names = list(signature_names) if len(signature_names) == len(inputs) else [t.name for t in inputs]
    return [InputSpec(t.name, n, t.dtype, t.shape) for t, n in zip(inputs, names, strict=True)]


def load_dataset(path: Path, specs: Sequence[InputSpec], stats: Sequence[InputStats],
                 max_samples: int | None = None) -> Dataset:
    """Open and validate the representative dataset at ``path`` for a model with inputs ``specs``."""
    if not path.exists():
        raise CalibrationError(f"representative dataset {path} does not exist; check --representative_dataset")
    if path.is_dir():
        sources: list[_Source] = [_images(path, specs, stats)]
    elif path.suffix == ".npz":
        sources = _npz(path, specs)
    elif path.suffix == ".npy":
        sources = [_npy(path, specs)]
    else:
        raise CalibrationError(
            f"representative dataset {path}: unknown kind {path.suffix or '(no suffix)'}; give a .npz (one array "
            "per input, keyed by input name), a .npy (single input) or a directory of images"
        )
    samples = tuple(_check(src, spec, path) for src, spec in zip(sources, specs, strict=True))
    counts = {src.shape[0] for src in sources}
    if len(counts) != 1:
        listed = ", ".join(f"{s.signature_name}: {src.shape[0]}" for src, s in zip(sources, specs, strict=True))
        raise CalibrationError(f"representative dataset {path}: inputs have different sample counts ({listed})")
    n = counts.pop()
    if max_samples is not None:
        n = min(n, max_samples)
    return Dataset(tuple(sources), tuple(np.dtype(s.dtype) for s in specs), samples, n, str(path))


# ---- .npy and .npz ------------------------------------------------------------------------------------------------
def _read_header(f: IO[bytes], what: str, fix: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The .npy header at the stream's position: (shape, fortran_order, dtype). Object arrays are refused here,
    before any of their (pickled) data is read; an unreadable header is the error "``what`` (why); ``fix``"."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only by a UTF-8 (not latin-1) header
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
    except (ValueError, EOFError, OSError, SyntaxError) as e:
        raise CalibrationError(f"{what} ({_one_line(e)}); {fix}") from None
    if dtype.hasobject:
        raise _Pickled
    return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype)


class _Pickled(Exception):  # noqa: N818 - internal signal: the caller words the error for its file kind
    pass


class _MappedArray:
    """An array stored contiguously at ``offset`` of a file, memory-mapped; rows are copied out, and the pages read
    so far are released (MADV_DONTNEED) after each read, so resident memory stays at about one batch."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, fortran: bool) -> None:
        self.shape, self.dtype = shape, dtype
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self._start = offset - offset % mmap.ALLOCATIONGRANULARITY
        self._skip = offset - self._start
        self._row_bytes = nbytes // shape[0] if shape and shape[0] else 0
        self._mm: mmap.mmap | None = None
        self._fortran = fortran
        self._path = path
        self._length = self._skip + nbytes

    def _array(self) -> np.ndarray:
        if self._mm is None:
            with open(self._path, "rb") as f:
                self._mm = mmap.mmap(f.fileno(), self._length, offset=self._start, access=mmap.ACCESS_READ)
        order = "F" if self._fortran else "C"
        count = int(np.prod(self.shape, dtype=np.int64))
        return np.frombuffer(self._mm, self.dtype, count, self._skip).reshape(self.shape, order=order)

    def rows(self, start: int, stop: int) -> np.ndarray:
        if not self._length or stop <= start:
            return np.empty((0, *self.shape[1:]), self.dtype)
        out = np.array(self._array()[start:stop])
        if not self._fortran and self._mm is not None and hasattr(self._mm, "madvise"):
            end = self._skip + stop * self._row_bytes
            self._mm.madvise(mmap.MADV_DONTNEED, 0, end - end % mmap.PAGESIZE)
        return out


class _ZipStream:
    """A compressed .npz member: rows are decompressed in order (a new pass restarts from the beginning)."""

    def __init__(self, path: Path, member: str, shape: tuple[int, ...], dtype: np.dtype, data_offset: int) -> None:
        self.shape, self.dtype = shape, dtype
        self._path, self._member, self._offset = path, member, data_offset
        self._row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        self._stream: IO[bytes] | None = None
        self._zip: zipfile.ZipFile | None = None
        self._next = 0

    def rows(self, start: int, stop: int) -> np.ndarray:
        if self._stream is None or start < self._next:
            self._open()
        assert self._stream is not None
        if start > self._next:
            self._read((start - self._next) * self._row_bytes)
        raw = self._read((stop - start) * self._row_bytes)
        self._next = stop
        return np.frombuffer(raw, self.dtype).reshape((stop - start, *self.shape[1:])).copy()

    def _open(self) -> None:
        if self._zip is not None:
            self._zip.close()
        self._zip = zipfile.ZipFile(self._path)
        self._stream = self._zip.open(self._member)
        self._read(self._offset)
        self._next = 0

    def _read(self, n: int) -> bytes:
        assert self._stream is not None
        parts, left = [], n
        while left:
            try:
                part = self._stream.read(min(left, _CHUNK_BYTES))
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise CalibrationError(f"representative dataset {self._path}: array {self._member!r} cannot be read "
                                       f"({_one_line(e)}); the archive is corrupt, save it again with np.savez") \
                    from None
            if not part:
                raise CalibrationError(f"representative dataset {self._path}: array {self._member!r} is truncated; "
                                       "save it again with np.savez")
            parts.append(part)
            left -= len(part)
        return b"".join(parts)


def _npy(path: Path, specs: Sequence[InputSpec]) -> _Source:
    if len(specs) != 1:
        raise CalibrationError(
            f"representative dataset {path} is a .npy (one array) but the model has {len(specs)} inputs "
            f"({', '.join(s.signature_name for s in specs)}); use a .npz with one array per input name"
        )
    bad = f"representative dataset {path} is not a valid .npy file"
    try:
        with open(path, "rb") as f:
            try:
                shape, fortran, dtype = _read_header(f, bad, "save it with np.save")
            except _Pickled:
                raise CalibrationError(
                    f"representative dataset {path} holds pickled Python objects, which are never loaded; save "
                    "plain numeric arrays (np.save / np.savez)"
                ) from None
            offset = f.tell()
    except OSError as e:
        raise CalibrationError(
            f"cannot read representative dataset {path} ({_one_line(e)}); check the file and its permissions"
        ) from None
    _check_size(path, offset, shape, dtype, path.stat().st_size, f"{bad} (data truncated); save it with np.save")
    return _MappedArray(path, offset, shape, dtype, fortran)


def _check_size(path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, size: int, message: str) -> None:
    if offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > size:
        raise CalibrationError(message)


def _npz(path: Path, specs: Sequence[InputSpec]) -> list[_Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise CalibrationError(
            f"representative dataset {path} is not a valid .npz archive ({_one_line(e)}); save it with np.savez"
        ) from None
    with archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()
                   if info.filename.endswith(".npy")}
        keys = list(members)
        if not keys:
            raise CalibrationError(f"representative dataset {path} holds no arrays")
        out: list[_Source] = []
        for spec in specs:
            key = next((k for k in (spec.signature_name, spec.name) if k in keys), None)
            if key is None and len(specs) == 1 and len(keys) == 1:
                key = keys[0]
            if key is None:
                raise CalibrationError(
                    f"representative dataset {path} has no array for input {spec.signature_name!r} (it has: "
                    f"{', '.join(keys)}); key each array by its input name"
                )
            out.append(_npz_member(path, archive, members[key], key))
    return out


def _npz_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> _Source:
    corrupt = f"representative dataset {path}: array {key!r} cannot be read"
    try:
        with archive.open(info) as f:
            try:
                shape, fortran, dtype = _read_header(f, f"representative dataset {path}: array {key!r} is not a "
                                                        "valid array", "save it again with np.savez")
            except _Pickled:
                raise CalibrationError(
                    f"representative dataset {path}: array {key!r} holds pickled Python objects, which are never "
                    "loaded; save plain numeric arrays"
                ) from None
            header = f.tell()
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError) as e:
        raise CalibrationError(f"{corrupt} ({_one_line(e)}); the archive is corrupt, save it again with np.savez") \
            from None
    _check_size(path, header, shape, dtype, info.file_size,
                f"{corrupt} (data truncated); the archive is corrupt, save it again with np.savez")
    if info.compress_type == zipfile.ZIP_STORED and not fortran:
        return _MappedArray(path, _member_data_offset(path, info) + header, shape, dtype, fortran)
    if fortran:  # rare: read whole (numpy's own reader), column-major data cannot be streamed by rows
        with archive.open(info) as f:
            array = np.lib.format.read_array(f, allow_pickle=False)
        return _InMemory(array)
    return _ZipStream(path, info.filename, shape, dtype, header)


def _member_data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes start: after its local file header (30 bytes, name, extra field)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
    name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
    return info.header_offset + 30 + name_len + extra_len


@dataclass
class _InMemory:
    array: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]


class _Selected:
    """Some rows of another source (increasing ``indices``): a read of rows [start, stop) reads the span of the
    underlying rows they cover (at most a few batches' worth for the halves and fifths the pipeline selects) and
    keeps the selected ones."""

    def __init__(self, src: _Source, indices: np.ndarray) -> None:
        self._src, self._idx = src, indices
        self.shape = (int(indices.size), *src.shape[1:])
        self.dtype = src.dtype

    def rows(self, start: int, stop: int) -> np.ndarray:
        idx = self._idx[start:stop]
        if not idx.size:
            return np.empty((0, *self.shape[1:]), self.dtype)
        first = int(idx[0])
        return self._src.rows(first, int(idx[-1]) + 1)[idx - first]


# ---- images -------------------------------------------------------------------------------------------------------
class _Images:
    """Image files decoded, resized to the input and normalized ((pixel - mean) / std), when their rows are read."""

    def __init__(self, files: list[Path], h: int, w: int, c: int, mean: float, std: float) -> None:
        self.files = files
        self.shape = (len(files), h, w, c)
        self.dtype = np.dtype(np.float32)
        self._mean, self._std = mean, std

    def rows(self, start: int, stop: int) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        _, h, w, c = self.shape
        out = np.empty((stop - start, h, w, c), dtype=np.float32)
        for i, f in enumerate(self.files[start:stop]):
            try:
                with Image.open(f) as img:
                    img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
                    pixels = np.asarray(img, dtype=np.float32)
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
                raise CalibrationError(
                    f"cannot decode image {f} ({_one_line(e)}); remove it from the dataset directory"
                ) from None
            out[i] = ((pixels - self._mean) / self._std).reshape(h, w, c)
        return out


def _images(path: Path, specs: Sequence[InputSpec], stats: Sequence[InputStats]) -> _Source:
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
    return _Images(files, h, w, c, mean, std)


# ---- checks -------------------------------------------------------------------------------------------------------
def _chunks(src: _Source) -> Iterator[np.ndarray]:
    """All rows of ``src`` in pieces of about ``_CHUNK_BYTES``."""
    n = src.shape[0]
    row = max(1, int(np.prod(src.shape[1:], dtype=np.int64)) * src.dtype.itemsize)
    step = max(1, _CHUNK_BYTES // row)
    for start in range(0, n, step):
        yield src.rows(start, min(start + step, n))


def _reduce(src: _Source, fn: Callable[[np.ndarray], float], combine: Callable[[float, float], float],
            initial: float) -> float:
    acc = initial
    for chunk in _chunks(src):
        acc = combine(acc, fn(chunk))
    return acc


def _check(src: _Source, spec: InputSpec, path: Path) -> tuple[int, ...]:
    """Refuse data that does not fit the input (streaming over it for value checks); the shape of one sample."""
    where = f"representative dataset {path}, input {spec.signature_name!r}"
    shape = tuple(src.shape)
    if src.dtype.kind not in "biuf":
        raise CalibrationError(f"{where}: dtype {src.dtype} is not numeric; save int or float arrays")
    # Samples stand on the batch axis of a batch-1 input ([N, ...], or [N, 1, ...]); an input of another batch size
    # or a scalar takes whole values, one per sample ([N, *shape]).
    whole = not spec.shape or spec.shape[0] != 1
    want = tuple(spec.shape) if whole else tuple(spec.shape[1:])
    if not whole and len(shape) == len(spec.shape) + 1 and shape[1:] == tuple(spec.shape):
        shape = (shape[0], *want)
    if whole:
        if len(shape) != len(want) + 1 or shape[1:] != want:
            raise CalibrationError(
                f"{where}: the input has shape {list(want)}; give one whole value per sample, an array of shape "
                f"[N{''.join(f', {d}' for d in want)}] (got {list(shape)})"
            )
    elif len(shape) == len(spec.shape) - 1 and shape == want:
        raise CalibrationError(
            f"{where}: array has shape {list(shape)}, one sample without the samples axis; stack samples along "
            f"a first axis: [N, {', '.join(map(str, want))}]"
        )
    elif len(shape) != len(spec.shape) or shape[1:] != want:
        raise CalibrationError(
            f"{where}: samples have shape {list(shape[1:])} but the model expects {list(want)} "
            f"(array shape {list(shape)}; first axis = samples)"
        )
    if shape[0] == 0:
        raise CalibrationError(f"{where}: no samples (the first axis is empty)")
    _check_values(src, spec, where)
    return want


def _check_values(src: _Source, spec: InputSpec, where: str) -> None:
    if isinstance(src, _Images):
        if spec.dtype.kind != "f":
            raise CalibrationError(f"{where}: float data for an integer input ({spec.dtype}); save {spec.dtype} "
                                   "arrays")
        return  # decoded pixels are finite and in range; decoding errors surface batch by batch
    if spec.dtype.kind == "f":
        if src.dtype.kind == "f":
            bad = _reduce(src, lambda a: int(np.count_nonzero(~np.isfinite(a))), lambda x, y: x + y, 0)
            if bad:
                raise CalibrationError(f"{where}: {int(bad)} value(s) are NaN or Inf; clean the data")
        if src.dtype.kind == "f" and src.dtype.itemsize > np.dtype(spec.dtype).itemsize:
            limit = float(np.finfo(spec.dtype).max)

            def over(a: np.ndarray) -> int:
                return int(np.count_nonzero(np.abs(a) > limit))

            bad = _reduce(src, over, lambda x, y: x + y, 0)
            if bad:
                largest = _reduce(src, lambda a: float(np.max(np.abs(a))), max, 0.0)
                raise CalibrationError(
                    f"{where}: {int(bad)} value(s) overflow {spec.dtype} (largest {largest:g}); "
                    f"scale the data into the range the model takes"
                )
        return
    if src.dtype.kind == "f":
        raise CalibrationError(f"{where}: float data for an integer input ({spec.dtype}); save {spec.dtype} arrays")
    info = np.iinfo(spec.dtype) if spec.dtype.kind in "iu" else None
    if info is not None:
        lo = _reduce(src, lambda a: int(a.min()), min, info.max)
        hi = _reduce(src, lambda a: int(a.max()), max, info.min)
        if lo < info.min or hi > info.max:
            raise CalibrationError(
                f"{where}: values span [{lo}, {hi}], outside {spec.dtype}'s [{info.min}, {info.max}]; save "
                f"{spec.dtype} arrays"
            )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__
