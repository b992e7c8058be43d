"""The tray icon and its menu. It reads the engine's status board and calls engine commands; nothing
else. pystray is imported here only (on a machine without a display, importing it raises).

Every menu action is a plain method, so tests call them directly; one test clicks the real menu.
pystray wants the main thread (macOS); the status loop runs in pystray's setup thread.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoomwatch import autostart, icons
from zoomwatch import config as configmod
from zoomwatch.engine import Engine
from zoomwatch.errors import ZoomwatchError
from zoomwatch.status import Activity, Snapshot

log = logging.getLogger(__name__)

RECENT_IN_MENU = 10


def open_in_file_manager(path: str) -> None:
    """Show a file or folder in the system's file manager."""
    if sys.platform.startswith("win"):
        os.startfile(path)  # type: ignore[attr-defined]
    elif sys.platform == "darwin":
        subprocess.Popen(["open", path])
    else:
        subprocess.Popen(["xdg-open", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def icon_state(snap: Snapshot) -> str:
    """Which icon a snapshot shows: attention wins, then paused, uploading, stopped, watching."""
    if snap.problem is not None or snap.status == "error":
        return "attention"
    if snap.status == "paused":
        return "paused"
    if snap.status == "uploading":
        return "uploading"
    if snap.status == "stopped":
        return "stopped"
    return "watching"


def settings_command() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, "settings"]
    return [sys.executable, "-m", "zoomwatch", "settings"]


class TrayApp:
    def __init__(self, engine: Engine, *, opener: Callable[[str], None] = open_in_file_manager,
                 starter: autostart.Autostart | None = None,
                 launch: Callable[[list[str]], subprocess.Popen] = subprocess.Popen,
                 browser: Callable[[str], object] = webbrowser.open) -> None:
        self.browser = browser
        self.engine = engine
        self.paths = engine.config.paths
        self.opener = opener
        self.autostart = starter or autostart.for_this_system()
        self.launch = launch
        self.monitoring = False
        self.icon: Any = None
        self.settings_process: subprocess.Popen | None = None
        self._quit = threading.Event()
        self._notified: tuple[str, str] | None = None
        self._announced_until = 0.0

    # -- menu actions (plain callables; pystray passes icon and item, tests pass nothing) ---------

    def toggle_monitoring(self, *_: Any) -> None:
        if self.monitoring:
            self.engine.stop()
            self.monitoring = False
            log.info("monitoring stopped from the tray")
        else:
            self.engine.start()
            self.monitoring = True
            log.info("monitoring started from the tray")
        self.refresh()

    def toggle_pause(self, *_: Any) -> None:
        if self.engine.snapshot().status == "paused":
            self.engine.resume()
            log.info("uploads resumed from the tray")
        else:
            self.engine.pause()
            log.info("uploads paused from the tray")
        self.refresh()

    def sync_now(self, *_: Any) -> None:
        """Sync Zoom cloud recordings at once (greyed out while cloud backup is off or signed out)."""
        self.engine.sync_now()
        log.info("Zoom cloud sync requested from the tray")

    def can_sync(self) -> bool:
        problem = self.engine.snapshot().problem
        return self.monitoring and self.engine.cloud is not None and not (
            problem is not None and problem.title == "Signed out of Zoom")

    def open_watched_folder(self, *_: Any) -> None:
        self.opener(str(self.engine.config.watch_folder))

    def open_backup_location(self, *_: Any) -> None:
        self.opener(self.engine.destination.location(""))

    def open_recent(self, activity: Activity) -> None:
        """A folder backup: show the file's folder. S3 or Supabase: open a 7-day download link
        (presigned or signed) in the browser, where it can also be copied."""
        try:
            link = self.engine.destination.share_link(activity.key) if activity.key else None
        except ZoomwatchError as exc:
            log.warning("no link for %s: %s", activity.key, exc)
            return
        if link:
            self.browser(link)
            return
        target = Path(activity.location)
        self.opener(str(target.parent if target.suffix else target))

    def open_settings(self, *_: Any) -> None:
        if self.settings_process is not None and self.settings_process.poll() is None:
            return  # already open
        self.settings_process = self.launch(settings_command())

    def view_log(self, *_: Any) -> None:
        self.opener(str(self.paths.log_file))

    def toggle_autostart(self, *_: Any) -> None:
        if self.autostart.is_enabled():
            self.autostart.disable()
        else:
            self.autostart.enable()
        log.info("start at login %s (%s)", "on" if self.autostart.is_enabled() else "off", self.autostart.where())
        self.refresh()

    def quit(self, *_: Any) -> None:
        log.info("quitting from the tray: checkpointing transfers")
        self._quit.set()
        if self.monitoring:
            self.engine.stop()
            self.monitoring = False
        if self.icon is not None:
            self.icon.stop()

    # -- the menu ---------------------------------------------------------------------------------

    def status_text(self) -> str:
        return self.engine.snapshot().summary()

    def menu(self) -> Any:
        import pystray

        item, separator = pystray.MenuItem, pystray.Menu.SEPARATOR

        def recent_items() -> list[Any]:
            recent = self.engine.snapshot().recent[:RECENT_IN_MENU]
            if not recent:
                return [item("No backups yet", None, enabled=False)]
            return [item(a.text, _bind(self.open_recent, a)) for a in recent]

        return pystray.Menu(
            item(lambda _: self.status_text(), None, enabled=False),
            separator,
            item("Monitoring", self.toggle_monitoring, checked=lambda _: self.monitoring),
            item(lambda _: "Resume uploads" if self.engine.snapshot().status == "paused" else "Pause uploads",
                 self.toggle_pause, enabled=lambda _: self.monitoring),
            item("Sync Zoom cloud now", self.sync_now, enabled=lambda _: self.can_sync()),
            item("Recent backups", pystray.Menu(lambda: iter(recent_items()))),
            separator,
            item("Open watched folder", self.open_watched_folder),
            item("Open backup location", self.open_backup_location),
            item("Settings…", self.open_settings, default=True),
            item("View log", self.view_log),
            item("Start at login", self.toggle_autostart, checked=lambda _: self.autostart.is_enabled()),
            separator,
            item("Quit", self.quit),
        )

    # -- running ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        if self.icon is None:
            return
        snap = self.engine.snapshot()
        self.icon.icon = icons.load(icon_state(snap) if self.monitoring else "stopped")
        self.icon.title = f"zoomwatch — {snap.summary()}"
        self.icon.update_menu()
        self._notify_problem(snap)
        self._notify_backups(snap)

    def _notify_backups(self, snap: Snapshot) -> None:
        """'Backed up: <meeting>' for each new recent backup, when notify.backups is on (off by default)."""
        newest = snap.recent[0].at if snap.recent else 0.0
        fresh = [a for a in snap.recent if a.at > self._announced_until]
        self._announced_until = max(self._announced_until, newest)
        if not self.engine.config["notify.backups"] or not getattr(self.icon, "HAS_NOTIFICATION", False):
            return
        for activity in reversed(fresh):
            try:
                self.icon.notify(activity.text, "Backed up")
            except Exception as exc:
                log.info("could not show a notification: %s", exc)
                return

    def _notify_problem(self, snap: Snapshot) -> None:
        """A problem that needs the user is notified once per cause, not per retry."""
        cause = (snap.problem.title, snap.problem.message) if snap.problem else None
        if cause is None or cause == self._notified:
            self._notified = cause if cause is None else self._notified
            return
        self._notified = cause
        if getattr(self.icon, "HAS_NOTIFICATION", False):
            try:
                self.icon.notify(cause[1], cause[0])
            except Exception as exc:  # no notification server: the icon still shows attention
                log.info("could not show a notification: %s", exc)

    def run(self) -> None:
        import pystray

        if not pystray.Icon.HAS_MENU:
            log.warning("this desktop's tray (pystray backend %s) has no menu; install PyGObject and "
                        "AppIndicator for one. `zoomwatch run` works without a tray.",
                        type(pystray.Icon).__module__)
        self.icon = pystray.Icon("zoomwatch", icons.load("stopped"), "zoomwatch", menu=self.menu())
        self.icon.run(setup=self._setup)
        log.info("tray stopped")

    def _setup(self, icon: Any) -> None:
        icon.visible = True
        self.toggle_monitoring()
        log.info("tray icon shown")
        version = -1
        settings = _fingerprint(self.paths)
        watch = configmod.SettingsWatch(self.paths, on_problem=self.engine.board.set_problem)
        while not self._quit.is_set():
            snap = self.engine.board.wait_for_change(version, timeout=1.0)
            if snap.version != version:
                version = snap.version
                self.refresh()
            current = _fingerprint(self.paths)
            requested, settings = current[1] != settings[1], current
            if requested:
                self.open_settings()
            changed = watch.poll()  # only once the file is quiet and readable; never renamed here
            if changed is not None:
                log.info("settings changed: reloading")
                self.engine.reload(changed)
                self.refresh()


def _bind(action: Callable[[Activity], None], activity: Activity) -> Callable[..., None]:
    return lambda *_: action(activity)


def _fingerprint(paths: Any) -> tuple[object, ...]:
    """Settings (config file, secrets) plus the 'show settings' request a second launch leaves."""
    try:
        request = paths.show_settings_stamp.stat().st_mtime_ns
    except OSError:
        request = None
    return configmod.fingerprint(paths), request
