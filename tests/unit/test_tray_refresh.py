"""The tray's status loop through seams (no pystray, no display): a stand-in icon that behaves like
pystray's Windows icon where it matters (a tooltip of more than 128 UTF-16 units raises ValueError,
as ctypes does for NOTIFYICONDATAW.szTip) and records every change and the thread that made it, and a
stand-in for the macOS main thread that runs what the tray dispatches to it.

Covers issue 18: 1 (every icon change goes through the main-thread dispatcher), 2 (the tooltip fits,
and no exception ends the loop), 8 (a transfer refreshes the icon only when what it shows changes, a
few times a second at most) and 9 (a menu action that blocks does not block the tray's UI thread)."""

from __future__ import annotations

import ctypes
import queue
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest
from helpers import wait_for, write_random

from zoomwatch.app import Engine, ProblemKey
from zoomwatch.ui import tray as traymod
from zoomwatch.ui.tray import TrayApp, fit_tooltip, main_thread_dispatcher

MEETING = "2024-06-03 11.00.00 Design review 94567890123"
WIN_ROOT = r"C:\Users\ana.r\Documents\Zoom"
# the first-run problem zoomwatch shows on Windows, worded as the engine words it
FOLDER_MESSAGE = (f"{WIN_ROOT} is not there — connect its drive, or choose another folder: "
                  "zoomwatch config set watch.folder PATH; zoomwatch waits for it")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class WindowsLikeIcon:
    """pystray's Icon as far as the tray uses it. The tooltip is refused above 128 UTF-16 units like
    pystray's win32 backend refuses it (ctypes `WCHAR * 128`: ValueError 'string too long')."""

    HAS_NOTIFICATION = True

    def __init__(self, fail_menu_once: bool = False) -> None:
        self.changes: list[tuple[str, str]] = []  # (what, thread name)
        self.titles: list[str] = []
        self.notes: list[tuple[str, str]] = []
        self._icon: object = None
        self._title = ""
        self._visible = False
        self.fail_menu_once = fail_menu_once
        self.stopped = threading.Event()

    def _record(self, what: str) -> None:
        self.changes.append((what, threading.current_thread().name))

    def count(self, what: str) -> int:
        return sum(1 for w, _ in self.changes if w == what)

    @property
    def icon(self) -> object:
        return self._icon

    @icon.setter
    def icon(self, value: object) -> None:
        self._record("icon")
        self._icon = value

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        self._record("title")
        if utf16_units(value) > 128:
            raise ValueError("string too long")
        self._title = value
        self.titles.append(value)

    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        self._record("visible")
        self._visible = value

    def update_menu(self) -> None:
        self._record("menu")
        if self.fail_menu_once:
            self.fail_menu_once = False
            raise RuntimeError("the menu backend failed once")

    def notify(self, message: str, title: str) -> None:
        self.notes.append((title, message))

    def stop(self) -> None:
        self._record("stop")
        self.stopped.set()


class MainThread:
    """Stands in for the macOS main thread: a thread that runs what is handed to it, in order."""

    NAME = "zoomwatch-test-main-thread"

    def __init__(self) -> None:
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.dispatched = 0
        self.thread = threading.Thread(target=self._run, name=self.NAME)
        self.thread.start()

    def dispatch(self, work: Callable[[], None]) -> None:
        self.dispatched += 1
        self.jobs.put(work)

    def _run(self) -> None:
        while (work := self.jobs.get()) is not None:
            work()

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(30)


class Running:
    """The tray's setup function (icon shown, status loop) on its own thread, as pystray runs it."""

    def __init__(self, tray: TrayApp, icon: WindowsLikeIcon) -> None:
        tray.icon = icon
        self.tray = tray
        self.thread = threading.Thread(target=tray._setup, args=(icon,), name="zoomwatch-test-setup")
        self.thread.start()

    def stop(self) -> None:
        self.tray.quit()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the status loop did not end after quit"


@pytest.fixture
def engine(app):
    engine = Engine(app.load())
    engine.acquire()
    yield engine
    engine.stop()
    engine.close()


