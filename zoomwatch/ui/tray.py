"""The tray icon and its menu. It reads the engine's status board and calls engine commands; nothing
else. pystray is imported here only (on a machine without a display, importing it raises).

Every menu action is a plain method, so tests call them directly; one test clicks the real menu.
The menu runs them on a background thread (`ActionRunner`), so a slow one (a NAS probe on start,
joining workers on quit) never blocks the tray's UI thread.

pystray wants the main thread (macOS); the status loop runs in pystray's setup thread. It changes
the icon, tooltip and menu only when what they show changes, at most a few times a second, and
only through `self.dispatch`: AppKit's main thread on macOS (`main_thread_dispatcher`), at once
elsewhere (pystray's GTK backend hands its changes to the GLib loop itself).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoomwatch.app import Activity, Engine, EngineStatus, FileState, Problem, Snapshot
from zoomwatch.errors import ZoomwatchError
from zoomwatch.i18n import T_, TP_, format_size, tr
from zoomwatch.ui import autostart, icons
from zoomwatch.ui.icons import Icon

log = logging.getLogger(__name__)

RECENT_IN_MENU = 10
PROBLEMS_IN_MENU = 6  # one menu line per problem on the board (there are fewer kinds than this in practice)
# Windows keeps a tooltip in NOTIFYICONDATAW.szTip, WCHAR[128] with its terminating NUL; pystray raises
# ValueError above that. Every platform gets the same cut, so what is seen is the same everywhere.
TOOLTIP_UNITS = 127
REFRESH_INTERVAL = 0.25  # seconds: the icon changes at most four times a second
ACTIONS_THREAD = "zoomwatch-tray-actions"
# Held while the tray runs on Windows; the installer's AppMutex (installer/windows/zoomwatch.iss) has the
# same name, so setup and uninstall ask the user to quit zoomwatch before they replace its files.
APP_MUTEX = "org.zoomwatch.tray"

Dispatch = Callable[[Callable[[], None]], None]


def fit_tooltip(text: str, limit: int = TOOLTIP_UNITS) -> str:
    """`text`, cut with an ellipsis to at most `limit` UTF-16 code units (how Windows counts them:
    an emoji is two). Never splits a character."""
    if _utf16_units(text) <= limit:
        return text
    cut, units = [], 1  # the ellipsis
    for char in text:
        units += _utf16_units(char)
        if units > limit:
            break
        cut.append(char)
    return "".join(cut).rstrip() + "…"


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def call_now(work: Callable[[], None]) -> None:
    work()


def main_thread_dispatcher(platform: str | None = None) -> Dispatch:
    """How the tray hands a change of its icon to the thread that may make it. AppKit allows
    NSStatusItem calls on the main thread only (pystray issue 60; recent macOS ends the process with
    SIGTRAP), so on macOS a change is queued there with PyObjC's callAfter. Elsewhere it runs at once."""
    if (platform or sys.platform) == "darwin":
        from PyObjCTools import AppHelper

        def on_main_thread(work: Callable[[], None]) -> None:
            AppHelper.callAfter(work)

        return on_main_thread
    return call_now


def hold_app_mutex() -> int | None:
    """Create the named mutex Inno Setup looks for (Windows only). The handle is never closed: Windows
    closes it when the process ends, which is what the installer waits for."""
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.CreateMutexW(None, False, APP_MUTEX)
        if not handle:
            log.warning("could not create the mutex %s (error %d); an upgrade may not notice zoomwatch running",
                        APP_MUTEX, ctypes.get_last_error())
        return int(handle) if handle else None
    return None


def handle_reopen(callback: Callable[[], None], platform: str | None = None) -> object | None:
    """macOS: opening zoomwatch again from Finder, Launchpad or Spotlight while it runs does not start a
    second copy; LaunchServices sends the running one a reopen event. Answer it by calling `callback`
    (the settings window), through the application delegate. Returns the delegate, which the caller
    must keep (NSApplication holds its delegate weakly). Nothing to do elsewhere."""
    if (platform or sys.platform) != "darwin":
        return None
    import AppKit
    import Foundation

    class ReopenDelegate(Foundation.NSObject):
        def applicationShouldHandleReopen_hasVisibleWindows_(self, app: object, visible: bool) -> bool:
            callback()
            return True

    delegate = ReopenDelegate.alloc().init()
    AppKit.NSApplication.sharedApplication().setDelegate_(delegate)
    return delegate


