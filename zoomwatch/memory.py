"""Big transfer buffers go back to the operating system as soon as they are freed.

glibc serves a large allocation with mmap and unmaps it on free, but raises its threshold for doing so to
the size of each such block freed (up to 32 MiB): after the first 16 MiB S3 part, the next parts come from
the heap arenas of the worker threads and stay resident there. A fixed 1 MiB threshold keeps every part
buffer a mapping of its own: measured with `bench/bench_s3.py --phases rss`, peak RSS of a 512 MiB / 2 GiB
upload 165 / 181 MiB with glibc's default and 132 / 148 MiB with the threshold fixed (BENCHMARKS.md).
Elsewhere (macOS, Windows, musl) this does nothing."""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
THRESHOLD_BYTES = 1024 * 1024


def release_big_buffers_at_once() -> bool:
    """Fix glibc's mmap threshold at 1 MiB for this process; whether it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
