"""Transfer workers: take finished files from the catalog, back them up, verify, record the outcome.

One retry policy for everything (exponential backoff with jitter, capped). The next try time lives in
the catalog, not in a sleeping thread, so it survives restarts. Errors come in two families:
an ItemError concerns one file and only that file waits; a DestinationError concerns every file, so
all workers hold off (and, when it is not retryable, wait for the settings to change).
"""

from __future__ import annotations

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
from typing import Any

from zoomwatch import __version__, naming
from zoomwatch.bandwidth import Throttle
from zoomwatch.config import Config
from zoomwatch.core.catalog import Catalog, Row
from zoomwatch.core.status import ProblemKey, StatusBoard
from zoomwatch.destinations.base import Cancelled, Destination, UploadSession, sha256_file
from zoomwatch.errors import DestinationError, FileChanged, FileGone, ItemError, ZoomwatchError

log = logging.getLogger(__name__)

SIDECAR_NAME = "meeting.json"
PROGRESS_SAVE_BYTES = 16 * 1024 * 1024


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
                if not self.paused and self.clock() >= self.blocked_until:
                    row = self.catalog.claim(self.destination.id)
                if row is None:
                    self._cond.wait(self._idle_timeout())
                    continue
                stop = threading.Event()
                self._in_flight[row.id] = stop
            try:
                self.process(row, stop)
            except Exception:  # a bug must not kill the worker; the row is retried later
                log.exception("unexpected error while backing up %s", row.display)
                self.catalog.mark_failed(row.id, "internal error (see log)", retry_at=self.clock() + 60)
            finally:
                with self._cond:
                    self._in_flight.pop(row.id, None)
                self.board.transfer_ended(row.id)
                self.on_change()  # after the transfer left the board, so the status is no longer "uploading"

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
            key = row.remote_key or self._reserve_key(row)
            self.catalog.save_progress(row.id, remote_key=key)
            self.board.transfer_started(row.id, path.name, row.size)
            sha = self._already_there(row, key, stop) or self._upload(row, key, stop)
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
            self._back_to_settling(row, exc)
            return
        except DestinationError as exc:
            self._destination_failed(row, exc)
            return
        except ItemError as exc:
            if not exc.retryable:  # e.g. a name the store refuses: waits for a settings change
                self.catalog.mark_failed(row.id, f"{exc.title}: {exc.message}", retry_at=None, blocked=True)
                log.error("%s: %s", exc.title, exc.message)
                return
            delay = self.retry.delay(row.attempts + 1)
            self.catalog.mark_failed(row.id, f"{exc.title}: {exc.message}", retry_at=self.clock() + delay)
            log.warning("%s: %s (try %d; next in %.0f s)", exc.title, exc.message, row.attempts + 1, delay)
            return
        self._dest_failures = 0
        self.board.clear_problem(ProblemKey.UPLOAD_WORKER)
        if self._dest_problem is not None:  # the destination works again (other problems stay shown)
            self.board.clear_problem(ProblemKey.DESTINATION)
            self._dest_problem = None
        log.info("backed up and verified: %s -> %s", row.display, key)
        if (row.meeting or {}).get("source") == "cloud":
            path.unlink(missing_ok=True)  # a downloaded cloud file: the spool copy is ours to remove
        self.board.add_recent(f"{(row.meeting or {}).get('title', path.name)} — {path.name}",
                              self.destination.location(key), key)
        self._write_sidecar(key)

    def _discard(self, row: Row) -> None:
        """An upload that will not resume (the file changed or went away) is cleaned up at the store."""
        fresh = self.catalog.get(row.id)
        try:
            self.destination.discard(fresh.resume if fresh else row.resume)
        except ZoomwatchError as exc:
            log.warning("could not clean up the unfinished upload of %s: %s", row.display, exc)

    def _check_unchanged(self, row: Row) -> None:
        try:
            st = os.stat(row.fs_path)
        except FileNotFoundError:
            raise FileGone("File vanished", f"{row.display} was deleted or renamed before it was backed up") from None
        except OSError as exc:
            raise ItemError("Cannot read recording", f"{row.display}: {exc.strerror or exc}") from None
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            raise FileChanged("File changed", f"{row.display} changed after it looked finished")

    def _reserve_key(self, row: Row) -> str:
        meeting = row.meeting or {}
        info = naming.Meeting(
            title=meeting.get("title") or row.fs_path.stem,
            start=datetime.fromisoformat(meeting["start"]) if meeting.get("start") else datetime.now(),
            meeting_id=meeting.get("meeting_id"),
            source=meeting.get("parsed_from", "fallback"),
        )
        wanted = naming.render_key(self.config["naming.template"], info, os.fsdecode(row.fs_path.name),
                                   source=meeting.get("source", "local"), locale=self.config["naming.locale"])
        wanted = self.destination.adapt_key(wanted)
        return self.catalog.reserve_key(self.destination.id, row.path, wanted, naming.with_suffix_number)

    def _already_there(self, row: Row, key: str, stop: threading.Event) -> str | None:
        """The sha256 when the destination already holds exactly this file (same size and hash)."""
        existing = self.destination.stat(key)
        if existing is None or existing.size != row.size:
            return None
        try:
            sha = sha256_file(row.fs_path, stop)
        except FileNotFoundError:
            raise FileGone("File vanished", f"{row.display} was deleted before it was backed up") from None
        remote = existing.sha256 or self.destination.checksum(key)
        if remote != sha:
            return None
        self._check_unchanged(row)
        log.info("already in the backup, not copied again: %s", key)
        return sha

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
        sha = self.destination.upload(row.fs_path, key, row.size, session)
        self._check_unchanged(row)
        self._verify(row, key, sha)
        return sha

    def _verify(self, row: Row, key: str, sha: str) -> None:
        stored = self.destination.stat(key)
        if stored is None or stored.size != row.size:
            raise ItemError("Backup check failed", f"{key}: stored size {stored and stored.size} != {row.size}")
        remote = stored.sha256 or self.destination.checksum(key)
        if remote != sha:
            raise FileChanged("Backup check failed", f"{key}: stored sha256 differs from the file's")

    def _back_to_settling(self, row: Row, exc: ZoomwatchError) -> None:
        try:
            st = os.stat(row.fs_path)
        except OSError:
            self.catalog.mark_missing(row.id, "deleted or renamed before it was backed up")
            return
        log.info("%s: %s; waiting for it to settle again", exc.title, exc.message)
        self.catalog.back_to_settling(row.id, st.st_size, st.st_mtime_ns)
        self.requeue(row.fs_path)

    def _destination_failed(self, row: Row, exc: DestinationError) -> None:
        self.destination_down(exc)
        message = f"{exc.title}: {exc.message}"
        if exc.retryable:
            self.catalog.mark_failed(row.id, message, retry_at=self.blocked_until, count_attempt=False)
        else:
            self.catalog.mark_failed(row.id, message, retry_at=None, blocked=True, count_attempt=False)

    def _write_sidecar(self, key: str) -> None:
        """Rewrite the meeting folder's meeting.json from the catalog (serialised, so the last writer
        always saw every verified file)."""
        folder = key.rpartition("/")[0]
        if not folder:
            return
        with self._sidecar_lock:
            self._write_sidecar_locked(folder)

    def _write_sidecar_locked(self, folder: str) -> None:
        rows = [r for r in self.catalog.verified_in_folder(self.destination.id, folder)
                if not r.remote_key or not r.remote_key.endswith("/" + SIDECAR_NAME)]
        if not rows:
            return
        meeting: dict[str, Any] = rows[-1].meeting or {}
        document = {
            "title": meeting.get("title"),
            "start": meeting.get("start"),
            "meeting_id": meeting.get("meeting_id"),
            "files": [
                {"name": (r.remote_key or "").rpartition("/")[2], "size": r.size, "sha256": r.sha256,
                 "source": r.display, "backed_up_at": r.verified_at}
                for r in rows
            ],
            "written_by": f"zoomwatch {__version__}",
        }
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.destination.write_small(f"{folder}/{SIDECAR_NAME}", data)
        except ZoomwatchError as exc:
            log.warning("could not write %s/%s: %s", folder, SIDECAR_NAME, exc)
