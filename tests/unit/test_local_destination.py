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

from zoomwatch.destinations.base import CHUNK, Cancelled, RemoteObject, SourceFile, UploadSession
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

    result = dest.upload(SourceFile(path, SIZE), KEY, rec.session)

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
        dest.upload(SourceFile(path, SIZE), KEY, rec.session)

    target = root / KEY
    partial = target.with_name(f".{target.name}{PARTIAL_SUFFIX}")
    assert not target.exists(), "a half-written recording must never appear under its real name"
    assert dest.stat(KEY) is None
    assert partial.is_file()
    assert partial.stat().st_size == CHUNK
    assert rec.saved == [{"partial": partial.name, "key": KEY}], "the resume state names the partial and its key"


def test_stop_event_cancels_an_upload(root: Path, source: tuple[Path, str]) -> None:
    path, _ = source
    rec = Recorder()
    rec.session.stop.set()

    with pytest.raises(Cancelled):
        LocalDestination(root).upload(SourceFile(path, SIZE), KEY, rec.session)

    assert not (root / KEY).exists()


def test_resumed_upload_completes_byte_identical(root: Path, source: tuple[Path, str]) -> None:
    path, digest = source
    dest = LocalDestination(root)
    first = Recorder(cancel_after=1)
    with pytest.raises(Cancelled):
        dest.upload(SourceFile(path, SIZE), KEY, first.session)

    second = Recorder(resume=first.saved[-1])
    result = dest.upload(SourceFile(path, SIZE), KEY, second.session)

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
        dest.upload(SourceFile(path, SIZE), KEY, Recorder(cancel_after=2).session)

    rec = Recorder(resume=None)
    assert dest.upload(SourceFile(path, SIZE), KEY, rec.session) == digest
    assert rec.progress[0] == CHUNK
    assert sha256_of(root / KEY) == digest
    assert leftovers(root) == []


def test_upload_replaces_an_older_copy_at_the_same_key(root: Path, tmp_path: Path) -> None:
    dest = LocalDestination(root)
    path = tmp_path / "zoom" / "chat.txt"
    write_random(path, 1000, seed=1)
    dest.upload(SourceFile(path, 1000), "m/chat.txt", UploadSession())
    digest = write_random(path, 3000, seed=2)

    assert dest.upload(SourceFile(path, 3000), "m/chat.txt", UploadSession()) == digest
    assert (root / "m" / "chat.txt").read_bytes() == path.read_bytes()


