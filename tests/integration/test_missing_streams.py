"""The command line without standard streams, as the windowed Windows executable (and pythonw.exe, and
the `zoomwatch-tray` gui-script) starts it: sys.stdin, sys.stdout and sys.stderr are None there
(issue 18 item 12). Each run is a real subprocess that removes its streams before calling main()."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes.zoom_api import FakeZoom
from helpers import backed_up_files

TESTS = Path(__file__).resolve().parent.parent

NO_STREAMS = """
import sys
for name in {streams!r}:
    setattr(sys, name, None)
    setattr(sys, "__" + name + "__", None)
from zoomwatch.ui.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def without_streams(app, *args: str, streams: tuple[str, ...] = ("stdin", "stdout", "stderr"),
                    env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_STREAMS.format(streams=streams), *args],
                          env={**app.env, **(env or {})}, capture_output=True, text=True, timeout=180)


@pytest.fixture
def file_keyring(app):
    app.env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    return app


def stored_secrets(app) -> str:
    done = subprocess.run([sys.executable, "-m", "zoomwatch", "secret", "list"], env=app.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_secret_set_without_a_console_says_it_needs_one_and_stores_nothing(file_keyring):
    app = file_keyring
    done = without_streams(app, "secret", "set", "s3.secret_access_key")
    assert done.returncode == 2, done.stderr  # a usage error, not a crash (which exits 1, unseen)
    assert "s3.secret_access_key    set" not in stored_secrets(app)

    told = without_streams(app, "secret", "set", "s3.secret_access_key", streams=("stdin",))
    assert told.returncode == 2
    assert "console" in told.stderr and "zoomwatch-cli.exe secret set s3.secret_access_key" in told.stderr, told.stderr
    assert "Traceback" not in told.stderr


def test_commands_that_print_run_without_stdout(app):
    assert without_streams(app, "status").returncode == 0
    assert without_streams(app, "config", "set", "naming.locale", "de").returncode == 0
    assert app.load()["naming.locale"] == "de"


def test_sync_runs_without_stderr_and_backs_up(app):
    """`sync` asked sys.stderr.isatty() for its progress bars: AttributeError on None."""
    zoom = FakeZoom()
    zoom.start()
    try:
        zoom.add_user("ana@example.com")
        zoom.add_meeting("ana@example.com", topic="Weekly sync",
                         start_time=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2),
                         files=[{"file_type": "M4A", "data": hashlib.sha256(b"a").digest() * 4000}])
        for key, value in (("zoom.mode", "s2s"), ("zoom.oauth_base", zoom.url), ("zoom.api_base", zoom.api_base),
                           ("zoom.users", "ana@example.com")):
            app.set(key, value)
        env = {"ZOOM_ACCOUNT_ID": zoom.account_id, "ZOOM_S2S_CLIENT_ID": zoom.client_id,
               "ZOOM_S2S_CLIENT_SECRET": zoom.client_secret,
               "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "PYTHONPATH": f"{TESTS / 'fakes'}"}
        done = without_streams(app, "sync", env=env)
    finally:
        zoom.stop()
    assert done.returncode == 0, done.stderr
    assert [k for k in backed_up_files(app.backup) if "Weekly sync" in k]
