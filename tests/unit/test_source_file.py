"""The source file handed to destinations (issue 12 item 6): one place opens, reads and hashes the recording
and turns its OS errors into SourceGone / SourceUnreadable; the checksum is read once. And the rule that
keeps it so: no destination module opens, stats or hashes the source file on its own."""

from __future__ import annotations

import ast
import errno
import hashlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import write_random

import zoomwatch.destinations
from zoomwatch.destinations import base
from zoomwatch.destinations.base import SourceFile
from zoomwatch.errors import Cancelled, SourceGone, SourceUnreadable

DESTINATIONS = Path(zoomwatch.destinations.__file__).parent
# calls that open, stat or hash a file; in destination modules they may never be handed the source file
_FILE_CALLS = {"open", "open_source", "sha256_file", "stat", "lstat", "pread", "file_digest", "read_bytes",
               "getsize", "getmtime"}
_SOURCE_NAMES = {"source", "src_path", "source_path"}


@contextmanager
def as_nobody() -> Iterator[None]:
    nobody = pwd.getpwnam("nobody")
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "zoom_0.mp4"
    digest = write_random(path, 3 * base.CHUNK + 17)
    return path, digest


def test_of_reads_size_and_mtime(recording: tuple[Path, str]) -> None:
    path, _ = recording
    source = SourceFile.of(path)
    st = os.stat(path)
    assert (source.size, source.mtime_ns, source.display, source.name) == (st.st_size, st.st_mtime_ns,
                                                                           str(path), "zoom_0.mp4")


def test_read_range_reads_the_bytes_asked_for(recording: tuple[Path, str]) -> None:
    path, _ = recording
    data = path.read_bytes()
    source = SourceFile.of(path)
    assert source.read_range(base.CHUNK - 5, 10) == data[base.CHUNK - 5:base.CHUNK + 5]
    assert source.read_range(len(data) - 3, 10) == data[-3:], "short only at the end of the file"
    with source.open() as handle:
        handle.seek(7)
        assert handle.read(4) == data[7:11]


def test_a_vanished_file_is_source_gone_naming_it(recording: tuple[Path, str]) -> None:
    path, _ = recording
    source = SourceFile(path, 10, display="Zoom/meeting/zoom_0.mp4")
    path.unlink()
    for call in (source.open, lambda: source.read_range(0, 10), source.sha256, source.stat):
        with pytest.raises(SourceGone) as caught:
            call()
        assert "Zoom/meeting/zoom_0.mp4" in caught.value.message
    with pytest.raises(SourceGone):
        SourceFile.of(path)


def test_a_file_without_read_permission_is_source_unreadable() -> None:
    shelf = Path(tempfile.mkdtemp(prefix="zw-source-"))
    try:
        shelf.chmod(0o755)
        path = shelf / "zoom_0.mp4"
        write_random(path, 1000)
        path.chmod(0o600)  # root's only
        source = SourceFile.of(path)
        with as_nobody():
            for call in (source.open, lambda: source.read_range(0, 10), source.sha256):
                with pytest.raises(SourceUnreadable) as caught:
                    call()
                assert caught.value.retryable
                assert str(path) in caught.value.message and "permission denied" in caught.value.message
    finally:
        shutil.rmtree(shelf)


def test_a_folder_in_the_files_place_is_source_unreadable(tmp_path: Path) -> None:
    (tmp_path / "zoom_0.mp4").mkdir()
    with pytest.raises(SourceUnreadable) as caught:
        SourceFile(tmp_path / "zoom_0.mp4", 10).read_range(0, 10)
    assert str(tmp_path / "zoom_0.mp4") in caught.value.message


