"""The embedded default destination: a folder on a local disk, a USB drive or a NAS mount.

Each file is written to a hidden partial file beside its target, fsynced, then renamed over the
target in one step, so the backup folder never shows a half-written recording. A copy cut off by a
crash resumes from the partial file's length; the final read-back check catches any damage.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from pathlib import Path

from zoomwatch.destinations.base import CHUNK, RemoteObject, UploadSession, sha256_file
from zoomwatch.errors import DestinationError, FileChanged, FileGone, ItemError

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".zoomwatch-part"


def _dest_error(exc: OSError, root: Path) -> DestinationError:
    if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", -1):
        return DestinationError("Backup disk is full", f"free space on the disk that holds {root}", retryable=True)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return DestinationError(
            "Backup folder is read-only",
            f"zoomwatch may not write in {root} — check its permissions or choose another folder",
            retryable=True,
        )
    if exc.errno == errno.ENOENT:
        return DestinationError(
            "Backup folder is missing",
            f"{root} does not exist — connect the drive or create the folder "
            "(or choose another: zoomwatch config set destination.local.path PATH)",
            retryable=True,
        )
    return DestinationError("Cannot write to the backup folder", f"{root}: {exc.strerror or exc}", retryable=True)


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


class LocalDestination:
    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = Path(root).absolute()
        self.create = create
        self.id = f"local:{self.root}"
        self.label = f"folder {self.root}"

    # -- paths ------------------------------------------------------------------------------------

    def _target(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or key.startswith("/"):
            raise ItemError("Unsafe backup name", f"refusing to write outside the backup folder: {key!r}")
        return self.root.joinpath(*parts)

    @staticmethod
    def _partial(target: Path) -> Path:
        return target.with_name(f".{target.name}{PARTIAL_SUFFIX}")

    # -- interface --------------------------------------------------------------------------------

    def adapt_key(self, key: str) -> str:
        return key  # the naming sanitiser already made it safe here

    def check(self) -> None:
        if self.create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _dest_error(exc, self.root) from None
        if not self.root.is_dir():
            raise _dest_error(OSError(errno.ENOENT, "missing"), self.root)
        probe = self.root / f".zoomwatch-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise _dest_error(exc, self.root) from None

    def stat(self, key: str) -> RemoteObject | None:
        try:
            return RemoteObject(self._target(key).stat().st_size)
        except FileNotFoundError:
            return None

    def checksum(self, key: str) -> str | None:
        try:
            return sha256_file(self._target(key))
        except FileNotFoundError:
            return None

    def upload(self, source: Path, key: str, size: int, session: UploadSession) -> str:
        target = self._target(key)
        partial = self._partial(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _dest_error(exc, self.root) from None
        offset = 0
        resume = session.resume or {}
        if resume.get("partial") == partial.name and partial.exists():
            offset = partial.stat().st_size
            if offset > size:
                offset = 0
            log.info("resuming %s at byte %d of %d", key, offset, size)
        session.save_resume({"partial": partial.name})
        digest = hashlib.sha256()
        try:
            src = open(source, "rb")
        except FileNotFoundError:
            raise FileGone("File vanished", f"{source} was deleted or renamed before it was backed up") from None
        except OSError as exc:
            raise ItemError("Cannot read recording", f"{source}: {exc.strerror or exc}") from None
        with src:
            if offset:
                digest = _hash_prefix(src, offset, session)
            try:
                out = open(partial, "r+b" if offset else "wb")
            except OSError as exc:
                raise _dest_error(exc, self.root) from None
            with out:
                out.seek(offset)
                out.truncate()
                done = self._copy(src, out, digest, offset, session)
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise _dest_error(exc, self.root) from None
        if done != size:
            raise FileChanged("File changed while copying", f"{source} is now {done} bytes, expected {size}")
        try:
            os.replace(partial, target)
        except OSError as exc:
            raise _dest_error(exc, self.root) from None
        _fsync_dir(target.parent)
        return digest.hexdigest()

    def _copy(self, src, out, digest, done: int, session: UploadSession) -> int:  # type: ignore[no-untyped-def]
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            session.check_stop()
            try:
                n = src.readinto(buffer)
            except OSError as exc:
                raise ItemError("Cannot read recording", f"{src.name}: {exc.strerror or exc}") from None
            if not n:
                return done
            digest.update(view[:n])
            try:
                out.write(view[:n])
            except OSError as exc:
                raise _dest_error(exc, self.root) from None
            done += n
            session.progress(done)
            session.throttle(n)

    def discard(self, resume: dict | None) -> None:  # type: ignore[type-arg]
        """Partial files are named after their target and replaced by the next copy: nothing to do."""

    def write_small(self, key: str, data: bytes) -> None:
        target = self._target(key)
        partial = self._partial(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # atomic (rename) but not fsynced: the sidecar is derived from the catalog and rewritten
            # whenever a file of its folder is verified; an fsync per file halved a big first backup
            with open(partial, "wb") as out:
                out.write(data)
            os.replace(partial, target)
        except OSError as exc:
            raise _dest_error(exc, self.root) from None

    def share_link(self, key: str) -> str | None:
        return None

    def location(self, key: str) -> str:
        """The backed-up file's path; the backup folder itself for an empty key."""
        return str(self._target(key)) if key else str(self.root)


def _hash_prefix(src, length: int, session: UploadSession):  # type: ignore[no-untyped-def]
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
