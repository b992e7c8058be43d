"""Supabase Storage: storage3 (the `supabase` client's storage part) for small files, and Supabase's
resumable endpoint (TUS, through tuspy) for anything over 6 MiB, the size Supabase recommends as the
limit of a standard upload. The TUS upload URL is saved in the catalog before the first byte is
sent, so a crash or restart resumes from the server's offset (HEAD) instead of from zero — whatever
that offset is: the server keeps the received part of a chunk cut off mid-way. Every TUS request has
connect and read time-outs (tuspy sets none: a stalled connection would hang for ever), and an
upload given up (the file changed or vanished, or a new upload replaces it) is terminated with a
TUS DELETE, since the server never removes abandoned uploads by itself.

Supabase accepts only a small ASCII set in object names, so keys are mapped to it before they are
reserved in the catalog (accents dropped, the rest replaced); the original file name is kept in the
object's metadata, with the file's sha256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from zoomwatch.config import Config
from zoomwatch.destinations.base import RemoteObject, SourceFile, UploadSession, download_into
from zoomwatch.errors import (
    BadSetting,
    BucketMissing,
    DestinationDown,
    ItemError,
    SourceChanged,
    TooLarge,
    ZoomwatchError,
)
from zoomwatch.i18n import N_
from zoomwatch.secrets import get_secret

log = logging.getLogger(__name__)

TUS_CHUNK = 6 * 1024 * 1024  # Supabase requires exactly this for every chunk but the last
TUS_TIMEOUT = (15.0, 120.0)  # connect, read (seconds without a byte): a stalled request fails and is retried
STANDARD_LIMIT = TUS_CHUNK   # at most this many bytes go through a standard upload
TOO_LARGE = "File too large for this Supabase project"
BUCKET_NOT_FOUND = "Supabase bucket not found"
KEY_ENV = ("SUPABASE_KEY", "SUPABASE_SERVICE_ROLE_KEY")
LIST_PAGE = 1000  # objects per listing request
_UNSAFE = re.compile(r"[^A-Za-z0-9_/!\-.*'()&$@=;:+, ]")


def supabase_key_name(key: str) -> str:
    """Map a backup key to the characters Supabase Storage accepts, segment by segment (keeps it
    readable; a mostly non-Latin segment keeps a short hash of the original so titles stay apart)."""
    return "/".join(_segment_name(segment) for segment in key.split("/"))


def _segment_name(segment: str) -> str:
    decomposed = unicodedata.normalize("NFKD", segment)
    folded = decomposed.encode("ascii", "ignore").decode("ascii")
    folded = folded.replace("/", "_").replace(":", "_")  # NFKD turns a full-width slash into a real one
    lost = [ch for ch in decomposed if not ch.isascii() and unicodedata.category(ch)[0] in "LN"]
    # no letter left although something was dropped: an all-emoji title beside the date and time
    # would leave just "2024-07-01 09.30.00", the same for every such meeting
    no_letter_left = not segment.isascii() and not any(ch.isalpha() for ch in folded)
    if lost or no_letter_left:  # CJK, Cyrillic, an all-emoji title...: keep such titles apart with a short hash
        folded = f"{folded} {hashlib.sha256(segment.encode('utf-8', 'replace')).hexdigest()[:8]}"
    return re.sub(r"\s+", " ", _UNSAFE.sub("_", folded)).strip(" .") or "_"


class SupabaseDestination:
    makes_links = True  # signed URLs

    def __init__(self, config: Config, *, secrets: dict[str, str] | None = None) -> None:
        self.url = config["destination.supabase.url"].rstrip("/")
        self.bucket = config["destination.supabase.bucket"]
        if not self.url or not self.bucket:
            raise BadSetting(N_("Supabase is not set up"),
                             N_("set destination.supabase.url and destination.supabase.bucket"))
        prefix = config["destination.supabase.prefix"]
        self.prefix = f"{supabase_key_name(prefix)}/" if prefix else ""
        self.key = (secrets or {}).get("supabase.key") or get_secret("supabase.key") or next(
            (os.environ[name] for name in KEY_ENV if os.environ.get(name)), None)
        self.id = f"supabase:{self.url}/{self.bucket}/{self.prefix}"
        self.label: str = N_("Supabase bucket {bucket} at {url}",
                             bucket=f"{self.bucket}{'/' + prefix if prefix else ''}", url=self.url)
        self.tus_timeout = TUS_TIMEOUT
        self._storage: Any = None

    # -- clients and errors -----------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        if not self.key:
            raise DestinationDown(N_("No Supabase key"),
                                  N_("set it with: zoomwatch secret set supabase.key (or SUPABASE_KEY in the "
                                     "environment)"), retryable=False)
        return {"apikey": self.key, "Authorization": f"Bearer {self.key}"}

    @property
    def storage(self) -> Any:
        if self._storage is None:
            from storage3 import SyncStorageClient

            self._storage = SyncStorageClient(f"{self.url}/storage/v1/", self.headers())
        return self._storage

    def objects(self) -> Any:
        return self.storage.from_(self.bucket)

    @contextmanager
    def errors(self, key: str = "") -> Iterator[None]:
        try:
            yield
        except ZoomwatchError:  # ours already (Cancelled too)
            raise
        except Exception as exc:  # storage3, httpx and tuspy each raise their own families
            raise translate(exc, self.bucket, key, self.url) from None

    def full_key(self, key: str) -> str:
        return self.prefix + key

    # -- interface --------------------------------------------------------------------------------

    def adapt_key(self, key: str) -> str:
        return supabase_key_name(key)

    def check(self) -> None:
        """The bucket exists (created, private, if missing and the key may), and a probe object can be
        written, read back and removed.

        A bucket the key may not see (the anon key sees no private bucket) answers exactly like a
        missing one ("404" Bucket not found), so a 404 only means "missing" once an upload says so too:
        an existing bucket refuses it with "403" row-level security, a missing one with "404"."""
        with self.errors():
            try:
                self.storage.get_bucket(self.bucket)
                visible = True
            except Exception as exc:
                if _status(exc) != "404" or _foreign(_body(exc)):
                    raise
                visible = False
        try:
            self._probe()
        except BucketMissing as exc:
            if visible:
                raise
            self._create_bucket(exc)
            self._probe()

    def _create_bucket(self, missing: DestinationDown) -> None:
        log.info("Supabase bucket %s does not exist; creating it (private)", self.bucket)
        with self.errors():
            try:
                self.storage.create_bucket(self.bucket, options={"public": False})
            except Exception as exc:
                if _status(exc) == "409":  # there after all (made meanwhile, or hidden from this key)
                    return
                log.info("could not create bucket %s: %s", self.bucket, translate(exc, self.bucket, "", self.url))
                raise missing from None

    def _probe(self) -> None:
        probe = self.full_key(f".zoomwatch-check/{uuid.uuid4().hex}")
        with self.errors(probe):
            self.objects().upload(probe, b"zoomwatch connection check",
                                  file_options={"content-type": "text/plain", "upsert": "true"})
            back = self.objects().download(probe)
            self.objects().remove([probe])
        if back != b"zoomwatch connection check":
            raise DestinationDown(N_("Supabase check failed"),
                                  N_("bucket {bucket} returned other bytes", bucket=self.bucket))

    def bucket_size_limit(self) -> int | None:
        """The bucket's own file_size_limit in bytes (None: none set, or this key may not see it)."""
        try:
            with self.errors():
                found = self.storage.get_bucket(self.bucket)
        except ZoomwatchError:
            return None
        limit = getattr(found, "file_size_limit", None)
        return int(limit) if isinstance(limit, (int, float)) and limit > 0 else None

    def info(self, full_key: str) -> dict[str, Any] | None:
        with self.errors(full_key):
            try:
                return dict(self.objects().info(full_key))
            except Exception as exc:
                if _status(exc) == "404" and "bucket" not in str(getattr(exc, "code", "")).lower() \
                        and not _foreign(_body(exc)):
                    return None
                raise

    def stat(self, key: str) -> RemoteObject | None:
        found = self.info(self.full_key(key))
        if found is None:
            return None
        metadata = found.get("metadata") or {}
        size = found.get("size", metadata.get("size", metadata.get("contentLength")))
        return RemoteObject(int(size or 0), (found.get("metadata") or {}).get("sha256"))

    def checksum(self, key: str) -> str | None:
        """The stored sha256 from metadata, else the object read back (streamed) and hashed."""
        found = self.stat(key)
        if found is None:
            return None
        if found.sha256:
            return found.sha256
        import httpx

        digest = hashlib.sha256()
        url = f"{self.url}/storage/v1/object/authenticated/{self.bucket}/{self.full_key(key)}"
        with self.errors(key), httpx.stream("GET", url, headers=self.headers(), timeout=120) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def upload(self, source: SourceFile, key: str, session: UploadSession) -> str:
        full = self.full_key(key)
        content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        try:
            if source.size <= STANDARD_LIMIT:
                return self._standard(source, full, content_type, session)
            return self._resumable(source, full, content_type, session)
        except TooLarge:
            raise self._too_large(full, source.size) from None

    def _too_large(self, full: str, size: int) -> TooLarge:
        """Which limit refused the file: the bucket's own file_size_limit, or else the project's."""
        limit = self.bucket_size_limit()
        if limit is not None and size > limit:
            return TooLarge(N_("File too large for this Supabase bucket"),
                            N_("{bucket}/{full} ({size}) is over the bucket's file size limit (file_size_limit "
                               "{limit}) — raise it in the bucket's settings (Storage › {bucket} › Edit bucket)",
                               bucket=self.bucket, full=full, size=_mb(size), limit=_mb(limit)), retryable=False)
        return TooLarge(TOO_LARGE, N_("{bucket}/{full} ({size}) exceeds the project's upload size limit — raise it "
                                      "under Storage settings", bucket=self.bucket, full=full, size=_mb(size)),
                        retryable=False)

    def _standard(self, source: SourceFile, full: str, content_type: str, session: UploadSession) -> str:
        data = source.read_range(0, source.size)
        if len(data) != source.size:
            raise SourceChanged(N_("File changed"),
                                N_("{display} is shorter than when it was measured", display=source.display))
        session.check_stop()
        sha = source.streamed(hashlib.sha256(data))
        session.throttle(len(data))
        with self.errors(full):
            self.objects().upload(full, data, file_options={
                "content-type": content_type, "upsert": "true", "cache-control": "3600",
                "metadata": {"sha256": sha, "original_name": source.name}})
        session.progress(len(data))
        return sha

    def _resumable(self, source: SourceFile, full: str, content_type: str, session: UploadSession) -> str:
        size = source.size
        sha = source.sha256(session.stop)  # read once: a hash the transfer already took is reused
        started = source.stat()
        with source.open() as stream, self.errors(full), self._tus_session() as http:
            uploader = self._resume_uploader(http, stream, full, size, sha, session.resume or {})
            if uploader is None:
                uploader = self._uploader(http, stream, metadata={
                    "bucketName": self.bucket, "objectName": full, "contentType": content_type,
                    "cacheControl": "3600",
                    "metadata": json.dumps({"sha256": sha, "original_name": source.name})})
                uploader.set_url(uploader.create_url())
                uploader.offset = 0
                session.save_resume({"tus_url": uploader.url, "key": full, "size": size, "sha256": sha})
            sent = 0
            while uploader.offset < size:
                session.check_stop()
                _unchanged(source, started)
                before = uploader.offset
                uploader.upload_chunk()
                sent += uploader.offset - before
                session.throttle(uploader.offset - before)
                session.progress(uploader.offset)
        log.info("resumable upload of %s complete: %d bytes sent this time", full, sent)
        return sha

    def _resume_uploader(self, http: Any, stream: Any, full: str, size: int, sha: str,
                         resume: dict[str, Any]) -> Any:
        """The saved upload, if the server still has it and it is for this file; an old one for
        other bytes is terminated."""
        from tusclient.exceptions import TusCommunicationError

        if not resume.get("tus_url"):
            return None
        if (resume.get("key"), resume.get("size"), resume.get("sha256")) != (full, size, sha):
            self._terminate(http, resume["tus_url"], resume.get("key", full))
            return None
        try:
            uploader = self._uploader(http, stream, url=resume["tus_url"])
        except TusCommunicationError as exc:
            if exc.status_code not in (404, 410):
                raise
            log.info("the upload URL of %s expired; starting again", full)
            return None
        log.info("resuming %s at byte %d of %d", full, uploader.offset, size)
        return uploader

    @contextmanager
    def _tus_session(self) -> Iterator[Any]:
        import requests

        http = requests.Session()
        http.headers.update(self.headers())
        try:
            yield http
        finally:
            http.close()

    def _uploader(self, http: Any, stream: Any, **kwargs: Any) -> Any:
        from tusclient.client import TusClient

        client = TusClient(f"{self.url}/storage/v1/upload/resumable", headers={**self.headers(), "x-upsert": "true"})
        return _timed_uploader_class()(file_stream=stream, chunk_size=TUS_CHUNK, client=client, http=http,
                                       timeout=self.tus_timeout, **kwargs)

    def _terminate(self, http: Any, tus_url: str, key: str) -> None:
        """TUS termination: the server drops the upload's stored bytes."""
        import requests

        try:
            answer = http.delete(tus_url, headers={"Tus-Resumable": "1.0.0"}, timeout=self.tus_timeout)
        except requests.RequestException as exc:
            raise DestinationDown(N_("Supabase unreachable"),
                                  N_("{url} does not answer — the unfinished upload of {key} could not be removed "
                                     "({name})", url=self.url, key=key, name=type(exc).__name__),
                                  retryable=True) from None
        if answer.status_code in (200, 204):
            log.info("removed the unfinished resumable upload of %s from Supabase", key)
        elif answer.status_code in (404, 410):
            log.info("the unfinished resumable upload of %s was already gone", key)
        elif answer.status_code == 409:
            log.info("the resumable upload of %s had already completed; nothing to remove", key)
        else:
            raise translate(_HTTPFailure(answer), self.bucket, key, self.url)

    def discard(self, resume: dict[str, Any] | None) -> None:
        """Terminate an unfinished TUS upload (DELETE on its URL): the server never removes it by itself."""
        if resume and resume.get("tus_url"):
            with self._tus_session() as http:
                self._terminate(http, resume["tus_url"], resume.get("key", ""))

    def write_small(self, key: str, data: bytes) -> None:
        full = self.full_key(key)
        with self.errors(full):
            self.objects().upload(full, data, file_options={"content-type": "application/json", "upsert": "true"})

    def share_link(self, key: str) -> str | None:
        """A signed URL, valid for 7 days."""
        with self.errors(key):
            signed = self.objects().create_signed_url(self.full_key(key), 7 * 86400)
        url = signed.get("signedURL") or signed.get("signedUrl") or ""
        return url if url.startswith("http") else f"{self.url}/storage/v1{url}"

    def location(self, key: str) -> str:
        return f"{self.url}/storage/v1/object/{self.bucket}/{self.full_key(key)}"

    # -- listing and reading back (audit, ls, restore) --------------------------------------------

    def list(self, prefix: str = "") -> Iterator[tuple[str, RemoteObject]]:
        """Every object below `prefix`, folder by folder (Storage lists one folder level per request, a
        page of LIST_PAGE at a time); the connection probes left out. Listings carry the size, not the
        sha256 kept in the object's own metadata (stat() reads it)."""
        folders = [prefix.strip("/")]
        while folders:
            folder = folders.pop()
            for entry in self._list_folder(folder):
                name = str(entry.get("name") or "")
                key = f"{folder}/{name}" if folder else name
                if entry.get("id") is None:  # a folder
                    if key != ".zoomwatch-check":
                        folders.append(key)
                    continue
                metadata = entry.get("metadata") or {}
                size = metadata.get("size", metadata.get("contentLength", 0))
                yield key, RemoteObject(int(size or 0))

    def _list_folder(self, folder: str) -> Iterator[dict[str, Any]]:
        path = self.full_key(folder).rstrip("/")
        offset = 0
        while True:
            with self.errors(path):
                page = self.objects().list(path, {"limit": LIST_PAGE, "offset": offset,
                                                  "sortBy": {"column": "name", "order": "asc"}})
            yield from page
            if len(page) < LIST_PAGE:
                return
            offset += len(page)

    def read(self, key: str, offset: int = 0) -> Iterator[bytes] | None:
        import httpx

        full = self.full_key(key)
        url = f"{self.url}/storage/v1/object/authenticated/{self.bucket}/{quote(full)}"
        headers = {**self.headers(), **({"Range": f"bytes={offset}-"} if offset else {})}
        client = httpx.Client(timeout=httpx.Timeout(120, connect=15))
        with self.errors(full):
            try:
                response = client.send(client.build_request("GET", url, headers=headers), stream=True)
            except BaseException:
                client.close()
                raise
        if response.status_code >= 400:
            response.read()
            client.close()
            failure = _HTTPFailure(response)
            if _absent_object(response.status_code, response.content) and not _foreign(_body(failure)):
                return None
            raise translate(failure, self.bucket, full, self.url)
        return self._chunks(client, response, full)

    def _chunks(self, client: Any, response: Any, full: str) -> Iterator[bytes]:
        try:
            with self.errors(full):
                yield from response.iter_bytes(1 << 20)
        finally:
            response.close()
            client.close()

    def download(self, key: str, target: Path, *, progress: Callable[[int], None] | None = None,
                 stop: threading.Event | None = None) -> int:
        return download_into(self, key, target, progress=progress, stop=stop)


