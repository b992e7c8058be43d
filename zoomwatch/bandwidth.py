"""A bandwidth limit shared by all transfers: a token bucket that makes a caller wait once it has
sent more than the limit allows. Zero means no limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def parse_rate(text: str | int | float) -> int:
    """'0' (no limit), '500000', '500K', '10M', '1G' (K/M/G are 1024-based, as rclone's --bwlimit)."""
    value = str(text).strip().upper().removesuffix("B").removesuffix("/S")
    factor = 1
    for suffix, multiplier in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if value.endswith(suffix):
            value, factor = value[:-1], multiplier
            break
    number = float(value)
    if not 0 <= number < 1e15:  # also refuses inf and nan
        raise ValueError("must be a number of bytes per second, 0 or more")
    return int(number * factor)


class Throttle:
    def __init__(self, rate: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next_free = clock()

    def __call__(self, nbytes: int) -> None:
        """Account for `nbytes` just sent; wait if the limit is exceeded (burst of at most one second)."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self.clock()
            self._next_free = max(self._next_free, now - 1.0) + nbytes / self.rate
            wait = self._next_free - now
        if wait > 0:
            self.sleep(wait)
