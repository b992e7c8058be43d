"""Start at login: the per-user Run registry value on Windows, a LaunchAgent on macOS, an XDG autostart
`.desktop` file on Linux. The entry starts the tray with the interpreter (or bundled executable) that
is running now; on Windows with pythonw.exe beside it, which opens no console window (python.exe
would open one at every login, and closing it would end the tray). Each system's writer takes its
location as a seam so all three are tested anywhere."""

from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path, PureWindowsPath
from typing import Any, Protocol

from zoomwatch.errors import ConfigError
from zoomwatch.i18n import N_

APP_ID = "zoomwatch"
BUNDLE_ID = "org.zoomwatch.tray"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
NO_REGISTRY = "the Windows registry exists on Windows only"


def tray_command(platform: str | None = None, exists: Callable[[str], bool] | None = None) -> list[str]:
    """How to start the tray from here: the bundled executable, or this Python with -m zoomwatch."""
    return app_command("tray", platform, exists)


def app_command(command: str, platform: str | None = None, exists: Callable[[str], bool] | None = None) -> list[str]:
    """How to run a zoomwatch command with a window or icon but no console: the bundled (windowed)
    executable, or this Python -m zoomwatch (pythonw.exe on Windows)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, command]
    return [windowless_python(sys.executable, platform or sys.platform, exists), "-m", "zoomwatch", command]


def windowless_python(executable: str, platform: str, exists: Callable[[str], bool] | None = None) -> str:
    """On Windows, pythonw.exe beside python.exe (every CPython install and venv has one): it opens no
    console window. Elsewhere, and when there is none, the interpreter itself."""
    name = PureWindowsPath(executable).name
    if not platform.startswith("win") or name.lower() != "python.exe":
        return executable
    candidate = executable[: -len(name)] + "pythonw.exe"
    return candidate if (exists or os.path.exists)(candidate) else executable


class Autostart(Protocol):
    def enable(self) -> None: ...
    def disable(self) -> bool: ...
    def is_enabled(self) -> bool: ...
    def where(self) -> str: ...


class _FileEntry:
    """An autostart entry that is one file: present means on."""

    path: Path

    def disable(self) -> bool:
        existed = self.path.exists()
        self.path.unlink(missing_ok=True)
        return existed

    def is_enabled(self) -> bool:
        return self.path.exists()

    def where(self) -> str:
        return str(self.path)


class XdgAutostart(_FileEntry):
    def __init__(self, config_home: Path | None = None, command: list[str] | None = None) -> None:
        base = config_home or Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        self.path = base / "autostart" / f"{APP_ID}.desktop"
        self.command = command or tray_command()

    def enable(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        exec_line = " ".join(_desktop_quote(arg) for arg in self.command)
        self.path.write_text(
            "[Desktop Entry]\nType=Application\nName=zoomwatch\n"
            "Comment=Backs up Zoom recordings as soon as they are finished\n"
            f"Exec={exec_line}\nIcon=zoomwatch\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
            encoding="utf-8",
        )


class LaunchAgent(_FileEntry):
    def __init__(self, agents_dir: Path | None = None, command: list[str] | None = None) -> None:
        self.path = (agents_dir or Path.home() / "Library" / "LaunchAgents") / f"{BUNDLE_ID}.plist"
        self.command = command or tray_command()

    def plist(self) -> dict[str, Any]:
        return {"Label": BUNDLE_ID, "ProgramArguments": self.command, "RunAtLoad": True,
                "ProcessType": "Interactive", "KeepAlive": False}

    def enable(self) -> None:
        refuse_a_passing_place(self.command[0])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "wb") as handle:
            plistlib.dump(self.plist(), handle)


def refuse_a_passing_place(executable: str) -> None:
    """A login item must point at an app that stays where it is. An app opened straight from its disk
    image (/Volumes/...) is gone once the image is ejected; one that macOS runs from a random read-only
    copy (App Translocation, for a downloaded app not yet moved to Applications) has another path the
    next time. Raises ConfigError saying what to do instead."""
    if "/AppTranslocation/" in executable:
        where = "a temporary copy macOS made of the download (App Translocation)"
    elif executable.startswith("/Volumes/") and ".app/Contents/" in executable:
        where = "its disk image"
    else:
        return
    raise ConfigError(N_("Start at login needs zoomwatch in Applications"),
                      N_("zoomwatch is running from {where}, which will not be there at the next login: drag "
                         "zoomwatch.app into the Applications folder, open it from there, then turn on Start at "
                         "login again", where=where))


class Registry(Protocol):
    """The three winreg calls the Run key needs (a seam, so tests run on any system)."""

    def set(self, name: str, value: str) -> None: ...
    def get(self, name: str) -> str | None: ...
    def delete(self, name: str) -> bool: ...


class WinRegistry:
    """The real Run key. Each method starts with a sys.platform check that type checkers follow, so the
    winreg calls are checked for Windows only."""

    def _open(self, write: bool) -> Any:
        if sys.platform != "win32":
            raise OSError(NO_REGISTRY)
        import winreg

        access = winreg.KEY_SET_VALUE if write else winreg.KEY_READ
        return winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, access)

    def set(self, name: str, value: str) -> None:
        if sys.platform != "win32":
            raise OSError(NO_REGISTRY)
        import winreg

        with self._open(True) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)

    def get(self, name: str) -> str | None:
        if sys.platform != "win32":
            raise OSError(NO_REGISTRY)
        import winreg

        with self._open(False) as key:
            try:
                return str(winreg.QueryValueEx(key, name)[0])
            except FileNotFoundError:
                return None

    def delete(self, name: str) -> bool:
        if sys.platform != "win32":
            raise OSError(NO_REGISTRY)
        import winreg

        with self._open(True) as key:
            try:
                winreg.DeleteValue(key, name)
                return True
            except FileNotFoundError:
                return False


class WindowsRun:
    def __init__(self, registry: Registry | None = None, command: list[str] | None = None) -> None:
        self.registry = registry or WinRegistry()
        self.command = command or tray_command()

    def value(self) -> str:
        return subprocess.list2cmdline(self.command)

    def enable(self) -> None:
        self.registry.set(APP_ID, self.value())

    def disable(self) -> bool:
        return self.registry.delete(APP_ID)

    def is_enabled(self) -> bool:
        return self.registry.get(APP_ID) is not None

    def where(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{APP_ID}"


def for_this_system(platform: str | None = None) -> Autostart:
    platform = platform or sys.platform
    if platform.startswith("win"):
        return WindowsRun(command=tray_command(platform))
    if platform == "darwin":
        return LaunchAgent()
    return XdgAutostart()


def _desktop_quote(arg: str) -> str:
    """Quote one argument for a .desktop Exec line (the spec's rules, close to the shell's)."""
    arg = arg.replace("%", "%%")  # field codes start with %; a literal one is written twice
    if arg and all(c.isalnum() or c in "-_./=:@%+," for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'


def parse_exec(line: str) -> list[str]:
    """Read an Exec line back into arguments (used by tests and `autostart status`)."""
    return [arg.replace("%%", "%") for arg in shlex.split(line)]
