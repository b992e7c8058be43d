"""The catalog on a real SQLite file: versions of a recording, exclusive claims, retry timing, key
reservation, crash recovery, persistence, raw byte paths and read-only access."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from zoomwatch.core.catalog import Catalog, FileInfo, Row
from zoomwatch.errors import DestinationError
from zoomwatch.naming import with_suffix_number

DEST = "local:/mnt/backup"
OTHER = "local:/mnt/other"
MEETING = FileInfo(title="Weekly sync")


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cat(tmp_path: Path, clock: FakeClock) -> Iterator[Catalog]:
    c = Catalog(tmp_path / "c.sqlite3", clock=clock)
    yield c
    c.close()


def rec(name: str) -> Path:
    return Path("/home/u/Documents/Zoom/2023-10-12 14.00.00 Weekly sync") / name


def queued(cat: Catalog, path: Path, size: int = 100, mtime_ns: int = 1, dest: str = DEST) -> int:
    row = cat.note_seen(dest, path, size, mtime_ns)
    cat.mark_queued(row.id, size, mtime_ns, MEETING)
    return row.id


def verified(cat: Catalog, path: Path, size: int = 100, mtime_ns: int = 1) -> int:
    row_id = queued(cat, path, size, mtime_ns)
    claimed = cat.claim(DEST)
    assert claimed is not None and claimed.id == row_id
    cat.mark_verified(row_id, f"sha-{size}-{mtime_ns}", f"key/{path.name}")
    return row_id


def state(cat: Catalog, row_id: int) -> str:
    row = cat.get(row_id)
    assert row is not None
    return row.state


# -- seeing files ---------------------------------------------------------------------------------


def test_new_file_is_recorded_as_settling(cat: Catalog, clock: FakeClock) -> None:
    path = rec("zoom_0.mp4")
    row = cat.note_seen(DEST, path, 1234, 99)

    assert row.state == "settling"
    assert (row.size, row.mtime_ns) == (1234, 99)
    assert row.path == os.fsencode(path) and row.fs_path == path
    assert row.display == str(path)
    assert row.attempts == 0 and row.sha256 is None and row.remote_key is None
    assert cat.get(row.id) == row
    assert cat.current(DEST, path) == row
    assert cat.current(OTHER, path) is None, "each destination tracks its own copy"


def test_same_stat_again_returns_the_same_row(cat: Catalog, clock: FakeClock) -> None:
    path = rec("zoom_0.mp4")
    first = cat.note_seen(DEST, path, 1234, 99)
    clock.advance(10)
    again = cat.note_seen(DEST, path, 1234, 99)

    assert again == first
    assert len(cat.rows(DEST, include_old=True)) == 1


def test_growing_file_keeps_one_row_and_goes_back_to_settling(cat: Catalog) -> None:
    path = rec("zoom_0.mp4")
    first = cat.note_seen(DEST, path, 100, 1)
    cat.mark_queued(first.id, 100, 1, MEETING)

    grown = cat.note_seen(DEST, path, 5000, 2)

    assert grown.id == first.id
    assert (grown.size, grown.mtime_ns, grown.state) == (5000, 2, "settling")
    assert len(cat.rows(DEST, include_old=True)) == 1


def test_seen_while_uploading_does_not_disturb_the_upload(cat: Catalog) -> None:
    path = rec("zoom_0.mp4")
    row_id = queued(cat, path, 100, 1)
    assert cat.claim(DEST) is not None

    seen = cat.note_seen(DEST, path, 200, 2)

    assert seen.id == row_id and seen.state == "uploading"
    assert (seen.size, seen.mtime_ns) == (100, 1)


def test_changed_file_after_backup_is_a_new_version_that_supersedes_the_old(cat: Catalog) -> None:
    path = rec("zoom_0.mp4")
    old_id = verified(cat, path, 100, 1)

    same = cat.note_seen(DEST, path, 100, 1)
    assert same.id == old_id and same.state == "verified", "an unchanged backed-up file is left alone"

    new = cat.note_seen(DEST, path, 250, 2)
    assert new.id != old_id
    assert new.state == "settling" and new.size == 250
    assert state(cat, old_id) == "verified", "the old backup still counts until the new one is verified"
    assert cat.current(DEST, path) == new

    cat.mark_queued(new.id, 250, 2, MEETING)
    assert cat.claim(DEST).id == new.id  # type: ignore[union-attr]
    cat.mark_verified(new.id, "sha-new", "key/zoom_0.mp4")

    assert state(cat, old_id) == "superseded"
    assert state(cat, new.id) == "verified"
    assert [r.id for r in cat.rows(DEST)] == [new.id]
    assert [r.id for r in cat.rows(DEST, include_old=True)] == [old_id, new.id]
    assert cat.counts(DEST)["verified"] == 1
    newest = cat.get(new.id)
    assert newest is not None and newest.sha256 == "sha-new" and newest.bytes_done == 250


def test_file_that_comes_back_after_going_missing_gets_a_new_row(cat: Catalog) -> None:
    path = rec("zoom_0.mp4")
    first = cat.note_seen(DEST, path, 100, 1)
    cat.mark_missing(first.id, "deleted before it was backed up")

    back = cat.note_seen(DEST, path, 100, 1)

    assert back.id != first.id and back.state == "settling"
    assert state(cat, first.id) == "missing"


# -- claiming work --------------------------------------------------------------------------------


@pytest.mark.parametrize("connections", ["shared", "one-per-thread"])
def test_claim_is_exclusive_under_racing_threads(tmp_path: Path, clock: FakeClock, connections: str) -> None:
    file = tmp_path / "c.sqlite3"
    main = Catalog(file, clock=clock)
    ids = [queued(main, rec(f"zoom_{i}.mp4")) for i in range(40)]
    catalogs = [main if connections == "shared" else Catalog(file, clock=clock) for _ in range(8)]
    claimed: list[list[int]] = [[] for _ in catalogs]
    errors: list[BaseException] = []
    start = threading.Barrier(len(catalogs))

    def worker(n: int) -> None:
        try:
            start.wait()
            while (row := catalogs[n].claim(DEST)) is not None:
                claimed[n].append(row.id)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(catalogs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in {id(c): c for c in catalogs}.values():
        if c is not main:
            c.close()

    assert errors == []
    everything = [row_id for got in claimed for row_id in got]
    assert sorted(everything) == sorted(ids), "each queued file is backed up exactly once"
    assert all(state(main, row_id) == "uploading" for row_id in ids)
    assert main.claim(DEST) is None
    main.close()


def test_claim_takes_queued_files_only(cat: Catalog) -> None:
    settling = cat.note_seen(DEST, rec("zoom_0.mp4"), 100, 1)
    assert cat.claim(DEST) is None, "a file still being written is never claimed"

    row_id = queued(cat, rec("zoom_1.mp4"))
    other_dest = queued(cat, rec("zoom_1.mp4"), dest=OTHER)

    got = cat.claim(DEST)
    assert got is not None and got.id == row_id and got.state == "uploading"
    assert got.info == MEETING
    assert cat.claim(DEST) is None
    assert state(cat, settling.id) == "settling"
    assert state(cat, other_dest) == "queued"


def test_failed_file_waits_until_its_retry_time(cat: Catalog, clock: FakeClock) -> None:
    row_id = queued(cat, rec("zoom_0.mp4"))
    assert cat.claim(DEST) is not None
    attempts = cat.mark_failed(row_id, "network down", retry_at=clock.now + 60)

    assert attempts == 1
    assert cat.claim(DEST) is None
    assert cat.next_due(DEST) == clock.now + 60
    clock.advance(59.9)
    assert cat.claim(DEST) is None
    clock.advance(0.1)

    again = cat.claim(DEST)
    assert again is not None and again.id == row_id
    assert again.attempts == 1 and again.last_error == "network down"
    assert cat.mark_failed(row_id, "still down", retry_at=clock.now + 120) == 2


def test_queued_files_go_before_due_retries(cat: Catalog, clock: FakeClock) -> None:
    failed_id = queued(cat, rec("zoom_0.mp4"))
    cat.claim(DEST)
    cat.mark_failed(failed_id, "oops", retry_at=clock.now)
    fresh_id = queued(cat, rec("zoom_1.mp4"))

    assert cat.claim(DEST).id == fresh_id  # type: ignore[union-attr]
    assert cat.claim(DEST).id == failed_id  # type: ignore[union-attr]


def test_blocked_file_waits_for_unblock(cat: Catalog, clock: FakeClock) -> None:
    row_id = queued(cat, rec("zoom_0.mp4"))
    cat.claim(DEST)
    cat.mark_failed(row_id, "Backup folder is read-only", retry_at=clock.now, blocked=True)

    clock.advance(10 * 24 * 3600)
    assert cat.claim(DEST) is None, "a file waiting for a settings change is not retried by time"
    assert cat.next_due(DEST) is None

    assert cat.unblock(DEST) == 1
    got = cat.claim(DEST)
    assert got is not None and got.id == row_id and not got.blocked


def test_unblock_makes_far_future_retries_due_now(cat: Catalog, clock: FakeClock) -> None:
    row_id = queued(cat, rec("zoom_0.mp4"))
    cat.claim(DEST)
    cat.mark_failed(row_id, "bad credentials", retry_at=clock.now + 3600)

    cat.unblock(DEST)

    assert cat.claim(DEST).id == row_id  # type: ignore[union-attr]


# -- remote keys ----------------------------------------------------------------------------------


def test_reserve_key_is_stable_per_path_and_numbered_on_clash(cat: Catalog) -> None:
    wanted = "2023/10/2023-10-12 14.00.00 Weekly sync/zoom_0.mp4"
    a, b, c = (os.fsencode(rec(f"{n}/zoom_0.mp4")) for n in "abc")

    key_a = cat.reserve_key(DEST, a, wanted, with_suffix_number)
    key_b = cat.reserve_key(DEST, b, wanted, with_suffix_number)
    key_c = cat.reserve_key(DEST, c, wanted, with_suffix_number)

    assert key_a == wanted
    assert key_b == "2023/10/2023-10-12 14.00.00 Weekly sync/zoom_0 (2).mp4"
    assert key_c == "2023/10/2023-10-12 14.00.00 Weekly sync/zoom_0 (3).mp4"
    for _ in range(3):
        assert cat.reserve_key(DEST, a, wanted, with_suffix_number) == key_a
        assert cat.reserve_key(DEST, b, wanted, with_suffix_number) == key_b
    # a template change later never moves a recording that already has a key
    assert cat.reserve_key(DEST, a, "elsewhere/zoom_0.mp4", with_suffix_number) == key_a
    # another destination has its own names
    assert cat.reserve_key(OTHER, b, wanted, with_suffix_number) == wanted


def test_reserve_key_never_gives_one_key_to_two_paths_under_threads(tmp_path: Path, clock: FakeClock) -> None:
    file = tmp_path / "c.sqlite3"
    catalogs = [Catalog(file, clock=clock) for _ in range(8)]
    wanted = "2023/10/meeting/zoom_0.mp4"
    results: dict[bytes, set[str]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(len(catalogs))

    def worker(n: int) -> None:
        try:
            start.wait()
            for _ in range(2):
                for i in range(5):
                    # neighbouring threads ask for some of the same paths, so paths are contended too
                    path = os.fsencode(f"/zoom/{(n + i) % 12}/zoom_0.mp4")
                    key = catalogs[n].reserve_key(DEST, path, wanted, with_suffix_number)
                    with lock:
                        results.setdefault(path, set()).add(key)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(catalogs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in catalogs:
        c.close()

    assert errors == []
    assert len(results) == 12
    assert all(len(keys) == 1 for keys in results.values()), "a path must always get the same key"
    keys = [next(iter(k)) for k in results.values()]
    assert len(set(keys)) == len(keys), "two recordings must never share a key"
    assert wanted in keys


# -- crashes and restarts -------------------------------------------------------------------------


def test_requeue_interrupted_keeps_the_resume_point(cat: Catalog) -> None:
    row_id = queued(cat, rec("zoom_0.mp4"), size=10_000_000)
    cat.claim(DEST)
    cat.save_progress(row_id, remote_key="k/zoom_0.mp4", resume={"partial": ".zoom_0.mp4.zoomwatch-part"},
                      bytes_done=4_000_000)
    waiting = queued(cat, rec("zoom_1.mp4"))

    assert cat.requeue_interrupted(DEST) == 1

    row = cat.get(row_id)
    assert row is not None and row.state == "queued"
    assert row.resume == {"partial": ".zoom_0.mp4.zoomwatch-part"}
    assert row.remote_key == "k/zoom_0.mp4" and row.bytes_done == 4_000_000
    assert state(cat, waiting) == "queued"
    assert cat.requeue_interrupted(DEST) == 0


def test_everything_survives_closing_and_reopening(tmp_path: Path, clock: FakeClock) -> None:
    file = tmp_path / "c.sqlite3"
    cat = Catalog(file, clock=clock)
    settling = cat.note_seen(DEST, rec("a.mp4"), 1, 1).id
    old = verified(cat, rec("c.mp4"), 100, 1)
    new = verified(cat, rec("c.mp4"), 200, 2)
    waiting = queued(cat, rec("b.mp4"))
    uploading = queued(cat, rec("d.mp4"))
    assert cat.claim(DEST).id == waiting  # type: ignore[union-attr]
    assert cat.claim(DEST).id == uploading  # type: ignore[union-attr]
    cat.save_progress(uploading, resume={"partial": "x"}, sha256="abc", bytes_done=7)
    cat.mark_failed(waiting, "disk full", retry_at=clock.now + 5, blocked=True)
    gone = cat.note_seen(DEST, rec("e.mp4"), 1, 1).id
    cat.mark_missing(gone, "deleted")
    key = cat.reserve_key(DEST, os.fsencode(rec("c.mp4")), "k/c.mp4", with_suffix_number)
    before = cat.rows(include_old=True)
    cat.close()

    again = Catalog(file, clock=clock)
    try:
        assert again.rows(include_old=True) == before
        states = {r.id: r.state for r in again.rows(include_old=True)}
        assert states == {settling: "settling", waiting: "failed", old: "superseded", new: "verified",
                          uploading: "uploading", gone: "missing"}
        assert again.get(uploading).resume == {"partial": "x"}  # type: ignore[union-attr]
        assert again.reserve_key(DEST, os.fsencode(rec("c.mp4")), "other", with_suffix_number) == key
        assert again.requeue_interrupted(DEST) == 1
    finally:
        again.close()


def test_non_utf8_path_round_trips_exactly(cat: Catalog) -> None:
    raw = b"/tmp/x\xff.mp4"
    path = Path(os.fsdecode(raw))

    row = cat.note_seen(DEST, path, 10, 20)
    found = cat.current(DEST, path)

    assert found == row
    assert found.path == raw  # type: ignore[union-attr]
    assert os.fsencode(found.fs_path) == raw  # type: ignore[union-attr]
    assert found.fs_path == path  # type: ignore[union-attr]
    assert cat.current(DEST, raw) == row
    found.display.encode("utf-8")  # type: ignore[union-attr]  # printable for a person
    assert list(cat.current_stats(DEST)) == [raw]
    # a different undecodable byte is a different file
    assert cat.current(DEST, Path(os.fsdecode(b"/tmp/x\xfe.mp4"))) is None


def test_readonly_catalog_reads_while_a_writer_is_open(tmp_path: Path, clock: FakeClock) -> None:
    file = tmp_path / "c.sqlite3"
    writer = Catalog(file, clock=clock)
    reader = Catalog(file, clock=clock, readonly=True)
    try:
        first = queued(writer, rec("zoom_0.mp4"))
        assert [r.id for r in reader.rows(DEST)] == [first]
        assert reader.counts(DEST)["queued"] == 1

        writer.claim(DEST)
        second = writer.note_seen(DEST, rec("zoom_1.mp4"), 5, 5).id
        assert {r.id: r.state for r in reader.rows(DEST)} == {first: "uploading", second: "settling"}

        with pytest.raises(sqlite3.OperationalError):
            reader.note_seen(DEST, rec("zoom_2.mp4"), 1, 1)
        assert len(writer.rows(DEST)) == 2
    finally:
        reader.close()
        writer.close()


def test_current_stats_gives_the_newest_row_of_each_path(cat: Catalog) -> None:
    a, b = rec("a.mp4"), rec("b.mp4")
    verified(cat, a, 100, 1)
    cat.note_seen(DEST, a, 300, 3)
    cat.note_seen(DEST, b, 50, 5)
    cat.note_seen(OTHER, b, 999, 9)

    assert cat.current_stats(DEST) == {
        os.fsencode(a): (300, 3, "settling"),
        os.fsencode(b): (50, 5, "settling"),
    }
    assert cat.current_stats(OTHER) == {os.fsencode(b): (999, 9, "settling")}


def test_counts(cat: Catalog, clock: FakeClock) -> None:
    assert cat.counts(DEST) == {"settling": 0, "queued": 0, "uploading": 0, "verified": 0, "failed": 0,
                                "missing": 0}
    verified(cat, rec("a.mp4"), 1, 1)
    verified(cat, rec("a.mp4"), 2, 2)  # the old version is superseded, not counted
    verified(cat, rec("b.mp4"))
    cat.note_seen(DEST, rec("c.mp4"), 1, 1)
    queued(cat, rec("d.mp4"))
    queued(cat, rec("e.mp4"))
    failing = cat.claim(DEST)
    assert failing is not None
    cat.mark_failed(failing.id, "x", retry_at=clock.now + 1)
    cat.mark_missing(cat.note_seen(DEST, rec("f.mp4"), 1, 1).id, "gone")
    queued(cat, rec("g.mp4"), dest=OTHER)

    assert cat.counts(DEST) == {"settling": 1, "queued": 1, "uploading": 0, "verified": 2, "failed": 1,
                                "missing": 1}
    assert cat.counts(OTHER)["queued"] == 1


def backed_up(cat: Catalog, name: str, key: str) -> int:
    row_id = queued(cat, rec(name))
    claimed = cat.claim(DEST)
    assert claimed is not None and claimed.id == row_id
    cat.mark_verified(row_id, "sha", key)
    return row_id


def test_verified_in_folder_lists_only_files_directly_in_that_folder(cat: Catalog) -> None:
    inside = backed_up(cat, "a.mp4", "2023/10/100% sync_1/zoom_0.mp4")
    backed_up(cat, "b.mp4", "2023/10/100% sync_1/sub/zoom_0.mp4")
    backed_up(cat, "c.mp4", "2023/10/100X syncX1/zoom_0.mp4")  # LIKE wildcards must not match
    backed_up(cat, "d.mp4", "2023/10/100% sync_10/zoom_0.mp4")
    top = backed_up(cat, "e.mp4", "top.mp4")
    queued(cat, rec("f.mp4"))

    assert [r.id for r in cat.verified_in_folder(DEST, "2023/10/100% sync_1")] == [inside]
    assert [r.id for r in cat.verified_in_folder(DEST, "")] == [top]
    assert cat.verified_in_folder(OTHER, "2023/10/100% sync_1") == []


def test_verified_in_folder_tells_apart_folders_differing_only_in_case(cat: Catalog) -> None:
    # two meetings titled "Standup" and "standup" are two folders on a case-sensitive disk or in S3;
    # each meeting.json must list only its own files
    upper = backed_up(cat, "a/zoom_0.mp4", "Standup/zoom_0.mp4")
    lower = backed_up(cat, "b/zoom_0.mp4", "standup/zoom_0.mp4")

    assert [r.id for r in cat.verified_in_folder(DEST, "Standup")] == [upper]
    assert [r.id for r in cat.verified_in_folder(DEST, "standup")] == [lower]


def test_rows_are_plain_values(cat: Catalog) -> None:
    row = cat.note_seen(DEST, rec("zoom_0.mp4"), 1, 1)
    assert isinstance(row, Row)
    with pytest.raises(AttributeError):
        row.state = "verified"  # type: ignore[misc]


# -- names on stores that ignore case or Unicode normalisation ------------------------------------


def test_reserve_key_keeps_names_distinct_after_case_folding_and_normalisation(cat: Catalog) -> None:
    # exFAT/FAT drives, macOS, Windows and SMB shares take these for one name: each must get its own
    nfc, nfd = "Caf\u00e9 sync", "Cafe\u0301 sync"
    titles = ["Team Sync", "TEAM SYNC", "team sync", nfc, nfd, "CAF\u00c9 SYNC", "Stra\u00dfe", "STRASSE"]
    keys = [cat.reserve_key(DEST, os.fsencode(f"/zoom/{n}/zoom_0.mp4"), f"2023/10/{t}/zoom_0.mp4",
                            with_suffix_number) for n, t in enumerate(titles)]

    folded = [k.casefold() for k in keys]
    assert len(set(folded)) == len(keys), keys
    assert keys[:3] == ["2023/10/Team Sync/zoom_0.mp4", "2023/10/Team Sync/zoom_0 (2).mp4",
                        "2023/10/Team Sync/zoom_0 (3).mp4"], "one folder, three distinct files"
    assert keys[3] == f"2023/10/{nfc}/zoom_0.mp4"
    assert keys[4:6] == [f"2023/10/{nfc}/zoom_0 (2).mp4", f"2023/10/{nfc}/zoom_0 (3).mp4"]
    assert keys[6:] == ["2023/10/Stra\u00dfe/zoom_0.mp4", "2023/10/Stra\u00dfe/zoom_0 (2).mp4"]


def test_rekey_picks_a_free_numbered_name_avoiding_keys_held_elsewhere(cat: Catalog) -> None:
    wanted = "2023/10/m/zoom_0.mp4"
    a, b = os.fsencode("/zoom/a/zoom_0.mp4"), os.fsencode("/zoom/b/zoom_0.mp4")
    assert cat.reserve_key(DEST, a, wanted, with_suffix_number) == wanted
    moved = cat.rekey(DEST, a, wanted, with_suffix_number, avoid=(wanted, "2023/10/m/ZOOM_0 (2).mp4"))
    assert moved == "2023/10/m/zoom_0 (3).mp4"
    assert cat.reserve_key(DEST, a, wanted, with_suffix_number) == moved, "the new key is the path's key now"
    assert cat.reserve_key(DEST, b, wanted, with_suffix_number) == wanted


OLD_SCHEMA_KEYS = """
CREATE TABLE keys (dest TEXT NOT NULL, remote_key TEXT NOT NULL, path BLOB NOT NULL, PRIMARY KEY (dest, remote_key));
CREATE UNIQUE INDEX keys_by_path ON keys(dest, path);
"""


def test_catalog_of_the_previous_release_is_migrated_in_place(tmp_path: Path, clock: FakeClock) -> None:
    from zoomwatch.core.catalog import MIGRATIONS, SCHEMA

    file = tmp_path / "old.sqlite3"
    old = sqlite3.connect(file)
    # the DDL as the previous release wrote it (its keys table had no folded column)
    old.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS keys")[0] + OLD_SCHEMA_KEYS)
    old.executemany("INSERT INTO keys VALUES (?, ?, ?)", [
        (DEST, "2023/10/Team Sync/zoom_0.mp4", b"/zoom/a/zoom_0.mp4"),
        (DEST, "2023/10/TEAM SYNC/zoom_0.mp4", b"/zoom/b/zoom_0.mp4"),  # already one file on a FAT drive
        (DEST, "2023/10/other/zoom_0.mp4", b"/zoom/c/zoom_0.mp4"),
    ])
    old.execute("INSERT INTO files (dest, path, display, size, mtime_ns, state, remote_key, created_at, updated_at,"
                " verified_at) VALUES (?, ?, 'a', 1, 1, 'verified', ?, 1, 1, 1)",
                (DEST, b"/zoom/a/zoom_0.mp4", "2023/10/Team Sync/zoom_0.mp4"))
    old.commit()
    assert old.execute("PRAGMA user_version").fetchone()[0] == 0
    old.close()

    cat = Catalog(file, clock=clock)
    try:
        assert [r.state for r in cat.rows(DEST)] == ["verified"]
        # the existing reservations are kept as they were
        assert cat.reserve_key(DEST, b"/zoom/b/zoom_0.mp4", "x", with_suffix_number) == "2023/10/TEAM SYNC/zoom_0.mp4"
        # a new recording never takes a name that folds like a reserved one
        new = cat.reserve_key(DEST, b"/zoom/d/zoom_0.mp4", "2023/10/team sync/zoom_0.mp4", with_suffix_number)
        assert new == "2023/10/Team Sync/zoom_0 (2).mp4"
    finally:
        cat.close()
    again = Catalog(file, clock=clock)  # opening again changes nothing
    try:
        assert again.reserve_key(DEST, b"/zoom/d/zoom_0.mp4", "y", with_suffix_number) == new
        assert again._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        again.close()


def test_a_files_failure_reason_is_stored_english_and_shown_in_the_users_language(cat: Catalog) -> None:
    from zoomwatch import i18n
    from zoomwatch.destinations.local import LocalDestination

    row_id = queued(cat, rec("zoom_0.mp4"))
    with pytest.raises(DestinationError) as raised:  # the real error of a backup drive not plugged in
        LocalDestination(Path("/mnt/unplugged-usb")).check()
    cat.mark_failed(row_id, raised.value.text(), retry_at=None)
    stored = cat._db.execute("SELECT last_error FROM files WHERE id = ?", (row_id,)).fetchone()[0]
    assert stored.startswith("Backup folder is missing: /mnt/unplugged-usb does not exist — connect the drive")
    shown = cat.get(row_id).last_error  # type: ignore[union-attr]
    assert shown == stored  # logs, JSON and SQL see the English
    try:
        i18n.setup("ru")
        assert i18n.tr(shown).startswith("Папка резервных копий отсутствует: /mnt/unplugged-usb не существует — "
                                         "подключите диск"), i18n.tr(shown)
        i18n.setup("es")
        assert i18n.tr(shown).startswith("Falta la carpeta de copias: /mnt/unplugged-usb no existe"), i18n.tr(shown)
    finally:
        i18n.setup("en")
    cat.mark_missing(row_id, "a reason an earlier release wrote, as plain text")
    assert cat.get(row_id).last_error == "a reason an earlier release wrote, as plain text"  # type: ignore[union-attr]


def test_a_reason_rewritten_by_an_earlier_release_is_shown_as_that_release_wrote_it(cat: Catalog) -> None:
    from zoomwatch import i18n

    row_id = queued(cat, rec("zoom_0.mp4"))
    cat.mark_failed(row_id, i18n.N_("internal error (see log)"), retry_at=None)
    # an older zoomwatch (which knows nothing of last_error_msg) updates the English text only
    cat._db.execute("UPDATE files SET last_error = 'disk full' WHERE id = ?", (row_id,))
    try:
        i18n.setup("ru")
        assert i18n.tr(cat.get(row_id).last_error) == "disk full"  # type: ignore[union-attr]
    finally:
        i18n.setup("en")


def test_a_catalog_without_error_msgids_is_migrated_in_place_and_its_reasons_kept(tmp_path: Path,
                                                                                  clock: FakeClock) -> None:
    from zoomwatch import i18n
    from zoomwatch.core.catalog import MIGRATIONS

    file = tmp_path / "before.sqlite3"
    Catalog(file, clock=clock).close()
    old = sqlite3.connect(file)  # back to the shape of the previous release: two steps, no last_error_msg
    old.execute("ALTER TABLE files DROP COLUMN last_error_msg")
    old.execute("PRAGMA user_version = 2")
    old.execute("INSERT INTO files (dest, path, display, size, mtime_ns, state, attempts, last_error, created_at,"
                " updated_at) VALUES (?, ?, 'a', 1, 1, 'failed', 3, 'Upload failed: timed out', 1, 1)",
                (DEST, b"/zoom/a/zoom_0.mp4"))
    old.commit()
    old.close()
    readonly = Catalog(file, clock=clock, readonly=True)  # how `zoomwatch status` reads it: not migrated
    try:
        assert [r.last_error for r in readonly.rows(DEST)] == ["Upload failed: timed out"]
    finally:
        readonly.close()
    cat = Catalog(file, clock=clock)
    try:
        assert cat._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        [row] = cat.rows(DEST)
        assert (row.last_error, row.attempts) == ("Upload failed: timed out", 3)
        cat.mark_failed(row.id, i18n.N_("became empty"), retry_at=None)
        i18n.setup("es")
        assert i18n.tr(cat.get(row.id).last_error) == "se quedó vacío"  # type: ignore[union-attr]
    finally:
        i18n.setup("en")
        cat.close()
