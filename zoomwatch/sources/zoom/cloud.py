"""Cloud recordings into the same pipeline as local ones: list every user's recordings, then stream every
new file into a spool folder (resumed with Range, checked against the listed size and type; the meetings
Zoom deletes soonest first, across all users), then queue it in the catalog, where the transfer workers
upload and verify it like any local file.

A pipeline: the next files download (`downloads` at once, in the order above; one at a time on a machine of a
fleet, whose machines share the account's users) while the workers upload the previous ones. Each file is
hashed as it arrives and its SHA-256 goes to the catalog with it, so its upload needs no extra pass to hash
it. The spool holds at most `spool_files` files (downloading, or waiting for or in upload) and never fills the
disk: the sync waits for an upload to end (verified or failed) before it downloads more; it stops downloading,
rather than wait, when the destination is down (`held` says why: those files are fetched at the next sync),
and a stop cuts the wait short.

A cloud file's identity is (meeting UUID, file id) — or (meeting UUID, file type, recording start)
for TIMELINE and CC files, which Zoom lists without an id. Its spool path is derived from that
identity, so a file already queued or verified in the catalog is never downloaded again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from zoomwatch.config import Config
from zoomwatch.core.at_risk import AtRisk, deletion_day, deletion_order, is_at_risk
from zoomwatch.core.catalog import Catalog, CloudRef, FileInfo, FileState, Origin, Row
from zoomwatch.errors import Cancelled, ItemError, KeyringUnavailable, RateLimited, SignedOut, ZoomwatchError
from zoomwatch.i18n import N_
from zoomwatch.naming import sanitize_segment
from zoomwatch.sources.zoom.api import ZoomApi
from zoomwatch.translate import requests_error

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# a file in one of these states was downloaded already: it is not fetched again
FETCHED = (FileState.VERIFIED, FileState.QUEUED, FileState.UPLOADING, FileState.FAILED)
DEFAULT_SINCE_DAYS = 365
SPOOL_FILES = 6               # files in the spool at most: downloading, or downloaded and not yet uploaded
DOWNLOADS = 3                 # downloads at once (Zoom limits the speed of each connection)
SPOOL_FREE_MARGIN = 256 * CHUNK  # disk space left free in the spool folder besides the next download
ROOM_POLL_SECONDS = 0.2       # how often a download waiting for room looks again (a stop cuts it short)
IN_SPOOL = (FileState.QUEUED, FileState.UPLOADING, FileState.VERIFIED)  # VERIFIED: until its file is removed


@dataclass
class SyncResult:
    meetings: int = 0
    files: int = 0
    queued: int = 0
    already: int = 0
    processing: int = 0
    trashed: int = 0
    elsewhere: int = 0  # files another machine of the fleet holds or finished (see fleet.py)
    held: int = 0  # files not downloaded because the destination was down (fetched at the next sync)
    problems: dict[str, str] = field(default_factory=dict)  # what failed (a user, a file) -> why
    at_risk: list[AtRisk] = field(default_factory=list)  # Zoom deletes them within zoom.warn_days, not safe yet
    fetch_order: list[str] = field(default_factory=list)  # meeting UUIDs in the order they were fetched
    complete: bool = False  # every target was listed to the end (so at_risk is the whole list)

    @property
    def failures(self) -> list[str]:
        """What still failed at the end of the sync (a failure recovered later in it is not reported)."""
        return list(self.problems.values())

    def fail(self, key: str, text: str) -> None:
        self.problems[key] = text

    def recovered(self, key: str) -> None:
        self.problems.pop(key, None)


class TokenExpired(ItemError):
    """The download was refused for an expired access token: refresh it and try again."""


class CutOff(ItemError):
    """The connection broke in the middle of the body: the part received is kept, the rest fetched again."""


def file_identity(meeting: dict[str, Any], item: dict[str, Any]) -> str:
    if item.get("id"):
        return f"{meeting['uuid']}/{item['id']}"
    return f"{meeting['uuid']}/{item.get('file_type', '')}/{item.get('recording_start', '')}"


def file_name(item: dict[str, Any]) -> str:
    """A name that sits beside the local recordings of the same meeting without clashing."""
    kind = (item.get("recording_type") or item.get("file_type") or "file").lower()
    ext = (item.get("file_extension") or "").lower()
    return sanitize_segment(f"cloud_{kind}{'.' + ext if ext else ''}")


def meeting_start(meeting: dict[str, Any]) -> dt.datetime:
    """The start in the meeting's own time zone (naive, as the naming template wants it)."""
    start = dt.datetime.fromisoformat(meeting["start_time"].replace("Z", "+00:00"))
    try:
        return start.astimezone(ZoneInfo(meeting.get("timezone") or "UTC")).replace(tzinfo=None)
    except (ZoneInfoNotFoundError, ValueError):
        return start.astimezone().replace(tzinfo=None)


