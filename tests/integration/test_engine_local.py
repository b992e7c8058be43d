"""The engine end to end, in-process: real watchdog on real folders, real SQLite, a real backup folder."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import backed_up_files, sha256_of, wait_for, write_random

from zoomwatch.app import Engine
from zoomwatch.core.transfer import RetryPolicy

MEETING = "2024-01-15 10.00.00 Weekly sync 84512345678"


@pytest.fixture
def engines(app) -> Iterator[list[Engine]]:
    started: list[Engine] = []
    yield started
    for engine in started:
        engine.stop()
        engine.close()


def start(app, engines: list[Engine]) -> Engine:
    engine = Engine(app.load(), retry=RetryPolicy(base=0.2, cap=1.0))
    engine.acquire()
    engine.start()
    engines.append(engine)
    return engine


def state_of(engine: Engine, path: Path) -> str | None:
    row = engine.catalog.current(engine.destination.id, path)
    return row.state if row else None


def verified(engine: Engine, path: Path) -> bool:
    return state_of(engine, path) == "verified"


def test_recordings_present_at_start_are_backed_up_verified_with_sidecar(app, engines):
    folder = app.zoom / MEETING
    video = folder / "zoom_0.mp4"
    chat = folder / "chat.txt"
    video_sha = write_random(video, 3_000_000)
    chat_sha = write_random(chat, 1_000, seed=1)
    (folder / "recording.conf").write_text("internal")
    engine = start(app, engines)
    wait_for(lambda: verified(engine, video) and verified(engine, chat), what="both files verified")

    files = backed_up_files(app.backup)
    assert set(files) == {"2024/01/2024-01-15 10.00.00 Weekly sync/zoom_0.mp4",
                          "2024/01/2024-01-15 10.00.00 Weekly sync/chat.txt"}
    assert sha256_of(files["2024/01/2024-01-15 10.00.00 Weekly sync/zoom_0.mp4"]) == video_sha
    sidecar = app.backup / "2024/01/2024-01-15 10.00.00 Weekly sync/meeting.json"
    wait_for(lambda: sidecar.exists() and len(json.loads(sidecar.read_text())["files"]) == 2,
             what="meeting.json listing both files")
    meta = json.loads(sidecar.read_text())
    assert (meta["title"], meta["meeting_id"], meta["start"]) == ("Weekly sync", "84512345678", "2024-01-15T10:00:00")
    assert {f["name"]: f["sha256"] for f in meta["files"]} == {"zoom_0.mp4": video_sha, "chat.txt": chat_sha}
    assert (folder / "recording.conf").read_text() == "internal"  # the Zoom folder is untouched
    assert sorted(p.name for p in folder.iterdir()) == ["chat.txt", "recording.conf", "zoom_0.mp4"]


def test_slow_writer_gets_backed_up_whole_never_a_prefix(app, engines):
    app.set("watch.settle_seconds", "3")
    engine = start(app, engines)
    video = app.zoom / MEETING / "zoom_0.mp4"
    video.parent.mkdir()
    chunks = [os.urandom(400_000) for _ in range(5)]
    with open(video, "wb") as out:
        for chunk in chunks:  # Zoom's converter writes with pauses longer than a second
            out.write(chunk)
            out.flush()
            time.sleep(1.5)
    wait_for(lambda: verified(engine, video), what="the slowly written file to be verified")
    backup = app.backup / "2024/01/2024-01-15 10.00.00 Weekly sync/zoom_0.mp4"
    assert backup.read_bytes() == b"".join(chunks)
    versions = [r for r in engine.catalog.rows(engine.destination.id, include_old=True) if r.fs_path == video]
    assert [r.state for r in versions] == ["verified"], "a prefix of the file was backed up on the way"


def test_waits_while_zoom_converts_then_backs_up(app, engines):
    folder = app.zoom / MEETING
    marker = folder / "double_click_to_convert_01.zoom"
    write_random(marker, 10_000, seed=3)
    video = folder / "zoom_0.mp4"
    sha = write_random(video, 2_000_000)
    engine = start(app, engines)

    def waiting_reason() -> str | None:
        row = engine.catalog.current(engine.destination.id, video)
        return row.last_error if row and row.state == "settling" else None

    assert "converting" in str(wait_for(waiting_reason, what="the file to wait for Zoom's conversion"))
    assert backed_up_files(app.backup) == {}
    marker.unlink()  # Zoom finished converting
    wait_for(lambda: verified(engine, video), what="backup after conversion ended")
    assert sha256_of(app.backup / "2024/01/2024-01-15 10.00.00 Weekly sync/zoom_0.mp4") == sha


def test_file_changed_after_backup_is_backed_up_again_as_new_version(app, engines):
    chat = app.zoom / MEETING / "chat.txt"
    write_random(chat, 500)
    engine = start(app, engines)
    wait_for(lambda: verified(engine, chat), what="first version verified")
    with open(chat, "ab") as out:
        out.write(b"\n10:42 Ana: one more thing")
    new_content = chat.read_bytes()
    backup = app.backup / "2024/01/2024-01-15 10.00.00 Weekly sync/chat.txt"
    wait_for(lambda: backup.read_bytes() == new_content and verified(engine, chat), what="second version")
    states = [r.state for r in engine.catalog.rows(engine.destination.id, include_old=True) if r.fs_path == chat]
    assert states == ["superseded", "verified"]


def test_empty_file_waits_until_it_has_bytes(app, engines):
    engine = start(app, engines)
    audio = app.zoom / MEETING / "audio_only.m4a"
    other = app.zoom / MEETING / "chat.txt"
    audio.parent.mkdir()
    audio.touch()
    write_random(other, 100, age_seconds=0)
    wait_for(lambda: verified(engine, other), what="the non-empty file to be verified")
    assert state_of(engine, audio) is None
    assert "audio_only.m4a" not in str(backed_up_files(app.backup))
    audio.write_bytes(b"audio bytes")
    wait_for(lambda: verified(engine, audio), what="the no-longer-empty file")


def test_file_deleted_while_settling_is_marked_missing_and_nothing_else_stops(app, engines):
    app.set("watch.settle_seconds", "30")
    engine = start(app, engines)
    doomed = app.zoom / MEETING / "zoom_0.mp4"
    write_random(doomed, 1000, age_seconds=0)
    wait_for(lambda: state_of(engine, doomed) == "settling", what="the file to be seen")
    doomed.unlink()
    wait_for(lambda: state_of(engine, doomed) == "missing", what="the vanished file to be marked missing")
    survivor = app.zoom / MEETING / "chat.txt"
    write_random(survivor, 10, age_seconds=120)
    wait_for(lambda: verified(engine, survivor), what="another file still backed up")


HOSTILE = [
    "../../etc passwd",
    "CON",
    "a:b*c?d<e>f|g",
    "Design review 🎉 会议",
    "line one\nline two",
    "x" * 300,
    "trailing dots...",
]


def test_hostile_meeting_titles_stay_inside_the_backup_and_never_collide(app, engines):
    sources = {}
    for n, title in enumerate(HOSTILE):
        folder_name = f"2024-02-0{n + 1} 09.00.00 {title} 8451234567{n}".replace("/", "_")
        try:
            sources[title] = write_random(app.zoom / folder_name / "zoom_0.mp4", 1000 + n, seed=n)
        except OSError:  # a name the file system itself refuses (the 300-char one on some)
            sources[title] = write_random(app.zoom / folder_name[:200] / "zoom_0.mp4", 1000 + n, seed=n)
    engine = start(app, engines)
    wait_for(lambda: engine.catalog.counts(engine.destination.id)["verified"] == len(HOSTILE),
             what="every hostile-titled recording verified")
    files = backed_up_files(app.backup)
    assert len(files) == len(HOSTILE)
    assert sorted(sha256_of(p) for p in files.values()) == sorted(sources.values())
    for key, path in files.items():
        assert path.resolve().is_relative_to(app.backup.resolve())
        assert all(len(part.encode()) <= 255 and part not in (".", "..") for part in key.split("/"))
        assert "\n" not in key and ":" not in key and "*" not in key
    assert not (app.backup.parent / "etc passwd").exists()


def test_non_utf8_file_name_and_symlink_loop(app, engines):
    folder = app.zoom / MEETING
    folder.mkdir()
    raw_name = os.fsencode(folder) + b"/audio\xff\xfe.m4a"
    with open(raw_name, "wb") as out:
        out.write(b"not utf-8 named")
    os.symlink(app.zoom, folder / "loop")  # a symlink loop back to the root
    engine = start(app, engines)
    path = Path(os.fsdecode(raw_name))
    wait_for(lambda: verified(engine, path), what="the non-UTF-8 named file")
    files = backed_up_files(app.backup)
    assert [p.read_bytes() for p in files.values()] == [b"not utf-8 named"]


def test_missing_backup_folder_is_reported_then_used_when_it_appears(app, engines):
    app.backup.rmdir()
    video = app.zoom / MEETING / "zoom_0.mp4"
    sha = write_random(video, 100_000)
    engine = start(app, engines)
    problem = wait_for(lambda: engine.snapshot().problem, what="a problem shown")
    assert problem.title == "Backup folder is missing" and str(app.backup) in problem.message
    assert engine.snapshot().status == "error"
    app.backup.mkdir()  # the USB drive is plugged back in
    wait_for(lambda: verified(engine, video), what="backup once the folder is back")
    assert sha256_of(next(iter(backed_up_files(app.backup).values()))) == sha
    wait_for(lambda: engine.snapshot().problem is None, what="the problem to clear")


def test_pause_holds_uploads_and_resume_releases_them(app, engines):
    engine = start(app, engines)
    engine.pause()
    assert engine.snapshot().status == "paused"
    video = app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 10_000)
    wait_for(lambda: state_of(engine, video) == "queued", what="the file to be queued")
    assert state_of(engine, video) == "queued" and backed_up_files(app.backup) == {}
    engine.resume()
    wait_for(lambda: verified(engine, video), what="the upload after resume")


def test_restart_with_no_changes_reads_nothing_again(app, engines):
    for n in range(5):
        write_random(app.zoom / MEETING / f"audio{n}.m4a", 10_000, seed=n)
    engine = start(app, engines)
    wait_for(lambda: engine.catalog.counts(engine.destination.id)["verified"] == 5, what="five files verified")
    engine.stop()
    engine.close()
    engines.remove(engine)
    again = Engine(app.load())
    try:
        result = again.settler.scan(app.zoom)
        assert (result.files, result.unchanged, result.to_check) == (5, 5, 0)
        assert again.settler.pending == {}
    finally:
        again.close()


def test_missing_watch_folder_is_reported_and_picked_up_when_created(app, engines, monkeypatch):
    from zoomwatch.app import watching

    # the settle loop reads FOLDER_RECHECK_SECONDS in zoomwatch/app/watching.py: patched anywhere else it does nothing
    assert "FOLDER_RECHECK_SECONDS" in watching.settle_loop.__code__.co_names
    monkeypatch.setattr(watching, "FOLDER_RECHECK_SECONDS", 0.2)
    elsewhere = app.home / "Recordings"
    app.set("watch.folder", str(elsewhere))
    engine = start(app, engines)
    problem = wait_for(lambda: engine.snapshot().problem, what="the missing folder to be reported")
    assert problem.title == "Zoom folder not found" and str(elsewhere) in problem.message
    video = elsewhere / MEETING / "zoom_0.mp4"
    write_random(video, 1000)
    wait_for(lambda: verified(engine, video), what="backup once the folder exists")


def test_second_engine_on_same_config_refuses(app, engines):
    from zoomwatch.errors import AlreadyRunning

    start(app, engines)
    other = Engine(app.load())
    try:
        with pytest.raises(AlreadyRunning) as caught:
            other.acquire()
        assert "already running" in caught.value.title
    finally:
        other.close()


def test_status_board_wakes_a_reader_on_progress(app, engines):
    engine = start(app, engines)
    seen: list[str] = []

    def reader() -> None:
        version = -1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "verified" not in seen:
            snap = engine.board.wait_for_change(version, timeout=1)
            version = snap.version
            seen.append(snap.status)
            if snap.counts.get("verified"):
                seen.append("verified")

    thread = threading.Thread(target=reader, name="test-reader")
    thread.start()
    write_random(app.zoom / MEETING / "zoom_0.mp4", 5000)
    thread.join(70)
    assert "verified" in seen and "watching" in seen


def test_new_meeting_folder_does_not_disturb_files_waiting_elsewhere(app, engines):
    app.set("watch.settle_seconds", "4")
    engine = start(app, engines)
    waiting = app.zoom / MEETING / "zoom_0.mp4"
    write_random(waiting, 1000, age_seconds=0)
    wait_for(lambda: state_of(engine, waiting) == "settling", what="the first file to be seen")
    other = app.zoom / "2024-01-16 09.00.00 Standup 84512345679"
    other.mkdir()  # a new meeting folder arrives while the first file still settles
    write_random(other / "chat.txt", 10, age_seconds=0)
    wait_for(lambda: verified(engine, other / "chat.txt") and verified(engine, waiting),
             what="both files verified")
    states = [r.state for r in engine.catalog.rows(engine.destination.id, include_old=True)]
    assert "missing" not in states


def test_watched_folder_vanishing_like_an_unplugged_drive_then_returning(app, engines, monkeypatch):
    import shutil

    from zoomwatch.app import watching

    # the settle loop reads FOLDER_RECHECK_SECONDS in zoomwatch/app/watching.py: patched anywhere else it does nothing
    assert "FOLDER_RECHECK_SECONDS" in watching.settle_loop.__code__.co_names
    monkeypatch.setattr(watching, "FOLDER_RECHECK_SECONDS", 0.2)
    app.set("watch.settle_seconds", "30")
    engine = start(app, engines)
    waiting = app.zoom / MEETING / "zoom_0.mp4"
    write_random(waiting, 2000, age_seconds=0)  # still being written when the drive goes
    wait_for(lambda: state_of(engine, waiting) == "settling", what="the file to be seen")
    aside = app.home / "unplugged"
    shutil.move(str(app.zoom), str(aside))
    problem = wait_for(lambda: engine.snapshot().problem, timeout=60, what="the vanished folder to be reported")
    assert problem.title == "Zoom folder is gone" and str(app.zoom) in problem.message
    assert engine.snapshot().status == "error"
    assert state_of(engine, waiting) == "settling"  # not marked missing: nothing was deleted
    shutil.move(str(aside), str(app.zoom))  # plugged back in
    other = app.zoom / "2024-01-16 09.00.00 Standup 84512345679" / "chat.txt"
    write_random(other, 10)
    wait_for(lambda: verified(engine, other), what="backups to carry on once the folder is back")
    assert engine.snapshot().problem is None
