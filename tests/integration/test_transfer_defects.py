"""Defects of the transfer workers and the catalog (issue 11), end to end with real components: a real
exFAT file system (case-insensitive), two catalogs sharing one backup folder, real SQLite files, real
subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import backed_up_files, sha256_of, wait_for, write_random

from zoomwatch import config
from zoomwatch.app import Engine
from zoomwatch.core.catalog import Catalog
from zoomwatch.core.transfer import RetryPolicy
from zoomwatch.destinations.base import SourceFile
from zoomwatch.destinations.local import LocalDestination
from zoomwatch.paths import AppPaths

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


# -- 11.13: a file that reads (or is stored) differently every time ----------------------------------


class Corrupting(LocalDestination):
    """A backup drive that damages what it stores: one byte flipped, or the last byte lost."""

    def __init__(self, root: Path, how: str) -> None:
        super().__init__(root)
        self.how = how
        self.uploads = 0

    def upload(self, source, key, session):  # type: ignore[no-untyped-def]
        self.uploads += 1
        sha = super().upload(source, key, session)
        target = self._target(key)
        data = bytearray(target.read_bytes())
        if self.how == "flip":
            data[len(data) // 2] ^= 0xFF
        else:
            del data[-1]
        target.write_bytes(bytes(data))
        return sha


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_destination_that_corrupts_bytes_is_retried_with_backoff_then_given_up(app, how: str) -> None:
    video = app.zoom / f"{START} Team Sync/zoom_0.mp4"
    write_random(video, 20_000)
    destination = Corrupting(app.backup, how)
    engine = Engine(app.load(), destination=destination, retry=RetryPolicy(base=0.3, cap=1.0))
    engine.start()
    try:
        def given_up() -> bool:
            row = engine.catalog.current(destination.id, video)
            return bool(row and row.state == "failed" and row.blocked)

        wait_for(given_up, timeout=60, what="the file to be given up")
        row = engine.catalog.current(destination.id, video)
        assert row is not None
        assert destination.uploads == 5, "bounded: five tries, not a tight loop"
        assert row.attempts == 5 and row.next_try_at is None
        assert "the copy at the destination differed from the file every time" in (row.last_error or "")
        assert "gave up after 5 tries" in (row.last_error or "")
        assert engine.catalog.next_due(destination.id) is None, "nothing is scheduled again"
    finally:
        engine.stop()
        engine.close()
    status = subprocess.run([sys.executable, "-m", "zoomwatch", "status"], env=app.env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert "gave up after 5 tries" in status.stdout


class ShortReads(LocalDestination):
    """The source reads shorter than it is listed (as a sysfs file does): the copy ends early."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.uploads = 0

    def upload(self, source, key, session):  # type: ignore[no-untyped-def]
        self.uploads += 1
        listed = SourceFile(source.path, source.size + 7, source.mtime_ns, display=source.display)
        return super().upload(listed, key, session)


def test_a_source_whose_size_differs_from_its_listing_is_given_up_with_a_clear_reason(app) -> None:
    video = app.zoom / f"{START} Team Sync/zoom_0.mp4"
    write_random(video, 20_000)
    destination = ShortReads(app.backup)
    engine = Engine(app.load(), destination=destination, retry=RetryPolicy(base=0.3, cap=1.0))
    engine.start()
    try:
        wait_for(lambda: (r := engine.catalog.current(destination.id, video)) and r.blocked, timeout=60,
                 what="the file to be given up")
        row = engine.catalog.current(destination.id, video)
        assert row is not None and row.state == "failed" and destination.uploads == 5
        assert "changed size every time it was read; gave up after 5 tries" in (row.last_error or "")
    finally:
        engine.stop()
        engine.close()


# -- 11.15: meeting.json once per folder ---------------------------------------------------------------


class CountingSidecars(LocalDestination):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.sidecar_writes = 0

    def write_small(self, key: str, data: bytes) -> None:
        self.sidecar_writes += 1
        super().write_small(key, data)


def test_meeting_json_is_written_once_per_folder_not_after_every_file(app) -> None:
    folder = app.zoom / f"{START} Team Sync"
    for n in range(40):
        write_random(folder / f"chat_{n}.txt", 100 + n, seed=n)
    destination = CountingSidecars(app.backup)

    result = run_once(Engine(app.load(), destination=destination))

    assert result.ok and result.counts["verified"] == 40
    assert destination.sidecar_writes <= 3, destination.sidecar_writes
    meta = json.loads((app.backup / FOLDER / "meeting.json").read_text())
    assert len(meta["files"]) == 40, "the last meeting.json lists every file"

    again = CountingSidecars(app.backup)
    assert run_once(Engine(app.load(), destination=again)).ok
    assert again.sidecar_writes == 0, "a run that copied nothing writes nothing"


def test_a_machine_that_uploads_nothing_does_not_rewrite_meeting_json(app, tmp_path: Path) -> None:
    paths_b, zoom_b = second_machine(app, tmp_path)
    name = f"{START} Team Sync/zoom_0.mp4"
    write_random(app.zoom / name, 40_000, seed=1)
    write_random(zoom_b / name, 40_000, seed=1)  # the same recording, on both machines
    assert run_once(engine_for(app)).ok
    written = (app.backup / FOLDER / "meeting.json").read_bytes()
    destination = CountingSidecars(app.backup)

    assert run_once(Engine(config.load(paths_b), destination=destination)).ok

    assert destination.sidecar_writes == 0
    assert (app.backup / FOLDER / "meeting.json").read_bytes() == written


# -- 11.20: a renamed meeting folder keeps its backup ---------------------------------------------------


