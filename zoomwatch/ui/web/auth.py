"""Who may use the local server: the API key (as Syncthing's: `X-API-Key: KEY` or `Authorization: Bearer KEY`),
one-time links that the tray or `zoomwatch dashboard` open, and the browser sessions they turn into.

The key is made at the first start and kept in the OS keyring (secret `dashboard.api_key`; on a machine without
a keyring, the ZOOMWATCH_API_KEY environment variable, else a key for this run only). One-time links live two
minutes and work once; a session lives until zoomwatch stops (at most a day). Nothing here logs a token."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets as tokens
import threading
import time
from collections.abc import Callable

from zoomwatch import secrets
from zoomwatch.errors import ZoomwatchError

log = logging.getLogger(__name__)

KEY_NAME = "dashboard.api_key"
LINK_SECONDS = 120.0
SESSION_SECONDS = 24 * 3600.0


def api_key() -> tuple[str, bool]:
    """The API key and whether it is kept (keyring or environment); a new key is made and stored at the first
    start. Without a usable keyring the key lasts for this run only (the API still works from this process's
    own page; scripts need ZOOMWATCH_API_KEY)."""
    try:
        found = secrets.get_secret(KEY_NAME, strict=True)
    except ZoomwatchError as exc:
        log.warning("the dashboard's API key cannot be read (%s: %s); a key for this run only is used",
                    exc.title, exc.message)
        return tokens.token_urlsafe(32), False
    if found:
        return found, True
    key = tokens.token_urlsafe(32)
    try:
        secrets.set_secret(KEY_NAME, key)
    except ZoomwatchError as exc:
        log.warning("the dashboard's API key cannot be stored (%s: %s); a key for this run only is used — "
                    "set ZOOMWATCH_API_KEY to give scripts a lasting one", exc.title, exc.message)
        return key, False
    log.info("made the dashboard's API key (kept in the OS keyring; `zoomwatch dashboard --api-key` shows it)")
    return key, True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class Access:
    """The key, the one-time links handed out, and the sessions they became (only their hashes are kept)."""

    def __init__(self, key: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._key = key
        self._clock = clock
        self._links: dict[str, float] = {}
        self._sessions: dict[str, float] = {}
        self._lock = threading.Lock()

    def is_key(self, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), self._key.encode())

    def new_link_token(self) -> str:
        token = tokens.token_urlsafe(32)
        with self._lock:
            self._forget_expired()
            self._links[_digest(token)] = self._clock() + LINK_SECONDS
        return token

    def exchange(self, link_token: str) -> str | None:
        """A new session for a valid one-time token (which is used up), else None."""
        with self._lock:
            self._forget_expired()
            if self._links.pop(_digest(link_token), None) is None:
                return None
            session = tokens.token_urlsafe(32)
            self._sessions[_digest(session)] = self._clock() + SESSION_SECONDS
            return session

    def is_session(self, presented: str) -> bool:
        if not presented:
            return False
        with self._lock:
            until = self._sessions.get(_digest(presented))
            return until is not None and until > self._clock()

    def allows(self, presented: str) -> bool:
        """The API key or a live session token."""
        return self.is_key(presented) or self.is_session(presented)

    def _forget_expired(self) -> None:
        now = self._clock()
        for table in (self._links, self._sessions):
            for digest in [d for d, until in table.items() if until <= now]:
                del table[digest]
