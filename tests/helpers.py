"""Test helpers: wait for a condition (never a fixed sleep), make recordings."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> object:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def write_random(path: Path, size: int, *, seed: int = 0, age_seconds: float = 3600) -> str:
    """Write `size` deterministic pseudo-random bytes, set the mtime `age_seconds` in the past, return sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
            block = block[1:] + block[:1]
    past = time.time() - age_seconds
    os.utime(path, (past, past))
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def backed_up_files(backup: Path) -> dict[str, Path]:
    """Every backed-up recording in the backup folder, by name relative to it: not the meeting.json sidecars,
    nor hidden files (a partial file being written, as a sidecar briefly has while it is replaced)."""
    return {p.relative_to(backup).as_posix(): p for p in backup.rglob("*")
            if p.is_file() and p.name != "meeting.json" and not p.name.startswith(".")}


def stop_process(process, sig: int | None = None, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Send `sig` (if given) to a zoomwatch subprocess, wait for it, kill it if it hangs, drain its pipes."""
    try:
        if sig is not None and process.poll() is None:
            process.send_signal(sig)
        process.wait(timeout)
    except Exception:
        pass
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def alive_threads(prefix: str, timeout: float = 15.0) -> list[str]:
    """Names of live threads starting with `prefix`, waiting up to `timeout` s for them to end."""
    import threading

    deadline = time.monotonic() + timeout
    while True:
        alive = [t.name for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)
