"""The engine's state for the faces (tray, CLI): a thread-safe board the engine writes and anyone reads.

`snapshot()` returns an immutable value; `wait_for_change()` blocks until the board changes, so a face
never polls the catalog or scrapes the log. Problems are keyed by what they are about (`ProblemKey`): a
Zoom sign-out and a full disk are shown together, and each is cleared by its own key, never by its words.
Text meant to be read (file names, activity, problems) is stored escaped with `printable()`, so no face
shows a control character or a reversed name; locations and keys, which a face opens, are kept exact.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from zoomwatch.core.catalog import FileState
from zoomwatch.i18n import N_, NP_, Msg, keep
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


class EngineStatus(str, Enum):
    """What the engine is doing, as a face shows it (and the status file stores it)."""

    STOPPED = "stopped"
    WATCHING = "watching"
    IDLE = "idle"          # running, but not watching a folder (a `run --once` or `sync` pass)
    UPLOADING = "uploading"
    PAUSED = "paused"
    ERROR = "error"        # a problem is on the board (the tray shows its attention icon)

    def __str__(self) -> str:
        return self.value


class ProblemKey(str, Enum):
    """What a problem is about: one problem per key is shown; a newer one of the same key replaces it."""

    SETTINGS = "settings"              # the config file, or settings that could not be applied
    FOLDER_OVERLAP = "folder_overlap"  # the backup folder inside the Zoom folder (or the other way round)
    WATCH_FOLDER = "watch_folder"      # the Zoom folder is missing or refused by the system
    WATCHER = "watcher"                # change notifications unavailable: polling or rescans only
    DESTINATION = "destination"        # the backup destination cannot take files
    ZOOM_SIGN_IN = "zoom_sign_in"
    ZOOM_RATE_LIMIT = "zoom_rate_limit"
    ZOOM_SYNC = "zoom_sync"            # a cloud sync failed; retried with backoff
    KEYRING = "keyring"
    SETTLE_THREAD = "settle_thread"    # an unexpected failure in the watch/settle loop (retried)
    UPLOAD_WORKER = "upload_worker"    # an unexpected failure in an upload worker (retried)
    CLOUD_THREAD = "cloud_thread"
    CLEANUP = "cleanup"                # the clean-up could not check or move something (the reason)
    AT_RISK = "at_risk"                # prefix: "at_risk:<meeting UUID>", one per recording Zoom deletes soon

    def __str__(self) -> str:
        return self.value


# how much a problem stands in the way: the worst is shown first (tooltip, icon, summary)
SEVERITY: dict[str, int] = {
    ProblemKey.SETTINGS: 3, ProblemKey.FOLDER_OVERLAP: 3, ProblemKey.DESTINATION: 3, ProblemKey.WATCH_FOLDER: 3,
    ProblemKey.ZOOM_SIGN_IN: 3, ProblemKey.KEYRING: 2, ProblemKey.SETTLE_THREAD: 2, ProblemKey.UPLOAD_WORKER: 2,
    ProblemKey.CLOUD_THREAD: 2, ProblemKey.ZOOM_SYNC: 1, ProblemKey.ZOOM_RATE_LIMIT: 1, ProblemKey.WATCHER: 0,
    ProblemKey.AT_RISK: 2, ProblemKey.CLEANUP: 1,
}


@dataclass(frozen=True)
class Problem:
    title: str
    message: str
    at: float
    key: str = ""

    def text(self) -> str:
        return N_("{title} — {message}", title=self.title, message=self.message) if self.message else self.title

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "message": self.message, "at": self.at, **self.i18n()}

    def i18n(self) -> dict[str, Any]:
        """The title and message as msgid + parameters (for a face showing them in another language)."""
        marked = {name: text.to_json() for name, text in (("title", self.title), ("message", self.message))
                  if isinstance(text, Msg)}
        return {"i18n": marked} if marked else {}


def _order(problem: Problem) -> tuple[int, float]:
    return -SEVERITY.get(problem.key.split(":", 1)[0], 2), problem.at  # "at_risk:<uuid>" as "at_risk"


@dataclass(frozen=True)
class Snapshot:
    status: EngineStatus = EngineStatus.STOPPED
    watch_folder: str = ""
    destination: str = ""
    counts: dict[FileState, int] = field(default_factory=dict)
    settling: int = 0
    transfers: tuple[Transfer, ...] = ()
    recent: tuple[Activity, ...] = ()
    problems: tuple[Problem, ...] = ()  # every problem shown, the worst (then the oldest) first
    freed: int = 0  # bytes of local recordings the clean-up moved to the OS trash, so far
    version: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", EngineStatus(self.status))  # "paused" is read as PAUSED

    @property
    def problem(self) -> Problem | None:
        """The worst problem (what the icon and a one-line summary show), or None."""
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        """One line for a tooltip or a log: what a person wants to know at a glance."""
        if self.problem is not None:
            more = N_("{problem} (+{count} more)", problem=self.problem.text(), count=len(self.problems) - 1)
            return more if len(self.problems) > 1 else self.problem.text()
        if self.status is EngineStatus.PAUSED:
            return N_("Paused")
        if self.transfers:
            size = sum(t.size for t in self.transfers) or 1
            done = sum(t.done for t in self.transfers)
            waiting = self.counts.get(FileState.QUEUED, 0)
            return NP_("Backing up {n} file(s), {waiting} waiting — {percent}%",
                       "Backing up {n} file(s), {waiting} waiting — {percent}%", len(self.transfers),
                       waiting=waiting, percent=100 * done // size)
        verified = self.counts.get(FileState.VERIFIED, 0)
        if self.settling:
            return NP_("{verified} backed up; waiting for {n} file(s) to finish",
                       "{verified} backed up; waiting for {n} file(s) to finish", self.settling, verified=verified)
        if self.status is EngineStatus.STOPPED:
            return N_("Stopped")
        if not verified:
            return N_("Watching — no recordings yet")
        return NP_("All {n} recording files backed up", "All {n} recording files backed up", verified)


class StatusBoard:
    """Written by the engine's threads, read by the faces. Every change bumps a version counter."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._snap = Snapshot()
        self._transfers: dict[int, Transfer] = {}
        self._problems: dict[str, Problem] = {}

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

    def set_problem(self, key: str, title: str, message: str) -> bool:
        """Show the problem about `key` (replacing an older one about the same thing); returns False when
        the very same one was shown already (notify once per key and cause)."""
        title, message = keep(title, printable), keep(message, printable)
        with self._cond:
            current = self._problems.get(key)
            if current is not None and (current.title, current.message) == (title, message):
                return False
            self._problems[key] = Problem(title, message, time.time(), str(key))
            problems = tuple(sorted(self._problems.values(), key=_order))
            if self._snap.status in (EngineStatus.STOPPED, EngineStatus.PAUSED):
                self._set(problems=problems)
            else:  # in the same change, so no reader sees the problem beside a green status
                self._set(problems=problems, status=EngineStatus.ERROR)
            return True

    def clear_problem(self, key: str) -> None:
        """The problem about `key` is solved (the others stay shown)."""
        with self._cond:
            if self._problems.pop(key, None) is not None:
                self._set(problems=tuple(sorted(self._problems.values(), key=_order)))

    def clear_problems(self) -> None:
        """Every problem is forgotten (new settings: what is still wrong is found again)."""
        with self._cond:
            if self._problems:
                self._problems.clear()
                self._set(problems=())
