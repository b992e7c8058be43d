"""`zoomwatch ls` and `zoomwatch restore`: the meetings at the destination, and getting their files back.

Everything is read from the destination itself: its listing, each meeting folder's meeting.json (title,
start, meeting ID, each file's SHA-256 recorded at backup) and the objects' own metadata, so a new computer
with an empty catalog can restore. A catalog, when there is one, adds the SHA-256 it recorded.

A restore streams each file into a hidden partial file beside its target (a download cut off resumes from
there), checks its SHA-256 against the one the backup recorded (a mismatch removes the partial file and
says so), then gives it its name without ever replacing a file: a taken name gets " (2)", " (3)"...
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoomwatch.core.audit import SIDECAR
from zoomwatch.destinations.base import CHUNK, Destination
from zoomwatch.errors import ItemError
from zoomwatch.i18n import N_, NP_

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".zoomwatch-restore"
SIDECAR_MAX = 4 * 1024 * 1024  # a meeting.json larger than this is not read
_FOLDER = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T_](\d{2})[.:-](\d{2})[.:-](\d{2})\s*(.*?)(?:\s+(\d{9,12}))?$")


@dataclass(frozen=True)
class StoredFile:
    key: str
    name: str
    size: int
    sha256: str | None = None  # as recorded at backup (catalog or meeting.json), when known


@dataclass(frozen=True)
class Meeting:
    folder: str                  # the key folder at the destination ("" for files at its top)
    title: str
    start: str | None            # ISO 8601 when known
    meeting_id: str | None
    files: tuple[StoredFile, ...]
    location: str                # where a person finds it (a path or a URL)
    described: bool = False      # whether a meeting.json described it

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "title": self.title, "start": self.start, "meeting_id": self.meeting_id,
                "location": self.location, "size": self.size,
                "files": [{"key": f.key, "name": f.name, "size": f.size, "sha256": f.sha256} for f in self.files]}


def _from_folder_name(folder: str) -> tuple[str, str | None, str | None]:
    """Title, start and meeting ID read from a folder named like Zoom's ("2024-05-06 14.00.00 Board 123456789")."""
    name = folder.rpartition("/")[2]
    found = _FOLDER.match(name)
    if not found:
        return name or "(top of the backup)", None, None
    day, hh, mm, ss, title, meeting_id = found.groups()
    return title or name, f"{day}T{hh}:{mm}:{ss}", meeting_id


def _read_sidecar(destination: Destination, key: str) -> dict[str, Any]:
    chunks = destination.read(key)
    if chunks is None:
        return {}
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > SIDECAR_MAX:
            return {}
    try:
        found = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        log.warning("%s is not valid JSON; the meeting is described from its folder name", key)
        return {}
    return found if isinstance(found, dict) else {}


def meetings(destination: Destination, recorded: dict[str, str] | None = None) -> list[Meeting]:
    """Every meeting folder at the destination, newest first. `recorded`: key -> SHA-256 from a catalog."""
    recorded = recorded or {}
    folders: dict[str, list[tuple[str, int]]] = {}
    for key, remote in destination.list():
        folders.setdefault(key.rpartition("/")[0], []).append((key, remote.size))
    found = []
    for folder, objects in folders.items():
        sidecar_key = f"{folder}/{SIDECAR}" if folder else SIDECAR
        has_sidecar = any(k == sidecar_key for k, _ in objects)
        described = _read_sidecar(destination, sidecar_key) if has_sidecar else {}
        listed = {str(f.get("name")): f for f in described.get("files", []) if isinstance(f, dict)}
        title, start, meeting_id = _from_folder_name(folder)
        files = []
        for key, size in sorted(objects):
            if key == sidecar_key:
                continue
            name = key.rpartition("/")[2]
            entry = listed.get(name, {})
            sha = recorded.get(key) or (entry.get("sha256") if entry.get("size") == size else None)
            files.append(StoredFile(key, name, size, sha if isinstance(sha, str) else None))
        if not files:
            continue
        found.append(Meeting(folder, str(described.get("title") or title), _text(described.get("start")) or start,
                             _text(described.get("meeting_id")) or meeting_id, tuple(files),
                             destination.location(folder), bool(described)))
    found.sort(key=lambda m: (m.start or "", m.folder), reverse=True)
    return found


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def select(found: Iterable[Meeting], text: str | None = None, start: dt.date | None = None,
           end: dt.date | None = None) -> list[Meeting]:
    """The meetings whose title, folder or meeting ID contains `text` (case ignored), started from `start`
    to `end` (inclusive; a meeting whose start is unknown is left out of a date filter)."""
    wanted = (text or "").casefold().strip()
    digits = re.sub(r"[\s-]", "", wanted)
    chosen = []
    for meeting in found:
        if wanted and wanted not in meeting.title.casefold() and wanted not in meeting.folder.casefold() \
                and not (digits and meeting.meeting_id and digits == meeting.meeting_id.replace(" ", "")):
            continue
        if start or end:
            day = _day(meeting.start)
            if day is None or (start and day < start) or (end and day > end):
                continue
        chosen.append(meeting)
    return chosen


