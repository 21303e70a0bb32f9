"""Host memory between blocks: handing freed heap back to the OS (glibc).

XLA frees what a compile or a block used, but glibc keeps it in its arenas,
so resident memory (what a memory budget is about on CPU) stays high.
"""

from __future__ import annotations

import os


def release_host_memory() -> None:
    """Return freed heap memory to the OS (glibc), e.g. after a compile.

    XLA's compiler frees what it used, but glibc keeps it in its arenas, so the
    next compile adds to the peak instead of reusing it.
    """
    import gc

    gc.collect()
    _trim_heap()


def _trim_heap() -> None:
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class ResidentGuard:
    """Hands freed heap back to the OS when resident memory drifts up.

    XLA's CPU worker threads malloc each block's temporaries; glibc gives every
    thread its own arena and keeps what is freed there, so between blocks the
    process grew by about a block's working set per thread (~90 MB, a quarter
    of the CNN-GAP bench's peak) although one block runs at a time. Trimming
    after every block cost ~0.3 s on that bench; trimming only when resident
    memory has grown by ``slack`` since the blocks started keeps the peak
    within it for a few trims.
    """

    def __init__(self, slack: int):
        start = _resident_bytes()
        self.limit = None if start is None else start + slack

    def after_block(self) -> None:
        if self.limit is not None and (_resident_bytes() or 0) > self.limit:
            _trim_heap()
