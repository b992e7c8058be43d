"""`zoomwatch audit` as a user runs it (a subprocess with its own HOME), against each destination of the
contract suite: a local folder, a real S3 server (SeaweedFS) and the Supabase Storage stand-in, with the
Zoom stand-in for cloud recordings. What is stored is damaged behind zoomwatch's back, the way a failing
disk, another tool or a person would."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fakes.zoom_api import FakeZoom
from helpers import write_random
from stores import KINDS, STORES, Store, supabase_server, zw

MEETING = "2024-05-06 14.00.00 Board meeting 93456789012"
FOLDER = "2024/05/2024-05-06 14.00.00 Board meeting"
USER = "ana@example.com"


@pytest.fixture(scope="module")
def supabase() -> Iterator[Any]:
    yield from supabase_server()


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, app: Any, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The user's settings pointing at a local folder, SeaweedFS or the Supabase stand-in."""
    return STORES[request.param](request, app, monkeypatch)


def back_up(store: Store) -> dict[str, str]:
    """Three recording files of one meeting, backed up and verified: name -> sha256."""
    zoom: Path = store.app.zoom
    files = {"zoom_0.mp4": write_random(zoom / MEETING / "zoom_0.mp4", 60_000, seed=1),
             "audio_only.m4a": write_random(zoom / MEETING / "audio_only.m4a", 20_000, seed=2),
             "meeting_saved_chat.txt": write_random(zoom / MEETING / "meeting_saved_chat.txt", 500, seed=3)}
    done = zw(store.app, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    return files


def audit(store: Store, *args: str) -> tuple[int, dict[str, Any], str]:
    done = zw(store.app, "audit", "--json", *args)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def states(report: dict[str, Any]) -> dict[str, str]:
    """The state of each file, by its name (the key's or the path's last part)."""
    return {(i["key"] or i["path"]).rpartition("/")[2]: i["state"] for i in report["items"]}


@pytest.fixture
def zoom_cloud(store: Store, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The Zoom stand-in, and the user signed in to it (a real `zoomwatch login` through a "browser")."""
    fake = FakeZoom()
    fake.start()
    fake.add_user(USER, first_name="Ana", last_name="Lima")
    try:
        for key, value in (("zoom.oauth_base", fake.url), ("zoom.api_base", fake.api_base),
                           ("zoom.redirect_port", "0")):
            store.app.set(key, value)
        browser = tmp_path / "browser.py"  # what a browser does once the user approves: follow the redirects
        browser.write_text("import sys, requests\nrequests.get(sys.argv[1], timeout=30)\n")
        store.app.env.update(ZOOM_CLIENT_ID=fake.client_id, BROWSER=f"{sys.executable} {browser} %s")
        yield fake
    finally:
        fake.stop()


def test_audit_tells_safe_missing_different_not_backed_up_and_cloud_only(store: Store, zoom_cloud: FakeZoom,
                                                                          tmp_path: Path) -> None:
    back_up(store)
    signed_in = zw(store.app, "login", "--timeout", "60")
    assert signed_in.returncode == 0, signed_in.stdout + signed_in.stderr
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    zoom_cloud.add_meeting(USER, topic="Cloud only review", start_time=start, auto_delete_date=date(2030, 1, 31),
                           files=[{"file_type": "MP4", "data": b"m" * 5000}])
    store.replace(f"{FOLDER}/zoom_0.mp4", b"\0" * 60_000, False)  # corrupted at the destination, same size
    store.delete(f"{FOLDER}/audio_only.m4a")                        # deleted there
    write_random(store.app.zoom / MEETING / "zoom_1.mp4", 3000, seed=4)  # never backed up (zoomwatch not running)
    stored_before = {k: store.read(k) for k in store.keys()}
    status_before = zw(store.app, "status", "--json").stdout

    page = tmp_path / "audit.html"
    code, report, _ = audit(store, "--html", str(page))

    assert code == 1 and report["ok"] is False and report["error"] is None
    found = states(report)
    assert found["meeting_saved_chat.txt"] == "safe"
    assert found["zoom_0.mp4"] == "different"
    assert found["audio_only.m4a"] == "missing"
    assert found["zoom_1.mp4"] == "not_backed_up"
    cloud = [i for i in report["items"] if i["state"] == "cloud_only"]
    assert len(cloud) == 1 and cloud[0]["title"] == "Cloud only review"
    assert cloud[0]["auto_delete_date"] == "2030-01-31"
    assert report["counts"] == {"safe": 1, "missing": 1, "different": 1, "not_backed_up": 1, "cloud_only": 1,
                                "unknown_at_destination": 0}
    assert report["started_at"].endswith("Z") and report["finished_at"] >= report["started_at"]
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "NOT SAFE" in text and "Cloud only review" in text and "2030-01-31" in text
    # it changed nothing: the destination and the catalog are as they were
    assert {k: store.read(k) for k in store.keys()} == stored_before
    assert zw(store.app, "status", "--json").stdout == status_before
    table = zw(store.app, "audit")
    assert table.returncode == 1 and "missing" in table.stdout and "Zoom deletes it on 2030-01-31" in table.stdout


def test_read_data_catches_a_corruption_the_stored_checksum_cannot(store: Store) -> None:
    """The bytes replaced, the checksum kept beside them (S3: the same x-amz-meta-sha256): trusting the
    metadata, S3 and Supabase say safe; --read-data downloads and re-hashes, and sees it."""
    back_up(store)
    store.replace(f"{FOLDER}/audio_only.m4a", b"\1" * 20_000, True)
    code, report, _ = audit(store)
    if store.kind != "local":  # a folder keeps no checksum: it is always read back
        assert code == 0 and states(report)["audio_only.m4a"] == "safe"
    code, report, _ = audit(store, "--read-data")
    assert code == 1 and states(report)["audio_only.m4a"] == "different"
    assert report["scope"]["read_data"] == 100.0
    assert states(report)["zoom_0.mp4"] == "safe"
    code, report, _ = audit(store, "--read-data=1")  # a random 1 percent: accepted, never worse than the default
    assert report["error"] is None and states(report)["zoom_0.mp4"] == "safe"


def test_an_unreachable_destination_is_said_and_nothing_is_called_missing(store: Store) -> None:
    back_up(store)
    store.break_it()
    done = zw(store.app, "audit", "--json")
    assert done.returncode != 0
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["error"]
    assert report["counts"]["missing"] == 0 and report["counts"]["different"] == 0
    assert report["counts"]["safe"] == 0
    assert "could not check" in done.stderr and "nothing was called missing" in done.stderr
    assert "wrong-secret" not in done.stdout + done.stderr and "not-a-supabase-key" not in done.stdout + done.stderr


def test_repair_queues_what_is_missing_or_different_and_the_next_run_makes_it_safe(store: Store) -> None:
    back_up(store)
    store.delete(f"{FOLDER}/audio_only.m4a")
    store.replace(f"{FOLDER}/zoom_0.mp4", b"x" * 10, False)
    code, report, _ = audit(store, "--repair")
    assert code == 1 and sorted(report["repaired"]) == [f"{FOLDER}/audio_only.m4a", f"{FOLDER}/zoom_0.mp4"]
    assert store.read(f"{FOLDER}/audio_only.m4a") is None, "--repair only queues: the backup runs copy"
    done = zw(store.app, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    code, report, _ = audit(store)
    assert code == 0 and report["ok"] and report["counts"]["safe"] == 3, report["items"]


def test_objects_no_catalog_row_names_are_listed_but_do_not_fail_the_audit(store: Store) -> None:
    back_up(store)
    store.app.paths.catalog_file.unlink()  # a new computer: an empty catalog
    for suffix in ("-wal", "-shm"):
        store.app.paths.catalog_file.with_name(store.app.paths.catalog_file.name + suffix).unlink(missing_ok=True)
    for name in ("zoom_0.mp4", "audio_only.m4a", "meeting_saved_chat.txt"):
        (store.app.zoom / MEETING / name).unlink()
    code, report, _ = audit(store)
    assert code == 0, report
    assert sorted(states(report).items()) == sorted(
        (name, "unknown_at_destination") for name in ("zoom_0.mp4", "audio_only.m4a", "meeting_saved_chat.txt"))


def test_the_running_engine_audits_its_own_destination_and_keeps_the_last_report(app: Any) -> None:
    """What the dashboard calls: Engine.run_audit() while the engine runs, then last_audit()."""
    from helpers import sha256_of, wait_for

    from zoomwatch.app import Engine

    sha = write_random(app.zoom / MEETING / "zoom_0.mp4", 30_000, seed=9)
    engine = Engine(app.load())
    engine.acquire()
    try:
        assert engine.last_audit() is None
        engine.start()
        wait_for(lambda: engine.snapshot().counts.get("verified") == 1, 120, "the recording verified")
        report = engine.run_audit()
        assert report.ok and report.counts()["safe"] == 1 and engine.last_audit() is report
        (app.backup / FOLDER / "zoom_0.mp4").write_bytes(b"y" * 30_000)
        again = engine.run_audit(read_data=100.0)
        assert not again.ok and again.counts()["different"] == 1 and engine.last_audit() is again
        item = again.to_dict()["items"][0]
        assert item["state"] == "different" and item["meeting_id"] == "93456789012" and item["size"] == 30_000
        assert json.loads(json.dumps(again.to_dict()))["ok"] is False
        assert sha256_of(app.zoom / MEETING / "zoom_0.mp4") == sha  # the recording itself is untouched
    finally:
        engine.stop()
        engine.close()