def _day(start: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((start or "")[:10])
    except ValueError:
        return None


# -- restoring -----------------------------------------------------------------------------------------


class RestoreFailed(ItemError):
    """Some files could not be restored; `restored` lists those that were."""

    def __init__(self, title: str, message: str, restored: list[Path]) -> None:
        super().__init__(title, message, retryable=True)
        self.restored = restored


def free_name(target: Path) -> Path:
    """`target`, or "name (2).ext", "name (3).ext"... : the first name not taken."""
    candidate, n = target, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
    return candidate


def _partial_for(final: Path) -> Path:
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _give_name(partial: Path, final: Path) -> Path:
    """Name the finished download `final` (or the next free name), never replacing an existing file."""
    while True:
        try:
            os.link(partial, final)  # fails on an existing name: no file is ever replaced
        except FileExistsError:
            final = free_name(final)
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(final):  # a drive without hard links (FAT, exFAT): checked, then renamed
                final = free_name(final)
                continue
            os.replace(partial, final)
            return final
        partial.unlink()
        return final


@dataclass
class Restorer:
    destination: Destination
    progress: Callable[[str, int, int], None] | None = None  # (name, bytes done, size)
    stop: threading.Event = field(default_factory=threading.Event)

    def expected_sha256(self, item: StoredFile) -> str | None:
        """What the backup recorded: the catalog's or meeting.json's SHA-256, else the object's metadata."""
        if item.sha256:
            return item.sha256
        found = self.destination.stat(item.key)
        return found.sha256 if found is not None else None

    def file(self, item: StoredFile, folder: Path) -> Path:
        """Restore one file into `folder` (made if need be); returns the path it got."""
        folder.mkdir(parents=True, exist_ok=True)
        final = free_name(folder / item.name)
        partial = _partial_for(final)
        expected = self.expected_sha256(item)
        if expected is None:  # nothing recorded beside it (a folder without meeting.json): its own bytes now
            expected = self.destination.checksum(item.key)
        report = self.progress
        self.destination.download(item.key, partial, stop=self.stop,
                                  progress=(lambda done: report(item.name, done, item.size)) if report else None)
        actual = _hash_file(partial)
        if expected is not None and actual != expected:
            partial.unlink(missing_ok=True)
            raise ItemError(N_("Restored file does not match its backup"),
                            N_("{key}: the download's SHA-256 is {actual}…, the backup recorded {expected}…; the "
                               "partial file was removed — try again, or run: zoomwatch audit --read-data",
                               key=item.key, actual=actual[:12], expected=expected[:12]), retryable=True)
        return _give_name(partial, final)

    def many(self, chosen: list[tuple[StoredFile, Path]]) -> list[Path]:
        """Restore each (file, folder); the files that fail are named together at the end (RestoreFailed)."""
        restored: list[Path] = []
        failed: list[str] = []
        for item, folder in chosen:
            try:
                restored.append(self.file(item, folder))
            except ItemError as exc:
                log.warning("%s: %s", exc.title, exc.message)
                failed.append(N_("{title}: {message}", title=exc.title, message=exc.message))
        if failed:
            first = (N_("{first} (and {more} more)", first=failed[0], more=len(failed) - 1) if len(failed) > 1
                     else failed[0])
            raise RestoreFailed(NP_("{n} of {total} file(s) not restored", "{n} of {total} file(s) not restored",
                                    len(failed), total=len(chosen)), first, restored)
        return restored


def folder_name(meeting: Meeting) -> str:
    """The local folder a meeting is restored into: its folder's last name at the destination."""
    name = meeting.folder.rpartition("/")[2] or "backup"
    return name.replace(os.sep, "_") if os.sep != "/" else name
