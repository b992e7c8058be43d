"""The shared catalog: one PostgreSQL database that several zoomwatch machines share (`catalog.shared_url`,
a secret). The local SQLite catalog stays each machine's crash-safe record of its own work; PostgreSQL
holds what machines share: a `zoomwatch_recordings` table (one row per recording file per destination,
every verified file upserted), the same rows under a dashboard's column names (the `recordings` view),
the machines (`zoomwatch_machines`: name, version, last seen, counts), and for account-wide cloud backup
the user leases, the file claims and the fleet's one Zoom Server-to-Server token, sealed with a key derived
from the app's client secret (see sources/zoom/fleet.py).

Publishing goes through an outbox in the local catalog: a verified row is published when the
`shared_published` table does not yet hold its (id, verified_at). While PostgreSQL is unreachable the
rows simply wait there; they are published when it is back. The upsert's key (destination, source id)
makes a repeat (a crash between the PostgreSQL commit and the local one) update the row, never add one.

The schema is versioned (`zoomwatch_schema`) and migrated in place, under an advisory lock so two
machines starting together do not race. A role without the right to create tables gets the SQL to run.
The URL's password never reaches a message or the log: errors name the host, port and database only.
psycopg is imported lazily (only when a shared catalog is configured).
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoomwatch import secrets
from zoomwatch.errors import BadSetting, ZoomwatchError
from zoomwatch.i18n import N_

log = logging.getLogger(__name__)

SECRET = "catalog.shared_url"
CONNECT_TIMEOUT = 10
LOCK_ID = 0x7A77_0001  # pg_advisory_xact_lock key for migrations

# Each step is applied once, in order; zoomwatch_schema.version counts the steps applied.
MIGRATIONS: tuple[str, ...] = (
    """
