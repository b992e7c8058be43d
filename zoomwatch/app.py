"""The engine: wires the watcher, the settler, the catalog, the transfer workers and the destination,
and keeps the status board the faces read. It knows nothing of pystray or Tk.

Commands: start(), stop(), pause(), resume(), sync_now(), reload(config), run_once(), run_cloud_once().
Threads are named (`zoomwatch-settle`, `zoomwatch-upload-N`, `zoomwatch-watchdog`, `zoomwatch-cloud`,
`zoomwatch-service`) so a stack dump reads well. The service thread, from the first start() until close(),
notices changed settings or secrets and reloads, and publishes the board to `status_file(paths)` so
`zoomwatch status` in another process shows every problem.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from zoomwatch import config as configmod
from zoomwatch.config import Config
from zoomwatch.core import at_risk as risk
from zoomwatch.core.audit import AuditItem, AuditReport, AuditState
from zoomwatch.core.catalog import STATES, Catalog, FileState, Origin, Row
from zoomwatch.core.cleanup import CloudTrash, Entry, Journal, LocalCleanup, Report
from zoomwatch.core.restore import Meeting, RestoreFailed
from zoomwatch.core.status import Activity, EngineStatus, Problem, ProblemKey, Snapshot, StatusBoard
from zoomwatch.core.transfer import RetryPolicy, Transfers
from zoomwatch.destinations import Destination, open_destination
from zoomwatch.destinations.local import LocalDestination
from zoomwatch.destinations.s3 import abort_unknown_uploads
from zoomwatch.errors import AlreadyRunning, BadSetting, ConfigError, DestinationError, ZoomwatchError
from zoomwatch.i18n import N_, NP_, join, keep, state_count
from zoomwatch.memory import release_big_buffers_at_once
from zoomwatch.paths import AppPaths
from zoomwatch.printable import printable
from zoomwatch.secrets import KeyringUnavailable
from zoomwatch.sources import local as watch
from zoomwatch.sources.local import FOLDER_MISSING, TICK_SECONDS, FolderWatcher, Settler, folder_problem
from zoomwatch.sources.zoom.accounts import sync_targets
from zoomwatch.sources.zoom.api import RateLimited
from zoomwatch.sources.zoom.cloud import DOWNLOADS, SPOOL_FILES, CloudSync
from zoomwatch.sources.zoom.fleet import Fleet
from zoomwatch.sources.zoom.oauth import SignedOut

log = logging.getLogger(__name__)

# what the faces use: the engine and the values it hands out
__all__ = ["Activity", "Engine", "EngineStatus", "FileReport", "FileState", "OnceResult", "Problem", "ProblemKey",
           "Snapshot", "check_destination", "cleanup_history", "at_risk_list", "CleanupReport", "CleanupEntry",
           "file_report", "published_status", "recording_files", "status_file", "zoom_login", "zoom_logout",
           "zoom_user"]

FOLDER_RECHECK_SECONDS = 30.0
POLLING = N_("Watching the Zoom folder by polling")
RESTART_FIRST_SECONDS = 5.0
COUNTS_EVERY_SECONDS = 0.5
ONCE_MAX_ATTEMPTS = 3
CLOUD_FAILED = N_("Zoom cloud sync failed")
THREAD_RETRY_SECONDS = (5.0, 300.0)  # a loop that failed unexpectedly starts again after this (doubling)
PUBLISH_EVERY_SECONDS = 0.5  # the status file is written at most this often
SETTINGS_POLL_SECONDS = 1.0
UNFINISHED = (FileState.FAILED, FileState.QUEUED, FileState.UPLOADING)  # what run --once and sync report
CLEANUP_EVERY_SECONDS = 86400.0  # the local clean-up runs once a day (and after each cloud sync)
SHARED_PROBLEM = "shared_catalog"  # the board's key for the shared catalog (PostgreSQL) being unusable
SHARED_EVERY_SECONDS = 2.0  # verified rows are published at most this late
CLOUD_RETRY_SECONDS = (60.0, 300.0)  # first retry after a failed cloud sync, and the longest (backoff between)


def cloud_retry_delay(failed_before: int, interval: float) -> float:
    """Seconds to the next try after a failed cloud sync: 1, 2, 4 minutes... up to 5 (never past the interval)."""
    first, longest = CLOUD_RETRY_SECONDS
    return min(interval, longest, first * 2.0 ** min(failed_before, 16))


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


class Engine:
    def __init__(self, config: Config, *, destination: Destination | None = None,
                 retry: RetryPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        release_big_buffers_at_once()  # part buffers of 16 MiB do not stay resident (zoomwatch/memory.py)
        self.config = config
        self.clock = clock
        self.retry = retry
        self.board = StatusBoard()
        self.catalog = Catalog(config.paths.catalog_file, clock=clock)
        self.destination = destination or open_destination(config)
        self._lock = FileLock(str(config.paths.lock_file), timeout=0)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watcher: FolderWatcher | None = None
        self._counted_at = -1e9
        self._control = threading.RLock()  # start/stop/reload from a face and from the service thread
        self._closing = threading.Event()
        self._service: threading.Thread | None = None
        self._holding = False  # this engine owns the instance lock (so it may publish the status file)
        self.journal = Journal(config.paths.catalog_file, clock=clock)  # clean-up journal, at-risk list
        self._cleanup_now = threading.Event()
        self._build()

    def _build(self) -> None:
        self.settler = Settler(self.config, self.catalog, self.destination.id,
                               on_queued=self._queued, on_change=lambda n: self._refresh(), clock=self.clock)
        self.transfers = Transfers(self.config, self.catalog, self.destination, self.board,
                                   requeue=self.settler.offer, on_change=lambda: self._refresh(recount=True),
                                   retry=self.retry, clock=self.clock)
        self.board.update(watch_folder=str(self.config.watch_folder), destination=self.destination.label)
        self._build_cleanup()
        self.cloud = self._make_cloud()
        self._sync_now = threading.Event()
        self._shared_build()

    def _make_cloud(self) -> CloudSync | None:
        if self.config["zoom.mode"] == "off":
            return None
        try:
            targets = sync_targets(self.config)
        except ConfigError as exc:
            self.board.set_problem(ProblemKey.SETTINGS, exc.title, exc.message)
            return None
        return CloudSync(self.config, self.catalog, self.destination.id, targets,
                         spool=self.config.paths.spool_dir, on_queued=self._queued, trash=self.cloud_trash.consider,
                         spool_files=SPOOL_FILES, held=self._uploads_held, downloads=DOWNLOADS)

    # -- state for the faces ----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self.board.snapshot()

    def wait_for_change(self, version: int, timeout: float | None = None) -> Snapshot:
        """Block until the board differs from `version` (or the time-out passes); the new snapshot."""
        return self.board.wait_for_change(version, timeout)

    @property
    def paths(self) -> AppPaths:
        return self.config.paths

    def setting(self, key: str) -> object:
        """A setting in force (the engine reloads them itself when they change)."""
        return self.config[key]

    @property
    def watch_folder(self) -> Path:
        return self.config.watch_folder

    @property
    def destination_label(self) -> str:
        return self.destination.label

    def backup_location(self, key: str = "") -> str:
        """Where a person finds the backup of `key` (the destination's root for ""): a path or a URL."""
        return self.destination.location(key)

    def share_link(self, key: str) -> str | None:
        """A download link for a backup (S3, Supabase), or None where a folder is the place to look."""
        return self.destination.share_link(key)

    def can_sync_cloud(self) -> bool:
        """Whether "Sync now" can do anything: cloud backup is on and the user is not signed out."""
        return self.cloud is not None and not any(p.key == ProblemKey.ZOOM_SIGN_IN for p in self.snapshot().problems)

    def set_cloud_progress(self, progress_bar: Callable[[str, int], object]) -> None:
        """`zoomwatch sync` on a terminal: a progress bar per download."""
        if self.cloud is not None:
            self.cloud.progress_bar = progress_bar  # type: ignore[assignment]

    def _queued(self) -> None:
        self.transfers.wake()

    def _refresh(self, *, recount: bool = False) -> None:
        """Recompute the status; the per-state counts are read again when something finished
        (`recount`), when the status changed, or at most every COUNTS_EVERY_SECONDS otherwise."""
        snap = self.board.snapshot()
        if self._stop.is_set() and not self._threads:
            status = EngineStatus.STOPPED
        elif self.transfers.paused:
            status = EngineStatus.PAUSED
        elif snap.problem is not None:
            status = EngineStatus.ERROR
        elif self.transfers.busy():
            status = EngineStatus.UPLOADING
        elif self._watcher is not None:
            status = EngineStatus.WATCHING
        else:
            status = EngineStatus.IDLE
        now = time.monotonic()
        if recount:
            self._recheck_at_risk()
            if not self.transfers.busy():
                self._cleanup_now.set()  # backups finished: the local clean-up looks (when it is on)
        if recount or status != snap.status or now - self._counted_at >= COUNTS_EVERY_SECONDS:
            self._counted_at = now  # counting every row on every change made big first backups quadratic
            self.board.update(status=status, counts=self.catalog.counts(self.destination.id),
                              settling=len(self.settler.pending))
        elif len(self.settler.pending) != snap.settling:
            self.board.update(settling=len(self.settler.pending))

    # -- lifecycle --------------------------------------------------------------------------------

    def acquire(self) -> None:
        """Refuse to run twice on one configuration (the lock dies with the process, even on SIGKILL)."""
        self.config.paths.lock_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            pid = _read_pid(self.config.paths.lock_file.with_suffix(".pid"))
            raise AlreadyRunning(
                N_("zoomwatch is already running"),
                N_("another zoomwatch{pid} uses this configuration; stop it first, or see what it does with: "
                   "zoomwatch status", pid=f" (pid {pid})" if pid else ""),
            ) from None
        self.config.paths.lock_file.with_suffix(".pid").write_text(str(os.getpid()))
        self._holding = True  # FileLock's is_locked is per thread; the service thread asks this

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    def _prepare(self) -> None:
        if self.config.problems:
            self.board.set_problem(ProblemKey.SETTINGS, N_("Settings problem"), join("; ", self.config.problems))
        resumed = self.catalog.requeue_interrupted(self.destination.id)
        if resumed:
            log.info("%d interrupted backup(s) will resume", resumed)
        self._discard_abandoned_uploads()
        # the destination's problem has its own key: it cannot hide the settings or the overlap
        if self.check_destination() and isinstance(self.destination, LocalDestination):
            self._recheck_local_backups()
        abort_unknown_uploads(self.destination, self.catalog)  # S3: forgotten multipart uploads under the prefix

    def _discard_abandoned_uploads(self) -> None:
        """Unfinished uploads of files that went away (or were replaced) while zoomwatch was stopped are
        thrown away at the store once, so no partial upload stays stored (and billed) for ever."""
        if folder_problem(self.config.watch_folder) is None:  # a Zoom folder on a drive unplugged deleted nothing
            for row in self.catalog.rows(self.destination.id):
                if row.state in watch.WAITING and row.resume and not os.path.lexists(row.fs_path):
                    self.catalog.mark_missing(row.id, N_("deleted or renamed before it was backed up"))
        for row in self.catalog.abandoned_uploads(self.destination.id):
            try:
                self.destination.discard(row.resume)
            except ZoomwatchError as exc:
                log.warning("could not clean up the unfinished upload of %s: %s (tried again at the next start)",
                            row.display, exc.message)
                continue
            self.catalog.clear_resume(row.id)
            log.info("threw away the unfinished upload of %s (the file is gone)", row.display)

    def _recheck_local_backups(self) -> None:
        """A backup folder emptied or re-created while its files were verified: every verified file whose
        backup is gone and whose recording is still there unchanged is copied again (a stat each)."""
        lost = 0
        for row in self.catalog.rows(self.destination.id):
            if row.state is not FileState.VERIFIED or not row.remote_key:
                continue
            try:
                if self.destination.stat(row.remote_key) is not None:
                    continue
                st = os.stat(row.fs_path)
            except (OSError, ZoomwatchError):
                continue
            if (st.st_size, st.st_mtime_ns) == (row.size, row.mtime_ns):
                self.catalog.requeue_lost(row.id)
                lost += 1
        if lost:
            log.warning("%d verified recording(s) are no longer in %s; they are copied again", lost,
                        self.destination.label)

    def check_destination(self) -> bool:
        try:
            self.destination.check()
        except DestinationError as exc:
            self.transfers.destination_down(exc)
            return False
        return True

    def start(self) -> None:
        """Watch the Zoom folder and back up in the background until stop()."""
        with self._control:
            self._start()
        self._start_service()

    def _start(self) -> None:
        self._stop.clear()
        self._prepare()
        self.transfers.start()
        thread = threading.Thread(target=self._settle_main, name="zoomwatch-settle", daemon=True)
        thread.start()
        self._threads.append(thread)
        if self.cloud is not None:
            cloud = threading.Thread(target=self._cloud_main, name="zoomwatch-cloud", daemon=True)
            cloud.start()
            self._threads.append(cloud)
        self._start_cleanup()
        self._shared_start(self._stop)
        self._refresh()

    def _settle_main(self) -> None:
        """The settle thread never dies: an unexpected failure is logged and shown (keyed SETTLE_THREAD),
        and watching starts again after a delay (doubling up to a limit); stop() ends the wait at once."""
        failed = 0
        while not self._stop.is_set():
            try:
                self._settle_loop()
                return
            except Exception as exc:  # noqa: BLE001 - the settle thread must never die
                failed += 1
                first, longest = THREAD_RETRY_SECONDS
                delay = min(longest, first * 2.0 ** min(failed - 1, 16))
                log.exception("watching the Zoom folder failed unexpectedly; trying again in %.0f s", delay)
                self.board.set_problem(ProblemKey.SETTLE_THREAD, N_("Watching the Zoom folder failed"),
                                       N_("internal error ({kind}); zoomwatch tries again in {seconds} s — the log "
                                          "has the details", kind=type(exc).__name__, seconds=f"{delay:.0f}"))
                self._stop.wait(delay)

    def _settle_loop(self) -> None:
        """Watch the Zoom folder; if it vanishes (a drive unplugged) or the system refuses to show it (macOS
        privacy), say so, wait, and carry on. A backup folder inside it is refused: nothing is watched."""
        root = self.config.watch_folder
        overlap = self.config.folder_overlap()
        if overlap:
            self.board.set_problem(ProblemKey.FOLDER_OVERLAP, N_("Backup folder and Zoom folder overlap"),
                                   N_("{overlap}; nothing is backed up until it is fixed", overlap=overlap))
            log.error("%s; nothing is backed up until it is fixed", overlap)
            self._refresh()
            return
        gone = False
        shown: tuple[str, str] | None = None
        while not self._stop.is_set():
            problem = folder_problem(root)
            if problem is not None:
                if problem[0] == FOLDER_MISSING:
                    title = N_("Zoom folder is gone") if gone else N_("Zoom folder not found")
                    problem = (title, N_("{root} is not there — connect its drive, or choose another folder: "
                               "zoomwatch config set watch.folder PATH; zoomwatch waits for it", root=str(root)))
                if self.board.set_problem(ProblemKey.WATCH_FOLDER, *problem) and problem != shown:
                    log.warning("%s: %s", *problem)
                shown = problem
                self._refresh()
                self._stop.wait(FOLDER_RECHECK_SECONDS)
                continue
            if shown is not None:
                self.board.clear_problem(ProblemKey.WATCH_FOLDER)
                shown = None
            self._refresh()
            self._watch(root)
            if self._stop.is_set():
                return
            gone = True
            log.warning("the Zoom folder %s went away; waiting for it to come back", root)
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher = None
            self._refresh()

    def _start_watcher(self, root: Path) -> None:
        """The system's change notifications if they can be had, else watchdog's polling observer (inotify
        limits reached, some network shares), said as a problem; the periodic rescan covers the rest."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        watcher: FolderWatcher | None = None
        try:
            watcher = FolderWatcher(root, self.settler.offer)
            watcher.start()
            self._watcher = watcher
            self.board.clear_problem(ProblemKey.WATCHER)
            return
        except OSError as exc:
            if watcher is not None:
                watcher.stop()
            reason = exc.strerror or str(exc)
        try:
            watcher = FolderWatcher(root, self.settler.offer, polling=True)
            watcher.start()
            self._watcher = watcher
            message = N_("the system's change notifications cannot be used for {root} ({reason}); zoomwatch "
                         "looks for new files every {seconds} s instead. On Linux, raising "
                         "fs.inotify.max_user_watches and fs.inotify.max_user_instances (sysctl) fixes this",
                         root=str(root), reason=reason, seconds=f"{watch.POLL_SECONDS:g}")
            if self.board.set_problem(ProblemKey.WATCHER, POLLING, message):
                log.warning("%s: %s", POLLING, message)
        except OSError as exc:
            self._watcher = None
            self.board.set_problem(ProblemKey.WATCHER, N_("Cannot watch the Zoom folder"),
                                   N_("{root}: {reason}; zoomwatch looks for new files every {minutes} minutes",
                                      root=str(root), reason=str(exc.strerror or exc),
                                      minutes=f"{watch.RESCAN_SECONDS / 60:g}"))

    def _watch(self, root: Path) -> None:
        """Start the observer, scan, then settle files until stopped or the folder vanishes. The whole
        folder is scanned again every RESCAN_SECONDS (events lost to an overflow, a share with no
        notifications), and an observer that died, or a polling stand-in, is started again."""
        self._start_watcher(root)
        started = time.monotonic()
        result = self.settler.scan(root)
        self.board.clear_problem(ProblemKey.SETTLE_THREAD)  # watching works (again)
        log.info("start-up scan of %s: %d files, %d already backed up, %d to check (%.2f s)",
                 root, result.files, result.unchanged, result.to_check, time.monotonic() - started)
        self._refresh()
        next_scan = time.monotonic() + watch.RESCAN_SECONDS
        restart_at, backoff = 0.0, RESTART_FIRST_SECONDS

        def keep_going() -> bool:
            nonlocal next_scan, restart_at, backoff
            if folder_problem(root) is not None:
                return False
            now = time.monotonic()
            rescan = now >= next_scan
            dead = self._watcher is None or not self._watcher.alive()
            if (dead and now >= restart_at) or (rescan and self._watcher is not None and self._watcher.polling):
                if dead:  # an observer dying again at once is retried less and less often
                    log.warning("the watcher of %s stopped; starting it again", root)
                    restart_at, backoff = now + backoff, min(2 * backoff, watch.RESCAN_SECONDS)
                self._start_watcher(root)
            elif not dead and now - restart_at > watch.RESCAN_SECONDS:
                backoff = RESTART_FIRST_SECONDS  # it has been running well for a while
            if rescan:
                self.settler.scan(root, rescan=True)
                next_scan = time.monotonic() + watch.RESCAN_SECONDS
            return True

        self.settler.run(keep_going=keep_going)

    def sync_now(self) -> None:
        """Ask for a Zoom cloud sync at once (the tray's "Sync now")."""
        self._sync_now.set()

    def _cloud_main(self) -> None:
        """Sync Zoom cloud recordings every zoom.sync_interval_minutes until stopped. This thread never
        dies: any failure is logged and shown, and the sync is tried again sooner (with backoff)."""
        assert self.cloud is not None
        cloud = self.cloud  # a reload builds a new CloudSync: this thread keeps to its own
        interval = 60.0 * int(self.config["zoom.sync_interval_minutes"])
        failed = 0
        while not self._stop.is_set() and not cloud.stop.is_set():
            wait = interval
            try:
                wait = self._cloud_pass(cloud, interval, failed)
            except Exception as exc:  # noqa: BLE001 - the cloud thread must never die
                log.exception("Zoom cloud sync failed unexpectedly")
                wait = self._cloud_failed(failed, interval, N_("internal error ({kind})", kind=type(exc).__name__))
            failed = failed + 1 if wait < interval else 0
            self._refresh()
            self._sync_now.clear()
            deadline = time.monotonic() + min(wait, 10 * 365 * 86400)
            while not cloud.stop.is_set() and not self._sync_now.is_set() and time.monotonic() < deadline:
                self._sync_now.wait(1.0)

    def _cloud_pass(self, cloud: CloudSync, interval: float, failed: int) -> float:
        """One sync; returns the seconds until the next one."""
        try:
            result = cloud.sync()
        except SignedOut as exc:
            if self.board.set_problem(ProblemKey.ZOOM_SIGN_IN, N_("Signed out of Zoom"), exc.message):
                log.error("%s: %s — cloud sync stops until you sign in again", exc.title, exc.message)
            return float("inf")  # until the settings (and so the sign-in) change
        except KeyringUnavailable as exc:
            title = N_("Keyring is locked") if exc.locked else exc.title
            message = N_("unlock it; zoomwatch retries") if exc.locked else N_("{message}; zoomwatch retries",
                                                                               message=exc.message)
            delay = cloud_retry_delay(failed, interval)
            if self.board.set_problem(ProblemKey.KEYRING, title, message):
                log.warning("Zoom cloud sync cannot read the sign-in: %s: %s (retried in %.0f s)", exc.title,
                            exc.message, delay)
            return delay
        except RateLimited as exc:
            self.board.set_problem(ProblemKey.ZOOM_RATE_LIMIT, exc.title, exc.message)
            return max(60.0, (exc.until - dt.datetime.now(dt.timezone.utc)).total_seconds())
        except ZoomwatchError as exc:
            log.warning("cloud sync failed: %s: %s", exc.title, exc.message)
            return self._cloud_failed(failed, interval, N_("{title}: {message}", title=exc.title, message=exc.message))
        self._after_sync(result)
        for key in (ProblemKey.ZOOM_SIGN_IN, ProblemKey.KEYRING, ProblemKey.ZOOM_RATE_LIMIT):
            self.board.clear_problem(key)
        failures = result.failures
        if failures and not cloud.stop.is_set():
            more = N_("{failure} (and {count} more)", failure=failures[0], count=len(failures) - 1)
            return self._cloud_failed(failed, interval, more if len(failures) > 1 else failures[0])
        self.board.clear_problem(ProblemKey.ZOOM_SYNC)
        return interval

    def _cloud_failed(self, failed: int, interval: float, cause: str) -> float:
        delay = cloud_retry_delay(failed, interval)
        at = dt.datetime.now() + dt.timedelta(seconds=delay)
        self.board.set_problem(ProblemKey.ZOOM_SYNC, CLOUD_FAILED, N_("{cause} — retrying at {time}", cause=cause,
                                                                      time=f"{at:%H:%M:%S}"))
        return delay

    def stop(self) -> None:
        """Stop watching; uploads in flight are checkpointed so they resume at the next start."""
        with self._control:
            self._stop_all()

    def _stop_all(self) -> None:
        self._stop.set()
        if self.cloud is not None:
            self.cloud.stop.set()
        self.settler.stop()
        self.transfers.stop()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        if self._watcher is not None:  # after the settle thread ended: it is the one that starts the watcher
            self._watcher.stop()
            self._watcher = None
        self._build()  # fresh settler and workers, ready for the next start()
        self._refresh()

    def close(self) -> None:
        self._closing.set()
        service, self._service = self._service, None
        if service is not None and service is not threading.current_thread():
            service.join(timeout=30)
        if self._holding:
            status_file(self.config.paths).unlink(missing_ok=True)  # ours: nothing runs any more
            self._holding = False
        self.journal.close()
        self.catalog.close()
        self.release()

    # -- the service thread: settings, and the board published for `zoomwatch status` ---------------

    def _start_service(self) -> None:
        with self._control:
            if self._service is not None or self._closing.is_set():
                return
            self._service = threading.Thread(target=self._service_main, name="zoomwatch-service", daemon=True)
            self._service.start()

    def _service_main(self) -> None:
        """Until close(): reload when the settings or the secrets change (once the file is quiet and
        readable), and write the board to the status file when it changed (at most every
        PUBLISH_EVERY_SECONDS). A failure in one round is logged and the next round comes anyway."""
        watch = configmod.SettingsWatch(self.config.paths, on_problem=self._settings_problem)
        published, next_poll = -1, 0.0
        while not self._closing.is_set():
            snap = self.board.wait_for_change(published, timeout=SETTINGS_POLL_SECONDS)
            try:
                if snap.version != published and self._holding:
                    self._publish(snap)
                published = snap.version
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + SETTINGS_POLL_SECONDS
                    changed = watch.poll()  # only once the file is quiet and readable; never renamed here
                    if changed is not None:
                        log.info("settings changed: reloading")
                        self.reload(changed)
            except Exception:  # noqa: BLE001 - this thread must never die
                log.exception("the zoomwatch service thread failed; it carries on")
            self._closing.wait(PUBLISH_EVERY_SECONDS)

    def _settings_problem(self, title: str, message: str) -> None:
        self.board.set_problem(ProblemKey.SETTINGS, title, message)

    def _publish(self, snap: Snapshot) -> None:
        _write_atomically(status_file(self.config.paths), json.dumps({
            "pid": os.getpid(), "written_at": time.time(), "status": snap.status, "summary": snap.summary(),
            "dashboard": self.dashboard_url,
            "problems": [p.as_dict() for p in snap.problems], "settling": snap.settling,
            "transfers": [{"name": t.name, "size": t.size, "done": t.done} for t in snap.transfers],
        }, ensure_ascii=False))

    def pause(self) -> None:
        self.transfers.pause(True)
        self._refresh()

    def resume(self) -> None:
        self.transfers.pause(False)
        self._refresh()

    def reload(self, config: Config) -> None:
        """Take new settings: a new watched folder is watched and a new destination used from now on.
        Settings whose destination cannot be opened are reported, and the ones in force kept running."""
        try:
            destination = open_destination(config)
        except ConfigError as exc:
            self.board.set_problem(ProblemKey.SETTINGS, exc.title,
                                   N_("{message} — keeping the previous settings until then", message=exc.message))
            return
        with self._control:
            running = bool(self._threads)
            if running:
                self._stop_all()
            self.config = config
            self.destination = destination
            self._build()
            self.board.clear_problems()  # what is still wrong with the new settings is found again
            self.catalog.unblock(self.destination.id)
            if running:
                self._start()

    # -- one pass, for `zoomwatch run --once` -----------------------------------------------------

    def run_once(self, max_wait: float) -> OnceResult:
        """Scan, wait for what is still being written (up to `max_wait` s), back up, and report."""
        root = self.config.watch_folder
        problem = folder_problem(root)  # never raises (macOS refuses even a stat of a protected Documents)
        if problem is not None:
            title, message = problem
            if title == FOLDER_MISSING:
                title, message = N_("Zoom folder not found"), \
                    N_("{root} does not exist — set it with: zoomwatch config set watch.folder PATH", root=str(root))
            raise ConfigError(title, message)
        self._prepare()
        self.settler.scan(root)
        self.transfers.start()
        stop_shared = self._shared_once()
        deadline = self.clock() + max_wait
        version = -1
        try:
            next_check = 0.0
            while self._once_busy(deadline):
                if time.monotonic() >= next_check:  # one settle round a second, not one per board change
                    self.settler.check_pending()
                    next_check = time.monotonic() + TICK_SECONDS
                version = self.board.wait_for_change(version, timeout=0.25).version
            if self._destination_down():
                self.settler.check_pending()  # what finished long ago waits for the destination, not for Zoom
        finally:
            self.transfers.stop()
            stop_shared()
        self._refresh()
        return self._once_result()

    def _destination_down(self) -> bool:
        return self.transfers.blocked_until > self.clock()

    def _once_result(self) -> OnceResult:
        """Each file not backed up with its true reason: held by the destination's problem (named once),
        still being written (or waiting for Zoom), or failed with its own error."""
        board = self.board.snapshot()
        problem = next((p for p in board.problems if p.key == ProblemKey.DESTINATION), None)
        if not self._destination_down():
            problem = None
        others = tuple(p.text() for p in board.problems if p is not problem)
        unfinished = [r for r in self.catalog.rows(self.destination.id) if r.state in UNFINISHED]
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
        reasons = self.settler.waiting_reasons()
        settling = tuple(str(p) for p, why in reasons.items() if not why)
        waiting = tuple(N_("{file} — {reason}", file=str(p), reason=why) for p, why in reasons.items() if why)
        counts = self.catalog.counts(self.destination.id)
        ok = not unfinished and not reasons and problem is None
        shown = "" if problem is None else problem.text()
        return OnceResult(ok, counts, settling, failures, shown, held, waiting, others)

    def run_cloud_once(self, start: dt.date | None = None, end: dt.date | None = None) -> OnceResult:
        """`zoomwatch sync`: one cloud sync in the foreground, then upload and verify what it fetched."""
        if self.cloud is None:
            problem = next((p for p in self.board.snapshot().problems if p.key == ProblemKey.SETTINGS), None)
            raise ConfigError(problem.title if problem else N_("Zoom cloud backup is off"),
                              problem.message if problem else N_("turn it on: zoomwatch config set zoom.mode user"))
        self._prepare()
        self.transfers.start()
        stop_shared = self._shared_once()
        try:
            synced = self.cloud.sync(start, end)
            self._after_sync(synced)
            version = -1
            while self._once_busy(self.clock()):
                version = self.board.wait_for_change(version, timeout=0.25).version
        finally:
            self.transfers.stop()
            stop_shared()
        counts = self.catalog.counts(self.destination.id)
        rows = self.catalog.rows(self.destination.id)
        failures = tuple(synced.failures) + tuple(
            N_("{file}: {reason}", file=r.display, reason=r.last_error or N_("not backed up yet")) for r in rows
            if r.state in UNFINISHED and r.info is not None and r.info.origin is Origin.CLOUD)
        return OnceResult(not failures, counts, (), failures)

    def _once_busy(self, deadline: float) -> bool:
        """Whether run_once should keep going: files to copy always; files still being written only
        until the deadline (--max-wait)."""
        if self._destination_down():
            return False  # the destination is down: report that now rather than wait
        if self.transfers.busy() or self.catalog.unfinished(self.destination.id, ONCE_MAX_ATTEMPTS):
            return True
        return bool(self.settler.pending) and self.clock() < deadline

    # -- dashboard and REST API (issue 13) --------------------------------------------------------------
    # JSON-ready answers for the web face (zoomwatch/ui/web): never a secret, names as the catalog shows them.

    dashboard_url: str = ""  # where the running dashboard is (published in the status file); "" when none

    def publish_dashboard(self, url: str) -> None:
        """Say where this process serves its dashboard, so `zoomwatch dashboard` elsewhere finds it."""
        self.dashboard_url = url
        if self._holding:
            self._publish(self.board.snapshot())

    @property
    def monitoring(self) -> bool:
        """Whether the Zoom folder is watched (start() ran and stop() did not since)."""
        return bool(self._threads)

    def start_monitoring(self) -> bool:
        """Start watching unless already watching; whether it was started now."""
        with self._control:
            if self._threads:
                return False
            self.start()
            return True

    def stop_monitoring(self) -> bool:
        """Stop watching if watching; whether it was stopped now."""
        with self._control:
            if not self._threads:
                return False
            self.stop()
            return True

    def monitor_status(self) -> dict:
        snap = self.snapshot()
        return {"monitoring": self.monitoring, "status": str(snap.status), "paused": self.transfers.paused,
                "summary": snap.summary(), "watch_folder": str(self.config.watch_folder),
                "destination": self.destination.label, "counts": {str(k): v for k, v in snap.counts.items()},
                "settling": snap.settling, "problems": len(snap.problems), "can_sync_cloud": self.can_sync_cloud(),
                "transfers": [{"name": t.name, "size": t.size, "done": t.done} for t in snap.transfers]}

    def problems(self) -> list[dict]:
        """Every problem on the board, worst first."""
        return [p.as_dict() for p in self.snapshot().problems]

    def set_watch_folder(self, folder: str) -> Path:
        """Watch another Zoom folder from now on (stored in the settings); ConfigError when it is not a folder."""
        path = Path(folder).expanduser()
        if not folder.strip() or not path.is_absolute():
            raise ConfigError(N_("Not a folder"), N_("{folder}: give the full path of the Zoom recording folder",
                                                     folder=repr(folder)))
        if not path.is_dir():
            raise ConfigError(N_("Not a folder"), N_("{path} does not exist or is not a folder", path=str(path)))
        configmod.set_value(self.config.paths, "watch.folder", str(path))
        self.reload(configmod.load(self.config.paths))
        return self.config.watch_folder

    def recordings(self, *, page: int = 1, per_page: int = 50, text: str = "", start: str = "", end: str = "",
                   state: str = "") -> dict:
        """One page of recording files (the current version of each), newest meeting first, filtered."""
        if state and state not in {s.value for s in STATES}:
            raise ConfigError(N_("Unknown state"), N_("{state}: one of {states}", state=repr(state),
                                                      states=", ".join(s.value for s in STATES)))
        for day in (start, end):
            if day:
                try:
                    dt.date.fromisoformat(day)
                except ValueError:
                    raise ConfigError(N_("Not a date"), N_("{day}: expected a day like 2024-01-31",
                                                           day=repr(day))) from None
        page, per_page = max(1, page), min(max(1, per_page), 500)
        total, rows = self.catalog.search(self.destination.id, text=text, start=start, end=end, state=state,
                                          offset=(page - 1) * per_page, limit=per_page)
        return {"page": page, "per_page": per_page, "total": total, "pages": max(1, -(-total // per_page)),
                "items": [_recording(r) for r in rows]}

    def recording(self, row_id: int) -> dict | None:
        row = self.catalog.get(row_id)
        if row is None or row.dest != self.destination.id:
            return None
        return _recording(row)

    def recording_location(self, row_id: int) -> str | None:
        """Where the backup of a recording is (a path or URL), or None when it is not backed up."""
        row = self.catalog.get(row_id)
        if row is None or row.dest != self.destination.id or row.state is not FileState.VERIFIED:
            return None
        return self.destination.location(row.remote_key or "")

    def recording_share_link(self, row_id: int) -> str | None:
        """A download link for a backed-up recording (S3, Supabase), or None (a folder destination)."""
        row = self.catalog.get(row_id)
        if row is None or row.dest != self.destination.id or row.state is not FileState.VERIFIED:
            return None
        return self.destination.share_link(row.remote_key or "")

    def zoom_auth(self) -> dict:
        """Whether cloud backup is on and signed in (never a token)."""
        mode = str(self.config["zoom.mode"])
        problem = next((p.as_dict() for p in self.snapshot().problems
                        if p.key in (ProblemKey.ZOOM_SIGN_IN, ProblemKey.KEYRING)), None)
        signed_in: bool | None = None
        if mode == "user":
            from zoomwatch.sources.zoom import oauth

            try:
                signed_in = oauth.TokenStore().load() is not None
            except ZoomwatchError:
                signed_in = None  # the keyring refused: the problem says so
        return {"mode": mode, "signed_in": signed_in, "problem": problem}


    # -- audit, ls, restore (issue 13) ------------------------------------------------------------

    _last_audit: AuditReport | None = None

    def run_audit(self, read_data: float | None = None) -> AuditReport:
        """Audit this engine's destination and catalog (the dashboard's "Run audit"); the result is kept for
        last_audit(). Reads only: nothing is queued again."""
        report = _audit_with(self.config, self.destination, self.catalog, read_data=read_data)
        self._last_audit = report
        return report

    def last_audit(self) -> AuditReport | None:
        """The report of this engine's last run_audit(), or None."""
        return self._last_audit

    # -- beat Zoom's deletion and free the disk (issue 14): at-risk recordings, clean-up -------------

    def _build_cleanup(self) -> None:
        self.local_cleanup = LocalCleanup(self.config, self.catalog, self.destination, self.journal, clock=self.clock)
        self.cloud_trash = CloudTrash(self.config, self.catalog, self.destination, self.journal, clock=self.clock)
        self.board.update(freed=self.journal.freed("local"))

    def _after_sync(self, result: object) -> None:
        """After a cloud sync: the recordings Zoom deletes soon are shown (one problem each), what kept the
        cloud trash from working is shown, and the local clean-up runs (in its own thread)."""
        at_risk = getattr(result, "at_risk", [])
        if getattr(result, "complete", False):
            self.journal.set_at_risk(at_risk)
        for item in at_risk:
            if self.board.set_problem(item.problem_key, risk.TITLE, item.message()):
                log.warning("%s: %s", risk.TITLE, item.message())
        self._recheck_at_risk()
        if self.cloud_trash.problem:
            self.board.set_problem(ProblemKey.CLEANUP, N_("Clean-up held"), self.cloud_trash.problem)
            self.cloud_trash.problem = ""
        self._cleanup_now.set()

    def _recheck_at_risk(self) -> None:
        """A recording at risk whose files are all verified now is no longer a problem (nor in the list)."""
        shown = {p.key for p in self.board.snapshot().problems if p.key.startswith(risk.PROBLEM_PREFIX)}
        listed = {a.problem_key: a for a in self.journal.at_risk()}
        still = []
        for key in shown | set(listed):
            item = listed.get(key)
            if item is not None and not all(
                    (row := self.catalog.current(self.destination.id, Path(t))) is not None
                    and row.state is FileState.VERIFIED for t in item.targets):
                still.append(item)
                continue
            self.board.clear_problem(key)
        if len(still) != len(listed):
            self.journal.set_at_risk(still)

    def _start_cleanup(self) -> None:
        thread = threading.Thread(target=self._cleanup_main, name="zoomwatch-cleanup", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _cleanup_main(self) -> None:
        """The local clean-up, when it is on: at start, once a day, after each cloud sync, and whenever the
        uploads in hand are done (so a recording goes once it is backed up and old enough)."""
        try:
            self.journal.recover()  # a clean-up cut short by a crash: the journal agrees with the disk again
        except Exception:  # noqa: BLE001 - this thread must never die
            log.exception("could not settle the clean-up journal")
        while not self._stop.is_set():
            if int(self.config["cleanup.local_after_days"]) > 0:
                try:
                    self.cleanup(stop=self._stop, cloud=False)
                except Exception:  # noqa: BLE001 - this thread must never die
                    log.exception("the clean-up failed unexpectedly; it runs again tomorrow")
            self._cleanup_now.clear()
            deadline = time.monotonic() + CLEANUP_EVERY_SECONDS
            while not self._stop.is_set() and not self._cleanup_now.is_set() and time.monotonic() < deadline:
                self._cleanup_now.wait(1.0)

    def cleanup(self, *, dry_run: bool = False, stop: threading.Event | None = None, cloud: bool = True,
                local: bool = True) -> Report:
        """Run the clean-up policies now (`zoomwatch cleanup`): what goes to a trash, what stays and why.
        The local one only when cleanup.local_after_days is set; the cloud one only when
        zoom.trash_after_backup is on (it lists the meetings again, downloading nothing)."""
        report = Report(dry_run=dry_run)
        if local and int(self.config["cleanup.local_after_days"]) > 0:
            self.local_cleanup.run(report, stop)
            self.transfers.wake()  # a backup found missing or altered was queued again: copied first
        if cloud and self.cloud is not None and self.config["zoom.trash_after_backup"]:
            def decide(meeting: dict, rows: list, trash: Callable[[str], bool]) -> None:
                report.decisions.append(self.cloud_trash.consider(meeting, rows, trash, dry_run=dry_run))
            self.cloud.review(decide)
            if self.cloud_trash.problem and not report.problem:
                report.problem = self.cloud_trash.problem
            self.cloud_trash.problem = ""
        if report.problem:
            self.board.set_problem(ProblemKey.CLEANUP, N_("Clean-up held"), report.problem)
        elif not dry_run:
            self.board.clear_problem(ProblemKey.CLEANUP)
        self.board.update(freed=self.journal.freed("local"))
        return report

    # -- the shared catalog on PostgreSQL (issue 15): publishing, this machine's heartbeat, the fleet ---------

    def _shared_build(self) -> None:
        """With catalog.shared_url set: a Publisher of this machine's verified rows and, for account-wide
        cloud backup (s2s), a Fleet that leases users and claims files for the cloud sync. Nothing otherwise."""
        from zoomwatch.core.shared_catalog import Machine, Publisher, shared_url

        self.shared: Publisher | None = None
        self.fleet: Fleet | None = None
        try:
            url = shared_url()
        except ZoomwatchError:
            url = None
        if not url:
            return
        machine = Machine.of(self.config.paths.state_dir, self.config["catalog.machine_name"])
        self.shared = Publisher(url, self.config.paths.catalog_file, self.destination.id, machine,
                                self.destination.location)
        if self.cloud is not None and self.config["zoom.mode"] == "s2s":
            self.fleet = Fleet(url, self.destination.id, machine, lease_seconds=self.config["catalog.lease_seconds"],
                               interval_seconds=60.0 * int(self.config["zoom.sync_interval_minutes"]))
            self.cloud.targets = self.fleet.lease_targets(self.cloud.targets, self.cloud.stop)
            self.cloud.gate = self.fleet

    def _shared_start(self, stop: threading.Event) -> threading.Thread | None:
        if self.shared is None:
            return None
        thread = threading.Thread(target=self._shared_main, args=(stop,), name="zoomwatch-shared", daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _shared_once(self) -> Callable[[], None]:
        """For run --once and sync: the shared-catalog thread until the returned function is called (it
        publishes once more then)."""
        stop = threading.Event()
        thread = self._shared_start(stop)

        def finish() -> None:
            stop.set()
            if thread is not None:
                thread.join(timeout=60)
                self._threads.remove(thread)

        return finish

    def _shared_main(self, stop: threading.Event) -> None:
        """Until `stop` (and one round more, so what was verified last is published): renew the fleet's
        leases and claims, publish the verified rows waiting in the local catalog, register this machine.
        PostgreSQL unreachable: said on the board (with how many rows wait), and tried again."""
        from zoomwatch.core.shared_catalog import SharedCatalogNeedsSetup

        shared, fleet = self.shared, self.fleet
        assert shared is not None
        beat_every = max(0.5, float(self.config["catalog.lease_seconds"]) / 4)
        next_beat = 0.0
        while True:
            stopping = stop.is_set()
            try:
                if fleet is not None and time.monotonic() >= next_beat:
                    fleet.heartbeat()
                    next_beat = time.monotonic() + beat_every
                if shared.publish():
                    log.debug("published to the shared catalog")
                shared.register(self.destination.label,
                                {str(k): n for k, n in self.catalog.counts(self.destination.id).items()})
                self.board.clear_problem(SHARED_PROBLEM)
            except SharedCatalogNeedsSetup as exc:
                self.board.set_problem(SHARED_PROBLEM, exc.title, N_("run zoomwatch check to see the SQL to run"))
            except ZoomwatchError as exc:
                waiting = shared.waiting()
                if self.board.set_problem(SHARED_PROBLEM, exc.title, NP_(
                        "{message} — {n} backed-up file(s) wait to be published; zoomwatch keeps trying",
                        "{message} — {n} backed-up file(s) wait to be published; zoomwatch keeps trying", waiting,
                        message=exc.message)):
                    log.warning("%s: %s", exc.title, exc.message)
            except Exception:  # noqa: BLE001 - this thread must never die
                log.exception("the shared-catalog thread failed; it carries on")
            if stopping:
                break
            stop.wait(min(SHARED_EVERY_SECONDS, beat_every))
        shared.close()
        if fleet is not None:
            fleet.close()

    # -- the cloud pipeline (issue 15 item 6): downloads overlap uploads, the spool bounded --------------------

    def _uploads_held(self) -> str | None:
        """Why uploads cannot go on now (the destination is down), for the cloud sync: it then stops
        downloading instead of waiting for room in the spool; None when they can."""
        if not self._destination_down():
            return None
        problem = next((p for p in self.board.snapshot().problems if p.key == ProblemKey.DESTINATION), None)
        return problem.text() if problem is not None else "the destination cannot take files now"


def _recording(row: Row) -> dict:
    """One catalog row as the REST API shows it."""
    info = row.info
    return {"id": row.id, "path": row.display, "name": row.display.rpartition(os.sep)[2], "state": str(row.state),
            "size": row.size,
            "bytes_done": row.bytes_done, "sha256": row.sha256, "remote_key": row.remote_key,
            "attempts": row.attempts, "last_error": row.last_error, "verified_at": row.verified_at,
            "origin": str(info.origin) if info else "local",
            "meeting": {"title": info.title, "start": info.start, "meeting_id": info.meeting_id} if info else None}


def _read_pid(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


# -- what the faces ask without a running engine (`zoomwatch check`, `status`, `login`, the settings form) --

@dataclass(frozen=True)
class FileReport:
    """What `zoomwatch status` lists: the destination's label and each file's row (catalog.Row: path, state,
    size, sha256, remote_key, attempts, last_error, next_try_at, bytes_done, verified_at, resume)."""

    destination: str
    states: tuple[FileState, ...]  # every file state a person sees, in order
    rows: tuple[Row, ...]
    damaged: str = ""  # why the catalog could not be read (damaged: the next run sets it aside)


def file_report(config: Config) -> FileReport:
    """Each file's state at the configured destination, read from the catalog without writing to it."""
    destination = open_destination(config)
    rows: list[Row] = []
    damaged = ""
    if config.paths.catalog_file.exists():
        try:
            catalog = Catalog(config.paths.catalog_file, readonly=True)
        except ZoomwatchError as exc:  # a damaged catalog: said, and the rest shown
            damaged = f"{exc.title}: {exc.message}"
        else:
            try:
                rows = catalog.rows(destination.id)
            finally:
                catalog.close()
    shown = tuple(s for s in STATES if s is not FileState.SUPERSEDED)
    return FileReport(destination.label, shown, tuple(rows), damaged)


def check_destination(config: Config, *, secrets: dict[str, str] | None = None) -> str:
    """Write, read back and delete a probe at the destination `config` names (secrets typed but not yet
    stored win over the keyring); returns its label, raises a ZoomwatchError saying what is wrong."""
    destination = open_destination(config, secrets=secrets)
    destination.check()
    return destination.label


def recording_files(root: Path, config: Config) -> Iterator[str]:
    """The names of the files below `root` that zoomwatch would back up (symbolic links never followed)."""
    for entry in watch.walk_files(root, []):
        if config.wants(entry.name):
            yield entry.name


def zoom_login(config: Config, show_url: Callable[[str], None], show_code: Callable[[str], None], *,
               device: bool = False, timeout: float = 300) -> dict:
    """Sign in to Zoom (the browser's loopback flow, or a device code), store the tokens in the keyring,
    and return who signed in (Zoom's /users/me)."""
    from zoomwatch.sources.zoom import accounts, oauth

    if device:
        tokens = accounts.device_login(config, show_code)
    else:
        client_id, client_secret = accounts.client_credentials()
        tokens = oauth.login(config["zoom.oauth_base"], client_id, client_secret, config["zoom.redirect_port"],
                             show_url, timeout=timeout)
    oauth.TokenStore().save(tokens)
    _secrets_changed(config.paths)
    return accounts.user_api(config).me()


def zoom_logout(config: Config) -> bool | None:
    """Sign out of Zoom: revoke the token and remove it from the keyring. None when nobody was signed
    in; otherwise whether Zoom could be told."""
    from zoomwatch.sources.zoom import accounts, oauth

    store = oauth.TokenStore()
    tokens = store.load()
    if tokens is None:
        return None
    try:
        client_id, client_secret = accounts.client_credentials()
        revoked = oauth.revoke(config["zoom.oauth_base"], client_id, client_secret,
                               tokens.refresh_token or tokens.access_token)
    except ZoomwatchError:
        revoked = False
    store.clear()
    _secrets_changed(config.paths)
    return revoked


def zoom_user(config: Config) -> dict:
    """Who zoomwatch is signed in to Zoom as (Zoom's /users/me); raises a ZoomwatchError when nobody is."""
    from zoomwatch.sources.zoom import accounts

    return accounts.user_api(config).me()


def _secrets_changed(paths: AppPaths) -> None:
    """A running zoomwatch reloads when this stamp changes (see config.fingerprint)."""
    paths.secrets_stamp.parent.mkdir(parents=True, exist_ok=True)
    paths.secrets_stamp.touch()


# -- audit, ls, restore (issue 13) --------------------------------------------------------------------

__all__ += ["AuditItem", "AuditReport", "AuditState", "Meeting", "RestoreFailed", "audit", "list_meetings", "restore"]


def audit(config: Config, *, read_data: float | None = None, repair: bool = False,
          progress: Callable[[int, int], None] | None = None) -> AuditReport:
    """`zoomwatch audit`: every recording zoomwatch knows of (the Zoom folder now, the Zoom cloud listed live
    when signed in, the catalog) set against the destination. `read_data`: None trusts the checksums the
    destination keeps, 100 reads everything back, 0 < p < 100 a random p percent. Changes nothing, except that
    `repair` queues what is missing or different for backup again (when its recording is still here)."""
    destination = open_destination(config)
    catalog = _audit_catalog(config, writable=repair)
    try:
        report = _audit_with(config, destination, catalog, read_data=read_data, progress=progress)
        if repair and report.error is None:
            _repair(report, catalog)
    finally:
        catalog.close()
    return report


def _audit_catalog(config: Config, *, writable: bool) -> Catalog:
    """The catalog as it is (read-only unless repairing); an empty one where none was ever written."""
    file = config.paths.catalog_file
    if writable:
        return Catalog(file)
    if file.exists():
        return Catalog(file, readonly=True)
    return Catalog(Path(":memory:"))


def _audit_with(config: Config, destination: Destination, catalog: Catalog, *, read_data: float | None,
                progress: Callable[[int, int], None] | None = None) -> AuditReport:
    from zoomwatch.core.audit import Audit

    scope: dict[str, object] = {"destination": destination.label, "zoom_folder": str(config.watch_folder),
                                "read_data": read_data}
    rows = catalog.rows(destination.id)
    known = {r.remote_key for r in catalog.rows(destination.id, include_old=True) if r.remote_key}
    extra = list(_zoom_folder_items(config, catalog, destination.id, scope))
    extra += _cloud_items(config, catalog, destination.id, scope)
    scope["catalog_files"] = len(rows)
    return Audit(destination, rows, scope=scope, extra=extra, known_keys=known, read_data=read_data,
                 progress=progress).run()


def _zoom_folder_items(config: Config, catalog: Catalog, dest_id: str,
                       scope: dict[str, object]) -> Iterator[AuditItem]:
    """Files in the Zoom folder that no catalog row tracks: not seen yet, or excluded by the settings."""
    from zoomwatch.core.catalog import display_path

    root = config.watch_folder
    problem = folder_problem(root)
    if problem is not None:
        scope["zoom_folder_problem"] = N_("{title}: {message}", title=problem[0], message=problem[1])
        return
    tracked = catalog.current_stats(dest_id)
    fence = watch.Fence(root, watch.own_folders(config))
    errors: list[str] = []
    for entry in watch.walk_files(root, errors, skip=fence.is_own):
        if os.fsencode(entry.path) in tracked:
            continue
        wanted = config.wants(entry.name)
        reason = N_("not seen by zoomwatch yet (is it running? or: zoomwatch run --once)") if wanted else \
            N_("excluded by the settings (watch.include / watch.exclude)")  # starts with EXCLUDED in English
        yield AuditItem(AuditState.NOT_BACKED_UP, path=display_path(entry.path), size=entry.stat().st_size,
                        reason=reason)
    if errors:
        scope["zoom_folder_problem"] = "; ".join(errors[:3])


def _cloud_items(config: Config, catalog: Catalog, dest_id: str, scope: dict[str, object]) -> list[AuditItem]:
    """The Zoom cloud files not fetched yet, listed live (when cloud backup is on and someone is signed in)."""
    if config["zoom.mode"] == "off":
        scope["cloud"] = "off"
        return []
    from zoomwatch.sources.zoom.listing import cloud_only

    try:
        found = list(cloud_only(config, catalog, dest_id))
    except SignedOut:
        scope["cloud"] = N_("not signed in (zoomwatch login): cloud recordings not listed")
        return []
    except ZoomwatchError as exc:
        scope["cloud"] = N_("could not be listed: {title}: {message}", title=exc.title, message=exc.message)
        return []
    scope["cloud"] = "listed"
    return found


def _repair(report: AuditReport, catalog: Catalog) -> None:
    """Queue every missing or different file whose recording is still here, unchanged, for backup again."""
    for item in report.items:
        if item.state not in (AuditState.MISSING, AuditState.DIFFERENT) or item.row_id is None:
            continue
        row = catalog.get(item.row_id)
        if row is None:
            continue
        try:
            st = os.stat(row.fs_path)
        except OSError:
            log.warning("cannot back up %s again: its recording is no longer on this computer", row.display)
            continue
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            continue  # changed since: the watcher backs the new version up by itself
        catalog.requeue_lost(row.id)
        report.repaired.append(row.remote_key or row.display)


def _recorded_checksums(config: Config, dest_id: str) -> dict[str, str]:
    """key -> SHA-256 the catalog recorded at backup (empty without a readable catalog)."""
    if not config.paths.catalog_file.exists():
        return {}
    try:
        catalog = Catalog(config.paths.catalog_file, readonly=True)
    except ZoomwatchError as exc:
        log.warning("the catalog cannot be read (%s); using what the destination says", exc.message)
        return {}
    try:
        return {r.remote_key: r.sha256 for r in catalog.rows(dest_id, include_old=True)
                if r.remote_key and r.sha256 and r.state is FileState.VERIFIED}
    finally:
        catalog.close()


def list_meetings(config: Config, text: str | None = None, start: dt.date | None = None,
                  end: dt.date | None = None) -> list[Meeting]:
    """`zoomwatch ls`: the meetings at the destination (read from it, not from the catalog), newest first,
    those whose title, folder or meeting ID contains `text` and that started from `start` to `end`."""
    from zoomwatch.core import restore as restoring

    destination = open_destination(config)
    found = restoring.meetings(destination, _recorded_checksums(config, destination.id))
    return restoring.select(found, text, start, end)


def restore(config: Config, what: str, *, to: Path | None = None,
            progress: Callable[[str, int, int], None] | None = None, start: dt.date | None = None,
            end: dt.date | None = None) -> list[Path]:
    """`zoomwatch restore`: download a meeting's files (`what`: title text or meeting ID, with an optional date
    range) or one file (its key at the destination) into `to` (default: a new folder under Downloads), each
    streamed, resumable, checked against the SHA-256 the backup recorded, and never over an existing file.
    Works with an empty catalog. Returns the paths written; RestoreFailed names the files that failed."""
    from zoomwatch.core import restore as restoring

    destination = open_destination(config)
    recorded = _recorded_checksums(config, destination.id)
    found = restoring.meetings(destination, recorded)
    chosen: list[tuple[restoring.StoredFile, Path]] = []
    target = to or _new_download_folder()
    exact = [f for m in found for f in m.files if f.key == what or f.key == destination.adapt_key(what)]
    if exact:
        chosen = [(exact[0], target)]
    else:
        chosen = [(f, target / restoring.folder_name(m)) for m in restoring.select(found, what, start, end)
                  for f in m.files]
    if not chosen:
        raise BadSetting(N_("Nothing to restore"), N_("no meeting or backed-up file at {label} matches {what} — list "
                                                      "them with: zoomwatch ls", label=destination.label,
                                                      what=repr(printable(what))))
    return restoring.Restorer(destination, progress).many(chosen)


def _new_download_folder() -> Path:
    """A new folder under the user's Downloads, named for now (never one that exists)."""
    import platformdirs

    base = Path(platformdirs.user_downloads_dir()) / f"zoomwatch restore {dt.datetime.now():%Y-%m-%d %H.%M.%S}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name} ({n})")
    return folder
# -- beat Zoom's deletion and free the disk (issue 14): what `zoomwatch cleanup --history` / `status` read --

CleanupReport = Report
CleanupEntry = Entry


def cleanup_history(config: Config) -> list[Entry]:
    """What went to a trash (and what was tried), newest first; when no zoomwatch runs, a clean-up a crash cut
    short is settled first (a running one may be in the middle of a move: its entries are left alone)."""
    if not config.paths.catalog_file.exists():
        return []
    journal = Journal(config.paths.catalog_file)
    config.paths.lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(config.paths.lock_file), timeout=0)
    try:
        try:
            with lock:
                journal.recover()
        except Timeout:
            pass
        return journal.history()
    finally:
        journal.close()


def at_risk_list(config: Config) -> list[risk.AtRisk]:
    """The cloud recordings Zoom deletes soon that the last sync found not backed up yet (read-only)."""
    if not config.paths.catalog_file.exists():
        return []
    journal = Journal(config.paths.catalog_file, readonly=True)
    try:
        return journal.at_risk()
    finally:
        journal.close()
# -- the shared catalog (issue 15), for `zoomwatch check` and `zoomwatch status` -------------------------

def check_shared_catalog() -> tuple[str, str]:
    """(label, SQL an administrator must run or "") for the configured shared catalog, or ("", "") when none
    is configured. Raises a ZoomwatchError naming the host and the reason (never the password)."""
    from zoomwatch.core import shared_catalog

    url = shared_catalog.shared_url()
    if not url:
        return "", ""
    try:
        return shared_catalog.check(url), ""
    except shared_catalog.SharedCatalogNeedsSetup as exc:
        return f"{exc.title}: {exc.message}", exc.sql


def fleet_status(config: Config) -> list[str]:
    """What the shared catalog says of the fleet (machines, who has which user, the account's progress),
    one line each; [] without a shared catalog; one line saying why when it cannot be read."""
    from zoomwatch.core import shared_catalog
    from zoomwatch.sources.zoom.fleet import fleet_report

    url = shared_catalog.shared_url()
    if not url:
        return []
    try:
        return fleet_report(url, open_destination(config).id).lines()
    except ZoomwatchError as exc:
        return [N_("shared catalog: {title}: {message}", title=exc.title, message=exc.message)]
