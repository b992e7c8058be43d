"""Defects of the transfer workers and the catalog (issue 11), end to end with real components: a real
exFAT file system (case-insensitive), two catalogs sharing one backup folder, real SQLite files, real
subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import backed_up_files, sha256_of, write_random

from zoomwatch import config
from zoomwatch.catalog import Catalog
from zoomwatch.destinations.local import LocalDestination
from zoomwatch.engine import Engine
from zoomwatch.paths import AppPaths
from zoomwatch.transfer import RetryPolicy

START = "2024-01-15 10.00.00"
FOLDER = "2024/01/2024-01-15 10.00.00 Team Sync"


def engine_for(app, config=None) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(config or app.load(), retry=RetryPolicy(base=0.2, cap=1.0))


def run_once(engine: Engine, max_wait: float = 30):  # type: ignore[no-untyped-def]
    try:
        return engine.run_once(max_wait)
    finally:
        engine.close()


@pytest.fixture
def exfat(tmp_path: Path) -> Iterator[Path]:
    """A real exFAT file system (case-insensitive, as USB drives are) mounted through FUSE on a loop device."""
    image, mount = tmp_path / "exfat.img", tmp_path / "exfat"
    mount.mkdir()
    with open(image, "wb") as out:
        out.truncate(64 * 1024 * 1024)
    subprocess.run(["mkfs.exfat", str(image)], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], check=True, capture_output=True,
                          text=True).stdout.strip()
    try:
        subprocess.run(["mount.exfat-fuse", loop, str(mount)], check=True, capture_output=True)
        try:
            (mount / "Probe").write_text("x")
            assert (mount / "PROBE").exists(), "the exFAT mount is expected to ignore case"
            (mount / "Probe").unlink()
            yield mount
        finally:
            subprocess.run(["umount", str(mount)], check=False, capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)


# -- 11.2: names that differ only in case or Unicode normalisation --------------------------------


def _three_meetings(zoom: Path, titles: list[str]) -> dict[str, str]:
    return {title: write_random(zoom / f"{START} {title}" / "zoom_0.mp4", 50_000 + n, seed=n)
            for n, title in enumerate(titles)}


def test_case_twins_are_three_files_on_a_real_case_insensitive_drive(app, exfat: Path) -> None:
    backup = exfat / "backup"
    backup.mkdir()
    app.set("destination.local.path", str(backup))
    shas = _three_meetings(app.zoom, ["Team Sync", "TEAM SYNC", "team sync"])

    result = run_once(engine_for(app))

    assert result.ok, result.summary()
    assert result.counts["verified"] == 3
    files = backed_up_files(backup)
    assert len(files) == 3, sorted(files)
    assert sorted(sha256_of(p) for p in files.values()) == sorted(shas.values()), "each recording kept whole"


def test_unicode_normalisation_twins_are_distinct_files(app) -> None:
    shas = _three_meetings(app.zoom, ["Caf\u00e9", "Cafe\u0301", "CAF\u00c9"])

    result = run_once(engine_for(app))

    assert result.ok, result.summary()
    files = backed_up_files(app.backup)
    assert len({unicodedata.normalize("NFC", name).casefold() for name in files}) == 3, sorted(files)
    assert sorted(sha256_of(p) for p in files.values()) == sorted(shas.values())


# -- 11.3: two machines, one backup folder ------------------------------------------------------------


def second_machine(app, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Another computer: its own settings, catalog and Zoom folder, the same backup folder."""
    base = tmp_path / "machine-b"
    paths = AppPaths(base / "config", base / "data", base / "state", base / "log", base / "cache")
    zoom = base / "Zoom"
    zoom.mkdir(parents=True)
    for key, value in (("watch.folder", str(zoom)), ("destination.local.path", str(app.backup)),
                       ("watch.settle_seconds", "1")):
        config.set_value(paths, key, value)
    return paths, zoom


