"""The Zoom stand-in (tests/fakes/zoom_api.py), exercised with `requests` through the real flows: PKCE sign-in,
refresh rotation, Server-to-Server and device tokens, paging, the one-month clamp, processing and trashed
recordings, downloads through the CDN redirect, rate limits, expired and revoked tokens, double-encoded UUIDs."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import requests
from fakes.zoom_api import (
    JSON124_BODY,
    FakeZoom,
    month_before,
    pkce_challenge,
    zoom_double_encode,
)
from helpers import alive_threads

UTC = timezone.utc
OWNER = "owner@example.com"
ALICE = "alice.smith@example.com"
REDIRECT = "http://127.0.0.1:53682/oauth/callback"


def fake_threads() -> list[str]:
    return alive_threads("fake-zoom")


@pytest.fixture
def fake() -> Iterator[FakeZoom]:
    f = FakeZoom().start()
    f.add_user(OWNER)
    f.add_user(ALICE)
    try:
        yield f
    finally:
        f.stop()
    assert fake_threads() == []


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def basic(fake: FakeZoom, secret: str | None = None) -> dict[str, str]:
    raw = f"{fake.client_id}:{fake.client_secret if secret is None else secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def authorize(http: requests.Session, fake: FakeZoom, verifier: str, redirect_uri: str = REDIRECT,
              **extra: str) -> requests.Response:
    params = {"response_type": "code", "client_id": fake.client_id, "redirect_uri": redirect_uri,
              "state": "st-123", "code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
    params.update(extra)
    return http.get(f"{fake.url}/oauth/authorize", params=params, allow_redirects=False, timeout=5)


def sign_in(http: requests.Session, fake: FakeZoom, *, redirect_uri: str = REDIRECT) -> dict:
    """The public PKCE flow end to end: the token response."""
    verifier = secrets.token_urlsafe(48)
    r = authorize(http, fake, verifier, redirect_uri)
    assert r.status_code == 302, r.text
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    t = http.post(f"{fake.url}/oauth/token", data={
        "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": redirect_uri,
        "code_verifier": verifier, "client_id": fake.client_id}, timeout=5)
    assert t.status_code == 200, t.text
    return t.json()


def s2s(http: requests.Session, fake: FakeZoom) -> dict:
    r = http.post(f"{fake.url}/oauth/token", params={"grant_type": "account_credentials",
                                                     "account_id": fake.account_id}, headers=basic(fake), timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------- OAuth

def test_pkce_public_client_signs_in_and_calls_the_api(fake: FakeZoom, http: requests.Session) -> None:
    verifier = secrets.token_urlsafe(48)
    r = authorize(http, fake, verifier)
    assert r.status_code == 302
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    q = parse_qs(location.query)
    assert q["state"] == ["st-123"]
    form = {"grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": REDIRECT,
            "code_verifier": verifier, "client_id": fake.client_id}
    t = http.post(f"{fake.url}/oauth/token", data=form, timeout=5)
    assert t.status_code == 200 and "Authorization" not in t.request.headers
    tokens = t.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 3599
    assert tokens["api_url"] == fake.url  # like "https://api.zoom.us": no /v2
    assert tokens["refresh_token"] in fake.valid_refresh_tokens
    assert "cloud_recording:read:list_user_recordings" in tokens["scope"].split()
    me = http.get(f"{fake.api_base}/users/me", headers=bearer(tokens["access_token"]), timeout=5)
    assert me.status_code == 200
    assert me.json()["email"] == OWNER and me.json()["account_id"] == fake.account_id
    assert fake.tokens_issued == 1 and fake.token_requests == 1
    # the code is single use
    again = http.post(f"{fake.url}/oauth/token", data=form, timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_wrong_verifier_is_invalid_grant(fake: FakeZoom, http: requests.Session) -> None:
    r = authorize(http, fake, "right-verifier-" + "x" * 40)
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    t = http.post(f"{fake.url}/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": "wrong-verifier-" + "y" * 40, "client_id": fake.client_id}, timeout=5)
    assert t.status_code == 400
    assert t.json()["error"] == "invalid_grant" and "reason" in t.json()


def test_confidential_client_and_bad_secret(fake: FakeZoom, http: requests.Session) -> None:
    verifier = secrets.token_urlsafe(48)
    code = parse_qs(urlsplit(authorize(http, fake, verifier).headers["Location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    bad = http.post(f"{fake.url}/oauth/token", data=form, headers=basic(fake, "nope"), timeout=5)
    assert bad.status_code == 400
    assert bad.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    ok = http.post(f"{fake.url}/oauth/token", data=form, headers=basic(fake), timeout=5)
    assert ok.status_code == 200 and ok.json()["refresh_token"]


def test_code_expires_after_five_minutes(fake: FakeZoom, http: requests.Session) -> None:
    verifier = secrets.token_urlsafe(48)
    code = parse_qs(urlsplit(authorize(http, fake, verifier).headers["Location"]).query)["code"][0]
    fake.advance(301)
    t = http.post(f"{fake.url}/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_id": fake.client_id}, timeout=5)
    assert t.status_code == 400 and t.json()["error"] == "invalid_grant"


def test_loopback_redirect_any_port_but_registered_path(fake: FakeZoom, http: requests.Session) -> None:
    for uri in ("http://127.0.0.1:40001/oauth/callback", "http://localhost:59999/oauth/callback"):
        assert sign_in(http, fake, redirect_uri=uri)["access_token"]
    for uri in ("http://127.0.0.1:40001/other", "https://127.0.0.1:40001/oauth/callback",
                "http://example.com:40001/oauth/callback"):
        r = authorize(http, fake, "v" * 50, uri)
        assert r.status_code == 400 and "text/html" in r.headers["Content-Type"]
        assert "redirect_uri" in r.text and "Location" not in r.headers
    r = authorize(http, fake, "v" * 50, client_id="someone-else")
    assert r.status_code == 400 and "client_id" in r.text
    fake.redirect_path = "/cb"
    assert authorize(http, fake, "v" * 50, "http://127.0.0.1:1234/cb").status_code == 302


def test_redirect_uri_must_match_at_token_time(fake: FakeZoom, http: requests.Session) -> None:
    verifier = secrets.token_urlsafe(48)
    code = parse_qs(urlsplit(authorize(http, fake, verifier).headers["Location"]).query)["code"][0]
    t = http.post(f"{fake.url}/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:1/oauth/callback",
        "code_verifier": verifier, "client_id": fake.client_id}, timeout=5)
    assert t.status_code == 400 and t.json()["error"] == "invalid_grant"


def test_deny_next_authorize(fake: FakeZoom, http: requests.Session) -> None:
    fake.deny_next_authorize()
    r = authorize(http, fake, "v" * 50)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q == {"error": ["access_denied"], "state": ["st-123"]}
    assert "code" in parse_qs(urlsplit(authorize(http, fake, "v" * 50).headers["Location"]).query)


def test_refresh_rotates_and_old_refresh_token_is_refused(fake: FakeZoom, http: requests.Session) -> None:
    first = sign_in(http, fake)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": fake.client_id}
    r = http.post(f"{fake.url}/oauth/token", data=form, timeout=5)
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert fake.valid_refresh_tokens == {second["refresh_token"]}
    assert {"access_token", "token_type", "refresh_token", "expires_in", "scope", "api_url"} <= second.keys()
    reuse = http.post(f"{fake.url}/oauth/token", data=form, timeout=5)
    assert reuse.status_code == 400
    assert reuse.json() == {"reason": "Invalid Token!", "error": "invalid_grant"}
    # the new access token works; the one before the refresh no longer does
    assert http.get(f"{fake.api_base}/users/me", headers=bearer(second["access_token"]), timeout=5).ok
    old = http.get(f"{fake.api_base}/users/me", headers=bearer(first["access_token"]), timeout=5)
    assert old.status_code == 401 and old.json()["code"] == 124
    # a confidential client refreshes with Basic
    r = http.post(f"{fake.url}/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": second["refresh_token"]},
                  headers=basic(fake), timeout=5)
    assert r.status_code == 200


def test_server_to_server_token_supersedes_the_previous_one(fake: FakeZoom, http: requests.Session) -> None:
    one = s2s(http, fake)
    assert "refresh_token" not in one and one["token_type"] == "bearer" and one["api_url"] == fake.url
    me = http.get(f"{fake.api_base}/users/me", headers=bearer(one["access_token"]), timeout=5)
    assert me.json()["email"] == OWNER
    two = s2s(http, fake)
    stale = http.get(f"{fake.api_base}/users/me", headers=bearer(one["access_token"]), timeout=5)
    assert stale.status_code == 401
    assert stale.json() == {"code": 124, "message": "Invalid access token."}
    assert http.get(f"{fake.api_base}/users/me", headers=bearer(two["access_token"]), timeout=5).ok
    bad = http.post(f"{fake.url}/oauth/token", data={"grant_type": "account_credentials", "account_id": "other"},
                    headers=basic(fake), timeout=5)
    assert bad.status_code == 400
    no_basic = http.post(f"{fake.url}/oauth/token", data={"grant_type": "account_credentials",
                                                           "account_id": fake.account_id,
                                                           "client_id": fake.client_id}, timeout=5)
    assert no_basic.status_code == 400 and no_basic.json()["error"] == "invalid_client"


def test_device_authorization_grant(fake: FakeZoom, http: requests.Session) -> None:
    r = http.post(f"{fake.url}/oauth/devicecode", params={"client_id": fake.client_id}, headers=basic(fake),
                  timeout=5)
    assert r.status_code == 200
    dc = r.json()
    assert {"device_code", "user_code", "verification_uri", "expires_in", "interval"} <= dc.keys()
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": dc["device_code"]}

    def token() -> requests.Response:
        return http.post(f"{fake.url}/oauth/token", data=poll, headers=basic(fake), timeout=5)

    assert token().json()["error"] == "slow_down"  # polled at once, before the interval
    fake.advance(dc["interval"] + 5)
    assert token().json()["error"] == "authorization_pending"
    fake.approve_device(dc["user_code"], email=ALICE)
    fake.advance(dc["interval"] + 5)
    done = token()
    assert done.status_code == 200 and done.json()["refresh_token"]
    me = http.get(f"{fake.api_base}/users/me", headers=bearer(done.json()["access_token"]), timeout=5)
    assert me.json()["email"] == ALICE
    fake.advance(dc["interval"] + 5)
    assert token().json()["error"] == "invalid_grant"  # used up


def test_revoke_stops_every_token_of_that_user(fake: FakeZoom, http: requests.Session) -> None:
    a, b = sign_in(http, fake), sign_in(http, fake)
    r = http.post(f"{fake.url}/oauth/revoke", data={"token": a["access_token"], "client_id": fake.client_id},
                  timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "success"}
    for tokens in (a, b):
        me = http.get(f"{fake.api_base}/users/me", headers=bearer(tokens["access_token"]), timeout=5)
        assert me.status_code == 401
        refused = http.post(f"{fake.url}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": fake.client_id},
            timeout=5)
        assert refused.json()["error"] == "invalid_grant"
    assert fake.valid_refresh_tokens == set()


def test_revoke_app_kills_everything_but_sign_in_works_again(fake: FakeZoom, http: requests.Session) -> None:
    user, app = sign_in(http, fake), s2s(http, fake)
    fake.revoke_app()
    for token in (user["access_token"], app["access_token"]):
        assert http.get(f"{fake.api_base}/users/me", headers=bearer(token), timeout=5).status_code == 401
    r = http.post(f"{fake.url}/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": user["refresh_token"],
                                                   "client_id": fake.client_id}, timeout=5)
    assert r.json() == {"reason": "Invalid Token!", "error": "invalid_grant"}
    assert sign_in(http, fake)["access_token"]


# ------------------------------------------------------------------------------------------------- API basics

def test_expired_and_invalid_tokens(fake: FakeZoom, http: requests.Session) -> None:
    tokens = sign_in(http, fake)
    url = f"{fake.api_base}/users/me"
    q = http.get(url, params={"access_token": tokens["access_token"]}, timeout=5)
    assert q.status_code == 401 and q.json()["code"] == 124
    assert http.get(url, timeout=5).status_code == 401
    assert http.get(url, headers=bearer("not-a-token"), timeout=5).json() == {
        "code": 124, "message": "Invalid access token."}
    fake.expire_access_tokens()
    r = http.get(url, headers=bearer(tokens["access_token"]), timeout=5)
    assert r.status_code == 401 and r.json() == {"code": 124, "message": "Access token is expired."}
    fresh = sign_in(http, fake)
    assert http.get(url, headers=bearer(fresh["access_token"]), timeout=5).ok
    fake.advance(3600)
    assert http.get(url, headers=bearer(fresh["access_token"]), timeout=5).json()["message"] == (
        "Access token is expired.")


def test_rate_limits(fake: FakeZoom, http: requests.Session) -> None:
    token = s2s(http, fake)["access_token"]
    url = f"{fake.api_base}/users/me/recordings"
    fake.rate_limit_next(2)
    for _ in range(2):
        r = http.get(url, headers=bearer(token), timeout=5)
        assert r.status_code == 429 and r.json()["code"] == 429
        assert r.headers["Retry-After"] == "1" and r.headers["X-RateLimit-Type"] == "QPS"
        assert r.headers["X-RateLimit-Category"] == "Medium" and r.headers["X-RateLimit-Remaining"] == "0"
        assert int(r.headers["X-RateLimit-Limit"]) > 0
    assert http.get(url, headers=bearer(token), timeout=5).ok
    fake.rate_limit_next(type_="Daily-limit")
    r = http.get(url, headers=bearer(token), timeout=5)
    assert r.status_code == 429 and r.headers["X-RateLimit-Type"] == "Daily-limit"
    retry_at = datetime.fromisoformat(r.headers["Retry-After"].replace("Z", "+00:00"))
    assert retry_at > fake.now() and retry_at.time().hour == 0
    assert fake.list_requests == 4


def test_missing_scope(fake: FakeZoom, http: requests.Session) -> None:
    fake.scopes = {"user:read:user"}
    token = sign_in(http, fake)["access_token"]
    r = http.get(f"{fake.api_base}/users/me/recordings", headers=bearer(token), timeout=5)
    assert r.status_code == 400 and r.json()["code"] == 4711
    assert "does not contain scopes:[cloud_recording:read:list_user_recordings" in r.json()["message"]
    # a user-level token reaches another user's recordings only with the :admin scope
    fake.scopes = {"user:read:user", "cloud_recording:read:list_user_recordings"}
    token = sign_in(http, fake)["access_token"]
    assert http.get(f"{fake.api_base}/users/me/recordings", headers=bearer(token), timeout=5).ok
    other = http.get(f"{fake.api_base}/users/{quote(ALICE)}/recordings", headers=bearer(token), timeout=5)
    assert other.status_code == 400 and "cloud_recording:read:list_user_recordings:admin" in other.json()["message"]
    missing = http.get(f"{fake.api_base}/users/nobody@example.com/recordings", headers=bearer(token), timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == 1001


def test_users_paging_and_status(fake: FakeZoom, http: requests.Session) -> None:
    for i in range(6):
        fake.add_user(f"user{i}@example.com")
    fake.add_user("gone@example.com", status="inactive")
    token = s2s(http, fake)["access_token"]
    seen, params, pages = [], {"page_size": 3}, 0
    while True:
        r = http.get(f"{fake.api_base}/users", params=params, headers=bearer(token), timeout=5)
        assert r.status_code == 200
        body = r.json()
        assert body["total_records"] == 8 and body["page_count"] == 3 and body["page_size"] == 3
        seen += [u["email"] for u in body["users"]]
        pages += 1
        if not body["next_page_token"]:
            break
        params = {"page_size": 3, "next_page_token": body["next_page_token"]}
    assert pages == 3 and len(seen) == len(set(seen)) == 8 and "gone@example.com" not in seen
    inactive = http.get(f"{fake.api_base}/users", params={"status": "inactive"}, headers=bearer(token), timeout=5)
    assert [u["email"] for u in inactive.json()["users"]] == ["gone@example.com"]
    big = http.get(f"{fake.api_base}/users", params={"page_size": 1000}, headers=bearer(token), timeout=5)
    assert big.json()["page_size"] == 300
    # next_page_token expires after 15 minutes
    first = http.get(f"{fake.api_base}/users", params={"page_size": 3}, headers=bearer(token), timeout=5).json()
    fake.advance(15 * 60 + 1)
    token = s2s(http, fake)["access_token"]
    late = http.get(f"{fake.api_base}/users", params={"page_size": 3, "next_page_token": first["next_page_token"]},
                    headers=bearer(token), timeout=5)
    assert late.status_code == 400 and late.json()["code"] == 300


# ------------------------------------------------------------------------------------------------- recordings

def test_recordings_paging_and_fields(fake: FakeZoom, http: requests.Session) -> None:
    made = [fake.add_meeting(OWNER, topic=f"Class {i}", start_time=at(f"2024-05-0{i + 1}"),
                             files=[{"file_type": "MP4", "data": b"v" * (100 + i)},
                                    {"file_type": "M4A", "data": b"a" * 10},
                                    {"file_type": "TIMELINE", "data": b"{}"},
                                    {"file_type": "CC", "data": b"WEBVTT"}]) for i in range(5)]
    fake.add_meeting(ALICE, topic="Not mine", start_time=at("2024-05-02"), files=[{"file_type": "MP4", "data": b"x"}])
    token = sign_in(http, fake)["access_token"]
    got, params = [], {"from": "2024-05-01", "to": "2024-05-20", "page_size": 2}
    while True:
        r = http.get(f"{fake.api_base}/users/me/recordings", params=params, headers=bearer(token), timeout=5)
        assert r.status_code == 200
        body = r.json()
        assert body["from"] == "2024-05-01" and body["to"] == "2024-05-20" and body["total_records"] == 5
        assert body["page_count"] == 3
        got += body["meetings"]
        if not body["next_page_token"]:
            break
        params = dict(params, next_page_token=body["next_page_token"])
    assert fake.list_requests == 3
    assert [m["topic"] for m in got] == [f"Class {i}" for i in (4, 3, 2, 1, 0)]  # newest first
    m = got[-1]
    assert m == made[0]
    assert m["start_time"] == "2024-05-01T10:00:00Z" and m["timezone"] == "Europe/Madrid"
    assert m["host_id"] and isinstance(m["id"], int) and m["recording_count"] == 4
    assert m["total_size"] == 100 + 10 + 2 + 6
    files = {f["file_type"]: f for f in m["recording_files"]}
    mp4 = files["MP4"]
    assert mp4["id"] and mp4["meeting_id"] == m["uuid"] and mp4["file_extension"] == "MP4"
    assert mp4["file_size"] == 100 and mp4["status"] == "completed"
    assert mp4["recording_type"] == "shared_screen_with_speaker_view"
    assert mp4["recording_start"] == "2024-05-01T10:00:00Z" and mp4["recording_end"] == "2024-05-01T11:00:00Z"
    assert mp4["download_url"].startswith(fake.url + "/rec/download/") and mp4["play_url"]
    for kind in ("TIMELINE", "CC"):  # as Zoom documents: no id, status, file_size, recording_type, play_url
        assert not {"id", "status", "file_size", "recording_type", "play_url"} & files[kind].keys()
        assert files[kind]["download_url"] and files[kind]["meeting_id"] == m["uuid"]
    by_email = http.get(f"{fake.api_base}/users/{quote(OWNER)}/recordings", params={
        "from": "2024-05-01", "to": "2024-05-20", "page_size": 300}, headers=bearer(token), timeout=5)
    assert len(by_email.json()["meetings"]) == 5


def test_one_month_clamp_moves_from_silently(fake: FakeZoom, http: requests.Session) -> None:
    fake.add_meeting(OWNER, topic="Old", start_time=at("2024-01-20"), files=[{"file_type": "MP4", "data": b"1"}])
    fake.add_meeting(OWNER, topic="Edge", start_time=at("2024-02-15"), files=[{"file_type": "MP4", "data": b"2"}])
    fake.add_meeting(OWNER, topic="New", start_time=at("2024-03-10"), files=[{"file_type": "MP4", "data": b"3"}])
    token = s2s(http, fake)["access_token"]
    r = http.get(f"{fake.api_base}/users/me/recordings", params={"from": "2024-01-01", "to": "2024-03-15"},
                 headers=bearer(token), timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["from"] == "2024-02-15" and body["to"] == "2024-03-15"
    assert [m["topic"] for m in body["meetings"]] == ["New", "Edge"]
    assert month_before(date(2024, 3, 31)) == date(2024, 2, 29) and month_before(date(2018, 4, 9)) == date(2018, 3, 9)
    windowed = http.get(f"{fake.api_base}/users/me/recordings", params={"from": "2024-01-01", "to": "2024-01-31"},
                        headers=bearer(token), timeout=5).json()
    assert windowed["from"] == "2024-01-01" and [m["topic"] for m in windowed["meetings"]] == ["Old"]


def test_processing_files_then_finished(fake: FakeZoom, http: requests.Session) -> None:
    m = fake.add_meeting(OWNER, topic="Fresh", start_time=at("2024-06-01"), files=[
        {"file_type": "MP4", "data": b"m" * 50, "status": "processing"},
        {"file_type": "CHAT", "data": b"hi"},
        {"file_type": "CC", "data": b"WEBVTT", "status": "processing"}])
    token = s2s(http, fake)["access_token"]

    def listed() -> dict:
        r = http.get(f"{fake.api_base}/users/me/recordings", params={"from": "2024-06-01", "to": "2024-06-02"},
                     headers=bearer(token), timeout=5)
        return r.json()["meetings"][0]

    now = listed()
    assert [f.get("file_type") for f in now["recording_files"]] == ["", "CHAT"]  # CC not listed yet
    proc = now["recording_files"][0]
    assert proc["status"] == "processing" and proc["id"] and proc["file_size"] == 0
    assert proc["recording_end"] == "" and proc["file_extension"] == ""
    assert now["recording_count"] == 1 and now["total_size"] == 2
    dl = http.get(proc["download_url"], headers=bearer(token), timeout=5)
    assert dl.status_code == 404
    fake.finish_processing(m["uuid"])
    later = listed()
    kinds = {f["file_type"]: f for f in later["recording_files"]}
    assert set(kinds) == {"MP4", "CHAT", "CC"} and kinds["MP4"]["file_size"] == 50
    assert kinds["MP4"]["id"] == proc["id"] and later["recording_count"] == 3


def test_trash_listing_ignores_dates_and_has_no_download_url(fake: FakeZoom, http: requests.Session) -> None:
    fake.add_meeting(OWNER, topic="Kept", start_time=at("2024-04-01"), files=[{"file_type": "MP4", "data": b"k"}])
    fake.add_meeting(OWNER, topic="Binned", start_time=at("2023-01-01"), trashed=True,
                     files=[{"file_type": "MP4", "data": b"b"}])
    token = s2s(http, fake)["access_token"]
    r = http.get(f"{fake.api_base}/users/me/recordings", params={"trash": "true", "from": "2024-04-01",
                                                                  "to": "2024-04-02"}, headers=bearer(token), timeout=5)
    meetings = r.json()["meetings"]
    assert [m["topic"] for m in meetings] == ["Binned"]
    f = meetings[0]["recording_files"][0]
    assert "download_url" not in f and f["deleted_time"]
    normal = http.get(f"{fake.api_base}/users/me/recordings", params={"from": "2022-12-20", "to": "2023-01-10"},
                      headers=bearer(token), timeout=5)
    assert normal.json()["meetings"] == []


def test_delete_needs_double_encoding_for_awkward_uuids(fake: FakeZoom, http: requests.Session) -> None:
    odd = fake.add_meeting(OWNER, topic="Odd", uuid="/ab//cd+ef==", start_time=at("2024-07-01"),
                           files=[{"file_type": "MP4", "data": b"o"}])
    plain = fake.add_meeting(OWNER, topic="Plain", uuid="Q2xhc3NSb29tMDEyMzQ1Ng==", start_time=at("2024-07-02"),
                             meeting_id=81234567890, files=[{"file_type": "MP4", "data": b"p"}])
    token = s2s(http, fake)["access_token"]

    def delete(raw_id: str, action: str | None = None) -> requests.Response:
        query = f"?{urlencode({'action': action})}" if action else ""
        return http.delete(f"{fake.api_base}/meetings/{raw_id}/recordings{query}", headers=bearer(token), timeout=5)

    once = delete(quote(odd["uuid"], safe=""))
    assert once.status_code == 404 and once.json()["code"] == 3301
    assert delete(zoom_double_encode(odd["uuid"])).status_code == 204
    assert fake.trashed == {odd["uuid"]}
    assert delete(zoom_double_encode(odd["uuid"])).status_code == 404  # already in the trash
    assert delete(zoom_double_encode(odd["uuid"]), "delete").status_code == 204
    assert fake.deleted == {odd["uuid"]}
    assert delete(quote(plain["uuid"], safe=""), "delete").status_code == 204  # single encoding does here
    inner = fake.add_meeting(OWNER, topic="Inner", uuid="YLgF4NZlCIKOEXv/izLO7g==", start_time=at("2024-07-03"),
                             files=[{"file_type": "MP4", "data": b"i"}])
    assert delete(quote(inner["uuid"], safe="")).status_code == 204  # one '/' inside: once is enough
    assert inner["uuid"] in fake.trashed
    assert delete("81234567890").status_code == 404  # gone already
    assert delete("99999999999").json() == {"code": 3301, "message": "There is no recording for this meeting."}


def test_delete_by_numeric_id_takes_latest_occurrence(fake: FakeZoom, http: requests.Session) -> None:
    early = fake.add_meeting(OWNER, topic="Weekly", meeting_id=81111111111, start_time=at("2024-07-01"),
                             files=[{"file_type": "MP4", "data": b"1"}])
    late = fake.add_meeting(OWNER, topic="Weekly", meeting_id=81111111111, start_time=at("2024-07-08"),
                            files=[{"file_type": "MP4", "data": b"2"}])
    token = s2s(http, fake)["access_token"]
    r = http.delete(f"{fake.api_base}/meetings/81111111111/recordings", headers=bearer(token), timeout=5)
    assert r.status_code == 204 and fake.trashed == {late["uuid"]} and early["uuid"] not in fake.trashed


# ------------------------------------------------------------------------------------------------- downloads

def test_download_redirects_to_cdn_without_the_token_and_supports_range(fake: FakeZoom,
                                                                          http: requests.Session) -> None:
    data = bytes(range(256)) * 40
    m = fake.add_meeting(OWNER, topic="Lecture", start_time=at("2024-08-01"),
                         files=[{"file_type": "MP4", "data": data}])
    url = m["recording_files"][0]["download_url"]
    token = sign_in(http, fake)["access_token"]
    first = http.get(url, headers=bearer(token), allow_redirects=False, timeout=5)
    assert first.status_code == 302 and first.headers["Location"].startswith(fake.cdn_url + "/")
    full = http.get(url, headers=bearer(token), timeout=5)
    assert full.status_code == 200 and full.content == data
    assert full.headers["Content-Type"] == "video/mp4" and full.headers["Accept-Ranges"] == "bytes"
    assert full.history[0].status_code == 302
    part = http.get(url, headers={**bearer(token), "Range": "bytes=1000-"}, timeout=5)
    assert part.status_code == 206 and part.content == data[1000:]
    assert part.headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    tail = http.get(first.headers["Location"], headers={"Range": "bytes=-10"}, timeout=5)
    assert tail.status_code == 206 and tail.content == data[-10:]
    beyond = http.get(first.headers["Location"], headers={"Range": f"bytes={len(data)}-"}, timeout=5)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    assert len(fake.cdn_requests) == 4
    assert fake.cdn_saw_authorization == []  # requests dropped the Bearer header on the port change
    assert http.get(url, timeout=5).status_code == 401
    forged = first.headers["Location"].split("fid=")[0] + "fid=forged"
    assert http.get(forged, timeout=5).status_code == 403


def test_cdn_records_a_leaked_authorization_header(fake: FakeZoom, http: requests.Session) -> None:
    m = fake.add_meeting(OWNER, topic="Leak", start_time=at("2024-08-01"), files=[{"file_type": "M4A", "data": b"a"}])
    token = s2s(http, fake)["access_token"]
    loc = http.get(m["recording_files"][0]["download_url"], headers=bearer(token), allow_redirects=False,
                   timeout=5).headers["Location"]
    assert http.get(loc, headers=bearer(token), timeout=5).content == b"a"
    assert fake.cdn_saw_authorization == [f"Bearer {token}"]


def test_download_faults(fake: FakeZoom, http: requests.Session) -> None:
    data = b"0123456789" * 100
    m = fake.add_meeting(OWNER, topic="Faulty", start_time=at("2024-08-02"), files=[{"file_type": "MP4", "data": data}])
    url = m["recording_files"][0]["download_url"]
    token = s2s(http, fake)["access_token"]

    fake.fail_next_download("truncate")
    short = http.get(url, headers=bearer(token), timeout=5)
    assert short.status_code == 200 and short.content == data[:500] and int(short.headers["Content-Length"]) == 500

    fake.fail_next_download("html")
    page = http.get(url, headers=bearer(token), timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html") and not page.history

    fake.fail_next_download("json124")
    j = http.get(url, headers=bearer(token), timeout=5)
    assert j.status_code == 200 and j.content == JSON124_BODY and len(j.content) == 59
    assert json.loads(j.content)["errorCode"] == 124

    fake.fail_next_download("drop")
    with pytest.raises(requests.exceptions.RequestException):
        http.get(url, headers=bearer(token), timeout=5)

    fake.fail_next_download("truncate")
    r = http.get(url, headers={**bearer(token), "Range": "bytes=600-"}, timeout=5)
    assert r.status_code == 206 and r.content == data[600:800]
    assert r.headers["Content-Range"] == "bytes 600-799/1000"

    assert http.get(url, headers=bearer(token), timeout=5).content == data  # faults used up


def test_download_with_expired_token_and_of_trashed_file(fake: FakeZoom, http: requests.Session) -> None:
    m = fake.add_meeting(OWNER, topic="T", start_time=at("2024-08-03"), files=[{"file_type": "MP4", "data": b"t"}])
    url = m["recording_files"][0]["download_url"]
    token = s2s(http, fake)["access_token"]
    fake.expire_access_tokens()
    r = http.get(url, headers=bearer(token), timeout=5)
    assert r.status_code == 401 and r.content == JSON124_BODY
    token = s2s(http, fake)["access_token"]
    assert http.delete(f"{fake.api_base}/meetings/{quote(m['uuid'], safe='')}/recordings", headers=bearer(token),
                       timeout=5).status_code == 204
    assert http.get(url, headers=bearer(token), timeout=5).status_code == 404


def test_fake_stops_cleanly_as_context_manager() -> None:
    with FakeZoom() as f:
        assert requests.get(f"{f.url}/v2/users/me", timeout=5).status_code == 401
        assert f.url != f.cdn_url
    assert fake_threads() == []


def test_outage_fault_cuts_the_download_and_takes_the_fake_down_until_resumed(fake: FakeZoom,
                                                                              http: requests.Session) -> None:
    data = b"x" * 5000
    m = fake.add_meeting(OWNER, topic="Outage", start_time=at("2024-08-04"), files=[{"file_type": "MP4", "data": data}])
    url = m["recording_files"][0]["download_url"]
    token = s2s(http, fake)["access_token"]
    main, cdn = fake.url, fake.cdn_url
    fake.fail_next_download("outage")
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(url, headers=bearer(token), timeout=5)
    fake._join_outage()
    assert not fake.running
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{main}/v2/users/me", timeout=5)  # refused on both ports
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(cdn, timeout=5)
    fake.resume()
    assert fake.running and (fake.url, fake.cdn_url) == (main, cdn)  # back on the same ports, same state
    assert requests.get(url, headers=bearer(token), timeout=5).content == data


def test_tokens_are_jwt_shaped_and_of_real_size(fake: FakeZoom, http: requests.Session) -> None:
    answer = sign_in(http, fake)
    for token in (answer["access_token"], answer["refresh_token"]):
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"] == "HS512"
        assert claims["exp"] - claims["iat"] == fake.access_token_ttl and signature
        assert 600 <= len(token) <= 750


def test_on_users_listed_lets_a_user_change_status_between_listings(fake: FakeZoom, http: requests.Session) -> None:
    token = s2s(http, fake)["access_token"]
    seen: list[str] = []

    def deactivate(status: str) -> None:
        seen.append(status)
        if status == "active":
            fake.set_user_status(ALICE, "inactive")

    fake.on_users_listed = deactivate
    active = http.get(f"{fake.api_base}/users", params={"status": "active"}, headers=bearer(token), timeout=5).json()
    inactive = http.get(f"{fake.api_base}/users", params={"status": "inactive"}, headers=bearer(token),
                        timeout=5).json()
    assert ALICE in [u["email"] for u in active["users"]] and ALICE in [u["email"] for u in inactive["users"]]
    assert seen == ["active", "inactive"]
