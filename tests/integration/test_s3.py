"""Backing up to S3, against a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers import stop_process, wait_for, write_random
from s3server import ACCESS_KEY, READONLY_KEY, READONLY_SECRET, SECRET_KEY, SeaweedS3

MEETING = "2024-05-06 14.00.00 Board meeting 93456789012"
PREFIX_DIR = "2024/05/2024-05-06 14.00.00 Board meeting"


@pytest.fixture
def bucket(s3: SeaweedS3) -> str:
    name = f"zw-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


@pytest.fixture
def s3app(app, s3: SeaweedS3, bucket: str, monkeypatch: pytest.MonkeyPatch):
    for key, value in (("destination.kind", "s3"), ("destination.s3.bucket", bucket),
                       ("destination.s3.endpoint_url", s3.endpoint), ("destination.s3.region", "us-east-1"),
                       ("destination.s3.addressing_style", "path"), ("destination.s3.prefix", "backups/ana"),
                       ("destination.s3.part_size", "5M"), ("destination.s3.concurrency", "2")):
        app.set(key, value)
    creds = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
             "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    app.env.update(creds)
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
    return app


def zw(app, *args: str, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def spawn(app, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zoomwatch", *args], env=app.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def download_sha(s3: SeaweedS3, bucket: str, key: str) -> str:
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def objects(s3: SeaweedS3, bucket: str) -> list[str]:
    found = s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in found if "/.zoomwatch-check/" not in o["Key"])


def open_uploads(s3: SeaweedS3, bucket: str) -> list[dict]:
    return s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_small_and_multipart_uploads_land_byte_identical(s3app, s3, bucket):
    small = write_random(s3app.zoom / MEETING / "chat.txt", 2_000)
    large = write_random(s3app.zoom / MEETING / "zoom_0.mp4", 23 * 1024 * 1024 + 17, seed=4)
    done = zw(s3app, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    key = f"backups/ana/{PREFIX_DIR}"
    assert objects(s3, bucket) == [f"{key}/chat.txt", f"{key}/meeting.json", f"{key}/zoom_0.mp4"]
    assert download_sha(s3, bucket, f"{key}/chat.txt") == small
    assert download_sha(s3, bucket, f"{key}/zoom_0.mp4") == large
    head = s3.client().head_object(Bucket=bucket, Key=f"{key}/zoom_0.mp4")
    assert head["ETag"].endswith('-5"')  # 5 parts of 5 MiB
    # the file's SHA-256, known once the last part was read, is the object's tag (issue 17), not its metadata
    tags = s3.client().get_object_tagging(Bucket=bucket, Key=f"{key}/zoom_0.mp4")["TagSet"]
    assert tags == [{"Key": "sha256", "Value": large}]
    assert s3.client().head_object(Bucket=bucket, Key=f"{key}/chat.txt")["Metadata"]["sha256"] == small
    meta = json.loads(s3.client().get_object(Bucket=bucket, Key=f"{key}/meeting.json")["Body"].read())
    assert {f["name"]: f["sha256"] for f in meta["files"]} == {"chat.txt": small, "zoom_0.mp4": large}
    assert open_uploads(s3, bucket) == []


def test_share_link_downloads_the_backup(s3app, s3, bucket):
    import requests

    from zoomwatch import config
    from zoomwatch.destinations import open_destination

    sha = write_random(s3app.zoom / MEETING / "chat.txt", 5_000)
    assert zw(s3app, "run", "--once").returncode == 0
    link = open_destination(config.load(s3app.paths)).share_link(f"{PREFIX_DIR}/chat.txt")
    fetched = requests.get(link, timeout=30)
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == sha


def test_check_reports_each_misconfiguration_in_one_line(s3app, s3, bucket):
    ok = zw(s3app, "check")
    assert ok.returncode == 0 and ok.stdout.startswith("OK: S3 bucket " + bucket)
    assert objects(s3, bucket) == []  # the probe was deleted

    s3app.env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
    bad_key = zw(s3app, "check")
    assert bad_key.returncode == 3 and bad_key.stdout.startswith("S3 credentials rejected")
    assert "wrong-secret" not in bad_key.stdout + bad_key.stderr

    s3app.env.update(AWS_ACCESS_KEY_ID=READONLY_KEY, AWS_SECRET_ACCESS_KEY=READONLY_SECRET)
    read_only = zw(s3app, "check")
    assert read_only.stdout.startswith("S3: access denied") and bucket in read_only.stdout

    s3app.env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    s3app.set("destination.s3.bucket", "no-such-bucket-here")
    missing = zw(s3app, "check")
    assert missing.stdout.startswith("S3 bucket not found") and "no-such-bucket-here" in missing.stdout

    s3app.set("destination.s3.endpoint_url", "http://127.0.0.1:9")  # nothing listens there
    gone = zw(s3app, "check")
    assert gone.returncode == 1 and gone.stdout.startswith("S3 endpoint unreachable")  # passing: not a setting


def test_missing_bucket_during_run_is_reported_and_nothing_marked_verified(s3app):
    s3app.set("destination.s3.bucket", "no-such-bucket-here")
    write_random(s3app.zoom / MEETING / "zoom_0.mp4", 1000)
    done = zw(s3app, "run", "--once")
    assert done.returncode == 1 and "S3 bucket not found" in done.stdout
    status = json.loads(zw(s3app, "status", "--json").stdout)
    assert status["counts"]["verified"] == 0


def test_same_recording_from_a_second_machine_is_not_uploaded_again(s3app, s3, bucket, tmp_path):
    sha = write_random(s3app.zoom / MEETING / "zoom_0.mp4", 12 * 1024 * 1024, seed=7)
    assert zw(s3app, "run", "--once").returncode == 0
    # a second machine: its own config and catalog, the same recording, the same bucket
    other = dict(s3app.env)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        other[name] = str(tmp_path / "laptop" / name)
    subprocess.run([sys.executable, "-m", "zoomwatch", "config", "set", "destination.kind", "s3"], env=other,
                   check=True, capture_output=True)
    for key in ("watch.folder", "destination.s3.bucket", "destination.s3.endpoint_url", "destination.s3.prefix",
                "destination.s3.addressing_style", "destination.s3.region", "destination.s3.part_size"):
        value = zw(s3app, "config", "get", key).stdout.strip()
        subprocess.run([sys.executable, "-m", "zoomwatch", "config", "set", key, value], env=other,
                       check=True, capture_output=True)
    second = subprocess.run([sys.executable, "-m", "zoomwatch", "run", "--once"], env=other,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "already in the backup, not copied again" in second.stderr
    assert "multipart upload of" not in second.stderr
    assert download_sha(s3, bucket, f"backups/ana/{PREFIX_DIR}/zoom_0.mp4") == sha


def test_sigkill_mid_multipart_resumes_from_stored_parts(s3app, s3, bucket):
    s3app.set("transfer.bandwidth_limit", "8M")
    sha = write_random(s3app.zoom / MEETING / "zoom_0.mp4", 60 * 1024 * 1024, seed=5)
    run = spawn(s3app, "run")

    def parts_stored() -> int:
        uploads = open_uploads(s3, bucket)
        if not uploads:
            return 0
        u = uploads[0]
        return len(s3.client().list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", []))

    try:
        wait_for(lambda: parts_stored() >= 4, timeout=120, what="four parts stored at the server")
    finally:
        stop_process(run, signal.SIGKILL)
    before = parts_stored()
    s3app.set("transfer.bandwidth_limit", "0")
    again = zw(s3app, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    sent = re.search(r"complete: (\d+) part\(s\) sent this time, (\d+) reused", again.stderr)
    assert sent, again.stderr
    assert int(sent.group(2)) >= before >= 4
    assert int(sent.group(1)) == 12 - int(sent.group(2))  # 60 MiB in 5 MiB parts
    assert objects(s3, bucket) == [f"backups/ana/{PREFIX_DIR}/meeting.json", f"backups/ana/{PREFIX_DIR}/zoom_0.mp4"]
    assert download_sha(s3, bucket, f"backups/ana/{PREFIX_DIR}/zoom_0.mp4") == sha
    assert open_uploads(s3, bucket) == []


def test_store_going_away_mid_upload_then_back_completes(s3app, s3, bucket):
    s3app.set("transfer.bandwidth_limit", "10M")
    sha = write_random(s3app.zoom / MEETING / "zoom_0.mp4", 40 * 1024 * 1024, seed=6)
    run = spawn(s3app, "run")
    try:
        wait_for(lambda: open_uploads(s3, bucket), timeout=120, what="the multipart upload to start")
        s3.stop()
        try:
            def reported() -> bool:
                status = json.loads(zw(s3app, "status", "--json").stdout)
                return any("unreachable" in (f["last_error"] or "") for f in status["files"])

            wait_for(reported, timeout=180, what="zoomwatch to report the store unreachable")
        finally:
            s3.start()
        wait_for(lambda: json.loads(zw(s3app, "status", "--json").stdout)["counts"]["verified"] == 1,
                 timeout=240, what="the upload to complete once the store is back")
    finally:
        stop_process(run, signal.SIGTERM)
    assert download_sha(s3, bucket, f"backups/ana/{PREFIX_DIR}/zoom_0.mp4") == sha
    assert open_uploads(s3, bucket) == []


def test_credentials_from_the_keyring_never_reach_config_or_log(s3app, s3, bucket, tmp_path):
    s3app.env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    del s3app.env["AWS_ACCESS_KEY_ID"], s3app.env["AWS_SECRET_ACCESS_KEY"]
    s3app.env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    s3app.env["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    assert zw(s3app, "check").stdout.startswith("No S3 credentials")
    assert zw(s3app, "secret", "set", "s3.access_key_id", stdin=ACCESS_KEY + "\n").returncode == 0
    assert zw(s3app, "secret", "set", "s3.secret_access_key", stdin=SECRET_KEY).returncode == 0
    listed = zw(s3app, "secret", "list").stdout
    assert re.search(r"s3.secret_access_key\s+set", listed) and SECRET_KEY not in listed
    sha = write_random(s3app.zoom / MEETING / "zoom_0.mp4", 3000)
    done = zw(s3app, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert download_sha(s3, bucket, f"backups/ana/{PREFIX_DIR}/zoom_0.mp4") == sha
    for text_file in (s3app.paths.config_file, s3app.paths.log_file):
        assert SECRET_KEY not in text_file.read_text()
    assert SECRET_KEY not in done.stdout + done.stderr


def test_file_changing_mid_multipart_aborts_the_old_upload(s3app, s3, bucket):
    s3app.set("transfer.bandwidth_limit", "8M")
    video: Path = s3app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 30 * 1024 * 1024, seed=8)
    run = spawn(s3app, "run")
    try:
        first = wait_for(lambda: open_uploads(s3, bucket), timeout=120, what="the multipart upload to start")
        with open(video, "ab") as out:  # Zoom (or the user) rewrites the file mid-upload
            out.write(b"more bytes")
        s3app.set("transfer.bandwidth_limit", "0")  # the reload also speeds up the second try

        def settled() -> bool:
            status = json.loads(zw(s3app, "status", "--json").stdout)
            return status["counts"]["verified"] == 1 and not any(
                u["UploadId"] == first[0]["UploadId"] for u in open_uploads(s3, bucket))

        wait_for(settled, timeout=240, what="the new version verified and the old upload aborted")
    finally:
        stop_process(run, signal.SIGTERM)
    assert download_sha(s3, bucket, f"backups/ana/{PREFIX_DIR}/zoom_0.mp4") == hashlib.sha256(
        video.read_bytes()).hexdigest()
    assert open_uploads(s3, bucket) == []


# -- multipart uploads no catalog row knows (issue 11.19): aborted at start under the prefix only ----------
# SeaweedFS reports each upload's Initiated time and each part's LastModified, which the idle margin uses.

ORPHAN_PREFIX = "backups/ana"


def start_upload(server: SeaweedS3, bucket_name: str, key: str, *, with_part: bool = True) -> str:
    client = server.client()
    upload_id = client.create_multipart_upload(Bucket=bucket_name, Key=key)["UploadId"]
    if with_part:
        client.upload_part(Bucket=bucket_name, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * 1000)
    return upload_id


def pending(server: SeaweedS3, bucket_name: str) -> dict[str, str]:
    found = server.client().list_multipart_uploads(Bucket=bucket_name).get("Uploads", [])
    return {u["UploadId"]: u["Key"] for u in found}


def remember(app, upload_id: str, key: str) -> None:
    """A catalog row that knows `upload_id`, as an interrupted multipart upload leaves it."""
    from zoomwatch.destinations import open_destination

    dest = open_destination(app.load()).id
    from zoomwatch.core.catalog import Catalog

    recording = app.zoom / "2024-05-06 14.00.00 Board meeting" / "zoom_0.mp4"
    write_random(recording, 10)  # still there: an upload whose file went away would be aborted at start
    catalog = Catalog(app.paths.catalog_file)
    try:
        row = catalog.note_seen(dest, recording, 10, 1)
        catalog.save_progress(row.id, remote_key=key, resume={"upload_id": upload_id, "key": key, "parts": {}})
    finally:
        catalog.close()


@pytest.fixture
def no_idle_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    import zoomwatch.destinations.s3 as s3_module

    monkeypatch.setattr(s3_module, "ORPHAN_IDLE_SECONDS", 0, raising=False)


def test_start_aborts_unknown_uploads_under_the_prefix_only(s3app, s3, bucket, no_idle_margin):
    unknown = start_upload(s3, bucket, f"{ORPHAN_PREFIX}/2024/05/old meeting/zoom_0.mp4")
    unknown_no_part = start_upload(s3, bucket, f"{ORPHAN_PREFIX}/2024/05/other/zoom_1.mp4", with_part=False)
    known = start_upload(s3, bucket, f"{ORPHAN_PREFIX}/2024/05/2024-05-06 14.00.00 Board meeting/zoom_0.mp4")
    outside = start_upload(s3, bucket, "someone-else/video.mp4")
    sibling = start_upload(s3, bucket, "backups/anabel/video.mp4")  # shares the prefix's letters, not its folder
    remember(s3app, known, f"{ORPHAN_PREFIX}/2024/05/2024-05-06 14.00.00 Board meeting/zoom_0.mp4")
    from zoomwatch.app import Engine

    engine = Engine(s3app.load())
    try:
        engine._prepare()
    finally:
        engine.close()
    left = pending(s3, bucket)
    assert unknown not in left and unknown_no_part not in left
    assert {known, outside, sibling} <= set(left)


def test_a_recent_unknown_upload_is_left_alone(s3app, s3, bucket):
    """Another machine backing up to the same prefix may be sending it right now: the default margin holds."""
    fresh = start_upload(s3, bucket, f"{ORPHAN_PREFIX}/2024/05/from another machine/zoom_0.mp4")
    done = zw(s3app, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert fresh in pending(s3, bucket)


def test_no_prefix_means_nothing_is_touched(s3app, s3, bucket, no_idle_margin):
    s3app.set("destination.s3.prefix", "")
    stray = start_upload(s3, bucket, "2024/05/somebody's upload.mp4")
    from zoomwatch.app import Engine

    engine = Engine(s3app.load())
    try:
        engine._prepare()
    finally:
        engine.close()
    assert stray in pending(s3, bucket)
