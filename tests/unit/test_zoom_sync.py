"""One cloud sync pass in-process (CloudSync, a real catalog, the Zoom stand-in on loopback), and the token
handling under it: users listed twice, failures recovered within the sync, short-lived Server-to-Server
tokens, a spool folder that cannot be written, and the sign-in stored in parts in the keyring."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import keyring
import pytest
from fakes.fake_keyrings import MemoryKeyring
from fakes.zoom_api import FakeZoom

from zoomwatch import secrets
from zoomwatch.core.catalog import Catalog
from zoomwatch.sources.zoom import accounts, oauth
from zoomwatch.sources.zoom.api import ZoomApi
from zoomwatch.sources.zoom.cloud import CloudSync

ANA, BO = "ana@example.com", "bo@example.com"


@pytest.fixture
def zoom() -> Iterator[FakeZoom]:
    fake = FakeZoom().start()
    fake.add_user(ANA)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def s2s_config(app, zoom, memory_keyring, monkeypatch):
    since = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    for key, value in (("zoom.mode", "s2s"), ("zoom.oauth_base", zoom.url), ("zoom.api_base", zoom.api_base),
                       ("zoom.since", since)):
        app.set(key, value)
    monkeypatch.setenv("ZOOM_ACCOUNT_ID", zoom.account_id)
    monkeypatch.setenv("ZOOM_S2S_CLIENT_ID", zoom.client_id)
    monkeypatch.setenv("ZOOM_S2S_CLIENT_SECRET", zoom.client_secret)
    return app.load()


@pytest.fixture
def catalog(app) -> Iterator[Catalog]:
    cat = Catalog(app.paths.catalog_file)
    try:
        yield cat
    finally:
        cat.close()


def add_meeting(zoom: FakeZoom, user: str, topic: str) -> None:
    data = (hashlib.sha256(topic.encode()).digest() * 20_000)[:600_000]
    zoom.add_meeting(user, topic=topic, start_time=datetime.now(timezone.utc) - timedelta(days=2),
                     files=[{"file_type": "MP4", "data": data}, {"file_type": "CHAT", "data": b"10:00 hi\n"}])


def recordings_listings(zoom: FakeZoom, user: str) -> int:
    return sum(1 for r in zoom.request_log if r.path.split("?")[0].endswith(f"/users/{user}/recordings"))


def test_a_user_in_both_the_active_and_the_inactive_listing_is_synced_once(zoom, s2s_config, catalog, app):
    zoom.add_user(BO)
    add_meeting(zoom, ANA, "Ana's class")
    add_meeting(zoom, BO, "Bo's class")

    def deactivate_bo_between_the_listings(status: str) -> None:
        if status == "active":
            zoom.set_user_status(BO, "inactive")  # Bo is deactivated while zoomwatch lists the users

    zoom.on_users_listed = deactivate_bo_between_the_listings
    sync = CloudSync(s2s_config, catalog, "dest", accounts.sync_targets(s2s_config), spool=app.paths.spool_dir)
    result = sync.sync()
    assert result.failures == []
    assert result.meetings == 2 and result.files == 4 and result.queued == 4
    assert recordings_listings(zoom, BO) == 1  # one 30-day window, listed once
    assert recordings_listings(zoom, ANA) == 1


def test_a_failure_recovered_later_in_the_same_sync_is_not_reported(zoom, s2s_config, catalog, app):
    add_meeting(zoom, ANA, "Ana's class")
    api = next(accounts.s2s_apis(s2s_config))[1]

    def the_same_user_twice() -> Iterator[tuple[str, ZoomApi]]:
        yield ANA, api  # e.g. listed under two sub-accounts, or once by e-mail and once by id
        yield ANA, api

    zoom.fail_next_download("html")  # the first download gets Zoom's sign-in page instead of the recording
    sync = CloudSync(s2s_config, catalog, "dest", the_same_user_twice, spool=app.paths.spool_dir)
    result = sync.sync()
    assert result.queued == 2  # both files: the one that failed the first time came with the second listing
    assert result.failures == []
    assert (app.paths.spool_dir / "sync-state.json").exists()  # a complete sync: the next one starts from here


def test_a_failure_still_failing_at_the_end_is_reported(zoom, s2s_config, catalog, app):
    add_meeting(zoom, ANA, "Ana's class")
    zoom.fail_next_download("html")
    sync = CloudSync(s2s_config, catalog, "dest", accounts.sync_targets(s2s_config), spool=app.paths.spool_dir)
    result = sync.sync()
    assert len(result.failures) == 1 and "error page" in result.failures[0]
    assert not (app.paths.spool_dir / "sync-state.json").exists()


def test_a_spool_folder_that_cannot_be_written_is_a_reported_failure_not_a_crash(zoom, s2s_config, catalog, app):
    add_meeting(zoom, ANA, "Ana's class")
    spool = app.paths.spool_dir
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_text("not a folder")  # every download's folder is below a file: ENOTDIR
    sync = CloudSync(s2s_config, catalog, "dest", accounts.sync_targets(s2s_config), spool=spool,
                     state_file=app.paths.config_dir / "sync-state.json")
    result = sync.sync()
    assert len(result.failures) == 2
    assert all("Cannot write a Zoom download to the spool folder" in f for f in result.failures)


def test_short_lived_server_to_server_tokens_are_not_fetched_for_every_call(memory_keyring):
    zoom = FakeZoom(access_token_ttl=30).start()  # a lifetime below the old fixed 60 s margin
    try:
        zoom.add_user(ANA)
        now = [time.time()]
        auth = oauth.S2SAuth(zoom.url, zoom.account_id, zoom.client_id, zoom.client_secret, clock=lambda: now[0])
        api = ZoomApi(zoom.api_base, auth)
        for _ in range(10):
            assert api.me()["email"] == ANA
        assert zoom.token_requests == 1
        now[0] += 10  # a third of the lifetime: the token is still used
        api.me()
        assert zoom.token_requests == 1
        now[0] += 6  # past half of it: renewed before it can expire in the middle of a call
        api.me()
        assert zoom.token_requests == 2
    finally:
        zoom.stop()


def test_renewal_margin_is_a_minute_for_long_tokens_and_half_the_lifetime_for_short_ones():
    assert oauth.renew_after(3599) == 3539
    assert oauth.renew_after(30) == 15
    assert oauth.renew_after(120) == 60


def tokens(n: int) -> oauth.TokenSet:
    return oauth.TokenSet(access_token=f"eyJ{n}." + "a" * 650, refresh_token=f"eyJ{n}." + "r" * 650,
                          expires_at=2e9 + n, scope="user:read:user cloud_recording:read:list_user_recordings",
                          api_url="https://api.zoom.us")


def test_tokens_are_stored_in_parts_each_small_enough_for_windows(memory_keyring):
    store = oauth.TokenStore()
    store.save(tokens(1))
    store.save(tokens(2))
    loaded = store.load()
    assert loaded is not None and (loaded.access_token, loaded.refresh_token) == (tokens(2).access_token,
                                                                                   tokens(2).refresh_token)
    assert loaded.scope == tokens(2).scope
    values = {name: v for (service, name), v in memory_keyring.values.items() if service == secrets.SERVICE}
    assert len(values) >= 3 and all(len(v.encode("utf-16-le")) <= 2560 for v in values.values())
    assert not any(name.startswith("zoom.user_tokens.a.") for name in values)  # the old set was removed
    store.clear()
    assert store.load() is None and memory_keyring.values == {}


def test_a_save_killed_before_its_switch_leaves_the_previous_tokens_whole(memory_keyring, monkeypatch):
    store = oauth.TokenStore()
    store.save(tokens(1))

    def refuse_the_index(name: str, value: str, changed_stamp: object = None) -> None:
        if name == oauth.TOKENS_SECRET:
            raise SystemExit("killed")  # the process dies after writing the new parts, before the index
        keyring.set_password(secrets.SERVICE, name, value)

    monkeypatch.setattr(secrets, "set_secret", refuse_the_index)
    with pytest.raises(SystemExit):
        store.save(tokens(2))
    monkeypatch.undo()
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == tokens(1).refresh_token
    store.save(tokens(3))
    assert store.load().refresh_token == tokens(3).refresh_token


def test_a_token_set_stored_in_one_entry_by_an_earlier_version_still_loads(memory_keyring):
    import json
    from dataclasses import asdict

    keyring.set_password(secrets.SERVICE, oauth.TOKENS_SECRET, json.dumps(asdict(tokens(7))))
    loaded = oauth.TokenStore().load()
    assert loaded is not None and loaded.refresh_token == tokens(7).refresh_token


def test_a_stored_sign_in_is_read_with_one_keyring_read_while_it_is_unchanged(memory_keyring, monkeypatch):
    writer, reader = oauth.TokenStore(), oauth.TokenStore()  # e.g. `zoomwatch login` and the running engine
    writer.save(tokens(1))
    reads: list[str] = []
    real_get = memory_keyring.get_password
    monkeypatch.setattr(memory_keyring, "get_password", lambda s, n: reads.append(n) or real_get(s, n))
    assert reader.load().refresh_token == tokens(1).refresh_token
    first = len(reads)
    assert first >= 3  # the index and its parts
    for _ in range(5):
        assert reader.load().refresh_token == tokens(1).refresh_token
    assert len(reads) == first + 5  # the index only
    writer.save(tokens(2))  # a new sign-in elsewhere is seen at once
    assert reader.load().refresh_token == tokens(2).refresh_token
