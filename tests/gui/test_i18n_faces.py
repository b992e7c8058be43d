"""The tray and the settings window in Spanish and Russian (issue 16), on the real X server of the GUI tests:
the language is picked from the locale variables as at start-up, the real tray icon runs, and its menu items
and tooltip are read through the icon's own menu; the settings window's tabs, labels, buttons and a validation
message are read from its widgets."""

from __future__ import annotations

import threading
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for

from zoomwatch import config as configmod
from zoomwatch import i18n
from zoomwatch.app import Engine
from zoomwatch.core.status import ProblemKey
from zoomwatch.i18n import N_

TRAY = {
    "es": {"menu": ["Vigilando — aún no hay grabaciones", "Vigilancia", "Pausar subidas",
                    "Sincronizar la nube de Zoom ahora", "Copias recientes", "Abrir la carpeta vigilada",
                    "Abrir la ubicación de las copias", "Abrir el panel…",
                    "Configuración…", "Ver el registro", "Iniciar al entrar",
                    "Salir"],
           "recent": "Aún no hay copias",
           "problem": "⚠ S3: acceso denegado — la clave no puede escribir en bucket clases — dele permiso s3:PutObject",
           "tooltip": "zoomwatch — S3: acceso denegado — la clave no puede escribir en bucket clases",
           "two": "2 problemas requieren atención"},
    "ru": {"menu": ["Наблюдение — записей пока нет", "Наблюдение", "Приостановить копирование",
                    "Синхронизировать облако Zoom", "Последние копии", "Открыть отслеживаемую папку",
                    "Открыть место хранения копий", "Открыть панель управления…",
                    "Настройки…", "Открыть журнал", "Запускать при входе", "Выход"],
           "recent": "Копий пока нет",
           "problem": "⚠ S3: доступ запрещён — ключу запрещена запись в бакет clases — дайте ему право s3:PutObject",
           "tooltip": "zoomwatch — S3: доступ запрещён — ключу запрещена запись в бакет clases",
           "two": "2 проблемы требуют внимания"},
}