def new_tray(engine: Engine, **kwargs: Any) -> TrayApp:
    launched: list[list[str]] = []
    tray = TrayApp(engine, opener=lambda p: None, launch=lambda command: launched.append(command),  # type: ignore
                   **kwargs)
    tray.launched = launched  # type: ignore[attr-defined]
    return tray


# -- 2: the tooltip ---------------------------------------------------------------------------------


def test_the_first_run_problem_title_is_cut_to_fit_a_windows_tooltip() -> None:
    title = f"zoomwatch — Zoom folder not found — {FOLDER_MESSAGE}"
    assert len(title) == 188

    class NotifyIconData(ctypes.Structure):  # the tooltip field of NOTIFYICONDATAW, as pystray declares it
        _fields_ = [("szTip", ctypes.c_wchar * 128)]

    with pytest.raises(ValueError):
        NotifyIconData(szTip=title)
    cut = fit_tooltip(title)
    NotifyIconData(szTip=cut)
    assert utf16_units(cut) <= 127  # room for the terminating NUL
    assert cut.endswith("…") and title.startswith(cut[:-1])
    assert fit_tooltip("zoomwatch — All 12 recording files backed up") == "zoomwatch — All 12 recording files backed up"


def test_a_tooltip_is_measured_in_utf16_units_as_windows_counts_them() -> None:
    """An emoji in a meeting topic is one Python character but two WCHARs on Windows."""
    title = "zoomwatch — Backed up: " + "🎥 Sprint review " * 12
    cut = fit_tooltip(title)
    assert utf16_units(cut) <= 127 and cut.endswith("…")
    assert "\ud83c" not in cut  # never half a surrogate pair


def test_a_problem_too_long_for_a_tooltip_does_not_end_the_status_loop(app) -> None:
    """The engine's own first-run problem, here for a missing folder with a long path. Before: pystray's
    ValueError for the long title ended the loop, so settings no longer reloaded and a second launch no
    longer opened them."""
    missing = app.home / "Documents" / "Zoom recordings of the design team, kept on the shared drive"
    app.set("watch.folder", str(missing))
    engine = Engine(app.load())
    engine.acquire()
    tray = new_tray(engine)
    icon = WindowsLikeIcon()
    running = Running(tray, icon)
    try:
        wait_for(lambda: any("Zoom folder not found" in t for t in icon.titles), what="the problem in the tooltip")
        assert len(f"zoomwatch — {engine.snapshot().summary()}") > 128
        assert all(utf16_units(t) <= 127 for t in icon.titles)
        tray.paths.show_settings_stamp.parent.mkdir(parents=True, exist_ok=True)
        tray.paths.show_settings_stamp.touch()  # what a second launch does
        wait_for(lambda: tray.launched, what="the loop to open the settings for a second launch")
        assert running.thread.is_alive()
    finally:
        running.stop()
        engine.close()


def test_an_exception_in_a_refresh_is_logged_and_the_loop_goes_on(engine, caplog) -> None:
    tray = new_tray(engine)
    icon = WindowsLikeIcon(fail_menu_once=True)
    running = Running(tray, icon)
    try:
        wait_for(lambda: "the menu backend failed once" in caplog.text, what="the failure to be logged")
        engine.board.set_problem(ProblemKey.DESTINATION, "S3: access denied", "the key may not write to bucket b")
        wait_for(lambda: any("S3: access denied" in t for t in icon.titles), what="a later change to be shown")
        assert running.thread.is_alive()
    finally:
        running.stop()


# -- 8: refresh only what changed, a few times a second at most ----------------------------------------


