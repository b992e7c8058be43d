"""macOS behaviour through fake PyObjC modules (AppKit, Foundation cannot run here): reopening the app
from Finder opens the settings, and the settings window activates the app so it is not hidden behind
other windows (issue 18 item 14)."""

from __future__ import annotations

import sys
import types

import pytest

from zoomwatch.settings_dialog import bring_to_front
from zoomwatch.tray import handle_reopen


class SharedApplication:
    def __init__(self) -> None:
        self.delegate: object = None
        self.activated: list[bool] = []

    def setDelegate_(self, delegate: object) -> None:  # noqa: N802 - AppKit's name
        self.delegate = delegate

    def activateIgnoringOtherApps_(self, flag: bool) -> None:  # noqa: N802 - AppKit's name
        self.activated.append(flag)


@pytest.fixture
def appkit(monkeypatch: pytest.MonkeyPatch) -> SharedApplication:
    shared = SharedApplication()

    class NSObject:
        @classmethod
        def alloc(cls):  # type: ignore[no-untyped-def]
            return cls()

        def init(self):  # type: ignore[no-untyped-def]
            return self

    appkit = types.ModuleType("AppKit")
    appkit.NSApplication = types.SimpleNamespace(sharedApplication=lambda: shared)  # type: ignore[attr-defined]
    foundation = types.ModuleType("Foundation")
    foundation.NSObject = NSObject  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "AppKit", appkit)
    monkeypatch.setitem(sys.modules, "Foundation", foundation)
    return shared


def test_reopening_the_running_app_opens_its_settings(appkit: SharedApplication) -> None:
    opened: list[str] = []

    delegate = handle_reopen(lambda: opened.append("settings"), platform="darwin")

    assert appkit.delegate is delegate is not None
    assert appkit.delegate.applicationShouldHandleReopen_hasVisibleWindows_(None, False) is True  # type: ignore
    assert opened == ["settings"]


def test_no_reopen_handler_elsewhere(appkit: SharedApplication) -> None:
    assert handle_reopen(lambda: None, platform="win32") is None
    assert appkit.delegate is None


class Window:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def lift(self) -> None:
        self.calls.append("lift")

    def focus_force(self) -> None:
        self.calls.append("focus")


def test_the_settings_window_activates_the_menu_bar_app_on_macos(appkit: SharedApplication) -> None:
    window = Window()
    bring_to_front(window, platform="darwin")  # type: ignore[arg-type]
    assert window.calls == ["lift", "focus"] and appkit.activated == [True]

    bring_to_front(Window(), platform="linux")  # type: ignore[arg-type]
    assert appkit.activated == [True]
