"""The catalog: SQLite (WAL) record of every version of every recording file and how far its backup got.

It is the single truth the engine trusts. One row per version of a file per destination; states move
settling -> queued -> uploading -> verified, with `failed` (attempts, last error, next try) beside them,
`superseded` for an older version and `missing` for a file that went away before it was backed up.
Every transition is one committed transaction, so a process killed at any instant resumes where it was.

Remote keys are reserved once per (destination, source path) in their own table with a unique index,
so a template change can never make one recording land twice and two recordings never share a key,
not even on a store that ignores case and Unicode normalisation (keys are unique once folded).
Paths are stored as the raw bytes the OS gave (os.fsencode), so non-UTF-8 names survive.

A catalog written by an earlier release is migrated in place (PRAGMA user_version counts the steps).
A damaged catalog file is moved aside as `<name>.corrupt-<time>`, never deleted, and a new one started:
recordings already at the destination are then found there by size and SHA-256, not copied again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from zoomwatch.errors import ZoomwatchError
from zoomwatch.i18n import N_, Msg

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id            INTEGER PRIMARY KEY,
    dest          TEXT NOT NULL,
    path          BLOB NOT NULL,
    display       TEXT NOT NULL,
    size          INTEGER NOT NULL,
    mtime_ns      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    sha256        TEXT,
    remote_key    TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    next_try_at   REAL,
    blocked       INTEGER NOT NULL DEFAULT 0,
    resume        TEXT,
    bytes_done    INTEGER NOT NULL DEFAULT 0,
    meeting       TEXT,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    verified_at   REAL
);
CREATE INDEX IF NOT EXISTS files_by_path ON files(dest, path, id);
CREATE INDEX IF NOT EXISTS files_by_state ON files(dest, state, next_try_at);
CREATE INDEX IF NOT EXISTS files_by_key ON files(dest, remote_key);
CREATE INDEX IF NOT EXISTS files_in_queue ON files(dest, state, id);
CREATE TABLE IF NOT EXISTS keys (
    dest       TEXT NOT NULL,
    remote_key TEXT NOT NULL,
    path       BLOB NOT NULL,
    PRIMARY KEY (dest, remote_key)
);
CREATE UNIQUE INDEX IF NOT EXISTS keys_by_path ON keys(dest, path);
"""


log = logging.getLogger(__name__)



class FileState(str, Enum):
    """Where one version of a file is in its backup; the value is what the catalog stores."""

    SETTLING = "settling"
    QUEUED = "queued"
    UPLOADING = "uploading"
    VERIFIED = "verified"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    MISSING = "missing"

    def __str__(self) -> str:
        return self.value


STATES = tuple(FileState)


class Origin(str, Enum):
    """Where a file came from: the watched Zoom folder, or a download from Zoom's cloud into the spool."""

    LOCAL = "local"
    CLOUD = "cloud"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CloudRef:
    """Which Zoom cloud file a spooled download is (see sources/zoom/cloud.py file_identity)."""

    identity: str
    uuid: str
    file_type: str | None = None


