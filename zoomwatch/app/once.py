"""One pass in the foreground: `zoomwatch run --once` (run_once: scan the Zoom folder, wait for what is
still being written, back up) and `zoomwatch sync` (run_cloud_once: one Zoom cloud sync, then upload), and
OnceResult, what they report: every file not backed up with its true reason. The runs are plain functions
of the engine (Engine.run_once / Engine.run_cloud_once call them).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoomwatch.app.shared_catalog import shared_once
from zoomwatch.core.catalog import FileState, Origin
from zoomwatch.core.status import ProblemKey
from zoomwatch.errors import ConfigError
from zoomwatch.i18n import N_, NP_, join, keep, state_count
from zoomwatch.printable import printable
from zoomwatch.sources.local import FOLDER_MISSING, TICK_SECONDS, folder_problem

if TYPE_CHECKING:
    from zoomwatch.app.engine import Engine

ONCE_MAX_ATTEMPTS = 3
UNFINISHED = (FileState.FAILED, FileState.QUEUED, FileState.UPLOADING)  # what run --once and sync report


@dataclass(frozen=True)
class OnceResult:
    """What `run --once` (or `sync`) found, each file under its true reason: `held` lists the files
    that are finished but wait for the destination's `problem`, `still_settling` the files really still
    being written, `waiting` the others the settle rule holds back ("path — reason", e.g. Zoom converting)."""

    ok: bool
    counts: dict[FileState, int]
    still_settling: tuple[str, ...]
    failures: tuple[str, ...]
    problem: str = ""
    held: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # every other problem on the board ("title — message"), worst first

    def summary(self) -> str:
        """What a person reads: one line per file or problem, every name escaped (see printable)."""
        counts = [state_count(state, n) for state, n in self.counts.items() if n]
        lines: list[str] = [join(", ", counts) if counts else N_("no recording files found")]
        if self.problem and self.held:
            lines.append(NP_("held: {problem} ({n} file(s) wait for it)", "held: {problem} ({n} file(s) wait for it)",
                             len(self.held), problem=keep(self.problem, printable)))
            lines += [join("", ["  ", keep(h, printable)]) for h in self.held]
        elif self.problem:
            lines.append(N_("destination problem: {problem}", problem=keep(self.problem, printable)))
        lines += [N_("problem: {problem}", problem=keep(p, printable)) for p in self.problems]
        lines += [N_("still being written: {file}", file=printable(p)) for p in self.still_settling]
        lines += [N_("waiting: {file}", file=keep(w, printable)) for w in self.waiting]
        lines += [N_("failed: {file}", file=keep(f, printable)) for f in self.failures]
        return join("\n", lines)


def run_once(engine: Engine, max_wait: float) -> OnceResult:
    """Scan, wait for what is still being written (up to `max_wait` s), back up, and report."""
    root = engine.config.watch_folder
    problem = folder_problem(root)  # never raises (macOS refuses even a stat of a protected Documents)
    if problem is not None:
        title, message = problem
        if title == FOLDER_MISSING:
            title, message = N_("Zoom folder not found"), \
                N_("{root} does not exist — set it with: zoomwatch config set watch.folder PATH", root=str(root))
        raise ConfigError(title, message)
    engine._prepare()
    engine.settler.scan(root)
    engine.transfers.start()
    stop_shared = shared_once(engine)
    deadline = engine.clock() + max_wait
    version = -1
    try:
        next_check = 0.0
        while once_busy(engine, deadline):
            if time.monotonic() >= next_check:  # one settle round a second, not one per board change
                engine.settler.check_pending()
                next_check = time.monotonic() + TICK_SECONDS
            version = engine.board.wait_for_change(version, timeout=0.25).version
        if engine._destination_down():
            engine.settler.check_pending()  # what finished long ago waits for the destination, not for Zoom
    finally:
        engine.transfers.stop()
        stop_shared()
    engine._refresh()
    return once_result(engine)


def once_result(engine: Engine) -> OnceResult:
    """Each file not backed up with its true reason: held by the destination's problem (named once),
    still being written (or waiting for Zoom), or failed with its own error."""
    board = engine.board.snapshot()
    problem = next((p for p in board.problems if p.key == ProblemKey.DESTINATION), None)
    if not engine._destination_down():
        problem = None
    others = tuple(p.text() for p in board.problems if p is not problem)
    unfinished = [r for r in engine.catalog.rows(engine.destination.id) if r.state in UNFINISHED]
    held: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    if problem is not None:  # no file gets through until it is solved: that is every file's reason now
        same = f"{problem.title}: {problem.message}"  # the board keeps it escaped (see printable)
        held = tuple(os.fsdecode(r.path) if not r.last_error or printable(r.last_error) == same
                     else N_("{file} (last try: {reason})", file=os.fsdecode(r.path), reason=r.last_error)
                     for r in unfinished)
    else:
        failures = tuple(N_("{file}: {reason}", file=os.fsdecode(r.path),
                            reason=r.last_error or N_("not backed up yet")) for r in unfinished)
    reasons = engine.settler.waiting_reasons()
    settling = tuple(str(p) for p, why in reasons.items() if not why)
    waiting = tuple(N_("{file} — {reason}", file=str(p), reason=why) for p, why in reasons.items() if why)
    counts = engine.catalog.counts(engine.destination.id)
    ok = not unfinished and not reasons and problem is None
    shown = "" if problem is None else problem.text()
    return OnceResult(ok, counts, settling, failures, shown, held, waiting, others)


def run_cloud_once(engine: Engine, start: dt.date | None = None, end: dt.date | None = None) -> OnceResult:
    """`zoomwatch sync`: one cloud sync in the foreground, then upload and verify what it fetched."""
    if engine.cloud is None:
        problem = next((p for p in engine.board.snapshot().problems if p.key == ProblemKey.SETTINGS), None)
        raise ConfigError(problem.title if problem else N_("Zoom cloud backup is off"),
                          problem.message if problem else N_("turn it on: zoomwatch config set zoom.mode user"))
    engine._prepare()
    engine.transfers.start()
    stop_shared = shared_once(engine)
    try:
        synced = engine.cloud.sync(start, end)
        engine._after_sync(synced)
        version = -1
        while once_busy(engine, engine.clock()):
            version = engine.board.wait_for_change(version, timeout=0.25).version
    finally:
        engine.transfers.stop()
        stop_shared()
    counts = engine.catalog.counts(engine.destination.id)
    rows = engine.catalog.rows(engine.destination.id)
    failures = tuple(synced.failures) + tuple(
        N_("{file}: {reason}", file=r.display, reason=r.last_error or N_("not backed up yet")) for r in rows
        if r.state in UNFINISHED and r.info is not None and r.info.origin is Origin.CLOUD)
    return OnceResult(not failures, counts, (), failures)


def once_busy(engine: Engine, deadline: float) -> bool:
    """Whether run_once should keep going: files to copy always; files still being written only
    until the deadline (--max-wait)."""
    if engine._destination_down():
        return False  # the destination is down: report that now rather than wait
    if engine.transfers.busy() or engine.catalog.unfinished(engine.destination.id, ONCE_MAX_ATTEMPTS):
        return True
    return bool(engine.settler.pending) and engine.clock() < deadline
