"""`zoomwatch run --once` reports each file with its true reason: finished files that wait for a broken
destination are listed under that problem (named once), never as "still being written"; only the files
really still being written are. Real subprocesses, a real folder, a real S3 server (SeaweedFS)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from helpers import write_random
from s3server import ACCESS_KEY, SECRET_KEY

MEETING = "2024-03-04 16.30.00 Quarterly planning 91234567890"


def run_once(app, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", "run", "--once", *extra], env=app.env,
                          capture_output=True, text=True, timeout=180)


def finished_and_unfinished(app) -> tuple[list[str], str]:
    """Two recordings finished an hour ago, and a chat file written just now (still being written)."""
    finished = [app.zoom / MEETING / name for name in ("zoom_0.mp4", "audio_only.m4a")]
    for n, path in enumerate(finished):
        write_random(path, 3000, seed=n)
    fresh = app.zoom / MEETING / "meeting_saved_chat.txt"
    write_random(fresh, 200, seed=9, age_seconds=0)
    return [str(p) for p in finished], str(fresh)


def assert_held(done: subprocess.CompletedProcess, title: str, finished: list[str], fresh: str | None) -> None:
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    lines = out.splitlines()
    held = [i for i, line in enumerate(lines) if line.startswith("held: ")]
    assert len(held) == 1 and lines[held[0]].startswith(f"held: {title} — "), out
    assert out.count(title) == 1, f"the problem must be named once, not per file: {out}"
    assert sorted(line.strip() for line in lines[held[0] + 1:held[0] + 1 + len(finished)]) == sorted(finished)
    writing = [line.removeprefix("still being written: ") for line in lines if line.startswith("still being written")]
    assert writing == ([fresh] if fresh else []), out


def test_missing_backup_folder_holds_finished_files_and_says_why(app):
    app.set("watch.settle_seconds", "600")
    app.set("destination.local.path", str(app.backup / "usb-drive-not-plugged-in"))
    finished, fresh = finished_and_unfinished(app)
    done = run_once(app, "--max-wait", "1")
    assert_held(done, "Backup folder is missing", finished, fresh)
    assert "usb-drive-not-plugged-in does not exist" in done.stdout


def test_a_meeting_zoom_still_converts_is_reported_as_such(app):
    write_random(app.zoom / MEETING / "zoom_0.mp4", 3000)
    write_random(app.zoom / MEETING / "double_click_to_convert_01.zoom", 100)
    done = run_once(app, "--max-wait", "3")
    assert done.returncode == 1
    assert "still being written" not in done.stdout
    assert f"waiting: {app.zoom / MEETING / 'zoom_0.mp4'} — Zoom is still converting this meeting" in done.stdout


@pytest.mark.parametrize(("broken", "title"), [("bucket", "S3 bucket not found"),
                                               ("secret", "S3 credentials rejected")])
def test_broken_s3_destination_holds_finished_files_and_says_why(app, s3, broken, title):
    bucket = f"zw-{uuid.uuid4().hex[:12]}"
    if broken != "bucket":
        s3.create_bucket(bucket)
    for key, value in (("destination.kind", "s3"), ("destination.s3.bucket", bucket),
                       ("destination.s3.endpoint_url", s3.endpoint), ("destination.s3.region", "us-east-1"),
                       ("destination.s3.addressing_style", "path")):
        app.set(key, value)
    app.env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
                   AWS_SECRET_ACCESS_KEY=SECRET_KEY if broken != "secret" else "wrong-secret")
    finished = [app.zoom / MEETING / name for name in ("zoom_0.mp4", "audio_only.m4a")]
    for n, path in enumerate(finished):
        write_random(path, 3000, seed=n)
    done = run_once(app)
    assert_held(done, title, [str(p) for p in finished], None)
    assert "wrong-secret" not in done.stdout + done.stderr
