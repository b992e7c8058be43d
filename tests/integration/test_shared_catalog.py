"""The shared catalog on a real PostgreSQL server (tests/pgserver.py: Debian's initdb/pg_ctl as a non-root user,
password authentication on): `zoomwatch check` with a wrong password or without the right to create tables,
the schema made and versioned, and every verified file published by a real `zoomwatch run` — also the ones
backed up while PostgreSQL was stopped, once it is back, and none twice."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest
from helpers import backed_up_files, stop_process, wait_for, write_random
from pgserver import PASSWORD, PostgresServer

from zoomwatch.core.shared_catalog import MIGRATIONS, SCHEMA_VERSION


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    """A fresh database owned by the test role; its URL (with the password)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    postgres.sql(f"CREATE DATABASE {name} OWNER zoomwatch")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def zw(app, *args: str, url: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**app.env, "ZOOMWATCH_SHARED_URL": url, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def rows(url: str, sql: str = "SELECT * FROM zoomwatch_recordings") -> list[dict]:
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def published(url: str) -> int:
    """How many rows the recordings table holds (0 before zoomwatch made it)."""
    try:
        return len(rows(url))
    except psycopg.errors.UndefinedTable:
        return 0


def test_a_wrong_password_names_the_host_and_the_reason_never_the_password(app, postgres, database):
    wrong = database.replace(PASSWORD, "not-the-Password-42")
    done = zw(app, "check", url=wrong)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert f"127.0.0.1:{postgres.port}" in out and "password authentication failed" in out, out
    assert "not-the-Password-42" not in out and PASSWORD not in out
    assert "not-the-Password-42" not in app.paths.config_file.read_text()
    log = app.paths.log_file
    assert not log.exists() or "not-the-Password-42" not in log.read_text()


def test_check_makes_the_versioned_schema_and_the_dashboard_view(app, database):
    done = zw(app, "check", url=database)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: shared catalog: PostgreSQL at 127.0.0.1:" in done.stdout and PASSWORD not in done.stdout
    assert rows(database, "SELECT version FROM zoomwatch_schema") == [{"version": SCHEMA_VERSION}]
    view = {r["column_name"] for r in rows(database, "SELECT column_name FROM information_schema.columns"
                                                     " WHERE table_name = 'recordings'")}
    assert {"recording_id", "user_id", "file_url", "meeting_title", "file_name", "file_size", "created_at",
            "updated_at", "processing_status"} <= view
    again = zw(app, "check", url=database)  # in place: nothing made twice, nothing lost
    assert again.returncode == 0
    assert rows(database, "SELECT version FROM zoomwatch_schema") == [{"version": SCHEMA_VERSION}]


def test_a_catalog_made_by_an_earlier_release_is_migrated_in_place(app, database):
    with psycopg.connect(database, autocommit=True) as conn:  # what schema 1 (the first release) made
        conn.execute(MIGRATIONS[0])
        conn.execute("CREATE TABLE zoomwatch_schema (version integer NOT NULL);"
                     " INSERT INTO zoomwatch_schema VALUES (1)")
        conn.execute("INSERT INTO zoomwatch_recordings (source, source_id, size, destination, state)"
                     " VALUES ('local', 'laptop:/a.mp4', 5, 'local:/b', 'verified')")
    done = zw(app, "check", url=database)
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows(database, "SELECT version FROM zoomwatch_schema") == [{"version": SCHEMA_VERSION}]
    assert [r["source_id"] for r in rows(database)] == ["laptop:/a.mp4"]  # kept
    assert rows(database, "SELECT count(*) AS n FROM zoomwatch_s2s_tokens") == [{"n": 0}]  # step 2 made it


def test_a_schema_newer_than_this_zoomwatch_is_refused_clearly(app, database):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE zoomwatch_schema (version integer NOT NULL);"
                     " INSERT INTO zoomwatch_schema VALUES (99)")
    done = zw(app, "check", url=database)
    assert done.returncode != 0 and "newer than this zoomwatch" in done.stdout and "update zoomwatch" in done.stdout


def test_a_role_that_may_not_create_tables_gets_the_sql_to_run(app, postgres, database):
    name = database.rsplit("/", 1)[1]
    postgres.sql(f"CREATE ROLE reader_{name} LOGIN PASSWORD 'reader-pw-7'")
    postgres.sql(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT CONNECT ON DATABASE {name} TO reader_{name}",
                 database=name)
    reader = postgres.url_for(f"reader_{name}", "reader-pw-7", name)
    done = zw(app, "check", url=reader)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot be created" in done.stdout and "CREATE TABLE IF NOT EXISTS zoomwatch_recordings" in done.stdout
    assert "reader-pw-7" not in done.stdout
    sql = done.stdout.split("\n\n", 1)[1]
    postgres.sql(sql, database=name)  # what the administrator does with it
    done = zw(app, "check", url=reader)
    assert done.returncode == 0 and "OK: shared catalog" in done.stdout, done.stdout + done.stderr


def test_rows_wait_while_postgresql_is_stopped_and_are_published_once_when_it_is_back(app, postgres, database):
    first = {f"m{i}.mp4": write_random(app.zoom / "Team sync" / f"m{i}.mp4", 200_000, seed=i) for i in range(3)}
    env = {**app.env, "ZOOMWATCH_SHARED_URL": database, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: published(database) == 3, 90, "the first rows published")
        machines = rows(database, "SELECT * FROM zoomwatch_machines")
        assert len(machines) == 1 and machines[0]["counts"].get("verified") == 3
        postgres.stop(fast=False)  # like a crash of the database server
        later = {f"n{i}.mp4": write_random(app.zoom / "Later" / f"n{i}.mp4", 150_000, seed=10 + i)
                 for i in range(4)}
        wait_for(lambda: len(backed_up_files(app.backup)) == 7, 90, "local backups going on without PostgreSQL")
        status = wait_for(lambda: "wait to be published" in (s := zw(app, "status", url=database).stdout) and s,
                          60, "the status saying rows wait")
        assert "Cannot reach the shared catalog" in status or "Lost the shared catalog" in status
        assert PASSWORD not in str(status)
        postgres.start()
        wait_for(lambda: published(database) == 7, 90, "the waiting rows published")
    finally:
        stop_process(run, 15)
    table = rows(database)
    assert len({r["source_id"] for r in table}) == 7
    assert {r["file_name"] for r in table} == set(first) | set(later)
    assert all(r["state"] == "verified" and r["sha256"] and r["file_url"] for r in table)
    digests = {**first, **later}
    assert all(r["sha256"] == digests[r["file_name"]] for r in table)
    view = rows(database, "SELECT * FROM recordings")
    assert len(view) == 7 and all(r["meeting_title"] and r["file_url"] and r["processing_status"] == "verified"
                                  for r in view)
    assert {r["storage_path"] for r in view} == set(backed_up_files(app.backup))


def test_zoomwatch_version_does_not_import_psycopg(app):
    done = subprocess.run([sys.executable, "-c", "import sys, zoomwatch.ui.cli as c\n"
                           "try:\n    c.main(['--version'])\nexcept SystemExit:\n    pass\n"
                           "print('psycopg' in sys.modules)"], env=app.env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().endswith("False"), done.stdout + done.stderr

