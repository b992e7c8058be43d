"""A stand-in for Zoom's OAuth server, REST API and recording downloads on loopback, for tests (stdlib only).

Zoom cannot be reached from these machines, so this is an HTTP server written from Zoom's public
documentation and from what client authors reported of the real service (API-NOTES.md, sections "Zoom
OAuth", "Zoom REST API", "Zoom recording downloads"). Two listeners on 127.0.0.1, free ports:

* the main one, ``url``: OAuth under ``/oauth/...`` (as on zoom.us), the API under ``/v2/...`` (as on
  api.zoom.us) and recording downloads under ``/rec/download/<token>`` (as on zoom.us);
* a "CDN" one, ``cdn_url``, where downloads are redirected to (as Zoom redirects to its storage host).

What each part follows:

* Authorization code + PKCE (developers.zoom.us blog "PKCE OAuth with Postman / REST API" and
  "Introducing support for public PKCE OAuth"; RFC 7636): ``GET /oauth/authorize`` with
  ``response_type=code``, ``client_id``, ``redirect_uri``, ``state``, ``code_challenge``,
  ``code_challenge_method`` (S256 or plain) answers 302 to ``redirect_uri?code=...&state=...`` as a
  browser would after the user consented. Loopback redirect URIs match whatever the port (Zoom changelog
  "PKCE loopback support", RFC 8252 section 7.3); the path must equal ``redirect_path``. A bad client_id,
  response_type or redirect URI gives a 400 HTML error page (Zoom shows an error page, not a redirect;
  4709 "Redirect URI mismatch." is from developers.zoom.us "OAuth error messages"). The code lives
  5 minutes and is single use (Zoom Apps docs "OAuth for Zoom Apps for Digital Signage"; Jericho/ZoomNet
  issue 36).
* ``POST /oauth/token`` (developers.zoom.us "OAuth 2.0" / "Server-to-Server OAuth"); parameters are read
  from the query string and the form body alike, as Zoom documents. Client authentication is either
  ``Authorization: Basic base64(client_id:client_secret)`` (confidential) or ``client_id`` in the body with
  no secret (public PKCE client, which then must present a ``code_verifier``). Error bodies are
  ``{"reason": ..., "error": ...}`` with HTTP 400: ``{"reason":"Invalid client_id or client_secret",
  "error":"invalid_client"}`` (zoom-laravel issue 3), ``{"reason":"Invalid Token!","error":"invalid_grant"}``
  for a used, revoked or unknown refresh token (raycast/extensions issue 10896, ha-zoom-automation PR 53).
  A bad, used or expired code or a wrong verifier is ``invalid_grant`` (API-NOTES; note that ZoomNet issue
  36 saw ``"error":"invalid_request"`` with ``"Invalid authorization code <code>"`` for a reused code in
  2020 - a client should treat both as "start the sign-in again"). Successful answers carry
  ``access_token``, ``token_type`` "bearer", ``refresh_token``, ``expires_in``, ``scope`` and ``api_url``;
  ``api_url`` is the API *host* without ``/v2`` exactly as Zoom sends ``"https://api.zoom.us"`` (client type
  definitions in public code: ``api_url: 'https://api.zoom.us'``), so here it equals ``url``.
* Refresh tokens rotate: a refresh returns a new refresh token, and the old one answers
  ``{"reason":"Invalid Token!","error":"invalid_grant"}`` (API-NOTES; Zoom plugin docs "Token lifecycle").
  The grant's earlier access tokens stop working too: a Zoom engineer on devforum thread 72070 ("If you
  generate a new token, the previous token will be invalidated. This behavior is similar to our regular
  OAuth tokens").
* ``grant_type=account_credentials&account_id=...`` with the Basic header (developers.zoom.us
  "Server-to-Server OAuth"): no refresh token; a new token for the same app invalidates the previous
  one (devforum threads 72070 and 74432; PSZoom issue 75, moodle-mod_zoom issue 473, ZoomNet issue 269).
  For such a token ``me`` is the account owner (the first user added).
* Device authorization (Zoom changelog, January 2023; RFC 8628): ``POST /oauth/devicecode`` (Basic) answers
  ``device_code``, ``user_code``, ``verification_uri``, ``verification_uri_complete``, ``expires_in``,
  ``interval``; polling ``/oauth/token`` with ``grant_type=urn:ietf:params:oauth:grant-type:device_code``
  answers 400 ``authorization_pending`` until ``approve_device()``, ``slow_down`` (and the interval grows
  by 5 s) when polled sooner than ``interval`` after the previous poll or the code's issue, ``expired_token``
  after ``expires_in``, ``access_denied`` after ``deny_device()``.
* ``POST /oauth/revoke`` with ``token=...`` (Zoom "Revoke an access token": Basic header, answer
  ``{"status":"success"}``); revoking uninstalls the app for that user, so every token of that user stops
  working (devforum thread 18432). An unknown or already revoked token also answers success (RFC 7009).
* API authentication (Zoom dev support FAQ on access tokens): ``Authorization: Bearer`` only; an
  ``?access_token=`` query on ``/v2`` is refused with 401 code 124. Expired: 401
  ``{"code":124,"message":"Access token is expired."}``; unknown, revoked or superseded: 401
  ``{"code":124,"message":"Invalid access token."}`` (devforum thread 74432).
* Missing scope: HTTP 400 ``{"code":4711,"message":"Invalid access token, does not contain
  scopes:[...]."}`` listing the scopes that would do (zoom-laravel issue 15:
  ``"does not contain scopes:[user:read:list_users:admin]."``; moodle-mod_zoom issue 474 lists several).
  Scope names are Zoom's granular ones: ``user:read:user``, ``user:read:list_users:admin``,
  ``cloud_recording:read:list_user_recordings``, ``cloud_recording:delete:meeting_recording``; the
  ``:admin`` variant of a scope always does too.
* ``GET /v2/users`` (PSZoom Get-ZoomUsers; developers.zoom.us "Pagination"): ``status`` active (default),
  inactive or pending, ``page_size`` default 30, at most 300, ``next_page_token`` (expires after
  15 minutes), the deprecated ``page_number`` too; answers ``page_count``, ``page_number``, ``page_size``,
  ``total_records``, ``next_page_token`` ("" on the last page) and ``users[]``.
* ``GET /v2/users/{userId|me|email}/recordings`` (Zoom OpenAPI "List all recordings" as generated into
  konfig-sdks/zoom-meeting-python-sdk: ``from``, ``to``, ``page_size`` <= 300, ``next_page_token``
  (15 minutes), ``mc``, ``trash``, ``trash_type``; response ``from``, ``to``, ``page_count``, ``page_size``,
  ``total_records``, ``next_page_token``, ``meetings[]`` with ``uuid``, ``id``, ``account_id``, ``host_id``,
  ``topic``, ``type``, ``start_time``, ``timezone``, ``duration``, ``total_size``, ``recording_count``,
  ``share_url``, ``recording_files[]``). The range quirk (zoom/api issue 36, graphaelli/zat issue 16): a
  range longer than one month is not refused, ``from`` is moved to the same day one month before ``to``
  (``to=2018-04-09`` gave ``from=2018-03-09``) and the response echoes the ``from`` used. A page_size over
  300 is not refused either (zoom/api issue 36): it is treated as 300.
* Recording files (same OpenAPI; a real listing in ZoomNet issue 99): ``id``, ``meeting_id`` (the meeting
  UUID), ``recording_start``, ``recording_end``, ``file_type``, ``file_extension``, ``file_size``,
  ``play_url``, ``download_url``, ``status``, ``recording_type``. A file still processing is listed with
  ``recording_end`` "", ``file_type`` "", ``file_extension`` "" and ``file_size`` 0, and the meeting's
  ``total_size`` and ``recording_count`` leave it out (ZoomNet issue 99). The OpenAPI says a ``CC`` or
  ``TIMELINE`` file "does not have the following properties: id, status, file_size, recording_type, and
  play_url" (uppy's Zoom provider: "timeline files don't have an ID", "timeline files don't have file size";
  uppy PR 2508 for CC) - so here they have none of those five.
* Scheduled deletion (Zoom OpenAPI "List all recordings", meeting fields): ``auto_delete`` (boolean: the
  account's retention policy deletes the recording automatically) and ``auto_delete_date`` (``yyyy-MM-dd``,
  present only when ``auto_delete`` is true); ``add_meeting(auto_delete_date=...)`` sets them.
* Trash listings (``trash=true``) ignore ``from``/``to``, list trashed meetings with ``deleted_time`` on
  each file and no ``download_url`` (API-NOTES).
* ``DELETE /v2/meetings/{meetingId|uuid}/recordings?action=trash|delete`` answers 204, or 404
  ``{"code":3301,"message":"There is no recording for this meeting."}``. A UUID that begins with ``/`` or
  contains ``//`` must be URL-encoded twice (Zoom API reference, meeting ID parameter). Modelled as a gateway
  that decodes the path once and collapses repeated slashes before routing ``{meetingId}`` greedily: encoded
  once, such a UUID arrives mangled and the answer is that 404, while a UUID with a single inner ``/`` works
  encoded once (as the documented rule implies); a double-encoded ID is decoded again. A numeric meeting ID
  means its latest occurrence only (API-NOTES).
* Rate limits (developers.zoom.us "Rate limits"; API-NOTES): 429 with ``Retry-After``,
  ``X-RateLimit-Category`` (the route's label: Light or Medium here), ``X-RateLimit-Type`` (``QPS`` or
  ``Daily-limit``), ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``; on a daily limit ``Retry-After``
  is an ISO timestamp (next midnight UTC unless given), body ``{"code":429,"message":...}`` (message text
  paraphrased from moodle-mod_zoom issue 246).
* Downloads (API-NOTES "Zoom recording downloads"; devforum thread 53338): ``download_url`` takes the Bearer
  header (or the documented ``?access_token=`` on the download URL) and answers 302 to the CDN listener; the
  CDN serves the bytes with ``Accept-Ranges: bytes``, single ``Range`` requests answer 206 with
  ``Content-Range`` (416 when unsatisfiable). Every ``Authorization`` header the CDN sees is appended to
  ``cdn_saw_authorization`` (requests drops it when the redirect changes host or port).

Deliberate choices of this fake (not documented facts):

* A clock of its own: ``now()`` is the real time plus ``advance(seconds)``; code, token, page-token and
  device-code lifetimes, and "today" for default dates, all use it, so tests need no sleeps.
* Default dates of a recordings listing: ``from`` = today (UTC) and ``to`` = ``from`` + 1 day when both are
  missing; ``to`` = today when only ``from`` is given; ``from`` = ``to`` when only ``to`` is given.
  Meetings are matched by the UTC date of ``start_time`` (inclusive at both ends) and listed newest first.
  ``from`` after ``to`` and malformed dates answer 400 code 300.
* A page token holds a snapshot of the matching items (their live state is shown); on later pages only
  ``page_size`` is read again, the other parameters are those of the first page. An unknown or expired
  token answers 400 ``{"code":300,"message":"The next page token is invalid or expired."}``.
* Tokens carry the app's ``scopes`` as they were when the token was issued. A user-level token reaches
  only its own user's data unless it holds the ``:admin`` variant of the scope; a Server-to-Server token
  reaches every user of the account.
* A code is used up by any token request that passes client authentication, even one refused for a wrong
  verifier or redirect URI. The ``scope`` parameter of ``/oauth/authorize`` is ignored (Zoom rejected it
  for some apps in 2021: devforum thread 52654 - better not to send it).
* A download of a file that is processing, trashed or deleted answers 404 with a small JSON body; an invalid
  or expired token on ``/rec/download`` answers 401 with the 59-byte ``{"status":false,"errorCode":124,
  "errorMessage":"Forbidden"}`` body (ZoomNet issue 348 saw 401s), whereas ``fail_next_download("json124")``
  sends that body with **200**, the way tools saved it as a recording (zoom-recording-downloader issue 35).
  Download URLs need no particular scope.
* ``fail_next_download`` kinds: ``"truncate"`` - a complete, well-formed answer with only the first half of
  the bytes asked for (Content-Length/Content-Range match the short body, so only the listing's
  ``file_size`` shows it; lanec/zoom-batch-downloader issue 18); ``"html"`` - 200 ``text/html`` sign-in
  page instead of the redirect; ``"json124"`` - see above; ``"drop"`` - the CDN sends the headers and
  about half the body, then cuts the connection; ``"outage"`` - the connection of that ``/rec/download``
  request is cut before any answer and the whole fake goes down (both ports refuse connections, as
  ``pause()``) until ``resume()``. The fault is taken by the next ``/rec/download`` request (html/json124/
  outage answer there; truncate/drop ride on the CDN URL that request redirects to, once).
* Tokens are JWT-shaped (header.payload.signature, base64url) and of real size, about 650 characters:
  a client that stores them must cope with that (Windows Credential Manager takes 2,560 bytes per entry).
* CC and TIMELINE files that are processing are not listed until they complete. Generated UUIDs, meeting
  IDs and file IDs come from a seeded RNG (``seed``), so they are the same on every run; like real ones
  (base64), some UUIDs may contain ``/`` or ``+``.
* ``revoke_app()`` kills every token, code and device code issued so far; later sign-ins and S2S tokens
  work again (the user installed the app anew). Everything is kept in memory.

Test hooks: ``pause()`` / ``resume()`` (down and back on the same ports, state kept), ``running``,
``on_users_listed`` (called with the status after each ``/v2/users`` page, e.g. to deactivate a user between
the active and the inactive listing), ``now()``, ``advance(seconds)``, ``tokens_issued`` (access tokens
issued), ``token_requests`` (POSTs to /oauth/token), ``list_requests`` (recordings-list requests that
arrived, whatever their answer),
``valid_refresh_tokens``, ``trashed``, ``deleted``, ``cdn_saw_authorization``, ``cdn_requests`` (dicts: method,
path, range, authorization), ``request_log`` (``RequestRecord``: listener, method, path, status), ``meeting(uuid)``,
``set_user_status()``, ``approve_device()`` / ``deny_device()``; settable: ``scopes``, ``redirect_path``,
``authorize_as`` (email of the user who signs in; default the owner), ``device_interval``. Helpers for tests:
``pkce_challenge()``, ``zoom_double_encode()``, ``month_before()``, ``JSON124_BODY``. Threads are named
``fake-zoom-...``.

For fleets and benchmarks (many machines sharing one account): ``download_counts`` (a Counter of CDN GETs per
file id: how many times each file's body was asked for, ranges included), ``files_by_id()`` (file id ->
(meeting uuid, file type, bytes)), ``throttle_per_connection`` (bytes per second each CDN connection is sent
at, as Zoom's per-connection download speed; 0 = no limit), and ``add_users_with_recordings()``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import collections
import hashlib
import html
import json
import random
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from .http_server import FakeHandler, FakeHTTPServer

UTC = timezone.utc

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CODE_TTL = 300.0  # seconds an authorization code lives
PAGE_TOKEN_TTL = 15 * 60.0
DEVICE_CODE_TTL = 900
DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 300
JSON124_BODY = b'{"status":false,"errorCode":124,"errorMessage":"Forbidden"}'  # 59 bytes

SCOPE_USER = "user:read:user"
SCOPE_LIST_USERS = "user:read:list_users:admin"
SCOPE_LIST_RECORDINGS = "cloud_recording:read:list_user_recordings"
SCOPE_DELETE_RECORDINGS = "cloud_recording:delete:meeting_recording"
DEFAULT_SCOPES = frozenset({SCOPE_USER, SCOPE_LIST_USERS, SCOPE_LIST_RECORDINGS, SCOPE_DELETE_RECORDINGS})

FILE_TYPES = {
    # file_type: (file_extension, default recording_type, content type served)
    "MP4": ("MP4", "shared_screen_with_speaker_view", "video/mp4"),
    "M4A": ("M4A", "audio_only", "audio/mp4"),
    "CHAT": ("TXT", "chat_file", "text/plain"),
    "TRANSCRIPT": ("VTT", "audio_transcript", "text/vtt"),
    "CC": ("VTT", "closed_caption", "text/vtt"),
    "TIMELINE": ("JSON", "timeline", "application/json"),
    "CSV": ("CSV", "poll", "text/csv"),
    "SUMMARY": ("JSON", "summary", "application/json"),
}
NO_ID_TYPES = frozenset({"CC", "TIMELINE"})  # no id, status, file_size, recording_type, play_url

DOWNLOAD_FAULTS = ("truncate", "html", "json124", "drop", "outage")

SIGN_IN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign In - Zoom</title></head><body>"
    b"<h1>Sign In</h1><form action=\"/signin\" method=\"post\"><input name=\"email\"></form></body></html>"
)


# ------------------------------------------------------------------------------------------------- helpers

def _fleet_bytes(seed: str, size: int) -> bytes:
    block = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return block[:size]


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_before(d: date) -> date:
    """The same day one calendar month earlier, clipped to the end of that month (2024-03-31 -> 2024-02-29)."""
    year, month = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def pkce_challenge(verifier: str) -> str:
    """The S256 code_challenge for a code_verifier (RFC 7636 section 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def zoom_double_encode(meeting_uuid: str) -> str:
    """A meeting UUID encoded twice, as Zoom requires for UUIDs that begin with '/' or contain '//'."""
    return quote(quote(meeting_uuid, safe=""), safe="")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end inclusive) for a single byte range; None to serve everything; "bad" if unsatisfiable."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multiple ranges or garbage: ignored, the whole file is served (RFC 9110 allows it)
    if m.group(1):
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            return "bad"
        return start, min(end, size - 1)
    suffix = int(m.group(2))
    if suffix == 0 or size == 0:
        return "bad"
    return max(0, size - suffix), size - 1


