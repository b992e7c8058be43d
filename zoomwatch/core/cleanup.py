"""Space back, with no risk: local recordings to the OS trash, cloud recordings to Zoom's trash, each only
after the destination itself confirmed the backup right before (core.safety.check_backup), never from the
catalog's word alone. Nothing is ever deleted outright.

* Local (`cleanup.local_after_days`, 0 = off): a meeting folder of the Zoom folder goes to the OS trash
  (send2trash: the Recycle Bin, the macOS Trash, the XDG trash) as a whole, once every recording in it is
  older than N days, unchanged since its verified backup (size and mtime) and safe at the destination, and
  it holds nothing else than Zoom's own small files (recording.conf, playback.m3u). Never when the
  destination is a folder on the same disk as the Zoom folder (that would leave one copy and free nothing).
* Cloud (`zoom.trash_after_backup`, `zoom.trash_after_days`): a meeting goes to Zoom's trash (never a
  permanent delete) once every file Zoom listed for it was verified at least N days ago and is safe at the
  destination now. The sync calls `CloudTrash.consider` with the listing.

Every move is written to a journal in the catalog file first ("pending"), then marked "done": after a
SIGKILL between the two, `Journal.recover()` looks at the disk (the folder still there, or gone to the
trash: a trash move is one rename) and the journal agrees with it again. `zoomwatch cleanup --history`
lists the journal. The at-risk table (recordings Zoom deletes soon, see core.at_risk) lives here too, so
`zoomwatch status` can list them while zoomwatch is not running.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoomwatch.config import Config
from zoomwatch.core.at_risk import AtRisk
from zoomwatch.core.catalog import Catalog, FileState, Origin, Row
from zoomwatch.core.safety import Verdict, check_backup
from zoomwatch.destinations.base import Destination
from zoomwatch.errors import Cancelled, KeyringUnavailable, RateLimited, SignedOut, ZoomwatchError
from zoomwatch.i18n import N_, NP_, Msg

log = logging.getLogger(__name__)

DAY = 86400.0
ZOOM_OWN = ("*.conf", "*.m3u")  # Zoom's own small files in a meeting folder: they go with the folder
DELETE_SCOPE = "cloud_recording:delete:meeting_recording"
SCOPE_CODES = (4700, 4711)  # Zoom: the token lacks a scope

SCHEMA = """
CREATE TABLE IF NOT EXISTS cleanup_log (
    id       INTEGER PRIMARY KEY,
    at       REAL NOT NULL,
    kind     TEXT NOT NULL,      -- 'local' (OS trash) or 'cloud' (Zoom's trash)
    target   BLOB NOT NULL,      -- the folder or file path (bytes), or the meeting UUID
    what     TEXT NOT NULL,      -- for people
    size     INTEGER NOT NULL,
    files    INTEGER NOT NULL,
    state    TEXT NOT NULL,      -- pending, done, undone (still in place), unknown (cloud, interrupted)
    detail   TEXT
);
CREATE TABLE IF NOT EXISTS at_risk (
    uuid      TEXT PRIMARY KEY,
    topic     TEXT NOT NULL,
    start     TEXT NOT NULL,
    delete_on TEXT NOT NULL,
    targets   TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    id: int
    at: float
    kind: str
    target: bytes
    what: str
    size: int
    files: int
    state: str
    detail: str


class Journal:
    """The clean-up journal and the at-risk list, in tables of their own in the catalog file."""

    def __init__(self, file: Path, *, clock: Callable[[], float] = time.time, readonly: bool = False) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        if readonly:
            self._db = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        else:
            file.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(file, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # as the catalog: a SIGKILL loses no commit
            self._db.executescript(SCHEMA)
        self.readonly = readonly

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args))
            except sqlite3.OperationalError:  # read-only and the tables were never made: nothing yet
                if self.readonly:
                    return []
                raise

    def _write(self, sql: str, *args: Any) -> int:
        with self._lock:
            return int(self._db.execute(sql, args).lastrowid or 0)

    # -- the clean-up log ---------------------------------------------------------------------------

    def begin(self, kind: str, target: bytes, what: str, size: int, files: int) -> int:
        """Written (and committed) before the move: after a crash, recover() finds it."""
        return self._write("INSERT INTO cleanup_log (at, kind, target, what, size, files, state) VALUES"
                           " (?, ?, ?, ?, ?, ?, 'pending')", self.clock(), kind, target, what, size, files)

    def finish(self, entry_id: int, state: str, detail: str = "") -> None:
        self._write("UPDATE cleanup_log SET state = ?, detail = ?, at = ? WHERE id = ?", state, detail,
                    self.clock(), entry_id)

    def history(self, limit: int | None = None) -> list[Entry]:
        sql = "SELECT * FROM cleanup_log ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [Entry(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], r[8] or "") for r in self._rows(sql)]

    def freed(self, kind: str = "local") -> int:
        """Bytes moved to a trash so far (`kind` local: the disk; cloud: Zoom's storage)."""
        rows = self._rows("SELECT COALESCE(SUM(size), 0) FROM cleanup_log WHERE kind = ? AND state = 'done'", kind)
        return int(rows[0][0]) if rows else 0

    def recover(self) -> int:
        """Settle entries a killed clean-up left "pending": a local folder still in place was not moved
        (undone), one gone was (done); a cloud call's answer was lost (unknown: the next sync sees)."""
        settled = 0
        for entry in [e for e in self.history() if e.state == "pending"]:
            if entry.kind == "local":
                there = os.path.lexists(os.fsdecode(entry.target))
                self.finish(entry.id, "undone" if there else "done",
                            "interrupted before the move: still in place" if there
                            else "interrupted after the move: in the trash")
            else:
                self.finish(entry.id, "unknown", "interrupted: Zoom may not have moved it; the next sync looks again")
            settled += 1
        return settled

    # -- recordings Zoom deletes soon ---------------------------------------------------------------

    def set_at_risk(self, items: Iterable[AtRisk]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM at_risk")
                self._db.executemany("INSERT OR REPLACE INTO at_risk VALUES (?, ?, ?, ?, ?)", [
                    (a.uuid, a.topic, a.start, a.delete_on, json.dumps(list(a.targets))) for a in items])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def at_risk(self) -> list[AtRisk]:
        rows = self._rows("SELECT uuid, topic, start, delete_on, targets FROM at_risk ORDER BY delete_on, start")
        return [AtRisk(r[0], r[1], r[2], r[3], tuple(json.loads(r[4]))) for r in rows]


# -- what a clean-up decided ------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    kind: str       # "local" or "cloud"
    what: str       # the folder, or the meeting (topic and start)
    size: int
    files: int
    goes: bool
    reason: str     # why it stays, or what happened to it


@dataclass
class Report:
    dry_run: bool = False
    decisions: list[Decision] = field(default_factory=list)
    problem: str = ""   # what stopped the clean-up from checking anything (the destination unreachable...)

    @property
    def goes(self) -> list[Decision]:
        return [d for d in self.decisions if d.goes]

    @property
    def stays(self) -> list[Decision]:
        return [d for d in self.decisions if not d.goes]

    @property
    def freed(self) -> int:
        return sum(d.size for d in self.goes if d.kind == "local")

    def lines(self, human: Callable[[int], str]) -> list[Msg]:
        """What a person reads: English Msgs a face shows with tr()."""
        out = [N_("problem: {problem}", problem=self.problem)] if self.problem else []
        for d in self.goes:
            files = NP_("{n} file(s)", "{n} file(s)", d.files)
            if d.kind == "local":
                line = (N_("would go to the OS trash: {what} ({files}, {size})", what=d.what, files=files,
                           size=human(d.size)) if self.dry_run else
                        N_("went to the OS trash: {what} ({files}, {size})", what=d.what, files=files,
                           size=human(d.size)))
            else:
                line = (N_("would go to Zoom's trash: {what} ({files}, {size})", what=d.what, files=files,
                           size=human(d.size)) if self.dry_run else
                        N_("went to Zoom's trash: {what} ({files}, {size})", what=d.what, files=files,
                           size=human(d.size)))
            out.append(line)
        for d in self.stays:
            out.append(N_("stays: {what} — {reason}", what=d.what, reason=d.reason))
        gone = NP_("{n} to a trash", "{n} to a trash", len(self.goes))
        stay = NP_("{n} stay", "{n} stay", len(self.stays))
        if self.dry_run:
            out.append(N_("{size} of disk space would come back; {gone}, {stay}", size=human(self.freed), gone=gone,
                          stay=stay))
        else:
            out.append(N_("{size} of disk space came back; {gone}, {stay}", size=human(self.freed), gone=gone,
                          stay=stay))
        return out


def _human_date(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d")


def _verdict_reason(verdict: Verdict, key: str) -> str:
    if verdict is Verdict.MISSING:
        return N_("its backup {key} is missing at the destination; it is backed up again first", key=key)
    return N_("its backup {key} differs at the destination (altered or replaced); it is backed up again first",
              key=key)


def same_disk(destination: Destination, folder: Path) -> bool:
    """Whether the destination is a folder on the same disk (device) as `folder`."""
    root = getattr(destination, "root", None)
    if root is None:
        return False
    try:
        return os.stat(root).st_dev == os.stat(folder).st_dev
    except OSError:
        return False


# -- local recordings to the OS trash -------------------------------------------------------------

def send_to_trash(path: Path) -> None:
    from send2trash import send2trash  # type: ignore[import-untyped]  # lazy: only a clean-up needs it

    send2trash(os.fsdecode(path))


@dataclass
class _Group:
    path: Path                                          # a meeting folder, or a single file in the root
    recordings: list[tuple[Path, Row | None]] = field(default_factory=list)
    others: list[Path] = field(default_factory=list)    # files zoomwatch does not back up
    size: int = 0


class LocalCleanup:
    def __init__(self, config: Config, catalog: Catalog, destination: Destination, journal: Journal, *,
                 clock: Callable[[], float] = time.time, trash: Callable[[Path], None] = send_to_trash) -> None:
        self.config = config
        self.catalog = catalog
        self.destination = destination
        self.journal = journal
        self.clock = clock
        self.trash = trash

    @property
    def days(self) -> int:
        return int(self.config["cleanup.local_after_days"])

    def run(self, report: Report, stop: threading.Event | None = None) -> None:
        """Decide for every meeting folder holding a verified recording; move those that are safe."""
        self.journal.recover()
        root = self.config.watch_folder
        groups = self._groups(root)
        if not groups:
            return
        if same_disk(self.destination, root):
            reason = N_("the backup folder is on the same disk as the Zoom folder: moving recordings to the trash "
                        "would free nothing and leave a single copy ({label})", label=self.destination.label)
            report.decisions += [Decision("local", str(g.path), g.size, len(g.recordings), False, reason)
                                 for g in groups]
            return
        for group in groups:
            if stop is not None and stop.is_set():
                return
            decision = self._one(group, report)
            report.decisions.append(decision)

    def _groups(self, root: Path) -> list[_Group]:
        """Each top-level entry of the Zoom folder that holds a verified local recording."""
        tops: set[Path] = set()
        for row in self.catalog.rows(self.destination.id):
            if row.state is not FileState.VERIFIED or (row.info is not None and row.info.origin is Origin.CLOUD):
                continue
            try:
                rel = row.fs_path.relative_to(root)
            except ValueError:
                continue
            if os.path.lexists(row.fs_path):
                tops.add(root / rel.parts[0])
        groups = []
        for top in sorted(tops):
            group = _Group(top)
            files = [top] if not top.is_dir() or top.is_symlink() else \
                [Path(d, n) for d, _, names in os.walk(top) for n in names]
            for file in files:
                if self.config.wants(file.name):
                    group.recordings.append((file, self.catalog.current(self.destination.id, file)))
                else:
                    group.others.append(file)
            groups.append(group)
        return groups

    def _one(self, group: _Group, report: Report) -> Decision:
        what, files = str(group.path), len(group.recordings)
        size = 0
        stays = self._why_not(group)
        if stays:
            return Decision("local", what, group.size, files, False, stays)
        if report.problem:
            return Decision("local", what, 0, files, False, N_("not checked: {problem}", problem=report.problem))
        # the destination is asked now, right before, for every recording of the folder
        for path, row in group.recordings:
            assert row is not None and row.remote_key and row.sha256
            try:
                check = check_backup(self.destination, row.remote_key, row.size, row.sha256)
            except ZoomwatchError as exc:
                report.problem = N_("could not check the backups at {label}: {title}: {message}",
                                    label=self.destination.label, title=exc.title, message=exc.message)
                return Decision("local", what, 0, files, False, N_("not checked: {problem}", problem=report.problem))
            if not check.safe:
                if not report.dry_run:
                    self.catalog.requeue_lost(row.id)
                why = _verdict_reason(check.verdict, row.remote_key)
                return Decision("local", what, 0, files, False, N_("{name}: {why}", name=path.name, why=why))
            size += row.size
        changed = self._why_not(group)  # changed while the destination was asked: stays
        if changed:
            return Decision("local", what, 0, files, False, changed)
        if report.dry_run:
            return Decision("local", what, size, files, True, N_("safe at the destination"))
        return self._move(group, what, size, files)

    def _why_not(self, group: _Group) -> str:
        """Why the folder stays (empty when every recording may go), from the disk and the catalog."""
        if not group.recordings:
            return N_("holds no recording")
        for other in group.others:
            if other.is_symlink() or not any(fnmatch.fnmatch(other.name.lower(), p) for p in ZOOM_OWN):
                return N_("holds {name}, which zoomwatch does not back up", name=other.name)
        keep_until = 0.0
        for path, row in group.recordings:
            try:
                st = os.lstat(path)
            except OSError:
                return N_("{name} cannot be read now", name=path.name)
            if row is None or row.state is not FileState.VERIFIED or not row.sha256 or not row.remote_key:
                return N_("{name} is not backed up yet", name=path.name)
            if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
                return N_("{name} changed since its backup; it is backed up again first", name=path.name)
            keep_until = max(keep_until, st.st_mtime + self.days * DAY)
        group.size = sum(row.size for _, row in group.recordings if row is not None)
        if keep_until > self.clock():
            return N_("kept until {date} (cleanup.local_after_days = {days})", date=_human_date(keep_until),
                      days=self.days)
        return ""

    def _move(self, group: _Group, what: str, size: int, files: int) -> Decision:
        entry = self.journal.begin("local", os.fsencode(group.path), what, size, files)
        try:
            self.trash(group.path)
        except Exception as exc:  # noqa: BLE001 - send2trash raises OSError and its own TrashPermissionError
            self.journal.finish(entry, "undone", f"{type(exc).__name__}: {exc}")
            log.warning("could not move %s to the trash: %s", what, exc)
            why = N_("could not move it to the trash: {error}", error=str(exc))
            return Decision("local", what, 0, files, False, why)
        self.journal.finish(entry, "done", "moved to the OS trash")
        log.info("moved %s to the trash (%d recording(s), %d bytes): every one is safe at %s", what, files, size,
                 self.destination.label)
        return Decision("local", what, size, files, True, N_("moved to the OS trash"))


# -- cloud recordings to Zoom's trash ---------------------------------------------------------------

def scope_message(exc: ZoomwatchError) -> str:
    return N_("Zoom refused to move recordings to its trash: the Zoom app lacks the permission (scope) "
              "{scope} (recording:write on older apps) — add it to your Zoom app and sign in again "
              "(zoomwatch login), or turn off zoom.trash_after_backup. Zoom said: {message}", scope=DELETE_SCOPE,
              message=exc.message)


class CloudTrash:
    """Decides, for one listed meeting, whether it goes to Zoom's trash, and does it."""

    def __init__(self, config: Config, catalog: Catalog, destination: Destination, journal: Journal, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.catalog = catalog
        self.destination = destination
        self.journal = journal
        self.clock = clock
        self.problem = ""  # the last reason nothing could be trashed (destination down, scope missing)

    def consider(self, meeting: dict[str, Any], rows: list[Row | None], trash: Callable[[str], bool], *,
                 dry_run: bool = False) -> Decision:
        """`rows`: the catalog row of every file Zoom listed for the meeting (None: never fetched)."""
        what = f"{meeting.get('topic') or 'Zoom Meeting'} ({str(meeting.get('start_time', ''))[:16]})"
        size = sum(r.size for r in rows if r is not None)

        def stays(reason: str) -> Decision:
            return Decision("cloud", what, size, len(rows), False, reason)

        if not rows or any(r is None or r.state is not FileState.VERIFIED or not r.sha256 or not r.remote_key
                           for r in rows):
            return stays(N_("not every file of it is backed up yet"))
        days = int(self.config["zoom.trash_after_days"])
        last = max(r.verified_at or 0.0 for r in rows if r is not None)
        if last + days * DAY > self.clock():
            until = _human_date(last + days * DAY)
            return stays(N_("kept in Zoom's cloud until {date} (zoom.trash_after_days = {days})", date=until,
                            days=days))
        for row in rows:
            assert row is not None and row.remote_key and row.sha256
            try:
                check = check_backup(self.destination, row.remote_key, row.size, row.sha256)
            except ZoomwatchError as exc:
                self.problem = N_("could not check the backups at {label}: {title}: {message}",
                                  label=self.destination.label, title=exc.title, message=exc.message)
                return stays(N_("not checked: {problem}", problem=self.problem))
            if not check.safe:
                if not dry_run:  # fetched from Zoom again at the next sync
                    self.catalog.mark_missing(row.id, _verdict_reason(check.verdict, row.remote_key))
                return stays(_verdict_reason(check.verdict, row.remote_key))
        if dry_run:
            return Decision("cloud", what, size, len(rows), True, N_("safe at the destination"))
        entry = self.journal.begin("cloud", str(meeting["uuid"]).encode(), what, size, len(rows))
        try:
            moved = trash(str(meeting["uuid"]))
        except (Cancelled, KeyringUnavailable, RateLimited, SignedOut):
            self.journal.finish(entry, "undone", "the sync stopped before Zoom answered")
            raise
        except ZoomwatchError as exc:
            scope = getattr(exc, "code", None) in SCOPE_CODES
            self.problem = scope_message(exc) if scope else N_("Zoom refused to move {what} to its trash: {message}",
                                                                  what=what, message=exc.message)
            self.journal.finish(entry, "undone", self.problem)
            return stays(self.problem)
        self.journal.finish(entry, "done" if moved else "undone",
                            "moved to Zoom's trash" if moved else "Zoom no longer had it")
        if moved:
            log.info("moved the cloud recording of %s to Zoom's trash: every file is safe at %s", what,
                     self.destination.label)
        return Decision("cloud", what, size, len(rows), moved, N_("moved to Zoom's trash") if moved else
                        N_("Zoom no longer had it"))
