"""`zoomwatch ls` and `zoomwatch restore` as a user runs them (a subprocess with its own HOME), against a
local folder, a real S3 server (SeaweedFS) and the Supabase Storage stand-in; most from an EMPTY catalog,
as on a new laptop: everything is read from the destination (its listing, meeting.json, object metadata)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import sha256_of, write_random
from stores import KINDS, STORES, Store, supabase_server, zw

MEETING = "2024-05-06 14.00.00 Board meeting 93456789012"
OTHER = "2024-06-10 09.00.00 Standup 81234567890"
FOLDER = "2024/05/2024-05-06 14.00.00 Board meeting"
LOCAL_NAME = "2024-05-06 14.00.00 Board meeting"


@pytest.fixture(scope="module")
def supabase() -> Iterator[Any]:
    yield from supabase_server()


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, app: Any, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The user's settings pointing at a local folder, SeaweedFS or the Supabase stand-in."""
    return STORES[request.param](request, app, monkeypatch)


def back_up_then_forget(store: Store) -> dict[str, str]:
    """Two meetings backed up (one file over the multipart / TUS threshold), then the catalog deleted and the
    Zoom folder emptied: a new computer that has only the destination. Returns name -> sha256 (Board meeting)."""
    zoom: Path = store.app.zoom
    files = {"zoom_0.mp4": write_random(zoom / MEETING / "zoom_0.mp4", store.large, seed=1),
             "meeting_saved_chat.txt": write_random(zoom / MEETING / "meeting_saved_chat.txt", 700, seed=2)}
    write_random(zoom / OTHER / "audio_only.m4a", 9000, seed=3)
    done = zw(store.app, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    catalog = store.app.paths.catalog_file
    for part in (catalog, *(catalog.with_name(catalog.name + s) for s in ("-wal", "-shm"))):
        part.unlink(missing_ok=True)
    for path in sorted(zoom.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    return files


def test_ls_and_restore_from_an_empty_catalog_byte_identical_in_a_new_folder_under_downloads(store: Store) -> None:
    files = back_up_then_forget(store)
    found = json.loads(zw(store.app, "ls", "--json").stdout)
    assert [m["title"] for m in found] == ["Standup", "Board meeting"]  # newest first
    board = found[1]
    assert board["meeting_id"] == "93456789012" and board["start"].startswith("2024-05-06T14:00")
    assert sorted(f["name"] for f in board["files"]) == ["meeting_saved_chat.txt", "zoom_0.mp4"]
    assert all(f["sha256"] for f in board["files"]), "meeting.json gives each file's recorded SHA-256"
    assert [m["title"] for m in json.loads(zw(store.app, "ls", "board", "--json").stdout)] == ["Board meeting"]
    assert [m["title"] for m in json.loads(zw(store.app, "ls", "--from", "2024-06-01", "--json").stdout)] \
        == ["Standup"]
    text = zw(store.app, "ls", "--to", "2024-05-31")
    assert text.returncode == 0 and "Board meeting (ID 93456789012)" in text.stdout and "Standup" not in text.stdout

    done = zw(store.app, "restore", "Board")
    assert done.returncode == 0, done.stdout + done.stderr
    made = list((store.app.home / "Downloads").glob("zoomwatch restore */" + LOCAL_NAME))
    assert len(made) == 1, list((store.app.home / "Downloads").rglob("*"))
    restored = {p.name: sha256_of(p) for p in made[0].iterdir()}
    assert restored == files  # every file, byte-identical, and no partial file left
    by_id = zw(store.app, "restore", "93456789012", "--to", str(store.app.home / "by-id"))
    assert by_id.returncode == 0, by_id.stderr
    assert sha256_of(store.app.home / "by-id" / LOCAL_NAME / "zoom_0.mp4") == files["zoom_0.mp4"]


@pytest.mark.parametrize("store", ["local"], indirect=True)  # the same on every store: the target is local
def test_restore_never_overwrites_and_a_key_restores_one_file(store: Store, tmp_path: Path) -> None:
    files = back_up_then_forget(store)
    target = tmp_path / "restored"
    (target / LOCAL_NAME).mkdir(parents=True)
    mine = target / LOCAL_NAME / "zoom_0.mp4"
    mine.write_bytes(b"the user's own file")
    done = zw(store.app, "restore", "Board meeting", "--to", str(target))
    assert done.returncode == 0, done.stderr
    assert mine.read_bytes() == b"the user's own file"
    assert sha256_of(target / LOCAL_NAME / "zoom_0 (2).mp4") == files["zoom_0.mp4"]
    one = zw(store.app, "restore", f"{FOLDER}/meeting_saved_chat.txt", "--to", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["meeting_saved_chat.txt"]
    nothing = zw(store.app, "restore", "no such meeting", "--to", str(tmp_path / "none"))
    assert nothing.returncode != 0 and "zoomwatch ls" in nothing.stderr and not (tmp_path / "none").exists()


def test_a_download_that_does_not_match_the_recorded_sha256_is_removed_and_said(store: Store,
                                                                                 tmp_path: Path) -> None:
    back_up_then_forget(store)
    store.replace(f"{FOLDER}/meeting_saved_chat.txt", b"\0" * 700, True)  # damaged, its metadata kept
    target = tmp_path / "restored"
    done = zw(store.app, "restore", "Board", "--to", str(target))
    assert done.returncode == 1
    assert "does not match" in done.stderr and "partial file was removed" in done.stderr
    left = sorted(p.name for p in (target / LOCAL_NAME).iterdir())
    assert left == ["zoom_0.mp4"], "the good file is restored; nothing of the bad one is left"


def test_a_cut_off_restore_resumes_from_the_partial_file(store: Store, tmp_path: Path) -> None:
    files = back_up_then_forget(store)
    target = tmp_path / "restored"
    full = store.read(f"{FOLDER}/zoom_0.mp4")
    assert full is not None
    partial = target / LOCAL_NAME / ".zoom_0.mp4.zoomwatch-restore"  # what a restore killed half-way leaves
    partial.parent.mkdir(parents=True)
    partial.write_bytes(full[: len(full) // 2])
    done = zw(store.app, "restore", "Board", "--to", str(target))
    assert done.returncode == 0, done.stderr
    assert sha256_of(target / LOCAL_NAME / "zoom_0.mp4") == files["zoom_0.mp4"]
    assert not partial.exists()
