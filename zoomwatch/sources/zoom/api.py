"""A small Zoom REST client: Bearer auth with refresh on 401, 429 handled as Zoom's rate-limit
headers say (a daily limit pauses until it resets), 5xx retried with backoff, paging to the end,
and recordings listed in windows of at most 30 days (Zoom silently shortens longer ones)."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import quote

import requests

from zoomwatch.errors import RateLimited, ServiceDown, ZoomwatchError
from zoomwatch.i18n import N_
from zoomwatch.translate import requests_error

__all__ = ["RateLimited", "ZoomApi", "ZoomApiError", "encode_uuid", "month_before", "windows"]

log = logging.getLogger(__name__)

WINDOW_DAYS = 30
PAGE_SIZE = 300
HTTP_TIMEOUT = 60
MAX_TRIES = 6


class Auth(Protocol):
    def token(self, *, force_refresh: bool = False) -> str: ...


NO_RECORDING = 3301          # Zoom's code: there is no (longer a) recording for this meeting
SCOPE_CODES = (4700, 4711)   # Zoom's codes: the access token lacks a permission (scope)
INVALID_TOKEN = 124


class ZoomApiError(ZoomwatchError):
    """Zoom refused a request (the message carries Zoom's own code and text, never a token). `code` is
    Zoom's error code (or the HTTP status when the answer had none), `status` the HTTP status."""

    def __init__(self, title: str, message: str = "", *, retryable: bool | None = None, code: int | None = None,
                 status: int | None = None) -> None:
        super().__init__(title, message, retryable=retryable)
        self.code = code
        self.status = status


def encode_uuid(uuid: str) -> str:
    """Zoom wants a meeting UUID that begins with '/' or contains '//' encoded twice."""
    once = quote(uuid, safe="")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


def month_before(day: dt.date) -> dt.date:
    """The same day one calendar month earlier (clamped: 31 March -> 28 or 29 February)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def windows(start: dt.date, end: dt.date, days: int = WINDOW_DAYS) -> Iterator[tuple[dt.date, dt.date]]:
    """[start, end] cut into inclusive windows, newest first, none longer than `days` days nor reaching
    further back than one calendar month before its end: Zoom silently moves an earlier `from` there
    (so a 30-day window ending in early March would lose its first day)."""
    to = end
    while to >= start:
        frm = max(start, to - dt.timedelta(days=days - 1), month_before(to))
        yield frm, to
        to = frm - dt.timedelta(days=1)


def _retry_after(response: requests.Response, now: dt.datetime) -> tuple[float, dt.datetime | None]:
    """Seconds to wait, and the reset time when it is a daily limit (Retry-After may be an ISO time)."""
    header = response.headers.get("Retry-After", "")
    daily = response.headers.get("X-RateLimit-Type", "").lower().startswith("daily")
    try:
        seconds = float(header)
        until = now + dt.timedelta(seconds=seconds)
    except ValueError:
        try:
            until = dt.datetime.fromisoformat(header.replace("Z", "+00:00"))
            seconds = max(0.0, (until - now).total_seconds())
        except ValueError:
            seconds, until = 1.0, now + dt.timedelta(seconds=1)
    return seconds, until if daily else None


class ZoomApi:
    def __init__(self, api_base: str, auth: Auth, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api_base = api_base.rstrip("/")
        self.auth = auth
        self.session = session or requests.Session()
        self.sleep = sleep

    def request(self, method: str, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        refreshed = False
        for attempt in range(1, MAX_TRIES + 1):
            headers = {"Authorization": f"Bearer {self.auth.token()}"}
            try:
                response = self.session.request(method, f"{self.api_base}{path}", params=params, headers=headers,
                                                timeout=HTTP_TIMEOUT)
            except requests.RequestException as exc:
                if attempt == MAX_TRIES:
                    raise requests_error(exc, service="Zoom", where=self.api_base) from None
                self.sleep(min(60.0, 2.0**attempt) * random.uniform(0.5, 1.0))
                continue
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self.auth.token(force_refresh=True)
                continue
            if response.status_code == 429:
                seconds, daily_until = _retry_after(response, dt.datetime.now(dt.timezone.utc))
                if daily_until is not None:
                    raise RateLimited(daily_until)
                log.info("Zoom rate limit (%s): waiting %.1f s", response.headers.get("X-RateLimit-Category", "?"),
                         seconds)
                self.sleep(seconds)
                continue
            if response.status_code >= 500 and attempt < MAX_TRIES:
                self.sleep(min(60.0, 2.0**attempt) * random.uniform(0.5, 1.0))
                continue
            if response.status_code >= 400:
                raise _api_error(response, path)
            return response
        raise ServiceDown(N_("Zoom keeps failing"),
                          N_("{path}: gave up after {MAX_TRIES} tries", path=path, MAX_TRIES=MAX_TRIES))

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.request("GET", path, params)
        try:
            return dict(response.json())
        except (ValueError, TypeError):  # a proxy's or captive portal's page instead of Zoom's JSON
            raise ZoomApiError("Zoom sent an unexpected answer", f"{path}: not JSON "
                               f"({response.headers.get('Content-Type', 'no type')}); retried later",
                               retryable=True) from None

    def paged(self, path: str, params: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing, following next_page_token to the end."""
        params = {**params, "page_size": PAGE_SIZE}
        while True:
            page = self.get(path, params)
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return
            params = {**params, "next_page_token": token}

    # -- endpoints --------------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        return self.get("/users/me")

    def users(self) -> Iterator[dict[str, Any]]:
        """Every user of the account, once, deactivated ones too (they keep their recordings). A user
        deactivated between the two listings is in both: the first listing of a user id wins."""
        seen: set[str] = set()
        for status in ("active", "inactive"):
            for user in self.paged("/users", {"status": status}, "users"):
                key = str(user.get("id") or user.get("email", "")).lower()
                if key in seen:
                    continue
                seen.add(key)
                yield user

    def recordings(self, user: str, start: dt.date, end: dt.date, *, trash: bool = False) -> Iterator[dict[str, Any]]:
        """The user's cloud recordings from start to end, in windows Zoom accepts."""
        path = f"/users/{quote(user, safe='@')}/recordings"
        if trash:
            yield from self.paged(path, {"trash": "true", "trash_type": "meeting_recordings"}, "meetings")
            return
        for frm, to in windows(start, end):
            params = {"from": frm.isoformat(), "to": to.isoformat()}
            first = True
            for meeting in self._window(path, params):
                if first and meeting.get("_echoed_from") not in (None, frm.isoformat()):
                    log.warning("Zoom shortened the listing window starting %s to %s", frm,
                                meeting["_echoed_from"])
                first = False
                meeting.pop("_echoed_from", None)
                yield meeting

    def _window(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        params = {**params, "page_size": PAGE_SIZE}
        while True:
            page = self.get(path, params)
            for meeting in page.get("meetings", []):
                yield {**meeting, "_echoed_from": page.get("from")}
            token = page.get("next_page_token")
            if not token:
                return
            params = {**params, "next_page_token": token}

    def trash_recordings(self, meeting_uuid: str) -> bool:
        """Move a meeting's cloud recordings to Zoom's trash (never a permanent delete)."""
        try:
            self.request("DELETE", f"/meetings/{encode_uuid(meeting_uuid)}/recordings", {"action": "trash"})
        except ZoomApiError as exc:
            if exc.code == NO_RECORDING:
                return False
            raise
        return True


def _api_error(response: requests.Response, path: str) -> ZoomApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    code, message = _code(body, response.status_code), str(body.get("message", response.reason))[:300]
    status = response.status_code
    if code in SCOPE_CODES:
        return ZoomApiError("Zoom app lacks a permission", f"{message} — add the scope to your Zoom app and sign in "
                            "again (zoomwatch login)", code=code, status=status)
    if code == INVALID_TOKEN or status == 401:
        return ZoomApiError("Zoom refused the sign-in", f"{message} — sign in again: zoomwatch login", code=code,
                            status=status)
    return ZoomApiError("Zoom refused a request", f"{path}: {code} {message}", code=code, status=status)


def _code(body: Any, status: int) -> int:
    """Zoom's numeric error code from its JSON answer, else the HTTP status."""
    try:
        return int(body.get("code", status)) if isinstance(body, dict) else status
    except (TypeError, ValueError):
        return status
