"""Problems keyed by what they are about (issue 12.3), with real components: a real `zoomwatch run` whose
backup folder is missing and whose Zoom user is signed out (against the Zoom stand-in) shows both at
once in `zoomwatch status --json`; a settings problem survives the destination check at start-up; solving
one problem leaves the others shown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.zoom_api import FakeZoom
from helpers import backed_up_files, stop_process, wait_for, write_random

from zoomwatch.app import Engine, ProblemKey
from zoomwatch.core.transfer import RetryPolicy

TESTS = Path(__file__).resolve().parent.parent
MEETING = "2024-01-15 10.00.00 Weekly sync 84512345678"


@pytest.fixture
def zoom() -> Iterator[FakeZoom]:
    fake = FakeZoom()
    fake.start()
    fake.add_user("ana@example.com", first_name="Ana", last_name="Lima")
    try:
        yield fake
    finally:
        fake.stop()


def zw(app, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True, text=True,
                          timeout=120)


def status_json(app) -> dict:
    done = zw(app, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_missing_backup_folder_and_a_zoom_sign_out_are_both_in_status_json(app, zoom, tmp_path):
    missing = tmp_path / "unplugged-drive" / "backup"
    app.set("destination.local.path", str(missing))
    for key, value in (("zoom.mode", "user"), ("zoom.oauth_base", zoom.url), ("zoom.api_base", zoom.api_base),
                       ("zoom.redirect_port", "0")):
        app.set(key, value)
    # no `zoomwatch login`: the file keyring (in the test's data dir) holds no Zoom tokens
    app.env.update(ZOOM_CLIENT_ID=zoom.client_id, PYTHON_KEYRING_BACKEND="crashing_keyring.CrashAfterTokenWrite",
                   PYTHONPATH=f"{TESTS / 'fakes'}:{app.env.get('PYTHONPATH', '')}")
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=app.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def both() -> dict | None:
            shown = status_json(app)
            keys = {p["key"] for p in shown["problems"]}
            return shown if {"destination", "zoom_sign_in"} <= keys else None

        shown = wait_for(both, timeout=90, what="both problems in zoomwatch status --json")
        assert shown["running"] is True and shown["pid"] == run.pid
        by_key = {p["key"]: p for p in shown["problems"]}
        assert str(missing) in by_key["destination"]["message"]
        assert by_key["zoom_sign_in"]["title"] == "Signed out of Zoom"
        text = zw(app, "status").stdout
        assert "problem: Signed out of Zoom" in text and f"{missing}" in text, text
        assert run.poll() is None
    finally:
        stop_process(run, signal.SIGTERM)
    after = status_json(app)
    assert after["running"] is False and after["problems"] == [], "a stopped zoomwatch shows no stale problems"


def test_a_settings_problem_survives_the_destination_check_and_solving_one_problem_keeps_the_other(app):
    app.paths.config_file.write_text(app.paths.config_file.read_text(encoding="utf-8")
                                     + '\n[mystery]\nknob = "on"\n', encoding="utf-8")
    app.backup.rmdir()  # the backup drive is not plugged in
    video = app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 50_000)
    engine = Engine(app.load(), retry=RetryPolicy(base=0.2, cap=1.0))
    engine.acquire()
    try:
        engine.start()
        wait_for(lambda: {p.key for p in engine.snapshot().problems} >= {ProblemKey.SETTINGS, ProblemKey.DESTINATION},
                 what="the settings problem and the destination problem shown together")
        settings = next(p for p in engine.snapshot().problems if p.key == ProblemKey.SETTINGS)
        assert "mystery" in settings.message
        app.backup.mkdir()  # plugged back in: the destination problem clears, the settings one stays
        wait_for(lambda: backed_up_files(app.backup), what="the file backed up once the folder is back")
        wait_for(lambda: ProblemKey.DESTINATION not in {p.key for p in engine.snapshot().problems},
                 what="the destination problem to clear")
        assert [p.key for p in engine.snapshot().problems] == [ProblemKey.SETTINGS]
    finally:
        engine.stop()
        engine.close()


def test_run_once_reports_each_problem(app, tmp_path):
    app.paths.config_file.write_text(app.paths.config_file.read_text(encoding="utf-8")
                                     + '\n[mystery]\nknob = "on"\n', encoding="utf-8")
    app.set("destination.local.path", str(tmp_path / "unplugged-drive" / "backup"))
    write_random(app.zoom / MEETING / "zoom_0.mp4", 20_000)
    done = zw(app, "run", "--once", "--max-wait", "5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "held: Backup folder is missing" in done.stdout, done.stdout
    assert "problem: Settings problem — unknown setting 'mystery.knob'" in done.stdout, done.stdout


def test_the_status_file_of_a_killed_zoomwatch_is_not_shown(app, tmp_path):
    app.set("destination.local.path", str(tmp_path / "unplugged-drive" / "backup"))
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=app.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: [p for p in status_json(app)["problems"] if p["key"] == "destination"], timeout=60,
                 what="the destination problem published")
    finally:
        stop_process(run, signal.SIGKILL)
    assert (app.paths.state_dir / "status.json").exists(), "a killed process leaves its file behind"
    after = status_json(app)
    assert after["running"] is False and after["problems"] == []


def test_overlapping_folders_stay_shown_beside_a_destination_problem(app):
    """The destination is checked at start-up even when the folders overlap (the one problem slot used to
    hide the overlap behind the destination's problem, so the check was skipped)."""
    inside = app.zoom / "My backups"  # not created: the destination check fails as well
    text = app.paths.config_file.read_text(encoding="utf-8").replace(str(app.backup), str(inside))
    app.paths.config_file.write_text(text, encoding="utf-8")
    engine = Engine(app.load())
    engine.acquire()
    try:
        engine.start()
        wait_for(lambda: {p.key for p in engine.snapshot().problems}
                 >= {ProblemKey.FOLDER_OVERLAP, ProblemKey.DESTINATION, ProblemKey.SETTINGS},
                 what="the overlap, the missing backup folder and the settings problem shown together")
        overlap = next(p for p in engine.snapshot().problems if p.key == ProblemKey.FOLDER_OVERLAP)
        assert "inside the watched Zoom folder" in overlap.message
        assert not inside.exists()
    finally:
        engine.stop()
        engine.close()


def test_the_engine_notices_changed_settings_itself_even_while_monitoring_is_off(app, tmp_path):
    """The reload loop lives in the engine (it was written twice, in the CLI and in the tray)."""
    elsewhere = tmp_path / "new-backup"
    elsewhere.mkdir()
    engine = Engine(app.load())
    engine.acquire()
    try:
        engine.start()
        engine.stop()  # the tray's "Monitoring" unticked
        app.set("destination.local.path", str(elsewhere))
        wait_for(lambda: str(elsewhere) in engine.destination_label, timeout=30, what="the new settings taken")
        engine.start()
        write_random(app.zoom / MEETING / "zoom_0.mp4", 20_000)
        wait_for(lambda: backed_up_files(elsewhere), what="the file backed up to the new folder")
    finally:
        engine.stop()
        engine.close()
