"""The command line in Spanish and Russian (issue 16), as real subprocesses: the language comes from the
environment (LANGUAGE/LANG) or from `ui.language`; a running zoomwatch's problem is shown translated by
`status`, while `status --json` and the log stay the same in every language."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from helpers import stop_process, wait_for, write_random


def zw(app, *args: str, language: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in app.env.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    if language:
        env["LANG"] = f"{language}_{language.upper()}.UTF-8" if language != "en" else "en_US.UTF-8"
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_problem_is_shown_in_each_language_and_status_json_and_the_log_do_not_change(app, tmp_path):
    missing = tmp_path / "unplugged"
    app.set("destination.local.path", str(missing))
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=app.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        def problem_shown() -> dict | None:
            shown = json.loads(zw(app, "status", "--json").stdout)
            return shown if any(p["key"] == "destination" for p in shown["problems"]) else None

        wait_for(problem_shown, timeout=90, what="the missing backup folder in status --json")
        texts = {language: zw(app, "status", language=language).stdout for language in ("en", "es", "ru")}
        dumps = {language: zw(app, "status", "--json", language=language).stdout for language in ("en", "es", "ru")}
    finally:
        stop_process(run, signal.SIGTERM)
    assert f"problem: Backup folder is missing — {missing} does not exist — connect the drive" in texts["en"]
    assert f"problema: Falta la carpeta de copias — {missing} no existe — conecte el disco" in texts["es"]
    assert f"проблема: Папка резервных копий отсутствует — {missing} не существует — подключите диск" in texts["ru"]
    assert "zoomwatch 0" in texts["es"] and "en marcha (pid" in texts["es"] and "работает (pid" in texts["ru"]
    assert dumps["en"] == dumps["es"] == dumps["ru"]
    problem = next(p for p in json.loads(dumps["ru"])["problems"] if p["key"] == "destination")
    assert set(problem) == {"key", "title", "message", "at"} and problem["title"] == "Backup folder is missing"
    log = app.paths.log_file.read_text(encoding="utf-8")
    assert "Backup folder is missing" in log and "Falta" not in log and "Папка" not in log


def test_status_in_russian_counts_1_2_and_5_files_with_their_plural_forms(app):
    app.set("ui.language", "ru")  # the setting wins over the system's Spanish
    meeting = app.zoom / "2024-06-03 11.00.00 Plurals 94567890123"
    seen = []
    for total in (1, 2, 5):
        for n in range(len(list(meeting.glob("*.m4a"))) if meeting.exists() else 0, total):
            write_random(meeting / f"audio{n}.m4a", 2000 + n)
        done = zw(app, "run", "--once", "--max-wait", "120", language="es")
        assert done.returncode == 0, done.stdout + done.stderr
        seen.append(zw(app, "status", language="es").stdout)
    assert "1 файл проверен" in seen[0], seen[0]
    assert "2 файла проверены" in seen[1], seen[1]
    assert "5 файлов проверено" in seen[2], seen[2]
    assert "не запущен" in seen[2] and "отслеживается" in seen[2]
    once = zw(app, "run", "--once", "--max-wait", "60", language="es").stdout
    assert "5 файлов проверено" in once, once  # run --once's summary too


def test_help_follows_the_system_language_and_ui_language_overrides_it(app):
    assert "Copias de seguridad verificadas" in zw(app, "--help", language="es").stdout
    assert "Проверенные резервные копии" in zw(app, "--help", language="ru").stdout
    assert "Back up Zoom recordings, verified." in zw(app, "--help", language="fr").stdout
    app.set("ui.language", "ru")
    assert "Проверенные резервные копии" in zw(app, "--help", language="es").stdout
    assert zw(app, "config", "get", "naming.locale", language="es").stdout.strip() == "ru"



def test_a_files_own_reason_is_shown_in_each_language_and_status_json_keeps_it_english(app):
    meeting = app.zoom / "2024-06-04 09.00.00 Converting 94567890124"
    write_random(meeting / "zoom_0.mp4", 5000)
    (meeting / "double_click_to_convert_01.zoom").write_bytes(b"zoom")  # Zoom has not converted it yet
    zw(app, "run", "--once", "--max-wait", "3")
    shown = {language: zw(app, "status", language=language).stdout for language in ("en", "es", "ru")}
    dumps = {language: zw(app, "status", "--json", language=language).stdout for language in ("en", "es", "ru")}
    assert "zoom_0.mp4 — Zoom is still converting this meeting" in shown["en"], shown["en"]
    assert "zoom_0.mp4 — Zoom todavía está convirtiendo esta reunión" in shown["es"], shown["es"]
    assert "zoom_0.mp4 — Zoom ещё конвертирует эту встречу" in shown["ru"], shown["ru"]
    assert dumps["en"] == dumps["es"] == dumps["ru"]
    [row] = json.loads(dumps["ru"])["files"]
    assert (row["state"], row["last_error"]) == ("settling", "Zoom is still converting this meeting")

    for file in meeting.iterdir():  # the user deletes the meeting before Zoom finished
        file.unlink()
    zw(app, "run", "--once", "--max-wait", "3")
    shown = {language: zw(app, "status", language=language).stdout for language in ("es", "ru")}
    assert "zoom_0.mp4 — borrado o renombrado antes de copiarse" in shown["es"], shown["es"]
    assert "zoom_0.mp4 — удалён или переименован до того, как была сделана копия" in shown["ru"], shown["ru"]
    [row] = json.loads(zw(app, "status", "--json", language="ru").stdout)["files"]
    assert (row["state"], row["last_error"]) == ("missing", "deleted or renamed before it was backed up")


def test_argparses_own_words_and_errors_are_in_the_users_language(app):
    wrong = zw(app, "status", "--bogus", language="ru")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("использование: zoomwatch"), wrong.stderr
    assert "zoomwatch: ошибка: нераспознанные аргументы: --bogus" in wrong.stderr, wrong.stderr
    helped = zw(app, "status", "--help", language="es").stdout
    assert helped.startswith("uso: zoomwatch status") and "opciones:" in helped, helped
    assert "muestra esta ayuda y sale" in helped, helped
    english = zw(app, "status", "--bogus", language="en").stderr
    assert english.startswith("usage: zoomwatch") and "error: unrecognized arguments: --bogus" in english