@dataclass(frozen=True)
class FileInfo:
    """What is known of a finished file beyond its path: its meeting (title, start in ISO 8601, Zoom's
    meeting id, and how they were found: `parsed_from`), its name, where it came from, and for a cloud
    download which Zoom file it is. Stored as JSON in the catalog's `meeting` column, in the format of
    earlier releases (a local file's JSON carries no `source`; a cloud file's says `"source": "cloud"`)."""

    title: str | None = None
    start: str | None = None
    meeting_id: str | None = None
    parsed_from: str | None = None
    name: str | None = None
    origin: Origin = Origin.LOCAL
    cloud: CloudRef | None = None

    @property
    def remove_after_backup(self) -> bool:
        """Whether the file is zoomwatch's own copy (a cloud download in the spool), removed once verified;
        a file in the user's Zoom folder never is."""
        return self.origin is Origin.CLOUD

    def to_json(self) -> str:
        data: dict[str, Any] = {"title": self.title, "start": self.start, "meeting_id": self.meeting_id,
                                "parsed_from": self.parsed_from}
        if self.origin is not Origin.LOCAL:
            data["source"] = self.origin.value
        data["name"] = self.name
        if self.cloud is not None:
            data["cloud"] = {"identity": self.cloud.identity, "uuid": self.cloud.uuid,
                             "file_type": self.cloud.file_type}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> FileInfo:
        """Read a row's JSON (any release's: missing keys are None, unknown keys ignored)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            return cls()
        cloud = data.get("cloud")
        return cls(
            title=_text(data.get("title")), start=_text(data.get("start")), meeting_id=_text(data.get("meeting_id")),
            parsed_from=_text(data.get("parsed_from")), name=_text(data.get("name")),
            origin=Origin.CLOUD if data.get("source") == Origin.CLOUD.value else Origin.LOCAL,
            cloud=CloudRef(str(cloud.get("identity", "")), str(cloud.get("uuid", "")), _text(cloud.get("file_type")))
            if isinstance(cloud, dict) else None,
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def fold_key(key: str) -> str:
    """The form two keys share when a store that ignores case and Unicode normalisation (exFAT and FAT
    drives, macOS, Windows, most SMB shares) would take them for one name: NFD, case folding, then NFC."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", key).casefold())


def _add_folded_keys(db: sqlite3.Connection) -> None:
    """Keys become unique after folding (`Team Sync` and `TEAM SYNC` are one file on many drives).

    An earlier release may already have given two paths keys that fold alike: both rows are kept (their
    files are verified where they are); the first holds the folded form, so no new key can take it."""
    if "folded" not in {r[1] for r in db.execute("PRAGMA table_info(keys)")}:
        db.execute("ALTER TABLE keys ADD COLUMN folded TEXT")
    taken: set[tuple[str, str]] = set()
    clashes = 0
    for rowid, dest, key in db.execute("SELECT rowid, dest, remote_key FROM keys ORDER BY rowid").fetchall():
        folded = fold_key(key)
        if (dest, folded) in taken:
            clashes += 1
            db.execute("UPDATE keys SET folded = NULL WHERE rowid = ?", (rowid,))
            continue
        taken.add((dest, folded))
        db.execute("UPDATE keys SET folded = ? WHERE rowid = ?", (folded, rowid))
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS keys_by_folded ON keys(dest, folded)")
    if clashes:
        log.warning("%d backup name(s) differ from another only in upper/lower case; on a drive that ignores "
                    "case they were one file (new recordings now get distinct names)", clashes)


def _file_name(path: bytes) -> bytes:
    return path.rpartition(os.sep.encode())[2]


def _add_file_names(db: sqlite3.Connection) -> None:
    """Each row's file name, indexed with its size and mtime: how a moved file finds its old row."""
    if "name" not in {r[1] for r in db.execute("PRAGMA table_info(files)")}:
        db.execute("ALTER TABLE files ADD COLUMN name BLOB")
    for row_id, path in db.execute("SELECT id, path FROM files WHERE name IS NULL").fetchall():
        db.execute("UPDATE files SET name = ? WHERE id = ?", (_file_name(bytes(path)), row_id))
    db.execute("CREATE INDEX IF NOT EXISTS files_by_stat ON files(dest, size, mtime_ns, name)")


def _add_error_msgids(db: sqlite3.Connection) -> None:
    """Beside each file's last error (English, as logs and the JSON outputs show it), what it says as a
    marked message (its msgid and parameters as JSON), so `status` and the dashboard can show it in the
    user's language. Rows written before keep their English text, shown as it is."""
    if "last_error_msg" not in {r[1] for r in db.execute("PRAGMA table_info(files)")}:
        db.execute("ALTER TABLE files ADD COLUMN last_error_msg TEXT")


def _error_columns(text: str | None) -> tuple[str | None, str | None]:
    """The values of (last_error, last_error_msg) for an error text."""
    if text is None:
        return None, None
    if isinstance(text, Msg):
        return str.__str__(text), json.dumps(text.to_json(), ensure_ascii=False, default=str)
    return str(text), None


