"""The cloud pipeline (issue 15 item 6): downloads of the next Zoom cloud files overlap the uploads of the
previous ones, the spool holds a bounded number of files, a downloaded file is hashed as it arrives (its upload
reads it once), a destination that is down ends the sync instead of hanging it, and a stop cuts the wait short.

Real components in-process: the Zoom stand-in on loopback (Server-to-Server sign-in), a real catalog, real
transfer workers, SeaweedFS or a real backup folder."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import keyring
import pytest
import stores
from fakes.fake_keyrings import MemoryKeyring
from fakes.zoom_api import FakeZoom
from helpers import wait_for

from zoomwatch.app import Engine, ProblemKey
from zoomwatch.core.catalog import Catalog
from zoomwatch.destinations import base
from zoomwatch.sources.zoom import accounts
from zoomwatch.sources.zoom.cloud import SPOOL_FILES, CloudSync

ANA = "ana@example.com"
MIB = 1024 * 1024


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
                       ("zoom.since", since), ("zoom.file_types", "MP4")):
        app.set(key, value)
    monkeypatch.setenv("ZOOM_ACCOUNT_ID", zoom.account_id)
    monkeypatch.setenv("ZOOM_S2S_CLIENT_ID", zoom.client_id)
    monkeypatch.setenv("ZOOM_S2S_CLIENT_SECRET", zoom.client_secret)
    try:
        yield app
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def s3(request, s2s, monkeypatch):
    return stores.s3_store(request, s2s, monkeypatch)


def recordings(zoom: FakeZoom, count: int, size: int) -> list[dict]:
    """`count` meetings of one MP4 each, `size` bytes, different for every file."""
    meetings = []
    for n in range(count):
        data = (hashlib.sha256(f"file {n}".encode()).digest() * (size // 32 + 1))[:size]
        meetings.append(zoom.add_meeting(ANA, topic=f"Lecture {n}", files=[{"file_type": "MP4", "data": data}],
                                         start_time=datetime.now(timezone.utc) - timedelta(hours=2 * (n + 1))))
    return meetings


def spooled(spool: Path) -> tuple[int, int]:
    """(downloaded files in the spool, downloads in progress there)."""
    done = parts = 0
    for _, _, names in os.walk(spool):
        for name in names:
            if name.endswith(".part"):
                parts += 1
            elif name != "sync-state.json":
                done += 1
    return done, parts


class Sampler:
    """The spool's content, sampled every few milliseconds in a thread while a sync runs."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.peak = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            done, parts = spooled(self.spool)
            self.peak = (max(self.peak[0], done), max(self.peak[1], done + parts))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def counting_reads(monkeypatch) -> collections.Counter[str]:
    """Bytes read from each file through SourceFile (every read a destination or the workers make)."""
    counts: collections.Counter[str] = collections.Counter()
    opened = base.open_source

    class Counted:
        def __init__(self, raw: Any, path: Path) -> None:
            self.raw, self.path = raw, str(path)

        def read(self, size: int = -1) -> bytes:
            data = self.raw.read(size)
            counts[self.path] += len(data)
            return data

        def readinto(self, buffer: Any) -> int:
            n = self.raw.readinto(buffer)
            counts[self.path] += n or 0
            return n

        def __getattr__(self, name: str) -> Any:
            return getattr(self.raw, name)

    monkeypatch.setattr(base, "open_source", lambda path: Counted(opened(path), path))
    return counts


def test_the_spool_never_holds_more_than_its_bound_while_uploads_are_slower(s2s, zoom, s3):
    s2s.set("transfer.bandwidth_limit", "4MB")  # uploads slower than the downloads: the spool would fill up
    recordings(zoom, 12, MIB)
    eng = Engine(s2s.load())
    try:
        assert eng.cloud is not None and eng.cloud.spool_files == SPOOL_FILES
        with Sampler(s2s.paths.spool_dir) as sampler:
            result = eng.run_cloud_once()
    finally:
        eng.close()
    assert result.ok, result.failures
    assert len([k for k in s3.keys() if k.endswith(".mp4")]) == 12
    assert sampler.peak[1] == SPOOL_FILES  # downloading or downloaded: reached the bound, never more
    assert spooled(s2s.paths.spool_dir) == (0, 0)  # every download removed once verified