def template_icon(base: Any) -> Any:
    """pystray's macOS Icon, drawing its picture as a template image at 2x: macOS then colours it for
    light and dark menu bars and draws it sharp on Retina screens (pystray itself scales the picture
    to one pixel per point and never marks it a template). Overrides pystray 0.19's `_assert_image`,
    which makes the NSImage from `_icon` and puts it on `_status_item`'s button."""

    class TemplateIcon(base):
        _icon_image: Any  # the NSImage shown, or None until made (pystray's attribute)

        def _assert_image(self) -> None:
            if self._icon_image is not None:
                return
            import io

            import AppKit
            import Foundation

            points = self._status_bar.thickness()
            png = io.BytesIO()
            self._icon.save(png, "png")
            image = AppKit.NSImage.alloc().initWithData_(Foundation.NSData(png.getvalue()))
            image.setSize_((points, points))
            image.setTemplate_(True)
            self._icon_image = image
            self._status_item.button().setImage_(image)

    return TemplateIcon


class ActionRunner:
    """Runs menu actions one after another on a named background thread, so the thread that draws
    the menu never waits for one. An action that raises is logged; the next one still runs."""

    def __init__(self, name: str = ACTIONS_THREAD) -> None:
        self.name = name
        self._jobs: list[tuple[str, Callable[[], None]] | None] = []
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, what: str, action: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                log.info("tray action %s ignored: quitting", what)
                return
            self._jobs.append((what, action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted action has run (tests, and quitting)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Run what is queued, then end the thread (not waited for when called from an action)."""
        with self._cond:
            self._closed = True
            self._jobs.append(None)
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs))
                job = self._jobs.pop(0)
                self._busy = job is not None
            if job is None:
                with self._cond:
                    self._cond.notify_all()
                return
            what, action = job
            try:
                action()
            except Exception:
                log.exception("the tray action %s failed", what)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


@dataclass(frozen=True)
class Shown:
    """What the tray shows: the icon picture, the tooltip and what the menu lists. A refresh changes
    only the parts that differ from what is shown already."""

    image: str
    tooltip: str
    menu: tuple[object, ...]


def open_in_file_manager(path: str) -> None:
    """Show a file or folder in the system's file manager."""
    if sys.platform.startswith("win"):
        os.startfile(path)
    elif sys.platform == "darwin":
        subprocess.Popen(["open", path])
    else:
        subprocess.Popen(["xdg-open", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def icon_state(snap: Snapshot) -> Icon:
    """Which icon a snapshot shows: attention wins, then paused, uploading, stopped, watching."""
    if snap.problem is not None or snap.status is EngineStatus.ERROR:
        return Icon.ATTENTION
    if snap.status is EngineStatus.PAUSED:
        return Icon.PAUSED
    if snap.status is EngineStatus.UPLOADING:
        return Icon.UPLOADING
    if snap.status is EngineStatus.STOPPED:
        return Icon.STOPPED
    return Icon.WATCHING


def settings_command() -> list[str]:
    return autostart.app_command("settings")


def main() -> int:
    """The `zoomwatch-tray` gui-script: the tray with no console window (pythonw.exe on Windows)."""
    from zoomwatch.ui.cli import main as cli_main

    return cli_main(["tray"])


class TrayApp:
    def __init__(self, engine: Engine, *, opener: Callable[[str], None] = open_in_file_manager,
                 starter: autostart.Autostart | None = None,
                 launch: Callable[[list[str]], subprocess.Popen] = subprocess.Popen,
                 browser: Callable[[str], object] = webbrowser.open, dispatch: Dispatch | None = None) -> None:
        self.browser = browser
        self.dispatch = dispatch or main_thread_dispatcher()
        self.actions = ActionRunner()
        self.shown: Shown | None = None
        self._refresh_lock = threading.Lock()
        self.engine = engine
        self.paths = engine.paths
        self.opener = opener
        self.autostart = starter or autostart.for_this_system()
        self.launch = launch
        self.icon: Any = None
        self.settings_process: subprocess.Popen | None = None
        self._quit = threading.Event()
        self._notified: dict[str, tuple[str, str]] = {}  # problem key -> the cause announced
        self._announced_until = 0.0

    @property
    def monitoring(self) -> bool:
        """Whether the engine watches the Zoom folder. Asked of the engine each time, never remembered here:
        the dashboard (or the REST API) in this process can stop and start it too, and the tray's tick and
        picture must then follow."""
        return self.engine.monitoring

    # -- menu actions (plain callables; pystray passes icon and item, tests pass nothing) ---------

    def toggle_monitoring(self, *_: Any) -> None:
        if self.engine.stop_monitoring():
            log.info("monitoring stopped from the tray")
        elif self.engine.start_monitoring():
            log.info("monitoring started from the tray")
        self.refresh()

    def start_monitoring(self) -> None:
        """At the tray's start: watch (unless something in this process already started the engine)."""
        if self.engine.start_monitoring():
            log.info("monitoring started with the tray")
        self.refresh()

    def toggle_pause(self, *_: Any) -> None:
        if self.engine.snapshot().status is EngineStatus.PAUSED:
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
        return self.monitoring and self.engine.can_sync_cloud()

    def open_watched_folder(self, *_: Any) -> None:
        self.opener(str(self.engine.watch_folder))

    def open_dashboard(self, *_: Any) -> None:
        """The dashboard this process serves, through a fresh one-time link (issue 13)."""
        from zoomwatch.ui import web

        if not web.open_in_browser(self.browser):
            log.warning("no dashboard runs in this zoomwatch (dashboard.enabled is off, or its port was taken: "
                        "see the log)")

    def open_backup_location(self, *_: Any) -> None:
        self.opener(self.engine.backup_location())

    def open_recent(self, activity: Activity) -> None:
        """A folder backup: show the file's folder. S3 or Supabase: open a 7-day download link
        (presigned or signed) in the browser, where it can also be copied."""
        try:
            link = self.engine.share_link(activity.key) if activity.key else None
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
            try:
                self.autostart.enable()
            except ZoomwatchError as exc:
                log.warning("start at login not turned on: %s", exc)
                self._tell(exc.title, exc.message)
                return
        log.info("start at login %s (%s)", "on" if self.autostart.is_enabled() else "off", self.autostart.where())
        self.refresh()

    def quit(self, *_: Any) -> None:
        log.info("quitting from the tray: checkpointing transfers")
        self._quit.set()
        self.engine.stop_monitoring()
        if self.icon is not None:
            self.dispatch(self.icon.stop)
        self.actions.close()

    def in_background(self, action: Callable[[], None]) -> Callable[..., None]:
        """The menu's callback for an action: queue it for the action thread and return at once."""
        what = getattr(action, "__name__", "action")
        return lambda *_: self.actions.submit(what, action)

    # -- the menu ---------------------------------------------------------------------------------

    def status_text(self) -> str:
        return menu_status(self.engine.snapshot())

    def menu(self) -> Any:
        import pystray

        item, separator, run = pystray.MenuItem, pystray.Menu.SEPARATOR, self.in_background

        def recent_items() -> list[Any]:
            recent = self.engine.snapshot().recent[:RECENT_IN_MENU]
            if not recent:
                return [item(T_("No backups yet"), None, enabled=False)]
            return [item(a.text, run(_bind(self.open_recent, a))) for a in recent]

        def problem_line(n: int) -> Any:
            def text(_: Any) -> str:
                problems = self.engine.snapshot().problems
                return problem_text(problems[n]) if n < len(problems) else ""

            return item(text, None, enabled=False, visible=lambda _: n < len(self.engine.snapshot().problems))

        return pystray.Menu(
            item(lambda _: self.status_text(), None, enabled=False),
            *(problem_line(n) for n in range(PROBLEMS_IN_MENU)),
            separator,
            item(T_("Monitoring"), run(self.toggle_monitoring), checked=lambda _: self.monitoring),
            item(lambda _: T_("Resume uploads") if self.engine.snapshot().status is EngineStatus.PAUSED
                 else T_("Pause uploads"), run(self.toggle_pause), enabled=lambda _: self.monitoring),
            item(T_("Sync Zoom cloud now"), run(self.sync_now), enabled=lambda _: self.can_sync()),
            item(T_("Recent backups"), pystray.Menu(lambda: iter(recent_items()))),
            item(lambda _: space_freed(self.engine.snapshot()), None, enabled=False,
                 visible=lambda _: self.engine.snapshot().freed > 0),  # the clean-up (issue 14)
            separator,
            item(T_("Open watched folder"), run(self.open_watched_folder)),
            item(T_("Open backup location"), run(self.open_backup_location)),
            item(T_("Open dashboard…"), run(self.open_dashboard)),
            item(T_("Settings…"), run(self.open_settings), default=True),
            item(T_("View log"), run(self.view_log)),
            item(T_("Start at login"), run(self.toggle_autostart), checked=lambda _: self.autostart.is_enabled()),
            separator,
            item(T_("Quit"), run(self.quit)),
        )

    def menu_content(self, snap: Snapshot) -> tuple[object, ...]:
        """Everything the menu shows: when it is unchanged the menu is not rebuilt."""
        return (menu_status(snap), tuple(problem_text(p) for p in snap.problems[:PROBLEMS_IN_MENU]),
                self.monitoring, snap.status is EngineStatus.PAUSED, self.can_sync(),
                self.autostart.is_enabled(), tuple(a.text for a in snap.recent[:RECENT_IN_MENU]), snap.freed)

    # -- running ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the engine's state: each of picture, tooltip and menu only if it changed."""
        if self.icon is None:
            return
        snap = self.engine.snapshot()
        with self._refresh_lock:
            shown = Shown(icon_state(snap) if self.monitoring else Icon.STOPPED,
                          fit_tooltip(f"zoomwatch — {tr(snap.summary())}"), self.menu_content(snap))
            if shown != self.shown:
                self.dispatch(_changes(self.icon, self.shown, shown))
                self.shown = shown
        self._notify_problem(snap)
        self._notify_backups(snap)

    def _notify_backups(self, snap: Snapshot) -> None:
        """'Backed up: <meeting>' for each new recent backup, when notify.backups is on (off by default)."""
        newest = snap.recent[0].at if snap.recent else 0.0
        fresh = [a for a in snap.recent if a.at > self._announced_until]
        self._announced_until = max(self._announced_until, newest)
        if not self.engine.setting("notify.backups") or not getattr(self.icon, "HAS_NOTIFICATION", False):
            return
        for activity in reversed(fresh):
            try:
                self.icon.notify(activity.text, T_("Backed up"))
            except Exception as exc:
                log.info("could not show a notification: %s", exc)
                return

    def _tell(self, title: str, message: str) -> None:
        """A notification for something the user just asked for (also in the log)."""
        if self.icon is not None and getattr(self.icon, "HAS_NOTIFICATION", False):
            try:
                self.icon.notify(tr(message), tr(title))
            except Exception as exc:
                log.info("could not show a notification: %s", exc)

    def _notify_problem(self, snap: Snapshot) -> None:
        """Each problem that needs the user is notified once per key and cause, not per retry; one that
        was solved and comes back is notified again."""
        shown = {p.key: (p.title, p.message) for p in snap.problems}
        fresh = [cause for key, cause in shown.items() if self._notified.get(key) != cause]
        self._notified = shown
        if not getattr(self.icon, "HAS_NOTIFICATION", False):
            return
        for title, message in fresh:
            try:
                self.icon.notify(tr(message), tr(title))
            except Exception as exc:  # no notification server: the icon still shows attention
                log.info("could not show a notification: %s", exc)
                return

    def run(self) -> None:
        import pystray

        if not pystray.Icon.HAS_MENU:
            log.warning("this desktop's tray (pystray backend %s) has no menu; install PyGObject and "
                        "AppIndicator for one. `zoomwatch run` works without a tray.",
                        type(pystray.Icon).__module__)
        self.app_mutex = hold_app_mutex()
        self._reopen = handle_reopen(self.in_background(self.open_settings))
        icon_class = template_icon(pystray.Icon) if sys.platform == "darwin" else pystray.Icon
        self.icon = icon_class("zoomwatch", icons.for_tray(Icon.STOPPED), "zoomwatch", menu=self.menu())
        self.icon.run(setup=self._setup)
        log.info("tray stopped")

    def _setup(self, icon: Any) -> None:
        self.dispatch(lambda: setattr(icon, "visible", True))
        self.actions.submit("start monitoring", self.start_monitoring)
        log.info("tray icon shown")
        self._status_loop()

    def _status_loop(self) -> None:
        """Until Quit: show each change of the engine's state (at most every REFRESH_INTERVAL, so a
        copy reporting every MiB does not redraw the icon each time) and open the settings when a second
        launch asks for them (the engine notices changed settings itself). Nothing that goes wrong in one
        round ends the loop; a round that fails is logged and the next one comes after a short wait."""
        version = -1
        request = _settings_request(self.paths)
        while not self._quit.is_set():
            try:
                snap = self.engine.wait_for_change(version, timeout=1.0)
                if snap.version != version:
                    version = snap.version
                    _guarded("refresh the tray icon", self.refresh)
                    self._quit.wait(REFRESH_INTERVAL)
                current = _settings_request(self.paths)
                requested, request = current != request, current
                if requested:
                    _guarded("open the settings", self.open_settings)
            except Exception:
                log.exception("the tray's status loop failed; it carries on")
                self._quit.wait(1.0)


def problem_text(problem: Problem) -> str:
    """A problem's menu line ("⚠ title — message"), cut like a tooltip so a long one fits a menu."""
    return fit_tooltip(f"⚠ {tr(problem.text())}")


def space_freed(snap: Snapshot) -> str:
    """The menu line of the clean-up: how much disk space it gave back (recordings moved to the OS trash)."""
    return T_("Space freed: {size}", size=format_size(int(snap.freed)))


def menu_status(snap: Snapshot) -> str:
    """The menu's status line: the tooltip's words without the percentage, which changes too often
    to rebuild a menu that may be open (its percentage is in the tooltip). With several problems it
    counts them; each has a line of its own below it."""
    if len(snap.problems) > 1:
        return TP_("{n} problems need attention", "{n} problems need attention", len(snap.problems))
    if snap.transfers and snap.problem is None and snap.status is not EngineStatus.PAUSED:
        return TP_("Backing up {n} file(s), {waiting} waiting", "Backing up {n} file(s), {waiting} waiting",
                   len(snap.transfers), waiting=snap.counts.get(FileState.QUEUED, 0))
    return tr(snap.summary())


def _changes(icon: Any, before: Shown | None, after: Shown) -> Callable[[], None]:
    """The changes from what is shown to what should be, as one call for the dispatcher."""

    def apply() -> None:
        if before is None or before.image != after.image:
            _guarded("change the tray icon", lambda: setattr(icon, "icon", icons.for_tray(after.image)))
        if before is None or before.tooltip != after.tooltip:
            _guarded("change the tooltip", lambda: setattr(icon, "title", after.tooltip))
        if before is None or before.menu != after.menu:
            _guarded("update the menu", icon.update_menu)

    return apply


def _guarded(what: str, work: Callable[[], None]) -> None:
    try:
        work()
    except Exception:
        log.exception("could not %s; the tray goes on", what)


def _bind(action: Callable[[Activity], None], activity: Activity) -> Callable[[], None]:
    bound = lambda: action(activity)  # noqa: E731
    bound.__name__ = f"{action.__name__}({activity.text})"
    return bound


def _settings_request(paths: Any) -> int | None:
    """The 'show settings' request a second launch leaves (its stamp's time)."""
    try:
        return int(paths.show_settings_stamp.stat().st_mtime_ns)
    except OSError:
        return None
