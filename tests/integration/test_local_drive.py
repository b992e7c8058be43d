"""The folder destination on real drives: a loop-mounted ext4 image unplugged (lazily unmounted) while the
engine runs and plugged back in, a small tmpfs that fills up, partial files of recordings that vanished.
Everything is mounted inside the test's own folder and unmounted in teardown whatever happens."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import backed_up_files, sha256_of, wait_for, write_random

from zoomwatch.app import Engine
from zoomwatch.core.transfer import RetryPolicy
from zoomwatch.destinations.local import PARTIAL_SUFFIX

MEETING = "2024-01-15 10.00.00 Weekly sync 84512345678"
LATER = "2024-01-16 09.00.00 Standup 84512345679"
MIB = 1024 * 1024


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


class Mounts:
    """Mounts made by one test; all undone (lazily if busy) and loop devices detached at teardown."""

    def __init__(self) -> None:
        self.points: list[Path] = []
        self.loops: list[str] = []

    def ext4_image(self, image: Path, size: str = "64M") -> None:
        run("truncate", "-s", size, str(image))
        run("mkfs.ext4", "-q", str(image))

    def loop(self, image: Path, point: Path) -> None:
        point.mkdir(exist_ok=True)
        run("mount", "-o", "loop", str(image), str(point))
        self.points.append(point)

    def tmpfs(self, point: Path, size: str) -> None:
        point.mkdir(exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point))
        self.points.append(point)

    def hold_a_loop_device(self, image: Path) -> None:
        """Take the next free loop device, so the drive comes back under another device number."""
        done = subprocess.run(["losetup", "-f", "--show", str(image)], check=True, capture_output=True,
                              text=True, timeout=60)
        self.loops.append(done.stdout.strip())

    def unmount(self, point: Path, *, lazy: bool = False) -> None:
        run("umount", *(["-l"] if lazy else []), str(point))

    def cleanup(self) -> None:
        for point in reversed(self.points):
            for _ in range(5):
                if not os.path.ismount(point):
                    break
                subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=60)
        for device in self.loops:
            subprocess.run(["losetup", "-d", device], capture_output=True, timeout=60)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    made = Mounts()
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def engines(app, mounts: Mounts) -> Iterator[list[Engine]]:  # after `mounts`: stopped before they are undone
    started: list[Engine] = []
    yield started
    for engine in started:
        engine.stop()
        engine.close()


def start(app, engines: list[Engine]) -> Engine:
    engine = Engine(app.load(), retry=RetryPolicy(base=0.2, cap=1.0))
    engine.acquire()
    engine.start()
    engines.append(engine)
    return engine


def verified(engine: Engine) -> int:
    return engine.catalog.counts(engine.destination.id).get("verified", 0)


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(PARTIAL_SUFFIX)]


# -- issue 11, item 1 -----------------------------------------------------------------------------


@pytest.mark.parametrize("inside", ["", "Zoom backups"], ids=["mount-point-itself", "folder-on-the-drive"])
def test_drive_unplugged_while_running_holds_the_backups_until_it_is_back(app, engines, mounts: Mounts,
                                                                          tmp_path: Path, inside: str) -> None:
    image, drive = tmp_path / "drive.img", tmp_path / "drive"
    mounts.ext4_image(image)
    mounts.loop(image, drive)
    root = drive / inside if inside else drive
    root.mkdir(exist_ok=True)
    app.set("destination.local.path", str(root))
    app.set("transfer.bandwidth_limit", "4M")  # 12 MiB take about three seconds: the drive goes mid-run
    sources = {app.zoom / MEETING / f"audio{n}.m4a": write_random(app.zoom / MEETING / f"audio{n}.m4a",
                                                                  3 * MIB, seed=n) for n in range(4)}
    engine = start(app, engines)
    wait_for(lambda: verified(engine) >= 1, what="a first recording on the drive")

    mounts.unmount(drive, lazy=True)  # unplugged: what is left at its path is the internal disk
    for n in range(4, 6):
        path = app.zoom / LATER / f"audio{n}.m4a"
        sources[path] = write_random(path, MIB, seed=n)
    problem = wait_for(lambda: engine.snapshot().problem, what="the missing drive to be shown")
    assert problem.title in ("Backup folder is missing", "Backup drive changed") and str(root) in problem.message

    def later_files_held() -> bool:
        rows = {r.fs_path: r for r in engine.catalog.rows(engine.destination.id)}
        return all(p in rows and rows[p].state == "failed" and problem.title in (rows[p].last_error or "")
                   for p in sources if LATER in str(p))

    wait_for(later_files_held, what="the recordings made meanwhile to be tried and held")
    assert sorted(drive.rglob("*")) == [], "nothing may be written where the drive was"
    assert verified(engine) < len(sources)

    mounts.hold_a_loop_device(tmp_path / "drive.img")  # (the same image: only takes a device number)
    mounts.loop(image, drive)  # plugged back in
    wait_for(lambda: verified(engine) == len(sources), what="every recording verified once the drive is back")
    wait_for(lambda: engine.snapshot().problem is None, what="the problem to clear")
    engines.remove(engine)
    engine.stop()
    engine.close()

    mounts.unmount(drive)
    assert sorted(drive.rglob("*")) == [], "nothing was ever written on the internal disk under the drive's path"
    mounts.loop(image, drive)
    files = backed_up_files(root)
    assert sorted(sha256_of(p) for p in files.values()) == sorted(sources.values()), "all of them are on the drive"
    assert partials(root) == []


# -- issue 11, item 10 ----------------------------------------------------------------------------


def test_nearly_full_disk_gives_the_space_to_one_file_at_a_time(app, engines, mounts: Mounts,
                                                                tmp_path: Path) -> None:
    small = tmp_path / "small"
    mounts.tmpfs(small, "8m")
    app.set("destination.local.path", str(small))
    app.set("transfer.workers", "2")
    app.set("transfer.bandwidth_limit", "4M")  # both copies grow side by side until the disk is full
    sources = {app.zoom / MEETING / name: write_random(app.zoom / MEETING / name, 5_000_000, seed=n)
               for n, name in enumerate(["zoom_0.mp4", "zoom_1.mp4"])}
    engine = start(app, engines)

    wait_for(lambda: verified(engine) == 1, what="one of the two recordings to get all the space")
    problem = wait_for(lambda: engine.snapshot().problem, what="the full disk to be shown")
    assert problem.title == "Backup disk is full" and str(small) in problem.message

    run("mount", "-o", "remount,size=16m", str(small))  # the user freed space
    wait_for(lambda: verified(engine) == 2, what="the second recording once there is room")
    files = backed_up_files(small)
    assert sorted(sha256_of(p) for p in files.values()) == sorted(sources.values())
    assert partials(small) == [], "no partial file is left behind"


def test_partial_file_of_a_recording_deleted_meanwhile_is_removed(app, tmp_path: Path) -> None:
    """The transfer workers with the real catalog and folder (no watcher, whose own view of the deletion
    is another matter): a copy checkpointed, its recording deleted, the next try cleans up."""
    import threading

    from zoomwatch.core.catalog import Catalog, FileInfo
    from zoomwatch.core.status import StatusBoard
    from zoomwatch.core.transfer import Transfers
    from zoomwatch.destinations.local import LocalDestination

    app.set("transfer.bandwidth_limit", "2M")
    video = app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 20 * MIB)
    st = video.stat()
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    dest = LocalDestination(app.backup)
    transfers = Transfers(app.load(), catalog, dest, StatusBoard(), requeue=lambda path: None)
    row = catalog.note_seen(dest.id, video, st.st_size, st.st_mtime_ns)
    catalog.mark_queued(row.id, st.st_size, st.st_mtime_ns, FileInfo(title="Weekly sync", start="2024-01-15T10:00:00"))
    try:
        stop = threading.Event()
        worker = threading.Thread(target=transfers.process, args=(catalog.claim(dest.id), stop),
                                  name="zoomwatch-test-upload")
        worker.start()
        wait_for(lambda: any(p.stat().st_size >= 2 * MIB for p in partials(app.backup)),
                 what="the copy to be under way")
        stop.set()  # paused: the copy stops with its partial file kept for resuming
        worker.join(60)
        assert catalog.get(row.id).state == "queued" and len(partials(app.backup)) == 1
        video.unlink()  # the user deleted the recording meanwhile

        transfers.process(catalog.claim(dest.id), threading.Event())

        assert catalog.get(row.id).state == "missing"
        assert partials(app.backup) == [], "its partial file is removed, not left to fill the disk"
        assert backed_up_files(app.backup) == {}
    finally:
        catalog.close()


def test_full_disk_leaves_no_partial_file_behind(mounts: Mounts, tmp_path: Path) -> None:
    from zoomwatch.destinations.base import SourceFile, UploadSession
    from zoomwatch.destinations.local import LocalDestination
    from zoomwatch.errors import DestinationError

    tiny = tmp_path / "tiny"
    mounts.tmpfs(tiny, "1m")
    dest = LocalDestination(tiny)
    dest.check()
    big = tmp_path / "big.mp4"
    write_random(big, 2 * MIB)

    for call in (lambda: dest.upload(SourceFile(big, 2 * MIB), "m/big.mp4", UploadSession()),
                 lambda: dest.write_small("m/meeting.json", os.urandom(2 * MIB))):
        with pytest.raises(DestinationError) as caught:
            call()
        assert caught.value.title == "Backup disk is full" and str(tiny) in caught.value.message
        assert partials(tiny) == [], "the space a failed copy took is given back"


def test_a_file_on_another_volume_is_never_reported_stored(mounts: Mounts, tmp_path: Path) -> None:
    from zoomwatch.destinations.base import SourceFile, UploadSession
    from zoomwatch.destinations.local import LocalDestination
    from zoomwatch.errors import DestinationError

    drive = tmp_path / "drive"
    mounts.tmpfs(drive, "8m")
    dest = LocalDestination(drive)
    dest.check()
    source = tmp_path / "zoom_0.mp4"
    digest = write_random(source, MIB)
    key = "2024/01/meeting/zoom_0.mp4"
    dest.upload(SourceFile(source, MIB), key, UploadSession())
    mounts.unmount(drive)
    impostor = drive / key  # the same name and bytes, but on the internal disk where the drive was
    impostor.parent.mkdir(parents=True)
    impostor.write_bytes(source.read_bytes())

    for call in (lambda: dest.stat(key), lambda: dest.checksum(key),
                 lambda: dest.upload(SourceFile(source, MIB), "2024/01/meeting/chat.txt", UploadSession())):
        with pytest.raises(DestinationError) as caught:
            call()
        assert caught.value.title == "Backup drive changed" and str(drive) in caught.value.message
    assert sha256_of(impostor) == digest and not (drive / "2024/01/meeting/chat.txt").exists()

    mounts.tmpfs(drive, "8m")  # another drive mounted at the chosen place: it is used
    assert dest.stat(key) is None
    dest.upload(SourceFile(source, MIB), key, UploadSession())
    assert dest.checksum(key) == digest