def test_downloads_overlap_uploads_and_each_download_is_read_once_to_hash_and_upload(s2s, zoom, s3, monkeypatch):
    zoom.throttle_per_connection = 8 * MIB  # like real Zoom: a download takes a while
    size = 6 * MIB + 17  # above the 5 MiB part size: an S3 multipart upload, which needs the SHA-256 first
    count = SPOOL_FILES + 2
    recordings(zoom, count, size)
    reads = counting_reads(monkeypatch)
    eng = Engine(s2s.load())
    try:
        result = eng.run_cloud_once()
    finally:
        eng.close()
    assert result.ok, result.failures
    assert sum(zoom.download_counts.values()) == count  # each downloaded once
    db = sqlite3.connect(s2s.paths.catalog_file)
    try:
        first_verified, last_downloaded = db.execute("SELECT min(verified_at), max(created_at) FROM files").fetchone()
        rows = db.execute("SELECT path, size, sha256, state FROM files").fetchall()
    finally:
        db.close()
    assert first_verified < last_downloaded  # the first file was verified before the last download ended
    assert len(rows) == count and {r[3] for r in rows} == {"verified"}
    for path, file_size, _sha, _ in rows:
        assert file_size == size
        assert reads[os.fsdecode(path)] == size, (path, reads)  # one pass: the upload; no pass to hash it
    stored = {k for k in s3.keys() if k.endswith(".mp4")}
    assert {hashlib.sha256(s3.read(k)).hexdigest() for k in stored} == {r[2] for r in rows}


def test_a_destination_that_is_down_ends_the_sync_with_the_reason_instead_of_waiting(s2s, zoom):
    zoom.throttle_per_connection = 4 * MIB
    count = 3 * SPOOL_FILES
    recordings(zoom, count, MIB)
    eng = Engine(s2s.load())
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(result=eng.run_cloud_once()), daemon=True)
    try:
        thread.start()
        wait_for(lambda: sum(zoom.download_counts.values()) >= 1, 60, "the first download")
        s2s.backup.rename(s2s.backup.with_name("unplugged"))  # the backup drive unplugged mid-sync
        thread.join(120)
        assert not thread.is_alive(), "the sync hung on a destination that is down"
        problem = next(p for p in eng.snapshot().problems if p.key == ProblemKey.DESTINATION)
    finally:
        eng.close()
    result = outcome["result"]
    assert not result.ok
    downloaded = sum(zoom.download_counts.values())
    assert downloaded <= SPOOL_FILES + 1 < count  # it stopped downloading: the spool did not fill up
    assert any("not downloaded" in f and problem.title in f for f in result.failures), result.failures
    assert sum(result.counts.values()) == downloaded  # each downloaded file is in the catalog, to upload later
    assert spooled(s2s.paths.spool_dir)[0] <= SPOOL_FILES


def test_a_stop_while_the_spool_is_full_returns_at_once(s2s, zoom):
    recordings(zoom, SPOOL_FILES + 3, 300_000)
    catalog = Catalog(s2s.paths.catalog_file)
    # no transfer workers: nothing leaves the spool, so the sync waits for room after SPOOL_FILES downloads
    sync = CloudSync(s2s.load(), catalog, "dest", accounts.sync_targets(s2s.load()), spool=s2s.paths.spool_dir,
                     spool_files=SPOOL_FILES)
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(result=sync.sync()), daemon=True)
    try:
        thread.start()
        wait_for(lambda: sync.in_spool() == SPOOL_FILES, 60, "a full spool")
        asked = time.monotonic()
        sync.stop.set()
        thread.join(30)
        took = time.monotonic() - asked
    finally:
        sync.stop.set()
        thread.join(30)
        catalog.close()
    assert not thread.is_alive() and took < 5, took
    assert outcome["result"].queued == SPOOL_FILES and not outcome["result"].complete
    assert sum(zoom.download_counts.values()) == SPOOL_FILES  # it waited: no download past the bound


def test_a_download_cut_off_and_resumed_carries_the_checksum_of_the_whole_file(s2s, zoom):
    """The part received before the cut is hashed from the spool, the rest as it arrives: the checksum that
    goes to the catalog (and so to the upload) is the whole file's."""
    data = (hashlib.sha256(b"resumed").digest() * 200_000)[:6_000_017]
    zoom.add_meeting(ANA, topic="Resumed", files=[{"file_type": "MP4", "data": data}],
                     start_time=datetime.now(timezone.utc) - timedelta(hours=3))
    zoom.fail_next_download("drop")  # half the body, then the connection is cut
    catalog = Catalog(s2s.paths.catalog_file)
    try:
        sync = CloudSync(s2s.load(), catalog, "dest", accounts.sync_targets(s2s.load()), spool=s2s.paths.spool_dir)
        result = sync.sync()
        rows = catalog.rows("dest")
    finally:
        catalog.close()
    assert result.failures == [] and result.queued == 1
    assert any(r["range"] and r["range"] != "bytes=0-" for r in zoom.cdn_requests)  # it did resume
    assert [r.sha256 for r in rows] == [hashlib.sha256(data).hexdigest()]
    assert rows[0].fs_path.read_bytes() == data
