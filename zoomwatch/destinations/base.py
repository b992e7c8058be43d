"""The destination interface: what the transfer workers need from any backup target (folder, S3,
Supabase). A destination stores bytes under a key and can say what it holds; the workers own retries,
the catalog and verification policy.

The recording to store is handed over as a SourceFile: its path, size and mtime, and the only ways a
destination reads it (open, read_range, sha256), each turning an OS error into SourceGone or
SourceUnreadable once, here. Destinations never open, stat or hash the source file themselves."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from zoomwatch.errors import (
    Cancelled,  # an upload asked to stop (its resume point is saved); one type for all
    ItemError,
    SourceChanged,
)
from zoomwatch.i18n import N_
from zoomwatch.translate import source_error

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RemoteObject:
    size: int
    sha256: str | None = None  # None where the store cannot say without reading it back


@dataclass
class UploadSession:
    """What an upload may read and record while it runs: where to resume, how far it got, whether to stop."""

    resume: dict[str, Any] | None = None
    save_resume: Callable[[dict[str, Any]], None] = lambda state: None
    progress: Callable[[int], None] = lambda done: None
    throttle: Callable[[int], None] = lambda nbytes: None
    stop: threading.Event = field(default_factory=threading.Event)

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Cancelled()


class Destination(Protocol):
    id: str      # stable identity used in the catalog, e.g. "local:/mnt/nas/zoom"
    label: str   # for people, e.g. "folder /mnt/nas/zoom"
    makes_links: bool  # share_link() gives a download URL (S3, Supabase); a folder has paths instead

    def adapt_key(self, key: str) -> str:
        """The key as this store accepts it (Supabase allows only an ASCII set); applied once, before
        the key is reserved in the catalog."""

    def check(self) -> None:
        """Raise DestinationError when files cannot be stored now (missing, read-only, no credentials)."""

    def stat(self, key: str) -> RemoteObject | None:
        """What is stored at `key`, or None. Raise DestinationError when the store cannot say (a folder
        missing, or on another drive than the one chosen): absent must mean absent."""

    def checksum(self, key: str) -> str | None:
        """The sha256 of what is stored at `key` (reading it back if need be), or None when absent."""

    def upload(self, source: SourceFile, key: str, session: UploadSession) -> str:
        """Store the `source.size` bytes of `source` at `key`, resuming from `session.resume` when it can;
        return the sha256 of the bytes stored. Raise Cancelled when `session.stop` is set."""

    def discard(self, resume: dict[str, Any] | None) -> None:
        """Throw away an unfinished upload (its partial file, its multipart parts) that will not resume."""

    def write_small(self, key: str, data: bytes) -> None:
        """Store a small file (the meeting.json sidecar) at `key`, replacing what was there."""

    def location(self, key: str) -> str:
        """Where a person finds the backup of `key` (a path or a URL)."""

    def share_link(self, key: str) -> str | None:
        """A time-limited link that downloads the backup of `key` (None for a folder: open it instead)."""

    # -- listing and reading back (audit, ls, restore) --------------------------------------------

    def list(self, prefix: str = "") -> Iterator[tuple[str, RemoteObject]]:
        """Every object stored below the key folder `prefix` ("" for all), as (key, what is stored), keys as
        stat() takes them; zoomwatch's own probes and partial files are left out. The listing may not know
        the SHA-256 (None): stat() says it. Raise DestinationError when the store cannot say."""

    def read(self, key: str, offset: int = 0) -> Iterator[bytes] | None:
        """The bytes stored at `key` from `offset` on, streamed in chunks; None when nothing is there."""

    def download(self, key: str, target: Path, *, progress: Callable[[int], None] | None = None,
                 stop: threading.Event | None = None) -> int:
        """Stream what is stored at `key` into the file `target`, appended to what `target` already holds (a
        download cut off resumes there); return the bytes `target` holds. Raise ItemError when `key` is absent."""


class SourceFile:
    """The recording a destination stores: where it is, how big it was when it settled, and the only ways
    to read it. Every OS error met on it becomes a SourceGone / SourceUnreadable naming `display`."""

    def __init__(self, path: Path, size: int, mtime_ns: int = 0, *, display: str | None = None,
                 sha256: str | None = None) -> None:
        self.path = Path(path)
        self.size = size
        self.mtime_ns = mtime_ns
        self.display = display if display is not None else os.fsdecode(self.path)
        # a checksum taken already (a cloud download is hashed as it arrives): sha256() then reads nothing
        self._sha256: str | None = sha256
        self._lock = threading.Lock()

    @classmethod
    def of(cls, path: Path, *, display: str | None = None) -> SourceFile:
        """The file as it is now (its size and mtime read from the file system)."""
        source = cls(Path(path), 0, display=display)
        st = source.stat()
        source.size, source.mtime_ns = st.st_size, st.st_mtime_ns
        return source

    @property
    def name(self) -> str:
        return os.fsdecode(self.path.name)

    def error(self, exc: OSError, doing: str = N_("before it was backed up")) -> ItemError:
        return source_error(exc, self.display, doing=doing)

    def stat(self, doing: str = N_("before it was backed up")) -> os.stat_result:
        try:
            return os.stat(self.path)
        except OSError as exc:
            raise self.error(exc, doing) from None

    def open(self) -> SourceReader:
        """A binary reader of the file (on Windows others may still rename or delete it meanwhile)."""
        try:
            return SourceReader(open_source(self.path), self)
        except OSError as exc:
            raise self.error(exc) from None

    def read_range(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (fewer only when the file is now shorter)."""
        with self.open() as handle:
            handle.seek(offset)
            chunks: list[bytes] = []
            left = length
            while left:
                chunk = handle.read(left)
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        return b"".join(chunks)

    def sha256(self, stop: threading.Event | None = None) -> str:
        """The file's sha256, read once: later calls (and uploads handed this object) reuse it."""
        with self._lock:
            if self._sha256 is None:
                digest = hashlib.sha256()
                buffer = bytearray(CHUNK)
                view = memoryview(buffer)
                with self.open() as handle:
                    while n := handle.readinto(buffer):
                        digest.update(view[:n])
                        if stop is not None and stop.is_set():
                            raise Cancelled()
                self._sha256 = digest.hexdigest()
            return self._sha256

    @property
    def known_sha256(self) -> str | None:
        """The checksum when it was already computed (no read)."""
        return self._sha256

    def streamed(self, digest: Any) -> str:
        """An upload that hashed the whole file as it sent it hands its digest here: it becomes the cached
        checksum (no extra pass over the file); returns its hex form. When a checksum was known before (a
        cloud download hashed as it arrived), the bytes sent must have it: else SourceChanged, and the file
        is backed up again rather than stored under a checksum it does not have."""
        hexdigest = str(digest.hexdigest())
        with self._lock:
            if self._sha256 is not None and self._sha256 != hexdigest:
                raise SourceChanged(N_("File changed during upload"),
                                    N_("{display} is not what was downloaded or hashed before its upload",
                                       display=self.display))
            self._sha256 = hexdigest
        return hexdigest