def test_two_machines_with_the_same_meeting_name_both_keep_their_recording(app, tmp_path: Path) -> None:
    paths_b, zoom_b = second_machine(app, tmp_path)
    name = f"{START} Team Sync/zoom_0.mp4"
    sha_a = write_random(app.zoom / name, 40_000, seed=1)
    sha_b = write_random(zoom_b / name, 40_000, seed=2)  # same size, other content

    assert run_once(engine_for(app)).ok
    result = run_once(engine_for(app, config.load(paths_b)))

    assert result.ok, result.summary()
    files = backed_up_files(app.backup)
    assert sorted(sha256_of(p) for p in files.values()) == sorted([sha_a, sha_b]), sorted(files)
    assert sha256_of(app.backup / FOLDER / "zoom_0.mp4") == sha_a, "machine A's backup is untouched"
    assert sha256_of(app.backup / FOLDER / "zoom_0 (2).mp4") == sha_b
    check = Catalog(paths_b.catalog_file)
    try:
        row = check.current(f"local:{app.backup}", zoom_b / name)
        assert row is not None and row.state == "verified" and row.remote_key == f"{FOLDER}/zoom_0 (2).mp4"
    finally:
        check.close()


def test_a_new_version_of_the_same_recording_still_replaces_its_own_backup(app) -> None:
    video = app.zoom / f"{START} Team Sync/zoom_0.mp4"
    write_random(video, 40_000, seed=1)
    assert run_once(engine_for(app)).ok
    new_sha = write_random(video, 50_000, seed=3, age_seconds=1800)

    result = run_once(engine_for(app))

    assert result.ok, result.summary()
    assert list(backed_up_files(app.backup)) == [f"{FOLDER}/zoom_0.mp4"]
    assert sha256_of(app.backup / FOLDER / "zoom_0.mp4") == new_sha


# -- 11.12 / 18.16: nothing after verification may undo it -----------------------------------------


def test_meeting_folder_name_with_invalid_utf8_is_verified_and_run_once_exits_0(app) -> None:
    folder = os.fsencode(app.zoom) + b"/2024-01-15 10.00.00 R\xe9union \xff"
    os.mkdir(folder)
    video = Path(os.fsdecode(folder + b"/zoom_0.mp4"))
    sha = write_random(video, 30_000)

    done = subprocess.run([sys.executable, "-m", "zoomwatch", "run", "--once", "--max-wait", "20"],
                          env=app.env, capture_output=True, timeout=120)

    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert b"internal error" not in done.stderr and b"unexpected error" not in done.stderr
    files = backed_up_files(app.backup)
    assert [sha256_of(p) for p in files.values()] == [sha]
    sidecars = list(app.backup.rglob("meeting.json"))
    assert len(sidecars) == 1
    meta = json.loads(sidecars[0].read_bytes().decode("utf-8"))  # valid UTF-8 JSON
    assert meta["files"][0]["sha256"] == sha
    status = subprocess.run([sys.executable, "-m", "zoomwatch", "status", "--json"], env=app.env,
                            capture_output=True, timeout=60, check=True)
    assert [f["state"] for f in json.loads(status.stdout)["files"]] == ["verified"]


class SpoolHeld(LocalDestination):
    """A destination whose `location` (asked after the file is verified) fails, as a clean-up step does
    when an antivirus holds the spool file."""

    def location(self, key: str) -> str:
        raise PermissionError(13, "held by another process")


def test_a_failing_step_after_verification_leaves_the_file_verified(app) -> None:
    video = app.zoom / f"{START} Team Sync/zoom_0.mp4"
    write_random(video, 30_000)
    cfg = app.load()

    result = run_once(Engine(cfg, destination=SpoolHeld(app.backup),
                                                                 retry=RetryPolicy(base=0.2, cap=1.0)))

    assert result.ok, result.summary()
    assert result.counts["verified"] == 1 and result.counts["failed"] == 0
