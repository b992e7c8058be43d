"""Defects of the watcher and the settings, each reproduced with real components: a running `zoomwatch run`
whose config file an editor saves in place, symlinks in the Zoom folder, a backup folder inside the watched
folder, a watcher that cannot use inotify, and a Zoom folder the system refuses to show."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import backed_up_files, stop_process, wait_for, write_random

from zoomwatch import config as configmod
from zoomwatch.app import Engine
from zoomwatch.core.transfer import RetryPolicy

MEETING = "2024-01-15 10.00.00 Weekly sync 84512345678"
DAY = "2024/01/2024-01-15 10.00.00 Weekly sync"


def spawn(app, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zoomwatch", *args], env=app.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def engines(app) -> Iterator[list[Engine]]:
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


def verified(engine: Engine, path: Path) -> bool:
    row = engine.catalog.current(engine.destination.id, path)
    return row is not None and row.state == "verified"


def log_text(app) -> str:
    try:
        return app.paths.log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


# -- 11.4: an editor saving config.toml in place while zoomwatch runs ------------------------------------


def test_config_saved_in_place_in_two_halves_keeps_the_destination_and_is_never_renamed(app, tmp_path):
    elsewhere = tmp_path / "new-backup"
    elsewhere.mkdir()
    default_backup = app.paths.default_backup_dir
    run = spawn(app, "run")
    try:
        write_random(app.zoom / MEETING / "first.m4a", 1000, seed=1)
        wait_for(lambda: f"{DAY}/first.m4a" in backed_up_files(app.backup), what="the first file backed up")
        text = app.paths.config_file.read_text(encoding="utf-8")
        assert str(app.backup) in text
        wanted = text.replace(str(app.backup), str(elsewhere))
        cut = wanted.index(str(elsewhere)) + 5  # inside the quoted path: the first half is not valid TOML
        with open(app.paths.config_file, "w", encoding="utf-8") as out:  # in place, like many editors
            out.write(wanted[:cut])
            out.flush()
            wait_for(lambda: "Settings file cannot be read" in log_text(app) or "reloading" in log_text(app),
                     timeout=60, what="the half-written file to be noticed")
            assert list(app.paths.config_dir.glob("config.toml.corrupt-*")) == []
            assert "Settings file cannot be read — keeping the previous settings" in log_text(app)
            write_random(app.zoom / MEETING / "second.m4a", 1000, seed=2)
            wait_for(lambda: f"{DAY}/second.m4a" in backed_up_files(app.backup), timeout=60,
                     what="the file written meanwhile to go to the destination in force")
            assert list(app.paths.config_dir.glob("config.toml.corrupt-*")) == []
            assert app.paths.config_file.read_text(encoding="utf-8") == wanted[:cut]
            out.write(wanted[cut:])
        write_random(app.zoom / MEETING / "third.m4a", 1000, seed=3)
        wait_for(lambda: f"{DAY}/third.m4a" in backed_up_files(elsewhere), timeout=60,
                 what="the saved change to be picked up")
        assert run.poll() is None
    finally:
        stop_process(run, signal.SIGTERM)
    assert list(app.paths.config_dir.glob("config.toml.corrupt-*")) == []
    assert not default_backup.exists() or backed_up_files(default_backup) == {}
    assert {f"{DAY}/first.m4a", f"{DAY}/second.m4a"} <= set(backed_up_files(app.backup))
    assert app.paths.config_file.read_text(encoding="utf-8") == wanted


def test_settings_watch_waits_for_a_quiet_file_and_keeps_settings_on_a_bad_read(app):
    now = [0.0]
    problems: list[tuple[str, str]] = []
    watch = configmod.SettingsWatch(app.paths, lambda t, m: problems.append((t, m)), clock=lambda: now[0])
    assert watch.poll() is None  # nothing changed

    app.paths.config_file.write_text('[log]\nlevel = "deb', encoding="utf-8")  # half written
    assert watch.poll() is None
    now[0] += 0.5
    assert watch.poll() is None and problems == [], "a file changed less than a second ago is not read"
    now[0] += 1.0
    assert watch.poll() is None
    assert [t for t, _ in problems] == [configmod.UNREADABLE]
    assert app.paths.config_file.exists() and not list(app.paths.config_dir.glob("*.corrupt-*"))
    now[0] += 5
    assert watch.poll() is None and len(problems) == 1, "reported once per version of the file"

    app.paths.config_file.write_text("", encoding="utf-8")  # truncated by an editor that then stalls
    watch.poll()
    now[0] += 2
    assert watch.poll() is None and len(problems) == 2

    app.paths.config_file.write_text('[log]\nlevel = "debug"\n', encoding="utf-8")
    watch.poll()
    now[0] += 2
    cfg = watch.poll()
    assert cfg is not None and cfg["log.level"] == "debug"
    assert watch.poll() is None


# -- 11.6: symbolic links in the Zoom folder are never followed -----------------------------------------


def backed_up_bytes(backup: Path) -> list[bytes]:
    return [p.read_bytes() for p in backed_up_files(backup).values()]


def idle(engine: Engine) -> bool:
    counts = engine.catalog.counts(engine.destination.id)
    return not engine.transfers.busy() and not counts.get("queued") and not counts.get("uploading")


def test_symlinks_to_files_and_folders_outside_are_never_backed_up(app, engines, tmp_path):
    secrets = tmp_path / "outside"
    secrets.mkdir()
    key = secrets / "id_ed25519"
    key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY----- file link")
    secret_folder = secrets / "private"
    secret_folder.mkdir()
    (secret_folder / "zoom_0.mp4").write_bytes(b"SECRET in a linked folder")
    (secret_folder / "chat.txt").write_bytes(b"SECRET chat in a linked folder")
    folder = app.zoom / MEETING
    folder.mkdir()
    os.symlink(key, folder / "chat.txt")  # there at start: the scan must not follow it
    os.symlink(secret_folder, app.zoom / "2024-02-01 09.00.00 Linked 84500000001")
    engine = start(app, engines)
    real = folder / "audio.m4a"
    write_random(real, 2000, seed=4)
    wait_for(lambda: verified(engine, real), what="the real recording backed up")
    # created while running: a file link, a folder link, and a file swapped for a link after it was seen
    os.symlink(key, folder / "meeting_saved_chat.txt")
    os.symlink(secret_folder, app.zoom / "2024-02-02 09.00.00 Linked later 84500000002")
    swapped = folder / "zoom_1.mp4"
    swapped.write_bytes(b"harmless at first")
    wait_for(lambda: engine.catalog.current(engine.destination.id, swapped) is not None, what="the file seen")
    swapped.unlink()
    os.symlink(key, swapped)
    sentinel = app.zoom / "2024-02-03 09.00.00 After 84500000003" / "zoom_0.mp4"
    write_random(sentinel, 3000, seed=5)
    wait_for(lambda: verified(engine, sentinel) and idle(engine), what="the recording written after the links")

    copies = backed_up_bytes(app.backup)
    assert len(copies) == 2, sorted(backed_up_files(app.backup))
    assert not any(b"SECRET" in data or b"PRIVATE KEY" in data for data in copies)
    states = {r.display: r.state for r in engine.catalog.rows(engine.destination.id)}
    assert not any(state in ("queued", "uploading", "verified") for name, state in states.items()
                   if "Linked" in name or name.endswith(("chat.txt", "zoom_1.mp4"))), states


# -- 11.9: a backup folder inside the watched folder; zoomwatch's own folders --------------------------


def test_config_set_refuses_a_backup_folder_inside_the_watched_folder_and_the_other_way(app):
    from zoomwatch.errors import ConfigError

    with pytest.raises(ConfigError) as inside:
        app.set("destination.local.path", str(app.zoom / "backups"))
    assert "inside the watched Zoom folder" in inside.value.message
    with pytest.raises(ConfigError) as holding:
        app.set("watch.folder", str(app.backup / "Zoom"))
    assert "inside the backup folder" in holding.value.message
    with pytest.raises(ConfigError) as parent:
        app.set("watch.folder", str(app.backup.parent))  # like watch.folder = ~ with the backup in ~
    assert "inside the watched Zoom folder" in parent.value.message
    app.set("destination.kind", "s3")
    app.set("destination.local.path", str(app.zoom / "backups"))  # not used for S3: allowed
    with pytest.raises(ConfigError) as back_to_local:
        app.set("destination.kind", "local")
    assert "inside the watched Zoom folder" in back_to_local.value.message
    app.set("destination.local.path", str(app.backup))
    app.set("destination.kind", "local")
    assert app.load()["destination.local.path"] == str(app.backup)
    assert app.load()["watch.folder"] == str(app.zoom)


def test_a_config_file_with_the_backup_inside_the_zoom_folder_backs_up_nothing(app, engines):
    inside = app.zoom / "My backups"
    text = app.paths.config_file.read_text(encoding="utf-8").replace(str(app.backup), str(inside))
    app.paths.config_file.write_text(text, encoding="utf-8")  # edited by hand: no `config set` check
    write_random(app.zoom / MEETING / "zoom_0.mp4", 5000)
    cfg = app.load()
    assert any("inside the watched Zoom folder" in p for p in cfg.problems)
    once = subprocess.run([sys.executable, "-m", "zoomwatch", "run", "--once"], env=app.env,
                          capture_output=True, text=True, timeout=120)
    assert once.returncode == 3, once.stdout + once.stderr
    assert "overlap" in once.stderr
    engine = start(app, engines)
    problem = wait_for(lambda: engine.snapshot().problem, what="the overlap to be shown")
    assert "inside the watched Zoom folder" in problem.message
    assert not inside.exists() or backed_up_files(inside) == {}


def test_zoomwatchs_own_folders_inside_the_watched_folder_are_never_scanned(app, engines, tmp_path_factory):
    backup = tmp_path_factory.mktemp("backup-elsewhere")
    top = app.home.parent  # holds home/Documents/Zoom and the XDG data, state and cache folders
    app.set("destination.local.path", str(backup))
    app.set("watch.folder", str(top))
    spooled = app.paths.spool_dir / "cloud" / "zoom_0.mp4"
    write_random(spooled, 1000, seed=7)
    write_random(app.paths.data_dir / "notes" / "chat.txt", 100, seed=8)
    video = app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 2000, seed=9)
    engine = start(app, engines)
    wait_for(lambda: verified(engine, video) and idle(engine), what="the recording backed up")
    spooled_later = app.paths.spool_dir / "cloud" / "audio.m4a"
    write_random(spooled_later, 500, seed=10)
    sentinel = app.zoom / MEETING / "chat.txt"
    write_random(sentinel, 700, seed=11)
    wait_for(lambda: verified(engine, sentinel) and idle(engine), what="the second recording backed up")
    names = [r.display for r in engine.catalog.rows(engine.destination.id)]
    assert sorted(Path(n).name for n in names) == ["chat.txt", "zoom_0.mp4"], names
    assert all(str(app.zoom) in n for n in names)


# -- 11.14 / 18.10: no change notifications --------------------------------------------------------------


class FailingObserver:
    """The inotify observer as it is when the system's limits are used up (IDEs and sync clients do that):
    scheduling works, starting raises ENOSPC like watchdog's inotify backend."""

    def __init__(self) -> None:
        import threading

        self.name = "zoomwatch-failing"
        self.emitters: list[object] = []
        self._thread = threading.Thread()

    def schedule(self, *args: object, **kwargs: object) -> None:
        pass

    def start(self) -> None:
        import errno

        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    def is_alive(self) -> bool:
        return False

    def stop(self) -> None:
        pass


