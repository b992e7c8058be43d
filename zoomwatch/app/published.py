"""What a running zoomwatch leaves for other processes: the status file its engine publishes the board to
(status_file, written whole or not at all by _write_atomically) that `zoomwatch status` and `zoomwatch
dashboard` read back (published_status), and the pid beside the instance lock (_read_pid), named when a
second zoomwatch is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from zoomwatch.paths import AppPaths


def status_file(paths: AppPaths) -> Path:
    """Where a running engine publishes its board for `zoomwatch status` in another process."""
    return paths.state_dir / "status.json"


def published_status(paths: AppPaths, pid: int | None) -> dict | None:
    """The board a running zoomwatch (`pid`) published, or None when there is none or it is stale
    (written by a process that is gone)."""
    if not pid or pid < 0:
        return None
    try:
        data = json.loads(status_file(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("pid") == pid else None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _read_pid(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