def test_a_transfer_updates_the_icon_and_menu_only_when_what_they_show_changes(app, monkeypatch) -> None:
    """A 48 MiB copy at 16 MiB/s sends a progress event for every MiB. Before: each one set the icon
    (a temporary file on Windows and Linux) and rebuilt the whole menu."""
    app.set("transfer.bandwidth_limit", "16M")
    engine = Engine(app.load())
    engine.acquire()
    progress_events = 0
    real_progress = engine.board.transfer_progress

    def counting_progress(key: int, done: int) -> None:
        nonlocal progress_events
        progress_events += 1
        real_progress(key, done)

    monkeypatch.setattr(engine.board, "transfer_progress", counting_progress)
    tray = new_tray(engine)
    icon = WindowsLikeIcon()
    running = Running(tray, icon)
    try:
        wait_for(lambda: tray.monitoring, what="monitoring to start")
        write_random(app.zoom / MEETING / "zoom_0.mp4", 48 * 1024 * 1024)
        wait_for(lambda: engine.snapshot().transfers, what="the copy to start")
        started = time.monotonic()
        wait_for(lambda: engine.snapshot().counts.get("verified") == 1, what="the recording backed up")
        seconds = time.monotonic() - started
        wait_for(lambda: any("All 1 recording files backed up" in t for t in icon.titles), what="the final tooltip")
    finally:
        running.stop()
        engine.close()
    assert progress_events >= 40
    # the picture: stopped -> watching -> uploading -> watching (attention if something went wrong)
    assert icon.count("icon") <= 4, icon.changes
    # the menu: its status line has no percentage, so it changes when a file starts, ends or is listed
    assert icon.count("menu") <= 8, icon.changes
    # the tooltip follows the percentage, at most four times a second
    assert icon.count("title") <= 4 * seconds + 8, (seconds, icon.titles)
    assert all(a != b for a, b in zip(icon.titles, icon.titles[1:], strict=False))  # never the same text twice running


def test_refresh_applies_nothing_when_nothing_shown_changed(engine) -> None:
    tray = new_tray(engine)
    tray.icon = icon = WindowsLikeIcon()
    tray.refresh()
    before = list(icon.changes)
    for _ in range(5):
        engine.board.update(settling=0)  # a new version with the same content
        tray.refresh()
    assert icon.changes == before


# -- 1: every change to the icon on the main thread ------------------------------------------------------


def test_every_icon_menu_and_tooltip_change_goes_through_the_dispatcher(engine) -> None:
    main = MainThread()
    tray = new_tray(engine, dispatch=main.dispatch)
    icon = WindowsLikeIcon()
    running = Running(tray, icon)
    try:
        wait_for(lambda: tray.monitoring, what="monitoring to start")
        engine.board.set_problem(ProblemKey.DESTINATION, "S3: access denied", "the key may not write to bucket b")
        wait_for(lambda: any("S3: access denied" in t for t in icon.titles), what="the problem shown")
        engine.board.clear_problem(ProblemKey.DESTINATION)
        engine.board.add_recent("Weekly sync — zoom_0.mp4", "/backup/x", "x")
        tray.in_background(tray.toggle_pause)()
        wait_for(lambda: engine.snapshot().status == "paused", what="uploads paused")
        wait_for(lambda: tray.shown is not None and "Paused" in tray.shown.tooltip, what="'Paused' shown")
    finally:
        running.stop()
        wait_for(lambda: icon.stopped.is_set(), what="the icon stopped through the dispatcher")
        main.close()
    kinds = {what for what, _ in icon.changes}
    assert {"visible", "icon", "title", "menu", "stop"} <= kinds
    elsewhere = [(what, thread) for what, thread in icon.changes if thread != MainThread.NAME]
    assert not elsewhere, f"changed off the main thread: {elsewhere}"


def test_on_macos_the_dispatcher_is_appkits_call_after(monkeypatch) -> None:
    calls: list[tuple[object, ...]] = []
    app_helper = types.ModuleType("PyObjCTools.AppHelper")
    app_helper.callAfter = lambda func, *args: calls.append((func, *args))  # type: ignore[attr-defined]
    package = types.ModuleType("PyObjCTools")
    package.AppHelper = app_helper  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PyObjCTools", package)
    monkeypatch.setitem(sys.modules, "PyObjCTools.AppHelper", app_helper)
    ran: list[str] = []

    main_thread_dispatcher("darwin")(lambda: ran.append("work"))

    assert len(calls) == 1 and not ran, "handed to AppKit's main thread, not run here"
    calls[0][0]()  # type: ignore[operator]
    assert ran == ["work"]