def test_no_inotify_falls_back_to_polling_and_new_recordings_are_backed_up(app, engines, monkeypatch):
    import watchdog.observers

    import zoomwatch.sources.local as watch_module

    monkeypatch.setattr(watchdog.observers, "Observer", FailingObserver)
    monkeypatch.setattr(watch_module, "POLL_SECONDS", 0.5, raising=False)
    monkeypatch.setattr(watch_module, "RESCAN_SECONDS", 3600, raising=False)  # polling alone must find it
    engine = start(app, engines)
    problem = wait_for(lambda: engine.snapshot().problem, what="the fallback to be shown")
    assert problem.title == "Watching the Zoom folder by polling"
    assert "inotify watch limit reached" in problem.message and "max_user_watches" in problem.message
    video = app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 4000, seed=12)
    wait_for(lambda: verified(engine, video), what="a new recording found by polling")


def test_a_dead_observer_is_started_again(app, engines):
    engine = start(app, engines)
    first = app.zoom / MEETING / "chat.txt"
    write_random(first, 100, seed=13)
    wait_for(lambda: verified(engine, first), what="the first recording")
    dead = engine._watcher
    assert dead is not None
    dead.observer.stop()  # the observer thread ends, as when its inotify reader fails
    dead.observer.join(10)
    def restarted() -> bool:
        current = engine._watcher  # read once: the settle thread swaps it
        return current is not None and current is not dead and current.alive()

    wait_for(restarted, timeout=30, what="a new observer")
    second = app.zoom / "2024-02-03 09.00.00 After 84500000003" / "zoom_0.mp4"
    write_random(second, 3000, seed=14)
    wait_for(lambda: verified(engine, second), timeout=30, what="a recording found by the new observer")


