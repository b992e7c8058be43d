"""The tray on a real X server with a real tray host: menu actions on a real engine, and one run of
`zoomwatch tray` whose icon is right-clicked and whose menu is used with the real mouse and keyboard."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import wait_for, write_random

from zoomwatch.app import Engine
from zoomwatch.core.status import Problem, Snapshot

MEETING = "2024-06-03 11.00.00 Design review 94567890123"


@pytest.fixture
def tray(app, desktop):
    from zoomwatch.ui.autostart import XdgAutostart
    from zoomwatch.ui.tray import TrayApp

    opened: list[str] = []
    launched: list[list[str]] = []
    engine = Engine(app.load())
    engine.acquire()
    tray_app = TrayApp(engine, opener=opened.append,
                       starter=XdgAutostart(config_home=Path(app.env["XDG_CONFIG_HOME"])),
                       launch=lambda command: launched.append(command))  # type: ignore[arg-type,return-value]
    tray_app.opened, tray_app.launched = opened, launched  # type: ignore[attr-defined]
    yield tray_app
    tray_app.quit()
    engine.close()


def menu_texts(tray_app) -> dict[str, object]:
    """Each visible menu item's text -> the item, as pystray evaluates them when the menu opens."""
    return {item.text: item for item in tray_app.menu().items if item.text}


def click(tray_app, item) -> None:
    """Run a menu item as pystray does (with the icon; tests may pass anything). The item only queues
    its action for the tray's action thread, so it returns at once; then wait for the action to run."""
    began = time.monotonic()
    item(None)
    assert time.monotonic() - began < 1.0, f"{item.text} blocked the menu's thread"
    assert tray_app.actions.wait_idle(60), f"{item.text} did not finish"


def test_menu_actions_drive_the_engine(tray, app):
    items = menu_texts(tray)
    assert not items["Sync Zoom cloud now"].enabled  # no Zoom account yet
    assert not items["Monitoring"].checked and not items["Pause uploads"].enabled

    click(tray, items["Monitoring"])
    assert tray.monitoring and tray.engine.snapshot().status in ("watching", "idle")
    video = app.zoom / MEETING / "zoom_0.mp4"
    write_random(video, 5000)
    wait_for(lambda: tray.engine.snapshot().counts.get("verified") == 1, what="the recording backed up")
    items = menu_texts(tray)
    assert "All 1 recording files backed up" in items, list(items)

    click(tray, items["Pause uploads"])
    assert tray.engine.snapshot().status == "paused"
    assert "Resume uploads" in menu_texts(tray)
    click(tray, menu_texts(tray)["Resume uploads"])
    assert tray.engine.snapshot().status != "paused"

    recent = list([i for i in tray.menu().items if i.text == "Recent backups"][0].submenu.items)
    assert recent[0].text == "Design review — zoom_0.mp4"
    click(tray, recent[0])
    assert tray.opened[-1] == str(app.backup / "2024/06/2024-06-03 11.00.00 Design review")

    click(tray, items["Open watched folder"])
    click(tray, items["Open backup location"])
    click(tray, items["View log"])
    assert tray.opened[-3:] == [str(app.zoom), str(app.backup), str(app.paths.log_file)]

    click(tray, items["Settings…"])
    assert tray.launched == [[sys.executable, "-m", "zoomwatch", "settings"]]

    click(tray, items["Start at login"])
    desktop_file = Path(app.env["XDG_CONFIG_HOME"]) / "autostart" / "zoomwatch.desktop"
    assert desktop_file.exists() and menu_texts(tray)["Start at login"].checked
    click(tray, menu_texts(tray)["Start at login"])
    assert not desktop_file.exists()

    click(tray, items["Monitoring"])
    assert not tray.monitoring and tray.engine.snapshot().status == "stopped"


