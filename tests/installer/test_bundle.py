"""The Linux bundle, built with PyInstaller and run from a clean folder with an empty environment:
no Python, no site-packages of the build machine. `--version`, then `run --once` backing up a sample
meeting to a local folder, then `run` serving its dashboard (uvicorn imports its parts by name)."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import requests
from helpers import wait_for

from zoomwatch import __version__

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, str(ROOT / "installer" / "build.py"), "--dist", str(out / "dist")], check=True,
                   capture_output=True, timeout=1200)
    archives = list((out / "dist").glob("zoomwatch-*-linux-*.tar.gz"))
    assert len(archives) == 1
    clean = tmp_path_factory.mktemp("clean")
    with tarfile.open(archives[0]) as tar:
        tar.extractall(clean, filter="data")
    return clean / "zoomwatch"


def clean_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_STATE_HOME": str(home / ".local/state"), "XDG_CACHE_HOME": str(home / ".cache")}


def run(bundle: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bundle / "zoomwatch"), *args], env=clean_env(home), cwd=home, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.timeout(1500)  # PyInstaller takes minutes on two cores
def test_bundle_runs_from_a_clean_folder_without_python(bundle, tmp_path):
    assert not any(p.name.startswith("python3") for p in bundle.iterdir() if p.is_file() and os.access(p, os.X_OK)
                   and p.name != "zoomwatch")
    version = run(bundle, "--version", home=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"zoomwatch {__version__}"
    meeting = tmp_path / "Documents" / "Zoom" / "2024-09-02 15.00.00 Smoke test 96789012345"
    meeting.mkdir(parents=True)
    data = os.urandom(300_000)
    (meeting / "zoom_0.mp4").write_bytes(data)
    os.utime(meeting / "zoom_0.mp4", (1_700_000_000, 1_700_000_000))
    backup = tmp_path / "backup"
    backup.mkdir()
    assert run(bundle, "config", "set", "destination.local.path", str(backup), home=tmp_path).returncode == 0
    done = run(bundle, "run", "--once", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    copied = backup / "2024/09/2024-09-02 15.00.00 Smoke test/zoom_0.mp4"
    assert hashlib.sha256(copied.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_bundle_ships_the_translations(bundle, tmp_path):
    """The compiled catalogs are in the bundle, where zoomwatch.i18n finds them (issue 16)."""
    for language, words in (("es", "Copias de seguridad verificadas"), ("ru", "Проверенные резервные копии")):
        home = tmp_path / language
        home.mkdir()
        assert run(bundle, "config", "set", "ui.language", language, home=home).returncode == 0
        shown = run(bundle, "--help", home=home)
        assert shown.returncode == 0 and words in shown.stdout, shown.stdout + shown.stderr


def test_the_bundle_serves_its_dashboard(bundle, tmp_path):
    (tmp_path / "Documents" / "Zoom").mkdir(parents=True)
    (tmp_path / "backup").mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in (("destination.local.path", str(tmp_path / "backup")), ("dashboard.port", str(port))):
        assert run(bundle, "config", "set", key, value, home=tmp_path).returncode == 0
    proc = subprocess.Popen([str(bundle / "zoomwatch"), "run"], env=clean_env(tmp_path), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def healthy() -> bool:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                return requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=120, what="the bundle's dashboard answering /health")
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