def test_the_checksum_is_read_once(recording: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path, digest = recording
    opened: list[Path] = []
    sharing_open = base.open_source

    def counting_open(p: Path):  # type: ignore[no-untyped-def]
        opened.append(p)
        return sharing_open(p)

    monkeypatch.setattr(base, "open_source", counting_open)
    source = SourceFile.of(path)
    assert source.known_sha256 is None
    assert source.sha256() == digest
    assert source.sha256() == digest and source.known_sha256 == digest
    assert opened == [path], "one read of the file, however often it is asked"


def test_a_streamed_digest_becomes_the_checksum(recording: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path, digest = recording
    source = SourceFile.of(path)
    streamed = hashlib.sha256()
    with source.open() as handle:
        while chunk := handle.read(base.CHUNK):
            streamed.update(chunk)
    assert source.streamed(streamed) == digest
    monkeypatch.setattr(base, "open_source", lambda p: pytest.fail("read again"))
    assert source.sha256() == digest


def test_hashing_stops_when_asked(recording: tuple[Path, str]) -> None:
    path, _ = recording
    source = SourceFile.of(path)
    stop = base.threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        source.sha256(stop)
    assert source.known_sha256 is None


# -- the rule: destinations read the source only through SourceFile --------------------------------

def _mentions_source(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in _SOURCE_NAMES:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in _SOURCE_NAMES:
            return True
    return False


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def source_reads_outside_sourcefile(text: str, filename: str) -> list[str]:
    """Where a destination module opens, stats or hashes the source itself (base.py's SourceFile may)."""
    found = []
    for node in ast.walk(ast.parse(text, filename)):
        if isinstance(node, ast.Name | ast.alias) and getattr(node, "id", getattr(node, "name", "")) in (
                "open_source", "sha256_file", "source_error"):
            found.append(f"{filename}:{getattr(node, 'lineno', '?')}: uses {getattr(node, 'id', None) or node.name}")
        if isinstance(node, ast.Attribute) and node.attr in ("open_source", "sha256_file", "source_error"):
            found.append(f"{filename}:{node.lineno}: uses {node.attr}")
        if not isinstance(node, ast.Call) or _called_name(node) not in _FILE_CALLS:
            continue
        func = node.func
        receiver = [func.value] if isinstance(func, ast.Attribute) else []
        owner = receiver[0] if receiver else None
        owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
        if owner_name in _SOURCE_NAMES and _called_name(node) in ("open", "stat"):
            continue  # source.open() / source.stat(): the SourceFile's own, translated reads
        if any(_mentions_source(arg) for arg in [*node.args, *(k.value for k in node.keywords), *receiver]):
            found.append(f"{filename}:{node.lineno}: {_called_name(node)}() on the source file")
    return found


def test_destinations_never_open_or_hash_the_source_themselves() -> None:
    modules = [p for p in DESTINATIONS.rglob("*.py") if p.name != "base.py"]
    assert {p.name for p in modules} >= {"local.py", "supabase.py", "__init__.py", "multipart.py"}
    found = [hit for p in modules for hit in source_reads_outside_sourcefile(p.read_text(), str(p))]
    assert found == [], "read the source through SourceFile (open, read_range, sha256):\n" + "\n".join(found)


def test_the_rule_catches_a_destination_reading_the_source_itself() -> None:
    offending = {
        "with base.open_source(source) as handle: pass": "open_source",
        "sha = sha256_file(source, stop)": "sha256_file",
        "data = open(self.source, 'rb').read()": "open()",
        "now = os.stat(source)": "stat()",
        "data = os.pread(source.fileno(), n, 0)": "pread()",
        "data = source.path.read_bytes()": "read_bytes()",
        "raise source_error(exc, source)": "source_error",
    }
    for code, what in offending.items():
        hits = source_reads_outside_sourcefile(code, "dest.py")
        assert hits and what in hits[0], (code, hits)
    allowed = ["with source.open() as src: pass", "st = self.source.stat()", "open(partial, 'wb')", "os.stat(target)",
               "data = self.source.read_range(0, 10)"]
    for code in allowed:
        assert source_reads_outside_sourcefile(code, "dest.py") == [], code


class _FailingDisk:
    """A reader whose disk fails under it after the open (as a dying USB stick does)."""

    def read(self, size: int = -1) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    readinto = read

    def seek(self, offset: int, whence: int = 0) -> int:
        return offset

    def close(self) -> None:
        pass


def test_a_read_error_after_the_open_is_source_unreadable_naming_the_file(recording: tuple[Path, str]) -> None:
    path, _ = recording
    source = SourceFile.of(path, display="Zoom/m/zoom_0.mp4")
    reader = base.SourceReader(_FailingDisk(), source)  # type: ignore[arg-type]
    for call in (lambda: reader.read(10), lambda: reader.readinto(bytearray(10))):
        with pytest.raises(SourceUnreadable) as caught:
            call()
        assert caught.value.message == "Zoom/m/zoom_0.mp4: Input/output error; retried later"


def test_bytes_sent_that_do_not_have_the_checksum_known_before_are_a_changed_file(tmp_path) -> None:
    """A cloud file is hashed as it downloads; if what the upload read and sent hashes otherwise (the spool
    file changed or rotted on disk), the backup must not be recorded under the download's checksum."""
    import hashlib

    from zoomwatch.destinations.base import SourceFile
    from zoomwatch.errors import SourceChanged

    path = tmp_path / "cloud_MP4.mp4"
    path.write_bytes(b"what Zoom sent")
    known = hashlib.sha256(b"what Zoom sent").hexdigest()
    assert SourceFile(path, 14, sha256=known).streamed(hashlib.sha256(b"what Zoom sent")) == known
    with pytest.raises(SourceChanged) as caught:
        SourceFile(path, 14, sha256=known).streamed(hashlib.sha256(b"what the disk had"))
    assert "cloud_MP4.mp4" in caught.value.message
