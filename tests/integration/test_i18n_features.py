"""The features merged with the dashboard, audit, restore and clean-up speak the person's language (issue 16):
real `zoomwatch` processes started with a Russian, a Spanish and an English locale, while the machine-readable
output (`audit --json`, the REST API) stays English and identical."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import requests
from helpers import stop_process, wait_for, write_random

OLD = 20 * 86400  # older than cleanup.local_after_days


def in_language(app: Any, lang: str) -> dict[str, str]:
    """The test's environment with only LANG saying the language (LANGUAGE, LC_ALL, LC_MESSAGES unset)."""
    env = {k: v for k, v in app.env.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env["LANG"] = lang
    return env


def zw(app: Any, lang: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=in_language(app, lang),
                          capture_output=True, text=True, timeout=300)


def machine_part(done: subprocess.CompletedProcess) -> dict[str, Any]:
    data = json.loads(done.stdout)
    data.pop("started_at"), data.pop("finished_at")
    return data


def test_cleanup_and_audit_speak_russian_and_spanish_and_their_json_stays_english(app):
    for name, seed in (("2024-05-06 14.00.00 Board 123456789", 1), ("2024-05-07 09.00.00 Team 987654321", 5)):
        write_random(app.zoom / name / "video1234.mp4", 200_000, seed=seed, age_seconds=OLD)
    done = zw(app, "C", "run", "--once", "--max-wait", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    files = json.loads(zw(app, "C", "status", "--json").stdout)["files"]
    lost = next(f for f in files if "Board" in f["path"])
    (app.backup / lost["remote_key"]).unlink()  # deleted behind zoomwatch's back: the audit says missing
    app.set("cleanup.local_after_days", "7")  # the backup is on the same disk: every folder stays, with why

    english = zw(app, "en_US.UTF-8", "cleanup", "--dry-run")
    russian = zw(app, "ru_RU.UTF-8", "cleanup", "--dry-run")
    spanish = zw(app, "es_ES.UTF-8", "cleanup", "--dry-run")
    assert english.returncode == russian.returncode == spanish.returncode == 0, russian.stderr + spanish.stderr
    assert "stays: " in english.stdout and "same disk as the Zoom folder" in english.stdout, english.stdout
    assert "of disk space would come back; 0 to a trash, 2 stay" in english.stdout, english.stdout
    assert "остаётся: " in russian.stdout and "на том же диске, что и папка Zoom" in russian.stdout, russian.stdout
    assert "места на диске; 0 в корзину, 2 остаются" in russian.stdout, russian.stdout  # 2: the plural of 2-4
    assert "se queda: " in spanish.stdout and "mismo disco que la carpeta de Zoom" in spanish.stdout, spanish.stdout
    assert "de espacio en disco; 0 a una papelera, se quedan 2" in spanish.stdout, spanish.stdout

    texts = {lang: zw(app, lang, "audit") for lang in ("en_US.UTF-8", "ru_RU.UTF-8", "es_ES.UTF-8")}
    assert {t.returncode for t in texts.values()} == {1}, {k: t.stderr for k, t in texts.items()}  # INCOMPLETE
    assert "audit of " in texts["en_US.UTF-8"].stdout and "NOT SAFE" in texts["en_US.UTF-8"].stdout
    assert "not at the destination" in texts["en_US.UTF-8"].stdout
    assert "аудит " in texts["ru_RU.UTF-8"].stdout and "НЕ В СОХРАННОСТИ" in texts["ru_RU.UTF-8"].stdout
    assert "отсутствует в месте хранения" in texts["ru_RU.UTF-8"].stdout, texts["ru_RU.UTF-8"].stdout
    assert "auditoría de " in texts["es_ES.UTF-8"].stdout and "NO ESTÁ A SALVO" in texts["es_ES.UTF-8"].stdout
    assert "no está en el destino" in texts["es_ES.UTF-8"].stdout, texts["es_ES.UTF-8"].stdout

    reports = [machine_part(zw(app, lang, "audit", "--json")) for lang in ("en_US.UTF-8", "ru_RU.UTF-8",
                                                                            "es_ES.UTF-8")]
    assert reports[0] == reports[1] == reports[2]
    missing = next(i for i in reports[0]["items"] if i["state"] == "missing")
    assert missing["reason"] == "not at the destination"  # the JSON stays English


def test_the_dashboard_page_is_in_the_language_of_the_running_zoomwatch_and_its_api_stays_english(app):
    app.env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"  # the test's own XDG data dir
    meeting = app.zoom / "2024-06-05 10.00.00 Converting 94567890125"
    write_random(meeting / "zoom_0.mp4", 4000)
    (meeting / "double_click_to_convert_01.zoom").write_bytes(b"zoom")  # held back: a reason beside the file
    env = in_language(app, "ru_RU.UTF-8")
    process = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        def published() -> str | None:
            assert process.poll() is None, process.communicate()
            try:
                data = json.loads((app.paths.state_dir / "status.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return data.get("dashboard") if data.get("pid") == process.pid else None

        url = str(wait_for(published, timeout=90, what="the dashboard's URL in the status file"))
        done = zw(app, "ru_RU.UTF-8", "dashboard", "--no-browser")
        assert done.returncode == 0, done.stderr
        assert "Откройте эту ссылку" in done.stdout, done.stdout
        link = next(word for word in done.stdout.split() if word.startswith("http://127.0.0.1:"))
        browser = requests.Session()
        page = browser.get(link, timeout=60)
        assert page.status_code == 200
        assert '<html lang="ru">' in page.text
        for shown in ("<title>панель zoomwatch</title>", "<h2>Проблемы</h2>", "<h2>Встречи</h2>",
                      ">Пауза</button>", "Наблюдение за <code",
                      "Теперь наблюдение за {path}"):  # the last: what the page's script says, handed to it
            assert shown in page.text, shown
        key = zw(app, "ru_RU.UTF-8", "dashboard", "--api-key").stdout.strip()

        def converting_row() -> dict | None:
            listing = requests.get(url + "api/recordings", headers={"X-API-Key": key}, timeout=60).json()
            return next((i for i in listing["items"] if i.get("last_error")), None)

        row = wait_for(converting_row, timeout=90, what="the converting file's reason in the REST API")
        assert row["last_error"] == "Zoom is still converting this meeting"  # the API stays English
        page = browser.get(url, timeout=60)  # signed in by the link before (its session cookie)
        assert "— Zoom ещё конвертирует эту встречу" in page.text  # the page shows it in Russian
        status = requests.get(url + "api/monitor/status", headers={"X-API-Key": key}, timeout=60).json()
        assert set(status) >= {"monitoring", "status", "paused", "summary", "counts"}
        assert status["status"] in ("stopped", "watching", "idle", "uploading", "paused", "error"), status
        assert not any("а" <= ch <= "я" for ch in json.dumps(status, ensure_ascii=False)), status  # no Russian
    finally:
        stop_process(process, signal.SIGTERM)
    assert process.returncode == 0