# ------------------------------------------------------------------------------------------------- state

@dataclass
class _User:
    id: str
    email: str
    first_name: str
    last_name: str
    status: str
    created_at: datetime
    type: int = 2
    pmi: int = 0


@dataclass
class _File:
    id: str
    file_type: str
    data: bytes
    status: str
    recording_type: str
    recording_start: datetime
    recording_end: datetime
    extension: str
    token: str  # of download_url / play_url


@dataclass
class _Meeting:
    uuid: str
    id: int
    host_id: str
    topic: str
    start_time: datetime
    timezone: str
    duration: int
    files: list[_File]
    trashed: bool = False
    deleted_time: datetime | None = None
    deleted: bool = False
    auto_delete_date: date | None = None  # the account's retention policy deletes it on this day


@dataclass
class _Grant:
    kind: str  # "user" (authorization code / device) or "s2s"
    user_id: str
    client_id: str
    scopes: frozenset[str]
    alive: bool = True


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: float
    revoked: bool = False
    force_expired: bool = False


@dataclass
class _RefreshToken:
    grant: _Grant
    valid: bool = True


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    user_id: str
    expires_at: float
    used: bool = False


@dataclass
class _Device:
    device_code: str
    user_code: str
    client_id: str
    expires_at: float
    interval: int
    last_poll: float
    state: str = "pending"  # pending / approved / denied / used / revoked
    user_id: str | None = None


