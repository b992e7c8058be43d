"""A stand-in for Supabase Storage on loopback, for tests (stdlib only).

Supabase Storage cannot run on these machines (API-NOTES.md, "Supabase Storage"), so this is an HTTP
server written from the public, documented behaviour, and from what API-NOTES records of a running
open-source storage server (supabase/storage 1.11.2) answering storage3 2.34 and tuspy 1.1, checked again
against v1.70.6. Where the documentation and the running server differ, the stand-in does what the
server was seen to do (marked "observed v1.70.6" below).

What each part follows:

* Paths: everything lives under ``{url}/storage/v1`` as behind Supabase's gateway; the REST routes are
  the ones storage3 2.34 calls (read from its source: ``_sync/bucket.py``, ``_sync/file_api.py``).
* Standard uploads (Supabase docs, Storage > Uploads > Standard uploads; supabase/storage
  ``src/http/routes/object/*``): ``POST /object/{bucket}/{path}`` creates, ``x-upsert: true``
  overwrites, ``PUT`` (storage3 ``update``) always upserts. The body is either multipart/form-data as
  storage3 sends it (fields ``cacheControl``, ``metadata`` = JSON text, and the file part whose
  Content-Type becomes the object's) or a raw body (Content-Type, ``cache-control`` and ``x-metadata``
  = base64 JSON, as storage-js sends). Answers ``{"Id": ..., "Key": "bucket/path"}``. Object info
  (``GET /object/info/...``) has the shape of the server's InfoRenderer (id, name, version, bucket_id,
  size, content_type, cache_control, etag, metadata, last_modified, created_at).
* Error shapes (API-NOTES; supabase/storage ``src/internal/errors/codes.ts``, StorageBackendError
  ``render()``, ``src/http/error-handler.ts``): REST errors answer HTTP **400** (500 only for "500")
  with ``{"statusCode": "<real status as a string>", "error": ..., "message": ..., "code": ...}``,
  where ``error`` is the legacy text ("Duplicate", "not_found", "Bucket not found", "Unauthorized",
  "Payload too large", ...) or else the code. storage3 turns that into
  ``StorageApiError(message, code=<body "error">, status=<body "statusCode">)``.
* Object names: the server's ``isValidKey`` (``src/storage/limits.ts``): non-empty and only ASCII
  letters, digits, ``_ / ! - . * ' ( ) & $ @ = ; : +  , ?`` and space; else "400" InvalidKey
  ``Invalid key: <name>``. Bucket names: ``isValidBucketName`` (same set without ``/``, < 64 chars).
* Keys: ``Authorization: Bearer <key>`` (the server reads ``authorization`` and strips 7 characters).
  Observed v1.70.6: the header is required; ``apikey`` alone is refused like no credentials at all.
  The service key has full access; the anon key behaves like the ``anon`` role with no RLS
  policies: it reads objects of public buckets only, sees no buckets, and every write is refused
  with "403" ``new row violates row-level security policy``; a download or info of an object in a
  private bucket is "404" NoSuchKey. Other bearers: "403" ``Invalid Compact JWS`` (no dots),
  ``signature verification failed`` (looks like a JWT), ``"exp" claim timestamp check failed``
  (marked with ``expire_key``). No credentials: "400" InvalidRequest
  ``headers must have required property 'authorization'``.
* Size limit: the project limit (``max_file_size``) and a bucket's ``file_size_limit`` (the smaller
  wins); over it REST answers "413" EntityTooLarge "Payload too large", TUS answers HTTP 413.
* Resumable uploads (Supabase docs, Storage > Uploads > Resumable uploads; TUS 1.0.0 core + creation,
  creation-with-upload, termination, expiration; supabase/storage ``src/http/routes/tus/*`` and the
  ``@tus/server`` error texts): at ``/storage/v1/upload/resumable``. ``OPTIONS`` needs no key;
  every other method needs a valid key, and a bad one answers HTTP 400 with the JSON body above.
  ``POST`` with ``Upload-Length`` and ``Upload-Metadata`` (base64 ``bucketName``, ``objectName``,
  ``contentType``, ``cacheControl``, ``metadata`` = JSON text) answers 201 with an absolute
  ``Location`` ``http://<Host>/storage/v1/upload/resumable/<base64url(bucket/object/uuid)>`` and
  ``Upload-Expires``. ``HEAD`` answers ``Upload-Offset``, ``Upload-Length``, ``Tus-Resumable``,
  ``Cache-Control: no-store``. ``PATCH`` (``Content-Type: application/offset+octet-stream``,
  ``Upload-Offset``) appends and answers 204 with the new ``Upload-Offset``; the object appears when
  offset == length. Real HTTP statuses with plain-text bodies: object exists without
  ``x-upsert: true`` 409 (``The resource already exists``), offset mismatch 409
  (``Upload-Offset conflict``), missing bucket 404, anon writing 403, bad object name 400, over the
  limit 413, unknown upload 404, expired upload 410.
  Observed v1.70.6: a PATCH cut off mid-body keeps the bytes that arrived, so ``Upload-Offset`` after
  a dropped or killed upload is any byte count, not a multiple of 6 MiB. Termination (TUS
  ``termination``): ``DELETE`` on an unfinished upload URL answers 204 and the upload is gone (HEAD
  404); on a completed one 409. Nothing is cleaned up by the server itself.

Deliberate simplifications (each is a choice of this fake, not a documented fact):

* Chunk rule: Supabase documents that the chunk size "must be set to 6MB"; here a PATCH that declares
  a body bigger than ``tus_chunk_size`` (6 MiB), or a non-final PATCH body of any other size, is
  refused with 400 ``Chunk size must be exactly 6291456 bytes ...``. The open-source server itself
  accepts other sizes (observed v1.70.6); hosted Supabase may enforce 6 MiB at its gateway, so the
  stand-in keeps the rule to hold clients to it (``tus_chunk_size=None`` turns it off). The rule
  applies to what a PATCH declares: a chunk cut off mid-body still keeps what arrived.
* Two PATCHes on one upload at the same time: the second gets 423 (the real server uses a lock).
* No JWT parsing, no RLS policies, no owners, no image transforms, no S3 protocol, no signed upload
  URLs, no ``Upload-Defer-Length`` (501), no checksums (``Upload-Checksum`` is ignored). The info
  route checks the key like every other authenticated route. Listing a missing bucket gives ``[]``,
  as the server's search does. Signed download URLs are random tokens, not JWTs.
* Everything is kept in memory; request bodies are read whole (fine for tests, not for gigabytes).

Test hooks: ``bytes_received`` (bytes of request bodies per ``(bucket, path)`` that arrived over
REST uploads and TUS POST/PATCH, whether or not they were kept), ``objects`` / ``buckets`` /
``uploads`` (live state), ``requests`` (a log), ``pause()`` / ``resume()`` (the port stops accepting
and open connections are cut; it comes back on the same port with the same data), ``fail_next()``
(the next matching request answers an error status or drops the connection, optionally after
some body bytes), or is handled but never answered (``stall=True``: the connection stays open and
silent until the server stops), ``expire_key()``, ``expire_uploads()``, ``open_connections()``,
``requests_in_flight()``, ``wait_idle()`` (no request in flight for a while: a killed client's last
bytes have all arrived).
Threads are named ``fake-supabase-...``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .http_server import FakeHandler, FakeHTTPServer

MIB = 1024 * 1024
TUS_CHUNK_SIZE = 6 * MIB
PREFIX = "/storage/v1"
TUS_PATH = PREFIX + "/upload/resumable"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration"

_KEY_RE = re.compile(r"[A-Za-z0-9_/!\-.*'() &$@=;:+,?]*")
_BUCKET_RE = re.compile(r"[A-Za-z0-9_!\-.*'() &$@=;:+,?]*")
_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)", re.IGNORECASE)

SERVICE_ROLE = "service_role"
ANON_ROLE = "anon"


def is_valid_key(key: str) -> bool:
    """supabase/storage ``isValidKey``: JS ``\\w`` is ASCII-only, so no accented letters."""
    return len(key) > 0 and _KEY_RE.fullmatch(key) is not None


def is_valid_bucket_name(name: str) -> bool:
    return 0 < len(name) < 64 and _BUCKET_RE.fullmatch(name) is not None


def make_fake_jwt(role: str) -> str:
    """A JWT-shaped string (header.payload.signature) carrying ``role``; the fake never verifies it."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"iss": "supabase-fake", "role": role, "exp": 4102444800}).encode())
    return f"{header}.{payload}.{b64(secrets.token_bytes(32))}"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _parse_size(value: Any) -> int | None:
    """A bucket's file_size_limit: bytes as a number, or text like "20MB" (units of 1000, like the server)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise StorageError(400, "InvalidRequest", "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")
    if isinstance(value, (int, float)):
        return int(value)
    m = _SIZE_RE.fullmatch(str(value).strip())
    if not m:
        if str(value).strip().isdigit():
            return int(str(value).strip())
        raise StorageError(400, "InvalidRequest", "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")
    factor = {"GB": 10**9, "MB": 10**6, "KB": 1000, "B": 1}[m.group(2).upper()]
    return int(float(m.group(1)) * factor)


class StorageError(Exception):
    """An error of the storage server; ``body()`` is the JSON that its REST routes send."""

    def __init__(self, status: int, code: str, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.error = error

    def body(self) -> dict[str, str]:
        return {"statusCode": str(self.status), "error": self.error or self.code, "message": self.message,
                "code": self.code}

    @property
    def http_status(self) -> int:
        return 500 if self.status == 500 else 400


# The errors of supabase/storage src/internal/errors/codes.ts that this fake produces.
def _no_such_bucket() -> StorageError:
    return StorageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found")


def _no_such_key() -> StorageError:
    return StorageError(404, "NoSuchKey", "Object not found", "not_found")


def _key_exists() -> StorageError:
    return StorageError(409, "KeyAlreadyExists", "The resource already exists", "Duplicate")


def _bucket_exists() -> StorageError:
    return StorageError(409, "BucketAlreadyExists", "The resource already exists", "Duplicate")


def _invalid_key(key: str) -> StorageError:
    return StorageError(400, "InvalidKey", f"Invalid key: {key}")


def _invalid_bucket_name() -> StorageError:
    return StorageError(400, "InvalidBucketName", "Bucket name invalid", "Invalid Input")


def _too_large() -> StorageError:
    return StorageError(413, "EntityTooLarge", "The object exceeded the maximum allowed size", "Payload too large")


def _rls() -> StorageError:
    return StorageError(403, "AccessDenied", "new row violates row-level security policy", "Unauthorized")


def _jwt_error(message: str) -> StorageError:
    return StorageError(403, "AccessDenied", message, "Unauthorized")


def _missing_auth() -> StorageError:
    return StorageError(400, "InvalidRequest", "headers must have required property 'authorization'", "Error")


def _invalid_mime(mime: str) -> StorageError:
    return StorageError(415, "InvalidMimeType", f"mime type {mime} is not supported", "invalid_mime_type")


@dataclass
class Bucket:
    id: str
    name: str
    public: bool = False
    file_size_limit: int | None = None
    allowed_mime_types: list[str] | None = None
    created_at: str = field(default_factory=_now_iso)
    updated_at: str = field(default_factory=_now_iso)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "owner": "", "public": self.public, "type": "STANDARD",
                "file_size_limit": self.file_size_limit, "allowed_mime_types": self.allowed_mime_types,
                "created_at": self.created_at, "updated_at": self.updated_at}


@dataclass
class StoredObject:
    bucket: str
    name: str
    data: bytes
    content_type: str
    cache_control: str = "no-cache"
    metadata: dict[str, Any] | None = None  # user metadata
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=_now_iso)
    updated_at: str = field(default_factory=_now_iso)
    modified: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def etag(self) -> str:
        return '"' + hashlib.md5(self.data).hexdigest() + '"'

    def server_metadata(self) -> dict[str, Any]:
        return {"eTag": self.etag, "size": self.size, "mimetype": self.content_type,
                "cacheControl": self.cache_control, "lastModified": self.updated_at,
                "contentLength": self.size, "httpStatusCode": 200}

    def row(self) -> dict[str, Any]:
        return {"bucket_id": self.bucket, "name": self.name, "id": self.id, "owner": None, "owner_id": None,
                "version": self.version, "created_at": self.created_at, "updated_at": self.updated_at,
                "last_accessed_at": self.updated_at, "metadata": self.server_metadata(),
                "user_metadata": self.metadata}

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "bucket_id": self.bucket,
                "size": self.size, "content_type": self.content_type, "cache_control": self.cache_control,
                "etag": self.etag, "metadata": self.metadata, "last_modified": self.updated_at,
                "created_at": self.created_at}


@dataclass
class TusUpload:
    id: str
    bucket: str
    name: str
    length: int
    content_type: str
    cache_control: str
    metadata: dict[str, Any] | None
    raw_metadata: str
    expires: float
    data: bytearray = field(default_factory=bytearray)
    finished: bool = False
    expired_status: int | None = None  # 404/410 once expire_uploads() was called

    @property
    def offset(self) -> int:
        return len(self.data)


@dataclass
class RequestRecord:
    method: str
    path: str
    headers: dict[str, str]
    status: int | None = None
    body_bytes: int = 0


@dataclass
class _Failure:
    method: str | None
    path_contains: str | None
    status: int | None
    body: bytes | None
    drop: bool
    after_bytes: int | None
    remaining: int
    stall: bool = False


class _Dropped(Exception):
    """The connection is cut without an answer."""


class _Server(FakeHTTPServer):
    def __init__(self, port: int, fake: FakeSupabaseStorage) -> None:
        self.fake = fake
        super().__init__(port, _Handler, "fake-supabase")


class _Handler(FakeHandler):
    server_version = "FakeSupabaseStorage/1.0"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ----------------------------------------------------------------------------------------- plumbing

    def _dispatch(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        self._route_path = split.path
        self._query = parse_qs(split.query, keep_blank_values=True)
        self._body_read = False
        self._body: bytes = b""
        self._count_key = fake._count_key_for(self.command, split.path)
        self._cut_after: int | None = None  # cut the connection after this many body bytes (kept by TUS)
        self._stall = False  # handle the request, then never answer
        self._record = RequestRecord(self.command, self.path, {k: v for k, v in self.headers.items()})
        with fake._lock:
            fake.requests.append(self._record)
        try:
            failure = fake._take_failure(self.command, split.path)
            if failure is not None and (failure.stall or (failure.drop and failure.after_bytes)):
                self._cut_after = failure.after_bytes if failure.drop else None
                self._stall = failure.stall
                failure = None  # handled as usual below, then cut or left unanswered
            if failure is not None:
                self._inject(failure)
            elif split.path == TUS_PATH or split.path.startswith(TUS_PATH + "/"):
                self._tus(split.path[len(TUS_PATH):])
            elif split.path.startswith(PREFIX + "/"):
                self._rest(split.path[len(PREFIX):])
            else:
                self._route_not_found()
        except _Dropped:
            self._cut()
        except OSError:
            self.close_connection = True

    def _cut(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _count(self, n: int) -> None:
        if self._count_key is not None and n:
            fake = self.server.fake
            with fake._lock:
                fake.bytes_received[self._count_key] = fake.bytes_received.get(self._count_key, 0) + n

    def _read_body(self, stop_after: int | None = None) -> tuple[bytes, bool]:
        """Read the request body; (data, complete). Counts bytes as they arrive; an injected cut
        (``fail_next(drop=True, after_bytes=n)``) stops after n bytes."""
        if stop_after is None:
            stop_after = self._cut_after
        self._body_read = True
        buf = bytearray()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return bytes(buf), False
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return bytes(buf), False
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    self._record.body_bytes = len(buf)
                    return bytes(buf), True
                while size > 0:
                    piece = self.rfile.read1(min(size, 65536))
                    if not piece:
                        return bytes(buf), False
                    buf += piece
                    size -= len(piece)
                    self._count(len(piece))
                    if stop_after is not None and len(buf) >= stop_after:
                        return bytes(buf), False
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        while len(buf) < length:
            want = min(65536, length - len(buf))
            if stop_after is not None:
                want = min(want, stop_after - len(buf))
                if want <= 0:
                    return bytes(buf), False
            try:
                piece = self.rfile.read1(want)
            except OSError:
                piece = b""
            if not piece:
                return bytes(buf), False
            buf += piece
            self._count(len(piece))
        self._record.body_bytes = len(buf)
        return bytes(buf), True

    def _body_or_drop(self) -> bytes:
        data, complete = self._read_body()
        if not complete:
            raise _Dropped
        self._body = data
        return data

    def _drain(self) -> None:
        if not self._body_read:
            self._body_or_drop()

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str | None = None, content_length: int | None = None) -> None:
        self._drain()
        if self._stall:  # the request was handled, but no answer ever comes (until the server stops)
            released = self.server.fake._unstall
            while not released.wait(0.05):
                pass
            raise _Dropped
        self._record.status = status
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers, "application/json; charset=utf-8")

    def _send_error(self, err: StorageError) -> None:
        self._send_json(err.http_status, err.body())

    def _route_not_found(self) -> None:
        self._send_json(404, {"statusCode": 404, "error": "Not Found",
                              "message": f"Route {self.command}:{self._route_path} not found"})

    def _inject(self, failure: _Failure) -> None:
        if failure.drop:
            if failure.after_bytes:
                self._read_body(stop_after=failure.after_bytes)
            raise _Dropped
        self._drain()
        status = failure.status or 500
        if failure.body is not None:
            self._send(status, failure.body, content_type="text/plain; charset=utf-8")
        elif self._route_path.startswith(TUS_PATH):
            self._send(status, b"Something went wrong with that request\n", content_type="text/plain; charset=utf-8")
        else:
            self._send_json(status, {"statusCode": str(status), "error": "Internal",
                                     "message": "Internal Server Error", "code": "InternalError"})

    def _auth(self) -> str:
        return self.server.fake._authenticate(self.headers.get("Authorization"), self.headers.get("apikey"))

    # ---------------------------------------------------------------------------------------- REST

    def _rest(self, sub: str) -> None:
        segs = sub.split("/")[1:]
        method = self.command
        try:
            if segs and segs[0] == "bucket":
                self._bucket_routes(method, [unquote(s) for s in segs[1:]])
            elif segs and segs[0] == "object":
                self._object_routes(method, segs[1:])
            else:
                self._route_not_found()
        except StorageError as err:
            self._send_error(err)

    def _json_body(self) -> dict[str, Any]:
        raw = self._body_or_drop()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise StorageError(400, "InvalidRequest", "Body is not valid JSON", "Bad Request") from exc
        if not isinstance(value, dict):
            raise StorageError(400, "InvalidRequest", "body must be object", "Bad Request")
        return value

    def _bucket_routes(self, method: str, rest: list[str]) -> None:
        fake = self.server.fake
        role = self._auth()
        if method == "GET" and not rest:
            self._send_json(200, fake._list_buckets(role))
        elif method == "GET" and len(rest) == 1:
            self._send_json(200, fake._get_bucket(role, rest[0]).to_json())
        elif method == "POST" and not rest:
            body = self._json_body()
            self._send_json(200, fake._create_bucket(role, body))
        elif method == "PUT" and len(rest) == 1:
            body = self._json_body()
            fake._update_bucket(role, rest[0], body)
            self._send_json(200, {"message": "Successfully updated"})
        elif method == "POST" and len(rest) == 2 and rest[1] == "empty":
            fake._empty_bucket(role, rest[0])
            self._send_json(200, {"message": "Successfully emptied"})
        elif method == "DELETE" and len(rest) == 1:
            fake._delete_bucket(role, rest[0])
            self._send_json(200, {"message": "Successfully deleted"})
        else:
            self._route_not_found()

    @staticmethod
    def _split_object(segs: list[str]) -> tuple[str, str]:
        if len(segs) < 2 or not segs[0]:
            raise StorageError(400, "InvalidRequest", "params must have required property '*'", "Bad Request")
        return unquote(segs[0]), unquote("/".join(segs[1:]))

    def _object_routes(self, method: str, segs: list[str]) -> None:
        fake = self.server.fake
        head = segs[0] if segs else ""
        if head == "list" and method == "POST" and len(segs) == 2:
            role = self._auth()
            body = self._json_body()
            self._send_json(200, fake._list_objects(role, unquote(segs[1]), body))
        elif head == "info" and method == "GET" and len(segs) >= 3:
            rest = segs[1:]
            if rest[0] == "public" and len(rest) >= 3:
                bucket, name = self._split_object(rest[1:])
                self._send_json(200, fake._info(None, bucket, name))
                return
            if rest[0] == "authenticated" and len(rest) >= 3:
                rest = rest[1:]
            role = self._auth()
            bucket, name = self._split_object(rest)
            self._send_json(200, fake._info(role, bucket, name))
        elif head == "sign" and method == "POST" and len(segs) >= 3:
            role = self._auth()
            bucket, name = self._split_object(segs[1:])
            body = self._json_body()
            self._send_json(200, fake._sign(role, bucket, name, body.get("expiresIn")))
        elif head == "sign" and method == "POST" and len(segs) == 2:
            role = self._auth()
            body = self._json_body()
            self._send_json(200, fake._sign_many(role, unquote(segs[1]), body))
        elif head == "sign" and method in ("GET", "HEAD") and len(segs) >= 3:
            bucket, name = self._split_object(segs[1:])
            token = (self._query.get("token") or [""])[0]
            obj = fake._signed_object(bucket, name, token)
            self._send_object(obj)
        elif head == "public" and method in ("GET", "HEAD") and len(segs) >= 3:
            bucket, name = self._split_object(segs[1:])
            self._send_object(fake._read_object(None, bucket, name))
        elif head == "authenticated" and method in ("GET", "HEAD") and len(segs) >= 3:
            role = self._auth()
            bucket, name = self._split_object(segs[1:])
            self._send_object(fake._read_object(role, bucket, name))
        elif head in ("move", "copy") and method == "POST" and len(segs) == 1:
            role = self._auth()
            body = self._json_body()
            self._send_json(200, fake._move_or_copy(role, head, body))
        elif method == "DELETE" and len(segs) == 1 and head:
            role = self._auth()
            body = self._json_body()
            prefixes = body.get("prefixes")
            if not isinstance(prefixes, list) or not prefixes:
                raise StorageError(400, "InvalidRequest", "body/prefixes must NOT have fewer than 1 items", "Error")
            self._send_json(200, fake._remove(role, unquote(head), [str(p) for p in prefixes]))
        elif len(segs) >= 2 and method in ("POST", "PUT"):
            role = self._auth()
            bucket, name = self._split_object(segs)
            upsert = method == "PUT" or self.headers.get("x-upsert") == "true"
            self._upload(role, bucket, name, upsert)
        elif len(segs) >= 2 and method in ("GET", "HEAD"):
            role = self._auth()
            bucket, name = self._split_object(segs)
            self._send_object(fake._read_object(role, bucket, name))
        elif len(segs) >= 2 and method == "DELETE":
            role = self._auth()
            bucket, name = self._split_object(segs)
            fake._delete_one(role, bucket, name)
            self._send_json(200, {"message": "Successfully deleted"})
        else:
            self._route_not_found()

    def _upload(self, role: str, bucket: str, name: str, upsert: bool) -> None:
        body = self._body_or_drop()
        content_type = self.headers.get("Content-Type", "")
        metadata: dict[str, Any] | None = None
        if content_type.lower().startswith("multipart/form-data"):
            fields, file_part = _parse_multipart(content_type, body)
            if file_part is None:
                raise StorageError(400, "InvalidRequest", "No content provided")
            data, mime = file_part
            mime = mime or "text/plain"
            cache = fields.get("cacheControl")
            cache_control = f"max-age={cache}" if cache else "no-cache"
            if fields.get("metadata"):
                metadata = _json_object(fields["metadata"])
        else:
            data = body
            mime = content_type or "application/octet-stream"
            cache_control = self.headers.get("cache-control") or "no-cache"
            raw_md = self.headers.get("x-metadata")
            if raw_md:
                try:
                    metadata = _json_object(base64.b64decode(raw_md).decode("utf-8"))
                except (binascii.Error, UnicodeDecodeError) as exc:
                    raise StorageError(400, "InvalidRequest", "Invalid x-metadata header") from exc
        obj = self.server.fake._put(role, bucket, name, data, mime, cache_control, metadata, upsert)
        self._send_json(200, {"Id": obj.id, "Key": f"{bucket}/{name}"})

    def _send_object(self, obj: StoredObject) -> None:
        headers = {"ETag": obj.etag, "Cache-Control": obj.cache_control, "Accept-Ranges": "bytes",
                   "Last-Modified": _http_date(obj.modified)}
        data = obj.data
        status = 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise StorageError(400, "InvalidRange", "invalid range provided", "invalid_range")
            size = len(data)
            if m.group(1):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
            else:
                start = max(0, size - int(m.group(2)))
                end = size - 1
            end = min(end, size - 1)
            if start >= size or start > end:
                raise StorageError(400, "InvalidRange", "invalid range provided", "invalid_range")
            data = data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            status = 206
        self._send(status, data, headers, obj.content_type, content_length=len(data))

    # ----------------------------------------------------------------------------------------- TUS

    def _tus_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        all_headers = {"Tus-Resumable": "1.0.0"}
        all_headers.update(headers or {})
        self._send(status, text.encode(), all_headers, "text/plain; charset=utf-8")

    def _tus(self, sub: str) -> None:
        fake = self.server.fake
        method = self.command
        if method == "OPTIONS":
            self._send(204, b"", {"Tus-Resumable": "1.0.0", "Tus-Version": "1.0.0", "Tus-Extension": TUS_EXTENSIONS,
                                  "Tus-Max-Size": str(fake.max_file_size),
                                  "Access-Control-Allow-Methods": "POST, HEAD, PATCH, OPTIONS, DELETE"})
            return
        try:
            role = self._auth()
        except StorageError as err:
            self._send_error(err)  # the JWT check runs before TUS: HTTP 400 with the JSON body
            return
        if "Tus-Resumable" not in self.headers:
            self._tus_text(412, "Tus-Resumable Required\n")
            return
        upload_id = sub.strip("/")
        if not upload_id:
            if method == "POST":
                self._tus_create(role)
            else:
                self._route_not_found()
            return
        if method == "HEAD":
            self._tus_head(upload_id)
        elif method == "PATCH":
            self._tus_patch(role, upload_id)
        elif method == "DELETE":
            self._tus_delete(upload_id)
        else:
            self._route_not_found()

    def _tus_error(self, err: StorageError) -> None:
        self._tus_text(err.status, err.message)

    def _tus_create(self, role: str) -> None:
        fake = self.server.fake
        if "Upload-Defer-Length" in self.headers:
            self._tus_text(501, "creation-defer-length extension is not (yet) supported.\n")
            return
        length_header = self.headers.get("Upload-Length", "")
        if not length_header.isdigit():
            self._tus_text(400, "Upload-Length or Upload-Defer-Length header required\n")
            return
        raw_metadata = self.headers.get("Upload-Metadata", "")
        try:
            meta = _parse_tus_metadata(raw_metadata)
        except ValueError:
            self._tus_text(400, "Upload-Metadata is invalid. It MUST consist of one or more comma-separated key-value "
                                "pairs. The key and value MUST be separated by a space. The key MUST NOT contain "
                                "spaces and commas and MUST NOT be empty. The key SHOULD be ASCII encoded and the "
                                "value MUST be Base64 encoded. All keys MUST be unique")
            return
        upsert = self.headers.get("x-upsert") == "true"
        try:
            upload = fake._tus_create(role, int(length_header), meta, raw_metadata, upsert)
        except StorageError as err:
            if err.status == 413:
                self._tus_text(413, "Maximum size exceeded\n")
            else:
                self._tus_error(err)
            return
        host = self.headers.get("X-Forwarded-Host") or self.headers.get("Host") or f"127.0.0.1:{fake.port}"
        proto = self.headers.get("X-Forwarded-Proto") or "http"
        headers = {"Location": f"{proto}://{host}{TUS_PATH}/{upload.id}", "Upload-Expires": _http_date(upload.expires)}
        has_body = int(self.headers.get("Content-Length") or 0) > 0 or "Transfer-Encoding" in self.headers
        if has_body and self.headers.get("Content-Type") == "application/offset+octet-stream":
            self._count_key = (upload.bucket, upload.name)
            status, text, extra = self._tus_append(role, upload, 0)
            if status >= 300:
                self._tus_text(status, text)
                return
            headers.update(extra)
        self._tus_text(201, "", headers)

    def _lookup_upload(self, upload_id: str) -> TusUpload | None:
        fake = self.server.fake
        with fake._lock:
            upload = fake.uploads.get(upload_id)
        if upload is None:
            self._tus_text(404, "The file for this url was not found\n")
            return None
        if upload.expired_status is not None:
            if upload.expired_status == 410:
                self._tus_text(410, "The file for this url no longer exists\n")
            else:
                self._tus_text(404, "The file for this url was not found\n")
            return None
        return upload

    def _tus_head(self, upload_id: str) -> None:
        upload = self._lookup_upload(upload_id)
        if upload is None:
            return
        headers = {"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length),
                   "Cache-Control": "no-store"}
        if upload.raw_metadata:
            headers["Upload-Metadata"] = upload.raw_metadata
        if not upload.finished:
            headers["Upload-Expires"] = _http_date(upload.expires)
        self._tus_text(200, "", headers)

    def _tus_patch(self, role: str, upload_id: str) -> None:
        if self.headers.get("Content-Type") != "application/offset+octet-stream":
            self._tus_text(403, "Content-Type header required\n")
            return
        offset_header = self.headers.get("Upload-Offset", "")
        if not offset_header.isdigit():
            self._tus_text(403, "Upload-Offset header required\n")
            return
        upload = self._lookup_upload(upload_id)
        if upload is None:
            return
        status, text, headers = self._tus_append(role, upload, int(offset_header))
        self._tus_text(status, text, headers)

    def _tus_append(self, role: str, upload: TusUpload, offset: int) -> tuple[int, str, dict[str, str]]:
        """Checks, reads the body and appends it; (status, text, headers) to answer with."""
        fake = self.server.fake
        with fake._lock:
            if upload.id in fake._patching:
                return 423, "The resource is locked\n", {}
            fake._patching.add(upload.id)
        try:
            if offset != upload.offset:
                return 409, "Upload-Offset conflict\n", {}
            upsert = self.headers.get("x-upsert") == "true"
            try:
                fake._can_upload(role, upload.bucket, upload.name, upsert)
            except StorageError as err:
                return err.status, err.message, {}
            declared = self.headers.get("Content-Length")
            if declared is not None and declared.isdigit():
                problem = fake._chunk_problem(upload, offset, int(declared))
                if problem:
                    return problem
            data, complete = self._read_body()
            if not complete:  # like the real server: what arrived of a cut-off chunk is kept
                with fake._lock:
                    if not upload.finished:
                        upload.data += data
                raise _Dropped
            problem = fake._chunk_problem(upload, offset, len(data))
            if problem:
                return problem
            return fake._tus_append(role, upload, data, upsert)
        finally:
            with fake._lock:
                fake._patching.discard(upload.id)

    def _tus_delete(self, upload_id: str) -> None:
        fake = self.server.fake
        upload = self._lookup_upload(upload_id)
        if upload is None:
            return
        if upload.finished:
            self._tus_text(409, "Cannot terminate an already completed upload\n")
            return
        with fake._lock:
            fake.uploads.pop(upload_id, None)
        self._tus_text(204, "")


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], tuple[bytes, str] | None]:
    """Split multipart/form-data (RFC 7578) exactly, without the email parser's line handling."""
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not m:
        raise StorageError(400, "InvalidRequest", "Multipart: Boundary not found")
    delimiter = b"--" + m.group(1).encode("latin-1")
    fields: dict[str, str] = {}
    file_part: tuple[bytes, str] | None = None
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        disposition = headers.get("content-disposition", "")
        name_m = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        is_file = "filename=" in disposition
        if is_file and file_part is None:
            file_part = (content, headers.get("content-type", ""))
        elif name_m and not is_file:
            fields[name_m.group(1)] = content.decode("utf-8", "replace")
    return fields, file_part


