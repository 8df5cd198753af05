"""Giving freed memory back to the operating system between pipeline phases.

A conversion's peak RSS is the measure users see (CI runners, small boards). Large temporaries (the frozen
GraphDef, TensorFlow's shape-inference graph, calibration's working set) are freed by Python and TensorFlow, but
glibc keeps the pages in its heap arenas; ``malloc_trim(0)`` returns the free ones. Elsewhere this is a no-op."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None


def release_free_memory() -> None:
    """Return the heap's free pages to the OS. (No full ``gc.collect()``: with TensorFlow loaded it walks
    millions of objects, ~0.3 s, and the large temporaries are freed by reference counting anyway.)"""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
