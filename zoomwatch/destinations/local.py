"""The embedded default destination: a folder on a local disk, a USB drive or a NAS mount.

Each file is written to a hidden partial file beside its target, fsynced, then renamed over the
target in one step, so the backup folder never shows a half-written recording. A copy cut off by a
crash resumes from the partial file's length; the final read-back check catches any damage.

The chosen folder is never recreated (except the default folder, `create=True`): only the folders
below it are made. Its volume (device and folder identity) is noted when it is first seen, and every
file, look-up and read-back checks it again, so a drive unplugged while running (its bare mount point
left on the internal disk) holds the backups instead of receiving them, and no file is ever reported
stored on another volume than the chosen one.

Errors are sorted: what concerns the whole folder (missing, read-only, full) is a DestinationError and
every transfer waits; what concerns one file (a name too long, a file open in another program, a folder
where a file should be) is an ItemError and only that file waits. When the disk is found full, the
space goes to one file at a time until one gets through, and the failed partial files are removed.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import stat as stat_module
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from zoomwatch.destinations.base import CHUNK, RemoteObject, SourceFile, SourceReader, UploadSession, download_into
from zoomwatch.errors import DestinationError, FileChanged, ItemError, ZoomwatchError
from zoomwatch.i18n import N_

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".zoomwatch-part"
NAME_MAX = 255  # bytes per name on Linux/macOS file systems; UTF-16 units on Windows (never more than UTF-8 bytes)
WINDOWS_MAX_PATH = 260

# Windows error codes that concern one file, not the folder (Python maps them to ENOENT/EACCES)
_WINERROR_SHARING_VIOLATION = 32
_WINERROR_LOCK_VIOLATION = 33
_WINERROR_FILENAME_EXCED_RANGE = 206
_PER_FILE_ERRNOS = {errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.EFBIG, errno.EILSEQ, errno.EINVAL}
_NO_SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", -1)}


def _dest_error(exc: OSError, root: Path) -> DestinationError:
    """The destination-wide reading of an OS error about the backup folder `root`."""
    if exc.errno in _NO_SPACE_ERRNOS:
        return DestinationError(N_("Backup disk is full"),
                                N_("free space on the disk that holds {root}", root=root), retryable=True)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return DestinationError(
            N_("Backup folder is read-only"),
            N_("zoomwatch may not write in {root} — check its permissions or choose another folder", root=root),
            retryable=True,
        )
    if exc.errno == errno.ENOENT:
        return _missing(root)
    return DestinationError(N_("Cannot write to the backup folder"),
                            N_("{root}: {value}", root=root, value=exc.strerror or exc), retryable=True)


def classify_os_error(exc: OSError, root: Path, path: Path | None = None) -> ZoomwatchError:
    """An OS error met while writing `path` below the backup folder `root`: an ItemError when it
    concerns that one file (only it waits), else the DestinationError for the whole folder."""
    where = path if path is not None else root
    winerror = getattr(exc, "winerror", None)
    windows = sys.platform == "win32" or winerror is not None
    beyond_max_path = windows and exc.errno == errno.ENOENT and len(str(where)) >= WINDOWS_MAX_PATH
    if exc.errno == errno.ENAMETOOLONG or winerror == _WINERROR_FILENAME_EXCED_RANGE or beyond_max_path:
        return ItemError(
            N_("Backup name too long"),
            N_("{where} is longer than the file system allows — choose a shorter naming template (zoomwatch config "
               "set naming.template ...) or a backup folder with a shorter path; on Windows, long paths can also be "
               "enabled (LongPathsEnabled)", where=where),
        )
    if winerror in (_WINERROR_SHARING_VIOLATION, _WINERROR_LOCK_VIOLATION):
        return ItemError(
            N_("Backup file is in use"),
            N_("{where} is open in another program (a media player, an antivirus?) — zoomwatch tries again later",
               where=where),
        )
    if exc.errno in _PER_FILE_ERRNOS:
        return ItemError(N_("Cannot write backup file"),
                         N_("{where}: {value}", where=where, value=exc.strerror or exc))
    return _dest_error(exc, root)


def _missing(root: Path) -> DestinationError:
    return DestinationError(
        N_("Backup folder is missing"),
        N_("{root} does not exist — connect the drive or create the folder (or choose another: zoomwatch config set "
           "destination.local.path PATH)", root=root),
        retryable=True,
    )


def _drive_changed(root: Path, mount: Path) -> DestinationError:
    return DestinationError(
        N_("Backup drive changed"),
        N_("{root} is no longer on the drive it was on (it is now on the disk mounted at {mount}: was the drive "
           "unplugged?) — connect the drive again; backups wait for it", root=root, mount=mount),
        retryable=True,
    )


def _is_no_space(exc: OSError) -> bool:
    return exc.errno in _NO_SPACE_ERRNOS


def _fsync(fd: int, platform: str = sys.platform) -> None:
    """Flush a file to the disk itself: on macOS fsync only reaches the drive's cache, F_FULLFSYNC
    flushes that too (falling back to fsync where the file system refuses it)."""
    if platform == "darwin" and sys.platform != "win32":  # (the second test only tells type checkers)
        import fcntl

        full = getattr(fcntl, "F_FULLFSYNC", None)
        if full is not None:
            try:
                fcntl.fcntl(fd, full)
                return
            except OSError:
                pass
    os.fsync(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _mount_point(path: Path) -> Path:
    """The mount point of the volume that holds `path` (an existing folder)."""
    current = Path(os.path.realpath(path))
    while not os.path.ismount(current) and current.parent != current:
        current = current.parent
    return current


def _partial_name(name: str) -> str:
    """The hidden partial file's name for a target called `name`, at most NAME_MAX bytes: the name itself
    when it fits, else a shortened name and a hash of the full name (still unique, still recognisable)."""
    plain = f".{name}{PARTIAL_SUFFIX}"
    if len(os.fsencode(plain)) <= NAME_MAX:
        return plain
    tag = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    budget = NAME_MAX - len(f".{tag}{PARTIAL_SUFFIX}".encode())
    prefix = os.fsencode(name)[:budget].decode("utf-8", "ignore")  # whole characters only
    return f".{prefix}{tag}{PARTIAL_SUFFIX}"


@dataclass(frozen=True)
class _Volume:
    dev: int
    ino: int
    mount: Path


class _SpaceGate:
    """Shared by every upload into one backup folder: after the disk was found full, uploads take turns
    (one file gets all the space) until one of them gets through."""

    _gates: dict[str, _SpaceGate] = {}
    _gates_lock = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tight = False

    @classmethod
    def of(cls, root: Path) -> _SpaceGate:
        with cls._gates_lock:
            return cls._gates.setdefault(str(root), cls())

    @contextmanager
    def turn(self, session: UploadSession) -> Iterator[None]:
        held = False
        if self.tight:
            while not self.lock.acquire(timeout=0.2):
                session.check_stop()
            held = True
        try:
            yield
        finally:
            if held:
                self.lock.release()


class LocalDestination:
    makes_links = False  # a folder: the file's path is the place to look

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = Path(root).absolute()
        self.create = create
        self.id = f"local:{self.root}"
        self.label: str = N_("folder {root}", root=str(self.root))
        self._seen: _Volume | None = None
        self._seen_lock = threading.Lock()

    # -- paths ------------------------------------------------------------------------------------

    def _target(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or key.startswith("/"):
            raise ItemError(N_("Unsafe backup name"),
                            N_("refusing to write outside the backup folder: {key}", key=repr(key)))
        return self.root.joinpath(*parts)

    @staticmethod
    def _partial(target: Path) -> Path:
        return target.with_name(_partial_name(target.name))

    # -- the chosen folder and its volume ----------------------------------------------------------

    def _ensure_root(self) -> _Volume:
        """The backup folder's volume, checked to be the one first seen; raise a DestinationError when the
        folder is missing or now lies on another volume (a drive unplugged, its empty mount point left)."""
        try:
            st = os.stat(self.root)
        except OSError:
            st = None
        if st is None or not stat_module.S_ISDIR(st.st_mode):
            if not self.create:
                raise _missing(self.root)
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                st = os.stat(self.root)
            except OSError as exc:
                raise _dest_error(exc, self.root) from None
        with self._seen_lock:
            seen = self._seen
            if seen is not None and (seen.dev, seen.ino) == (st.st_dev, st.st_ino):
                return seen
            mount = _mount_point(self.root)
            if seen is not None and mount != seen.mount and mount in seen.mount.parents:
                raise _drive_changed(self.root, mount)  # the volume it was on is no longer mounted there
            if seen is not None:
                log.warning("the backup folder %s is now on the volume mounted at %s (was %s); using it",
                            self.root, mount, seen.mount)
            self._seen = _Volume(st.st_dev, st.st_ino, mount)
            return self._seen

    def _same_volume(self, volume: _Volume, st: os.stat_result) -> None:
        """Refuse a file or folder that is not on the volume being written (checked after opening it)."""
        if st.st_dev != volume.dev:
            raise _drive_changed(self.root, _mount_point(self.root) if self.root.is_dir() else self.root)

    def _still_on(self, volume: _Volume) -> None:
        """Refuse when the backup folder is no longer on `volume` (checked before a rename or a verdict)."""
        now = self._ensure_root()
        if now.dev != volume.dev:
            raise _drive_changed(self.root, now.mount)

    def _error(self, exc: OSError, path: Path) -> ZoomwatchError:
        """Class an OS error about `path`; a vanished path is the folder's problem only when the folder
        itself is missing or changed."""
        err = classify_os_error(exc, self.root, path)
        if isinstance(err, DestinationError) and exc.errno == errno.ENOENT:
            try:
                self._ensure_root()
            except DestinationError as root_problem:
                return root_problem
            return ItemError(N_("Cannot write backup file"),
                             N_("{path}: {value}", path=path, value=exc.strerror or exc))
        return err

    def _make_folders(self, folder: Path, volume: _Volume) -> None:
        """Create the folders from the backup folder down to `folder` (never the backup folder itself)."""
        current = self.root
        made: list[Path] = []
        try:
            for part in folder.relative_to(self.root).parts:
                current = current / part
                try:
                    current.mkdir()
                    made.append(current)
                except FileExistsError:
                    pass
            self._same_volume(volume, os.stat(folder))
        except OSError as exc:
            raise self._error(exc, current) from None
        except DestinationError:
            for path in reversed(made):  # made on the wrong volume just now: take them away again
                try:
                    path.rmdir()
                except OSError:
                    pass
            raise

    # -- interface --------------------------------------------------------------------------------

    def adapt_key(self, key: str) -> str:
        return key  # the naming sanitiser already made it safe here

    def check(self) -> None:
        self._ensure_root()
        probe = self.root / f".zoomwatch-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise _dest_error(exc, self.root) from None

    def stat(self, key: str) -> RemoteObject | None:
        target = self._target(key)
        volume = self._ensure_root()
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            self._ensure_root()  # absent because the folder went away is not "absent"
            return None
        except OSError as exc:
            raise self._error(exc, target) from None
        self._same_volume(volume, st)
        return RemoteObject(st.st_size)

    def checksum(self, key: str) -> str | None:
        target = self._target(key)
        volume = self._ensure_root()
        try:
            with open(target, "rb") as handle:
                self._same_volume(volume, os.fstat(handle.fileno()))
                digest = _hash_stream(handle)
        except (FileNotFoundError, NotADirectoryError):
            self._ensure_root()
            return None
        except OSError as exc:
            raise self._error(exc, target) from None
        self._still_on(volume)
        return digest

    def upload(self, source: SourceFile, key: str, session: UploadSession) -> str:
        target = self._target(key)
        partial = self._partial(target)
        gate = _SpaceGate.of(self.root)
        with gate.turn(session):
            digest = self._upload(source, key, target, partial, session, gate)
        gate.tight = False  # a file got through: the others may share the space again
        return digest

    def _upload(self, source: SourceFile, key: str, target: Path, partial: Path,
                session: UploadSession, gate: _SpaceGate) -> str:
        volume = self._ensure_root()
        self._make_folders(target.parent, volume)
        offset = self._resume_offset(session.resume, key, partial, source.size)
        session.save_resume({"partial": partial.name, "key": key})
        with source.open() as src:
            digest = _hash_prefix(src, offset, session) if offset else hashlib.sha256()
            try:
                done = self._write_partial(src, partial, offset, digest, volume, session)
            except OSError as exc:
                if _is_no_space(exc):
                    self._give_back_space(partial, key, gate)
                raise self._error(exc, partial) from None
        if done != source.size:
            raise FileChanged(N_("File changed while copying"),
                              N_("{display} is now {done} bytes, expected {size}",
                                 display=source.display, done=done, size=source.size))
        self._still_on(volume)
        try:
            os.replace(partial, target)
        except OSError as exc:
            raise self._error(exc, target) from None
        _fsync_dir(target.parent)
        return source.streamed(digest)  # the whole file went through the digest: no extra pass to hash it

    def _resume_offset(self, resume: dict[str, Any] | None, key: str, partial: Path, size: int) -> int:
        """How many bytes of an earlier copy to this key are already in its partial file (0: start over)."""
        resume = resume or {}
        if resume.get("partial") != partial.name or resume.get("key", key) != key:
            return 0
        try:
            offset = partial.stat().st_size
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise self._error(exc, partial) from None
        if offset > size:
            return 0
        log.info("resuming %s at byte %d of %d", key, offset, size)
        return offset

    def _write_partial(self, src: SourceReader, partial: Path, offset: int, digest: Any,
                       volume: _Volume, session: UploadSession) -> int:
        """Copy the source from `offset` into the partial file, fsynced; return the bytes it now holds."""
        with open(partial, "r+b" if offset else "wb") as out:
            try:
                self._same_volume(volume, os.fstat(out.fileno()))
            except DestinationError:
                out.close()
                partial.unlink(missing_ok=True)  # created on the wrong volume just now
                raise
            out.seek(offset)
            out.truncate()
            done = self._copy(src, out, digest, offset, session)
            out.flush()
            _fsync(out.fileno())
        return done

    def _give_back_space(self, partial: Path, key: str, gate: _SpaceGate) -> None:
        """The disk is full: remove this upload's partial file so another file can use the space, and let
        uploads take turns from now on."""
        gate.tight = True
        try:
            partial.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the partial copy %s: %s", partial, exc.strerror or exc)
        else:
            log.warning("backup disk is full: removed the partial copy of %s; files now go one at a time", key)

    @staticmethod
    def _copy(src: SourceReader, out: IO[bytes], digest: Any, done: int, session: UploadSession) -> int:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            session.check_stop()
            n = src.readinto(buffer)  # a read error is the source's (SourceReader translates it)
            if not n:
                return done
            digest.update(view[:n])
            out.write(view[:n])
            done += n
            session.progress(done)
            session.throttle(n)

    def discard(self, resume: dict | None) -> None:  # type: ignore[type-arg]
        """Remove the partial file of an upload that will not resume (its source changed or vanished):
        only a partial file this destination names, inside the backup folder."""
        if not resume or not isinstance(resume.get("key"), str) or not isinstance(resume.get("partial"), str):
            return  # an old resume state without its key: the next copy to that key replaces it
        try:
            partial = self._partial(self._target(resume["key"]))
        except ItemError:
            return
        if partial.name != resume["partial"] or not partial.name.endswith(PARTIAL_SUFFIX):
            return
        self._ensure_root()
        try:
            partial.unlink(missing_ok=True)
        except OSError as exc:
            raise self._error(exc, partial) from None

    def write_small(self, key: str, data: bytes) -> None:
        target = self._target(key)
        partial = self._partial(target)
        volume = self._ensure_root()
        self._make_folders(target.parent, volume)
        try:
            # atomic (rename) but not fsynced: the sidecar is derived from the catalog and rewritten
            # whenever a file of its folder is verified; an fsync per file halved a big first backup
            with open(partial, "wb") as out:
                self._same_volume(volume, os.fstat(out.fileno()))
                out.write(data)
            os.replace(partial, target)
        except (OSError, DestinationError) as exc:
            try:
                partial.unlink(missing_ok=True)  # a full disk or another volume: leave nothing behind
            except OSError:
                pass
            if isinstance(exc, DestinationError):
                raise
            raise self._error(exc, target) from None

    def share_link(self, key: str) -> str | None:
        return None

    def location(self, key: str) -> str:
        """The backed-up file's path; the backup folder itself for an empty key."""
        return str(self._target(key)) if key else str(self.root)

    # -- listing and reading back (audit, ls, restore) --------------------------------------------

    def list(self, prefix: str = "") -> Iterator[tuple[str, RemoteObject]]:
        """Every file below the folder `prefix`, sorted by key; partial copies and probes left out."""
        volume = self._ensure_root()
        top = self._target(prefix) if prefix else self.root
        found = []
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False) and not _own_file(entry.name):
                            key = Path(entry.path).relative_to(self.root).as_posix()
                            found.append((key, RemoteObject(entry.stat(follow_symlinks=False).st_size)))
            except (FileNotFoundError, NotADirectoryError):
                if folder == top:
                    self._ensure_root()  # a missing backup folder is not an empty one
                continue
            except OSError as exc:
                raise self._error(exc, folder) from None
        self._still_on(volume)
        yield from sorted(found)

    def read(self, key: str, offset: int = 0) -> Iterator[bytes] | None:
        target = self._target(key)
        volume = self._ensure_root()
        try:
            handle = open(target, "rb")
        except (FileNotFoundError, NotADirectoryError):
            self._ensure_root()
            return None
        except OSError as exc:
            raise self._error(exc, target) from None
        try:
            self._same_volume(volume, os.fstat(handle.fileno()))
            handle.seek(offset)
        except BaseException:
            handle.close()
            raise
        return self._chunks(handle, target)

    def _chunks(self, handle: IO[bytes], target: Path) -> Iterator[bytes]:
        with handle:
            while True:
                try:
                    chunk = handle.read(CHUNK)
                except OSError as exc:
                    raise self._error(exc, target) from None
                if not chunk:
                    return
                yield chunk

    def download(self, key: str, target: Path, *, progress: Callable[[int], None] | None = None,
                 stop: threading.Event | None = None) -> int:
        return download_into(self, key, target, progress=progress, stop=stop)


def _own_file(name: str) -> bool:
    """zoomwatch's own partial copies and probes, never listed as backups."""
    return name.endswith(PARTIAL_SUFFIX) or name.startswith(".zoomwatch-probe-")


def _hash_stream(handle: io.BufferedReader) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while n := handle.readinto(buffer):
        digest.update(view[:n])
    return digest.hexdigest()


def _hash_prefix(src: SourceReader, length: int, session: UploadSession) -> Any:
    """Hash the first `length` bytes of the source (already copied before a restart) and leave the
    file positioned after them."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    remaining = length
    while remaining:
        session.check_stop()
        n = src.readinto(buffer)
        if not n:
            break
        n = min(n, remaining)
        digest.update(view[:n])
        remaining -= n
    src.seek(length)
    return digest
