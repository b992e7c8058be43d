"""The destination interface: what the transfer workers need from any backup target (folder, S3,
Supabase). A destination stores bytes under a key and can say what it holds; the workers own retries,
the catalog and verification policy."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RemoteObject:
    size: int
    sha256: str | None = None  # None where the store cannot say without reading it back


class Cancelled(Exception):
    """The upload was asked to stop (shutdown, pause); its resume point is saved."""


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

    def adapt_key(self, key: str) -> str:
        """The key as this store accepts it (Supabase allows only an ASCII set); applied once, before
        the key is reserved in the catalog."""

    def check(self) -> None:
        """Raise DestinationError when files cannot be stored now (missing, read-only, no credentials)."""

    def stat(self, key: str) -> RemoteObject | None:
        """What is stored at `key`, or None."""

    def checksum(self, key: str) -> str | None:
        """The sha256 of what is stored at `key` (reading it back if need be), or None when absent."""

    def upload(self, source: Path, key: str, size: int, session: UploadSession) -> str:
        """Store `size` bytes of `source` at `key`, resuming from `session.resume` when it can;
        return the sha256 of the bytes stored. Raise Cancelled when `session.stop` is set."""

    def discard(self, resume: dict[str, Any] | None) -> None:
        """Throw away an unfinished upload (its partial file, its multipart parts) that will not resume."""

    def write_small(self, key: str, data: bytes) -> None:
        """Store a small file (the meeting.json sidecar) at `key`, replacing what was there."""

    def location(self, key: str) -> str:
        """Where a person finds the backup of `key` (a path or a URL)."""

    def share_link(self, key: str) -> str | None:
        """A time-limited link that downloads the backup of `key` (None for a folder: open it instead)."""


def sha256_file(path: Path, stop: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
            if stop is not None and stop.is_set():
                raise Cancelled()
    return digest.hexdigest()
