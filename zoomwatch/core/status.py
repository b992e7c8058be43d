"""The engine's state for the faces (tray, CLI): a thread-safe board the engine writes and anyone reads.

`snapshot()` returns an immutable value; `wait_for_change()` blocks until the board changes, so a face
never polls the catalog or scrapes the log. Text meant to be read (file names, activity, problems) is
stored escaped with `printable()`, so no face shows a control character or a reversed name; locations
and keys, which a face opens, are kept exact.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from zoomwatch.printable import printable

RECENT_LIMIT = 20


@dataclass(frozen=True)
class Transfer:
    name: str
    size: int
    done: int = 0


@dataclass(frozen=True)
class Activity:
    at: float
    text: str
    location: str = ""  # where a person finds the backup (a path or a URL)
    key: str = ""       # the backup's key at the destination


@dataclass(frozen=True)
class Problem:
    title: str
    message: str
    at: float


@dataclass(frozen=True)
class Snapshot:
    status: str = "stopped"  # stopped | watching | idle | uploading | paused | error
    watch_folder: str = ""
    destination: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    settling: int = 0
    transfers: tuple[Transfer, ...] = ()
    recent: tuple[Activity, ...] = ()
    problem: Problem | None = None
    version: int = 0

    def summary(self) -> str:
        """One line for a tooltip or a log: what a person wants to know at a glance."""
        if self.problem is not None:
            return f"{self.problem.title} — {self.problem.message}" if self.problem.message else self.problem.title
        if self.status == "paused":
            return "Paused"
        if self.transfers:
            size = sum(t.size for t in self.transfers) or 1
            done = sum(t.done for t in self.transfers)
            waiting = self.counts.get("queued", 0)
            return f"Backing up {len(self.transfers)} file(s), {waiting} waiting — {100 * done // size}%"
        verified = self.counts.get("verified", 0)
        if self.settling:
            return f"{verified} backed up; waiting for {self.settling} file(s) to finish"
        if self.status == "stopped":
            return "Stopped"
        if not verified:
            return "Watching — no recordings yet"
        return f"All {verified} recording files backed up"


class StatusBoard:
    """Written by the engine's threads, read by the faces. Every change bumps a version counter."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._snap = Snapshot()
        self._transfers: dict[int, Transfer] = {}

    def snapshot(self) -> Snapshot:
        with self._cond:
            return self._snap

    def wait_for_change(self, version: int, timeout: float | None = None) -> Snapshot:
        """Block until the board's version differs from `version` (or the time-out passes)."""
        with self._cond:
            self._cond.wait_for(lambda: self._snap.version != version, timeout)
            return self._snap

    def _set(self, **changes: Any) -> None:
        with self._cond:
            self._snap = replace(self._snap, version=self._snap.version + 1, **changes)
            self._cond.notify_all()

    def update(self, **changes: Any) -> None:
        self._set(**changes)

    def transfer_started(self, key: int, name: str, size: int) -> None:
        with self._cond:
            self._transfers[key] = Transfer(printable(name), size)
            self._set(transfers=tuple(self._transfers.values()))

    def transfer_progress(self, key: int, done: int) -> None:
        with self._cond:
            if key in self._transfers:
                self._transfers[key] = replace(self._transfers[key], done=done)
                self._set(transfers=tuple(self._transfers.values()))

    def transfer_ended(self, key: int) -> None:
        with self._cond:
            self._transfers.pop(key, None)
            self._set(transfers=tuple(self._transfers.values()))

    def add_recent(self, text: str, location: str = "", key: str = "") -> None:
        with self._cond:
            recent = (Activity(time.time(), printable(text), location, key), *self._snap.recent)[:RECENT_LIMIT]
            self._set(recent=recent)

    def set_problem(self, title: str, message: str) -> bool:
        """Show a problem; returns False when the same one was already shown (notify once per cause)."""
        title, message = printable(title), printable(message)
        with self._cond:
            current = self._snap.problem
            if current is not None and (current.title, current.message) == (title, message):
                return False
            self._set(problem=Problem(title, message, time.time()))
            return True

    def clear_problem(self, title: str | None = None) -> None:
        """Clear the problem shown (only if it has this title, when one is given)."""
        with self._cond:
            current = self._snap.problem
            if current is not None and (title is None or current.title == printable(title)):
                self._set(problem=None)
