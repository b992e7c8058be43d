"""Start at login: the XDG .desktop file (Linux), the LaunchAgent plist (macOS) and the Run registry
value (Windows, through a dict-backed registry) start the tray with the interpreter running now, even
when its path has spaces; `zoomwatch autostart on|status|off` switches it from the command line."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from zoomwatch import autostart
from zoomwatch.autostart import LaunchAgent, WindowsRun, XdgAutostart

SPACED = ["/opt/my python/bin/python3", "-m", "zoomwatch", "tray"]
WIN_SPACED = [r"C:\Program Files\Python311\python.exe", "-m", "zoomwatch", "tray"]


class DictRegistry:
    """The Run key as a dict: what WinRegistry does with winreg, without Windows."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def set(self, name: str, value: str) -> None:
        self.values[name] = value

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def delete(self, name: str) -> bool:
        return self.values.pop(name, None) is not None


def desktop_entry(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line.strip())


# -- the command that starts the tray -------------------------------------------------------------


def test_tray_command_runs_this_python_with_the_tray_module() -> None:
    assert autostart.tray_command() == [sys.executable, "-m", "zoomwatch", "tray"]


def test_tray_command_of_a_bundled_app_runs_the_bundle_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", r"C:\Program Files\zoomwatch\zoomwatch.exe")

    assert autostart.tray_command() == [r"C:\Program Files\zoomwatch\zoomwatch.exe", "tray"]


# -- Linux: XDG autostart -------------------------------------------------------------------------


def test_xdg_enable_writes_a_desktop_file_whose_exec_is_the_tray_command(tmp_path: Path) -> None:
    entry = XdgAutostart(config_home=tmp_path)
    assert not entry.is_enabled()

    entry.enable()

    path = tmp_path / "autostart" / "zoomwatch.desktop"
    assert entry.where() == str(path)
    fields = desktop_entry(path)
    assert fields["Type"] == "Application"
    assert fields["Name"] == "zoomwatch"
    assert fields["Terminal"] == "false"
    assert autostart.parse_exec(fields["Exec"]) == autostart.tray_command()
    assert entry.is_enabled()


def test_xdg_exec_keeps_an_interpreter_path_with_spaces_in_one_piece(tmp_path: Path) -> None:
    entry = XdgAutostart(config_home=tmp_path, command=SPACED)
    entry.enable()

    exec_line = desktop_entry(entry.path)["Exec"]
    assert autostart.parse_exec(exec_line) == SPACED
    assert exec_line.startswith('"/opt/my python/bin/python3" ')


def test_xdg_exec_escapes_a_percent_sign_as_the_desktop_entry_spec_requires(tmp_path: Path) -> None:
    """Launchers expand %f, %u, %o... in Exec lines; a literal % must be written %% (Desktop Entry spec,
    "The Exec key"). Otherwise GLib drops '%o' and the login start runs '/opt/50ff/...' — nothing starts."""
    command = ["/opt/50%off/bin/python3", "-m", "zoomwatch", "tray"]
    entry = XdgAutostart(config_home=tmp_path, command=command)
    entry.enable()

    exec_line = desktop_entry(entry.path)["Exec"]
    assert exec_line.replace("%%", "").count("%") == 0, f"unescaped field code in Exec={exec_line}"


def test_xdg_disable_removes_the_file_and_says_whether_there_was_one(tmp_path: Path) -> None:
    entry = XdgAutostart(config_home=tmp_path, command=SPACED)
    entry.enable()

    assert entry.disable() is True
    assert not entry.path.exists()
    assert not entry.is_enabled()
    assert entry.disable() is False


def test_xdg_enable_twice_leaves_one_entry_with_the_new_command(tmp_path: Path) -> None:
    XdgAutostart(config_home=tmp_path, command=["/usr/bin/python3", "-m", "zoomwatch", "tray"]).enable()
    XdgAutostart(config_home=tmp_path, command=SPACED).enable()

    assert [p.name for p in (tmp_path / "autostart").iterdir()] == ["zoomwatch.desktop"]
    assert autostart.parse_exec(desktop_entry(tmp_path / "autostart" / "zoomwatch.desktop")["Exec"]) == SPACED


def test_xdg_default_location_follows_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))

    assert XdgAutostart().path == tmp_path / "cfg" / "autostart" / "zoomwatch.desktop"


# -- macOS: LaunchAgent ---------------------------------------------------------------------------


def test_launch_agent_writes_a_plist_launchd_reads_back(tmp_path: Path) -> None:
    entry = LaunchAgent(agents_dir=tmp_path / "LaunchAgents", command=SPACED)
    assert not entry.is_enabled()

    entry.enable()

    path = tmp_path / "LaunchAgents" / f"{autostart.BUNDLE_ID}.plist"
    assert entry.where() == str(path)
    with open(path, "rb") as handle:
        plist = plistlib.load(handle)
    assert plist["Label"] == autostart.BUNDLE_ID
    assert plist["ProgramArguments"] == SPACED
    assert plist["RunAtLoad"] is True
    assert entry.is_enabled()


def test_launch_agent_disable_removes_the_plist(tmp_path: Path) -> None:
    entry = LaunchAgent(agents_dir=tmp_path, command=SPACED)
    entry.enable()

    assert entry.disable() is True
    assert not entry.path.exists()
    assert not entry.is_enabled()
    assert entry.disable() is False


# -- Windows: the Run registry value --------------------------------------------------------------


def test_windows_run_value_is_a_quoted_command_line() -> None:
    registry = DictRegistry()
    entry = WindowsRun(registry=registry, command=WIN_SPACED)

    entry.enable()

    value = registry.values[autostart.APP_ID]
    assert value == r'"C:\Program Files\Python311\python.exe" -m zoomwatch tray'
    assert value == subprocess.list2cmdline(WIN_SPACED)
    assert entry.where() == rf"HKEY_CURRENT_USER\{autostart.RUN_KEY}\zoomwatch"


def test_windows_run_enable_status_disable() -> None:
    registry = DictRegistry()
    registry.set("OneDrive", r'"C:\OneDrive\OneDrive.exe" /background')
    entry = WindowsRun(registry=registry, command=WIN_SPACED)
    assert not entry.is_enabled()

    entry.enable()
    assert entry.is_enabled()

    assert entry.disable() is True
    assert not entry.is_enabled()
    assert entry.disable() is False
    assert registry.values == {"OneDrive": r'"C:\OneDrive\OneDrive.exe" /background'}, "other Run values untouched"


# -- choosing the system --------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "kind"), [("win32", WindowsRun), ("darwin", LaunchAgent),
                                                ("linux", XdgAutostart)])
def test_for_this_system_picks_the_right_mechanism(platform: str, kind: type, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))

    assert type(autostart.for_this_system(platform)) is kind


# -- the command line -----------------------------------------------------------------------------


def test_cli_autostart_on_status_off(app, tmp_path: Path) -> None:
    desktop = tmp_path / "xdg-config" / "autostart" / "zoomwatch.desktop"

    def cli(action: str) -> str:
        done = subprocess.run([sys.executable, "-m", "zoomwatch", "autostart", action], env=app.env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert cli("on") == f"start at login: on ({desktop})"
    assert desktop.is_file()
    assert autostart.parse_exec(desktop_entry(desktop)["Exec"]) == [sys.executable, "-m", "zoomwatch", "tray"]

    assert cli("status") == f"start at login: on ({desktop})"

    assert cli("off") == f"start at login: off ({desktop})"
    assert not desktop.exists()
    assert cli("status") == f"start at login: off ({desktop})"
