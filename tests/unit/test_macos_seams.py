"""macOS behaviour through fake PyObjC modules (AppKit, Foundation cannot run here): reopening the app
from Finder opens the settings, and the settings window activates the app so it is not hidden behind
other windows (issue 18 item 14); the menu-bar icon is a template image at 2x (item 16)."""

from __future__ import annotations

import sys
import types

import pytest

from zoomwatch.ui.settings_dialog import bring_to_front
from zoomwatch.ui.tray import handle_reopen


class SharedApplication:
    def __init__(self) -> None:
        self.delegate: object = None
        self.activated: list[bool] = []

    def setDelegate_(self, delegate: object) -> None:  # noqa: N802 - AppKit's name
        self.delegate = delegate

    def activateIgnoringOtherApps_(self, flag: bool) -> None:  # noqa: N802 - AppKit's name
        self.activated.append(flag)


class NSImage:
    def __init__(self) -> None:
        self.data = b""
        self.size: tuple[float, float] | None = None
        self.template = False

    @classmethod
    def alloc(cls):  # type: ignore[no-untyped-def]
        return cls()

    def initWithData_(self, data: bytes):  # type: ignore[no-untyped-def]  # noqa: N802 - AppKit's name
        self.data = data
        return self

    def setSize_(self, size: tuple[float, float]) -> None:  # noqa: N802 - AppKit's name
        self.size = size

    def setTemplate_(self, flag: bool) -> None:  # noqa: N802 - AppKit's name
        self.template = flag


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
    appkit.NSImage = NSImage  # type: ignore[attr-defined]
    foundation = types.ModuleType("Foundation")
    foundation.NSObject = NSObject  # type: ignore[attr-defined]
    foundation.NSData = bytes  # type: ignore[attr-defined]
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


# -- item 16: the menu-bar icon as a template image at 2x --------------------------------------------


def test_the_menu_bar_gets_black_and_clear_template_images_at_2x() -> None:
    from zoomwatch.ui import icons

    pictures = {state: icons.for_tray(state, "darwin") for state in icons.STATES}
    for state, picture in pictures.items():
        assert picture.size == (44, 44), state  # the 22-point menu bar at 2x
        colours = {(r, g, b) for _, (r, g, b, a) in picture.getcolors(1 << 16) if a > 0}
        assert colours == {(0, 0, 0)}, f"{state}: a template image is black on clear, macOS colours it"
    assert len({p.tobytes() for p in pictures.values()}) == len(pictures)
    coloured = icons.for_tray("watching", "win32")
    assert {(r, g, b) for _, (r, g, b, a) in coloured.getcolors(1 << 16) if a > 0} != {(0, 0, 0)}


def test_the_macos_icon_is_drawn_as_a_template_at_its_size_in_points(appkit: SharedApplication) -> None:
    import io

    from PIL import Image

    from zoomwatch.ui import icons
    from zoomwatch.ui.tray import template_icon

    shown: list[NSImage] = []

    class PystrayDarwinIcon:  # the attributes pystray 0.19's macOS Icon has
        def __init__(self) -> None:
            self._icon = icons.for_tray("uploading", "darwin")
            self._icon_image = None
            self._status_bar = types.SimpleNamespace(thickness=lambda: 22.0)
            button = types.SimpleNamespace(setImage_=shown.append)
            self._status_item = types.SimpleNamespace(button=lambda: button)

    icon = template_icon(PystrayDarwinIcon)()
    icon._assert_image()
    icon._assert_image()  # already made: nothing again

    assert len(shown) == 1 and shown[0] is icon._icon_image
    assert shown[0].template is True and shown[0].size == (22.0, 22.0)
    assert Image.open(io.BytesIO(shown[0].data)).size == (44, 44)  # 2x pixels in 22 points: sharp on Retina
