"""Where constant buffers go in a .tflite file, and the file as chunks that are written without being joined.

A flatbuffer addresses at most 2 GiB (32-bit offsets). Constant data normally lives inside it (``Buffer.data``,
16-byte aligned). When the data would take the flatbuffer past ``INLINE_LIMIT``, every non-empty constant buffer
is stored after the flatbuffer instead: ``Buffer.data`` stays empty and ``Buffer.offset``/``Buffer.size`` give the
data's place counted from the start of the file (schema.fbs; LiteRT treats ``offset > 1`` as such a location).
Each such buffer starts on a 16-byte boundary, padded with zeros, in buffer order: the file is deterministic.

Building the flatbuffer needs each buffer's offset before the flatbuffer's own size is known, so the tables are
built with a placeholder offset (1: present in the file, never a valid location) and patched once it is finished.
The data after the flatbuffer is never copied: ``ModelFile`` keeps the arrays and writes them one after another.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import flatbuffers
import numpy as np

import schema
from schema.tflite import Buffer as _buffer
from schema.tflite.Model import Model

# FlatBuffers offsets are 32-bit: the flatbuffer part of a file must stay below 2 GiB.
MAX_FLATBUFFER_BYTES = 2**31 - 1
# Room kept for everything that is not constant data (tensors, ops, names, quantization) when deciding whether the
# data fits inline; far above what any real model's metadata takes.
METADATA_RESERVE = 64 * 2**20
INLINE_LIMIT = MAX_FLATBUFFER_BYTES - METADATA_RESERVE
ALIGNMENT = schema.BUFFER_DATA_ALIGNMENT
_PLACEHOLDER_OFFSET = 1
_BUFFER_OFFSET_SLOT = 6  # vtable slot of Buffer.offset (fields: data 4, offset 6, size 8)


def raw_bytes(data: np.ndarray) -> np.ndarray:
    """``data`` as a flat little-endian uint8 view (a copy only if it is not already contiguous little-endian)."""
    arr = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    return arr.reshape(-1).view(np.uint8)


def _aligned(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def stored_after(payloads: Sequence[np.ndarray | None], inline_limit: int = INLINE_LIMIT) -> bool:
    """Whether constant data goes after the flatbuffer: it would not fit inline (each buffer padded to 16 bytes)."""
    return sum(_aligned(p.size) + ALIGNMENT for p in payloads if p is not None) > inline_limit


def buffer_tables(b: flatbuffers.Builder, payloads: Sequence[np.ndarray | None], after: bool) -> list[int]:
    """One Buffer table per payload (None: the empty buffer), data inline or, with ``after``, a placeholder
    location that ``finish`` patches."""
    inline = [None if p is None or after else schema.create_buffer_data(b, p) for p in payloads]
    tables = []
    for p, data in zip(payloads, inline, strict=True):
        _buffer.Start(b)
        if data is not None:
            _buffer.AddData(b, data)
        elif p is not None and p.size:
            _buffer.AddOffset(b, _PLACEHOLDER_OFFSET)
            _buffer.AddSize(b, p.size)
        tables.append(_buffer.End(b))
    return tables


@dataclass(frozen=True)
class ModelFile:
    """A finished .tflite: the flatbuffer, then (models over 2 GiB) constant data at the offsets its buffers name."""

    flatbuffer: memoryview
    tail: tuple[tuple[int, np.ndarray], ...] = ()  # (offset from the start of the file, uint8 data), ascending

    @property
    def size(self) -> int:
        if not self.tail:
            return len(self.flatbuffer)
        offset, data = self.tail[-1]
        return offset + data.size

    def chunks(self) -> Iterator[memoryview]:
        """The file's bytes in order: flatbuffer, then zero padding and data for each buffer stored after it."""
        yield self.flatbuffer
        position = len(self.flatbuffer)
        for offset, data in self.tail:
            if offset > position:
                yield memoryview(bytes(offset - position))
            yield memoryview(data)
            position = offset + data.size

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())


def finish(b: flatbuffers.Builder, payloads: Sequence[np.ndarray | None], after: bool) -> ModelFile:
    """The finished builder as a ModelFile; with ``after``, the data goes after the flatbuffer and each buffer's
    placeholder offset is patched to the data's place."""
    flat = memoryview(b.Bytes)[b.Head():]
    if not after:
        return ModelFile(flat)
    model = Model.GetRootAs(flat, 0)
    position = _aligned(len(flat))
    tail = []
    for i, p in enumerate(payloads):
        if p is None or not p.size:
            continue
        table = model.Buffers(i)._tab  # noqa: SLF001 - the generated reader has no setter; patch in place
        field = table.Offset(_BUFFER_OFFSET_SLOT)
        assert field, "a buffer stored after the flatbuffer has its placeholder offset"
        struct.pack_into("<Q", flat, table.Pos + field, position)
        tail.append((position, p))
        position = _aligned(position + p.size)
    return ModelFile(flat, tuple(tail))
