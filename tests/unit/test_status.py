"""The status board the tray and CLI read: immutable versioned snapshots, prompt wake-ups, one
notification per problem, and the one-line summary a person sees."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from zoomwatch.core.status import RECENT_LIMIT, Problem, ProblemKey, Snapshot, StatusBoard, Transfer


def test_snapshot_is_immutable_and_later_changes_make_a_new_version() -> None:
    board = StatusBoard()
    before = board.snapshot()

    with pytest.raises(dataclasses.FrozenInstanceError):
        before.status = "uploading"  # type: ignore[misc]

    board.update(status="watching", watch_folder="/home/u/Documents/Zoom")
    after = board.snapshot()

    assert (before.status, before.watch_folder, before.version) == ("stopped", "", 0)
    assert (after.status, after.watch_folder) == ("watching", "/home/u/Documents/Zoom")
    assert after.version > before.version
    assert board.snapshot() is after, "no change, same snapshot"


def test_every_change_bumps_the_version() -> None:
    board = StatusBoard()
    versions = [board.snapshot().version]

    def changed() -> None:
        versions.append(board.snapshot().version)

    board.update(status="idle")
    changed()
    board.transfer_started(1, "zoom_0.mp4", 100)
    changed()
    board.transfer_progress(1, 50)
    changed()
    board.transfer_ended(1)
    changed()
    board.add_recent("Backed up zoom_0.mp4", "/backup/zoom_0.mp4")
    changed()
    board.set_problem(ProblemKey.DESTINATION, "Backup disk is full", "free space")
    changed()
    board.clear_problem(ProblemKey.DESTINATION)
    changed()

    assert versions == sorted(set(versions)), f"versions must strictly increase: {versions}"


def test_wait_for_change_wakes_promptly_when_another_thread_updates() -> None:
    board = StatusBoard()
    start = board.snapshot().version
    woke: list[Snapshot] = []
    waiting = threading.Event()

    def face() -> None:
        waiting.set()
        woke.append(board.wait_for_change(start, timeout=30))

    thread = threading.Thread(target=face)
    began = time.monotonic()
    thread.start()
    assert waiting.wait(10)
    board.update(status="uploading")
    thread.join(30)
    elapsed = time.monotonic() - began

    assert not thread.is_alive()
    assert len(woke) == 1
    assert woke[0].version != start and woke[0].status == "uploading"
    assert elapsed < 10, f"took {elapsed:.1f} s: the face must not wait for its time-out"


def test_wait_for_change_returns_at_once_when_already_changed() -> None:
    board = StatusBoard()
    board.update(status="idle")
    began = time.monotonic()

    snap = board.wait_for_change(0, timeout=30)

    assert snap.version != 0 and snap.status == "idle"
    assert time.monotonic() - began < 5


def test_wait_for_change_times_out_with_the_same_snapshot() -> None:
    board = StatusBoard()
    board.update(status="idle")
    current = board.snapshot()

    snap = board.wait_for_change(current.version, timeout=0.05)

    assert snap == current


def test_set_problem_notifies_once_per_cause() -> None:
    board = StatusBoard()
    dest = ProblemKey.DESTINATION

    assert board.set_problem(dest, "Backup folder is missing", "/mnt/usb does not exist") is True
    version = board.snapshot().version
    assert board.set_problem(dest, "Backup folder is missing", "/mnt/usb does not exist") is False
    assert board.snapshot().version == version, "repeating a shown problem must not wake the faces"

    assert board.set_problem(dest, "Backup disk is full", "free space on /mnt/usb") is True
    assert board.snapshot().problem is not None
    assert board.snapshot().problem.title == "Backup disk is full"  # type: ignore[union-attr]
    assert len(board.snapshot().problems) == 1, "a newer problem about the same thing replaces the older one"
    assert board.set_problem(dest, "Backup disk is full", "free space on /mnt/other") is True

    board.clear_problem(dest)
    assert board.snapshot().problem is None
    assert board.set_problem(dest, "Backup disk is full", "free space on /mnt/other") is True, (
        "a problem that comes back after being solved is shown again"
    )


def test_clear_problem_clears_only_the_problem_about_that_key() -> None:
    board = StatusBoard()
    board.set_problem(ProblemKey.DESTINATION, "Backup disk is full", "free space on /mnt/usb")
    version = board.snapshot().version

    board.clear_problem(ProblemKey.WATCH_FOLDER)

    assert board.snapshot().problem is not None, "solving one problem must not hide another"
    assert board.snapshot().version == version

    board.clear_problem(ProblemKey.DESTINATION)
    assert board.snapshot().problem is None
    assert board.snapshot().version > version


def test_problems_about_different_things_are_shown_together_and_cleared_one_by_one() -> None:
    board = StatusBoard()
    board.set_problem(ProblemKey.WATCHER, "Watching the Zoom folder by polling", "inotify limit")
    board.set_problem(ProblemKey.ZOOM_SIGN_IN, "Signed out of Zoom", "run zoomwatch login")
    board.set_problem(ProblemKey.DESTINATION, "Backup disk is full", "free space on /mnt/usb")

    snap = board.snapshot()
    assert [p.key for p in snap.problems] == ["zoom_sign_in", "destination", "watcher"], "worst, then oldest first"
    assert snap.problem is not None and snap.problem.key == "zoom_sign_in"
    assert snap.summary() == "Signed out of Zoom — run zoomwatch login (+2 more)"

    board.clear_problem(ProblemKey.ZOOM_SIGN_IN)
    assert [p.title for p in board.snapshot().problems] == ["Backup disk is full",
                                                            "Watching the Zoom folder by polling"]
    board.clear_problems()
    assert board.snapshot().problems == ()


def test_transfers_are_tracked_until_they_end() -> None:
    board = StatusBoard()
    board.transfer_started(1, "zoom_0.mp4", 1000)
    board.transfer_started(2, "audio_only.m4a", 200)
    board.transfer_progress(1, 400)

    assert board.snapshot().transfers == (Transfer("zoom_0.mp4", 1000, 400), Transfer("audio_only.m4a", 200, 0))

    board.transfer_ended(1)
    board.transfer_progress(1, 900)  # a late progress report must not bring it back

    assert board.snapshot().transfers == (Transfer("audio_only.m4a", 200, 0),)


def test_recent_activity_is_newest_first_and_bounded() -> None:
    board = StatusBoard()
    for i in range(RECENT_LIMIT + 5):
        board.add_recent(f"Backed up zoom_{i}.mp4")

    recent = board.snapshot().recent
    assert len(recent) == RECENT_LIMIT
    assert recent[0].text == f"Backed up zoom_{RECENT_LIMIT + 4}.mp4"
    assert recent[-1].text == "Backed up zoom_5.mp4"


# -- the one-line summary -------------------------------------------------------------------------


def test_summary_while_uploading_shows_files_waiting_and_percent() -> None:
    board = StatusBoard()
    board.update(status="uploading", counts={"queued": 3, "verified": 7})
    board.transfer_started(1, "zoom_0.mp4", 300)
    board.transfer_started(2, "audio_only.m4a", 100)
    board.transfer_progress(1, 100)

    text = board.snapshot().summary()

    assert text.startswith("Backing up 2 file(s)")
    assert "3 waiting" in text
    assert text.endswith("25%")


def test_summary_of_an_empty_transfer_does_not_crash() -> None:
    snap = Snapshot(status="uploading", transfers=(Transfer("empty.txt", 0),))
    assert snap.summary().startswith("Backing up 1 file(s)")
    assert snap.summary().endswith("%")


@pytest.mark.parametrize(
    ("snap", "expected"),
    [
        (Snapshot(status="paused", transfers=(Transfer("zoom_0.mp4", 10, 5),)), "Paused"),
        (Snapshot(status="uploading", problems=(Problem("Backup disk is full", "free space on /mnt/usb", 0.0),),
                  transfers=(Transfer("zoom_0.mp4", 10, 5),)),
         "Backup disk is full — free space on /mnt/usb"),
        (Snapshot(status="error", problems=(Problem("Zoom folder not found", "", 0.0),)), "Zoom folder not found"),
        (Snapshot(status="idle", counts={"verified": 12}), "All 12 recording files backed up"),
        (Snapshot(status="watching", counts={"verified": 4}, settling=2),
         "4 backed up; waiting for 2 file(s) to finish"),
        (Snapshot(status="stopped"), "Stopped"),
    ],
)
def test_summary_texts(snap: Snapshot, expected: str) -> None:
    assert snap.summary() == expected


def test_names_on_the_board_are_escaped_but_locations_kept_exact() -> None:
    board = StatusBoard()
    evil = "Evil\n\x1b]0;pwn\x07\u202egnp" + b"\xff".decode("utf-8", "surrogateescape")
    board.transfer_started(1, f"{evil}.mp4", 10)
    board.add_recent(f"{evil} — zoom_0.mp4", location=f"/backup/{evil}", key=f"k/{evil}")
    assert board.set_problem(ProblemKey.DESTINATION, "Cannot read recording", f"{evil}: permission denied") is True
    assert board.set_problem(ProblemKey.DESTINATION, "Cannot read recording", f"{evil}: permission denied") is False

    snap = board.snapshot()
    shown = "Evil\\n\\x1b]0;pwn\\x07\\u202egnp\\xff"
    assert snap.transfers[0].name == f"{shown}.mp4"
    assert snap.recent[0].text == f"{shown} — zoom_0.mp4"
    assert (snap.recent[0].location, snap.recent[0].key) == (f"/backup/{evil}", f"k/{evil}")
    assert snap.summary() == f"Cannot read recording — {shown}: permission denied"
    board.clear_problem(ProblemKey.DESTINATION)
    assert board.snapshot().problem is None
