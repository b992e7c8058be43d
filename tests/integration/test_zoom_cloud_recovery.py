"""The Zoom cloud sync inside a running engine (in-process, real threads, the Zoom stand-in on loopback, a real
local backup folder): it survives Zoom going away in the middle of a download, and a locked keyring, and
carries on by itself once they are back - without a restart or a change of settings."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import keyring
import pytest
import requests
from fakes.fake_keyrings import LockableKeyring
from fakes.zoom_api import FakeZoom
from helpers import backed_up_files, wait_for

from zoomwatch.app import Engine, cloud_loop
from zoomwatch.sources.zoom import oauth

USER = "ana@example.com"


@pytest.fixture
def zoom() -> Iterator[FakeZoom]:
    fake = FakeZoom()
    fake.start()
    fake.add_user(USER, first_name="Ana", last_name="Lima")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def memory_keyring() -> Iterator[LockableKeyring]:
    previous = keyring.get_keyring()
    backend = LockableKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def zconfig(app, zoom, memory_keyring, monkeypatch):
    """Settings for a user-mode cloud sync, signed in through the real PKCE flow; retries after 1-2 s."""
    since = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    for key, value in (("zoom.mode", "user"), ("zoom.oauth_base", zoom.url), ("zoom.api_base", zoom.api_base),
                       ("zoom.redirect_port", "0"), ("zoom.since", since), ("zoom.sync_interval_minutes", "60")):
        app.set(key, value)
    monkeypatch.setenv("ZOOM_CLIENT_ID", zoom.client_id)
    # the cloud thread reads CLOUD_RETRY_SECONDS in zoomwatch/app/cloud_loop.py: patched anywhere else it does nothing
    assert "CLOUD_RETRY_SECONDS" in cloud_loop.cloud_retry_delay.__code__.co_names
    monkeypatch.setattr(cloud_loop, "CLOUD_RETRY_SECONDS", (1.0, 2.0))

    def browser(url: str) -> None:  # what a browser does after the user approves: follow the redirects
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 30}, daemon=True).start()

    tokens = oauth.login(zoom.url, zoom.client_id, None, 0, browser, timeout=30)
    oauth.TokenStore().save(tokens)
    return app.load()


def _bytes(seed: str, size: int) -> bytes:
    return (hashlib.sha256(seed.encode()).digest() * (size // 32 + 1))[:size]


def add_meetings(zoom: FakeZoom) -> dict[str, bytes]:
    """Two meetings of two files each; returns the file contents by seed."""
    contents = {}
    for n in range(2):
        video, chat = _bytes(f"video{n}", 2_000_000), f"10:00 hello {n}\n".encode()
        contents[f"video{n}"], contents[f"chat{n}"] = video, chat
        zoom.add_meeting(USER, topic=f"Lesson {n}", start_time=datetime.now(timezone.utc) - timedelta(days=n + 1),
                         files=[{"file_type": "MP4", "data": video}, {"file_type": "CHAT", "data": chat}])
    return contents


def cloud_thread_alive() -> bool:
    return any(t.name == "zoomwatch-cloud" and t.is_alive() for t in threading.enumerate())


def all_verified(app, engine: Engine, contents: dict[str, bytes]) -> bool:
    files = {k: p for k, p in backed_up_files(app.backup).items() if "/cloud_" in k}
    return (engine.catalog.counts(engine.destination.id).get("verified", 0) == len(contents)
            and sorted(p.read_bytes() for p in files.values()) == sorted(contents.values()))


def test_zoom_going_away_mid_download_is_shown_and_the_sync_finishes_when_it_is_back(app, zoom, zconfig):
    contents = add_meetings(zoom)
    zoom.fail_next_download("outage")  # the first download's connection is cut, and Zoom stays down
    engine = Engine(zconfig)
    engine.start()
    try:
        problem = wait_for(lambda: (p := engine.snapshot().problem) and p.title == "Zoom cloud sync failed" and p,
                           timeout=120, what="the failed cloud sync shown on the board")
        assert "retrying at" in problem.message
        assert not zoom.running
        assert cloud_thread_alive()
        assert engine.snapshot().status == "error"
        zoom.resume()
        wait_for(lambda: all_verified(app, engine, contents), timeout=180,
                 what="every cloud file verified in the backup folder after Zoom came back")
        wait_for(lambda: engine.snapshot().problem is None, timeout=30, what="the problem cleared")
        assert cloud_thread_alive()
    finally:
        engine.stop()
        engine.close()


def test_a_locked_keyring_is_not_signed_out_and_the_sync_resumes_once_it_is_unlocked(app, zoom, zconfig,
                                                                                      memory_keyring):
    contents = add_meetings(zoom)
    memory_keyring.locked = True
    engine = Engine(zconfig)
    engine.start()
    try:
        problem = wait_for(lambda: engine.snapshot().problem, timeout=60, what="a problem on the board")
        assert problem.title == "Keyring is locked", problem
        assert "unlock it" in problem.message and "retries" in problem.message
        assert engine.snapshot().summary() == "Keyring is locked — unlock it; zoomwatch retries"
        refused = memory_keyring.refused
        wait_for(lambda: memory_keyring.refused > refused, timeout=60, what="zoomwatch trying the keyring again")
        assert cloud_thread_alive()
        memory_keyring.locked = False  # the user unlocks the keychain: no settings change, no restart
        wait_for(lambda: all_verified(app, engine, contents), timeout=180,
                 what="every cloud file verified once the keyring was unlocked")
        assert engine.snapshot().problem is None
    finally:
        engine.stop()
        engine.close()
    assert oauth.TokenStore().load() is not None  # the sign-in was kept, not cleared as "signed out"


def test_stop_during_a_cloud_sync_waiting_out_a_rate_limit_returns_at_once(app, zoom, zconfig):
    add_meetings(zoom)
    zoom.rate_limit_next(1000, retry_after="30")  # Zoom asks to wait 30 s before each call
    engine = Engine(zconfig)
    engine.start()
    try:
        wait_for(lambda: any(r.status == 429 for r in list(zoom.request_log)), timeout=60,
                 what="the cloud sync waiting out a rate limit")
        started = time.monotonic()
        engine.stop()
        took = time.monotonic() - started
    finally:
        engine.stop()
        engine.close()
    assert took < 10, f"stop took {took:.1f} s"
    assert not cloud_thread_alive()