CREATE TABLE IF NOT EXISTS zoomwatch_machines (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    version     text,
    destination text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    counts      jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS zoomwatch_recordings (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL,
    source_id     text NOT NULL,
    zoom_file_id  text,
    machine_path  text,
    meeting_uuid  text,
    meeting_id    text,
    host_user     text,
    title         text,
    start_time    text,
    file_type     text,
    file_name     text,
    size          bigint NOT NULL,
    sha256        text,
    destination   text NOT NULL,
    remote_key    text,
    file_url      text,
    state         text NOT NULL,
    verified_at   timestamptz,
    machine       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (destination, source_id)
);
CREATE INDEX IF NOT EXISTS zoomwatch_recordings_by_sha ON zoomwatch_recordings (sha256);
CREATE OR REPLACE VIEW recordings AS
    SELECT id AS recording_id, host_user AS user_id, file_url, remote_key AS storage_path, title AS meeting_title,
           file_name, size AS file_size, created_at, updated_at, state AS processing_status, meeting_id,
           meeting_uuid, sha256, destination, source, machine
    FROM zoomwatch_recordings;
CREATE TABLE IF NOT EXISTS zoomwatch_user_leases (
    scope       text NOT NULL,
    user_email  text NOT NULL,
    machine     text,
    expires_at  timestamptz,
    done_at     timestamptz,
    PRIMARY KEY (scope, user_email)
);
CREATE TABLE IF NOT EXISTS zoomwatch_cloud_claims (
    destination text NOT NULL,
    identity    text NOT NULL,
    scope       text NOT NULL,
    user_email  text NOT NULL,
    machine     text NOT NULL,
    state       text NOT NULL DEFAULT 'claimed',
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    done_at     timestamptz,
    PRIMARY KEY (destination, identity)
);
CREATE INDEX IF NOT EXISTS zoomwatch_claims_by_user ON zoomwatch_cloud_claims (scope, user_email, state);
""",
    # 2: one Server-to-Server token per Zoom app for the whole fleet (a new token can invalidate the old one,
    # so machines that each fetched their own would knock each other out); stored encrypted (see fleet.py)
    """
CREATE TABLE IF NOT EXISTS zoomwatch_s2s_tokens (
    app         text PRIMARY KEY,
    token       text,
    expires_at  timestamptz
);
""",
)
SCHEMA_VERSION = len(MIGRATIONS)
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS zoomwatch_schema (version integer NOT NULL);"

OUTBOX = """
CREATE TABLE IF NOT EXISTS shared_published (
    file_id     INTEGER PRIMARY KEY,
    verified_at REAL NOT NULL
);
"""
PENDING = """
SELECT f.id, f.path, f.display, f.size, f.sha256, f.remote_key, f.verified_at, f.meeting
FROM files f LEFT JOIN shared_published p ON p.file_id = f.id
WHERE f.dest = ? AND f.state = 'verified' AND (p.file_id IS NULL OR p.verified_at != f.verified_at)
ORDER BY f.id LIMIT ?
"""


class SharedCatalogError(ZoomwatchError):
    """The shared catalog cannot be used now (unreachable, refused, or its tables missing)."""


class SharedCatalogNeedsSetup(SharedCatalogError):
    """The role may not create zoomwatch's tables: `sql` is what an administrator runs once."""

    def __init__(self, title: str, message: str, sql: str) -> None:
        super().__init__(title, message)
        self.sql = sql


def shared_url() -> str | None:
    """The configured PostgreSQL URL (keyring, else ZOOMWATCH_SHARED_URL), or None: no shared catalog."""
    return secrets.get_secret(SECRET)


def where(url: str) -> str:
    """host:port/database of a URL or conninfo string, never its user's password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a malformed URL is named without echoing it (it may hold a password)
        return "the configured PostgreSQL URL"
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = str(parts.get("port") or "5432")
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def _scrub(text: str, url: str) -> str:
    """An error text with the password taken out, whatever the driver put in it."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(url).get("password")
    except Exception:  # noqa: BLE001
        password = None
    if password:
        text = text.replace(str(password), "***")
    return " ".join(text.split())


def reason(exc: BaseException, url: str) -> str:
    text = _scrub(str(exc), url)
    for marker in ("FATAL:", "ERROR:"):  # libpq: `connection to server at "h", port p failed: FATAL:  why`
        if marker in text:
            return text.split(marker, 1)[1].strip()
    if " failed: " in text:
        return text.rsplit(" failed: ", 1)[1].strip()
    return text or type(exc).__name__


def connect(url: str, *, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A psycopg connection (autocommit: each transaction explicit), or SharedCatalogError naming the host
    and the reason."""
    import psycopg

    try:
        # keepalives and a TCP user time-out: a server that vanished without closing the connection (a
        # network cut, a powered-off host) fails a statement in half a minute instead of hanging the thread
        return psycopg.connect(url, connect_timeout=max(1, int(timeout)), application_name="zoomwatch",
                               autocommit=True, keepalives=1, keepalives_idle=10, keepalives_interval=5,
                               keepalives_count=3, tcp_user_timeout=30_000)
    except psycopg.Error as exc:
        raise SharedCatalogError(N_("Cannot reach the shared catalog"),
                                 N_("PostgreSQL at {where}: {reason}", where=where(url), reason=reason(exc, url))) \
            from None
    except Exception as exc:  # noqa: BLE001 - a malformed URL raises ProgrammingError or ValueError
        raise BadSetting(N_("The shared catalog URL is not valid"),
                         N_("{error}; set it again with: zoomwatch secret set {secret} "
                            "(postgresql://user:password@host:5432/database)", error=type(exc).__name__,
                            secret=SECRET)) from None


def _role(url: str) -> str:
    try:
        from psycopg.conninfo import conninfo_to_dict

        return str(conninfo_to_dict(url).get("user") or "")
    except Exception:  # noqa: BLE001
        return ""


def setup_sql(role: str = "") -> str:
    """Everything an administrator runs once for a role that may not create tables (and its grants)."""
    steps = "\n".join(step.strip() for step in MIGRATIONS)
    text = (f"{VERSION_TABLE}\n{steps}\nDELETE FROM zoomwatch_schema;\n"
            f"INSERT INTO zoomwatch_schema VALUES ({SCHEMA_VERSION});\n")
    if role:
        quoted = '"' + role.replace('"', '""') + '"'
        text += (f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted};\n"
                 f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted};\n")
    return text


def migrate(conn: Any, url: str) -> int:
    """Bring the schema to SCHEMA_VERSION in place (each missing step once); returns the version."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
            found = 0
            if conn.execute("SELECT to_regclass('zoomwatch_schema')").fetchone()[0] is not None:
                found = conn.execute("SELECT max(version) FROM zoomwatch_schema").fetchone()[0] or 0
            if found == SCHEMA_VERSION:
                return found  # no DDL at all: a role without CREATE rights works once the tables are there
            conn.execute(VERSION_TABLE)
            if found > SCHEMA_VERSION:
                raise SharedCatalogError(N_("The shared catalog is newer than this zoomwatch"),
                                         N_("PostgreSQL at {where} has schema {found}, this zoomwatch knows "
                                            "{known}: update zoomwatch on this machine", where=where(url),
                                            found=found, known=SCHEMA_VERSION))
            for number, step in enumerate(MIGRATIONS, start=1):
                if number > found:
                    conn.execute(step)
            if found < SCHEMA_VERSION:
                conn.execute("DELETE FROM zoomwatch_schema")
                conn.execute("INSERT INTO zoomwatch_schema VALUES (%s)", (SCHEMA_VERSION,))
                log.info("shared catalog at %s: schema %d -> %d", where(url), found, SCHEMA_VERSION)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SharedCatalogNeedsSetup(
            N_("The shared catalog's tables cannot be created"),
            N_("PostgreSQL at {where}: {reason}. Ask its administrator to run the SQL below once (as a role that "
               "may create tables), then run zoomwatch check again", where=where(url), reason=reason(exc, url)),
            setup_sql(_role(url))) \
            from None
    except psycopg.OperationalError as exc:
        raise SharedCatalogError(N_("Lost the shared catalog"), N_("PostgreSQL at {where}: {reason}",
                                                                    where=where(url), reason=reason(exc, url))) \
            from None
    return SCHEMA_VERSION


def check(url: str) -> str:
    """Connect, migrate and read the clock: what `zoomwatch check` says. Raises SharedCatalogError."""
    conn = connect(url)
    try:
        migrate(conn, url)
        machines = conn.execute("SELECT count(*) FROM zoomwatch_machines").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM zoomwatch_recordings").fetchone()[0]
    finally:
        conn.close()
    return f"PostgreSQL at {where(url)} (schema {SCHEMA_VERSION}; {machines} machine(s), {rows} recording row(s))"


# -- this machine ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Machine:
    """Who this zoomwatch is in the fleet: a stable id kept in its state folder, and a name people read."""

    id: str
    name: str
    version: str

    @classmethod
    def of(cls, state_dir: Path, name: str = "") -> Machine:
        from zoomwatch import __version__

        file = state_dir / "machine-id"
        try:
            machine_id = file.read_text(encoding="ascii").strip()
        except OSError:
            machine_id = ""
        if not machine_id:
            machine_id = uuid.uuid4().hex
            file.parent.mkdir(parents=True, exist_ok=True)
            partial = file.with_name(f".machine-id.{os.getpid()}")
            partial.write_text(machine_id, encoding="ascii")
            os.replace(partial, file)
        return cls(machine_id, name or socket.gethostname(), __version__)


# -- publishing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Published:
    rows: int
    waiting: int


class Publisher:
    """Publishes this machine's verified rows and registers the machine; one connection, opened on demand
    and opened again after a failure. Used from one thread (the engine's shared-catalog thread)."""

    BATCH = 500

    def __init__(self, url: str, catalog_file: Path, dest: str, machine: Machine,
                 locate: Callable[[str], str] = lambda key: key) -> None:
        self.url = url
        self.catalog_file = catalog_file
        self.dest = dest
        self.machine = machine
        self.locate = locate
        self._conn: Any = None
        self._local: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # connections
    def _pg(self) -> Any:
        if self._conn is None or self._conn.closed:
            conn = connect(self.url)
            try:
                migrate(conn, self.url)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _sqlite(self) -> sqlite3.Connection:
        if self._local is None:
            db = sqlite3.connect(self.catalog_file, isolation_level=None, timeout=30, check_same_thread=False)
            db.executescript(OUTBOX)
            self._local = db
        return self._local

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._local is not None:
                self._local.close()
                self._local = None

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """The PostgreSQL connection; a lost connection is closed (reopened next time) and said clearly."""
        import psycopg

        with self._lock:
            conn = self._pg()
            try:
                yield conn
            except psycopg.Error as exc:
                try:
                    conn.close()
                finally:
                    self._conn = None
                raise SharedCatalogError(N_("Lost the shared catalog"),
                                         N_("PostgreSQL at {where}: {reason}", where=where(self.url),
                                            reason=reason(exc, self.url))) from None

    def waiting(self) -> int:
        """How many verified rows wait to be published."""
        with self._lock:
            return len(self._sqlite().execute(PENDING, (self.dest, 1_000_000_000)).fetchall())

    def publish(self) -> int:
        """Publish every waiting row (in batches); returns how many. Raises SharedCatalogError."""
        total = 0
        while True:
            with self._lock:
                batch = self._sqlite().execute(PENDING, (self.dest, self.BATCH)).fetchall()
            if not batch:
                return total
            with self._session() as conn:
                with conn.transaction():
                    for row in batch:
                        self._upsert(conn, row)
            with self._lock:  # only once PostgreSQL committed: a crash in between publishes again (an update)
                db = self._sqlite()
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT OR REPLACE INTO shared_published (file_id, verified_at) VALUES (?, ?)",
                               [(r[0], r[6]) for r in batch])
                db.execute("COMMIT")
            total += len(batch)

    def _upsert(self, conn: Any, row: tuple) -> None:
        from zoomwatch.core.catalog import FileInfo, Origin

        file_id, path, display, size, sha256, key, verified_at, meeting = row
        info = FileInfo.from_json(meeting) if meeting else FileInfo()
        cloud = info.cloud if info.origin is Origin.CLOUD else None
        host_user = None
        if cloud is not None:  # the claim (fleet) says whose it is, and is done now
            done = conn.execute(
                "UPDATE zoomwatch_cloud_claims SET state = 'done', done_at = now() WHERE destination = %s"
                " AND identity = %s RETURNING user_email", (self.dest, cloud.identity)).fetchone()
            host_user = done[0] if done else None
        name = info.name or os.path.basename(display)
        source_id = cloud.identity if cloud is not None else f"{self.machine.id}:{display}"
        file_type = (cloud.file_type if cloud is not None else None) or (os.path.splitext(name)[1][1:].upper() or None)
        conn.execute(
            """
            INSERT INTO zoomwatch_recordings (source, source_id, zoom_file_id, machine_path, meeting_uuid, meeting_id,
                host_user, title, start_time, file_type, file_name, size, sha256, destination, remote_key, file_url,
                state, verified_at, machine)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'verified',
                    to_timestamp(%s), %s)
            ON CONFLICT (destination, source_id) DO UPDATE SET
                size = EXCLUDED.size, sha256 = EXCLUDED.sha256, remote_key = EXCLUDED.remote_key,
                file_url = EXCLUDED.file_url, state = EXCLUDED.state, verified_at = EXCLUDED.verified_at,
                machine = EXCLUDED.machine, title = EXCLUDED.title, start_time = EXCLUDED.start_time,
                host_user = COALESCE(EXCLUDED.host_user, zoomwatch_recordings.host_user), updated_at = now()
            """,
            ("cloud" if cloud is not None else "local", source_id,
             cloud.identity if cloud is not None else None, None if cloud is not None else display,
             cloud.uuid if cloud is not None else None, info.meeting_id, host_user, info.title, info.start,
             file_type, name, size, sha256, self.dest, key, self.locate(key) if key else None, verified_at or 0,
             self.machine.name))

    def register(self, destination_label: str, counts: dict[str, int]) -> None:
        """Say this machine is alive (name, version, counts); PostgreSQL's clock stamps it."""
        from psycopg.types.json import Jsonb

        with self._session() as conn:
            with conn.transaction():
                conn.execute(
                    """
                    INSERT INTO zoomwatch_machines (id, name, version, destination, counts)
                    VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version,
                        destination = EXCLUDED.destination, counts = EXCLUDED.counts, last_seen = now()
                    """, (self.machine.id, self.machine.name, self.machine.version, destination_label,
                          Jsonb(counts)))
