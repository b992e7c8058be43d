"""Typed values (issue 12 item 7): file states and engine statuses are enums whose values are the strings
the catalog and the status file already hold; a file's info is a dataclass stored as the same JSON as
before; the watcher compares watchdog's own event constants. A catalog row written by the earlier release
(a plain JSON dict) loads, and a cloud download's spool copy is removed after its backup because of what
its info says, never a local recording."""

from __future__ import annotations

import ast
import json
import sqlite3
import threading
from pathlib import Path

from tests.helpers import write_random
from zoomwatch.core.catalog import STATES, Catalog, CloudRef, FileInfo, FileState, Origin
from zoomwatch.core.status import EngineStatus, Snapshot

PACKAGE = Path(__file__).resolve().parents[2] / "zoomwatch"

# the JSON the previous release wrote into the `meeting` column (sources/local.py and zoom/cloud.py)
OLD_LOCAL = {"title": "Weekly sync", "start": "2024-01-15T10:00:00", "meeting_id": "84512345678",
             "parsed_from": "zoom-folder", "name": "zoom_0.mp4"}
OLD_CLOUD = {"title": "Board meeting", "start": "2024-05-06T14:00:00", "meeting_id": "93456789012",
             "parsed_from": "zoom-cloud", "source": "cloud", "name": "cloud_shared_screen.mp4",
             "cloud": {"identity": "abc==/f1", "uuid": "abc==", "file_type": "MP4"}}


def test_enum_values_are_the_strings_stored_before():
    assert [s.value for s in STATES] == ["settling", "queued", "uploading", "verified", "failed", "superseded",
                                         "missing"]
    assert [s.value for s in EngineStatus] == ["stopped", "watching", "idle", "uploading", "paused", "error"]
    for state in FileState:
        assert state == state.value and str(state) == state.value and f"{state}" == state.value
        assert f"{state:<11}" == f"{state.value:<11}"
    assert json.dumps({FileState.QUEUED: FileState.VERIFIED}) == '{"queued": "verified"}'
    assert Snapshot(status="paused").status is EngineStatus.PAUSED  # a string given is read as the enum


def test_the_catalog_stores_states_as_before_and_reads_them_as_enums(tmp_path):
    file = tmp_path / "catalog.sqlite3"
    catalog = Catalog(file)
    try:
        row = catalog.note_seen("d", tmp_path / "a.mp4", 10, 1)
        catalog.mark_queued(row.id, 10, 1, FileInfo(**{k: v for k, v in OLD_LOCAL.items()}))
        got = catalog.get(row.id)
        assert got is not None and got.state is FileState.QUEUED
        assert catalog.counts("d")[FileState.QUEUED] == 1
    finally:
        catalog.close()
    with sqlite3.connect(file) as db:
        assert db.execute("SELECT state, typeof(state), meeting FROM files").fetchone() == (
            "queued", "text", json.dumps(OLD_LOCAL))


def test_file_info_round_trips_as_the_same_json():
    local = FileInfo(title="Weekly sync", start="2024-01-15T10:00:00", meeting_id="84512345678",
                     parsed_from="zoom-folder", name="zoom_0.mp4")
    cloud = FileInfo(title="Board meeting", start="2024-05-06T14:00:00", meeting_id="93456789012",
                     parsed_from="zoom-cloud", name="cloud_shared_screen.mp4", origin=Origin.CLOUD,
                     cloud=CloudRef("abc==/f1", "abc==", "MP4"))
    assert local.to_json() == json.dumps(OLD_LOCAL)
    assert cloud.to_json() == json.dumps(OLD_CLOUD)
    for info in (local, cloud, FileInfo()):
        assert FileInfo.from_json(info.to_json()) == info
    assert cloud.remove_after_backup and not local.remove_after_backup


def test_rows_written_in_the_old_format_load(tmp_path):
    """A catalog of an existing install: rows whose `meeting` JSON the earlier release wrote by hand,
    including a partial one and one saying "source": "local"."""
    file = tmp_path / "catalog.sqlite3"
    Catalog(file).close()
    old = [OLD_LOCAL, OLD_CLOUD, {"title": "t"}, {**OLD_LOCAL, "source": "local", "unknown": 1}]
    with sqlite3.connect(file) as db:
        for n, meeting in enumerate(old):
            db.execute("INSERT INTO files (dest, path, name, display, size, mtime_ns, state, meeting, created_at,"
                       " updated_at) VALUES ('d', ?, ?, ?, 1, 1, 'queued', ?, 0, 0)",
                       (f"/z/{n}".encode(), str(n).encode(), f"/z/{n}", json.dumps(meeting)))
    catalog = Catalog(file)
    try:
        rows = catalog.rows("d")
    finally:
        catalog.close()
    infos = [r.info for r in rows]
    assert infos[0] == FileInfo(**OLD_LOCAL)
    assert infos[1] == FileInfo(title="Board meeting", start="2024-05-06T14:00:00", meeting_id="93456789012",
                                parsed_from="zoom-cloud", name="cloud_shared_screen.mp4", origin=Origin.CLOUD,
                                cloud=CloudRef("abc==/f1", "abc==", "MP4"))
    assert infos[2] == FileInfo(title="t")
    assert infos[3] == FileInfo(**OLD_LOCAL) and infos[3].origin is Origin.LOCAL


