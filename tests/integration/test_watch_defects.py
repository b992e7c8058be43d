"""Defects of the watcher and the settings, each reproduced with real components: a running `zoomwatch run`
whose config file an editor saves in place, symlinks in the Zoom folder, a backup folder inside the watched
folder, a watcher that cannot use inotify, and a Zoom folder the system refuses to show."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import backed_up_files, stop_process, wait_for, write_random

from zoomwatch import config as configmod
from zoomwatch.engine import Engine
from zoomwatch.transfer import RetryPolicy

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