@dataclass
class _Cursor:
    key: tuple[Any, ...]
    items: list[Any]
    offset: int
    issued_at: float
    echo: dict[str, Any] = field(default_factory=dict)


@dataclass
class _CdnGrant:
    file: _File
    fault: str | None
    expires_at: float


@dataclass
class _RateLimit:
    remaining: int
    retry_after: str | None
    type_: str


@dataclass
class RequestRecord:
    listener: str  # "main" or "cdn"
    method: str
    path: str
    status: int = 0


class _Reply(Exception):
    """Raised inside a handler to answer at once."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None,
                 content_type: str = "application/json;charset=UTF-8") -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type


def _api_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, {"code": code, "message": message}, headers)


def _oauth_error(error: str, reason: str, status: int = 400) -> _Reply:
    return _Reply(status, {"reason": reason, "error": error})


# ------------------------------------------------------------------------------------------------- servers

class _Server(FakeHTTPServer):
    def __init__(self, fake: FakeZoom, role: str, port: int = 0) -> None:
        self.fake = fake
        self.role = role
        super().__init__(port, _Handler, f"fake-zoom-{role}")


class _Handler(FakeHandler):
    server_version = "FakeZoom/1.0"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _dispatch(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        self.raw_path = split.path
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.record = RequestRecord(self.server.role, self.command, self.path)
        with fake._lock:
            fake.request_log.append(self.record)
        body = self._read_body()
        try:
            if self.server.role == "cdn":
                fake._cdn(self)
            else:
                fake._main(self, body)
        except _Reply as reply:
            self.send(reply.status, reply.body, reply.headers, reply.content_type)
        except OSError:
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status: int, body: Any, headers: dict[str, str] | None = None,
             content_type: str = "application/json;charset=UTF-8", length: int | None = None) -> None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        self.record.status = status
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    def cut(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ------------------------------------------------------------------------------------------------- the fake

class FakeZoom:
    """Zoom's OAuth server, REST API and download CDN, on two loopback ports. See the module docstring."""

    def __init__(self, *, client_id: str = "fake-client-id", client_secret: str = "fake-client-secret",
                 account_id: str = "fake-account", access_token_ttl: int = 3599, seed: int = 0) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.account_id = account_id
        self.access_token_ttl = access_token_ttl
        self.redirect_path = "/oauth/callback"
        self.scopes: set[str] = set(DEFAULT_SCOPES)
        self.authorize_as: str | None = None  # email of the user who "signs in" at /oauth/authorize
        self.device_interval = 5
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._offset = 0.0
        # data
        self._users: dict[str, _User] = {}
        self._meetings: dict[str, _Meeting] = {}
        self._files_by_token: dict[str, tuple[_Meeting, _File]] = {}
        # oauth
        self._codes: dict[str, _AuthCode] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._devices: dict[str, _Device] = {}
        self._s2s_current: str | None = None
        self._deny_authorize = 0
        # api
        self._cursors: dict[str, _Cursor] = {}
        self._rate_limits: list[_RateLimit] = []
        self._download_faults: list[str] = []
        self._cdn_grants: dict[str, _CdnGrant] = {}
        # observable
        self.tokens_issued = 0
        self.token_requests = 0
        self.list_requests = 0
        self.trashed: set[str] = set()
        self.deleted: set[str] = set()
        self.cdn_saw_authorization: list[str] = []
        self.cdn_requests: list[dict[str, Any]] = []
        self.request_log: list[RequestRecord] = []
        self.on_users_listed: Any = None  # called with the status after a /v2/users page was answered
        self.download_counts: collections.Counter[str] = collections.Counter()  # CDN GETs per file id
        self.throttle_per_connection = 0.0  # bytes/s for each CDN connection; 0 = as fast as loopback goes
        # a truncate/drop fault is taken only by a download of this file type (None: by any): which file is
        # cut stays the same when a client downloads several files at once
        self.faults_only_for: str | None = None
        # servers
        self._servers: dict[str, _Server] = {}
        self._ports: dict[str, int] = {}
        self._outage_thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeZoom:
        """Listen (on the same ports again after stop() or pause(), with the same state)."""
        self._join_outage()
        if self._servers:
            return self
        for role in ("main", "cdn"):
            server = _Server(self, role, self._ports.get(role, 0))
            self._servers[role] = server
            self._ports[role] = server.port
            server.start()
        return self

    def stop(self) -> None:
        """Close both ports and cut every open connection; the state is kept."""
        self._join_outage()
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()

    def _join_outage(self) -> None:
        outage = self._outage_thread
        if outage is not None and outage is not threading.current_thread():
            outage.join(timeout=30)

    def pause(self) -> None:
        """Zoom "goes away": connections are refused and open ones cut, until resume()."""
        self.stop()

    def resume(self) -> None:
        """Back on the same ports, with the same users, meetings and tokens."""
        self.start()

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def __enter__(self) -> FakeZoom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _port(self, role: str) -> int:
        if role not in self._ports:
            raise RuntimeError("the fake has not been started")
        return self._ports[role]

    @property
    def url(self) -> str:
        """OAuth base (``{url}/oauth/...``); the API is at ``url + "/v2"``; also the token's ``api_url``."""
        return f"http://127.0.0.1:{self._port('main')}"

    @property
    def api_base(self) -> str:
        return self.url + "/v2"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._port('cdn')}"

    # ------------------------------------------------------------------------------------ clock

    def _clock(self) -> float:
        return time.time() + self._offset

    def now(self) -> datetime:
        """The fake's current time (real time plus everything passed to ``advance``), aware UTC."""
        return datetime.fromtimestamp(self._clock(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: codes, tokens, page tokens and device codes age by that much."""
        with self._lock:
            self._offset += seconds

    # ------------------------------------------------------------------------------------ data

    def _new_id(self, n: int = 22) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def _new_uuid(self) -> str:
        return base64.b64encode(self._rng.randbytes(16)).decode()

    def _new_file_id(self) -> str:
        h = self._rng.randbytes(16).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def add_user(self, email: str, *, user_id: str | None = None, status: str = "active",
                 first_name: str | None = None, last_name: str | None = None) -> str:
        """Add a user of the account; the first one added is the account owner. Returns the user id."""
        if status not in ("active", "inactive", "pending"):
            raise ValueError(f"status must be active, inactive or pending, not {status!r}")
        with self._lock:
            if self._user_by_email(email) is not None:
                raise ValueError(f"a user with email {email} exists")
            uid = user_id or self._new_id()
            local = email.split("@", 1)[0]
            first, _, last = local.replace("_", ".").partition(".")
            self._users[uid] = _User(
                id=uid, email=email, first_name=first_name if first_name is not None else first.capitalize(),
                last_name=last_name if last_name is not None else last.capitalize(), status=status,
                created_at=self.now() - timedelta(days=365), pmi=self._rng.randrange(10**9, 10**10))
            return uid

    def set_user_status(self, email_or_id: str, status: str) -> None:
        with self._lock:
            user = self._find_user(email_or_id)
            if user is None:
                raise KeyError(email_or_id)
            user.status = status

    def _user_by_email(self, email: str) -> _User | None:
        for user in self._users.values():
            if user.email.lower() == email.lower():
                return user
        return None

    def _find_user(self, key: str) -> _User | None:
        return self._users.get(key) or (self._user_by_email(key) if "@" in key else None)

    def _owner(self) -> _User:
        with self._lock:
            if not self._users:
                self.add_user("owner@example.com")
            return next(iter(self._users.values()))

    def add_meeting(self, user_email: str, *, topic: str, start_time: datetime, timezone: str = "Europe/Madrid",
                    uuid: str | None = None, meeting_id: int | None = None, files: list[dict] | None = None,
                    trashed: bool = False, duration: int = 60, auto_delete_date: date | None = None) -> dict:
        """Add a cloud-recorded meeting of ``user_email``; returns it as a listing shows it.

        ``files``: dicts with ``file_type`` (MP4, M4A, CHAT, TRANSCRIPT, CC, TIMELINE, CSV, SUMMARY), ``data``
        (bytes), optional ``status`` ("completed"/"processing"), ``recording_type``, ``recording_start`` and
        ``recording_end`` (aware datetimes; default the meeting's start and start + duration).
        ``auto_delete_date``: the day the account's retention policy deletes the recording (listed as
        ``auto_delete: true`` and ``auto_delete_date: "yyyy-MM-dd"``); None lists ``auto_delete: false``.
        """
        if start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        with self._lock:
            user = self._user_by_email(user_email)
            if user is None:
                raise KeyError(f"no user {user_email}; add_user first")
            m_uuid = uuid or self._new_uuid()
            if m_uuid in self._meetings:
                raise ValueError(f"meeting {m_uuid} exists")
            meeting = _Meeting(uuid=m_uuid, id=meeting_id or self._rng.randrange(10**10, 10**11),
                               host_id=user.id, topic=topic, start_time=start_time.astimezone(UTC),
                               timezone=timezone, duration=duration, files=[], auto_delete_date=auto_delete_date)
            for spec in files or []:
                meeting.files.append(self._make_file(meeting, spec))
            self._meetings[m_uuid] = meeting
            if trashed:
                meeting.trashed = True
                meeting.deleted_time = self.now()
            return self._render_meeting(meeting, trash=trashed)

    def _make_file(self, meeting: _Meeting, spec: dict) -> _File:
        file_type = spec["file_type"]
        if file_type not in FILE_TYPES:
            raise ValueError(f"unknown file_type {file_type!r}")
        ext, rec_type, _ = FILE_TYPES[file_type]
        status = spec.get("status", "completed")
        if status not in ("completed", "processing"):
            raise ValueError(f"status must be completed or processing, not {status!r}")
        start = spec.get("recording_start", meeting.start_time)
        end = spec.get("recording_end", start + timedelta(minutes=meeting.duration))
        token = self._new_id(64) + "." + self._new_id(16)
        f = _File(id=self._new_file_id(), file_type=file_type, data=bytes(spec.get("data", b"")), status=status,
                  recording_type=spec.get("recording_type", rec_type), recording_start=start.astimezone(UTC),
                  recording_end=end.astimezone(UTC), extension=spec.get("file_extension", ext), token=token)
        self._files_by_token[token] = (meeting, f)
        return f

    def finish_processing(self, meeting_uuid: str) -> dict:
        """Every processing file of the meeting becomes completed (with its data); returns the meeting."""
        with self._lock:
            meeting = self._meetings[meeting_uuid]
            for f in meeting.files:
                f.status = "completed"
            return self._render_meeting(meeting, trash=meeting.trashed)

    def meeting(self, meeting_uuid: str) -> dict:
        """A meeting as a listing would show it now."""
        with self._lock:
            meeting = self._meetings[meeting_uuid]
            return self._render_meeting(meeting, trash=meeting.trashed)

    def _render_file(self, meeting: _Meeting, f: _File, *, trash: bool) -> dict:
        out: dict[str, Any] = {}
        no_id = f.file_type in NO_ID_TYPES
        processing = f.status == "processing"
        if not no_id:
            out["id"] = f.id
        out["meeting_id"] = meeting.uuid
        out["recording_start"] = _iso(f.recording_start)
        out["recording_end"] = "" if processing else _iso(f.recording_end)
        out["file_type"] = "" if processing else f.file_type
        out["file_extension"] = "" if processing else f.extension
        if not no_id:
            out["file_size"] = 0 if processing else len(f.data)
            out["play_url"] = f"{self.url}/rec/play/{f.token}"
        if not trash:
            out["download_url"] = f"{self.url}/rec/download/{f.token}"
        if not no_id:
            out["status"] = f.status
        if trash and meeting.deleted_time is not None:
            out["deleted_time"] = _iso(meeting.deleted_time)
        if not no_id:
            out["recording_type"] = f.recording_type
        return out

    def _render_meeting(self, meeting: _Meeting, *, trash: bool) -> dict:
        listed = [f for f in meeting.files if not (f.file_type in NO_ID_TYPES and f.status == "processing")]
        done = [f for f in listed if f.status == "completed"]
        return {
            "uuid": meeting.uuid,
            "id": meeting.id,
            "account_id": self.account_id,
            "host_id": meeting.host_id,
            "topic": meeting.topic,
            "type": 2,
            "start_time": _iso(meeting.start_time),
            "timezone": meeting.timezone,
            "duration": meeting.duration,
            "total_size": sum(len(f.data) for f in done),
            "recording_count": len(done),
            "share_url": f"{self.url}/rec/share/{self._share_id(meeting)}",
            "recording_files": [self._render_file(meeting, f, trash=trash) for f in listed],
            **self._render_auto_delete(meeting),
        }

    @staticmethod
    def _render_auto_delete(meeting: _Meeting) -> dict[str, Any]:
        """`auto_delete` / `auto_delete_date` of a listed meeting (a retention policy's scheduled deletion)."""
        if meeting.auto_delete_date is None:
            return {"auto_delete": False}
        return {"auto_delete": True, "auto_delete_date": meeting.auto_delete_date.isoformat()}

    @staticmethod
    def _share_id(meeting: _Meeting) -> str:
        return hashlib.sha256(meeting.uuid.encode()).hexdigest()[:40]

    # ------------------------------------------------------------------------------------ switches

    def rate_limit_next(self, n: int = 1, retry_after: str | None = None, type_: str = "QPS") -> None:
        """The next ``n`` API (``/v2``) requests answer 429. ``retry_after`` defaults to "1" for QPS and to
        the next midnight UTC (ISO, e.g. ``2020-05-31T00:00:00Z``) for ``type_="Daily-limit"``."""
        if type_ not in ("QPS", "Daily-limit"):
            raise ValueError("type_ must be 'QPS' or 'Daily-limit'")
        with self._lock:
            self._rate_limits.append(_RateLimit(n, retry_after, type_))

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 401 code 124 "Access token is expired."."""
        with self._lock:
            for tok in self._access.values():
                tok.force_expired = True

    def fail_next_download(self, kind: str = "truncate", n: int = 1) -> None:
        """The next ``n`` requests to ``/rec/download/...`` fail: truncate / html / json124 / drop."""
        if kind not in DOWNLOAD_FAULTS:
            raise ValueError(f"kind must be one of {DOWNLOAD_FAULTS}")
        with self._lock:
            self._download_faults.extend([kind] * n)

    def revoke_app(self) -> None:
        """The app is uninstalled: every token, code and device code issued so far stops working."""
        with self._lock:
            for tok in self._access.values():
                tok.revoked = True
                tok.grant.alive = False
            for ref in self._refresh.values():
                ref.valid = False
            for code in self._codes.values():
                code.used = True
            for dev in self._devices.values():
                dev.state = "revoked"
            self._s2s_current = None

    def deny_next_authorize(self) -> None:
        """The next ``/oauth/authorize`` redirects back with ``error=access_denied`` (the user said no)."""
        with self._lock:
            self._deny_authorize += 1

    def approve_device(self, user_code: str | None = None, *, email: str | None = None) -> None:
        """The user enters ``user_code`` (default: the latest pending one) and approves, as ``email``."""
        self._settle_device(user_code, "approved", email)

    def deny_device(self, user_code: str | None = None) -> None:
        self._settle_device(user_code, "denied", None)

    def _settle_device(self, user_code: str | None, state: str, email: str | None) -> None:
        with self._lock:
            pending = [d for d in self._devices.values() if d.state == "pending"]
            if user_code is not None:
                pending = [d for d in pending if d.user_code == user_code]
            if not pending:
                raise LookupError("no pending device authorization")
            dev = pending[-1]
            dev.state = state
            dev.user_id = self._signing_in_user(email).id

    def _signing_in_user(self, email: str | None = None) -> _User:
        email = email or self.authorize_as
        if email is None:
            return self._owner()
        user = self._user_by_email(email)
        if user is None:
            raise KeyError(f"no user {email}")
        return user

    @property
    def valid_refresh_tokens(self) -> set[str]:
        with self._lock:
            return {t for t, r in self._refresh.items() if r.valid}

    # ------------------------------------------------------------------------------------ routing

    def _main(self, h: _Handler, body: bytes) -> None:
        path, method = h.raw_path, h.command
        if path.startswith("/v2/") or path == "/v2":
            self._api(h, path[3:])
        elif path == "/oauth/authorize" and method in ("GET", "HEAD"):
            self._authorize(h)
        elif path == "/oauth/token" and method == "POST":
            self._token(h, body)
        elif path == "/oauth/revoke" and method == "POST":
            self._revoke(h, body)
        elif path == "/oauth/devicecode" and method == "POST":
            self._devicecode(h, body)
        elif path.startswith("/rec/download/") and method in ("GET", "HEAD"):
            self._download(h, unquote(path[len("/rec/download/"):]))
        elif path.startswith("/rec/play/") and method in ("GET", "HEAD"):
            raise _Reply(200, b"<!DOCTYPE html><html><body>player</body></html>",
                         content_type="text/html;charset=utf-8")
        else:
            raise _Reply(404, b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>",
                         content_type="text/html;charset=utf-8")

    # ------------------------------------------------------------------------------------ oauth

    @staticmethod
    def _error_page(message: str, code: int | None = None) -> _Reply:
        text = html.escape(message)
        extra = f"<p>Error code: {code}</p>" if code else ""
        page = (f"<!DOCTYPE html><html><head><title>Error - Zoom</title></head>"
                f"<body><h1>{text}</h1>{extra}</body></html>")
        return _Reply(400, page.encode(), content_type="text/html;charset=utf-8")

    def _redirect_uri_ok(self, uri: str) -> bool:
        parts = urlsplit(uri)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
            return False
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            return False
        return parts.path == self.redirect_path and not parts.fragment

    def _authorize(self, h: _Handler) -> None:
        q = {k: v[-1] for k, v in h.query.items()}
        with self._lock:
            if q.get("client_id") != self.client_id:
                raise self._error_page("Invalid client_id: " + q.get("client_id", ""))
            if q.get("response_type") != "code":
                raise self._error_page("Invalid response_type: " + q.get("response_type", ""))
            redirect_uri = q.get("redirect_uri", "")
            if not self._redirect_uri_ok(redirect_uri):
                raise self._error_page(f"Invalid redirect_uri: {redirect_uri!r} (Redirect URI mismatch.)", 4709)
            method = q.get("code_challenge_method", "plain" if q.get("code_challenge") else "")
            challenge = q.get("code_challenge") or None
            if challenge is not None and method not in ("S256", "plain"):
                raise self._error_page("Invalid code_challenge_method: " + method)
            params: dict[str, str] = {}
            if self._deny_authorize:
                self._deny_authorize -= 1
                params["error"] = "access_denied"
            else:
                try:
                    user = self._signing_in_user()
                except KeyError as exc:
                    raise self._error_page(f"No such user to sign in as: {self.authorize_as}") from exc
                code = self._new_id(32)
                self._codes[code] = _AuthCode(self.client_id, redirect_uri, challenge, method, user.id,
                                              self._clock() + CODE_TTL)
                params["code"] = code
            if "state" in q:
                params["state"] = q["state"]
        sep = "&" if urlsplit(redirect_uri).query else "?"
        raise _Reply(302, b"", {"Location": redirect_uri + sep + urlencode(params)}, "text/html;charset=utf-8")

    def _form(self, h: _Handler, body: bytes) -> dict[str, str]:
        params = {k: v[-1] for k, v in h.query.items()}
        ctype = h.headers.get("Content-Type", "")
        if body and "json" not in ctype:
            params.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                                         keep_blank_values=True).items()})
        return params

    def _client_auth(self, h: _Handler, params: dict[str, str], *, basic_required: bool) -> str:
        """'confidential' (Basic checked) or 'public' (client_id in the body); raises invalid_client."""
        auth = h.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                cid, _, secret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise _oauth_error("invalid_client", "Invalid client_id or client_secret") from exc
            if cid != self.client_id or secret != self.client_secret:
                raise _oauth_error("invalid_client", "Invalid client_id or client_secret")
            return "confidential"
        if basic_required:
            raise _oauth_error("invalid_client", "Client ID or client secret is missing.")
        if not params.get("client_id"):
            raise _oauth_error("invalid_client", "Client ID or client secret is missing.")
        if params["client_id"] != self.client_id:
            raise _oauth_error("invalid_client", "Invalid client_id or client_secret")
        return "public"

    def _jwt(self, grant: _Grant, kind: str) -> str:
        """A JWT-shaped token of real size (~650 characters, like Zoom's): header.payload.signature."""

        def b64(data: dict[str, Any] | bytes) -> str:
            raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

        now = int(self._clock())
        payload = {"ver": 9, "auid": secrets.token_hex(32), "code": secrets.token_urlsafe(24), "iss": "zm:cid:"
                   + grant.client_id, "gno": 0, "type": kind, "tid": 0, "aud": "https://oauth.zoom.us",
                   "uid": grant.user_id, "nbf": now, "exp": now + self.access_token_ttl, "iat": now,
                   "aid": self.account_id, "jti": secrets.token_hex(16), "tid2": secrets.token_urlsafe(12)}
        return f"{b64({'alg': 'HS512', 'v': '2.0', 'kid': secrets.token_hex(18)})}.{b64(payload)}." \
               f"{b64(secrets.token_bytes(64))}"

    def _issue(self, grant: _Grant, *, with_refresh: bool) -> dict[str, Any]:
        access = self._jwt(grant, "0")
        self._access[access] = _AccessToken(grant, self._clock() + self.access_token_ttl)
        self.tokens_issued += 1
        out: dict[str, Any] = {"access_token": access, "token_type": "bearer"}
        if with_refresh:
            refresh = self._jwt(grant, "1")
            self._refresh[refresh] = _RefreshToken(grant)
            out["refresh_token"] = refresh
        out.update(expires_in=self.access_token_ttl, scope=" ".join(sorted(grant.scopes)), api_url=self.url)
        return out

    def _token(self, h: _Handler, body: bytes) -> None:
        params = self._form(h, body)
        with self._lock:
            self.token_requests += 1
            grant_type = params.get("grant_type", "")
            if not grant_type:
                raise _oauth_error("invalid_request", "Missing grant type.")
            if grant_type == "authorization_code":
                result = self._grant_code(h, params)
            elif grant_type == "refresh_token":
                result = self._grant_refresh(h, params)
            elif grant_type == "account_credentials":
                result = self._grant_s2s(h, params)
            elif grant_type == DEVICE_GRANT:
                result = self._grant_device(h, params)
            else:
                raise _oauth_error("unsupported_grant_type", "Unsupported grant type")
        raise _Reply(200, result)

    def _grant_code(self, h: _Handler, params: dict[str, str]) -> dict[str, Any]:
        mode = self._client_auth(h, params, basic_required=False)
        code_value = params.get("code", "")
        code = self._codes.get(code_value)
        if code is None or code.used or code.expires_at < self._clock():
            raise _oauth_error("invalid_grant", f"Invalid authorization code {code_value}")
        code.used = True
        if params.get("redirect_uri") != code.redirect_uri:
            raise _oauth_error("invalid_grant", "Redirect URI mismatch.")
        verifier = params.get("code_verifier")
        if code.challenge is None:
            if mode == "public":
                raise _oauth_error("invalid_client", "Invalid client_id or client_secret")
        else:
            if not verifier:
                raise _oauth_error("invalid_request", "Missing code_verifier")
            expected = pkce_challenge(verifier) if code.method == "S256" else verifier
            if not secrets.compare_digest(expected, code.challenge):
                raise _oauth_error("invalid_grant", "Invalid code_verifier")
        grant = _Grant("user", code.user_id, code.client_id, frozenset(self.scopes))
        return self._issue(grant, with_refresh=True)

    def _grant_refresh(self, h: _Handler, params: dict[str, str]) -> dict[str, Any]:
        self._client_auth(h, params, basic_required=False)
        ref = self._refresh.get(params.get("refresh_token", ""))
        if ref is None or not ref.valid or not ref.grant.alive:
            raise _oauth_error("invalid_grant", "Invalid Token!")
        ref.valid = False
        old = ref.grant
        for tok in self._access.values():
            if tok.grant is old:
                tok.revoked = True
        old.alive = False
        grant = _Grant(old.kind, old.user_id, old.client_id, frozenset(self.scopes))
        return self._issue(grant, with_refresh=True)

    def _grant_s2s(self, h: _Handler, params: dict[str, str]) -> dict[str, Any]:
        self._client_auth(h, params, basic_required=True)
        if params.get("account_id") != self.account_id:
            raise _oauth_error("invalid_request", "Invalid account_id")
        if self._s2s_current is not None and self._s2s_current in self._access:
            self._access[self._s2s_current].revoked = True
        grant = _Grant("s2s", self._owner().id, self.client_id, frozenset(self.scopes))
        result = self._issue(grant, with_refresh=False)
        self._s2s_current = result["access_token"]
        return result

    def _devicecode(self, h: _Handler, body: bytes) -> None:
        params = self._form(h, body)
        with self._lock:
            self._client_auth(h, params, basic_required=True)
            device_code = self._new_id(40)
            user_code = "".join(self._rng.choice("BCDFGHJKLMNPQRSTVWXZ23456789") for _ in range(8))
            now = self._clock()
            self._devices[device_code] = _Device(device_code, user_code, self.client_id, now + DEVICE_CODE_TTL,
                                                 self.device_interval, now)
            verification = f"{self.url}/oauth_device"
            raise _Reply(200, {"device_code": device_code, "user_code": user_code,
                               "verification_uri": verification,
                               "verification_uri_complete": f"{verification}?user_code={user_code}",
                               "expires_in": DEVICE_CODE_TTL, "interval": self.device_interval})

    def _grant_device(self, h: _Handler, params: dict[str, str]) -> dict[str, Any]:
        self._client_auth(h, params, basic_required=True)
        dev = self._devices.get(params.get("device_code", ""))
        if dev is None or dev.state in ("used", "revoked"):
            raise _oauth_error("invalid_grant", "Invalid device code")
        now = self._clock()
        if now > dev.expires_at:
            raise _oauth_error("expired_token", "The device code has expired")
        if dev.state == "denied":
            raise _oauth_error("access_denied", "The user denied the request")
        too_soon = now - dev.last_poll < dev.interval
        dev.last_poll = now
        if too_soon:
            dev.interval += 5
            raise _oauth_error("slow_down", f"Polling too fast; wait {dev.interval} seconds")
        if dev.state == "pending":
            raise _oauth_error("authorization_pending", "The user has not yet authorized the device")
        dev.state = "used"
        assert dev.user_id is not None
        return self._issue(_Grant("user", dev.user_id, dev.client_id, frozenset(self.scopes)), with_refresh=True)

    def _revoke(self, h: _Handler, body: bytes) -> None:
        params = self._form(h, body)
        with self._lock:
            self._client_auth(h, params, basic_required=False)
            token = params.get("token", "")
            grant = None
            if token in self._access:
                grant = self._access[token].grant
            elif token in self._refresh:
                grant = self._refresh[token].grant
            if grant is not None:
                if grant.kind == "s2s":
                    self._access[token].revoked = True
                else:
                    for tok in self._access.values():
                        if tok.grant.kind == "user" and tok.grant.user_id == grant.user_id:
                            tok.revoked = True
                            tok.grant.alive = False
                    for ref in self._refresh.values():
                        if ref.grant.user_id == grant.user_id:
                            ref.valid = False
        raise _Reply(200, {"status": "success"})

    # ------------------------------------------------------------------------------------ api

    def _bearer(self, h: _Handler) -> _AccessToken:
        """The valid access token of the request, or a 401 code 124."""
        if "access_token" in h.query:
            raise _api_error(401, 124, "Invalid access token.")
        auth = h.headers.get("Authorization", "")
        if auth[:7].lower() != "bearer ":
            raise _api_error(401, 124, "Invalid access token.")
        tok = self._access.get(auth[7:].strip())
        if tok is None or tok.revoked or not tok.grant.alive:
            raise _api_error(401, 124, "Invalid access token.")
        if tok.force_expired or tok.expires_at < self._clock():
            raise _api_error(401, 124, "Access token is expired.")
        return tok

    @staticmethod
    def _need_scope(tok: _AccessToken, scope: str, *, admin_only: bool = False) -> None:
        base = scope[: -len(":admin")] if scope.endswith(":admin") else scope
        accepted = [base + ":admin"] if admin_only or scope.endswith(":admin") else [base, base + ":admin"]
        if not any(s in tok.grant.scopes for s in accepted):
            raise _api_error(400, 4711, f"Invalid access token, does not contain scopes:[{', '.join(accepted)}].")

    def _target_user(self, tok: _AccessToken, user_key: str, scope: str) -> _User:
        if user_key == "me":
            user = self._users.get(tok.grant.user_id) or self._owner()
        else:
            user = self._find_user(user_key)
            if user is None:
                raise _api_error(404, 1001, f"User does not exist: {user_key}.")
        if tok.grant.kind == "user" and user.id != tok.grant.user_id:
            self._need_scope(tok, scope, admin_only=True)
        else:
            self._need_scope(tok, scope)
        return user

    def _rate_limited(self, category: str) -> None:
        if not self._rate_limits:
            return
        rl = self._rate_limits[0]
        rl.remaining -= 1
        if rl.remaining <= 0:
            self._rate_limits.pop(0)
        if rl.type_ == "QPS":
            retry_after = rl.retry_after or "1"
            limit = {"Light": "30", "Medium": "20"}.get(category, "10")
            message = "You have reached the maximum per-second rate limit for this API. Try again later."
        else:
            tomorrow = (self.now() + timedelta(days=1)).date()
            retry_after = rl.retry_after or f"{tomorrow.isoformat()}T00:00:00Z"
            limit = "30000"
            message = f"You have reached the maximum daily rate limit for this API. Retry at {retry_after}."
        raise _api_error(429, 429, message, {
            "Retry-After": retry_after, "X-RateLimit-Category": category, "X-RateLimit-Type": rl.type_,
            "X-RateLimit-Limit": limit, "X-RateLimit-Remaining": "0"})

    def _api(self, h: _Handler, path: str) -> None:
        method = h.command
        segments = path.strip("/").split("/")
        with self._lock:
            is_list = method == "GET" and len(segments) == 3 and segments[0] == "users" and segments[2] == "recordings"
            if is_list:
                self.list_requests += 1
            if method == "DELETE" and len(segments) >= 2 and segments[0] == "meetings":
                category = "Light"
            elif is_list or (method == "GET" and segments == ["users"]):
                category = "Medium"
            else:
                category = "Light"
            self._rate_limited(category)
            tok = self._bearer(h)
            if method == "GET" and segments == ["users"]:
                self._need_scope(tok, SCOPE_LIST_USERS)
                listing = self._list_users(h)
                if self.on_users_listed is not None:
                    self.on_users_listed((h.query.get("status") or ["active"])[-1] or "active")
                raise _Reply(200, listing)
            if method == "GET" and len(segments) == 2 and segments[0] == "users":
                user = self._target_user(tok, unquote(segments[1]), SCOPE_USER)
                raise _Reply(200, self._render_user(user, full=True))
            if is_list:
                user = self._target_user(tok, unquote(segments[1]), SCOPE_LIST_RECORDINGS)
                raise _Reply(200, self._list_recordings(h, user))
            if method == "DELETE" and segments[:1] == ["meetings"] and path.rstrip("/").endswith("/recordings"):
                self._delete_recordings(h, tok, path)
            raise _api_error(404, 404, "Not Found")

    def _render_user(self, user: _User, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": user.id, "first_name": user.first_name, "last_name": user.last_name,
            "display_name": f"{user.first_name} {user.last_name}".strip(), "email": user.email, "type": user.type,
            "pmi": user.pmi, "timezone": "Europe/Madrid", "verified": 1, "dept": "",
            "created_at": _iso(user.created_at), "user_created_at": _iso(user.created_at),
            "last_login_time": _iso(self.now() - timedelta(days=1)), "last_client_version": "6.0.0",
            "language": "en-US", "phone_number": "", "status": user.status, "role_id": "2",
        }
        if full:
            out.update({
                "role_name": "Owner" if user.id == self._owner().id else "Member", "use_pmi": False,
                "personal_meeting_url": f"{self.url}/j/{user.pmi}", "account_id": self.account_id,
                "account_number": 10000001, "cluster": "us05", "login_types": [100], "jid": f"{user.id}@xmpp.zoom.us",
                "group_ids": [], "im_group_ids": [], "pic_url": "", "job_title": "", "location": "",
            })
        return out

    @staticmethod
    def _page_size(h: _Handler) -> int:
        raw = (h.query.get("page_size") or [""])[-1]
        if raw == "":
            return DEFAULT_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError as exc:
            raise _api_error(400, 300, "Invalid field.") from exc
        if size < 1:
            raise _api_error(400, 300, "Invalid field.")
        return min(size, MAX_PAGE_SIZE)

    def _page(self, h: _Handler, key: tuple[Any, ...], items_fn: Any, echo: dict[str, Any]) -> tuple[list, dict]:
        """(items of this page, paging fields) using next_page_token cursors."""
        page_size = self._page_size(h)
        token = (h.query.get("next_page_token") or [""])[-1]
        now = self._clock()
        if token:
            cursor = self._cursors.get(token)
            if cursor is None or now - cursor.issued_at > PAGE_TOKEN_TTL or cursor.key[:2] != key[:2]:
                raise _api_error(400, 300, "The next page token is invalid or expired.")
            del self._cursors[token]
        else:
            cursor = _Cursor(key, items_fn(), 0, now, echo)
            page_number_raw = (h.query.get("page_number") or [""])[-1]
            if page_number_raw.isdigit() and int(page_number_raw) > 1:
                cursor.offset = (int(page_number_raw) - 1) * page_size
        items = cursor.items[cursor.offset:cursor.offset + page_size]
        next_offset = cursor.offset + len(items)
        next_token = ""
        if next_offset < len(cursor.items):
            next_token = secrets.token_urlsafe(24)
            self._cursors[next_token] = _Cursor(cursor.key, cursor.items, next_offset, now, cursor.echo)
        total = len(cursor.items)
        paging = dict(cursor.echo)
        paging.update(page_count=-(-total // page_size) if total else 0, page_size=page_size,
                      total_records=total, next_page_token=next_token)
        paging["_page_number"] = cursor.offset // page_size + 1
        return items, paging

    def _list_users(self, h: _Handler) -> dict[str, Any]:
        status = (h.query.get("status") or ["active"])[-1] or "active"
        if status not in ("active", "inactive", "pending"):
            raise _api_error(400, 300, "Invalid field.")
        items, paging = self._page(
            h, ("users", status), lambda: [u.id for u in self._users.values() if u.status == status], {})
        page_number = paging.pop("_page_number")
        out = {"page_count": paging["page_count"], "page_number": page_number, "page_size": paging["page_size"],
               "total_records": paging["total_records"], "next_page_token": paging["next_page_token"]}
        out["users"] = [self._render_user(self._users[uid], full=False) for uid in items if uid in self._users]
        return out

    def _parse_date(self, h: _Handler, name: str) -> date | None:
        raw = (h.query.get(name) or [""])[-1]
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise _api_error(400, 300, f"Invalid field: {name}.") from exc

    def _list_recordings(self, h: _Handler, user: _User) -> dict[str, Any]:
        trash = (h.query.get("trash") or ["false"])[-1].lower() == "true"
        trash_type = (h.query.get("trash_type") or ["meeting_recordings"])[-1] or "meeting_recordings"
        today = self.now().date()
        d_from, d_to = self._parse_date(h, "from"), self._parse_date(h, "to")
        if d_from is None and d_to is None:
            d_from, d_to = today, today + timedelta(days=1)
        elif d_to is None:
            d_to = today
        elif d_from is None:
            d_from = d_to
        assert d_from is not None and d_to is not None
        if not trash:
            if d_from > d_to:
                raise _api_error(400, 300, "The from date must be earlier than the to date.")
            d_from = max(d_from, month_before(d_to))  # Zoom's silent one-month clamp

        def matching() -> list[str]:
            found: list[_Meeting] = []
            for m in self._meetings.values():
                if m.deleted or m.host_id != user.id:
                    continue
                if trash:
                    if m.trashed and trash_type == "meeting_recordings":
                        found.append(m)
                elif not m.trashed and d_from <= m.start_time.date() <= d_to:
                    found.append(m)
            found.sort(key=lambda m: m.start_time, reverse=True)
            return [m.uuid for m in found]

        key = ("recordings", user.id, trash, trash_type, d_from, d_to)
        items, paging = self._page(h, key, matching, {"from": d_from.isoformat(), "to": d_to.isoformat()})
        paging.pop("_page_number")
        meetings = [self._meetings[u] for u in items if u in self._meetings and not self._meetings[u].deleted]
        paging["meetings"] = [self._render_meeting(m, trash=trash) for m in meetings if m.trashed == trash]
        return paging

    def _delete_recordings(self, h: _Handler, tok: _AccessToken, raw_path: str) -> None:
        # The gateway decodes the path once and collapses repeated slashes; {meetingId} is everything between
        # "/meetings/" and "/recordings". So a UUID with one '/' inside routes even when encoded once, while a
        # leading '/' or a '//' is mangled unless encoded twice - which is why Zoom asks for double encoding.
        m = re.fullmatch(r"/meetings/(.+)/recordings/?", re.sub(r"/+", "/", unquote(raw_path)))
        meeting_id = m.group(1) if m else ""
        if "%" in meeting_id:
            meeting_id = unquote(meeting_id)  # a double-encoded UUID
        action = (h.query.get("action") or ["trash"])[-1] or "trash"
        if action not in ("trash", "delete"):
            raise _api_error(400, 300, "Invalid field: action.")
        meeting = self._meetings.get(meeting_id)
        if meeting is None and meeting_id.isdigit():
            same = [m for m in self._meetings.values() if m.id == int(meeting_id) and not m.deleted]
            meeting = max(same, key=lambda m: m.start_time) if same else None
        if meeting is None or meeting.deleted or (action == "trash" and meeting.trashed):
            raise _api_error(404, 3301, "There is no recording for this meeting.")
        if tok.grant.kind == "user" and meeting.host_id != tok.grant.user_id:
            self._need_scope(tok, SCOPE_DELETE_RECORDINGS, admin_only=True)
        else:
            self._need_scope(tok, SCOPE_DELETE_RECORDINGS)
        if action == "trash":
            meeting.trashed = True
            meeting.deleted_time = self.now()
            self.trashed.add(meeting.uuid)
        else:
            meeting.deleted = True
            self.deleted.add(meeting.uuid)
        raise _Reply(204, b"")

    # ------------------------------------------------------------------------------------ downloads

    def _download(self, h: _Handler, token: str) -> None:
        with self._lock:
            fault = self._download_faults[0] if self._download_faults else None
            if fault == "outage":
                self._download_faults.pop(0)
                self._outage_thread = threading.Thread(target=self.pause, name="fake-zoom-outage", daemon=True)
                self._outage_thread.start()
                h.cut()
                return
            if fault in ("html", "json124"):
                self._download_faults.pop(0)
                if fault == "html":
                    raise _Reply(200, SIGN_IN_PAGE, content_type="text/html;charset=utf-8")
                raise _Reply(200, JSON124_BODY)
            access = (h.query.get("access_token") or [""])[-1]
            auth = h.headers.get("Authorization", "")
            value = auth[7:].strip() if auth[:7].lower() == "bearer " else access
            tok = self._access.get(value)
            if (tok is None or tok.revoked or not tok.grant.alive or tok.force_expired
                    or tok.expires_at < self._clock()):
                raise _Reply(401, JSON124_BODY)
            found = self._files_by_token.get(token)
            if found is None:
                raise _Reply(404, {"status": False, "errorCode": 404, "errorMessage": "File does not exist"})
            meeting, f = found
            if meeting.deleted or meeting.trashed or f.status != "completed":
                raise _Reply(404, {"status": False, "errorCode": 404, "errorMessage": "File does not exist"})
            if self.faults_only_for is not None and f.file_type != self.faults_only_for:
                fault = None  # the fault waits for a download of that file type
            if fault is not None:  # truncate / drop: taken by a download that gets as far as the redirect
                self._download_faults.pop(0)
            cdn_token = secrets.token_urlsafe(24)
            self._cdn_grants[cdn_token] = _CdnGrant(f, fault, self._clock() + 3600)
            day = f.recording_start
            name = f"GMT{day:%Y%m%d-%H%M%S}_Recording.{f.extension.lower()}"
            location = (f"{self.cdn_url}/replay/{day:%Y/%m/%d}/{meeting.id}/{f.id}/{name}"
                        f"?response-content-type={quote(FILE_TYPES[f.file_type][2], safe='')}&fid={cdn_token}")
        raise _Reply(302, b"", {"Location": location}, "text/html;charset=utf-8")

    def files_by_id(self) -> dict[str, tuple[str, str, bytes]]:
        """Every file of every meeting: file id -> (meeting uuid, file type, its bytes)."""
        with self._lock:
            return {f.id: (m.uuid, f.file_type, f.data) for m in self._meetings.values() for f in m.files}

    def add_users_with_recordings(self, users: int, *, meetings: int = 1, sizes: tuple[int, ...] = (200_000,),
                                  domain: str = "fleet.example.com", days_ago: int = 3) -> list[str]:
        """`users` users, each with `meetings` recorded meetings of one file per size (MP4, M4A, then CHAT):
        deterministic bytes, different for every file. Returns the e-mails."""
        types = ("MP4", "M4A", "CHAT", "TRANSCRIPT")
        emails = []
        start = self.now().replace(microsecond=0, second=0) - timedelta(days=days_ago)
        for u in range(users):
            email = f"user{u:03d}@{domain}"
            self.add_user(email)
            emails.append(email)
            for m in range(meetings):
                files = [{"file_type": types[i % len(types)], "data": _fleet_bytes(f"{email}/{m}/{i}", size)}
                         for i, size in enumerate(sizes)]
                self.add_meeting(email, topic=f"Class {u:03d}-{m}", start_time=start - timedelta(hours=m),
                                 timezone="UTC", files=files)
        return emails

    def _send_throttled(self, h: _Handler, status: int, part: bytes, headers: dict[str, str], ctype: str) -> None:
        """Like h.send, at most throttle_per_connection bytes per second on this connection."""
        rate = self.throttle_per_connection
        h.record.status = status
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(part)))
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        if h.command == "HEAD":
            return
        step = max(1, int(rate / 20))  # twenty writes a second
        started = time.monotonic()
        for offset in range(0, len(part), step):
            h.wfile.write(part[offset:offset + step])
            ahead = (offset + step) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def _cdn(self, h: _Handler) -> None:
        auth = h.headers.get("Authorization")
        rng = h.headers.get("Range")
        with self._lock:
            if auth is not None:
                self.cdn_saw_authorization.append(auth)
            self.cdn_requests.append({"method": h.command, "path": h.raw_path, "range": rng,
                                      "authorization": auth})
            grant = self._cdn_grants.get((h.query.get("fid") or [""])[-1])
            if h.command not in ("GET", "HEAD"):
                raise _Reply(405, b"Method Not Allowed", content_type="text/plain")
            if grant is None or grant.expires_at < self._clock():
                raise _Reply(403, b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                             content_type="application/xml")
            fault, grant.fault = grant.fault, None
            data = grant.file.data
            if h.command == "GET":
                self.download_counts[grant.file.id] += 1
            ctype = FILE_TYPES[grant.file.file_type][2]
        size = len(data)
        span = _parse_range(rng, size)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=0"}
        if span == "bad":
            headers["Content-Range"] = f"bytes */{size}"
            h.send(416, b"", headers, "text/plain")
            return
        if span is None:
            status, start, end = 200, 0, size - 1
        else:
            assert isinstance(span, tuple)
            status, (start, end) = 206, span
        if fault == "truncate":
            end = start + max(0, (end - start + 1) // 2) - 1
        part = data[start:end + 1]
        if status == 206 and not part:
            status = 200  # a truncated one-byte range: nothing left to describe with Content-Range
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{size}"
        if fault == "drop":
            h.send(status, part[: len(part) // 2], headers, ctype, length=len(part))
            h.cut()
            return
        if self.throttle_per_connection > 0:
            self._send_throttled(h, status, part, headers, ctype)
            return
        h.send(status, part, headers, ctype)
