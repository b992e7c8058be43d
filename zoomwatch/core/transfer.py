"""Transfer workers: take finished files from the catalog, back them up, verify, record the outcome.

One retry policy for everything (exponential backoff with jitter, capped). The next try time lives in
the catalog, not in a sleeping thread, so it survives restarts. Errors come in two families:
an ItemError concerns one file and only that file waits; a DestinationError concerns every file, so
all workers hold off (and, when it is not retryable, wait for the settings to change). A file that
reads or is stored differently every time is given up after MAX_TRIES, with the reason kept.

Before a first upload to a key, what the destination holds there is checked: the same bytes are not
copied again; another file that this catalog never verified there (another machine's) is kept, and
this recording takes the next numbered name. A file moved or renamed after its backup keeps that
backup. Each meeting folder's meeting.json is written when the queue drains (or every few seconds),
and only when it changed; nothing done after a file was verified can make it unverified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from zoomwatch import __version__, naming
from zoomwatch.bandwidth import Throttle
from zoomwatch.config import Config
from zoomwatch.core.catalog import Catalog, FileInfo, Origin, Row
from zoomwatch.core.status import ProblemKey, StatusBoard
from zoomwatch.destinations.base import Cancelled, Destination, SourceFile, UploadSession
from zoomwatch.errors import DestinationError, FileChanged, FileGone, ItemError, ZoomwatchError
from zoomwatch.i18n import N_, NP_
from zoomwatch.translate import source_error

log = logging.getLogger(__name__)

SIDECAR_NAME = "meeting.json"
SIDECAR_EVERY_SECONDS = 5.0   # a folder's meeting.json is written when the queue drains, or this often
PROGRESS_SAVE_BYTES = 16 * 1024 * 1024
MAX_TRIES = 5                 # for a file that reads or stores differently every time
MOVED_CANDIDATES = 16         # verified rows of the same size and mtime looked at for a moved file
MAX_FOREIGN_KEYS = 50         # numbered names tried when another machine's files hold the names


class StoredDifferently(FileChanged):
    """The destination holds other bytes than were sent (or the file changed meanwhile)."""


WORKER_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 5.0
    cap: float = 900.0

    def delay(self, attempts: int) -> float:
        """Seconds before try number `attempts + 1`: doubling from `base`, capped, with jitter so that
        many files failing together do not retry in lockstep."""
        ceiling = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


class Transfers:
    """The worker pool. `wake()` after queueing; `stop()` checkpoints what is in flight."""

    def __init__(self, config: Config, catalog: Catalog, destination: Destination, board: StatusBoard, *,
                 requeue: Callable[[Path], None], on_change: Callable[[], None] = lambda: None,
                 retry: RetryPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.catalog = catalog
        self.destination = destination
        self.board = board
        self.requeue = requeue
        self.on_change = on_change
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.paused = False
        self.blocked_until = 0.0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._in_flight: dict[int, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._dest_failures = 0
        self._dest_problem: str | None = None
        self._sidecar_lock = threading.Lock()
        self._dirty: dict[str, tuple[float, bool]] = {}  # folder -> (first verified at, anything uploaded)
        self._sidecar_written: dict[str, str] = {}        # folder -> sha256 of the meeting.json last written
        self._sources = threading.local()  # this worker's file being backed up (see _source)
        self.throttle = Throttle(int(config["transfer.bandwidth_limit"]))

    # -- control ----------------------------------------------------------------------------------

    def start(self) -> None:
        for n in range(int(self.config["transfer.workers"])):
            thread = threading.Thread(target=self._loop, name=f"zoomwatch-upload-{n + 1}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def pause(self, paused: bool) -> None:
        with self._cond:
            self.paused = paused
            if paused:
                for stop in self._in_flight.values():
                    stop.set()
            self._cond.notify_all()

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        with self._cond:
            for stop in self._in_flight.values():
                stop.set()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self.flush_sidecars()

    def busy(self) -> bool:
        with self._cond:
            return bool(self._in_flight)

    def destination_down(self, exc: DestinationError) -> None:
        """The destination cannot take files: every worker holds off (until the settings change, when
        retrying cannot help), and the problem is shown once until a file gets through again."""
        self._dest_failures += 1
        self.blocked_until = self.clock() + self.retry.delay(self._dest_failures) if exc.retryable else float("inf")
        self._dest_problem = exc.title
        if self.board.set_problem(ProblemKey.DESTINATION, exc.title, exc.message):
            log.error("%s: %s (backups wait until this is fixed)", exc.title, exc.message)

    # -- the loop ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        """A worker never dies: an unexpected failure outside one file's backup (the catalog, say) is
        logged and shown (keyed UPLOAD_WORKER), and the worker carries on after a delay."""
        while not self._stopping.is_set():
            try:
                self._work()
            except Exception as exc:  # noqa: BLE001 - the worker must never die
                log.exception("an upload worker failed unexpectedly; it carries on in %.0f s", WORKER_RETRY_SECONDS)
                self.board.set_problem(ProblemKey.UPLOAD_WORKER, "Backing up failed",
                                       f"internal error ({type(exc).__name__}); zoomwatch tries again — the log "
                                       "has the details")
                self._stopping.wait(WORKER_RETRY_SECONDS)

    def _work(self) -> None:
        while not self._stopping.is_set():
            row = None
            with self._cond:
                if self._stopping.is_set():  # checked under the lock stop() notifies with: never waits after it
                    break
                if not self.paused and self.clock() >= self.blocked_until:
                    row = self.catalog.claim(self.destination.id)
                if row is None and not self._dirty:
                    self._cond.wait(self._idle_timeout())
                    continue
                if row is not None:
                    stop = threading.Event()
                    self._in_flight[row.id] = stop
            if row is None:  # the queue drained: the meeting.json files waiting are written now
                self.flush_sidecars()
                continue
            try:
                self.process(row, stop)
            except Exception:  # a bug must not kill the worker; the row is retried later
                log.exception("unexpected error while backing up %s", row.display)
                self.catalog.mark_failed(row.id, N_("internal error (see log)"), retry_at=self.clock() + 60)
            finally:
                with self._cond:
                    self._in_flight.pop(row.id, None)
                self.board.transfer_ended(row.id)
                self.on_change()  # after the transfer left the board, so the status is no longer "uploading"
            self.flush_sidecars(older_than=SIDECAR_EVERY_SECONDS)

    def _idle_timeout(self) -> float:
        now = self.clock()
        if self.blocked_until > now:
            return min(60.0, self.blocked_until - now)
        due = self.catalog.next_due(self.destination.id)
        return 60.0 if due is None else max(0.05, min(60.0, due - now))

    # -- one file ---------------------------------------------------------------------------------

    def process(self, row: Row, stop: threading.Event) -> None:
        path = row.fs_path
        try:
            self._check_unchanged(row)
            if row.remote_key is None and self._adopt_moved(row, stop):
                return
            key = row.remote_key or self._reserve_key(row)
            self.catalog.save_progress(row.id, remote_key=key)
            self.board.transfer_started(row.id, path.name, row.size)
            key, sha = self._free_key(row, key, stop)
            uploaded = sha is None
            sha = sha or self._upload(row, key, stop)
            self.catalog.mark_verified(row.id, sha, key)
        except Cancelled:
            self.catalog.requeue_row(row.id)
            log.info("checkpointed %s; it resumes later", row.display)
            return
        except FileGone as exc:
            self._discard(row)
            self.catalog.mark_missing(row.id, exc.message)
            log.warning("%s: %s", exc.title, exc.message)
            return
        except FileChanged as exc:
            self._discard(row)
            self._changed(row, exc)
            return
        except DestinationError as exc:
            self._destination_failed(row, exc)
            return
        except ItemError as exc:
            self._item_failed(row, exc)
            return
        self._dest_failures = 0
        self.board.clear_problem(ProblemKey.UPLOAD_WORKER)
        if self._dest_problem is not None:  # the destination works again (other problems stay shown)
            self.board.clear_problem(ProblemKey.DESTINATION)
            self._dest_problem = None
        log.info("backed up and verified: %s -> %s", row.display, key)
        self._after_verified(row, key, uploaded)

    def _after_verified(self, row: Row, key: str, uploaded: bool) -> None:
        """Tidy up after a verified backup. Nothing here may change the verified row: a failure is logged."""
        path = row.fs_path
        try:
            if row.info is not None and row.info.remove_after_backup:
                path.unlink(missing_ok=True)  # zoomwatch's own copy (a cloud download in the spool)
        except OSError as exc:
            log.warning("backed up, but could not remove the downloaded copy %s: %s", row.display,
                        exc.strerror or exc)
        try:
            title = row.info.title if row.info is not None and row.info.title else path.name
            self.board.add_recent(f"{title} — {path.name}",
                                  self.destination.location(key), key)
            self._sidecar_due(key, uploaded)
        except Exception:  # the backup is verified whatever happens to the bookkeeping around it
            log.exception("backed up and verified %s, but a follow-up step failed", row.display)

    def _item_failed(self, row: Row, exc: ItemError, *, give_up: str | None = None) -> None:
        """One file failed: tried again after the retry policy's delay, up to MAX_TRIES when `give_up`
        says why retrying is unlikely to help; not retryable errors wait for a settings change."""
        attempts = row.attempts + 1
        if not exc.retryable or (give_up is not None and attempts >= MAX_TRIES):
            reason = exc.text()
            if give_up is not None and exc.retryable:
                reason = NP_("{title}: {reason}; gave up after {n} try", "{title}: {reason}; gave up after {n} tries",
                             attempts, title=exc.title, reason=give_up)
            self.catalog.mark_failed(row.id, reason, retry_at=None, blocked=True)
            log.error("%s", reason)
            return
        delay = self.retry.delay(attempts)
        self.catalog.mark_failed(row.id, exc.text(), retry_at=self.clock() + delay)
        log.warning("%s: %s (try %d; next in %.0f s)", exc.title, exc.message, attempts, delay)

    def _changed(self, row: Row, exc: FileChanged) -> None:
        """The file changed: it settles again. If its size and mtime did not change, it is not being
        written: it reads differently each time (a special file) or the destination stores other bytes
        than it was sent; that is retried with backoff and given up after a few tries."""
        try:
            st = os.stat(row.fs_path)
        except OSError:
            self.catalog.mark_missing(row.id, N_("deleted or renamed before it was backed up"))
            return
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            self._back_to_settling(row, exc)
            return
        why = (N_("{file}: the copy at the destination differed from the file every time", file=row.display)
               if isinstance(exc, StoredDifferently)
               else N_("{file} changed size every time it was read", file=row.display))
        self._item_failed(row, ItemError(exc.title, exc.message), give_up=why)

    def _discard(self, row: Row) -> None:
        """An upload that will not resume (the file changed or went away) is cleaned up at the store."""
        fresh = self.catalog.get(row.id)
        resume = fresh.resume if fresh else row.resume
        if not resume:
            return
        try:
            self.destination.discard(resume)
        except ZoomwatchError as exc:  # kept: tried again at the next start
            log.warning("could not clean up the unfinished upload of %s: %s", row.display, exc)
            return
        self.catalog.clear_resume(row.id)

    def _check_unchanged(self, row: Row) -> None:
        try:
            st = os.stat(row.fs_path)
        except OSError as exc:
            raise source_error(exc, row.display) from None
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            raise FileChanged(N_("File changed"),
                              N_("{display} changed after it looked finished", display=row.display))

    def _reserve_key(self, row: Row) -> str:
        return self.catalog.reserve_key(self.destination.id, row.path, self._wanted_key(row), naming.with_suffix_number)

    def _wanted_key(self, row: Row) -> str:
        known = row.info or FileInfo()
        meeting = naming.Meeting(
            title=known.title or row.fs_path.stem,
            start=datetime.fromisoformat(known.start) if known.start else datetime.now(),
            meeting_id=known.meeting_id,
            source=known.parsed_from or "fallback",
        )
        wanted = naming.render_key(self.config["naming.template"], meeting, os.fsdecode(row.fs_path.name),
                                   source=known.origin.value, locale=self.config["naming.locale"])
        return self.destination.adapt_key(wanted)

    def _source(self, row: Row) -> SourceFile:
        """The file being backed up, as destinations read it: one per attempt (`row` is this attempt's),
        so its checksum is read at most once between the duplicate check and the upload."""
        held = getattr(self._sources, "held", None)
        if held is None or held[0] is not row:
            # a cloud download was hashed as it arrived (sources/zoom/cloud.py): that checksum is not read again
            known = row.sha256 if _is_cloud(row) else None
            held = (row, SourceFile(row.fs_path, row.size, row.mtime_ns, display=row.display, sha256=known))
            self._sources.held = held
        return held[1]

    def _hash(self, row: Row, stop: threading.Event) -> str:
        sha = self._source(row).sha256(stop)
        self._check_unchanged(row)
        return sha

    def _free_key(self, row: Row, key: str, stop: threading.Event) -> tuple[str, str | None]:
        """The key to upload to, and the sha256 when the destination already holds exactly this file.

        A key holding a different file is replaced only when this catalog verified a version of the same
        recording there (a new version of it); otherwise another machine backs up to the same place, and
        this recording takes the next free numbered name instead."""
        sha: str | None = None
        foreign: list[str] = []
        for _ in range(MAX_FOREIGN_KEYS):
            existing = self.destination.stat(key)
            if existing is None:
                return key, None
            if existing.size == row.size:
                sha = sha or self._hash(row, stop)
                if (existing.sha256 or self.destination.checksum(key)) == sha:
                    log.info("already in the backup, not copied again: %s", key)
                    return key, sha
            if self.catalog.wrote_key(self.destination.id, row.path, key):
                return key, None
            foreign.append(key)
            key = self.catalog.rekey(self.destination.id, row.path, self._wanted_key(row), naming.with_suffix_number,
                                     avoid=tuple(foreign))
            self.catalog.save_progress(row.id, remote_key=key)
            log.warning("%s already holds another file (not written by this catalog: another machine?); "
                        "%s is backed up as %s instead", foreign[-1], row.display, key)
        raise ItemError(N_("No free backup name"),
                        N_("{foreign} numbered names for {display} are taken",
                           foreign=len(foreign), display=row.display))

    def _adopt_moved(self, row: Row, stop: threading.Event) -> bool:
        """A file renamed or moved after it was backed up (its meeting folder renamed) keeps its backup:
        same size, mtime and sha256 as a verified row whose path is gone, and still at the destination."""
        if _is_cloud(row):
            return False  # a cloud download is identified by Zoom's ids, not by where it was spooled
        # the same file name first (a renamed meeting folder); bounded, as a copied-in batch of files
        # can share one size and mtime
        alike = self.catalog.verified_like(self.destination.id, row.path, row.size, row.mtime_ns, MOVED_CANDIDATES)
        candidates = [old for old in alike
                      if old.remote_key and not _is_cloud(old) and not os.path.lexists(old.fs_path)]
        if not candidates:
            return False
        sha = self._hash(row, stop)
        for old in candidates:
            assert old.remote_key is not None
            stored = self.destination.stat(old.remote_key)
            if old.sha256 == sha and stored is not None and stored.size == row.size:
                self.catalog.adopt_moved(row.id, old.id, sha)
                log.info("%s was moved from %s; its backup %s is kept, not copied again", row.display,
                         old.display, old.remote_key)
                return True
        return False

    def _upload(self, row: Row, key: str, stop: threading.Event) -> str:
        last_saved = [row.bytes_done]

        def progress(done: int) -> None:
            self.board.transfer_progress(row.id, done)
            if done - last_saved[0] >= PROGRESS_SAVE_BYTES:
                last_saved[0] = done
                self.catalog.save_progress(row.id, bytes_done=done)

        session = UploadSession(
            resume=row.resume,
            save_resume=lambda state: self.catalog.save_progress(row.id, resume=state),
            progress=progress,
            throttle=self.throttle,
            stop=stop,
        )
        sha = self.destination.upload(self._source(row), key, session)
        self._check_unchanged(row)
        self._verify(row, key, sha)
        return sha

    def _verify(self, row: Row, key: str, sha: str) -> None:
        stored = self.destination.stat(key)
        if stored is None or stored.size != row.size:
            raise StoredDifferently("Backup check failed", f"{key}: stored size {stored and stored.size} != {row.size}")
        remote = stored.sha256 or self.destination.checksum(key)
        if remote != sha:
            raise StoredDifferently("Backup check failed", f"{key}: stored sha256 differs from the file's")

    def _back_to_settling(self, row: Row, exc: ZoomwatchError) -> None:
        try:
            st = os.stat(row.fs_path)
        except OSError:
            self.catalog.mark_missing(row.id, N_("deleted or renamed before it was backed up"))
            return
        log.info("%s: %s; waiting for it to settle again", exc.title, exc.message)
        self.catalog.back_to_settling(row.id, st.st_size, st.st_mtime_ns)
        self.requeue(row.fs_path)

    def _destination_failed(self, row: Row, exc: DestinationError) -> None:
        self.destination_down(exc)
        message = exc.text()
        if exc.retryable:
            self.catalog.mark_failed(row.id, message, retry_at=self.blocked_until, count_attempt=False)
        else:
            self.catalog.mark_failed(row.id, message, retry_at=None, blocked=True, count_attempt=False)

    # -- meeting.json -----------------------------------------------------------------------------

    def _sidecar_due(self, key: str, uploaded: bool) -> None:
        """A file of this folder was verified: its meeting.json is written when the queue drains (or
        within SIDECAR_EVERY_SECONDS), not after every file."""
        folder = key.rpartition("/")[0]
        if not folder:
            return
        with self._sidecar_lock:
            since, any_uploaded = self._dirty.get(folder, (self.clock(), False))
            self._dirty[folder] = (since, any_uploaded or uploaded)

    def flush_sidecars(self, older_than: float | None = None) -> None:
        """Write the meeting.json of every folder waiting for one (those waiting longer than
        `older_than` seconds, when given)."""
        with self._sidecar_lock:
            now = self.clock()
            due = [(folder, uploaded) for folder, (since, uploaded) in self._dirty.items()
                   if older_than is None or now - since >= older_than]
            for folder, _ in due:
                del self._dirty[folder]
            for folder, uploaded in due:
                try:
                    self._write_sidecar(folder, uploaded)
                except ZoomwatchError as exc:
                    log.warning("could not write %s/%s: %s", folder, SIDECAR_NAME, exc)
                except Exception:  # a sidecar never costs a backup
                    log.exception("could not write %s/%s", folder, SIDECAR_NAME)

    def _write_sidecar(self, folder: str, uploaded: bool) -> None:
        key = f"{folder}/{SIDECAR_NAME}"
        if not uploaded and self.destination.stat(key) is not None:
            return  # everything was already there (another machine's, or ours before a rebuild)
        rows = [r for r in self.catalog.verified_in_folder(self.destination.id, folder)
                if not r.remote_key or not r.remote_key.endswith("/" + SIDECAR_NAME)]
        if not rows:
            return
        meeting = rows[-1].info or FileInfo()
        document = {
            "title": meeting.title,
            "start": meeting.start,
            "meeting_id": meeting.meeting_id,
            "files": [
                {"name": (r.remote_key or "").rpartition("/")[2], "size": r.size, "sha256": r.sha256,
                 "source": r.display, "backed_up_at": r.verified_at}
                for r in rows
            ],
            "written_by": f"zoomwatch {__version__}",
        }
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        # names that are not valid UTF-8 (kept as surrogates) are shown with U+FFFD, as in the log
        data = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        if self._sidecar_written.get(folder) == digest:
            return
        self.destination.write_small(key, data)
        self._sidecar_written[folder] = digest


def _is_cloud(row: Row) -> bool:
    """A cloud download: identified by Zoom's ids, not by where it was spooled."""
    return row.info is not None and row.info.origin is Origin.CLOUD
