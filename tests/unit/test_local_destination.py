"""The folder destination on real files: clear errors for a missing/read-only/full folder, copies that
are byte-identical and never visible half-written, resumed copies, unsafe names refused."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import sha256_of, write_random

from zoomwatch.destinations.base import CHUNK, Cancelled, RemoteObject, UploadSession
from zoomwatch.destinations.local import PARTIAL_SUFFIX, LocalDestination, _dest_error
from zoomwatch.errors import DestinationError, FileGone, ItemError

SIZE = 5 * 1024 * 1024
KEY = "2023/10/2023-10-12 14.00.00 Weekly sync/zoom_0.mp4"


class Recorder:
    """An UploadSession's callbacks that remember what the upload reported."""

    def __init__(self, resume: dict[str, Any] | None = None, cancel_after: int | None = None) -> None:
        self.saved: list[dict[str, Any]] = []
        self.progress: list[int] = []
        self.cancel_after = cancel_after
        self.session = UploadSession(resume=resume, save_resume=self.saved.append, progress=self.on_progress)

    def on_progress(self, done: int) -> None:
        self.progress.append(done)
        if self.cancel_after is not None and len(self.progress) >= self.cancel_after:
            raise Cancelled()


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(PARTIAL_SUFFIX) or "zoomwatch-probe" in p.name]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "backup"
    folder.mkdir()
    return folder


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "zoom" / "zoom_0.mp4"
    return path, write_random(path, SIZE, seed=7)


# -- check() --------------------------------------------------------------------------------------


def test_check_passes_on_a_writable_folder_and_leaves_nothing_behind(root: Path) -> None:
    LocalDestination(root).check()
    assert list(root.iterdir()) == []


def test_check_names_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "usb-drive" / "zoom"

    with pytest.raises(DestinationError) as caught:
        LocalDestination(missing).check()

    assert caught.value.title == "Backup folder is missing"
    assert str(missing) in caught.value.message
    assert caught.value.retryable, "a drive being reconnected fixes it"
    assert not missing.exists(), "without create=True a missing folder is not made (it may be an unplugged drive)"


def test_check_with_create_makes_the_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "data" / "zoomwatch" / "backup"

    LocalDestination(missing, create=True).check()

    assert missing.is_dir()
    assert list(missing.iterdir()) == []


def test_check_reports_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    root = blocker / "backup"

    with pytest.raises(DestinationError) as caught:
        LocalDestination(root, create=True).check()

    assert str(root) in caught.value.message
    assert blocker.read_bytes() == b"not a folder"


@pytest.mark.parametrize(
    ("code", "title"),
    [
        (errno.EROFS, "Backup folder is read-only"),
        (errno.EACCES, "Backup folder is read-only"),
        (errno.EPERM, "Backup folder is read-only"),
        (errno.ENOSPC, "Backup disk is full"),
        (errno.EDQUOT, "Backup disk is full"),
        (errno.ENOENT, "Backup folder is missing"),
        (errno.EIO, "Cannot write to the backup folder"),
    ],
)
def test_os_errors_become_titled_destination_errors_naming_the_folder(code: int, title: str,
                                                                      tmp_path: Path) -> None:
    folder = tmp_path / "NAS share"

    err = _dest_error(OSError(code, os.strerror(code)), folder)

    assert isinstance(err, DestinationError)
    assert err.title == title
    assert str(folder) in err.message
    assert title in str(err) and str(folder) in str(err)


# -- upload() -------------------------------------------------------------------------------------


def test_upload_copies_byte_identical_and_returns_the_sha256(root: Path, source: tuple[Path, str]) -> None:
    path, digest = source
    dest = LocalDestination(root)
    rec = Recorder()

    result = dest.upload(path, KEY, SIZE, rec.session)

    target = root / KEY
    assert result == digest
    assert target.read_bytes() == path.read_bytes()
    assert sha256_of(target) == digest
    assert leftovers(root) == []
    assert rec.progress[-1] == SIZE
    assert rec.progress == sorted(rec.progress)
    assert dest.stat(KEY) == RemoteObject(SIZE)
    assert dest.checksum(KEY) == digest
    assert dest.location(KEY) == str(target)


def test_cancelled_upload_leaves_no_file_under_the_final_name(root: Path, source: tuple[Path, str]) -> None:
    path, _ = source
    dest = LocalDestination(root)
    rec = Recorder(cancel_after=1)

    with pytest.raises(Cancelled):
        dest.upload(path, KEY, SIZE, rec.session)

    target = root / KEY
    partial = target.with_name(f".{target.name}{PARTIAL_SUFFIX}")
    assert not target.exists(), "a half-written recording must never appear under its real name"
    assert dest.stat(KEY) is None
    assert partial.is_file()
    assert partial.stat().st_size == CHUNK
    assert rec.saved == [{"partial": partial.name}]


def test_stop_event_cancels_an_upload(root: Path, source: tuple[Path, str]) -> None:
    path, _ = source
    rec = Recorder()
    rec.session.stop.set()

    with pytest.raises(Cancelled):
        LocalDestination(root).upload(path, KEY, SIZE, rec.session)

    assert not (root / KEY).exists()


