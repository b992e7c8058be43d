"""Start at login: the XDG .desktop file (Linux), the LaunchAgent plist (macOS) and the Run registry
value (Windows, through a dict-backed registry) start the tray with the interpreter running now, even
when its path has spaces; `zoomwatch autostart on|status|off` switches it from the command line."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from zoomwatch.ui import autostart
from zoomwatch.ui.autostart import LaunchAgent, WindowsRun, XdgAutostart

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


# -- Windows without a console window (issue 18 item 13, issue 11 item 32) --------------------------------


def test_windows_start_at_login_runs_pythonw_beside_python_so_no_console_opens(
        monkeypatch: pytest.MonkeyPatch) -> None:
    python = r"C:\Program Files\Python311\python.exe"
    monkeypatch.setattr(sys, "executable", python)
    pythonw = r"C:\Program Files\Python311\pythonw.exe"

    command = autostart.tray_command("win32", exists=lambda path: path == pythonw)

    assert command == [pythonw, "-m", "zoomwatch", "tray"]
    registry = DictRegistry()
    WindowsRun(registry=registry, command=command).enable()
    assert registry.values[autostart.APP_ID] == r'"C:\Program Files\Python311\pythonw.exe" -m zoomwatch tray'


def test_for_this_system_on_windows_picks_pythonw_from_a_virtual_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripts = tmp_path / "venv" / "Scripts"
    scripts.mkdir(parents=True)
    for name in ("python.exe", "pythonw.exe"):
        (scripts / name).write_bytes(b"MZ")
    monkeypatch.setattr(sys, "executable", str(scripts / "python.exe"))

    entry = autostart.for_this_system("win32")

    assert isinstance(entry, WindowsRun)
    assert entry.command == [str(scripts / "pythonw.exe"), "-m", "zoomwatch", "tray"]


def test_without_pythonw_the_interpreter_itself_is_used_and_other_systems_are_unchanged(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", r"C:\Python311\python.exe")
    assert autostart.tray_command("win32", exists=lambda path: False)[0] == r"C:\Python311\python.exe"
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    assert autostart.tray_command("darwin", exists=lambda path: True)[0] == "/usr/bin/python3"
    assert autostart.tray_command("linux", exists=lambda path: True)[0] == "/usr/bin/python3"


def test_the_tray_and_the_settings_window_start_their_helpers_without_a_console(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The tray opens the settings window, the settings window runs `zoomwatch login`: from pythonw.exe a
    python.exe child would open a console window."""
    from zoomwatch.ui import settings_dialog, tray

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(sys, "executable", r"C:\Python311\python.exe")
    monkeypatch.setattr(autostart.os.path, "exists", lambda path: path == r"C:\Python311\pythonw.exe")

    assert tray.settings_command() == [r"C:\Python311\pythonw.exe", "-m", "zoomwatch", "settings"]
    assert settings_dialog.settings_cli("login") == [r"C:\Python311\pythonw.exe", "-m", "zoomwatch", "login"]


def test_the_gui_script_entry_point_starts_the_tray(app) -> None:
    """pip makes `zoomwatch-tray` (zoomwatch-tray.exe on Windows, run by pythonw.exe) from pyproject.toml."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    with open(root / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    assert project["gui-scripts"] == {"zoomwatch-tray": "zoomwatch.ui.tray:main"}
    module, function = project["gui-scripts"]["zoomwatch-tray"].split(":")
    env = {k: v for k, v in app.env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-c", f"import {module}; raise SystemExit({module}.{function}())"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 5, done.stderr  # the tray command's own answer: no display here
    assert "no display for a tray icon" in done.stderr


# -- macOS: never a login item that points at a disk image or a translocated copy (issue 18 item 14) ---------

DMG_APP = "/Volumes/zoomwatch/zoomwatch.app/Contents/MacOS/zoomwatch"
TRANSLOCATED = "/private/var/folders/x1/abc/T/AppTranslocation/5F2A-11/d/zoomwatch.app/Contents/MacOS/zoomwatch"


@pytest.mark.parametrize(("executable", "says"), [(DMG_APP, "disk image"), (TRANSLOCATED, "App Translocation")])
def test_launch_agent_refuses_an_app_opened_from_a_passing_place(tmp_path: Path, executable: str, says: str) -> None:
    from zoomwatch.errors import ConfigError

    entry = LaunchAgent(agents_dir=tmp_path, command=[executable, "tray"])
    with pytest.raises(ConfigError) as caught:
        entry.enable()
    assert says in caught.value.message and "Applications" in caught.value.message
    assert not entry.is_enabled() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("executable", ["/Applications/zoomwatch.app/Contents/MacOS/zoomwatch",
                                        "/Volumes/Work/venvs/zw/bin/python3"])
def test_launch_agent_accepts_an_installed_app_or_a_python_on_another_drive(tmp_path: Path, executable: str) -> None:
    entry = LaunchAgent(agents_dir=tmp_path, command=[executable, "tray"])
    entry.enable()
    assert entry.is_enabled()


def test_the_tray_says_why_start_at_login_stays_off(app, tmp_path: Path) -> None:
    from zoomwatch.app import Engine
    from zoomwatch.ui.tray import TrayApp

    class Icon:
        HAS_NOTIFICATION = True

        def __init__(self) -> None:
            self.notes: list[tuple[str, str]] = []

        def notify(self, message: str, title: str) -> None:
            self.notes.append((title, message))

    engine = Engine(app.load())
    try:
        tray = TrayApp(engine, opener=lambda p: None, starter=LaunchAgent(agents_dir=tmp_path, command=[DMG_APP]),
                       dispatch=lambda work: None)
        tray.icon = icon = Icon()
        tray.toggle_autostart()
        assert not tray.autostart.is_enabled()
        assert icon.notes and icon.notes[0][0] == "Start at login needs zoomwatch in Applications"
    finally:
        engine.close()


def test_cli_autostart_on_from_a_disk_image_explains_and_fails(app, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    from zoomwatch.ui import cli

    monkeypatch.setattr(autostart, "for_this_system", lambda: LaunchAgent(agents_dir=tmp_path, command=[DMG_APP]))
    assert cli.main(["autostart", "on"]) == cli.Exit.BAD_CONFIG
    assert "drag zoomwatch.app into the Applications folder" in capsys.readouterr().err