class SourceReader:
    """A SourceFile opened for reading: read, readinto and seek with OS errors translated once."""

    def __init__(self, raw: io.BufferedReader, source: SourceFile) -> None:
        self._raw = raw
        self._source = source

    def _failed(self, exc: OSError) -> ItemError:
        return self._source.error(exc, doing=N_("while it was being read"))

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size)
        except OSError as exc:
            raise self._failed(exc) from None

    def readinto(self, buffer: Any) -> int:
        try:
            return self._raw.readinto(buffer)
        except OSError as exc:
            raise self._failed(exc) from None

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            return self._raw.seek(offset, whence)
        except OSError as exc:
            raise self._failed(exc) from None

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._raw.close()


# CreateFileW arguments: read access, let others read, write, rename and delete the file meanwhile
_GENERIC_READ = 0x80000000
_FILE_SHARE_READ_WRITE_DELETE = 0x1 | 0x2 | 0x4
_OPEN_EXISTING = 3
_FILE_FLAG_SEQUENTIAL_SCAN = 0x08000000
_WINDOWS_ERRNO = {2: errno.ENOENT, 3: errno.ENOENT, 5: errno.EACCES, 32: errno.EACCES, 33: errno.EACCES}


def open_source(path: Path) -> io.BufferedReader:
    """Open a recording for reading. On Windows a plain open() keeps the user from renaming, moving or
    deleting the file for the whole copy (no FILE_SHARE_DELETE); this open allows it."""
    if sys.platform == "win32":
        import ctypes
        import msvcrt

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.CreateFileW.restype = ctypes.c_void_p
        kernel32.CreateFileW.argtypes = [ctypes.c_wchar_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p,
                                         ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
        kernel32.CloseHandle.argtypes = [ctypes.c_void_p]
        return open_shared(path, kernel32, msvcrt.open_osfhandle, ctypes.get_last_error)
    return open(path, "rb")


def open_shared(path: Path, kernel32: Any, open_osfhandle: Callable[[int, int], int],
                last_error: Callable[[], int]) -> io.BufferedReader:
    """The Windows open behind open_source(), with the system calls passed in (so it is testable anywhere)."""
    invalid = (1 << (8 * 8)) - 1  # INVALID_HANDLE_VALUE as an unsigned pointer
    handle = kernel32.CreateFileW(str(path), _GENERIC_READ, _FILE_SHARE_READ_WRITE_DELETE, None,
                                  _OPEN_EXISTING, _FILE_FLAG_SEQUENTIAL_SCAN, None)
    if handle is None or handle in (invalid, -1):
        code = last_error()
        raise OSError(_WINDOWS_ERRNO.get(code, errno.EIO), f"cannot open (Windows error {code})", str(path))
    try:
        fd = open_osfhandle(handle, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        kernel32.CloseHandle(handle)
        raise
    return open(fd, "rb")


# -- reading back, shared by every destination (audit, restore) ------------------------------------------


def hash_stored(destination: Destination, key: str, *, expected_size: int | None = None) -> tuple[int, str] | None:
    """(size, SHA-256) of the bytes stored at `key`, read back in one request (never the checksum kept beside
    them); None when nothing is there. With `expected_size`, reading stops once more bytes than that have
    come: the object is then known to differ (the size returned is what was read, not the object's)."""
    chunks = destination.read(key)
    if chunks is None:
        return None
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            if expected_size is not None and size > expected_size:
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a generator left early still releases its connection
    return size, digest.hexdigest()


def download_into(destination: Destination, key: str, target: Path, *,
                  progress: Callable[[int], None] | None = None, stop: threading.Event | None = None) -> int:
    """Append what is stored at `key` to `target` from `target`'s length on (a resumed download); fsynced.
    Returns the bytes `target` holds; ItemError when `key` holds nothing."""
    from zoomwatch.errors import ItemError

    try:
        done = target.stat().st_size
    except FileNotFoundError:
        done = 0
    found = destination.stat(key)
    if found is None:
        raise ItemError("Not in the backup", f"{destination.location(key)} is not there (any more)")
    if done >= found.size:
        return done  # everything was received before (a larger file is caught by the checksum)
    chunks = destination.read(key, done)
    if chunks is None:
        raise ItemError("Not in the backup", f"{destination.location(key)} is not there (any more)")
    try:
        with open(target, "ab") as out:
            for chunk in chunks:
                if stop is not None and stop.is_set():
                    raise Cancelled()
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done)
            out.flush()
            os.fsync(out.fileno())
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # the connection of a download stopped half-way is given back
    return done
