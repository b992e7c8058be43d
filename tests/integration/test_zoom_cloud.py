"""Zoom cloud recordings end to end, against the Zoom stand-in in tests/fakes: a real `zoomwatch login`
through a "browser" that follows the authorize redirect to the loopback listener, real syncs, real
SIGKILLs. Tokens live in a file keyring inside the test's own data dir."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes.zoom_api import FakeZoom
from helpers import backed_up_files, stop_process, wait_for

TESTS = Path(__file__).resolve().parent.parent
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
def zapp(app, zoom, tmp_path: Path):
    for key, value in (("zoom.mode", "user"), ("zoom.oauth_base", zoom.url), ("zoom.api_base", zoom.api_base),
                       ("zoom.redirect_port", "0")):
        app.set(key, value)
    browser = tmp_path / "browser.py"  # what a browser does after the user approves: follow the redirects
    browser.write_text("import sys, requests\nrequests.get(sys.argv[1], timeout=30)\n")
    app.env.update(ZOOM_CLIENT_ID=zoom.client_id, BROWSER=f"{sys.executable} {browser} %s",
                   PYTHON_KEYRING_BACKEND="crashing_keyring.CrashAfterTokenWrite",
                   PYTHONPATH=str(TESTS / "fakes"))
    return app


def zw(app, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env={**app.env, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def meeting(zoom: FakeZoom, topic: str, *, days_ago: int = 3, files: list[dict] | None = None, **kw) -> dict:
    start = datetime.now(timezone.utc).replace(microsecond=0, second=0) - timedelta(days=days_ago)
    return zoom.add_meeting(USER, topic=topic, start_time=start, timezone="America/New_York", files=files or [
        {"file_type": "MP4", "data": _bytes(topic, 3_000_000)},
        {"file_type": "M4A", "data": _bytes(topic + "a", 400_000)},
        {"file_type": "CHAT", "data": b"10:00:01 From Ana to Everyone: hello\n"},
        {"file_type": "CC", "data": b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n"},
    ], **kw)


def _bytes(seed: str, size: int) -> bytes:
    block = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return block[:size]


def login(app) -> subprocess.CompletedProcess:
    done = zw(app, "login", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def cloud_files(app) -> dict[str, Path]:
    return {k: p for k, p in backed_up_files(app.backup).items() if "/cloud_" in k}


def test_login_then_sync_backs_up_every_cloud_file_named_like_local_ones(zapp, zoom):
    done = login(zapp)
    assert "Signed in to Zoom as ana@example.com" in done.stdout
    recorded = meeting(zoom, "Quarterly review / Q3 ..")
    zw(zapp, "config", "set", "naming.template", "{date} {time} {title}/{filename}")
    synced = zw(zapp, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    start = datetime.fromisoformat(recorded["start_time"].replace("Z", "+00:00")).astimezone(
        __import__("zoneinfo").ZoneInfo("America/New_York"))
    folder = f"{start:%Y-%m-%d %H.%M.%S} Quarterly review _ Q3"  # the meeting's time zone; '/' and '..' made safe
    files = cloud_files(zapp)
    assert sorted(files) == sorted(f"{folder}/{name}" for name in (
        "cloud_shared_screen_with_speaker_view.mp4", "cloud_audio_only.m4a", "cloud_chat_file.txt",
        "cloud_cc.vtt")), sorted(files)
    by_type = {p.suffix: p.read_bytes() for p in files.values()}
    assert by_type[".mp4"] == _bytes("Quarterly review / Q3 ..", 3_000_000)
    assert zoom.cdn_saw_authorization == []  # the token never went to the download host
    for text in (zapp.paths.config_file.read_text(), zapp.paths.log_file.read_text(), synced.stdout, synced.stderr,
                 zw(zapp, "status", "--json").stdout):
        assert "Bearer" not in text and not any(t in text for t in zoom.valid_refresh_tokens)
    assert not list(zapp.paths.spool_dir.rglob("*.mp4"))  # the spool is emptied once verified


def test_processing_files_come_later_and_verified_files_are_never_downloaded_again(zapp, zoom):
    login(zapp)
    later = meeting(zoom, "All hands", files=[
        {"file_type": "MP4", "data": _bytes("v", 1_000_000)},
        {"file_type": "TRANSCRIPT", "data": b"WEBVTT\n", "status": "processing"}])
    first = zw(zapp, "sync")
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(cloud_files(zapp)) == 1
    downloads = len(zoom.cdn_requests)
    zoom.finish_processing(later["uuid"])
    second = zw(zapp, "sync")
    assert second.returncode == 0
    assert len(cloud_files(zapp)) == 2
    assert len(zoom.cdn_requests) == downloads + 1  # only the transcript was fetched


def test_truncated_download_is_retried_not_backed_up_short(zapp, zoom):
    login(zapp)
    meeting(zoom, "Standup", files=[{"file_type": "MP4", "data": _bytes("s", 2_000_000)}])
    zoom.fail_next_download("truncate")
    first = zw(zapp, "sync")
    assert first.returncode == 1 and "short" in first.stdout
    assert cloud_files(zapp) == {}
    second = zw(zapp, "sync")
    assert second.returncode == 0
    assert [p.read_bytes() for p in cloud_files(zapp).values()] == [_bytes("s", 2_000_000)]


def test_rate_limit_is_waited_out_and_a_meeting_uuid_with_slashes_is_trashed_after_backup(zapp, zoom):
    login(zapp)
    zw(zapp, "config", "set", "zoom.trash_after_backup", "true")
    odd = meeting(zoom, "Slashes", uuid="/ab//cdEF12345678==")
    zoom.rate_limit_next(2, retry_after="1")
    assert zw(zapp, "sync").returncode == 0
    assert odd["uuid"] not in zoom.trashed  # not before every file is verified at the destination
    assert zw(zapp, "sync").returncode == 0
    assert odd["uuid"] in zoom.trashed and odd["uuid"] not in zoom.deleted  # trash, never a permanent delete


def test_sigkill_mid_sync_then_restart_finishes_without_downloading_verified_files(zapp, zoom):
    login(zapp)
    for n in range(4):
        meeting(zoom, f"Lecture {n}", days_ago=n + 1, files=[{"file_type": "MP4", "data": _bytes(f"L{n}", 6_000_000)}])
    zw(zapp, "config", "set", "transfer.bandwidth_limit", "4M")
    zw(zapp, "config", "set", "transfer.workers", "1")
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "sync"], env=zapp.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: json.loads(zw(zapp, "status", "--json").stdout)["counts"]["verified"] >= 1, timeout=120,
                 what="a first cloud file verified")
    finally:
        stop_process(run, signal.SIGKILL)
    verified = {f["path"] for f in json.loads(zw(zapp, "status", "--json").stdout)["files"] if f["state"] == "verified"}
    fetched_before = len(zoom.cdn_requests)
    zw(zapp, "config", "set", "transfer.bandwidth_limit", "0")
    again = zw(zapp, "sync")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(cloud_files(zapp)) == 4
    assert len(zoom.cdn_requests) - fetched_before <= 4 - len(verified)
    assert sorted(p.read_bytes() for p in cloud_files(zapp).values()) == sorted(
        _bytes(f"L{n}", 6_000_000) for n in range(4))


def test_refresh_rotation_killed_right_after_it_was_stored_leaves_the_user_signed_in(zapp, zoom):
    login(zapp)
    zoom.expire_access_tokens()  # the next API call gets 401 and must refresh (Zoom rotates the refresh token)
    killed = zw(zapp, "whoami", env={"ZOOMWATCH_TEST_KILL_AFTER_TOKEN_WRITES": "1"})
    assert killed.returncode == -signal.SIGKILL
    after = zw(zapp, "whoami")
    assert after.returncode == 0 and "ana@example.com" in after.stdout


def test_revoked_app_signs_the_user_out_once_with_a_clear_message(zapp, zoom):
    login(zapp)
    zoom.revoke_app()
    zoom.expire_access_tokens()
    done = zw(zapp, "sync")
    assert done.returncode != 0 and "Signed out of Zoom" in done.stderr + done.stdout
    assert "zoomwatch login" in done.stderr + done.stdout
    again = zw(zapp, "whoami")
    assert "Not signed in to Zoom" in again.stdout


def test_declined_consent_and_a_forged_state_store_nothing(zapp, zoom):
    zoom.deny_next_authorize()
    denied = zw(zapp, "login", "--timeout", "60")
    assert denied.returncode == 3 and "declined" in denied.stderr
    forged = subprocess.Popen([sys.executable, "-m", "zoomwatch", "login", "--no-browser", "--timeout", "5"],
                              env=zapp.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = wait_for(lambda: forged.stdout.readline().strip(), what="the authorize URL")
        while "redirect_uri=" not in line:
            line = forged.stdout.readline().strip()
        from urllib.parse import parse_qs, urlparse

        redirect = parse_qs(urlparse(line).query)["redirect_uri"][0]
        import requests

        requests.get(f"{redirect}?code=stolen&state={uuid.uuid4().hex}", timeout=30)
        out, err = forged.communicate(timeout=60)
    finally:
        if forged.poll() is None:
            forged.kill()
    assert forged.returncode == 1 and "cross-site request forgery" in err
    assert "Not signed in" in zw(zapp, "whoami").stdout


def test_admin_sync_covers_every_user_and_one_failure_does_not_stop_the_others(zapp, zoom):
    zoom.add_user("bo@example.com")
    meeting(zoom, "Ana's class")
    zoom.add_meeting("bo@example.com", topic="Bo's class", start_time=datetime.now(timezone.utc) - timedelta(days=2),
                     files=[{"file_type": "M4A", "data": _bytes("bo", 100_000)}])
    env = {"ZOOM_ACCOUNT_ID": "fake-account", "ZOOM_S2S_CLIENT_ID": zoom.client_id,
           "ZOOM_S2S_CLIENT_SECRET": zoom.client_secret}
    zw(zapp, "config", "set", "zoom.mode", "s2s")
    zw(zapp, "config", "set", "zoom.users", "ana@example.com, nobody@example.com, bo@example.com")
    done = zw(zapp, "sync", env=env)
    assert done.returncode == 1 and "nobody@example.com" in done.stdout
    names = {k.split("/")[-2] for k in cloud_files(zapp)}
    assert any("Ana's class" in n for n in names) and any("Bo's class" in n for n in names)


def test_wrong_client_id_times_out_with_a_hint_about_the_redirect_url(zapp, zoom):
    started = time.monotonic()
    done = zw(zapp, "login", "--timeout", "5", env={"ZOOM_CLIENT_ID": "not-the-client"})
    assert done.returncode == 1 and "timed out" in done.stderr and "redirect URL" in done.stderr
    assert time.monotonic() - started < 60


def test_login_then_sync_to_a_real_s3_server(zapp, zoom, tmp_path_factory):
    from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

    server = SeaweedS3(tmp_path_factory.mktemp("seaweed-zoom"))
    server.start()
    try:
        server.create_bucket("cloud-recordings")
        for key, value in (("destination.kind", "s3"), ("destination.s3.bucket", "cloud-recordings"),
                           ("destination.s3.endpoint_url", server.endpoint), ("destination.s3.region", "us-east-1"),
                           ("destination.s3.addressing_style", "path"), ("destination.s3.part_size", "5M")):
            zapp.set(key, value)
        zapp.env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        login(zapp)
        meeting(zoom, "Board meeting", files=[{"file_type": "MP4", "data": _bytes("board", 12_000_000)},
                                              {"file_type": "CHAT", "data": b"10:00 hi\n"}])
        done = zw(zapp, "sync")
        assert done.returncode == 0, done.stdout + done.stderr
        listed = server.client().list_objects_v2(Bucket="cloud-recordings")["Contents"]
        keys = {o["Key"]: o["Size"] for o in listed}
        video = next(k for k in keys if k.endswith("cloud_shared_screen_with_speaker_view.mp4"))
        body = server.client().get_object(Bucket="cloud-recordings", Key=video)["Body"].read()
        assert body == _bytes("board", 12_000_000)
        # a multipart object's SHA-256 is known once its last part is read: it is the object's tag `sha256`
        tags = server.client().get_object_tagging(Bucket="cloud-recordings", Key=video)["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags}["sha256"] == hashlib.sha256(body).hexdigest()
        assert any(k.endswith("/meeting.json") for k in keys)
    finally:
        server.stop()


def test_sign_in_is_saved_and_refreshed_through_a_keyring_limited_like_windows_credential_manager(zapp, zoom):
    """Real-size Zoom JWTs (~650 characters each) make a token set too long for one Windows Credential Manager
    entry (2,560 bytes of UTF-16): zoomwatch stores it in parts, so sign-in and the refresh rotation work."""
    zapp.env["PYTHON_KEYRING_BACKEND"] = "fake_keyrings.CredentialManagerLike"
    done = login(zapp)
    assert "Signed in to Zoom as ana@example.com" in done.stdout
    assert all(len(t) > 600 for t in zoom.valid_refresh_tokens)  # the stand-in's tokens are of real size
    zoom.expire_access_tokens()  # the next call must refresh, and store the rotated refresh token
    before = zoom.token_requests
    first = zw(zapp, "whoami")
    assert first.returncode == 0 and "ana@example.com" in first.stdout, first.stdout + first.stderr
    assert zoom.token_requests == before + 1
    meeting(zoom, "Windows user's class", files=[{"file_type": "MP4", "data": _bytes("win", 500_000)}])
    synced = zw(zapp, "sync")  # the refreshed tokens were read back whole from their parts
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert len(cloud_files(zapp)) == 1
    stored = zapp.paths.config_dir.parent.parent / "xdg-data" / "python_keyring" / "keyring_pass.cfg"
    assert "Bearer" not in stored.read_text() and stored.stat().st_size > 1400  # a real token set, in parts


def test_a_value_the_keyring_refuses_gives_a_clear_message_not_a_traceback(zapp):
    zapp.env["PYTHON_KEYRING_BACKEND"] = "fake_keyrings.CredentialManagerLike"
    refused = subprocess.run([sys.executable, "-m", "zoomwatch", "secret", "set", "supabase.key"], env=zapp.env,
                             input="k" * 1500, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert "The OS keyring refused" in refused.stderr and "storing supabase.key" in refused.stderr
    assert "1783" in refused.stderr and "too long" in refused.stderr
    assert "k" * 20 not in refused.stderr  # the cause, never the value


def test_a_download_cut_off_and_resumed_in_the_same_sync_is_not_reported_as_failed(zapp, zoom):
    login(zapp)
    meeting(zoom, "Seminar", files=[{"file_type": "MP4", "data": _bytes("sem", 3_000_000)},
                                    {"file_type": "CHAT", "data": b"10:00 hi\n"}])
    zoom.fail_next_download("drop")  # the CDN sends half the body, then cuts the connection
    zoom.faults_only_for = "MP4"  # the MP4's download, whichever of the files downloading at once asks first
    done = zw(zapp, "sync")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed" not in done.stdout and "cut off" not in done.stdout
    assert sorted(p.read_bytes() for p in cloud_files(zapp).values()) == sorted([_bytes("sem", 3_000_000),
                                                                                 b"10:00 hi\n"])
    ranges = [r["range"] for r in zoom.cdn_requests if r["range"]]
    assert ranges and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"  # resumed, not fetched again
