"""Account-wide cloud backup split across machines: three real `zoomwatch run` processes, each with its own home,
share one Zoom account (the stand-in, S2S, many users, downloads throttled per connection), one SeaweedFS bucket
and one real PostgreSQL server. Every file reaches the bucket once and byte-identical, each is downloaded once
(the stand-in counts), the recordings table is complete; a machine SIGKILLed halfway leaves its users to the
others once its leases expire."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fakes.zoom_api import FakeZoom
from helpers import stop_process, wait_for
from pgserver import PostgresServer
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

from zoomwatch import config
from zoomwatch.paths import AppPaths

TESTS = Path(__file__).resolve().parent.parent
LEASE_SECONDS = 4


@pytest.fixture
def zoom() -> Iterator[FakeZoom]:
    fake = FakeZoom()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


class Fleet:
    """N zoomwatch homes configured alike (S2S, the bucket, the shared catalog); started as `zoomwatch run`."""

    def __init__(self, tmp: Path, n: int, zoom: FakeZoom, seaweed: SeaweedS3, url: str, bucket: str,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.envs: list[dict[str, str]] = []
        self.paths: list[AppPaths] = []
        self.runs: list[subprocess.Popen | None] = []
        for i in range(n):
            home = tmp / f"machine{i}"
            env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                   "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache")}
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            paths = AppPaths.default()
            (home / "Zoom").mkdir(parents=True)
            for key, value in (("watch.folder", str(home / "Zoom")), ("destination.kind", "s3"),
                               ("destination.s3.bucket", bucket), ("destination.s3.endpoint_url", seaweed.endpoint),
                               ("destination.s3.region", "us-east-1"), ("destination.s3.addressing_style", "path"),
                               ("zoom.mode", "s2s"), ("zoom.oauth_base", zoom.url), ("zoom.api_base", zoom.api_base),
                               ("zoom.sync_interval_minutes", "60"), ("catalog.machine_name", f"machine{i}"),
                               ("catalog.lease_seconds", str(LEASE_SECONDS)), ("watch.settle_seconds", "1")):
                config.set_value(paths, key, value)
            self.paths.append(paths)
            self.envs.append({**os.environ, **env, "ZOOMWATCH_SHARED_URL": url, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                              "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "ZOOM_ACCOUNT_ID": zoom.account_id,
                              "ZOOM_S2S_CLIENT_ID": zoom.client_id, "ZOOM_S2S_CLIENT_SECRET": zoom.client_secret,
                              "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
            self.runs.append(None)

    def start(self) -> None:
        for i, env in enumerate(self.envs):
            self.runs[i] = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def machine_id(self, i: int) -> str:
        return (self.paths[i].state_dir / "machine-id").read_text().strip()

    def zw(self, i: int, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=self.envs[i], capture_output=True,
                              text=True, timeout=120)

    def stop(self) -> None:
        for run in self.runs:
            if run is not None:
                stop_process(run, signal.SIGTERM)


@pytest.fixture
def make_fleet(tmp_path: Path, zoom: FakeZoom, seaweed: SeaweedS3, postgres: PostgresServer,
               monkeypatch: pytest.MonkeyPatch) -> Iterator:
    made: list[Fleet] = []

    def make(n: int) -> tuple[Fleet, str, str]:
        name = f"f{uuid.uuid4().hex[:10]}"
        postgres.sql(f"CREATE DATABASE {name} OWNER zoomwatch")
        url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
        seaweed.create_bucket(name)
        fleet = Fleet(tmp_path, n, zoom, seaweed, url, name, monkeypatch)
        made.append(fleet)
        return fleet, url, name

    try:
        yield make
    finally:
        for fleet in made:
            fleet.stop()


def query(url: str, sql: str, *args: object) -> list[tuple]:
    try:
        with psycopg.connect(url) as conn:
            return conn.execute(sql, args).fetchall()
    except psycopg.errors.UndefinedTable:
        return []


def published(url: str) -> int:
    found = query(url, "SELECT count(*) FROM zoomwatch_recordings")
    return int(found[0][0]) if found else 0


def bucket_files(seaweed: SeaweedS3, bucket: str) -> dict[str, bytes]:
    client = seaweed.client()
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", []) if not o["Key"].endswith("meeting.json")]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def check_every_file_once(zoom: FakeZoom, seaweed: SeaweedS3, bucket: str, url: str) -> None:
    files = zoom.files_by_id()
    stored = bucket_files(seaweed, bucket)
    assert len(stored) == len(files), sorted(stored)
    assert sorted(hashlib.sha256(b).hexdigest() for b in stored.values()) == \
        sorted(hashlib.sha256(d).hexdigest() for _, _, d in files.values())
    rows = query(url, "SELECT zoom_file_id, host_user, sha256, remote_key FROM zoomwatch_recordings")
    assert len(rows) == len(files) and len({r[0] for r in rows}) == len(files)
    assert {r[0].rsplit("/", 1)[1] for r in rows} == set(files)
    assert all(r[1] and r[1].endswith("@fleet.example.com") for r in rows)
    assert {r[3] for r in rows} == set(stored)


def test_three_machines_share_an_account_and_download_every_file_once(make_fleet, zoom, seaweed):
    zoom.add_users_with_recordings(9, sizes=(300_000, 60_000))
    zoom.throttle_per_connection = 600_000
    fleet, url, bucket = make_fleet(3)
    fleet.start()
    wait_for(lambda: published(url) == 18, 150, "every file published")
    check_every_file_once(zoom, seaweed, bucket, url)
    assert set(zoom.download_counts.values()) == {1} and set(zoom.download_counts) == set(zoom.files_by_id())
    machines = {r[0]: r[1] for r in query(url, "SELECT machine, count(*) FROM zoomwatch_recordings GROUP BY 1")}
    assert len(machines) >= 2, machines  # the work was shared
    status = fleet.zw(0, "status").stdout
    assert "shared catalog: 3 machine(s)" in status and all(f"machine{i}" in status for i in range(3)), status
    assert "account: 9 of 9 user(s) done" in status, status


def test_a_machine_killed_halfway_leaves_its_users_to_the_others(make_fleet, zoom, seaweed):
    zoom.add_users_with_recordings(12, sizes=(300_000, 60_000))
    zoom.throttle_per_connection = 400_000
    fleet, url, bucket = make_fleet(3)
    fleet.start()
    victim = wait_for(lambda: os.path.exists(fleet.paths[0].state_dir / "machine-id") and fleet.machine_id(0),
                      60, "machine 0's id")

    def victim_holds_work() -> bool:
        if published(url) < 4:
            return False
        return bool(query(url, "SELECT 1 FROM zoomwatch_user_leases WHERE machine = %s", victim))

    wait_for(victim_holds_work, 120, "machine 0 at work, a few files done")
    run = fleet.runs[0]
    assert run is not None
    run.kill()  # SIGKILL: no goodbye, its leases and claims just stop being renewed
    run.wait(30)
    in_flight = {r[0].rsplit("/", 1)[1] for r in query(
        url, "SELECT identity FROM zoomwatch_cloud_claims WHERE machine = %s AND state = 'claimed'", victim)}
    wait_for(lambda: published(url) == 24, 150, "the others finishing machine 0's users")
    check_every_file_once(zoom, seaweed, bucket, url)
    twice = {fid for fid, n in zoom.download_counts.items() if n > 1}
    assert twice <= in_flight, (twice, in_flight)  # only what the dead machine had in hand is fetched again
    assert all(n <= 2 for n in zoom.download_counts.values())
    left = query(url, "SELECT count(*) FROM zoomwatch_cloud_claims WHERE state = 'claimed'")
    assert left == [(0,)]


def test_without_the_shared_catalog_cloud_downloads_wait_and_say_so(tmp_path, zoom, seaweed, monkeypatch):
    import socket

    zoom.add_users_with_recordings(2, sizes=(50_000,))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once this socket is closed
    url = f"postgresql://zoomwatch:very-secret-pw@127.0.0.1:{port}/zoomwatch"
    seaweed.create_bucket("no-catalog")
    fleet = Fleet(tmp_path, 1, zoom, seaweed, url, "no-catalog", monkeypatch)
    fleet.start()
    try:
        status = wait_for(lambda: "problem: Zoom cloud sync failed" in (s := fleet.zw(0, "status").stdout) and s,
                          90, "the status saying the cloud sync waits for the shared catalog")
    finally:
        fleet.stop()
    assert f"127.0.0.1:{port}" in status and "very-secret-pw" not in status
    assert "Cannot reach the shared catalog" in status and "retrying at" in status, status
    assert not zoom.download_counts  # no file fetched without its claim
