"""Finding finished recordings: a start-up scan, a watchdog observer, and the settle rule.

A file is finished only when (a) its size and mtime have not changed for `watch.settle_seconds`,
(b) it can be opened for reading, and (c) its meeting folder holds no Zoom intermediate (`*.zoom`)
files — Zoom converts at the end of a meeting and writes the mp4 progressively. Empty files wait.

Symbolic links are never followed, neither found by the scan nor announced by an event, whether to a
file or a folder: a `chat.txt` linking to a key file outside would otherwise be uploaded. zoomwatch's own
folders (its data, state, cache and the backup folder) are never read when they lie below the watched
folder, and a backup folder inside the watched folder (or holding it) stops the scan altogether.

watchdog calls handlers on its observer thread: the handler only puts the path on a queue. One
settle thread owns all the bookkeeping, so nothing here needs a lock beyond the queue. When the system's
change notifications cannot be used (inotify limits reached, some network shares) the watcher falls back
to watchdog's polling observer; the engine also rescans the whole folder every RESCAN_SECONDS, which
costs one stat per file and opens none that is backed up and unchanged.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoomwatch.config import Config
from zoomwatch.core.catalog import Catalog, FileInfo, FileState, path_bytes
from zoomwatch.errors import ConfigError
from zoomwatch.i18n import N_
from zoomwatch.naming import parse_meeting

log = logging.getLogger(__name__)

INTERMEDIATE_GLOB = ".zoom"
TICK_SECONDS = 1.0
IDLE_CHECK_SECONDS = 5.0
RESCAN_SECONDS = 600.0  # a whole-folder scan this often: events lost (overflow, no inotify) are caught up
POLL_SECONDS = 5.0  # the polling observer's interval when change notifications cannot be used
FOLDER_MISSING = "missing"  # folder_problem's title for a Zoom folder that is not there (the caller words it)
# states of a file found unchanged by a later scan, left to their own retry times
LEFT_TO_RETRY = (FileState.QUEUED, FileState.FAILED, FileState.UPLOADING)
WAITING = (FileState.SETTLING, FileState.QUEUED, FileState.FAILED)  # not backed up yet, nor being backed up


@dataclass
class Pending:
    row_id: int
    size: int
    mtime_ns: int
    stable_since: float
    observations: int = 1
    waiting_for: str | None = None


@dataclass(frozen=True)
class ScanResult:
    files: int
    unchanged: int
    to_check: int
    errors: tuple[str, ...]


def walk_files(root: Path, errors: list[str],
               skip: Callable[[str], bool] = lambda path: False) -> Iterator[os.DirEntry[str]]:
    """Every regular file below `root`; symbolic links (to files or folders) are never followed, folders
    for which `skip(path)` is true are not entered, unreadable folders are reported and skipped."""
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if not skip(entry.path):
                                stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            yield entry
                    except OSError as exc:
                        errors.append(f"cannot read {entry.path!r}: {exc.strerror or exc}")
        except OSError as exc:
            errors.append(f"cannot read folder {folder!r}: {exc.strerror or exc}")


class Fence:
    """What below the watched folder zoomwatch must not read: anything reached through a symbolic link,
    and zoomwatch's own folders. Paths are compared as found below `root` (the walk follows no link, so
    they map onto the real root without a system call)."""

    def __init__(self, root: Path, own: list[Path]) -> None:
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)
        self.own = tuple(dict.fromkeys(os.path.realpath(p) for p in own))

    def _real(self, path: str) -> str | None:
        path = os.path.abspath(path)
        if path == self.root:
            return self.real_root
        if not path.startswith(self.root.rstrip(os.sep) + os.sep):
            return None
        return self.real_root.rstrip(os.sep) + path[len(self.root.rstrip(os.sep)):]

    def is_own(self, path: str) -> bool:
        real = self._real(path)
        return real is not None and any(real == own or real.startswith(own.rstrip(os.sep) + os.sep)
                                        for own in self.own)

    def admits(self, path: str) -> bool:
        """Whether `path` lies really inside the root, through no symbolic link, and outside zoomwatch's own
        folders (one realpath: for paths from events, which may come through a linked folder)."""
        real = self._real(path)
        return (real is not None and os.path.normcase(os.path.realpath(path)) == os.path.normcase(real)
                and not self.is_own(path))


def own_folders(config: Config) -> list[Path]:
    """zoomwatch's own folders, never backed up even when the watched folder holds them."""
    p = config.paths
    folders = [p.config_dir, p.data_dir, p.state_dir, p.log_dir, p.cache_dir, p.spool_dir]
    if config["destination.kind"] == "local":
        folders.append(config.backup_folder)
    return folders


