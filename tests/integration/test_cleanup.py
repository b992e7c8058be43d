"""The local clean-up end to end: real `zoomwatch run --once` and `zoomwatch cleanup` processes, the backup on a
real tmpfs (another disk than the Zoom folder), real send2trash into the XDG trash of the test's own HOME, and a
real SIGKILL in the middle of a clean-up."""

from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers import sha256_of, stop_process, wait_for, write_random

OLD = 20 * 86400  # the recordings' age: older than cleanup.local_after_days


@pytest.fixture
def nas(app, tmp_path: Path) -> Iterator[Path]:
    """The backup folder on a tmpfs mounted for the test: another disk than the Zoom folder."""
    mount = tmp_path / "nas"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount)], check=True)
    try:
        backup = mount / "backup"
        backup.mkdir()
        app.set("destination.local.path", str(backup))
        yield backup
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def zw(app, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True, text=True,
                          timeout=timeout)


def meeting_folder(app, name: str, *, seed: int, size: int = 300_000) -> dict[str, str]:
    folder = app.zoom / name
    sums = {
        "video1234.mp4": write_random(folder / "video1234.mp4", size, seed=seed, age_seconds=OLD),
        "audio1234.m4a": write_random(folder / "audio1234.m4a", size // 3, seed=seed + 1, age_seconds=OLD),
    }
    (folder / "recording.conf").write_text('{"items": []}')  # Zoom's own file: not backed up
    return sums


def trash_dir(app) -> Path:
    return Path(app.env["XDG_DATA_HOME"]) / "Trash"


def trash_entries(app) -> dict[str, Path]:
    """Each trashed item by the name it had (its .trashinfo's Path, as a file manager shows it) -> where it is.
    A kill between send2trash's .trashinfo and its rename leaves an info file alone; the next trashing of that
    folder is then stored as "NAME.2": both are what a person sees in the trash."""
    files = trash_dir(app) / "files"
    found = {}
    for item in (files.iterdir() if files.exists() else ()):
        info = configparser.ConfigParser(interpolation=None)
        info.read(trash_dir(app) / "info" / f"{item.name}.trashinfo")
        found[Path(unquote(info["Trash Info"]["Path"])).name] = item
    return found


def in_trash(app) -> set[str]:
    return set(trash_entries(app))


def restore(app, name: str) -> Path:
    """Put a trashed item back where its .trashinfo says it was (what a file manager's Restore does)."""
    info = configparser.ConfigParser(interpolation=None)
    info.read(trash_dir(app) / "info" / f"{name}.trashinfo")
    original = Path(unquote(info["Trash Info"]["Path"]))
    os.rename(trash_dir(app) / "files" / name, original)
    (trash_dir(app) / "info" / f"{name}.trashinfo").unlink()
    return original


def backed_up(app) -> None:
    done = zw(app, "run", "--once", "--max-wait", "60")
    assert done.returncode == 0, done.stdout + done.stderr


def _files(app) -> list[dict]:
    return json.loads(zw(app, "status", "--json").stdout)["files"]


def states(app) -> dict[str, str]:
    return {Path(f["path"]).relative_to(app.zoom).as_posix(): f["state"] for f in _files(app)}


def remote_keys(app) -> dict[str, str]:
    return {Path(f["path"]).relative_to(app.zoom).as_posix(): f["remote_key"] for f in _files(app)}


def test_safe_meeting_folders_go_to_the_xdg_trash_and_come_back_from_it_altered_or_deleted_backups_stay(app, nas):
    sums = {name: meeting_folder(app, name, seed=n * 10) for n, name in enumerate(("Alpha", "Bravo", "Charlie"))}
    young = meeting_folder(app, "Delta", seed=99)
    for name in young:
        os.utime(app.zoom / "Delta" / name)  # recorded just now: kept for cleanup.local_after_days
    backed_up(app)
    keys = remote_keys(app)
    bravo_video = nas / keys["Bravo/video1234.mp4"]
    bravo_video.write_bytes(b"\0" * bravo_video.stat().st_size)  # altered behind zoomwatch's back (same size)
    (nas / keys["Charlie/audio1234.m4a"]).unlink()  # deleted behind its back
    app.set("cleanup.local_after_days", "7")

    dry = zw(app, "cleanup", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would go to the OS trash: " + str(app.zoom / "Alpha") in dry.stdout, dry.stdout
    assert in_trash(app) == set() and (app.zoom / "Alpha" / "video1234.mp4").exists()  # a dry run moves nothing

    done = zw(app, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert in_trash(app) == {"Alpha"}, done.stdout
    assert not (app.zoom / "Alpha").exists()
    for name in ("Bravo", "Charlie", "Delta"):  # every file of them still in place, untouched
        assert sorted(p.name for p in (app.zoom / name).iterdir()) == ["audio1234.m4a", "recording.conf",
                                                                        "video1234.mp4"]
    assert f"stays: {app.zoom / 'Bravo'} — video1234.mp4: its backup" in done.stdout and "differs" in done.stdout
    assert f"stays: {app.zoom / 'Charlie'} — audio1234.m4a: its backup" in done.stdout and "missing" in done.stdout
    assert f"stays: {app.zoom / 'Delta'} — kept until" in done.stdout
    assert "came back" in done.stdout
    after = states(app)  # the altered and the deleted backups are made again first
    assert after["Bravo/video1234.mp4"] == "queued" and after["Charlie/audio1234.m4a"] == "queued"

    history = zw(app, "cleanup", "--history")
    assert "to the OS trash" in history.stdout and str(app.zoom / "Alpha") in history.stdout, history.stdout

    restored = restore(app, "Alpha")
    assert restored == app.zoom / "Alpha"
    assert {name: sha256_of(restored / name) for name in sums["Alpha"]} == sums["Alpha"]
    assert (restored / "recording.conf").read_text() == '{"items": []}'  # Zoom's own file went with its folder


def test_a_backup_on_the_same_disk_or_unreachable_frees_nothing_and_says_why(app, nas):
    meeting_folder(app, "Alpha", seed=1)
    backed_up(app)
    app.set("cleanup.local_after_days", "7")
    nas.rename(nas.with_name("elsewhere"))  # the backup drive's folder is gone (unplugged, renamed)
    held = zw(app, "cleanup")
    assert held.returncode == 1, held.stdout + held.stderr
    assert "could not check the backups" in held.stdout and str(nas) in held.stdout
    assert in_trash(app) == set() and (app.zoom / "Alpha" / "video1234.mp4").exists()

    same = app.home / "backup-here"  # a backup folder on the Zoom folder's own disk
    same.mkdir()
    app.set("destination.local.path", str(same))
    backed_up(app)
    kept = zw(app, "cleanup")
    assert "same disk" in kept.stdout, kept.stdout
    assert in_trash(app) == set() and (app.zoom / "Alpha" / "video1234.mp4").exists()


def test_a_file_changed_after_its_backup_is_backed_up_again_never_trashed_in_between(app, nas):
    meeting_folder(app, "Alpha", seed=1)
    backed_up(app)
    app.set("cleanup.local_after_days", "7")
    video = app.zoom / "Alpha" / "video1234.mp4"
    with open(video, "ab") as out:
        out.write(b"more")
    os.utime(video, (time.time() - OLD, time.time() - OLD))
    kept = zw(app, "cleanup")
    assert "video1234.mp4 changed since its backup" in kept.stdout, kept.stdout
    assert in_trash(app) == set()
    backed_up(app)  # the new version is backed up and verified...
    done = zw(app, "cleanup")  # ...and only then goes
    assert in_trash(app) == {"Alpha"}, done.stdout


def test_sigkill_during_a_cleanup_loses_nothing_and_the_journal_agrees_after_restart(app, nas):
    names = [f"Meeting {n:03d}" for n in range(150)]
    expected: dict[str, dict[str, str]] = {}
    for n, name in enumerate(names):
        folder = app.zoom / name
        expected[name] = {"video1234.mp4": write_random(folder / "video1234.mp4", 20_000, seed=n, age_seconds=OLD)}
    backed_up(app)
    app.set("cleanup.local_after_days", "7")
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "cleanup"], env=app.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(in_trash(app)) >= 10 or run.poll() is not None, timeout=120, what="the clean-up going")
    finally:
        stop_process(run, signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL, "the clean-up ended before it was killed: kill it sooner"
    trashed = in_trash(app)
    assert 10 <= len(trashed) < len(names)
    for name in names:  # each meeting folder whole, in exactly one place
        where = trash_entries(app)[name] if name in trashed else app.zoom / name
        assert not (app.zoom / name).exists() or name not in trashed
        assert {p.name: sha256_of(p) for p in where.iterdir()} == expected[name], name

    history = zw(app, "cleanup", "--history")  # a later start settles what the killed one left pending
    assert history.returncode == 0
    lines = history.stdout.splitlines()
    went = {name for name in names if any(line.endswith(str(app.zoom / name)) and "to the OS trash" in line
                                          for line in lines)}
    assert went == trashed
    assert "pending" not in history.stdout

    done = zw(app, "cleanup")  # and the clean-up finishes the rest
    assert done.returncode == 0, done.stdout + done.stderr
    assert in_trash(app) == set(names)


def test_the_settings_form_edits_the_clean_up_with_a_plain_warning_and_the_tray_shows_space_freed(app):
    from zoomwatch.core.status import Snapshot
    from zoomwatch.ui import settings_form as form
    from zoomwatch.ui.tray import space_freed

    values = form.current_values(app.load())
    assert values["cleanup.local_after_days"] == "0" and values["zoom.trash_after_backup"] == "off"
    values.update({"cleanup.local_after_days": "30", "zoom.trash_after_backup": "on", "zoom.trash_after_days": "-1"})
    assert "zoom.trash_after_days" in form.save(values, app.paths)  # refused, nothing saved
    values["zoom.trash_after_days"] = "14"
    assert form.save(values, app.paths) == {}
    saved = app.load()
    assert (saved["cleanup.local_after_days"], saved["zoom.trash_after_backup"], saved["zoom.trash_after_days"]) \
        == (30, True, 14)
    assert "trash" in form.CLEANUP_WARNING and "checked" in form.CLEANUP_WARNING
    assert {f.key for f in form.FIELDS if f.section == "Clean-up"} == {
        "zoom.warn_days", "zoom.trash_after_backup", "zoom.trash_after_days", "cleanup.local_after_days"}
    assert space_freed(Snapshot(freed=1_234_000_000)) == "Space freed: 1.2 GB"


def test_a_running_zoomwatch_cleans_up_by_itself(app, nas):
    meeting_folder(app, "Alpha", seed=1)
    app.set("cleanup.local_after_days", "7")
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=app.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:  # backed up first, then in the trash (the clean-up looks again once the uploads are done)
        wait_for(lambda: in_trash(app) == {"Alpha"}, timeout=180, what="the folder going to the trash")
    finally:
        stop_process(run, signal.SIGTERM)
    assert run.returncode == 0
    assert states(app) == {"Alpha/audio1234.m4a": "verified", "Alpha/video1234.mp4": "verified"}