def test_renamed_meeting_folder_is_not_copied_again(app) -> None:
    old = app.zoom / f"{START} Team Sync"
    sha = write_random(old / "zoom_0.mp4", 60_000)
    write_random(old / "chat.txt", 500, seed=4)
    assert run_once(engine_for(app)).ok
    before = {name: p.stat().st_mtime_ns for name, p in backed_up_files(app.backup).items()}
    new = app.zoom / f"{START} Team Sync (renamed)"
    old.rename(new)

    engine = engine_for(app)
    dest_id = engine.destination.id
    result = engine.run_once(30)
    try:
        assert result.ok, result.summary()
        assert {n: p.stat().st_mtime_ns for n, p in backed_up_files(app.backup).items()} == before, \
            "no second copy, nothing rewritten"
        row = engine.catalog.current(dest_id, new / "zoom_0.mp4")
        assert row is not None and row.state == "verified" and row.sha256 == sha
        assert row.remote_key == f"{FOLDER}/zoom_0.mp4"
        assert result.counts["verified"] == 2
    finally:
        engine.close()


# -- 11.19: an unfinished upload of a file deleted while zoomwatch was stopped ---------------------------


class HoldingUploads(LocalDestination):
    """Records discard calls; with `hold`, an upload stores its resume state and waits to be stopped,
    as a long multipart upload does."""

    def __init__(self, root: Path, *, hold: bool = False) -> None:
        super().__init__(root)
        self.hold = hold
        self.holding = threading.Event()
        self.discarded: list[dict | None] = []  # type: ignore[type-arg]

    def upload(self, source, key, session):  # type: ignore[no-untyped-def]
        if self.hold:
            session.save_resume({"upload_id": "multipart-1", "parts": {"1": "etag-1"}})
            self.holding.set()
            session.stop.wait(60)
            session.check_stop()
        return super().upload(source, key, session)

    def discard(self, resume):  # type: ignore[no-untyped-def]
        self.discarded.append(resume)


def test_upload_of_a_file_deleted_while_stopped_is_discarded_once_at_start(app) -> None:
    video = app.zoom / f"{START} Team Sync/zoom_0.mp4"
    write_random(video, 20_000)
    holding = HoldingUploads(app.backup, hold=True)
    engine = Engine(app.load(), destination=holding)
    engine.start()
    try:
        wait_for(holding.holding.is_set, what="the upload to start")
    finally:
        engine.stop()
        engine.close()
    video.unlink()  # deleted while zoomwatch is stopped

    recording = HoldingUploads(app.backup)
    engine = Engine(app.load(), destination=recording)
    try:
        engine.run_once(10)
        row = engine.catalog.current(recording.id, video)
        assert recording.discarded == [{"upload_id": "multipart-1", "parts": {"1": "etag-1"}}]
        assert row is not None and row.state == "missing" and row.resume is None
    finally:
        engine.close()
    again = HoldingUploads(app.backup)
    engine = Engine(app.load(), destination=again)
    try:
        engine.run_once(10)
        assert again.discarded == [], "discarded once, not at every start"
    finally:
        engine.close()


# -- a backup folder emptied (or re-created empty) while its files were verified ---------------------------


def test_recordings_whose_backup_vanished_are_copied_again_at_start(app) -> None:
    video = app.zoom / f"{START} Team Sync/zoom_0.mp4"
    sha = write_random(video, 30_000)
    assert run_once(engine_for(app)).ok
    shutil.rmtree(app.backup)

    missing = run_once(engine_for(app))  # the folder itself is gone: wait for it, copy nothing yet
    assert not missing.ok and "Backup folder is missing" in missing.summary()
    assert missing.counts["verified"] == 1

    app.backup.mkdir()  # the user re-creates it, empty
    result = run_once(engine_for(app))

    assert result.ok, result.summary()
    assert result.counts["verified"] == 1
    assert [sha256_of(p) for p in backed_up_files(app.backup).values()] == [sha]


# -- 11.16: a damaged catalog --------------------------------------------------------------------------


def zoomwatch(app, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("damage", ["garbage", "zero bytes"])
def test_damaged_catalog_is_set_aside_and_rebuilt_without_copying_again(app, damage: str) -> None:
    for n in range(30):
        write_random(app.zoom / f"{START} Team Sync" / f"chat_{n}.txt", 3_000, seed=n)
    first = zoomwatch(app, "run", "--once", "--max-wait", "20")
    assert first.returncode == 0, first.stderr[-2000:]
    stamps = {name: p.stat().st_mtime_ns for name, p in backed_up_files(app.backup).items()}
    assert len(stamps) == 30
    catalog = app.paths.catalog_file
    size = catalog.stat().st_size
    with open(catalog, "r+b") as out:
        if damage == "garbage":
            out.seek(size // 2)
            out.write(b"\xde\xad\xbe\xef" * (size // 16))
        else:
            out.truncate(0)

    status = zoomwatch(app, "status")
    assert "Traceback" not in status.stderr, status.stderr
    assert status.returncode == 0
    if damage == "garbage":
        assert "The catalog is damaged" in status.stderr and "zoomwatch run" in status.stderr

    again = zoomwatch(app, "run", "--once", "--max-wait", "20")
    assert "Traceback" not in again.stderr, again.stderr[-3000:]
    assert again.returncode == 0, again.stderr[-3000:]
    assert "30 verified" in again.stdout
    aside = list(catalog.parent.glob("catalog.sqlite3.corrupt-*"))
    if damage == "garbage":
        assert "is damaged" in again.stderr and len(aside) == 1 and aside[0].stat().st_size == size
    assert {name: p.stat().st_mtime_ns for name, p in backed_up_files(app.backup).items()} == stamps, \
        "nothing copied again"
    assert "30 verified" in zoomwatch(app, "status").stdout