def open_nofollow(path: Path | str) -> int:
    """A read-only descriptor of `path`, refusing a symbolic link in its last part (O_NOFOLLOW where the
    system has it; elsewhere the caller's lstat check is all there is)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    return os.open(path, flags)


class Settler:
    """Decides when files are finished and queues them in the catalog. Runs on one thread."""

    def __init__(self, config: Config, catalog: Catalog, dest_id: str, *,
                 on_queued: Callable[[], None] = lambda: None,
                 on_change: Callable[[int], None] = lambda n: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.catalog = catalog
        self.dest_id = dest_id
        self.on_queued = on_queued
        self.on_change = on_change
        self.clock = clock
        self.inbox: queue.Queue[Path | None] = queue.Queue()
        self.pending: dict[Path, Pending] = {}
        self._stop = threading.Event()
        self.fence = Fence(config.watch_folder, own_folders(config))

    # -- called from any thread -------------------------------------------------------------------

    def offer(self, path: Path) -> None:
        self.inbox.put(path)

    def stop(self) -> None:
        self._stop.set()
        self.inbox.put(None)

    # -- the settle thread ------------------------------------------------------------------------

    def scan(self, root: Path, *, rescan: bool = False) -> ScanResult:
        """Compare the tree with the catalog: unchanged backed-up files are not opened, everything else
        is checked; catalog rows whose file went away are marked missing. ConfigError when the backup
        folder and the watched folder overlap (zoomwatch would back up its own backups). A `rescan` (the
        periodic one, or of a folder an event names) leaves queued and failed files to their retry times."""
        overlap = self.config.folder_overlap()
        if overlap:
            raise ConfigError(N_("Backup folder and Zoom folder overlap"),
                              N_("{overlap}; nothing is backed up until it is fixed: zoomwatch config set "
                                 "destination.local.path PATH", overlap=overlap))
        errors: list[str] = []
        known = self.catalog.current_stats(self.dest_id)
        files = unchanged = 0
        found: set[bytes] = set()
        for entry in walk_files(root, errors, skip=self.fence.is_own):
            if not self.config.wants(entry.name):
                continue
            files += 1
            raw = path_bytes(entry.path)
            found.add(raw)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                errors.append(f"cannot read {entry.path!r}: {exc.strerror or exc}")
                continue
            previous = known.get(raw)
            if previous is not None and previous[:2] == (st.st_size, st.st_mtime_ns) and (
                    previous[2] is FileState.VERIFIED or (rescan and previous[2] in LEFT_TO_RETRY)):
                unchanged += 1  # a later scan leaves queued and failed files to their own retry times
                continue
            self._consider(Path(entry.path), st)
        inside = path_bytes(root).rstrip(os.sep.encode()) + os.sep.encode()
        for raw, (_, _, state) in known.items():
            if state in WAITING and raw not in found and raw.startswith(inside):
                row = self.catalog.current(self.dest_id, raw)
                if row is not None:
                    self.catalog.mark_missing(row.id, N_("deleted or renamed before it was backed up"))
        for problem in errors:
            log.warning("%s", problem)
        self.on_change(len(self.pending))
        return ScanResult(files, unchanged, files - unchanged, tuple(errors))

    def run(self, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Drain the inbox and re-check pending files until stopped, or until `keep_going()` says no
        (asked every few seconds even when idle: the watched folder may vanish with its drive)."""
        while not self._stop.is_set() and keep_going():
            timeout = TICK_SECONDS if self.pending else IDLE_CHECK_SECONDS
            try:
                item = self.inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            batch = [item] if item is not None else []
            while True:
                try:
                    more = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if more is not None:
                    batch.append(more)
            if self._stop.is_set():
                return
            for path in dict.fromkeys(batch):
                self._event(path)
            self.check_pending()

    def _event(self, path: Path) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self._forget(path, N_("deleted or renamed before it was backed up"))
            return
        except OSError as exc:
            log.warning("cannot read %r: %s", str(path), exc.strerror or exc)
            return
        if stat.S_ISLNK(st.st_mode) or not self.fence.admits(str(path)):
            if path in self.pending:
                self._forget(path, N_("replaced by a symbolic link, which zoomwatch never follows"))
            return
        if stat.S_ISDIR(st.st_mode):
            self.scan(path, rescan=True)
        elif stat.S_ISREG(st.st_mode) and self.config.wants(path.name):
            self._consider(path, st)

    def _consider(self, path: Path, st: os.stat_result) -> None:
        if st.st_size == 0:
            self.pending.pop(path, None)  # empty files wait for their first bytes; the next event brings them back
            return
        item = self.pending.get(path)
        if item is not None and (item.size, item.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return
        row = self.catalog.note_seen(self.dest_id, path, st.st_size, st.st_mtime_ns)
        if row.state in (FileState.VERIFIED, FileState.UPLOADING):
            self.pending.pop(path, None)
            return
        now = self.clock()
        mtime = st.st_mtime_ns / 1e9
        self.pending[path] = Pending(row.id, st.st_size, st.st_mtime_ns, min(mtime, now) if item is None else now)
        self.on_change(len(self.pending))

    def _forget(self, path: Path, reason: str) -> None:
        if folder_problem(self.config.watch_folder) is not None:
            return  # the whole folder went away (a drive unplugged) or is refused: nothing was deleted, wait
        item = self.pending.pop(path, None)
        if item is not None:
            log.info("no longer waiting for %s: %s", path, reason)
            self.catalog.mark_missing(item.row_id, reason)
            self.on_change(len(self.pending))

    def check_pending(self) -> None:
        """One settle round over every pending file."""
        if not self.pending:
            return
        now = self.clock()
        settle = float(self.config["watch.settle_seconds"])
        converting: dict[Path, bool] = {}
        for path, item in list(self.pending.items()):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                self._forget(path, N_("deleted or renamed before it was backed up"))
                continue
            except OSError as exc:
                self._wait(item, N_("cannot read it: {reason}", reason=str(exc.strerror or exc)))
                continue
            if not stat.S_ISREG(st.st_mode):
                self._forget(path, N_("replaced by a symbolic link, which zoomwatch never follows"))
                continue
            if (st.st_size, st.st_mtime_ns) != (item.size, item.mtime_ns):
                if st.st_size == 0:
                    self._forget(path, N_("became empty"))
                    continue
                item.size, item.mtime_ns, item.stable_since, item.observations = (
                    st.st_size, st.st_mtime_ns, now, 1)
                continue
            item.observations += 1
            if item.observations < 2 or now - item.stable_since < settle:
                continue
            folder = path.parent
            if folder not in converting:
                converting[folder] = _has_intermediates(folder)
            if converting[folder]:
                self._wait(item, N_("Zoom is still converting this meeting"))
                continue
            if not self.fence.admits(str(path)):  # a folder on the way was swapped for a link meanwhile
                self._forget(path, N_("reached through a symbolic link, which zoomwatch never follows"))
                continue
            try:
                os.close(open_nofollow(path))
            except OSError as exc:
                self._wait(item, N_("cannot open it yet: {reason}", reason=str(exc.strerror or exc)))
                continue
            self._queue(path, item)

    def _wait(self, item: Pending, reason: str) -> None:
        if item.waiting_for != reason:
            item.waiting_for = reason
            self.catalog.note_waiting(item.row_id, reason)

    def _queue(self, path: Path, item: Pending) -> None:
        root = self.config.watch_folder
        meeting = parse_meeting(path, root, item.mtime_ns / 1e9)
        info = FileInfo(title=meeting.title, start=meeting.start.isoformat(), meeting_id=meeting.meeting_id,
                        parsed_from=meeting.source, name=path.name)
        self.catalog.mark_queued(item.row_id, item.size, item.mtime_ns, info)
        del self.pending[path]
        log.info("finished: %s (%d bytes)", path, item.size)
        self.on_change(len(self.pending))
        self.on_queued()

    def waiting_reasons(self) -> dict[Path, str | None]:
        return {path: item.waiting_for for path, item in self.pending.items()}


def _has_intermediates(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.lower().endswith(INTERMEDIATE_GLOB) for e in entries)
    except OSError:
        return False


def native_observer() -> Any:
    """watchdog's observer for this system (inotify, FSEvents, ReadDirectoryChangesW); a seam for tests."""
    from watchdog.observers import Observer

    return Observer()


def folder_problem(root: Path, platform: str = sys.platform) -> tuple[str, str] | None:
    """Why the Zoom folder cannot be watched now (title, what to do), or None when it can. Never raises:
    on macOS a folder in Documents the user did not allow gives PermissionError even to a stat."""
    try:
        with os.scandir(root):
            return None
    except FileNotFoundError:
        return FOLDER_MISSING, ""
    except NotADirectoryError:
        return FOLDER_MISSING, ""
    except PermissionError:
        pass
    except OSError as exc:
        return N_("Cannot read the Zoom folder"), N_("{root}: {reason}; zoomwatch tries again", root=str(root),
                                                     reason=str(exc.strerror or exc))
    where = "Documents" if "Documents" in root.parts else N_("the Zoom folder")
    if platform == "darwin":
        how = N_("allow it in System Settings › Privacy & Security › Files and Folders (zoomwatch › {where}), "
                 "or under Full Disk Access", where=where)
    else:
        how = N_("give your user read access to it")
    return (N_("zoomwatch needs access to {where}", where=where),
            N_("the system refuses to show {root}: {how}; zoomwatch tries again by itself", root=str(root), how=how))


def reading_events() -> frozenset[str]:
    """watchdog's event types for a file opened or closed without a write: they change nothing (and
    zoomwatch's own reads cause them). watchdog 4 has no close-without-write event."""
    from watchdog import events

    kinds = {events.EVENT_TYPE_OPENED, getattr(events, "EVENT_TYPE_CLOSED_NO_WRITE", None)}
    return frozenset(kind for kind in kinds if kind is not None)


class FolderWatcher:
    """A recursive watchdog observer whose handler only hands paths to the settler; `polling` uses
    watchdog's polling observer (for when change notifications cannot be had)."""

    def __init__(self, root: Path, offer: Callable[[Path], None], *, polling: bool = False) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler

        ignored = reading_events()

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ignored:
                    return
                offer(Path(os.fsdecode(event.src_path)))
                dest = getattr(event, "dest_path", "")
                if dest:
                    offer(Path(os.fsdecode(dest)))

        self.root = root
        self.polling = polling
        if polling:
            from watchdog.observers.polling import PollingObserver

            self.observer = PollingObserver(timeout=POLL_SECONDS)
        else:
            self.observer = native_observer()
        self.observer.name = "zoomwatch-watchdog"
        self.observer.schedule(Handler(), str(root), recursive=True)

    def start(self) -> None:
        self.observer.start()

    def alive(self) -> bool:
        """False when the observer or one of its emitters has died (it then misses every change)."""
        return bool(self.observer.is_alive() and all(e.is_alive() for e in self.observer.emitters))

    def stop(self) -> None:
        try:
            self.observer.stop()
        except Exception as exc:  # a dead observer may fail to stop; it is dropped all the same
            log.debug("stopping the folder watcher: %s", exc)
        if self.observer.is_alive():
            self.observer.join(timeout=10)