def test_upload_of_an_empty_file(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")

    empty = SourceFile(path, 0)
    assert LocalDestination(root).upload(empty, "empty.txt", UploadSession()) == hashlib.sha256().hexdigest()
    assert (root / "empty.txt").read_bytes() == b""


def test_upload_of_a_vanished_source_raises_file_gone(root: Path, tmp_path: Path) -> None:
    gone = tmp_path / "zoom" / "zoom_0.mp4"
    write_random(gone, 1000)
    gone.unlink()

    with pytest.raises(FileGone) as caught:
        LocalDestination(root).upload(SourceFile(gone, 1000), KEY, UploadSession())

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
        lambda: dest.upload(SourceFile(path, SIZE), key, UploadSession()),
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


# -- the chosen folder going away (issue 11, item 1) ---------------------------------------------


def test_upload_after_the_folder_vanished_creates_nothing(root: Path, source: tuple[Path, str]) -> None:
    import shutil

    path, _ = source
    dest = LocalDestination(root)
    dest.check()
    shutil.rmtree(root)  # the drive holding it was unplugged

    with pytest.raises(DestinationError) as caught:
        dest.upload(SourceFile(path, SIZE), KEY, UploadSession())

    assert caught.value.title == "Backup folder is missing" and caught.value.retryable
    assert not root.exists(), "the chosen folder is never recreated (it may be an empty mount point)"
    for call in (lambda: dest.stat(KEY), lambda: dest.checksum(KEY), lambda: dest.write_small("m/x.json", b"{}")):
        with pytest.raises(DestinationError):
            call()  # "not there" would read as "not backed up yet" or, worse, let a copy be verified elsewhere
    assert not root.exists()


def test_default_folder_is_recreated_when_deleted(tmp_path: Path, source: tuple[Path, str]) -> None:
    path, digest = source
    root = tmp_path / "data" / "zoomwatch" / "backup"
    dest = LocalDestination(root, create=True)
    dest.check()
    root.rmdir()

    assert dest.upload(SourceFile(path, SIZE), KEY, UploadSession()) == digest
    assert sha256_of(root / KEY) == digest


def test_only_folders_below_the_chosen_one_are_made(root: Path, source: tuple[Path, str]) -> None:
    path, digest = source
    dest = LocalDestination(root)

    assert dest.upload(SourceFile(path, SIZE), KEY, UploadSession()) == digest
    assert dest.checksum(KEY) == digest
    assert (root / "2023" / "10").is_dir()


# -- long names (issue 11, item 11) ---------------------------------------------------------------

CYRILLIC = "Ю" * 123 + ".mp4"  # 250 bytes in UTF-8


def test_a_250_byte_cyrillic_name_is_copied_through_a_short_partial_name(root: Path,
                                                                       source: tuple[Path, str]) -> None:
    path, digest = source
    assert len(CYRILLIC.encode()) == 250
    key = f"2023/10/{CYRILLIC}"
    dest = LocalDestination(root)
    first = Recorder(cancel_after=2)

    with pytest.raises(Cancelled):
        dest.upload(SourceFile(path, SIZE), key, first.session)

    [partial] = leftovers(root)
    assert len(os.fsencode(partial.name)) <= 255
    assert partial.name.startswith(".Ю") and partial.name.endswith(PARTIAL_SUFFIX), "hidden and recognisable"
    second = Recorder(resume=first.saved[-1])
    assert dest.upload(SourceFile(path, SIZE), key, second.session) == digest
    assert second.progress[0] == 3 * CHUNK, "the copy resumed from the shortened partial file"
    assert sha256_of(root / key) == digest
    assert leftovers(root) == []


def test_partial_names_of_different_long_names_differ(root: Path) -> None:
    from zoomwatch.destinations.local import _partial_name

    a, b = "Ю" * 125 + "a.mp4", "Ю" * 125 + "b.mp4"
    assert _partial_name(a) != _partial_name(b)
    assert all(len(os.fsencode(_partial_name(n))) <= 255 for n in (a, b, "x" * 255, "😀" * 63))
    assert _partial_name("zoom_0.mp4") == f".zoom_0.mp4{PARTIAL_SUFFIX}"  # short names are unchanged


def test_a_name_the_file_system_refuses_is_a_problem_of_that_file_only(root: Path,
                                                                        source: tuple[Path, str]) -> None:
    path, _ = source
    key = "2023/10/" + "я" * 130 + ".mp4"  # 264 bytes: more than any Linux file system allows

    with pytest.raises(ItemError) as caught:
        LocalDestination(root).upload(SourceFile(path, SIZE), key, UploadSession())

    assert not isinstance(caught.value, DestinationError)
    assert caught.value.title == "Backup name too long" and "naming.template" in caught.value.message


def _os_error(code: int, winerror: int | None = None) -> OSError:
    exc = OSError(code, os.strerror(code))
    if winerror is not None:
        exc.winerror = winerror  # type: ignore[attr-defined]  # what Windows sets; absent elsewhere
    return exc


LONG_WINDOWS_PATH = Path("C:/Users/ana/OneDrive - Example Corp/Backups/Zoom/" + "x" * 230 + "/zoom_0.mp4")


@pytest.mark.parametrize(
    ("exc", "path", "title"),
    [
        (_os_error(errno.ENAMETOOLONG), None, "Backup name too long"),
        (_os_error(errno.ENOENT, winerror=206), LONG_WINDOWS_PATH, "Backup name too long"),
        (_os_error(errno.ENOENT, winerror=3), LONG_WINDOWS_PATH, "Backup name too long"),
        (_os_error(errno.EACCES, winerror=32), Path("C:/Backups/zoom_0.mp4"), "Backup file is in use"),
        (_os_error(errno.EACCES, winerror=33), Path("C:/Backups/zoom_0.mp4"), "Backup file is in use"),
        (_os_error(errno.EISDIR), None, "Cannot write backup file"),
        (_os_error(errno.ENOTDIR), None, "Cannot write backup file"),
        (_os_error(errno.EFBIG), None, "Cannot write backup file"),  # over 4 GiB on a FAT32 stick
    ],
)
def test_per_file_os_errors_are_item_errors(exc: OSError, path: Path | None, title: str, tmp_path: Path) -> None:
    from zoomwatch.destinations.local import classify_os_error

    target = path or tmp_path / "backup" / "m" / "zoom_0.mp4"
    err = classify_os_error(exc, tmp_path / "backup", target)

    assert isinstance(err, ItemError) and not isinstance(err, DestinationError)
    assert err.title == title and str(target) in err.message and err.retryable


@pytest.mark.parametrize(
    ("exc", "title"),
    [
        (_os_error(errno.EACCES), "Backup folder is read-only"),
        (_os_error(errno.EACCES, winerror=5), "Backup folder is read-only"),
        (_os_error(errno.ENOENT, winerror=3), "Backup folder is missing"),  # a short path: the folder is gone
        (_os_error(errno.ENOSPC), "Backup disk is full"),
        (_os_error(errno.EROFS), "Backup folder is read-only"),
    ],
)
def test_folder_wide_os_errors_stay_destination_errors(exc: OSError, title: str, tmp_path: Path) -> None:
    from zoomwatch.destinations.local import classify_os_error

    err = classify_os_error(exc, tmp_path / "backup", tmp_path / "backup" / "m" / "zoom_0.mp4")

    assert isinstance(err, DestinationError) and err.title == title


# -- partial files (issue 11, item 10) ------------------------------------------------------------


def test_discard_removes_the_partial_file_of_an_abandoned_upload(root: Path, source: tuple[Path, str]) -> None:
    path, _ = source
    dest = LocalDestination(root)
    rec = Recorder(cancel_after=1)
    with pytest.raises(Cancelled):
        dest.upload(SourceFile(path, SIZE), KEY, rec.session)
    assert len(leftovers(root)) == 1

    dest.discard(rec.saved[-1])

    assert leftovers(root) == []
    dest.discard(rec.saved[-1])  # already gone: nothing to do, no error


@pytest.mark.parametrize(
    "resume",
    [
        None,
        {},
        {"partial": "zoom_0.mp4", "key": KEY},  # not a partial name: the backup itself
        {"partial": f".zoom_0.mp4{PARTIAL_SUFFIX}"},  # no key: an old state that cannot say where
        {"partial": f".zoom_0.mp4{PARTIAL_SUFFIX}", "key": "../outside/zoom_0.mp4"},
        {"partial": f".other.mp4{PARTIAL_SUFFIX}", "key": KEY},  # not the partial of that key
    ],
)
def test_discard_removes_nothing_but_its_own_partial_files(resume: dict[str, Any] | None, root: Path,
                                                          tmp_path: Path, source: tuple[Path, str]) -> None:
    path, _ = source
    dest = LocalDestination(root)
    dest.upload(SourceFile(path, SIZE), KEY, UploadSession())
    target = root / KEY
    for name in (f".zoom_0.mp4{PARTIAL_SUFFIX}", f".other.mp4{PARTIAL_SUFFIX}"):
        (target.parent / name).write_bytes(b"partial")
    outside = tmp_path / "outside" / f".zoom_0.mp4{PARTIAL_SUFFIX}"
    outside.parent.mkdir()
    outside.write_bytes(b"not ours")
    before = sorted(tmp_path.rglob("*"))

    dest.discard(resume)

    assert sorted(tmp_path.rglob("*")) == before


# -- durability on macOS (issue 18, item 16) ------------------------------------------------------


class FakeFcntl:
    F_FULLFSYNC = 51

    def __init__(self, fails: bool = False) -> None:
        self.calls: list[tuple[int, int]] = []
        self.fails = fails

    def fcntl(self, fd: int, op: int) -> int:
        self.calls.append((fd, op))
        if self.fails:
            raise OSError(errno.ENOTSUP, "not supported by this file system")
        return 0


@pytest.mark.parametrize(("platform", "fails", "full", "plain"),
                         [("darwin", False, 1, 0), ("darwin", True, 1, 1), ("linux", False, 0, 1)])
def test_fsync_uses_full_fsync_on_macos(platform: str, fails: bool, full: int, plain: int, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from zoomwatch.destinations import local

    fake = FakeFcntl(fails)
    monkeypatch.setitem(sys.modules, "fcntl", fake)
    fsyncs: list[int] = []
    monkeypatch.setattr(local.os, "fsync", fsyncs.append)
    with open(tmp_path / "f", "wb") as handle:
        local._fsync(handle.fileno(), platform)
        fd = handle.fileno()

    assert fake.calls == [(fd, FakeFcntl.F_FULLFSYNC)] * full
    assert fsyncs == [fd] * plain


def test_upload_flushes_through_the_platform_fsync(root: Path, source: tuple[Path, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from zoomwatch.destinations import local

    calls: list[int] = []
    monkeypatch.setattr(local, "_fsync", calls.append)
    path, _ = source

    LocalDestination(root).upload(SourceFile(path, SIZE), KEY, UploadSession())

    assert len(calls) == 1


# -- opening the recording on Windows (issue 18, item 7) ------------------------------------------


class FakeKernel32:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.calls: list[tuple[Any, ...]] = []
        self.closed: list[int] = []

    def CreateFileW(self, *args: Any) -> int:  # noqa: N802 (the Windows name)
        self.calls.append(args)
        return 1234 if self.path is not None and self.path.exists() else (1 << 64) - 1

    def CloseHandle(self, handle: int) -> int:  # noqa: N802
        self.closed.append(handle)
        return 1


def test_windows_open_lets_others_rename_and_delete_the_recording(source: tuple[Path, str]) -> None:
    from zoomwatch.destinations.base import open_shared

    path, digest = source
    kernel32 = FakeKernel32(path)
    opened: list[tuple[int, int]] = []

    def open_osfhandle(handle: int, flags: int) -> int:
        opened.append((handle, flags))
        return os.open(path, os.O_RDONLY)

    with open_shared(path, kernel32, open_osfhandle, lambda: 0) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == digest

    [(name, access, share, _, disposition, _, _)] = kernel32.calls
    assert name == str(path)
    assert access == 0x80000000  # GENERIC_READ
    assert share == 0x1 | 0x2 | 0x4, "FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE"
    assert disposition == 3  # OPEN_EXISTING: never creates anything in the Zoom folder
    assert opened[0][0] == 1234 and opened[0][1] & os.O_WRONLY == 0


def test_windows_open_of_a_vanished_recording_raises_file_not_found(tmp_path: Path) -> None:
    from zoomwatch.destinations.base import open_shared

    gone = tmp_path / "zoom_0.mp4"
    with pytest.raises(FileNotFoundError) as caught:
        open_shared(gone, FakeKernel32(None), lambda h, f: pytest.fail("no handle to wrap"), lambda: 2)
    assert str(gone) in str(caught.value)


def test_windows_open_closes_the_handle_when_it_cannot_be_wrapped(source: tuple[Path, str]) -> None:
    from zoomwatch.destinations.base import open_shared

    path, _ = source
    kernel32 = FakeKernel32(path)

    def refuse(handle: int, flags: int) -> int:
        raise OSError(errno.EMFILE, "too many open files")

    with pytest.raises(OSError):
        open_shared(path, kernel32, refuse, lambda: 0)
    assert kernel32.closed == [1234]


def test_upload_reads_the_recording_through_the_sharing_opener(root: Path, source: tuple[Path, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from zoomwatch.destinations import base

    opened: list[Path] = []
    sharing_open = base.open_source

    def recording_opener(path: Path):  # type: ignore[no-untyped-def]
        opened.append(path)
        return sharing_open(path)

    monkeypatch.setattr(base, "open_source", recording_opener)
    path, digest = source

    assert LocalDestination(root).upload(SourceFile(path, SIZE), KEY, UploadSession()) == digest
    assert opened == [path]


def test_an_upload_hashes_as_it_copies_and_leaves_the_checksum_with_the_source(
        root: Path, source: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from zoomwatch.destinations import base

    opened: list[Path] = []
    sharing_open = base.open_source

    def counting_open(path: Path):  # type: ignore[no-untyped-def]
        opened.append(path)
        return sharing_open(path)

    monkeypatch.setattr(base, "open_source", counting_open)
    path, digest = source
    recording = SourceFile(path, SIZE)
    assert LocalDestination(root).upload(recording, KEY, UploadSession()) == digest
    assert recording.known_sha256 == digest and recording.sha256() == digest
    assert opened == [path], "one pass over the recording: the copy fed the checksum"