def test_resumed_upload_completes_byte_identical(root: Path, source: tuple[Path, str]) -> None:
    path, digest = source
    dest = LocalDestination(root)
    first = Recorder(cancel_after=1)
    with pytest.raises(Cancelled):
        dest.upload(path, KEY, SIZE, first.session)

    second = Recorder(resume=first.saved[-1])
    result = dest.upload(path, KEY, SIZE, second.session)

    assert result == digest, "the checksum covers the whole file, not only the part copied after resuming"
    assert (root / KEY).read_bytes() == path.read_bytes()
    assert leftovers(root) == []
    assert second.progress[0] == 2 * CHUNK, "the copy continued after the bytes already there"
    assert len(second.progress) == (SIZE - CHUNK) // CHUNK
    assert second.progress[-1] == SIZE


def test_resume_without_saved_state_starts_over(root: Path, source: tuple[Path, str]) -> None:
    path, digest = source
    dest = LocalDestination(root)
    with pytest.raises(Cancelled):
        dest.upload(path, KEY, SIZE, Recorder(cancel_after=2).session)

    rec = Recorder(resume=None)
    assert dest.upload(path, KEY, SIZE, rec.session) == digest
    assert rec.progress[0] == CHUNK
    assert sha256_of(root / KEY) == digest
    assert leftovers(root) == []


def test_upload_replaces_an_older_copy_at_the_same_key(root: Path, tmp_path: Path) -> None:
    dest = LocalDestination(root)
    path = tmp_path / "zoom" / "chat.txt"
    write_random(path, 1000, seed=1)
    dest.upload(path, "m/chat.txt", 1000, UploadSession())
    digest = write_random(path, 3000, seed=2)

    assert dest.upload(path, "m/chat.txt", 3000, UploadSession()) == digest
    assert (root / "m" / "chat.txt").read_bytes() == path.read_bytes()


def test_upload_of_an_empty_file(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")

    assert LocalDestination(root).upload(path, "empty.txt", 0, UploadSession()) == hashlib.sha256().hexdigest()
    assert (root / "empty.txt").read_bytes() == b""


def test_upload_of_a_vanished_source_raises_file_gone(root: Path, tmp_path: Path) -> None:
    gone = tmp_path / "zoom" / "zoom_0.mp4"
    write_random(gone, 1000)
    gone.unlink()

    with pytest.raises(FileGone) as caught:
        LocalDestination(root).upload(gone, KEY, 1000, UploadSession())

    assert str(gone) in caught.value.message
    assert not caught.value.retryable
    assert not (root / KEY).exists()
    assert leftovers(root) == []


@pytest.mark.parametrize(
    "key",
    ["../outside.mp4", "a/../../outside.mp4", "/etc/zoom_0.mp4", "", "a//b.mp4", "./a.mp4", "a/..", ".."],
)
def test_unsafe_keys_are_refused(key: str, root: Path, tmp_path: Path, source: tuple[Path, str]) -> None:
    path, _ = source
    dest = LocalDestination(root)
    before = sorted(tmp_path.rglob("*"))

    for call in (
        lambda: dest.upload(path, key, SIZE, UploadSession()),
        lambda: dest.write_small(key, b"{}"),
        lambda: dest.stat(key),
        lambda: dest.checksum(key),
        *([lambda: dest.location(key)] if key else []),
    ):
        with pytest.raises(ItemError):
            call()
    if not key:
        assert dest.location(key) == str(root)  # "Open backup location" opens the folder itself

    assert sorted(tmp_path.rglob("*")) == before, "nothing may be written anywhere"


# -- small files and look-ups ---------------------------------------------------------------------


def test_write_small_replaces_the_file_in_one_step(root: Path) -> None:
    dest = LocalDestination(root)
    key = "2023/10/meeting/meeting.json"
    dest.write_small(key, b'{"title": "old"}')
    target = root / key

    with open(target, "rb") as reader_of_old:
        dest.write_small(key, b'{"title": "new", "files": 3}')
        # a reader that opened the old file still sees it whole: the new one was renamed over it
        assert reader_of_old.read() == b'{"title": "old"}'

    assert target.read_bytes() == b'{"title": "new", "files": 3}'
    assert leftovers(root) == []
    assert dest.stat(key) == RemoteObject(len(b'{"title": "new", "files": 3}'))


def test_stat_and_checksum_of_missing_keys_are_none(root: Path) -> None:
    dest = LocalDestination(root)

    assert dest.stat("2023/10/nothing/zoom_0.mp4") is None
    assert dest.checksum("2023/10/nothing/zoom_0.mp4") is None
    assert dest.stat("not-there.mp4") is None
    assert dest.checksum("not-there.mp4") is None


def test_identity_and_label_name_the_folder(root: Path) -> None:
    dest = LocalDestination(root)
    assert dest.id == f"local:{root}"
    assert str(root) in dest.label
