"""Backing up to Supabase Storage, against the stand-in server in tests/fakes (REST + TUS), through
the real storage3 and tuspy clients in a real `zoomwatch` process."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fakes.supabase_storage import MIB, FakeSupabaseStorage
from helpers import stop_process, wait_for, write_random

MEETING = "2024-07-01 09.30.00 Réunion d'équipe 95678901234"
KEY_DIR = "2024/07/2024-07-01 09.30.00 Reunion d'equipe"  # accents mapped to what Supabase accepts


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


def zw(app, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True,
                          text=True, timeout=timeout)


def spawn(app, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zoomwatch", *args], env=app.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_small_and_large_uploads_land_byte_identical_with_their_sha256(sbapp, fake):
    small = write_random(sbapp.zoom / MEETING / "chat.txt", 3_000)
    large = write_random(sbapp.zoom / MEETING / "zoom_0.mp4", 20 * MIB + 123, seed=3)
    done = zw(sbapp, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    video = fake.objects[("recordings", f"{KEY_DIR}/zoom_0.mp4")]
    assert hashlib.sha256(video.data).hexdigest() == large
    assert video.content_type == "video/mp4" and video.metadata["sha256"] == large
    chat = fake.objects[("recordings", f"{KEY_DIR}/chat.txt")]
    assert hashlib.sha256(chat.data).hexdigest() == small and chat.content_type == "text/plain"
    sidecar = json.loads(fake.objects[("recordings", f"{KEY_DIR}/meeting.json")].data)
    assert sidecar["title"] == "Réunion d'équipe"
    assert fake.bytes_received[("recordings", f"{KEY_DIR}/zoom_0.mp4")] == 20 * MIB + 123  # each byte once


def test_sigkill_mid_resumable_upload_resumes_from_the_stored_offset(sbapp, fake):
    sbapp.set("transfer.bandwidth_limit", "12M")
    size = 60 * MIB
    sha = write_random(sbapp.zoom / MEETING / "zoom_0.mp4", size, seed=4)
    path = ("recordings", f"{KEY_DIR}/zoom_0.mp4")
    run = spawn(sbapp, "run")
    try:
        wait_for(lambda: (upload := fake.upload_for(*path)) is not None and upload.offset >= 24 * MIB,
                 timeout=120, what="24 MiB stored by the resumable upload")
    finally:
        stop_process(run, signal.SIGKILL)
    fake.wait_idle()  # what the killed process had sent has all arrived (a cut chunk keeps its bytes)
    stored = fake.upload_for(*path).offset
    received_before = fake.bytes_received[path]
    sbapp.set("transfer.bandwidth_limit", "0")
    again = zw(sbapp, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = re.search(r"resuming .+ at byte (\d+) of (\d+)", again.stderr)
    assert resumed and int(resumed.group(1)) == stored
    assert fake.bytes_received[path] - received_before == size - stored  # nothing stored was sent again
    assert hashlib.sha256(fake.objects[path].data).hexdigest() == sha


def test_expired_upload_url_starts_again_cleanly(sbapp, fake):
    sbapp.set("transfer.bandwidth_limit", "12M")
    sha = write_random(sbapp.zoom / MEETING / "zoom_0.mp4", 30 * MIB, seed=5)
    path = ("recordings", f"{KEY_DIR}/zoom_0.mp4")
    run = spawn(sbapp, "run")
    try:
        wait_for(lambda: (u := fake.upload_for(*path)) is not None and u.offset >= 6 * MIB, timeout=120,
                 what="a first chunk stored")
    finally:
        stop_process(run, signal.SIGKILL)
    fake.expire_uploads()
    sbapp.set("transfer.bandwidth_limit", "0")
    again = zw(sbapp, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "expired; starting again" in again.stderr
    assert hashlib.sha256(fake.objects[path].data).hexdigest() == sha


def test_server_disappearing_mid_upload_then_back_completes(sbapp, fake):
    sbapp.set("transfer.bandwidth_limit", "12M")
    sha = write_random(sbapp.zoom / MEETING / "zoom_0.mp4", 36 * MIB, seed=6)
    path = ("recordings", f"{KEY_DIR}/zoom_0.mp4")
    run = spawn(sbapp, "run")
    try:
        wait_for(lambda: (u := fake.upload_for(*path)) is not None and u.offset >= 6 * MIB, timeout=120,
                 what="a first chunk stored")
        fake.pause()

        def reported() -> bool:
            files = json.loads(zw(sbapp, "status", "--json").stdout)["files"]
            return any("unreachable" in (f["last_error"] or "") for f in files)

        try:
            wait_for(reported, timeout=180, what="zoomwatch to report Supabase unreachable")
        finally:
            fake.resume()
        wait_for(lambda: path in fake.objects, timeout=240, what="the upload to finish once the server is back")
    finally:
        stop_process(run, signal.SIGTERM)
    assert hashlib.sha256(fake.objects[path].data).hexdigest() == sha


def test_check_reports_each_bad_input_in_one_line(sbapp, fake):
    ok = zw(sbapp, "check")
    assert ok.returncode == 0 and ok.stdout.startswith("OK: Supabase bucket recordings")

    sbapp.set("destination.supabase.bucket", "fresh-bucket")  # the service key may create it
    assert zw(sbapp, "check").returncode == 0 and fake.buckets["fresh-bucket"].public is False

    sbapp.env["SUPABASE_KEY"] = fake.anon_key
    sbapp.set("destination.supabase.bucket", "recordings")
    policy = zw(sbapp, "check")
    assert policy.stdout.startswith("Supabase refuses the upload")
    sbapp.set("destination.supabase.bucket", "nowhere")
    missing = zw(sbapp, "check")
    assert missing.stdout.startswith("Supabase bucket not found") and "nowhere" in missing.stdout

    sbapp.env["SUPABASE_KEY"] = "not-a-jwt"
    bad_key = zw(sbapp, "check")
    assert bad_key.stdout.startswith("Supabase key rejected") and "not-a-jwt" not in bad_key.stdout

    sbapp.env["SUPABASE_KEY"] = fake.service_key
    sbapp.set("destination.supabase.url", "http://127.0.0.1:9")
    gone = zw(sbapp, "check")
    assert gone.returncode == 1 and gone.stdout.startswith("Supabase unreachable")  # passing: not a setting


def test_file_over_the_project_limit_is_reported_and_others_still_go(sbapp, fake):
    fake.max_file_size = 8 * MIB
    write_random(sbapp.zoom / MEETING / "zoom_0.mp4", 12 * MIB, seed=7)
    chat = write_random(sbapp.zoom / MEETING / "chat.txt", 500)
    done = zw(sbapp, "run", "--once")
    assert done.returncode == 1
    assert "File too large for this Supabase project" in done.stdout
    assert hashlib.sha256(fake.objects[("recordings", f"{KEY_DIR}/chat.txt")].data).hexdigest() == chat


def test_share_link_downloads_the_backup(sbapp, fake):
    import requests

    from zoomwatch import config
    from zoomwatch.destinations import open_destination

    sha = write_random(sbapp.zoom / MEETING / "chat.txt", 4_000)
    assert zw(sbapp, "run", "--once").returncode == 0
    link = open_destination(config.load(sbapp.paths), secrets={"supabase.key": fake.service_key}).share_link(
        f"{KEY_DIR}/chat.txt")
    fetched = requests.get(link, timeout=30)
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == sha