def _parse_tus_metadata(raw: str) -> dict[str, str]:
    result: dict[str, str] = {}
    if not raw.strip():
        return result
    for pair in raw.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2 or parts[0] in result:
            raise ValueError(raw)
        value = ""
        if len(parts) == 2:
            try:
                value = base64.b64decode(parts[1], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ValueError(raw) from exc
        result[parts[0]] = value
    return result


def _decode_upload_id(upload_id: str) -> tuple[str, str] | None:
    try:
        raw = base64.urlsafe_b64decode(upload_id + "=" * (-len(upload_id) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = raw.split("/")
    if len(parts) < 3:
        return None
    return parts[0], "/".join(parts[1:-1])


def _mime_allowed(mime: str, allowed: list[str] | None) -> bool:
    if not allowed:
        return True
    base = mime.split(";")[0].strip().lower()
    for pattern in allowed:
        p = pattern.strip().lower()
        if p == base or (p.endswith("/*") and base.startswith(p[:-1])):
            return True
    return False


class FakeSupabaseStorage:
    """Supabase Storage on ``http://127.0.0.1:<port>/storage/v1``; see the module docstring.

    ``FakeSupabaseStorage(service_key=None, anon_key=None, max_file_size=50 MiB, *, port=0,
    tus_chunk_size=6 MiB, upload_url_ttl=24 h)``. Keys default to JWT-shaped random strings
    (``make_fake_jwt``). ``tus_chunk_size=None`` turns the chunk rule off.
    """

    def __init__(self, service_key: str | None = None, anon_key: str | None = None,
                 max_file_size: int = 50 * MIB, *, port: int = 0, tus_chunk_size: int | None = TUS_CHUNK_SIZE,
                 upload_url_ttl: float = 24 * 3600) -> None:
        self.service_key = service_key or make_fake_jwt(SERVICE_ROLE)
        self.anon_key = anon_key or make_fake_jwt(ANON_ROLE)
        self.max_file_size = max_file_size
        self.tus_chunk_size = tus_chunk_size
        self.upload_url_ttl = upload_url_ttl
        self._lock = threading.RLock()
        self._keys: dict[str, str] = {self.service_key: SERVICE_ROLE, self.anon_key: ANON_ROLE}
        self._expired_keys: set[str] = set()
        self.buckets: dict[str, Bucket] = {}
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.uploads: dict[str, TusUpload] = {}
        self.bytes_received: dict[tuple[str, str], int] = {}
        self.requests: list[RequestRecord] = []
        self._signed: dict[str, tuple[str, str, float]] = {}
        self._failures: list[_Failure] = []
        self._patching: set[str] = set()
        self._unstall = threading.Event()  # set while stopped: stalled requests end
        self._port = port
        self._server: _Server | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSupabaseStorage:
        """Listen on 127.0.0.1 (the same port again after stop()/pause())."""
        if self._server is not None:
            return self
        self._unstall.clear()
        server = _Server(self._port, self)
        self._port = server.port
        self._server = server
        server.start()
        return self

    def stop(self) -> None:
        """Close the port and cut every open connection; the state is kept."""
        server, self._server = self._server, None
        self._unstall.set()
        if server is not None:
            server.stop()

    def pause(self) -> None:
        """The server "disappears": connections are refused and open ones are cut."""
        self.stop()

    def resume(self) -> None:
        """Back on the same port, with the same buckets, objects and uploads."""
        self.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> FakeSupabaseStorage:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the fake has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The project URL (what ``supabase.create_client`` takes)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_url(self) -> str:
        return self.url + PREFIX

    @property
    def tus_url(self) -> str:
        return self.url + TUS_PATH

    # ---------------------------------------------------------------------------------------- hooks

    def add_key(self, key: str, role: str = SERVICE_ROLE) -> None:
        """Accept another key, with role "service_role" or "anon"."""
        with self._lock:
            self._keys[key] = role
            self._expired_keys.discard(key)

    def expire_key(self, key: str) -> None:
        """Requests with ``key`` now get "403" ``"exp" claim timestamp check failed``."""
        with self._lock:
            self._expired_keys.add(key)

    def revive_key(self, key: str) -> None:
        with self._lock:
            self._expired_keys.discard(key)

    def expire_uploads(self, status: int = 410) -> None:
        """Every existing upload URL now answers ``status`` (410 Gone, or 404) to HEAD/PATCH."""
        if status not in (404, 410):
            raise ValueError("status must be 404 or 410")
        with self._lock:
            for upload in self.uploads.values():
                upload.expired_status = status

    def fail_next(self, method: str | None = "PATCH", status: int | None = 500, *, times: int = 1,
                  path_contains: str | None = None, drop: bool = False, after_bytes: int | None = None,
                  body: bytes | None = None, stall: bool = False) -> None:
        """The next ``times`` requests matching ``method`` (None: any) and ``path_contains`` fail.

        With ``drop=True`` the connection is cut without an answer (after reading ``after_bytes`` of
        the body when given; a TUS PATCH keeps those bytes, as the real server does); with
        ``stall=True`` the request is handled as usual (a PATCH's bytes are stored) but its answer
        never comes: the connection stays open, silent, until the server stops; otherwise they answer
        ``status`` (TUS: plain text; REST: JSON) and nothing is stored.
        """
        with self._lock:
            self._failures.append(_Failure(method.upper() if method else None, path_contains, status, body, drop,
                                           after_bytes, times, stall))

    def create_bucket(self, name: str, *, public: bool = False, file_size_limit: int | None = None,
                      allowed_mime_types: list[str] | None = None) -> Bucket:
        """Seed a bucket without going through HTTP."""
        with self._lock:
            bucket = Bucket(name, name, public, file_size_limit, allowed_mime_types)
            self.buckets[name] = bucket
            return bucket

    def put_object(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream",
                   metadata: dict[str, Any] | None = None) -> StoredObject:
        """Seed an object without going through HTTP (the bucket is created when missing)."""
        with self._lock:
            if bucket not in self.buckets:
                self.create_bucket(bucket)
            obj = StoredObject(bucket, name, bytes(data), content_type, "max-age=3600", metadata)
            self.objects[(bucket, name)] = obj
            return obj

    def upload_for(self, bucket: str, name: str) -> TusUpload | None:
        """The most recent TUS upload for an object."""
        with self._lock:
            found = [u for u in self.uploads.values() if (u.bucket, u.name) == (bucket, name)]
        return found[-1] if found else None

    def open_connections(self) -> int:
        """How many client connections are open now."""
        server = self._server
        if server is None:
            return 0
        with server._conn_lock:
            return len(server._conns)

    def requests_in_flight(self) -> int:
        """How many requests are arriving or being answered now (idle keep-alive connections not counted)."""
        server = self._server
        return 0 if server is None else server.requests_in_flight()

    def wait_idle(self, quiet: float = 0.5, timeout: float = 60.0) -> None:
        """Wait until no request has been in flight (nor a new one arrived) for ``quiet`` seconds: after a
        client was killed, what it had sent has then all been received and every upload's offset is final.
        A keep-alive connection left idle by a live client does not hold this up."""
        deadline = time.monotonic() + timeout
        since, seen = time.monotonic(), -1
        while time.monotonic() < deadline:
            with self._lock:
                count = len(self.requests)
            if self.requests_in_flight() or count != seen:
                since, seen = time.monotonic(), count
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.02)
        raise AssertionError(f"the stand-in was still busy after {timeout:.0f} s")

    # ------------------------------------------------------------------------------------ internals

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.method not in (None, method):
                    continue
                if failure.path_contains and failure.path_contains not in path:
                    continue
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _count_key_for(self, method: str, path: str) -> tuple[str, str] | None:
        if path.startswith(TUS_PATH + "/") and method in ("PATCH", "POST"):
            with self._lock:
                upload = self.uploads.get(path[len(TUS_PATH) + 1:].strip("/"))
            if upload is not None:
                return upload.bucket, upload.name
            return _decode_upload_id(path[len(TUS_PATH) + 1:].strip("/"))
        if path == TUS_PATH and method == "POST":
            return None  # set once the upload exists (creation-with-upload)
        if path.startswith(PREFIX + "/object/") and method in ("POST", "PUT"):
            segs = path[len(PREFIX) + len("/object/"):].split("/")
            if len(segs) >= 2 and segs[0] not in ("list", "sign", "move", "copy", "info"):
                return unquote(segs[0]), unquote("/".join(segs[1:]))
        return None

    def _authenticate(self, authorization: str | None, apikey: str | None) -> str:
        """The role of the bearer; like the real server, ``apikey`` alone is not enough."""
        if authorization is None:
            raise _missing_auth()
        token = authorization[len("Bearer "):]
        with self._lock:
            if token in self._expired_keys:
                raise _jwt_error('"exp" claim timestamp check failed')
            role = self._keys.get(token)
        if role is not None:
            return role
        if token.count(".") != 2:
            raise _jwt_error("Invalid Compact JWS")
        raise _jwt_error("signature verification failed")

    def _limit_for(self, bucket: Bucket) -> int:
        limit = self.max_file_size
        if bucket.file_size_limit:
            limit = min(limit, bucket.file_size_limit)
        return limit

    def _list_buckets(self, role: str) -> list[dict[str, Any]]:
        if role != SERVICE_ROLE:
            return []
        with self._lock:
            return [b.to_json() for b in sorted(self.buckets.values(), key=lambda b: b.id)]

    def _get_bucket(self, role: str, bucket_id: str) -> Bucket:
        with self._lock:
            bucket = self.buckets.get(bucket_id)
        if bucket is None or role != SERVICE_ROLE:
            raise _no_such_bucket()
        return bucket

    def _create_bucket(self, role: str, body: dict[str, Any]) -> dict[str, str]:
        name = str(body.get("name") or body.get("id") or "")
        bucket_id = str(body.get("id") or name)
        if not is_valid_bucket_name(name) or not is_valid_bucket_name(bucket_id):
            raise _invalid_bucket_name()
        if role != SERVICE_ROLE:
            raise _rls()
        limit = _parse_size(body.get("file_size_limit"))
        mimes = body.get("allowed_mime_types")
        with self._lock:
            if bucket_id in self.buckets:
                raise _bucket_exists()
            self.buckets[bucket_id] = Bucket(bucket_id, name, bool(body.get("public", False)), limit,
                                             list(mimes) if mimes else None)
        return {"name": bucket_id}

    def _update_bucket(self, role: str, bucket_id: str, body: dict[str, Any]) -> None:
        bucket = self._get_bucket(role, bucket_id)
        with self._lock:
            if "public" in body:
                bucket.public = bool(body["public"])
            if "file_size_limit" in body:
                bucket.file_size_limit = _parse_size(body["file_size_limit"])
            if "allowed_mime_types" in body:
                bucket.allowed_mime_types = list(body["allowed_mime_types"] or []) or None
            bucket.updated_at = _now_iso()

    def _empty_bucket(self, role: str, bucket_id: str) -> None:
        self._get_bucket(role, bucket_id)
        with self._lock:
            for key in [k for k in self.objects if k[0] == bucket_id]:
                del self.objects[key]

    def _delete_bucket(self, role: str, bucket_id: str) -> None:
        self._get_bucket(role, bucket_id)
        with self._lock:
            if any(k[0] == bucket_id for k in self.objects):
                raise StorageError(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty")
            del self.buckets[bucket_id]

    def _can_upload(self, role: str, bucket_id: str, name: str, upsert: bool) -> Bucket:
        """The server's Uploader.canUpload: key, bucket, RLS, then "exists without upsert"."""
        if not is_valid_key(name):
            raise _invalid_key(name)
        with self._lock:
            bucket = self.buckets.get(bucket_id)
            if bucket is None:
                raise _no_such_bucket()
            if role != SERVICE_ROLE:
                raise _rls()
            if not upsert and (bucket_id, name) in self.objects:
                raise _key_exists()
            return bucket

    def _put(self, role: str, bucket_id: str, name: str, data: bytes, mime: str, cache_control: str,
             metadata: dict[str, Any] | None, upsert: bool) -> StoredObject:
        with self._lock:
            bucket = self._can_upload(role, bucket_id, name, upsert)
            if len(data) > self._limit_for(bucket):
                raise _too_large()
            if not _mime_allowed(mime, bucket.allowed_mime_types):
                raise _invalid_mime(mime)
            old = self.objects.get((bucket_id, name))
            obj = StoredObject(bucket_id, name, bytes(data), mime, cache_control, metadata)
            if old is not None:
                obj.id = old.id
                obj.created_at = old.created_at
            self.objects[(bucket_id, name)] = obj
            return obj

    def _read_object(self, role: str | None, bucket_id: str, name: str) -> StoredObject:
        """role None: the public route (public buckets only, no key)."""
        with self._lock:
            bucket = self.buckets.get(bucket_id)
            if bucket is None:
                raise _no_such_bucket()
            obj = self.objects.get((bucket_id, name))
        if role is None and not bucket.public:
            raise _no_such_bucket()
        if obj is None or (role != SERVICE_ROLE and not bucket.public):
            raise _no_such_key()
        return obj

    def _info(self, role: str | None, bucket_id: str, name: str) -> dict[str, Any]:
        return self._read_object(role, bucket_id, name).info()

    def _delete_one(self, role: str, bucket_id: str, name: str) -> None:
        with self._lock:
            if bucket_id not in self.buckets:
                raise _no_such_bucket()
            if role != SERVICE_ROLE or (bucket_id, name) not in self.objects:
                raise _no_such_key()
            del self.objects[(bucket_id, name)]

    def _remove(self, role: str, bucket_id: str, names: list[str]) -> list[dict[str, Any]]:
        removed = []
        if role != SERVICE_ROLE:
            return removed  # RLS: the rows are not visible, so nothing is deleted and nothing is said
        with self._lock:
            for name in names:
                obj = self.objects.pop((bucket_id, name), None)
                if obj is not None:
                    removed.append(obj.row())
        return removed

    def _list_objects(self, role: str, bucket_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        prefix = str(body.get("prefix") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        limit = int(body.get("limit") or 100)
        offset = int(body.get("offset") or 0)
        search = str(body.get("search") or "").lower()
        sort = body.get("sortBy") or {}
        column = sort.get("column") or "name"
        descending = (sort.get("order") or "asc").lower() == "desc"
        with self._lock:
            bucket = self.buckets.get(bucket_id)
            if bucket is None or (role != SERVICE_ROLE and not bucket.public):
                return []
            objs = [o for (b, _), o in self.objects.items() if b == bucket_id and o.name.startswith(prefix)]
        files: list[dict[str, Any]] = []
        folders: dict[str, dict[str, Any]] = {}
        for obj in objs:
            rest = obj.name[len(prefix):]
            if search and not rest.lower().startswith(search):
                continue
            if "/" in rest:
                folder = rest.split("/", 1)[0]
                folders.setdefault(folder, {"name": folder, "id": None, "updated_at": None, "created_at": None,
                                            "last_accessed_at": None, "metadata": None})
            else:
                files.append({"name": rest, "id": obj.id, "updated_at": obj.updated_at, "created_at": obj.created_at,
                              "last_accessed_at": obj.updated_at, "metadata": obj.server_metadata()})
        entries = list(folders.values()) + files
        entries.sort(key=lambda e: (e.get(column) is None, e.get(column) or "", e["name"]), reverse=descending)
        return entries[offset:offset + limit]

    def _sign(self, role: str, bucket_id: str, name: str, expires_in: Any) -> dict[str, Any]:
        obj = self._read_object(role, bucket_id, name)
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError) as exc:
            raise StorageError(400, "InvalidRequest", "body must have required property 'expiresIn'") from exc
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._signed[token] = (obj.bucket, obj.name, time.time() + seconds)
        return {"signedURL": f"/object/sign/{quote(bucket_id)}/{quote(name)}?token={token}"}

    def _sign_many(self, role: str, bucket_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for path in body.get("paths") or []:
            try:
                signed = self._sign(role, bucket_id, str(path), body.get("expiresIn"))["signedURL"]
                out.append({"error": None, "path": path, "signedURL": signed})
            except StorageError:
                out.append({"error": "Either the object does not exist or you do not have access to it",
                            "path": path, "signedURL": None})
        return out

    def _signed_object(self, bucket_id: str, name: str, token: str) -> StoredObject:
        if not token:
            raise StorageError(400, "InvalidRequest", "querystring must have required property 'token'", "Error")
        with self._lock:
            entry = self._signed.get(token)
        if entry is None or entry[:2] != (bucket_id, name):
            raise StorageError(400, "InvalidSignature", "Invalid signature")
        if entry[2] < time.time():
            raise StorageError(400, "ExpiredToken", "The provided token has expired.")
        return self._read_object(SERVICE_ROLE, bucket_id, name)

    def _move_or_copy(self, role: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        bucket_id = str(body.get("bucketId") or "")
        source = str(body.get("sourceKey") or "")
        dest = str(body.get("destinationKey") or "")
        dest_bucket = str(body.get("destinationBucket") or bucket_id)
        obj = self._read_object(role, bucket_id, source)
        copied = self._put(role, dest_bucket, dest, obj.data, obj.content_type, obj.cache_control, obj.metadata,
                           upsert=False)
        if action == "move":
            with self._lock:
                self.objects.pop((bucket_id, source), None)
            return {"message": "Successfully moved"}
        return {"Id": copied.id, "Key": f"{dest_bucket}/{dest}"}

    def _tus_create(self, role: str, length: int, meta: dict[str, str], raw_metadata: str,
                    upsert: bool) -> TusUpload:
        bucket_id = meta.get("bucketName", "")
        name = meta.get("objectName", "")
        if not is_valid_bucket_name(bucket_id):
            raise _invalid_bucket_name()
        if not is_valid_key(name):
            raise _invalid_key(name)
        with self._lock:
            bucket = self.buckets.get(bucket_id)
            if bucket is None:
                raise _no_such_bucket()
            if length > self._limit_for(bucket):
                raise _too_large()
            self._can_upload(role, bucket_id, name, upsert)
            content_type = meta.get("contentType") or "application/octet-stream"
            if not _mime_allowed(content_type, bucket.allowed_mime_types):
                raise _invalid_mime(content_type)
            cache = meta.get("cacheControl", "")
            cache_control = f"max-age={cache}" if re.fullmatch(r"-?\d+", cache) else "no-cache"
            user_md = _json_object(meta["metadata"]) if meta.get("metadata") else None
            raw_id = f"{bucket_id}/{name}/{uuid.uuid4()}".encode()
            upload_id = base64.urlsafe_b64encode(raw_id).rstrip(b"=").decode("ascii")
            upload = TusUpload(upload_id, bucket_id, name, length, content_type, cache_control, user_md, raw_metadata,
                               time.time() + self.upload_url_ttl)
            self.uploads[upload_id] = upload
            if length == 0:
                self._finish(upload, upsert)
            return upload

    def _chunk_problem(self, upload: TusUpload, offset: int, size: int) -> tuple[int, str, dict[str, str]] | None:
        if offset + size > upload.length:
            return 413, "upload's size exceeded\n", {}
        rule = self.tus_chunk_size
        if rule and (size > rule or (offset + size < upload.length and size != rule)):
            return 400, (f"Chunk size must be exactly {rule} bytes (6 MiB) except for the last chunk, "
                         f"got {size}\n"), {}
        return None

    def _tus_append(self, role: str, upload: TusUpload, data: bytes, upsert: bool) -> tuple[int, str, dict[str, str]]:
        with self._lock:
            if upload.finished:
                return 409, "Upload-Offset conflict\n", {}
            upload.data += data
            headers = {"Upload-Offset": str(upload.offset)}
            if upload.offset < upload.length:
                headers["Upload-Expires"] = _http_date(upload.expires)
                return 204, "", headers
            try:
                self._finish(upload, upsert)
            except StorageError as err:
                return err.status, err.message, {}
            headers["Tus-Complete"] = "1"
            return 204, "", headers

    def _finish(self, upload: TusUpload, upsert: bool) -> None:
        with self._lock:
            if not upsert and (upload.bucket, upload.name) in self.objects:
                raise _key_exists()
            old = self.objects.get((upload.bucket, upload.name))
            obj = StoredObject(upload.bucket, upload.name, bytes(upload.data), upload.content_type,
                               upload.cache_control, upload.metadata)
            if old is not None:
                obj.id = old.id
                obj.created_at = old.created_at
            self.objects[(upload.bucket, upload.name)] = obj
            upload.finished = True