def download(session: requests.Session, url: str, token: str, target: Path, size: int | None,
             stop: threading.Event | None = None, progress: Callable[[int], None] = lambda n: None) -> str:
    """Stream `url` into `target` via a `.part` file, resuming with Range, and return the SHA-256 of the whole
    file, hashed as it arrived (a resumed download reads back only the part it already had). The bearer token
    goes to Zoom only, never to the host a download redirects to. Raises ItemError for a short or wrong body,
    a network failure (Zoom or the network down, a connection cut) and a spool folder that cannot be written."""
    partial = target.with_name(target.name + ".part")
    try:
        sha = _download(session, url, token, partial, size, stop, progress)
        os.replace(partial, target)
        return sha
    except requests.RequestException as exc:
        cause = requests_error(exc, service="Zoom", where=urlsplit(url).netloc)  # the host only: no token
        raise ItemError(N_("Zoom download failed: {title}", title=cause.title),
                        N_("{message}; it resumes from here", message=cause.message)) from None
    except OSError as exc:
        raise ItemError(N_("Cannot write a Zoom download to the spool folder"),
                        N_("{parent}: {value} — free some space or check the folder's permissions; retried at the "
                           "next sync", parent=partial.parent, value=exc.strerror or type(exc).__name__)) from None


def _open_response(session: requests.Session, url: str, headers: dict[str, str]) -> requests.Response:
    """GET `url`, following up to 5 redirects by hand: the token stays with Zoom."""
    response = session.get(url, headers=headers, stream=True, allow_redirects=False, timeout=60)
    hops = 0
    while response.is_redirect and hops < 5:
        location = urljoin(response.url, response.headers["Location"])
        response.close()
        response = session.get(location, headers={k: v for k, v in headers.items() if k != "Authorization"},
                               stream=True, allow_redirects=False, timeout=60)
        hops += 1
    return response


def _download(session: requests.Session, url: str, token: str, partial: Path, size: int | None,
              stop: threading.Event | None, progress: Callable[[int], None]) -> str:
    offset = partial.stat().st_size if partial.exists() else 0
    if size is not None and offset > size:
        offset = 0
    headers = {"Authorization": f"Bearer {token}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with _open_response(session, url, headers) as response:
        if response.status_code == 401:
            raise TokenExpired("Zoom download refused", "the access token expired; it is refreshed and retried")
        if response.status_code in (404, 410):
            raise ItemError(N_("Zoom download link expired"),
                            N_("the listing is read again at the next sync"))
        if response.status_code not in (200, 206):
            raise ItemError(N_("Zoom download failed"),
                            N_("HTTP {status_code}", status_code=response.status_code))
        kind = response.headers.get("Content-Type", "")
        if kind.startswith(("text/html", "application/json")) and (size is None or size > 4096):
            raise ItemError(N_("Zoom sent an error page instead of the recording"),
                            N_("{kind}; retried later", kind=kind))
        if response.status_code == 200:
            offset = 0
        if size is None:  # CC and TIMELINE files are listed without a size: trust the response's length
            length = response.headers.get("Content-Length")
            size = offset + int(length) if length and length.isdigit() else None
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "r+b" if offset else "wb") as out:
            digest = _hash_prefix(out, offset)
            out.seek(offset)
            out.truncate()
            done = offset
            try:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    progress(done)
                    if stop is not None and stop.is_set():
                        raise Cancelled(N_("Download paused"),
                                        N_("it resumes from here"))
            except requests.RequestException as exc:
                raise CutOff("Zoom download was cut off", f"{type(exc).__name__}; it resumes from here") from None
    if size is not None and done != size:
        raise ItemError(N_("Zoom download was short"),
                        N_("{done} of {size} bytes; it resumes from here", done=done, size=size))
    return digest.hexdigest()


