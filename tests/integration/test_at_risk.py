"""Cloud recordings Zoom will soon delete (its listing's auto_delete_date) and cloud recordings moved to Zoom's
trash after backup: in-process engines (real catalog, real backup folder, Server-to-Server sign-in) against the
Zoom stand-in on loopback, with a fake clock for the grace period. `zoomwatch status` runs as a subprocess."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import keyring
import pytest
from fakes.fake_keyrings import MemoryKeyring
from fakes.zoom_api import DEFAULT_SCOPES, SCOPE_DELETE_RECORDINGS, FakeZoom

from zoomwatch.app import Engine, ProblemKey
from zoomwatch.core.catalog import Catalog
from zoomwatch.sources.zoom import accounts
from zoomwatch.sources.zoom.cloud import CloudSync

ANA = "ana@example.com"
DAY = 86400.0


@pytest.fixture
def zoom() -> Iterator[FakeZoom]:
    fake = FakeZoom().start()
    fake.add_user(ANA)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def s2s(app, zoom, monkeypatch):
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    since = (dt.date.today() - dt.timedelta(days=40)).isoformat()
    for key, value in (("zoom.mode", "s2s"), ("zoom.oauth_base", zoom.url), ("zoom.api_base", zoom.api_base),
                       ("zoom.since", since)):
        app.set(key, value)
    monkeypatch.setenv("ZOOM_ACCOUNT_ID", zoom.account_id)
    monkeypatch.setenv("ZOOM_S2S_CLIENT_ID", zoom.client_id)
    monkeypatch.setenv("ZOOM_S2S_CLIENT_SECRET", zoom.client_secret)
    try:
        yield app
    finally:
        keyring.set_keyring(previous)


class Clock:
    """Real time plus an offset a test moves forward (days of grace without waiting them)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def add(zoom: FakeZoom, topic: str, *, days_ago: int = 2, deleted_in: int | None = None, processing: bool = False,
        size: int = 200_000) -> dict:
    data = (hashlib.sha256(topic.encode()).digest() * (size // 32 + 1))[:size]
    day = None if deleted_in is None else dt.date.today() + dt.timedelta(days=deleted_in)
    files = [{"file_type": "MP4", "data": data}, {"file_type": "CHAT", "data": f"10:00 {topic}\n".encode()}]
    if processing:
        files.append({"file_type": "TRANSCRIPT", "data": b"WEBVTT\n", "status": "processing"})
    return zoom.add_meeting(ANA, topic=topic, start_time=datetime.now(timezone.utc) - timedelta(days=days_ago),
                            files=files, auto_delete_date=day)


def engine(app, clock=time.time) -> Engine:
    return Engine(app.load(), clock=clock)


def once(app, clock=time.time) -> Engine:
    """One `zoomwatch sync` in-process: a fresh engine syncs, uploads, verifies, and is closed (its board and
    journal stay readable)."""
    eng = engine(app, clock)
    try:
        eng.run_cloud_once()
    finally:
        eng.close()
    return eng


def fetched_meeting_ids(zoom: FakeZoom) -> list[int]:
    """Meeting ids in the order their files were downloaded (the CDN path carries the meeting id)."""
    order: list[int] = []
    for request in zoom.cdn_requests:
        meeting_id = int(request["path"].split("/")[5])
        if meeting_id not in order:
            order.append(meeting_id)
    return order


def test_listing_carries_the_scheduled_deletion_as_zoom_documents_it(zoom):
    soon = add(zoom, "Soon", deleted_in=3)
    never = add(zoom, "Never")
    in_three_days = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert soon["auto_delete"] is True and soon["auto_delete_date"] == in_three_days
    assert never["auto_delete"] is False and "auto_delete_date" not in never


def test_the_meetings_zoom_deletes_soonest_are_fetched_first(s2s, zoom):
    days = [40, None, 3, 25, None, 1, 12, 6, None, 30, 2, 18, None, 9, 60, 4, None, 15, 8, 21]
    meetings = [add(zoom, f"Class {n}", days_ago=1 + n % 9, deleted_in=d) for n, d in enumerate(days)]
    catalog = engine(s2s).catalog
    try:
        sync = CloudSync(s2s.load(), catalog, "dest", accounts.sync_targets(s2s.load()), spool=s2s.paths.spool_dir)
        result = sync.sync()
    finally:
        catalog.close()
    assert result.failures == []
    scheduled = sorted((m for m in meetings if m["auto_delete"]), key=lambda m: m["auto_delete_date"])
    by_uuid = {m["uuid"]: m for m in meetings}
    assert result.fetch_order[:len(scheduled)] == [m["uuid"] for m in scheduled]
    assert all(not by_uuid[u]["auto_delete"] for u in result.fetch_order[len(scheduled):])
    assert fetched_meeting_ids(zoom) == [by_uuid[u]["id"] for u in result.fetch_order]  # the downloads did too


def test_a_recording_zoom_deletes_soon_and_not_safe_is_one_problem_listed_by_status_until_backed_up(s2s, zoom):
    at_risk = add(zoom, "Board meeting", deleted_in=3, processing=True)  # its transcript is not ready yet
    add(zoom, "Later", deleted_in=30, processing=True)  # deleted, but not within zoom.warn_days (7)
    add(zoom, "Safe soon", deleted_in=2)  # backed up in this very sync: no problem left
    when = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    eng = engine(s2s)
    try:
        eng.run_cloud_once()
        problems = [p for p in eng.snapshot().problems if p.key.startswith("at_risk:")]
        assert [p.key for p in problems] == [f"at_risk:{at_risk['uuid']}"]
        assert "Board meeting" in problems[0].message and when in problems[0].message
        assert eng._cloud_pass(eng.cloud, 900.0, 0) == 900.0  # the running engine's next sync finds it again:
        again = [p for p in eng.snapshot().problems if p.key.startswith("at_risk:")]
        assert again == problems  # the same problem (same time): not a new one, so notified once
    finally:
        eng.close()
    if True:
        status = subprocess.run([sys.executable, "-m", "zoomwatch", "status"], env=s2s.env, capture_output=True,
                                text=True, timeout=120)
        assert "at risk: Board meeting" in status.stdout and when in status.stdout, status.stdout
        as_json = json.loads(subprocess.run([sys.executable, "-m", "zoomwatch", "status", "--json"], env=s2s.env,
                                            capture_output=True, text=True, timeout=120).stdout)
        assert [a["delete_on"] for a in as_json["at_risk"]] == [when]
        zoom.finish_processing(at_risk["uuid"])
        eng = once(s2s)  # the transcript is fetched and verified: no longer at risk
        assert not [p for p in eng.snapshot().problems if p.key.startswith("at_risk:")]
    status = subprocess.run([sys.executable, "-m", "zoomwatch", "status"], env=s2s.env, capture_output=True,
                            text=True, timeout=120)
    assert "at risk" not in status.stdout


def test_trash_after_days_waits_for_the_grace_period_then_trashes_never_deletes(s2s, zoom):
    s2s.set("zoom.trash_after_backup", "true")
    s2s.set("zoom.trash_after_days", "30")
    recorded = add(zoom, "Weekly sync")
    clock = Clock()
    once(s2s, clock)
    once(s2s, clock)
    assert recorded["uuid"] not in zoom.trashed  # verified, but the grace period runs
    clock.offset = 29 * DAY
    once(s2s, clock)
    assert recorded["uuid"] not in zoom.trashed
    clock.offset = 31 * DAY
    once(s2s, clock)
    assert recorded["uuid"] in zoom.trashed and recorded["uuid"] not in zoom.deleted
    history = subprocess.run([sys.executable, "-m", "zoomwatch", "cleanup", "--history"], env=s2s.env,
                             capture_output=True, text=True, timeout=120)
    assert "Zoom's trash" in history.stdout and "Weekly sync" in history.stdout, history.stdout


def test_an_unreachable_destination_or_an_altered_backup_trashes_nothing_and_says_why(s2s, zoom):
    s2s.set("zoom.trash_after_backup", "true")
    kept = add(zoom, "Kept")
    altered = add(zoom, "Altered")
    eng = once(s2s)  # fetched and verified
    aside = s2s.backup.with_name("backup-away")
    s2s.backup.rename(aside)  # the backup drive unplugged
    eng = once(s2s)
    assert zoom.trashed == set()
    problem = next(p for p in eng.snapshot().problems if p.key == ProblemKey.CLEANUP)
    assert "could not check" in problem.message and str(s2s.backup) in problem.message
    aside.rename(s2s.backup)
    catalog = Catalog(s2s.paths.catalog_file)
    mp4 = next(r for r in catalog.rows(eng.destination.id) if r.info and r.info.title == "Altered"
               and r.remote_key.endswith(".mp4"))
    catalog.close()
    target = s2s.backup / mp4.remote_key
    target.write_bytes(b"x" * target.stat().st_size)  # same size, other bytes, behind zoomwatch's back
    once(s2s)
    assert kept["uuid"] in zoom.trashed and altered["uuid"] not in zoom.trashed
    assert altered["uuid"] not in zoom.deleted
    once(s2s)  # the altered file is fetched from Zoom again and backed up...
    assert altered["uuid"] not in zoom.trashed
    once(s2s)  # ...and at the next sync, checked safe, it goes too
    assert altered["uuid"] in zoom.trashed and (s2s.backup / mp4.remote_key).read_bytes() != b"x" * mp4.size


def test_a_missing_scope_is_a_clear_message_naming_it(s2s, zoom):
    s2s.set("zoom.trash_after_backup", "true")
    zoom.scopes = DEFAULT_SCOPES - {SCOPE_DELETE_RECORDINGS}
    recorded = add(zoom, "No permission")
    once(s2s)
    eng = once(s2s)
    assert recorded["uuid"] not in zoom.trashed
    problem = next(p for p in eng.snapshot().problems if p.key == ProblemKey.CLEANUP)
    assert SCOPE_DELETE_RECORDINGS in problem.message and "zoomwatch login" in problem.message


def test_meetings_of_all_users_are_fetched_in_one_order_soonest_deletion_first(s2s, zoom):
    """Server-to-Server: every user's meetings are listed first, then fetched soonest deletion first across
    users (not user by user)."""
    zoom.add_user("ben@example.com")
    plan = [(ANA, 9), ("ben@example.com", 2), (ANA, 5), ("ben@example.com", 7), (ANA, 1), ("ben@example.com", None),
            (ANA, None), ("ben@example.com", 4)]
    meetings = []
    for n, (user, days) in enumerate(plan):
        data = hashlib.sha256(f"{user}{n}".encode()).digest() * 100
        meetings.append(zoom.add_meeting(user, topic=f"Class {n}", files=[{"file_type": "MP4", "data": data}],
                                         start_time=datetime.now(timezone.utc) - timedelta(days=1 + n % 5),
                                         auto_delete_date=None if days is None else
                                         dt.date.today() + dt.timedelta(days=days)))
    catalog = engine(s2s).catalog
    try:
        sync = CloudSync(s2s.load(), catalog, "dest", accounts.sync_targets(s2s.load()), spool=s2s.paths.spool_dir)
        result = sync.sync()
    finally:
        catalog.close()
    assert result.failures == []
    by_uuid = {m["uuid"]: m for m in meetings}
    scheduled = sorted((m for m in meetings if m["auto_delete"]), key=lambda m: m["auto_delete_date"])
    assert [by_uuid[u]["topic"] for u in result.fetch_order[:len(scheduled)]] == [m["topic"] for m in scheduled]
    assert {by_uuid[u]["topic"] for u in result.fetch_order[len(scheduled):]} == {"Class 5", "Class 6"}
    assert fetched_meeting_ids(zoom) == [by_uuid[u]["id"] for u in result.fetch_order]  # the downloads did too
