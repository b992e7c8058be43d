"""A real PostgreSQL server for tests and benchmarks: Debian's `postgresql` package (`initdb`, `pg_ctl`)
run as a non-root user into a temporary folder, on a free loopback port. Password authentication
(scram-sha-256) is on, so a wrong password is really refused. Stoppable and restartable on the same
data folder (to simulate an outage); stop() in teardown."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]
USER = "zoomwatch"
PASSWORD = "pg-test-secret-0123"
SERVER_USER = "postgres"  # made by Debian's package; initdb refuses to run as root


def bin_dir() -> Path:
    for folder in BIN_DIRS:
        if (folder / "initdb").exists():
            return folder
    found = shutil.which("initdb") or shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str:
    """The non-root user that runs the server: Debian's `postgres`, else `nobody`."""
    for name in (SERVER_USER, "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("no non-root user to run PostgreSQL as (useradd postgres)")


class PostgresServer:
    """`PostgresServer().start()`, then `close()` (stops it and removes its folder). The folder is a new one
    under the system's temporary folder, not pytest's: pytest makes its own folder private (0700) whenever any
    pytest session starts, which would lock the server's user out of its data in the middle of a test."""

    def __init__(self, workdir: Path | None = None) -> None:
        workdir = workdir or Path(tempfile.mkdtemp(prefix="zoomwatch-pg-"))
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.port = _free_port()
        self.bin = bin_dir()
        self.run_as = _server_user()
        self.log = workdir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/zoomwatch"

    def url_for(self, user: str, password: str, database: str = "zoomwatch") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.run_as}@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", self.run_as, "--", *args], capture_output=True, text=True,
                              timeout=timeout, check=check, cwd="/")

    def start(self) -> PostgresServer:
        """initdb on first start (as the server user), then pg_ctl start and wait until it answers."""
        if not self.data.exists():
            self._init()
        self._pg_start()
        return self

    def _init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)
        self.data.mkdir()
        uid = pwd.getpwnam(self.run_as)
        os.chown(self.data, uid.pw_uid, uid.pw_gid)
        os.chown(self.workdir, uid.pw_uid, uid.pw_gid)
        self._as_server_user(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.run_as,
                             "--no-sync", "-E", "UTF8", "--locale=C")
        self._pg_start()
        self.sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        self.sql(f"CREATE DATABASE zoomwatch OWNER {USER}")
        hba = self.data / "pg_hba.conf"  # from now on, TCP needs the password
        hba.write_text(f"local all all trust\nhost all {self.run_as} 127.0.0.1/32 trust\n"
                       "host all all 127.0.0.1/32 scram-sha-256\n")
        self.stop(fast=True)

    def _pg_start(self) -> None:
        self._as_server_user(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120",
            "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket (psql)."""
        done = self._as_server_user(str(self.bin / "psql"),
                                    "-h", str(self.workdir), "-p", str(self.port), "-d", database, "-v",
                                    "ON_ERROR_STOP=1", "-At", "-c", statement)
        return done.stdout

    def running(self) -> bool:
        done = self._as_server_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return done.returncode == 0

    def stop(self, *, fast: bool = True) -> None:
        """Stop the server: `fast` (clients disconnected, a clean shutdown) or `immediate` (like a crash)."""
        if self.data.exists() and self.running():
            self._as_server_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                                 "fast" if fast else "immediate", "-w", "stop", check=False)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill_connections(self) -> None:
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'zoomwatch'")