def _error_text(text: str | None, msg_json: str | None) -> str | None:
    """The stored error as a Msg when its marked form is there and still says what the English text says
    (an earlier release may have written the text alone since), else the text as stored."""
    if text is None or not msg_json:
        return text
    try:
        msg = Msg.from_json(json.loads(msg_json))
    except ValueError:
        return text
    return msg if msg is not None and str.__str__(msg) == text else text


# Changes to a catalog made by an earlier release, applied once each, in order; PRAGMA user_version
# counts the steps applied. A new catalog is made by SCHEMA followed by the same steps.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_add_folded_keys, _add_file_names,
                                                                 _add_error_msgids)


class CatalogDamaged(ZoomwatchError):
    """The catalog file is not a readable SQLite database."""


def _check_intact(db: sqlite3.Connection) -> None:
    problems = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        raise sqlite3.DatabaseError("; ".join(problems[:3]))


def _move_aside(file: Path, exc: sqlite3.DatabaseError) -> Path:
    """Keep a damaged catalog (never delete it) as `<name>.corrupt-<time>`, with its WAL files."""
    aside = file.with_name(f"{file.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        part = file.with_name(file.name + suffix)
        if part.exists():
            os.replace(part, aside.with_name(aside.name + suffix))
    log.error("The catalog %s is damaged (%s): it was moved aside as %s and a new catalog started. Recordings "
              "already in the backup are found there (same size and SHA-256) and not copied again.",
              file, exc, aside.name)
    return aside


def path_bytes(path: Path | str) -> bytes:
    return os.fsencode(path)


def display_path(path: Path | str) -> str:
    return os.fsdecode(path_bytes(path)).encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class Row:
    id: int
    dest: str
    path: bytes
    display: str
    size: int
    mtime_ns: int
    state: FileState
    sha256: str | None
    remote_key: str | None
    attempts: int
    last_error: str | None
    next_try_at: float | None
    blocked: bool
    resume: dict[str, Any] | None
    bytes_done: int
    info: FileInfo | None  # the `meeting` column
    verified_at: float | None

    @property
    def fs_path(self) -> Path:
        return Path(os.fsdecode(self.path))

    @classmethod
    def from_sql(cls, r: sqlite3.Row) -> Row:
        try:
            msg_json = r["last_error_msg"]
        except IndexError:  # a catalog of an earlier release, opened read-only (not migrated)
            msg_json = None
        return cls(
            id=r["id"], dest=r["dest"], path=bytes(r["path"]), display=r["display"], size=r["size"],
            mtime_ns=r["mtime_ns"], state=FileState(r["state"]), sha256=r["sha256"], remote_key=r["remote_key"],
            attempts=r["attempts"], last_error=_error_text(r["last_error"], msg_json), next_try_at=r["next_try_at"],
            blocked=bool(r["blocked"]), resume=json.loads(r["resume"]) if r["resume"] else None,
            bytes_done=r["bytes_done"], info=FileInfo.from_json(r["meeting"]) if r["meeting"] else None,
            verified_at=r["verified_at"],
        )


class Catalog:
    """Thread-safe access to the catalog file; one connection guarded by a lock."""

    def __init__(self, file: Path, *, clock: Callable[[], float] = time.time, readonly: bool = False) -> None:
        self.file = file
        self.clock = clock
        self.set_aside: Path | None = None  # where a damaged catalog was moved, when it was
        if readonly:
            self._db = self._open_readonly(file)
        else:
            try:
                self._db = self._open(file)
            except sqlite3.DatabaseError as exc:
                self.set_aside = _move_aside(file, exc)
                self._db = self._open(file)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()

    def _open(self, file: Path) -> sqlite3.Connection:
        file.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(file, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            _check_intact(self._db)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: every commit is in the log before the call returns, so a killed process
            # (SIGKILL) loses nothing; only a power cut can drop the last commits, and then the files
            # are checked again (an identical copy at the destination is found, not re-sent).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError:
            self._db.close()
            raise
        return self._db

    @staticmethod
    def _open_readonly(file: Path) -> sqlite3.Connection:
        uri = f"{file.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        try:
            _check_intact(db)
            empty = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'files'").fetchone() is None
        except sqlite3.DatabaseError as exc:
            db.close()
            raise CatalogDamaged(
                "The catalog is damaged",
                f"{file} cannot be read ({exc}). The next `zoomwatch run` moves it aside and starts a new one; "
                "recordings already in the backup are found there and not copied again",
            ) from None
        if empty:  # a new (or emptied) catalog: nothing recorded yet
            db.close()
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.executescript(SCHEMA)
        return db

    def _migrate(self) -> None:
        for step_number, step in enumerate(MIGRATIONS, start=1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("PRAGMA user_version").fetchone()[0] < step_number:
                    step(self._db)
                    self._db.execute(f"PRAGMA user_version = {step_number}")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> Row | None:
        with self._lock:
            r = self._db.execute(sql, args).fetchone()
        return Row.from_sql(r) if r else None

    # -- reading ----------------------------------------------------------------------------------

    def get(self, row_id: int) -> Row | None:
        return self._one("SELECT * FROM files WHERE id = ?", row_id)

    def current(self, dest: str, path: Path | bytes) -> Row | None:
        """The newest version row of a path at a destination."""
        raw = path if isinstance(path, bytes) else path_bytes(path)
        return self._one("SELECT * FROM files WHERE dest = ? AND path = ? ORDER BY id DESC LIMIT 1", dest, raw)

    def current_stats(self, dest: str) -> dict[bytes, tuple[int, int, FileState]]:
        """path -> (size, mtime_ns, state) of the newest row of each path: the start-up scan's one query."""
        sql = (
            "SELECT path, size, mtime_ns, state FROM files WHERE id IN "
            "(SELECT max(id) FROM files WHERE dest = ? GROUP BY path)"
        )
        with self._lock:
            return {bytes(r[0]): (r[1], r[2], FileState(r[3])) for r in self._db.execute(sql, (dest,))}

    def rows(self, dest: str | None = None, *, include_old: bool = False) -> list[Row]:
        where = [] if include_old else ["state NOT IN ('superseded')"]
        args: list[Any] = []
        if dest is not None:
            where.append("dest = ?")
            args.append(dest)
        sql = "SELECT * FROM files" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        with self._lock:
            return [Row.from_sql(r) for r in self._db.execute(sql, args)]

    def counts(self, dest: str) -> dict[FileState, int]:
        sql = "SELECT state, count(*) FROM files WHERE dest = ? AND state != 'superseded' GROUP BY state"
        with self._lock:
            found = dict(self._db.execute(sql, (dest,)).fetchall())
        return {state: found.get(state, 0) for state in STATES if state is not FileState.SUPERSEDED}

    def unfinished(self, dest: str, max_attempts: int) -> int:
        """Files still to back up: queued, uploading, or failed but worth another try."""
        sql = ("SELECT count(*) FROM files WHERE dest = ? AND (state IN ('queued', 'uploading') OR "
               "(state = 'failed' AND blocked = 0 AND attempts < ?))")
        with self._lock:
            return int(self._db.execute(sql, (dest, max_attempts)).fetchone()[0])

    def next_due(self, dest: str) -> float | None:
        """When the earliest failed row may be tried again (None: nothing waits)."""
        sql = "SELECT min(next_try_at) FROM files WHERE dest = ? AND state = 'failed' AND blocked = 0"
        with self._lock:
            return self._db.execute(sql, (dest,)).fetchone()[0]

    def verified_in_folder(self, dest: str, key_folder: str) -> list[Row]:
        """Verified rows whose remote key lies directly in `key_folder` (for the meeting sidecar)."""
        prefix = f"{key_folder}/" if key_folder else ""
        sql = ("SELECT * FROM files WHERE dest = ? AND remote_key >= ? AND remote_key < ?"
               " AND state = 'verified' ORDER BY id")  # a range on the key index: exact and case-sensitive
        with self._lock:
            found = [Row.from_sql(r) for r in self._db.execute(sql, (dest, prefix, prefix + "\U0010ffff"))]
        return [r for r in found if r.remote_key and "/" not in r.remote_key[len(prefix):]]

    # -- transitions ------------------------------------------------------------------------------

    def note_seen(self, dest: str, path: Path, size: int, mtime_ns: int) -> Row:
        """Record that a wanted file exists with this size and mtime; returns the row that tracks it.

        A verified row with the same (size, mtime) is left alone. A changed file that was verified (or
        gone) starts a new version row; an unfinished row just takes the new size and mtime.
        """
        raw = path_bytes(path)
        now = self.clock()
        with self._tx() as db:
            r = db.execute(
                "SELECT * FROM files WHERE dest = ? AND path = ? ORDER BY id DESC LIMIT 1", (dest, raw)
            ).fetchone()
            if r is not None and (r["size"], r["mtime_ns"]) == (size, mtime_ns) and r["state"] != FileState.MISSING:
                return Row.from_sql(r)
            if r is not None and r["state"] in (FileState.SETTLING, FileState.QUEUED, FileState.FAILED):
                db.execute(
                    "UPDATE files SET size = ?, mtime_ns = ?, state = 'settling', sha256 = NULL, updated_at = ?"
                    " WHERE id = ?",
                    (size, mtime_ns, now, r["id"]),
                )
                row_id = r["id"]
            elif r is not None and r["state"] == FileState.UPLOADING:
                return Row.from_sql(r)  # the worker sees the change when it re-checks the file
            else:
                cur = db.execute(
                    "INSERT INTO files (dest, path, name, display, size, mtime_ns, state, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'settling', ?, ?)",
                    (dest, raw, _file_name(raw), display_path(path), size, mtime_ns, now, now),
                )
                row_id = cur.lastrowid
            return Row.from_sql(db.execute("SELECT * FROM files WHERE id = ?", (row_id,)).fetchone())

    def mark_queued(self, row_id: int, size: int, mtime_ns: int, info: FileInfo) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = 'queued', size = ?, mtime_ns = ?, meeting = ?, updated_at = ?"
                " WHERE id = ? AND state IN ('settling', 'failed')",
                (size, mtime_ns, info.to_json(), self.clock(), row_id),
            )

    def claim(self, dest: str) -> Row | None:
        """Take the next file to back up (queued, or failed and due) and mark it uploading."""
        now = self.clock()
        with self._tx() as db:
            # queued files first, oldest first (one step down an index: a claim must not read every row)
            r = db.execute("SELECT * FROM files WHERE dest = ? AND state = 'queued' ORDER BY id LIMIT 1",
                           (dest,)).fetchone()
            if r is None:
                r = db.execute(
                    "SELECT * FROM files WHERE dest = ? AND state = 'failed' AND blocked = 0 AND next_try_at <= ?"
                    " AND meeting IS NOT NULL ORDER BY id LIMIT 1",
                    (dest, now),
                ).fetchone()
            if r is None:
                return None
            db.execute("UPDATE files SET state = 'uploading', updated_at = ? WHERE id = ?", (now, r["id"]))
            return Row.from_sql(db.execute("SELECT * FROM files WHERE id = ?", (r["id"],)).fetchone())

    def reserve_key(self, dest: str, path: bytes, wanted: str, numbered: Callable[[str, int], str]) -> str:
        """The remote key for a recording: the one reserved before, else `wanted`, numbered on a clash.

        Keys are compared folded (case and Unicode normalisation ignored), and a folder that differs from
        an existing one only that way takes the existing spelling, so every store holds distinct files in
        one folder whatever its file system."""
        with self._tx() as db:
            found = db.execute("SELECT remote_key FROM keys WHERE dest = ? AND path = ?", (dest, path)).fetchone()
            if found:
                return str(found[0])
            return self._insert_key(db, dest, path, self._same_folder(db, dest, wanted), numbered, ())

    def rekey(self, dest: str, path: bytes, wanted: str, numbered: Callable[[str, int], str],
              avoid: tuple[str, ...]) -> str:
        """A new numbered key for `path`, none of `avoid` (keys found holding another machine's file)."""
        with self._tx() as db:
            db.execute("DELETE FROM keys WHERE dest = ? AND path = ?", (dest, path))
            return self._insert_key(db, dest, path, self._same_folder(db, dest, wanted), numbered,
                                    tuple(fold_key(k) for k in avoid))

    @staticmethod
    def _same_folder(db: sqlite3.Connection, dest: str, wanted: str) -> str:
        folder, sep, name = wanted.rpartition("/")
        if not folder:
            return wanted
        prefix = fold_key(folder) + "/"
        other = db.execute("SELECT remote_key FROM keys WHERE dest = ? AND folded >= ? AND folded < ? LIMIT 1",
                           (dest, prefix, prefix + "\U0010ffff")).fetchone()
        if other is None:
            return wanted
        depth = folder.count("/") + 1
        existing = "/".join(str(other[0]).split("/")[:depth])
        return f"{existing}/{name}" if fold_key(existing) == fold_key(folder) else wanted

    @staticmethod
    def _insert_key(db: sqlite3.Connection, dest: str, path: bytes, wanted: str,
                    numbered: Callable[[str, int], str], avoid: tuple[str, ...]) -> str:
        candidate, n = wanted, 1
        while fold_key(candidate) in avoid or db.execute(
            "SELECT 1 FROM keys WHERE dest = ? AND folded = ?", (dest, fold_key(candidate))
        ).fetchone():
            n += 1
            candidate = numbered(wanted, n)
        db.execute("INSERT INTO keys (dest, remote_key, path, folded) VALUES (?, ?, ?, ?)",
                   (dest, candidate, path, fold_key(candidate)))
        return candidate

    def wrote_key(self, dest: str, path: bytes, key: str) -> bool:
        """Whether this catalog once verified a version of `path` at `key` (so it may be replaced)."""
        with self._lock:
            return self._db.execute(
                "SELECT 1 FROM files WHERE dest = ? AND path = ? AND remote_key = ? AND verified_at IS NOT NULL"
                " LIMIT 1", (dest, path, key)).fetchone() is not None

    def save_progress(self, row_id: int, *, sha256: str | None = None, remote_key: str | None = None,
                      resume: dict[str, Any] | None = None, bytes_done: int | None = None) -> None:
        """Record facts learned during an upload (hash, key, resume point) as soon as they are known."""
        sets, args = ["updated_at = ?"], list[object]([self.clock()])
        for column, value in (("sha256", sha256), ("remote_key", remote_key), ("bytes_done", bytes_done)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if resume is not None:
            sets.append("resume = ?")
            args.append(json.dumps(resume))
        with self._tx() as db:
            db.execute(f"UPDATE files SET {', '.join(sets)} WHERE id = ?", (*args, row_id))

    def mark_verified(self, row_id: int, sha256: str, remote_key: str) -> None:
        """The destination holds this version, checked: older versions of the path become superseded."""
        now = self.clock()
        with self._tx() as db:
            r = db.execute("SELECT dest, path, size FROM files WHERE id = ?", (row_id,)).fetchone()
            db.execute(
                "UPDATE files SET state = 'verified', sha256 = ?, remote_key = ?, resume = NULL, last_error = NULL,"
                " last_error_msg = NULL, next_try_at = NULL, bytes_done = ?, verified_at = ?, updated_at = ?"
                " WHERE id = ?",
                (sha256, remote_key, r["size"], now, now, row_id),
            )
            db.execute(
                "UPDATE files SET state = 'superseded', updated_at = ? WHERE dest = ? AND path = ? AND id < ?"
                " AND state NOT IN ('superseded')",
                (now, r["dest"], r["path"], row_id),
            )

    def mark_failed(self, row_id: int, error: str, *, retry_at: float | None, blocked: bool = False,
                    count_attempt: bool = True) -> int:
        """Record a failed try; returns the attempt count. blocked=True waits for a config change."""
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = 'failed', attempts = attempts + ?, last_error = ?, last_error_msg = ?,"
                " next_try_at = ?, blocked = ?, updated_at = ? WHERE id = ?",
                (1 if count_attempt else 0, *_error_columns(error), retry_at, int(blocked), self.clock(), row_id),
            )
            return int(db.execute("SELECT attempts FROM files WHERE id = ?", (row_id,)).fetchone()[0])

    def note_waiting(self, row_id: int, reason: str | None) -> None:
        """Say why a file is not finished yet (still converting, locked, empty) without changing its state."""
        with self._tx() as db:
            db.execute("UPDATE files SET last_error = ?, last_error_msg = ? WHERE id = ? AND state = 'settling'",
                       (*_error_columns(reason), row_id))

    def back_to_settling(self, row_id: int, size: int, mtime_ns: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = 'settling', size = ?, mtime_ns = ?, resume = NULL, sha256 = NULL,"
                " updated_at = ? WHERE id = ?",
                (size, mtime_ns, self.clock(), row_id),
            )

    def mark_missing(self, row_id: int, reason: str) -> None:
        """The file went away before it was backed up. Its resume state is kept until the unfinished
        upload is thrown away at the store (abandoned_uploads, clear_resume)."""
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = 'missing', last_error = ?, last_error_msg = ?, updated_at = ? WHERE id = ?",
                (*_error_columns(reason), self.clock(), row_id),
            )

    def clear_resume(self, row_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE files SET resume = NULL, updated_at = ? WHERE id = ?", (self.clock(), row_id))

    def abandoned_uploads(self, dest: str) -> list[Row]:
        """Rows whose file is gone or replaced but whose unfinished upload (multipart, TUS, partial file)
        may still be at the store; not one whose resume state an active row shares."""
        sql = ("SELECT * FROM files WHERE dest = ? AND state IN ('missing', 'superseded') AND resume IS NOT NULL"
               " AND resume NOT IN (SELECT resume FROM files WHERE dest = ? AND resume IS NOT NULL"
               " AND state NOT IN ('missing', 'superseded')) ORDER BY id")
        with self._lock:
            return [Row.from_sql(r) for r in self._db.execute(sql, (dest, dest))]

    def verified_like(self, dest: str, path: bytes, size: int, mtime_ns: int, limit: int) -> list[Row]:
        """Verified rows of other paths with this size and mtime, where a moved or renamed file may have
        been before: those with the same file name first (a renamed folder), at most `limit` in all."""
        base = "SELECT * FROM files WHERE dest = ? AND size = ? AND mtime_ns = ? AND state = 'verified' AND path != ?"
        with self._lock:
            found = [Row.from_sql(r) for r in self._db.execute(
                base + " AND name = ? ORDER BY id LIMIT ?", (dest, size, mtime_ns, path, _file_name(path), limit))]
            if len(found) < limit:
                found += [Row.from_sql(r) for r in self._db.execute(
                    base + " AND name != ? LIMIT ?",
                    (dest, size, mtime_ns, path, _file_name(path), limit - len(found)))]
        return found

    def adopt_moved(self, row_id: int, old_id: int, sha256: str) -> None:
        """`row_id` is the file of `old_id` under a new path: it takes over its verified backup and key,
        and the old row (whose path is gone) is superseded."""
        now = self.clock()
        with self._tx() as db:
            old = db.execute("SELECT * FROM files WHERE id = ?", (old_id,)).fetchone()
            new = db.execute("SELECT dest, path FROM files WHERE id = ?", (row_id,)).fetchone()
            db.execute("DELETE FROM keys WHERE dest = ? AND path = ?", (new["dest"], new["path"]))
            db.execute("UPDATE keys SET path = ? WHERE dest = ? AND path = ?", (new["path"], old["dest"], old["path"]))
            db.execute(
                "UPDATE files SET state = 'verified', sha256 = ?, remote_key = ?, resume = NULL, last_error = NULL,"
                " last_error_msg = NULL, next_try_at = NULL, bytes_done = size, verified_at = ?, updated_at = ?"
                " WHERE id = ?",
                (sha256, old["remote_key"], old["verified_at"], now, row_id),
            )
            moved = N_("moved to {path}", path=display_path(os.fsdecode(bytes(new["path"]))))
            db.execute("UPDATE files SET state = 'superseded', last_error = ?, last_error_msg = ?, updated_at = ?"
                       " WHERE id = ?", (*_error_columns(moved), now, old_id))

    def requeue_lost(self, row_id: int) -> None:
        """A verified file's backup is gone from the destination: back it up again (same key)."""
        with self._tx() as db:
            lost = N_("its backup was missing from the destination; copying it again")
            db.execute("UPDATE files SET state = 'queued', attempts = 0, blocked = 0, last_error = ?,"
                       " last_error_msg = ?, updated_at = ? WHERE id = ? AND state = 'verified'",
                       (*_error_columns(lost), self.clock(), row_id))

    def requeue_row(self, row_id: int) -> None:
        """An upload stopped on request (pause, shutdown): back to the queue with its resume point."""
        with self._tx() as db:
            db.execute("UPDATE files SET state = 'queued', updated_at = ? WHERE id = ? AND state = 'uploading'",
                       (self.clock(), row_id))

    def requeue_interrupted(self, dest: str) -> int:
        """After a crash or restart: uploads that were in flight go back to the queue, resume data kept."""
        with self._tx() as db:
            return db.execute(
                "UPDATE files SET state = 'queued', updated_at = ? WHERE dest = ? AND state = 'uploading'",
                (self.clock(), dest),
            ).rowcount

    def unblock(self, dest: str) -> int:
        """The settings changed: files that waited for that are tried again now."""
        with self._tx() as db:
            return db.execute(
                "UPDATE files SET blocked = 0, next_try_at = ?, updated_at = ? WHERE dest = ? AND state = 'failed'",
                (self.clock(), self.clock(), dest),
            ).rowcount

    # -- the dashboard and REST API (issue 13): a page of recording files, newest meeting first ----------

    SEARCH_INDEX = ("CREATE INDEX IF NOT EXISTS files_by_start"
                    " ON files(dest, json_extract(meeting, '$.start') DESC, id DESC)")

    def search(self, dest: str, *, text: str = "", start: str = "", end: str = "", state: str = "",
               offset: int = 0, limit: int = 50) -> tuple[int, list[Row]]:
        """(how many rows match, the rows from `offset`, at most `limit`): the current version of each file
        (never a superseded one), newest meeting first. `text` is found in the path, the meeting's title or
        its ID (case-insensitive, literally: % and _ are no wildcards); `start` / `end` bound the meeting's
        day (YYYY-MM-DD, inclusive); `state` is one FileState value. An index on (dest, meeting start) keeps a
        page of 10,000 files a walk down the index, not a sort."""
        where, args = ["dest = ?", "state != 'superseded'"], list[Any]([dest])
        if state:
            where.append("state = ?")
            args.append(FileState(state).value)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(display LIKE ? ESCAPE '\\' OR json_extract(meeting, '$.title') LIKE ? ESCAPE '\\'"
                         " OR json_extract(meeting, '$.meeting_id') LIKE ? ESCAPE '\\')")
            args += [pattern] * 3
        if start:
            where.append("json_extract(meeting, '$.start') >= ?")
            args.append(start)
        if end:
            where.append("json_extract(meeting, '$.start') < ?")
            args.append(end + "\U0010ffff")  # the whole last day, whatever the time and zone after it
        condition = " AND ".join(where)
        with self._lock:
            if not getattr(self, "_search_ready", False) and not self.file.name.startswith(":"):
                try:
                    self._db.execute(self.SEARCH_INDEX)
                except sqlite3.OperationalError:  # a read-only catalog: the query still works, unindexed
                    pass
                self._search_ready = True
            total = int(self._db.execute(f"SELECT count(*) FROM files WHERE {condition}", args).fetchone()[0])
            found = self._db.execute(
                f"SELECT * FROM files WHERE {condition} ORDER BY json_extract(meeting, '$.start') DESC, id DESC"
                " LIMIT ? OFFSET ?", (*args, max(0, limit), max(0, offset))).fetchall()
        return total, [Row.from_sql(r) for r in found]