def test_each_engine_state_has_its_own_icon():
    from zoomwatch.ui import icons
    from zoomwatch.ui.tray import icon_state

    states = {
        "watching": Snapshot(status="watching"),
        "uploading": Snapshot(status="uploading"),
        "paused": Snapshot(status="paused"),
        "attention": Snapshot(status="watching", problems=(Problem("S3: access denied", "open Settings", 0),)),
        "stopped": Snapshot(status="stopped"),
    }
    for expected, snap in states.items():
        assert icon_state(snap) == expected
    pictures = {name: icons.load(name).tobytes() for name in states}
    assert len(set(pictures.values())) == len(states)


def tray_windows(desktop, pid: int) -> list[str]:
    return desktop.xdotool("search", "--onlyvisible", "--pid", str(pid)).split()


def test_real_icon_docks_and_its_menu_quits_cleanly(app, desktop, tmp_path):
    env = {**app.env, **{k: desktop.env[k] for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PYSTRAY_BACKEND",
                                                      "XDG_RUNTIME_DIR", "NO_AT_BRIDGE")}}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    tray = subprocess.Popen([sys.executable, "-m", "zoomwatch", "tray"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        try:
            wait_for(lambda: app.paths.log_file.exists() and "tray icon shown" in app.paths.log_file.read_text(),
                     what="the tray to say its icon is shown")
        except AssertionError:
            tray.kill()
            out, err = tray.communicate()
            log = app.paths.log_file.read_text() if app.paths.log_file.exists() else "(no log)"
            raise AssertionError(f"the tray did not show its icon; log:\n{log}\nstderr:\n{err[-3000:]}") from None
        icon = wait_for(lambda: tray_windows(desktop, tray.pid), what="the icon window to dock in the tray")
        geometry = dict(line.split("=") for line in desktop.xdotool("getwindowgeometry", "--shell", icon[0]).split())
        x = int(geometry["X"]) + int(geometry["WIDTH"]) // 2
        y = int(geometry["Y"]) + int(geometry["HEIGHT"]) // 2
        assert int(geometry["Y"]) < 40  # docked in trayer's strip at the top of the screen

        second = subprocess.run([sys.executable, "-m", "zoomwatch", "tray"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 4 and "already running" in second.stderr
        settings = wait_for(lambda: desktop.xdotool("search", "--onlyvisible", "--name", "zoomwatch settings"),
                            what="the running tray to open its settings window for the second launch")
        desktop.xdotool("windowclose", settings.split()[0])

        before = set(tray_windows(desktop, tray.pid))
        desktop.xdotool("mousemove", str(x), str(y), "click", "3")
        wait_for(lambda: set(tray_windows(desktop, tray.pid)) - before, what="the menu to open")
        desktop.screenshot(tmp_path / "tray-menu.png")
        desktop.xdotool("key", "Up")  # from the bottom: Quit
        desktop.xdotool("key", "Return")
        assert tray.wait(60) == 0
    finally:
        if tray.poll() is None:
            tray.kill()
        tray.communicate()
    log = app.paths.log_file.read_text()
    assert "quitting from the tray" in log and "tray stopped" in log


def test_a_slow_menu_action_leaves_the_menu_thread_free(tray, monkeypatch):
    """Starting monitoring probes the destination (seconds on a sleeping NAS drive): the real menu item
    returns at once and the engine starts on the tray's action thread."""
    import threading

    from zoomwatch.ui.tray import ACTIONS_THREAD

    release, ran_on = threading.Event(), []
    real_start = tray.engine.start

    def slow_start() -> None:
        ran_on.append(threading.current_thread().name)
        release.wait(60)
        real_start()

    monkeypatch.setattr(tray.engine, "start", slow_start)
    item = menu_texts(tray)["Monitoring"]
    began = time.monotonic()
    item(None)
    assert time.monotonic() - began < 1.0
    wait_for(lambda: ran_on, what="the action to start")
    assert ran_on == [ACTIONS_THREAD] and not tray.monitoring
    release.set()
    assert tray.actions.wait_idle(60) and tray.monitoring
