"""The command line as a user runs it: real subprocesses, real signals, real files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import backed_up_files, sha256_of, stop_process, wait_for, write_random

from zoomwatch import __version__

MEETING = "2024-03-04 16.30.00 Quarterly planning 91234567890"


def zw(app, *args: str, timeout: float = 120, wrap: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(wrap or []), sys.executable, "-m", "zoomwatch", *args], env=app.env,
                          capture_output=True, text=True, timeout=timeout)


def spawn(app, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zoomwatch", *args], env=app.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_version(app):
    done = zw(app, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"zoomwatch {__version__}"


def test_config_commands(app):
    assert zw(app, "config", "path").stdout.strip() == str(app.paths.config_file)
    assert zw(app, "config", "set", "naming.locale", "es").returncode == 0
    assert zw(app, "config", "get", "naming.locale").stdout.strip() == "es"
    shown = zw(app, "config", "show").stdout
    assert f"watch.folder = {app.zoom}" in shown and "naming.locale = es" in shown
    bad = zw(app, "config", "set", "watch.settle_seconds", "soon")
    assert bad.returncode == 3 and "watch.settle_seconds" in bad.stderr and "number" in bad.stderr
    unknown = zw(app, "config", "set", "watch.colour", "blue")
    assert unknown.returncode == 3 and "watch.colour" in unknown.stderr
    assert zw(app, "config", "get", "watch.settle_seconds").stdout.strip() == "1.0"  # unchanged by the bad set


def test_corrupt_config_is_set_aside_and_defaults_used(app):
    app.paths.config_file.write_text("[watch\nfolder = 'oops")
    done = zw(app, "config", "show")
    assert done.returncode == 0
    assert "not valid TOML" in done.stderr
    aside = list(app.paths.config_dir.glob("config.toml.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "[watch\nfolder = 'oops"
    assert "watch.settle_seconds = 30.0" in done.stdout


def test_run_once_backs_up_and_status_reports(app):
    sha = write_random(app.zoom / MEETING / "zoom_0.mp4", 2_000_000)
    write_random(app.zoom / MEETING / "meeting_saved_chat.txt", 300, seed=2)
    done = zw(app, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "2 verified" in done.stdout
    files = backed_up_files(app.backup)
    assert sha256_of(files["2024/03/2024-03-04 16.30.00 Quarterly planning/zoom_0.mp4"]) == sha
    status = json.loads(zw(app, "status", "--json").stdout)
    assert status["counts"]["verified"] == 2 and status["running"] is False
    assert {f["state"] for f in status["files"]} == {"verified"}
    assert all(len(f["sha256"]) == 64 for f in status["files"])
    text = zw(app, "status").stdout
    assert "2 verified" in text and "not running" in text


def test_run_once_reports_files_still_being_written(app):
    app.set("watch.settle_seconds", "600")
    write_random(app.zoom / MEETING / "zoom_0.mp4", 1000, age_seconds=0)
    done = zw(app, "run", "--once", "--max-wait", "2")
    assert done.returncode == 1
    assert "still being written" in done.stdout and "zoom_0.mp4" in done.stdout
    assert backed_up_files(app.backup) == {}


def test_second_run_refuses_and_sigterm_stops_cleanly(app):
    first = spawn(app, "run")
    try:
        wait_for(lambda: app.paths.lock_file.with_suffix(".pid").exists(), what="the first run to start")
        second = zw(app, "run")
        assert second.returncode == 4
        assert "already running" in second.stderr and str(first.pid) in second.stderr
        assert json.loads(zw(app, "status", "--json").stdout)["pid"] == first.pid
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()


def test_restart_with_no_changes_opens_no_recording(app):
    for n in range(4):
        write_random(app.zoom / MEETING / f"audio{n}.m4a", 50_000, seed=n)
    assert zw(app, "run", "--once").returncode == 0
    trace = app.home / "trace.txt"
    again = zw(app, "run", "--once", wrap=["strace", "-f", "-e", "trace=open,openat", "-o", str(trace)])
    assert again.returncode == 0, again.stderr
    opened = [line for line in trace.read_text().splitlines()
              if str(app.zoom) in line and "O_DIRECTORY" not in line and "= -1" not in line]
    assert opened == [], f"a restart re-read recordings: {opened[:3]}"
    assert "4 verified" in again.stdout


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 3 MiB file system (tmpfs), so the backup disk really fills up."""
    mount_point = tmp_path / "usb"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_backup_disk_is_reported_and_nothing_is_lost(app, small_disk):
    app.set("destination.local.path", str(small_disk))
    big = app.zoom / MEETING / "zoom_0.mp4"
    sha = write_random(big, 5 * 1024 * 1024)
    done = zw(app, "run", "--once")
    assert done.returncode == 1
    assert "Backup disk is full" in done.stdout and str(small_disk) in done.stdout
    assert done.stdout.count("Backup disk is full") == 1, done.stdout  # named once, the file listed under it
    assert f"held: Backup disk is full — free space on the disk that holds {small_disk}" in done.stdout
    assert f"  {big}" in done.stdout.splitlines() and "still being written" not in done.stdout
    assert sha256_of(big) == sha  # the recording itself is untouched
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)  # space freed
    again = zw(app, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [sha256_of(p) for p in backed_up_files(small_disk).values()] == [sha]


def test_read_only_backup_disk_is_reported(app, small_disk):
    app.set("destination.local.path", str(small_disk))
    write_random(app.zoom / MEETING / "zoom_0.mp4", 1000)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    done = zw(app, "run", "--once")
    assert done.returncode == 1 and "Backup folder is read-only" in done.stdout
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert zw(app, "run", "--once").returncode == 0


def test_sigkill_mid_copy_then_restart_backs_up_each_file_exactly_once(app):
    app.set("transfer.bandwidth_limit", "40M")
    app.set("transfer.workers", "1")
    shas = {f"audio{n}.m4a": write_random(app.zoom / MEETING / f"audio{n}.m4a", 200_000, seed=n) for n in range(3)}
    shas["zoom_0.mp4"] = write_random(app.zoom / MEETING / "zoom_0.mp4", 120 * 1024 * 1024, seed=9)
    target_dir = app.backup / "2024/03/2024-03-04 16.30.00 Quarterly planning"
    partial = target_dir / ".zoom_0.mp4.zoomwatch-part"
    run = spawn(app, "run")
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size > 30 * 1024 * 1024, timeout=120,
                 what="the big copy to be well under way")
    finally:
        stop_process(run, signal.SIGKILL)
    assert not (target_dir / "zoom_0.mp4").exists()  # never a half-written file under the real name
    app.set("transfer.bandwidth_limit", "0")
    again = zw(app, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    resumed_at = [line for line in again.stderr.splitlines() if "resuming" in line]
    assert resumed_at and int(resumed_at[0].split(" at byte ")[1].split()[0]) >= 30 * 1024 * 1024
    files = backed_up_files(app.backup)
    assert {Path(k).name: sha256_of(p) for k, p in files.items()} == shas  # each once, byte-identical
    assert not list(app.backup.rglob("*.zoomwatch-part"))
    status = json.loads(zw(app, "status", "--json").stdout)
    assert status["counts"]["verified"] == 4 and len(status["files"]) == 4


def test_default_watch_folder_is_documents_zoom_then_zoom(app):
    env = {**app.env}
    app.set("watch.folder", "")
    assert f"# watching: {app.zoom}" in zw(app, "config", "show").stdout
    shutil.rmtree(app.home / "Documents")
    (app.home / "Zoom").mkdir()
    done = subprocess.run([sys.executable, "-m", "zoomwatch", "config", "show"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert f"# watching: {app.home / 'Zoom'}" in done.stdout
    assert os.environ.get("HOME") == str(app.home)
