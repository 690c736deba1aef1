"""Memory a step has freed, given back to the operating system before the next step (issue 17).

The in-process executor runs every step in one process. A step's frames are freed when it ends, but the allocators
keep the pages: glibc's malloc (NumPy, pandas and Python objects) and Arrow's pool (mimalloc or jemalloc) hold them
for reuse, so the process's resident memory is the largest any step needed plus what the allocators kept from the
ones before. Handing the free pages back between steps keeps each step's peak its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import pyarrow as pa


@functools.cache
def c_library() -> ctypes.CDLL | None:
    """The C library when it has glibc's malloc_trim (Linux), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
    except OSError:
        return None
    return library if hasattr(library, "malloc_trim") else None


def release_free_memory() -> None:
    """Return the free pages of Arrow's pool and of the C heap to the operating system (well under a millisecond).

    No gc.collect(): the frames a step drops are freed by reference counting, and a full collection over the
    objects of the loaded definitions takes 0.2-0.5 s, which twice a step made the real bundle's run minutes long.
    """
    pa.default_memory_pool().release_unused()
    library = c_library()
    if library is not None:
        library.malloc_trim(0)
