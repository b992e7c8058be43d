"""Shared fixtures: an isolated user (HOME and XDG dirs in a temporary folder), a Zoom folder, a
backup folder, and a `wait_for` that waits for a condition instead of sleeping."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zoomwatch import config
from zoomwatch.paths import AppPaths

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@dataclass
class App:
    paths: AppPaths
    home: Path
    zoom: Path
    backup: Path
    env: dict[str, str]

    def set(self, key: str, value: str) -> None:
        config.set_value(self.paths, key, value)

    def load(self) -> config.Config:
        return config.load(self.paths)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    home = tmp_path / "home"
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    zoom = home / "Documents" / "Zoom"
    zoom.mkdir(parents=True)
    backup = tmp_path / "backup"
    backup.mkdir()
    paths = AppPaths.default()
    assert str(paths.config_dir).startswith(str(tmp_path))
    a = App(paths, home, zoom, backup, {**os.environ, **env})
    a.set("watch.folder", str(zoom))
    a.set("destination.local.path", str(backup))
    a.set("watch.settle_seconds", "1")
    return a


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Like watchdog's own tests: every thread a test starts is gone when it ends."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
                  and t.name.startswith("zoomwatch")]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real S3 server (SeaweedFS on loopback, tests/s3server.py), started once for the whole run (a start
    costs 3-8 s); each test makes its own bucket (`create_bucket` waits until the bucket takes writes), and a
    test that stops the server starts it again on the same data."""
    from s3server import SeaweedS3

    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A real PostgreSQL (tests/pgserver.py) for the whole run; each test makes its own database, and a test
    that stops the server starts it again."""
    from pgserver import PostgresServer

    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3(seaweed: object) -> object:
    """The same server, under the name the S3 test modules use."""
    return seaweed