def _unchanged(source: SourceFile, started: os.stat_result) -> None:
    """Between chunks: the file is still the one being uploaded (else the upload is given up)."""
    now = source.stat(doing=N_("during the upload"))
    if (now.st_size, now.st_mtime_ns, now.st_ino) != (started.st_size, started.st_mtime_ns, started.st_ino):
        raise SourceChanged(N_("File changed"),
                            N_("{display} changed during the upload", display=source.display))


_UPLOADER: Any = None


def _timed_uploader_class() -> Any:
    """tuspy's Uploader, sending every request through one requests session with time-outs (tuspy
    itself calls requests without any, so a stalled connection would hang the upload for ever)."""
    global _UPLOADER
    if _UPLOADER is not None:
        return _UPLOADER
    import requests
    from tusclient.exceptions import TusCommunicationError, TusUploadFailed
    from tusclient.request import TusRequest
    from tusclient.uploader import Uploader

    class TimedRequest(TusRequest):  # type: ignore[misc]
        def __init__(self, uploader: Any, http: Any, timeout: tuple[float, float]) -> None:
            super().__init__(uploader)
            self.http, self.timeout = http, timeout

        def perform(self) -> None:
            chunk = self.file.read(self._content_length)
            self.add_checksum(chunk)
            try:
                answer = self.http.patch(self._url, data=chunk, headers=self._request_headers, timeout=self.timeout)
            except requests.RequestException as exc:
                raise TusUploadFailed(exc) from None
            self.status_code = answer.status_code
            self.response_content = answer.content
            self.response_headers = {k.lower(): v for k, v in answer.headers.items()}

    class TimedUploader(Uploader):  # type: ignore[misc]
        def __init__(self, *args: Any, http: Any, timeout: tuple[float, float], **kwargs: Any) -> None:
            self.http = http
            self.timeout = timeout
            super().__init__(*args, **kwargs)

        def _call(self, method: str, url: str, headers: dict[str, str]) -> Any:
            try:
                return self.http.request(method, url, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                raise TusCommunicationError(exc) from None

        def get_offset(self) -> int:
            answer = self._call("HEAD", str(self.url), self.get_headers())
            offset = answer.headers.get("upload-offset")
            if offset is None:
                raise TusCommunicationError(f"Attempt to retrieve offset fails with status {answer.status_code}",
                                            answer.status_code, answer.content)
            return int(offset)

        def create_url(self) -> str:
            from urllib.parse import urljoin

            assert self.client is not None
            answer = self._call("POST", self.client.url, self.get_url_creation_headers())
            location = answer.headers.get("location")
            if location is None:
                raise TusCommunicationError(f"Attempt to retrieve create file url with status {answer.status_code}",
                                            answer.status_code, answer.content)
            return urljoin(self.client.url, location)

        def _do_request(self) -> None:
            request = TimedRequest(self, self.http, self.timeout)
            self.request = request  # type: ignore[assignment]  # upload_chunk() reads the new offset here
            try:
                request.perform()
                if request.status_code is None or not 200 <= request.status_code < 300:
                    raise TusUploadFailed("", request.status_code, request.response_content)
            except TusUploadFailed as error:
                self._retry_or_cry(error)

    _UPLOADER = TimedUploader
    return _UPLOADER


class _HTTPFailure(Exception):
    """A plain HTTP answer, shaped for translate()."""

    def __init__(self, answer: Any) -> None:
        super().__init__(f"HTTP {answer.status_code}")
        self.status_code = answer.status_code
        self.response_content = answer.content


# -- error translation ----------------------------------------------------------------------------

def _status(exc: BaseException) -> str:
    """storage3 puts the real status in the JSON body as a string; tuspy keeps the HTTP one."""
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return str(status) if status is not None else ""


def _body(exc: BaseException) -> str:
    parts = [str(getattr(exc, "message", "") or ""), str(getattr(exc, "code", "") or "")]
    content = getattr(exc, "response_content", None)
    if isinstance(content, bytes):
        parts.append(content.decode("utf-8", "replace"))
    return " ".join(parts + [str(exc)]).lower()


_FOREIGN = re.compile(r"<!doctype|<html|unable to parse error message|no route matched"
                      r"|route (get|post|put|patch|head|delete|options):\S* not found")


def _foreign(body: str) -> bool:
    """The answer came from something else than Supabase Storage (an HTML page, another API's 404)."""
    return _FOREIGN.search(body) is not None


def _absent_object(http_status: int, content: bytes) -> bool:
    """Whether an answer says "no such object" (the REST routes answer 400 with the real status, as a
    string, in the JSON body); a missing bucket is not an absent object."""
    try:
        body = json.loads(content.decode("utf-8", "replace"))
    except ValueError:
        body = None
    status = str(body.get("statusCode", http_status)) if isinstance(body, dict) else str(http_status)
    text = content.decode("utf-8", "replace").lower()
    return status == "404" and "bucket" not in text


def _mb(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def translate(exc: BaseException, bucket: str, key: str, url: str) -> ZoomwatchError:
    import httpx
    import requests
    from tusclient.exceptions import TusCommunicationError

    where = f"{bucket}/{key}" if key else f"bucket {bucket}"
    status, body = _status(exc), _body(exc)
    transport = isinstance(exc, httpx.TransportError | ConnectionError | requests.ConnectionError
                           | requests.Timeout) or (isinstance(exc, TusCommunicationError) and not status)
    if transport:
        return DestinationDown(N_("Supabase unreachable"),
                               N_("{url} does not answer — check the network or destination.supabase.url; uploads "
                                  "resume when it is back", url=url), retryable=True)
    if _foreign(body) and not (status.startswith("5") or status in ("429", "423")):
        return DestinationDown(N_("Not a Supabase Storage endpoint"),
                               N_("{url} does not look like a Supabase Storage endpoint (it answered with a web "
                                  "page, not Storage's API) — check destination.supabase.url (the project URL, e.g. "
                                  "https://<project>.supabase.co)", url=url),
                               retryable=True)
    # the name checks come first: an InvalidKey message repeats the refused name, which may hold any word
    if "invalidkey" in body.replace(" ", "") or "invalid key" in body:
        return ItemError(N_("Name refused by Supabase"),
                         N_("{where}: change naming.template", where=where), retryable=False)
    if status == "413" or "maximum size exceeded" in body:
        return TooLarge(TOO_LARGE, N_("{where} exceeds the project's upload size limit — raise it under Storage "
                                      "settings", where=where), retryable=False)
    if any(p in body for p in ("signature verification failed", "invalid compact jws",
                               "claim timestamp check failed", "invalid jwt")) or status == "401":
        return DestinationDown(N_("Supabase key rejected"),
                               N_("the key is malformed, expired or for another project — set the right one with: "
                                  "zoomwatch secret set supabase.key"), retryable=False)
    if "row-level security" in body:
        return DestinationDown(N_("Supabase refuses the upload"),
                               N_("a Storage policy forbids writing to {where} — use the service-role key or allow "
                                  "inserts for this bucket", where=where), retryable=False)
    if status == "404" and "bucket" in body:
        return BucketMissing(BUCKET_NOT_FOUND, N_("bucket {bucket} does not exist and the key may not create it — "
                                                  "create it in the dashboard or fix destination.supabase.bucket",
                                                  bucket=bucket),
                             retryable=False)
    if status.startswith("5") or status in ("429", "423"):
        return DestinationDown(N_("Supabase is busy or failing"),
                               N_("{where}: HTTP {status}; retrying with backoff", where=where, status=status),
                               retryable=True)
    if status == "404" and key:
        return ItemError(N_("Supabase lost the upload"),
                         N_("{where}: {body}; it is sent again", where=where, body=body[:160]))
    return ItemError(N_("Supabase error"),
                     N_("{where}: {status} {body}", where=where, status=status, body=body[:200]))
