"""Names chosen by an attacker (any bytes a Linux file name may hold) reach the log, stderr and the
terminal escaped: one log line per record, no escape sequences, invalid UTF-8 shown as \\xNN, no line lost.
Real `zoomwatch run --once` and `status` subprocesses on a real folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from helpers import write_random

# Control characters a terminal or a log reader acts on: C0 but newline, DEL, C1, separators, bidi controls.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
RECORD_START = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
FOLDER = "2024-03-04 16.30.00 Evil\n2026-01-01 ERROR forged \x1b]0;pwn\x07 \u202egnp.exe 91234567890"
BAD_NAME = b"bad\xffname\x1b[31m.m4a"  # not UTF-8, and an ANSI colour sequence


def zw(app, *args: str) -> subprocess.CompletedProcess:
    """Run zoomwatch with bytes output: what reaches the terminal, exactly."""
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True, timeout=180)


def hostile_recordings(app) -> None:
    write_random(app.zoom / FOLDER / "zoom_0.mp4", 2000)
    write_random(app.zoom / FOLDER / os.fsdecode(BAD_NAME), 1000, seed=1)


def assert_shown_safely(output: bytes) -> str:
    text = output.decode("utf-8")  # strict: no invalid byte reaches the terminal either
    assert not UNSAFE.search(text), f"a control character reached the terminal: {text!r}"
    return text


def test_hostile_names_are_escaped_in_the_log_stderr_and_status(app):
    hostile_recordings(app)
    done = zw(app, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    stderr = assert_shown_safely(done.stderr)
    assert "Logging error" not in stderr
    assert_shown_safely(done.stdout)

    log_file = app.paths.log_file.read_bytes()
    lines = log_file.decode("utf-8").splitlines()
    assert not UNSAFE.search("\n".join(lines)), "a control character reached the log"
    forged = [line for line in lines if not RECORD_START.match(line.encode())]
    assert forged == [], "a record spans several lines (a name forged a log line)"
    finished = [line for line in lines if "finished:" in line]
    assert len(finished) == 2, "a record with an invalid name was lost"
    assert any("Evil\\n2026-01-01 ERROR forged \\x1b]0;pwn\\x07 \\u202egnp.exe" in line for line in finished)
    assert any("bad\\xffname\\x1b[31m.m4a" in line for line in finished)
    assert "bad\\xffname\\x1b[31m.m4a" in stderr

    status = assert_shown_safely(zw(app, "status", "--all").stdout)
    assert "bad\\xffname\\x1b[31m.m4a" in status and "2 verified" in status

    raw_json = zw(app, "status", "--json").stdout
    assert_shown_safely(raw_json)
    files = {f["path"].rpartition("/")[2]: f for f in json.loads(raw_json)["files"]}
    assert set(files) == {"zoom_0.mp4", "bad\\xffname\x1b[31m.m4a"}  # JSON escapes ESC; the byte as text
    assert "Evil\n2026-01-01 ERROR forged \x1b]0;pwn\x07 \u202egnp.exe" in files["zoom_0.mp4"]["path"]


def test_run_once_lists_hostile_names_escaped(app):
    app.set("watch.settle_seconds", "600")
    hostile_recordings(app)
    for path in app.zoom.rglob("*"):
        os.utime(path)  # just written: still settling
    done = zw(app, "run", "--once", "--max-wait", "1")
    assert done.returncode == 1
    out = assert_shown_safely(done.stdout)
    waiting = [line for line in out.splitlines() if line.startswith("still being written: ")]
    assert len(waiting) == 2, out
    assert any(line.endswith("bad\\xffname\\x1b[31m.m4a") for line in waiting)
    assert all("Evil\\n2026-01-01 ERROR forged \\x1b]0;pwn\\x07 \\u202egnp.exe" in line for line in waiting)
    assert_shown_safely(done.stderr)
