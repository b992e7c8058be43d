"""Signing in to Zoom: the user's own OAuth app (authorization code + PKCE S256, a loopback redirect,
or the device grant), and Server-to-Server OAuth for admins. Tokens live only in the OS keyring.

Zoom rotates refresh tokens: every refresh returns a new one and the old stops working, so the new
token set is written to the keyring before it is used or anything else happens. A refresh token
Zoom rejects means the user is signed out: the tokens are removed and SignedOut raised, once.
Nothing here logs or puts a token, secret or code in a message.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import logging
import secrets as pysecrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from zoomwatch import secrets
from zoomwatch.errors import BadSetting, ServiceDown, SignedOut, SignInTimedOut
from zoomwatch.i18n import N_
from zoomwatch.translate import http_status_error, requests_error

log = logging.getLogger(__name__)

TOKENS_SECRET = "zoom.user_tokens"
REDIRECT_PATH = "/oauth/callback"
EARLY_REFRESH_SECONDS = 120
HTTP_TIMEOUT = 30
PART_CHARS = 1000  # 2,000 bytes in UTF-16: well under Windows Credential Manager's 2,560 per entry
SOCKET_TIMEOUT = 10.0  # a connection to the loopback listener that sends nothing is dropped after this


@dataclass
class TokenSet:
    access_token: str
    expires_at: float
    refresh_token: str | None = None
    scope: str = ""
    api_url: str | None = None

    @classmethod
    def from_response(cls, data: dict[str, Any], clock: Callable[[], float] = time.time) -> TokenSet:
        return cls(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                   expires_at=clock() + float(data.get("expires_in", 3599)), scope=data.get("scope", ""),
                   api_url=data.get("api_url"))

    def __repr__(self) -> str:  # never show a token, even in a traceback
        return f"TokenSet(expires_at={self.expires_at:.0f}, scope={self.scope!r})"


class TokenStore:
    """The user's token set in the OS keyring, in parts small enough for every keyring: Windows Credential
    Manager refuses more than 2,560 bytes of UTF-16 per entry, and a set with real-size Zoom JWTs is ~1,500
    characters. The entry `zoom.user_tokens` is an index naming one of two sets of parts
    (`zoom.user_tokens.a.1..n` or `.b.1..n`) and their checksum. A save writes the parts of the set not in
    use, then the index (the switch), then removes the old parts: killed at any moment, it leaves the old or
    the new token set whole, never a mix. A token set stored in one entry by an earlier version still loads."""

    def __init__(self) -> None:
        self._cached: tuple[str, TokenSet] | None = None  # (index, its tokens): one keyring read per call

    def load(self) -> TokenSet | None:
        """The stored tokens, or None when not signed in. Raises KeyringUnavailable when the keyring is
        locked or refuses (not the same as signed out: it can be retried)."""
        raw = secrets.get_secret(TOKENS_SECRET, strict=True)
        if not raw:
            return None
        if self._cached is not None and self._cached[0] == raw:
            return self._cached[1]  # the index names the parts and their checksum: unchanged, so are they
        tokens = self._read(raw)
        self._cached = (raw, tokens) if tokens is not None else None
        return tokens

    @staticmethod
    def _read(raw: str) -> TokenSet | None:
        try:
            index = json.loads(raw)
            if "access_token" in index:  # one entry, as written before the parts
                return _token_set(index)
            text = "".join(secrets.get_secret(_part(index["set"], i), strict=True) or ""
                           for i in range(1, int(index["parts"]) + 1))
            if hashlib.sha256(text.encode()).hexdigest() != index["sha256"]:
                log.warning("the stored Zoom sign-in is incomplete; sign in again: zoomwatch login")
                return None
            return _token_set(json.loads(text))
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, tokens: TokenSet) -> None:
        # compact JSON with spaces escaped: a part never begins or ends with white space (which set_secret trims)
        text = json.dumps(asdict(tokens), separators=(",", ":")).replace(" ", "\\u0020")
        try:
            current = self._index()
        except secrets.KeyringUnavailable:
            current = None
        old = current.get("set") if current else None
        label = "b" if old == "a" else "a"
        chunks = [text[i:i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]
        for number, chunk in enumerate(chunks, 1):
            secrets.set_secret(_part(label, number), chunk)
        self._remove_parts(label, len(chunks) + 1)  # left over from a save killed before its switch
        secrets.set_secret(TOKENS_SECRET, json.dumps({"set": label, "parts": len(chunks),
                                                      "sha256": hashlib.sha256(text.encode()).hexdigest()}))
        if old in ("a", "b"):
            self._remove_parts(old, 1)

    def clear(self) -> None:
        secrets.delete_secret(TOKENS_SECRET)
        for label in ("a", "b"):
            self._remove_parts(label, 1)

    @staticmethod
    def _index() -> dict[str, Any] | None:
        raw = secrets.get_secret(TOKENS_SECRET, strict=True)
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _remove_parts(label: str, first: int) -> None:
        number = first
        try:
            while secrets.delete_secret(_part(label, number)):
                number += 1
        except secrets.KeyringUnavailable as exc:  # only leftovers: the index no longer names them
            log.debug("could not remove an old part of the Zoom sign-in: %s", exc.title)


def _part(label: str, number: int) -> str:
    return f"{TOKENS_SECRET}.{label}.{number}"


def _token_set(data: dict[str, Any]) -> TokenSet | None:
    try:
        return TokenSet(**data)
    except TypeError:
        return None


# -- the OAuth endpoints --------------------------------------------------------------------------

def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = pysecrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(oauth_base: str, client_id: str, redirect_uri: str, state: str, challenge: str) -> str:
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
    return f"{oauth_base}/oauth/authorize?{query}"


def _token_request(oauth_base: str, data: dict[str, str], client_id: str, client_secret: str | None,
                   clock: Callable[[], float] = time.time) -> TokenSet:
    """POST /oauth/token: Basic auth for a confidential app, client_id in the body for public PKCE."""
    auth = (client_id, client_secret) if client_secret else None
    if not client_secret:
        data = {**data, "client_id": client_id}
    try:
        response = requests.post(f"{oauth_base}/oauth/token", data=data, auth=auth, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise requests_error(exc, service="Zoom", where=oauth_base) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and "access_token" in body:
        return TokenSet.from_response(body, clock)
    error = str(body.get("error", "")) or f"HTTP {response.status_code}"
    reason = str(body.get("reason", body.get("error_description", "")))
    if error == "invalid_client":
        raise BadSetting(N_("Zoom rejected the client ID or secret"),
                         N_("check them in your Zoom app and set them again: zoomwatch secret set zoom.client_id"))
    if error == "invalid_grant" and data.get("grant_type") == "refresh_token":
        raise SignedOut(N_("Signed out of Zoom"),
                        N_("Zoom no longer accepts this sign-in (app removed, or signed in elsewhere) — sign in "
                           "again: zoomwatch login"))
    if response.status_code >= 500 or response.status_code == 429:
        raise http_status_error(response.status_code, service="Zoom sign-in", where=f"{oauth_base}/oauth/token",
                                down=ServiceDown)
    raise BadSetting(N_("Zoom sign-in failed"), printable(f"{error}: {reason}".strip(": ")))


def exchange_code(oauth_base: str, client_id: str, client_secret: str | None, code: str, verifier: str,
                  redirect_uri: str) -> TokenSet:
    return _token_request(oauth_base, {"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": redirect_uri, "code_verifier": verifier},
                          client_id, client_secret)


def refresh(oauth_base: str, client_id: str, client_secret: str | None, refresh_token: str) -> TokenSet:
    return _token_request(oauth_base, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                          client_id, client_secret)


def revoke(oauth_base: str, client_id: str, client_secret: str | None, token: str) -> bool:
    data = {"token": token} if client_secret else {"token": token, "client_id": client_id}
    try:
        response = requests.post(f"{oauth_base}/oauth/revoke", data=data,
                                 auth=(client_id, client_secret) if client_secret else None, timeout=HTTP_TIMEOUT)
    except requests.RequestException:
        return False
    return response.status_code == 200


def s2s_token(oauth_base: str, account_id: str, client_id: str, client_secret: str,
              clock: Callable[[], float] = time.time) -> TokenSet:
    return _token_request(oauth_base, {"grant_type": "account_credentials", "account_id": account_id},
                          client_id, client_secret, clock)


# -- the loopback redirect ------------------------------------------------------------------------

CLOSE_PAGE = (b"<!doctype html><meta charset=utf-8><title>zoomwatch</title>"
              b"<body style='font-family:sans-serif;margin:3em'><h2>zoomwatch is signed in to Zoom.</h2>"
              b"<p>You can close this tab.</p></body>")
DENIED_PAGE = (b"<!doctype html><meta charset=utf-8><title>zoomwatch</title>"
               b"<body style='font-family:sans-serif;margin:3em'><h2>zoomwatch was not signed in.</h2>"
               b"<p>You can close this tab and try again with <code>zoomwatch login</code>.</p></body>")


IGNORED_PAGE = (b"<!doctype html><meta charset=utf-8><title>zoomwatch</title>"
                b"<body style='font-family:sans-serif;margin:3em'><h2>This is not the answer zoomwatch is "
                b"waiting for.</h2><p>It was ignored.</p></body>")


def printable(text: str, limit: int = 200) -> str:
    """Untrusted text made safe for a terminal or a log: control characters (escape sequences, newlines)
    shown as escapes, and the length bounded."""
    text = text[:limit]
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class _LoopbackServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a connection left open by some local program never holds up the end


class LoopbackReceiver:
    """An HTTP listener on 127.0.0.1 waiting for the browser's redirect that carries the code.

    Connections are served each in a thread of its own with a socket time-out, so an idle local
    connection cannot block the browser's. Any local program, or any web page (through an image tag; the
    port is known), can call the redirect URL: an answer that does not carry this sign-in's `state` is
    refused with a page saying so, and the listener keeps waiting for the real one."""

    def __init__(self, port: int, state: str, path: str = REDIRECT_PATH) -> None:
        self.path = path
        self.state = state
        self.result: dict[str, str] = {}
        self.ignored = 0
        self._got = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parsed = urlparse(self.path)
                if parsed.path != receiver.path:
                    self.send_error(404)
                    return
                answer = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                if not receiver.accept(answer):
                    self._page(400, IGNORED_PAGE)
                    return
                self._page(200, DENIED_PAGE if "error" in answer else CLOSE_PAGE)

            def _page(self, status: int, page: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never log it
                return

        try:
            self.server = _LoopbackServer(("127.0.0.1", port), Handler)
        except OSError:
            raise BadSetting(N_("Port {port} is busy", port=port),
                             N_("another program uses it; close it, or let zoomwatch pick a free port: zoomwatch "
                                "config set zoom.redirect_port 0")) from None
        self.port = self.server.server_address[1]
        self.redirect_uri = f"http://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="zoomwatch-oauth-redirect", daemon=True)
        self._thread.start()

    def accept(self, answer: dict[str, str]) -> bool:
        """Take the first answer carrying our state; count (and refuse) any other."""
        ours = pysecrets.compare_digest(answer.get("state", "").encode(), self.state.encode())
        with self._lock:
            if not ours or self._got.is_set():
                self.ignored += not ours
                return ours
            self.result = answer
            self._got.set()
            return True

    def wait(self, timeout: float) -> dict[str, str]:
        try:
            if not self._got.wait(timeout):
                forged = N_(" An answer that did not carry the state zoomwatch sent was ignored (a possible "
                            "cross-site request forgery).") if self.ignored else ""
                raise SignInTimedOut(N_("Zoom sign-in timed out"),
                                     N_("no answer came back from the browser; check that the Zoom app's redirect "
                                        "URL is {redirect_uri} and try again.{forged}",
                                        redirect_uri=self.redirect_uri, forged=forged))
            return self.result
        finally:
            self.server.shutdown()
            self.server.server_close()
            self._thread.join(timeout=5)


def login(oauth_base: str, client_id: str, client_secret: str | None, port: int,
          show: Callable[[str], None], timeout: float = 300) -> TokenSet:
    """The authorization-code flow with PKCE: `show` opens (or prints) the authorize URL."""
    state = pysecrets.token_urlsafe(24)
    receiver = LoopbackReceiver(port, state)
    verifier, challenge = pkce_pair()
    show(authorize_url(oauth_base, client_id, receiver.redirect_uri, state, challenge))
    answer = receiver.wait(timeout)
    if answer.get("error"):
        raise BadSetting(N_("Zoom sign-in was declined"),
                         N_("Zoom answered {answer}; nothing was stored", answer=printable(answer['error'])))
    if not answer.get("code"):
        raise BadSetting(N_("Zoom sign-in failed"),
                         N_("the answer carried no authorization code"))
    return exchange_code(oauth_base, client_id, client_secret, answer["code"], verifier, receiver.redirect_uri)


# -- keeping a token fresh ------------------------------------------------------------------------

class UserAuth:
    """Hands out a valid access token for the signed-in user, refreshing (and storing the rotated
    refresh token first) shortly before expiry or after a 401."""

    def __init__(self, oauth_base: str, client_id: str, client_secret: str | None, store: TokenStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.oauth_base, self.client_id, self.client_secret = oauth_base, client_id, client_secret
        self.store = store or TokenStore()
        self.clock = clock
        self._lock = threading.Lock()

    def token(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            tokens = self.store.load()
            if tokens is None:
                raise SignedOut(N_("Not signed in to Zoom"),
                                N_("sign in with: zoomwatch login"))
            if force_refresh or tokens.expires_at - self.clock() < EARLY_REFRESH_SECONDS:
                if not tokens.refresh_token:
                    raise SignedOut(N_("Zoom sign-in expired"),
                                    N_("sign in again with: zoomwatch login"))
                try:
                    tokens = refresh(self.oauth_base, self.client_id, self.client_secret, tokens.refresh_token)
                except SignedOut:
                    self.store.clear()
                    raise
                self.store.save(tokens)  # before anything else: the old refresh token is dead now
                log.info("Zoom access token refreshed")
            return tokens.access_token

    def api_url(self) -> str | None:
        tokens = self.store.load()
        return tokens.api_url if tokens else None


class S2SAuth:
    """Server-to-Server OAuth: one cached token per app until it expires (a new one can invalidate the
    old, so it is not fetched more often than needed)."""

    def __init__(self, oauth_base: str, account_id: str, client_id: str, client_secret: str,
                 clock: Callable[[], float] = time.time) -> None:
        validate_s2s(account_id, client_id, client_secret)
        self.oauth_base, self.account_id = oauth_base, account_id
        self.client_id, self.client_secret = client_id, client_secret
        self.clock = clock
        self._tokens: TokenSet | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def token(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            if force_refresh or self._tokens is None or self.clock() >= self._renew_at:
                fetched = self.clock()
                self._tokens = s2s_token(self.oauth_base, self.account_id, self.client_id, self.client_secret,
                                         self.clock)
                self._renew_at = fetched + renew_after(self._tokens.expires_at - fetched)
            return self._tokens.access_token


def renew_after(lifetime: float) -> float:
    """Seconds after issue at which to renew a token living `lifetime` seconds: 60 s before it expires,
    or half-way through a token living less than two minutes (not at every call)."""
    return lifetime - min(60.0, lifetime / 2)


def validate_s2s(account_id: str, client_id: str, client_secret: str) -> None:
    """Catch pasted mistakes before asking Zoom: empty values, spaces, implausible lengths."""
    for name, secret_name, value, low in (("account ID", "zoom.s2s_account_id", account_id, 10),
                                          ("client ID", "zoom.s2s_client_id", client_id, 10),
                                          ("client secret", "zoom.s2s_client_secret", client_secret, 16)):
        if not value or value != value.strip() or " " in value:
            raise BadSetting(N_("Zoom Server-to-Server {name} is missing or has spaces", name=name),
                             N_("set it with: zoomwatch secret set {secret_name}", secret_name=secret_name))
        if not low <= len(value) <= 128:
            raise BadSetting(N_("Zoom Server-to-Server {name} looks wrong", name=name),
                             N_("it should be {low} to 128 characters long; copy it again from the Zoom app page",
                                low=low))