def test_only_a_cloud_download_is_removed_after_its_backup(app, tmp_path):
    """The worker removes the spool copy because the file's info says it is a cloud download (a row in
    the old JSON, as a running install has them); a recording from the Zoom folder is never removed."""
    from zoomwatch.core.status import StatusBoard
    from zoomwatch.core.transfer import Transfers
    from zoomwatch.destinations.local import LocalDestination

    spooled = tmp_path / "spool" / "0123" / "cloud_shared_screen.mp4"
    recording = app.zoom / "2024-01-15 10.00.00 Weekly sync 84512345678" / "zoom_0.mp4"
    write_random(spooled, 5000, seed=1)
    write_random(recording, 5000, seed=2)
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    dest = LocalDestination(app.backup)
    transfers = Transfers(app.load(), catalog, dest, StatusBoard(), requeue=lambda path: None)
    try:
        for path, meeting in ((spooled, OLD_CLOUD), (recording, OLD_LOCAL)):
            st = path.stat()
            row = catalog.note_seen(dest.id, path, st.st_size, st.st_mtime_ns)
            with sqlite3.connect(catalog.file) as db:  # queued by the earlier release: its JSON, by hand
                db.execute("UPDATE files SET state = 'queued', meeting = ? WHERE id = ?", (json.dumps(meeting), row.id))
            claimed = catalog.claim(dest.id)
            assert claimed is not None
            transfers.process(claimed, threading.Event())
            assert catalog.get(row.id).state is FileState.VERIFIED
        assert not spooled.exists(), "the spool copy of a verified cloud download is removed"
        assert recording.exists(), "a recording in the Zoom folder is never removed"
    finally:
        catalog.close()


def test_the_watcher_compares_watchdog_event_constants():
    from watchdog import events

    from zoomwatch.sources.local import reading_events

    assert events.EVENT_TYPE_OPENED in reading_events()
    assert events.EVENT_TYPE_CLOSED_NO_WRITE in reading_events()
    assert not {events.EVENT_TYPE_CREATED, events.EVENT_TYPE_MODIFIED, events.EVENT_TYPE_MOVED,
                events.EVENT_TYPE_DELETED, events.EVENT_TYPE_CLOSED} & reading_events()


def _compared_literals(tree: ast.AST, values: set[str]) -> list[tuple[int, str]]:
    """String literals among `values` compared with something (==, !=, in, not in), alone or in a tuple,
    list or set; and literals among `values` given to `.get(...)` (a count looked up by a state)."""
    found: list[tuple[int, str]] = []

    def literals(node: ast.AST) -> list[ast.Constant]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [e for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return []

    for node in ast.walk(tree):
        operands: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            operands = node.args[:1]
        for operand in operands:
            found += [(c.lineno, c.value) for c in literals(operand) if c.value in values]
    return found


def test_no_bare_state_or_status_literal_is_compared_outside_the_catalog():
    states = {s.value for s in FileState}
    statuses = {s.value for s in EngineStatus}
    faces_and_engine = {"core/status.py", "ui/tray.py", "ui/icons.py", "ui/cli.py"}  # and the facade: app/*.py
    offenders = []
    for file in sorted(PACKAGE.rglob("*.py")):
        name = file.relative_to(PACKAGE).as_posix()
        if name == "core/catalog.py":
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        wanted = states | (statuses if name in faces_and_engine or name.startswith("app/") else set())
        offenders += [f"{name}:{line}: {value!r}" for line, value in _compared_literals(tree, wanted)]
    assert offenders == [], "compare FileState / EngineStatus members, not strings:\n" + "\n".join(offenders)


def test_enums_work_on_the_oldest_python_supported():
    """pyproject says Python 3.10, which has no enum.StrEnum: enums are `str, Enum` with __str__."""
    users = [file.relative_to(PACKAGE).as_posix() for file in sorted(PACKAGE.rglob("*.py"))
             for node in ast.walk(ast.parse(file.read_text(encoding="utf-8")))
             if isinstance(node, ast.ImportFrom) and node.module == "enum"
             and any(a.name == "StrEnum" for a in node.names)]
    assert users == []
