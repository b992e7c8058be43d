"""The engine: wires the watcher, the settler, the catalog, the transfer workers and the destination,
and keeps the status board the faces read. It knows nothing of pystray or Tk.

Commands: start(), stop(), pause(), resume(), sync_now(), reload(config), run_once(), run_cloud_once().
Threads are named (`zoomwatch-settle`, `zoomwatch-upload-N`, `zoomwatch-watchdog`, `zoomwatch-cloud`,
`zoomwatch-service`) so a stack dump reads well. The service thread, from the first start() until close(),
notices changed settings or secrets and reloads, and publishes the board to `status_file(paths)` so
`zoomwatch status` in another process shows every problem.

This module holds the lifecycle (the instance lock, start/stop/reload, the service thread, pause/resume, the
status board, the clean-up thread); the longer loops are plain functions of the engine in their own modules:
the settle thread in watching.py, the cloud thread in cloud_loop.py, the shared-catalog thread in
shared_catalog.py, run --once and sync in once.py, the dashboard's questions in dashboard.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from zoomwatch import config as configmod
from zoomwatch.app import cloud_loop, dashboard, once, shared_catalog, watching
from zoomwatch.app.audits import _audit_with
from zoomwatch.app.once import OnceResult
from zoomwatch.app.published import _read_pid, _write_atomically, status_file
from zoomwatch.config import Config
from zoomwatch.core import at_risk as risk
from zoomwatch.core.audit import AuditReport
from zoomwatch.core.catalog import Catalog, FileState
from zoomwatch.core.cleanup import CloudTrash, Journal, LocalCleanup, Report
from zoomwatch.core.status import EngineStatus, ProblemKey, Snapshot, StatusBoard
from zoomwatch.core.transfer import RetryPolicy, Transfers
from zoomwatch.destinations import Destination, open_destination
from zoomwatch.destinations.local import LocalDestination
from zoomwatch.destinations.s3 import abort_unknown_uploads
from zoomwatch.errors import AlreadyRunning, ConfigError, DestinationError, ZoomwatchError
from zoomwatch.i18n import N_, join
from zoomwatch.memory import release_big_buffers_at_once
from zoomwatch.paths import AppPaths
from zoomwatch.sources import local as watch
from zoomwatch.sources.local import FolderWatcher, Settler, folder_problem
from zoomwatch.sources.zoom.accounts import sync_targets
from zoomwatch.sources.zoom.cloud import DOWNLOADS, SPOOL_FILES, CloudSync
from zoomwatch.sources.zoom.fleet import Fleet

if TYPE_CHECKING:
    from zoomwatch.core.shared_catalog import Publisher

log = logging.getLogger("zoomwatch.app")  # the facade's one logger, as before the split

COUNTS_EVERY_SECONDS = 0.5
PUBLISH_EVERY_SECONDS = 0.5  # the status file is written at most this often
SETTINGS_POLL_SECONDS = 1.0
CLEANUP_EVERY_SECONDS = 86400.0  # the local clean-up runs once a day (and after each cloud sync)


class Engine:
    """One configuration's backup at work: build it, start() it, read snapshot() / wait_for_change(), stop()
    and close() it. The loops in watching.py, cloud_loop.py, shared_catalog.py and once.py use its parts."""

    shared: Publisher | None  # the shared catalog's publisher and fleet (set by shared_catalog.shared_build)
    fleet: Fleet | None

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
        shared_catalog.shared_build(self)

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
        thread = threading.Thread(target=watching.settle_main, args=(self,), name="zoomwatch-settle", daemon=True)
        thread.start()
        self._threads.append(thread)
        if self.cloud is not None:
            cloud = threading.Thread(target=cloud_loop.cloud_main, args=(self,), name="zoomwatch-cloud", daemon=True)
            cloud.start()
            self._threads.append(cloud)
        self._start_cleanup()
        shared_catalog.shared_start(self, self._stop)
        self._refresh()

    def sync_now(self) -> None:
        """Ask for a Zoom cloud sync at once (the tray's "Sync now")."""
        self._sync_now.set()

    def _cloud_pass(self, cloud: CloudSync, interval: float, failed: int) -> float:
        """One sync; returns the seconds until the next one (cloud_loop.py; the cloud thread runs it)."""
        return cloud_loop.cloud_pass(self, cloud, interval, failed)

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

    # -- one pass in the foreground, for `zoomwatch run --once` and `zoomwatch sync` (once.py) ------------

    def run_once(self, max_wait: float) -> OnceResult:
        """Scan, wait for what is still being written (up to `max_wait` s), back up, and report."""
        return once.run_once(self, max_wait)

    def run_cloud_once(self, start: dt.date | None = None, end: dt.date | None = None) -> OnceResult:
        """`zoomwatch sync`: one cloud sync in the foreground, then upload and verify what it fetched."""
        return once.run_cloud_once(self, start, end)

    def _destination_down(self) -> bool:
        return self.transfers.blocked_until > self.clock()

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
        return dashboard.monitor_status(self)

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
        return dashboard.recordings(self, page=page, per_page=per_page, text=text, start=start, end=end, state=state)

    def recording(self, row_id: int) -> dict | None:
        return dashboard.recording(self, row_id)

    def recording_location(self, row_id: int) -> str | None:
        """Where the backup of a recording is (a path or URL), or None when it is not backed up."""
        return dashboard.recording_location(self, row_id)

    def recording_share_link(self, row_id: int) -> str | None:
        """A download link for a backed-up recording (S3, Supabase), or None (a folder destination)."""
        return dashboard.recording_share_link(self, row_id)

    def zoom_auth(self) -> dict:
        """Whether cloud backup is on and signed in (never a token)."""
        return dashboard.zoom_auth(self)

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

    # -- the cloud pipeline (issue 15 item 6): downloads overlap uploads, the spool bounded --------------------

    def _uploads_held(self) -> str | None:
        """Why uploads cannot go on now (the destination is down), for the cloud sync: it then stops
        downloading instead of waiting for room in the spool; None when they can."""
        if not self._destination_down():
            return None
        problem = next((p for p in self.board.snapshot().problems if p.key == ProblemKey.DESTINATION), None)
        return problem.text() if problem is not None else "the destination cannot take files now"

