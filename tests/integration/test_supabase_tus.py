"""Resumable (TUS) uploads to Supabase as the real server (v1.70.6) behaves: a chunk cut off mid-way keeps
what arrived, uploads given up are terminated, a stalled connection times out and the upload is retried.
Against the stand-in in tests/fakes, through the real storage3 and tuspy clients."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import time
from collections.abc import Iterator

import pytest
from fakes.supabase_storage import MIB, TUS_CHUNK_SIZE, FakeSupabaseStorage
from helpers import stop_process, wait_for, write_random
from test_supabase import KEY_DIR, MEETING, spawn, zw

from zoomwatch.app import Engine
from zoomwatch.core.transfer import RetryPolicy
from zoomwatch.destinations.supabase import SupabaseDestination

PATH = ("recordings", f"{KEY_DIR}/zoom_0.mp4")


@pytest.fixture
def fake() -> Iterator[FakeSupabaseStorage]:
    server = FakeSupabaseStorage(max_file_size=200 * MIB)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sbapp(app, fake, monkeypatch: pytest.MonkeyPatch):
    fake.create_bucket("recordings")
    for key, value in (("destination.kind", "supabase"), ("destination.supabase.url", fake.url),
                       ("destination.supabase.bucket", "recordings")):
        app.set(key, value)
    app.env.update(SUPABASE_KEY=fake.service_key, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    return app


def test_resumes_from_an_offset_that_is_not_a_multiple_of_6_mib(sbapp, fake):
    size = 20 * MIB + 321
    sha = write_random(sbapp.zoom / MEETING / "zoom_0.mp4", size, seed=11)
    cut = 1_234_567
    fake.fail_next("PATCH", drop=True, after_bytes=cut)  # the first chunk is cut off mid-way
    first = zw(sbapp, "run", "--once")
    assert first.returncode != 0 and "Supabase unreachable" in first.stdout, first.stdout + first.stderr
    assert fake.upload_for(*PATH).offset == cut  # kept, as the real server does
    again = zw(sbapp, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = re.search(r"resuming .+ at byte (\d+) of (\d+)", again.stderr)
    assert resumed and int(resumed.group(1)) == cut and cut % TUS_CHUNK_SIZE
    assert fake.bytes_received[PATH] == size  # not one byte sent twice
    assert hashlib.sha256(fake.objects[PATH].data).hexdigest() == sha


def test_upload_of_a_file_that_vanishes_is_terminated_on_the_server(sbapp, fake):
    sbapp.set("transfer.bandwidth_limit", "12M")
    video = sbapp.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 60 * MIB, seed=12)
    run = spawn(sbapp, "run")
    try:
        wait_for(lambda: (u := fake.upload_for(*PATH)) is not None and u.offset >= 6 * MIB, timeout=120,
                 what="a first chunk stored")
        video.unlink()
        wait_for(lambda: fake.upload_for(*PATH) is None, timeout=120,
                 what="the unfinished upload to be terminated on the server")
    finally:
        stop_process(run, signal.SIGTERM)
    assert PATH not in fake.objects
    deletes = [r for r in fake.requests if r.method == "DELETE" and "/upload/resumable/" in r.path]
    assert [r.status for r in deletes] == [204]


def test_upload_of_a_file_that_changes_is_terminated_and_sent_again(sbapp, fake):
    sbapp.set("transfer.bandwidth_limit", "12M")
    video = sbapp.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 30 * MIB, seed=13)
    run = spawn(sbapp, "run")
    try:
        wait_for(lambda: (u := fake.upload_for(*PATH)) is not None and u.offset >= 6 * MIB, timeout=120,
                 what="a first chunk stored")
        first = fake.upload_for(*PATH)
        with open(video, "ab") as out:  # Zoom still writing: the upload so far is for other bytes
            out.write(b"more" * 1000)
        wait_for(lambda: first.id not in fake.uploads, timeout=120, what="the first upload to be terminated")
        sbapp.set("transfer.bandwidth_limit", "0")
        wait_for(lambda: PATH in fake.objects and len(fake.objects[PATH].data) == 30 * MIB + 4000, timeout=240,
                 what="the changed file to be uploaded in full")
    finally:
        stop_process(run, signal.SIGTERM)
    assert hashlib.sha256(fake.objects[PATH].data).hexdigest() == hashlib.sha256(video.read_bytes()).hexdigest()


def test_stalled_patch_times_out_and_the_upload_is_retried(sbapp, fake):
    sha = write_random(sbapp.zoom / MEETING / "zoom_0.mp4", 14 * MIB, seed=14)
    fake.fail_next("PATCH", stall=True)  # the first chunk is taken, but no answer ever comes
    destination = SupabaseDestination(sbapp.load(), secrets={"supabase.key": fake.service_key})
    destination.tus_timeout = (5.0, 3.0)
    engine = Engine(sbapp.load(), destination=destination, retry=RetryPolicy(base=0.2, cap=1.0))
    started = time.monotonic()
    engine.start()
    try:
        wait_for(lambda: PATH in fake.objects, timeout=90, what="the upload to finish after the stalled request")
    finally:
        engine.stop()
        engine.close()
    assert time.monotonic() - started < 60
    patches = [r for r in fake.requests if r.method == "PATCH"]
    assert patches[0].status is None and len(patches) >= 2  # the stalled one was never answered
    assert hashlib.sha256(fake.objects[PATH].data).hexdigest() == sha


def test_status_shows_a_resumable_upload_and_that_a_killed_one_is_interrupted(sbapp, fake):
    sbapp.set("transfer.bandwidth_limit", "12M")
    write_random(sbapp.zoom / MEETING / "zoom_0.mp4", 60 * MIB, seed=15)
    run = spawn(sbapp, "run")
    try:
        wait_for(lambda: (u := fake.upload_for(*PATH)) is not None and u.offset >= 24 * MIB, timeout=120,
                 what="24 MiB stored by the resumable upload")
        while_running = zw(sbapp, "status").stdout
        line = next(line for line in while_running.splitlines() if "zoom_0.mp4" in line)
        assert line.split()[0] == "uploading" and "resumable upload: about" in line, while_running
    finally:
        stop_process(run, signal.SIGKILL)
    after = zw(sbapp, "status").stdout
    line = next(line for line in after.splitlines() if "zoom_0.mp4" in line)
    assert "not running" in after and "1 interrupted" in after and "uploading" not in after, after
    assert line.split()[0] == "interrupted" and "resumes at next start" in line, after
    assert "resumable upload: about" in line and "of 62.9 MB sent" in line, after
    files = json.loads(zw(sbapp, "status", "--json").stdout)["files"]
    assert [(f["state"], f["interrupted"], f["resumable_upload"]) for f in files] == [("uploading", True, True)]