@pytest.fixture
def share(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A FUSE mount of a folder (rclone's local backend): files written to the folder behind it appear in
    the mount but raise no inotify event there — the way network shares behave."""
    import shutil

    rclone = shutil.which("rclone")
    assert rclone, "rclone (Debian package) is needed for the network-share stand-in"
    behind, mount = tmp_path / "server-side", tmp_path / "share"
    behind.mkdir()
    mount.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    proc = subprocess.Popen([rclone, "mount", str(behind), str(mount), "--dir-cache-time", "0s",
                             "--poll-interval", "0", "--config", str(tmp_path / "rclone.conf")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: os.path.ismount(mount), timeout=30, what="the FUSE mount")
        yield behind, mount
    finally:
        subprocess.run(["fusermount", "-u", "-z", str(mount)], check=False, capture_output=True)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        proc.stderr.close()


def test_a_share_without_notifications_is_caught_up_by_the_periodic_rescan(app, engines, share, monkeypatch):
    import zoomwatch.sources.local as watch_module

    behind, mount = share
    monkeypatch.setattr(watch_module, "RESCAN_SECONDS", 2.0, raising=False)
    app.set("watch.folder", str(mount))
    engine = start(app, engines)
    wait_for(lambda: engine.snapshot().status == "watching", what="the share watched")
    video = behind / MEETING / "zoom_0.mp4"  # written on the server: no event reaches this machine
    sha = write_random(video, 5000, seed=15)
    seen = mount / MEETING / "zoom_0.mp4"
    wait_for(lambda: verified(engine, seen), timeout=60, what="the recording found by a rescan")
    assert [p.read_bytes() for p in backed_up_files(app.backup).values()] == [video.read_bytes()]
    assert sha


# -- 18.5: the system refuses to show the Zoom folder (macOS privacy protection of Documents) -----------


def test_a_refused_zoom_folder_is_shown_and_retried_instead_of_ending_the_watch(app, engines, monkeypatch):
    """We run as root, for whom chmod refuses nothing: the seam makes stat and listing of the Zoom folder
    raise PermissionError as macOS does for an app not allowed into Documents."""
    from zoomwatch.app import watching

    # the settle loop reads FOLDER_RECHECK_SECONDS in zoomwatch/app/watching.py: patched anywhere else it does nothing
    assert "FOLDER_RECHECK_SECONDS" in watching.settle_loop.__code__.co_names
    monkeypatch.setattr(watching, "FOLDER_RECHECK_SECONDS", 0.2)
    refused = [True]
    root = str(app.zoom)
    real_stat, real_scandir = os.stat, os.scandir

    def guarded(real):  # type: ignore[no-untyped-def]
        def call(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            text = os.fsdecode(os.fspath(path)) if not isinstance(path, int) else ""
            if refused[0] and (text == root or text.startswith(root + os.sep)):
                raise PermissionError(1, "Operation not permitted", text)
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "stat", guarded(real_stat))
    monkeypatch.setattr(os, "scandir", guarded(real_scandir))
    engine = start(app, engines)
    problem = wait_for(lambda: engine.snapshot().problem, what="the refusal to be shown")
    assert problem.title == "zoomwatch needs access to Documents"
    assert str(app.zoom) in problem.message and "tries again" in problem.message
    assert any(t.name == "zoomwatch-settle" and t.is_alive() for t in threading.enumerate())
    refused[0] = False  # the user allowed it in System Settings
    video = app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 3000, seed=16)
    wait_for(lambda: verified(engine, video), what="the backup once access is allowed")
    assert engine.snapshot().problem is None


def test_folder_problem_says_how_to_allow_access_on_macos(tmp_path, monkeypatch):
    from zoomwatch.sources.local import folder_problem

    folder = tmp_path / "Documents" / "Zoom"
    assert folder_problem(folder) == ("missing", "")
    folder.mkdir(parents=True)
    assert folder_problem(folder) is None

    def refuse(path):  # type: ignore[no-untyped-def]
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(os, "scandir", refuse)
    title, message = folder_problem(folder, platform="darwin")
    assert title == "zoomwatch needs access to Documents"
    assert "System Settings › Privacy & Security › Files and Folders" in message
    title, message = folder_problem(tmp_path / "Zoom", platform="linux")
    assert title == "zoomwatch needs access to the Zoom folder" and "read access" in message


def test_the_periodic_rescan_opens_nothing_backed_up_and_leaves_failed_files_to_their_retry_time(app):
    """What the 10-minute rescan costs: one stat per file; a verified file is not opened, a file that failed
    keeps its backoff (the start-up scan, by contrast, retries it at once)."""
    from zoomwatch.core.catalog import FileInfo

    done, failing = app.zoom / MEETING / "zoom_0.mp4", app.zoom / MEETING / "audio.m4a"
    write_random(done, 1000, seed=17)
    write_random(failing, 1000, seed=18)
    engine = Engine(app.load())
    try:
        dest = engine.destination.id
        for path in (done, failing):
            st = path.stat()
            row = engine.catalog.note_seen(dest, path, st.st_size, st.st_mtime_ns)
            engine.catalog.mark_queued(row.id, st.st_size, st.st_mtime_ns, FileInfo(title="t"))
        claimed = engine.catalog.claim(dest)
        engine.catalog.mark_verified(claimed.id, "0" * 64, "k/zoom_0.mp4")
        later = engine.catalog.claim(dest)
        engine.catalog.mark_failed(later.id, "destination said no", retry_at=time.time() + 3600)

        result = engine.settler.scan(app.zoom, rescan=True)

        assert (result.files, result.unchanged) == (2, 2)
        assert engine.settler.pending == {}
        assert engine.catalog.current(dest, failing).state == "failed"
        new = app.zoom / MEETING / "chat.txt"
        write_random(new, 10, seed=19)
        assert engine.settler.scan(app.zoom, rescan=True).to_check == 1 and set(engine.settler.pending) == {new}
    finally:
        engine.close()