@pytest.fixture
def language(request, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The session's locale as a Spanish or Russian desktop sets it; chosen as `zoomwatch tray` does."""
    code = request.param
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", f"{code}_{code.upper()}.UTF-8")
    i18n.system_language.cache_clear()
    yield code
    i18n.system_language.cache_clear()
    i18n.setup("en")


def visible_texts(menu) -> list[str]:  # type: ignore[no-untyped-def]
    import pystray

    return [item.text for item in menu.items if item.visible and item.text and item is not pystray.Menu.SEPARATOR]


@pytest.mark.parametrize("language", ["es", "ru"], indirect=True)
def test_the_real_tray_speaks_the_system_s_language(app, desktop, language):
    from zoomwatch.ui.autostart import XdgAutostart
    from zoomwatch.ui.tray import TrayApp

    assert i18n.setup(configmod.ui_language(app.paths)) == language  # what cli.main does before anything
    want = TRAY[language]
    engine = Engine(app.load())
    engine.acquire()
    tray = TrayApp(engine, opener=lambda path: None, starter=XdgAutostart(config_home=Path(app.env["XDG_CONFIG_HOME"])),
                   launch=lambda command: None)  # type: ignore[arg-type,return-value]
    seen: dict[str, object] = {}
    failed: list[BaseException] = []

    def observe() -> None:
        try:
            wait_for(lambda: tray.icon is not None and tray.monitoring and tray.shown is not None
                     and tray.shown.tooltip == f"zoomwatch — {want['menu'][0]}", what="the tray watching")
            icon = tray.icon
            notified: list[tuple[str, str]] = []
            icon.notify = lambda message, title=None: notified.append((title, message))
            seen["menu"] = visible_texts(icon.menu)
            recent = next(item for item in icon.menu.items if item.text == want["menu"][4])
            seen["recent"] = visible_texts(recent.submenu)
            engine.board.set_problem(ProblemKey.DESTINATION, N_("S3: access denied"),
                                     N_("the key may not write to {where} — give it s3:PutObject (and multipart) "
                                        "permission on the bucket/prefix",
                                        where=N_("bucket {bucket}", bucket="clases")))
            wait_for(lambda: tray.shown.tooltip.startswith(want["tooltip"]), what="the problem in the tooltip")
            seen["tooltip"] = icon.title
            seen["problem"] = visible_texts(icon.menu)[1]
            wait_for(lambda: notified, what="the problem's notification")
            seen["notified"] = notified[0]
            engine.board.set_problem(ProblemKey.ZOOM_SIGN_IN, N_("Signed out of Zoom"),
                                     N_("sign in again with: zoomwatch login"))
            wait_for(lambda: visible_texts(icon.menu)[0] == want["two"], what="two problems counted")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failed.append(exc)
        finally:
            tray.quit()

    watcher = threading.Thread(target=observe, name="test-observer")
    watcher.start()
    try:
        tray.run()  # the real icon, on this (the main) thread, until the observer quits it
    finally:
        watcher.join(120)
        engine.close()
    if failed:
        raise failed[0]
    assert seen["menu"] == want["menu"]
    assert seen["recent"] == [want["recent"]]
    assert str(seen["tooltip"]).startswith(want["tooltip"])
    assert str(seen["problem"]).startswith(want["problem"][:60])
    title, message = seen["notified"]  # type: ignore[misc]
    assert (title, message[:30]) == (want["problem"][2:].split(" — ")[0], want["problem"].split(" — ", 1)[1][:30])


DIALOG = {
    "es": {"title": "Configuración de zoomwatch", "tabs": ["Grabaciones", "Destino", "Nombres", "Cuenta de Zoom",
                                                           "Transferencias", "Limpieza"],
           "folder": "Carpeta de grabaciones de Zoom", "save": "Guardar", "test": "Probar conexión",
           "settle": "se esperaba un número, se recibió 'pronto'", "saved": "No se pudo guardar todo",
           "found": "se encontraron 0 archivos de grabación en"},
    "ru": {"title": "Настройки zoomwatch", "tabs": ["Записи", "Место хранения", "Имена", "Аккаунт Zoom", "Передача",
                                                    "Очистка"],
           "folder": "Папка записей Zoom", "save": "Сохранить", "test": "Проверить подключение",
           "settle": "ожидалось число, получено 'pronto'", "saved": "Не всё удалось сохранить",
           "found": "найдено 0 файлов записей в"},
}


@pytest.mark.parametrize("language", ["es", "ru"], indirect=True)
def test_the_settings_window_speaks_the_system_s_language(app, desktop, language):
    from zoomwatch.ui.autostart import XdgAutostart
    from zoomwatch.ui.settings_dialog import SettingsDialog

    assert i18n.setup(configmod.ui_language(app.paths)) == language
    want = DIALOG[language]
    root = tk.Tk()
    try:
        dialog = SettingsDialog(root, app.paths, XdgAutostart(config_home=Path(app.env["XDG_CONFIG_HOME"])))
        root.update()
        assert wait_for(lambda: (root.update(), desktop.xdotool("search", "--onlyvisible", "--name", "zoomwatch"))[1],
                        what="the window on screen")
        assert root.title() == want["title"]
        assert [dialog.tabs.tab(i, "text") for i in range(len(dialog.tabs.tabs()))] == want["tabs"]
        assert dialog.rows["watch.folder"][0].cget("text") == want["folder"]
        assert dialog.save_button.cget("text") == want["save"] and dialog.test_button.cget("text") == want["test"]
        assert dialog.found.cget("text").startswith(want["found"])
        assert dialog.vars["naming.locale"].get() == language  # unset: month names follow the interface
        dialog.vars["watch.settle_seconds"].set("pronto")
        assert dialog.save() is False
        assert dialog.errors["watch.settle_seconds"].cget("text") == want["settle"]
        assert dialog.message.cget("text").startswith(want["saved"])
    finally:
        try:
            root.destroy()
        except tk.TclError:
            pass