def _hash_prefix(handle: Any, length: int) -> Any:
    """A sha256 fed with the first `length` bytes of `handle` (the part a resumed download already has)."""
    digest = hashlib.sha256()
    handle.seek(0)
    left = length
    while left > 0 and (chunk := handle.read(min(CHUNK, left))):
        digest.update(chunk)
        left -= len(chunk)
    return digest


def _bar_progress(bar: Any) -> Callable[[int], None]:
    """Move a tqdm-like bar to `done` bytes (nothing without a bar)."""
    if bar is None:
        return lambda done: None

    def move(done: int) -> None:
        bar.update(done - bar.n)

    return move


class FileGate(Protocol):
    """What CloudSync asks before it downloads a file (sources/zoom/fleet.py when machines share an account)."""

    def take_file(self, identity: str) -> bool: ...


class CloudSync:
    """One sync pass over every target user; safe to run again at any time."""

    def __init__(self, config: Config, catalog: Catalog, dest_id: str,
                 targets: Callable[[], Iterator[tuple[str, ZoomApi]]], *, spool: Path,
                 on_queued: Callable[[], None] = lambda: None, state_file: Path | None = None,
                 progress_bar: Callable[[str, int], Any] | None = None,
                 trash: Callable[[dict[str, Any], list[Row | None], Callable[[str], bool]], Any] | None = None,
                 spool_files: int | None = None, held: Callable[[], str | None] = lambda: None,
                 downloads: int = 1) -> None:
        # the pipeline's bound: at most `spool_files` downloads wait for (or are in) upload (None: no bound,
        # for a sync without transfer workers); `held` says why uploads cannot go on now (the destination is
        # down), and then no more files are downloaded
        self.spool_files = None if spool_files is None else max(1, spool_files)
        self.held = held
        self._spooled: dict[Path, None] = {}  # files this sync queued that may still be in the spool
        self.downloads = max(1, downloads)
        self._lock = threading.Lock()  # the result and the counts below, shared with the download threads
        self._active: dict[Path, int] = {}  # downloads in flight -> their listed size
        self._pool: ThreadPoolExecutor | None = None
        self._running: list[Future[None]] = []
        self._fatal: ZoomwatchError | None = None  # signed out, rate limited...: raised in the sync's thread
        # the cloud trash policy (core.cleanup.CloudTrash.consider): given the listing of a meeting and the
        # catalog row of each of its files, it moves the meeting to Zoom's trash when that is safe
        self.trash = trash
        self.progress_bar = progress_bar  # e.g. tqdm, for `zoomwatch sync` in a terminal
        self.config = config
        self.catalog = catalog
        self.dest_id = dest_id
        self.targets = targets
        self.spool = spool
        self.on_queued = on_queued
        self.state_file = state_file or spool / "sync-state.json"
        self.stop = threading.Event()
        self.session = requests.Session()  # the sync's own thread's; each download thread has its own
        self._sessions = threading.local()
        self.gate: FileGate | None = None  # a fleet sharing the account: asked before each download

    def _since(self) -> dt.date:
        if self.config["zoom.since"]:
            configured = dt.date.fromisoformat(self.config["zoom.since"])
        else:
            configured = dt.date.today() - dt.timedelta(days=DEFAULT_SINCE_DAYS)
        try:
            last = dt.date.fromisoformat(json.loads(self.state_file.read_text())["last_sync"])
        except (OSError, ValueError, KeyError):
            return configured
        return max(configured, last - dt.timedelta(days=int(self.config["zoom.lookback_days"])))

    def _pause(self, seconds: float) -> None:
        """The API client's waits (backoff, rate limits), cut short by a stop request."""
        if self.stop.wait(seconds):
            raise Cancelled(N_("Zoom cloud sync stopped"))

    def _check_stop(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self.stop.is_set():
            raise Cancelled(N_("Zoom cloud sync stopped"))

    def _drain(self) -> None:
        """Wait for the downloads in flight; raise what stopped one of them for all (signed out, say)."""
        for future in list(self._running):
            future.result()
        self._running.clear()
        self._check_stop()

    def sync(self, start: dt.date | None = None, end: dt.date | None = None) -> SyncResult:
        """One pass. Raises SignedOut, RateLimited and KeyringUnavailable (nothing more can be done
        until they pass); any other failure is one user's or one file's and is in the result."""
        result = SyncResult()
        start = start or self._since()
        end = end or dt.date.today()
        wanted = {t.upper() for t in self.config["zoom.file_types"]}
        self._fatal = None
        if self.downloads > 1 and self.gate is None:  # a fleet's machines share the account: one at a time each
            self._pool = ThreadPoolExecutor(self.downloads, thread_name_prefix="zoomwatch-download")
        try:
            if self.gate is None:
                self._all_users(start, end, wanted, result)
            else:  # a fleet leases users one at a time: the order holds within each leased user
                for user, api in self.targets():
                    api.sleep = self._pause
                    self._user(api, user, start, end, wanted, result)
                    self._drain()  # the user's files are in before its lease is given back
            self._drain()
        except Cancelled:
            log.info("cloud sync stopped before the end")
            return result
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)  # downloads in flight end (a stop cuts them short)
                self._pool = None
            self._running.clear()
        result.complete = True
        if not result.failures and start is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps({"last_sync": end.isoformat()}))
        log.info("cloud sync: %d meetings, %d files, %d new, %d already backed up, %d still processing",
                 result.meetings, result.files, result.queued, result.already, result.processing)
        return result

    def _all_users(self, start: dt.date, end: dt.date, wanted: set[str], result: SyncResult) -> None:
        """List every target's meetings first, then fetch them in one order across users: the meetings Zoom
        deletes soonest first (auto_delete_date; unscheduled ones last). One user failing (listing or
        fetching) does not stop the others; the rest of that user's meetings wait for the next sync."""
        listed: list[tuple[dict[str, Any], str, ZoomApi]] = []
        users: list[str] = []
        failed: set[str] = set()
        for user, api in self.targets():
            api.sleep = self._pause
            users.append(user)
            try:
                listed += [(meeting, user, api) for meeting in self._meetings(api, user, start, end)]
            except (Cancelled, SignedOut, RateLimited, KeyringUnavailable):
                raise
            except ZoomwatchError as exc:
                self._user_failed(user, exc, result)
                failed.add(user)
        listed.sort(key=lambda entry: deletion_order(entry[0]))  # stable: Zoom's order within a day
        for meeting, user, api in listed:
            if user in failed:
                continue
            self._check_stop()
            result.meetings += 1
            try:
                self._meeting(api, meeting, wanted, result)
            except (Cancelled, SignedOut, RateLimited, KeyringUnavailable):
                raise
            except ZoomwatchError as exc:
                self._user_failed(user, exc, result)
                failed.add(user)
        for user in users:
            if user not in failed:
                result.recovered(f"user:{user}")

    @staticmethod
    def _user_failed(user: str, exc: ZoomwatchError, result: SyncResult) -> None:
        result.fail(f"user:{user}", f"{user}: {exc.title}: {exc.message}")
        log.warning("cloud sync of %s failed: %s: %s", user, exc.title, exc.message)

    def _user(self, api: ZoomApi, user: str, start: dt.date, end: dt.date, wanted: set[str],
              result: SyncResult) -> None:
        try:
            # the meetings Zoom deletes soonest are fetched first (auto_delete_date; unscheduled ones last)
            for meeting in sorted(self._meetings(api, user, start, end), key=deletion_order):
                self._check_stop()
                result.meetings += 1
                self._meeting(api, meeting, wanted, result)
        except (Cancelled, SignedOut, RateLimited, KeyringUnavailable):
            raise
        except ZoomwatchError as exc:  # one user failing does not stop the others
            self._user_failed(user, exc, result)
        else:
            result.recovered(f"user:{user}")

    def _meetings(self, api: ZoomApi, user: str, start: dt.date, end: dt.date) -> Iterator[dict[str, Any]]:
        yield from api.recordings(user, start, end)
        if self.config["zoom.include_trash"]:
            yield from api.recordings(user, start, end, trash=True)

    def _meeting(self, api: ZoomApi, meeting: dict[str, Any], wanted: set[str], result: SyncResult) -> None:
        files = [f for f in meeting.get("recording_files", []) if not wanted or f.get("file_type", "") in wanted]
        for item in files:
            self._check_stop()
            result.files += 1
            if item.get("status", "completed") != "completed" or not item.get("download_url"):
                result.processing += 1  # listed again next sync (CC and TIMELINE files carry no status)
                continue
            identity = file_identity(meeting, item)
            target = self.spool / hashlib.sha256(identity.encode()).hexdigest()[:24] / file_name(item)
            row = self.catalog.current(self.dest_id, target)
            if row is not None and row.state in FETCHED:
                result.already += 1
                result.recovered(identity)
                continue
            size = int(item["file_size"]) if item.get("file_size") else None
            reason = self._wait_for_room(size)
            if reason is not None:  # the destination is down: downloading more would only fill the spool
                result.held += 1
                result.fail("held", f"{result.held} cloud file(s) not downloaded: {reason}; they are fetched at "
                                    "the next sync")
                continue
            if self.gate is not None and not self.gate.take_file(identity):
                result.elsewhere += 1  # another machine holds it, or has backed it up
                continue
            with self._lock:
                self._active[target] = size or 0
            if self._pool is None:
                self._get(api, meeting, item, identity, target, result)
            else:
                for done in [f for f in self._running if f.done()]:
                    done.result()  # an unexpected failure in a download thread is raised here, as without threads
                self._running = [f for f in self._running if not f.done()]
                self._running.append(self._pool.submit(self._get, api, meeting, item, identity, target, result))
        self._after_meeting(api, meeting, files, result)

    def _get(self, api: ZoomApi, meeting: dict[str, Any], item: dict[str, Any], identity: str, target: Path,
             result: SyncResult) -> None:
        """Download one file and queue it for upload (in a download thread when several run at once)."""
        try:
            sha = self._fetch(api, meeting, item, target)
            self._queue(meeting, item, identity, target, sha)
        except Cancelled:
            return
        except (SignedOut, RateLimited, KeyringUnavailable) as exc:
            self._fatal = self._fatal or exc
            if self._pool is None:
                raise
        except ZoomwatchError as exc:
            with self._lock:
                result.fail(identity, f"{meeting.get('topic')}: {exc.title}: {exc.message}")
            log.warning("%s (%s): %s: %s", meeting.get("topic"), item.get("file_type"), exc.title, exc.message)
        else:
            with self._lock:
                result.recovered(identity)
                result.queued += 1
        finally:
            with self._lock:
                self._active.pop(target, None)

    def _spool_target(self, meeting: dict[str, Any], item: dict[str, Any]) -> Path:
        identity = file_identity(meeting, item)
        return self.spool / hashlib.sha256(identity.encode()).hexdigest()[:24] / file_name(item)

    def _after_meeting(self, api: ZoomApi, meeting: dict[str, Any], files: list[dict[str, Any]],
                       result: SyncResult) -> None:
        """At risk of Zoom's scheduled deletion? Then say so. Safe everywhere? Then maybe to Zoom's trash."""
        in_trash = any(item.get("deleted_time") for item in meeting.get("recording_files", []))
        if files and not in_trash:
            result.fetch_order.append(str(meeting["uuid"]))
        targets = [self._spool_target(meeting, item) for item in files]
        delete_on = deletion_day(meeting)
        if is_at_risk(delete_on, dt.date.today(), int(self.config["zoom.warn_days"])) and any(
                (row := self.catalog.current(self.dest_id, t)) is None or row.state is not FileState.VERIFIED
                for t in targets):
            result.at_risk.append(AtRisk(str(meeting["uuid"]), str(meeting.get("topic") or "Zoom Meeting"),
                                         str(meeting.get("start_time", "")), str(delete_on),
                                         tuple(str(t) for t in targets)))
        if self.config["zoom.trash_after_backup"] and self.trash is not None and not in_trash:
            listed = meeting.get("recording_files", [])  # every file Zoom listed, wanted or not
            rows = [self.catalog.current(self.dest_id, self._spool_target(meeting, item)) for item in listed]
            if self.trash(meeting, rows, api.trash_recordings).goes:
                result.trashed += 1

    def review(self, decide: Callable[[dict[str, Any], list[Row | None], Callable[[str], bool]], Any]) -> None:
        """`zoomwatch cleanup`: list every target's meetings (nothing downloaded) and ask `decide` about each."""
        start, end = self._since(), dt.date.today()
        for user, api in self.targets():
            api.sleep = self._pause
            for meeting in sorted(self._meetings(api, user, start, end), key=deletion_order):
                listed = meeting.get("recording_files", [])
                if any(item.get("deleted_time") for item in listed):
                    continue  # already in Zoom's trash
                rows = [self.catalog.current(self.dest_id, self._spool_target(meeting, item)) for item in listed]
                decide(meeting, rows, api.trash_recordings)

    def in_spool(self) -> int:
        """How many files this sync queued are still in the spool: waiting for (or in) upload, or verified and
        not yet removed. A failed upload gives its room back (it is retried later; see module docstring)."""
        with self._lock:
            queued = list(self._spooled)
        for target in queued:
            row = self.catalog.current(self.dest_id, target)
            if row is None or row.state not in IN_SPOOL or not target.exists():
                with self._lock:
                    self._spooled.pop(target, None)
        with self._lock:
            return len(self._spooled)

    def _wait_for_room(self, size: int | None) -> str | None:
        """Wait until one more download may start: fewer than `downloads` in flight and, with a bound, fewer
        than `spool_files` files in the spool (downloading, waiting for or in upload) and room on the disk for
        this one beside those downloading. Returns why uploads cannot go on (the destination is down) instead
        of waiting for them; raises Cancelled when a stop is asked."""
        while True:
            self._check_stop()
            reason = self.held()
            if reason is not None:
                return reason
            with self._lock:
                active, coming = len(self._active), sum(self._active.values())
            if active < self.downloads:
                if self.spool_files is None:
                    return None
                taken = self.in_spool() + active
                if not taken or (taken < self.spool_files and self._disk_room((size or 0) + coming)):
                    return None
            self._pause(ROOM_POLL_SECONDS)

    def _disk_room(self, needed: int) -> bool:
        try:
            free = shutil.disk_usage(self.spool if self.spool.exists() else self.spool.parent).free
        except OSError:
            return True  # the download itself says what is wrong with the folder
        return free >= needed + SPOOL_FREE_MARGIN

    def _http(self) -> requests.Session:
        if self._pool is None:  # downloads run in the sync's own thread
            return self.session
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        return session

    def _fetch(self, api: ZoomApi, meeting: dict[str, Any], item: dict[str, Any], target: Path) -> str:
        """Download one file and return its SHA-256; a cut connection or an expired token is retried once at
        once (resuming)."""
        size = int(item["file_size"]) if item.get("file_size") else None
        for attempt in (1, 2):
            bar = self.progress_bar(f"{meeting.get('topic', '')[:30]} {target.name}", size or 0) \
                if self.progress_bar else None
            try:
                return download(self._http(), item["download_url"], api.auth.token(), target, size, self.stop,
                                progress=_bar_progress(bar))
            except (TokenExpired, CutOff) as exc:
                if isinstance(exc, TokenExpired):
                    api.auth.token(force_refresh=True)
                if attempt == 2:
                    raise
                log.info("%s (%s): %s; trying again", meeting.get("topic"), item.get("file_type"), exc.title)
            finally:
                if bar is not None:
                    bar.close()
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _queue(self, meeting: dict[str, Any], item: dict[str, Any], identity: str, target: Path, sha: str) -> None:
        st = target.stat()
        info = FileInfo(title=meeting.get("topic") or "Zoom Meeting", start=meeting_start(meeting).isoformat(),
                        meeting_id=str(meeting.get("id", "")) or None, parsed_from="zoom-cloud", name=target.name,
                        origin=Origin.CLOUD, cloud=CloudRef(identity, meeting["uuid"], item.get("file_type")))
        row = self.catalog.note_seen(self.dest_id, target, st.st_size, st.st_mtime_ns)
        # the checksum taken during the download goes with the file: its upload does not read it to hash it
        self.catalog.save_progress(row.id, sha256=sha)
        with self._lock:
            self._spooled[target] = None
        self.catalog.mark_queued(row.id, st.st_size, st.st_mtime_ns, info)
        self.on_queued()