def test_elsewhere_the_dispatcher_runs_the_change_at_once() -> None:
    ran: list[str] = []
    for platform in ("win32", "linux"):
        main_thread_dispatcher(platform)(lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name] * 2


# -- 9: menu actions in the background ---------------------------------------------------------------


def test_a_menu_action_that_blocks_does_not_block_the_tray(engine, monkeypatch) -> None:
    """Starting monitoring probes the destination (seconds on a sleeping NAS); quitting joins workers."""
    release = threading.Event()
    entered = threading.Event()
    real_start = engine.start

    def slow_start() -> None:
        entered.set()
        release.wait(60)
        real_start()

    monkeypatch.setattr(engine, "start", slow_start)
    tray = new_tray(engine)
    menu_click = tray.in_background(tray.toggle_monitoring)
    try:
        began = time.monotonic()
        menu_click(object(), object())  # as pystray calls it: with the icon and the item
        assert time.monotonic() - began < 1.0
        assert entered.wait(30), "the action did not run"
        workers = [t.name for t in threading.enumerate() if t.name == traymod.ACTIONS_THREAD]
        assert workers, "no named worker thread runs the action"
        assert not tray.monitoring
        release.set()
        wait_for(lambda: tray.monitoring, what="the action to finish in the background")
    finally:
        release.set()
        tray.quit()
    wait_for(lambda: not [t for t in threading.enumerate() if t.name == traymod.ACTIONS_THREAD],
             what="the worker to end after quit")


def test_monitoring_stopped_from_the_dashboard_unticks_the_trays_monitoring(app, monkeypatch) -> None:
    """The dashboard in the tray's process stops and starts the same engine (POST /api/monitor/stop, /start,
    over real HTTP): the tray's Monitoring tick and picture follow, so the tray never shows a watch that
    is not running."""
    import json
    import socket
    import urllib.request

    from zoomwatch.ui.web import server as web_server

    key = "k" * 43
    monkeypatch.setattr(web_server, "api_key", lambda: (key, True))  # where the key comes from: not under test
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        app.set("dashboard.port", str(probe.getsockname()[1]))
    engine = Engine(app.load())
    engine.acquire()
    tray = new_tray(engine)
    icon = WindowsLikeIcon()
    running = Running(tray, icon)
    dashboard = web_server.Dashboard.start(engine)

    def post(path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{dashboard.url}api/monitor/{path}", method="POST",
                                         headers={"X-API-Key": key})
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
        with direct.open(request, timeout=60) as answer:
            return json.load(answer)

    def ticked() -> bool:  # what the menu's Monitoring item shows when the menu is (re)built
        return tray.monitoring

    def shows(image: str) -> bool:
        return tray.shown is not None and tray.shown.image == image

    try:
        wait_for(lambda: ticked() and shows("watching"), what="the tray to watch")
        menus = icon.count("menu")
        assert post("stop") == {"monitoring": False, "changed": True}
        wait_for(lambda: not ticked() and shows("stopped") and icon.count("menu") > menus,
                 what="the tray to show monitoring stopped")
        assert post("start") == {"monitoring": True, "changed": True}
        wait_for(lambda: ticked() and shows("watching"), what="the tray to show monitoring again")
    finally:
        dashboard.stop()
        running.stop()
        engine.close()
    assert not engine.monitoring  # Quit stopped what the dashboard had started


def test_a_failing_action_is_logged_and_the_next_one_still_runs(engine, monkeypatch, caplog) -> None:
    tray = new_tray(engine)

    def broken() -> None:
        raise OSError("the file manager is missing")

    try:
        tray.in_background(broken)()
        tray.in_background(tray.toggle_monitoring)()
        wait_for(lambda: tray.monitoring, what="the next action to run")
        assert "the file manager is missing" in caplog.text
    finally:
        tray.quit()
