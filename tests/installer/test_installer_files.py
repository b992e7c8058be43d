"""The installer sources: every file they name exists, and the scripts pass the linters that run here
(the Windows installer and the dmg cannot be built on Linux; see the README)."""

from __future__ import annotations

import plistlib
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"


def test_every_file_the_spec_and_build_script_name_exists():
    named: set[str] = set()
    for source in (INSTALLER / "zoomwatch.spec", INSTALLER / "build.py"):
        text = source.read_text()
        for parts in re.findall(r'ROOT((?: / "[^"]+")+)', text):
            named.add("/".join(re.findall(r'"([^"]+)"', parts)))
        named.update(f"installer/linux/{n}" for n in re.findall(r'"((?:install|uninstall)\.sh|zoomwatch\.desktop)"',
                                                                   text))
    named.update({"assets/zoomwatch.ico", "assets/zoomwatch.icns", "assets/zoomwatch.png"})
    missing = sorted(n for n in named if not (ROOT / n).exists() and "." in n.rsplit("/", 1)[-1])
    assert not missing, missing
    assert {"installer/launcher.py", "installer/windows/zoomwatch.iss", "installer/macos/make_dmg.sh"} <= named


def test_inno_setup_script_names_files_that_exist_and_manages_the_run_key():
    iss = (INSTALLER / "windows" / "zoomwatch.iss").read_text()
    for relative in re.findall(r"=\.\.\\\.\.\\([^\s\"]+)", iss):
        if not relative.startswith("dist\\"):  # the build output, made by installer/build.py
            assert (ROOT / relative.replace("\\", "/")).exists(), relative
    assert "PrivilegesRequired=lowest" in iss  # per-user, no admin rights
    assert r"Software\Microsoft\Windows\CurrentVersion\Run" in iss and "uninsdeletevalue" in iss
    assert 'ValueName: "zoomwatch"' in iss  # the same value zoomwatch.ui.autostart writes


def test_shell_scripts_pass_bash_and_shellcheck():
    scripts = sorted(INSTALLER.rglob("*.sh"))
    assert scripts
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)
    done = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_desktop_entry_is_valid(tmp_path):
    entry = (INSTALLER / "linux" / "zoomwatch.desktop").read_text().replace("@APPDIR@", "/opt/zoomwatch")
    (tmp_path / "zoomwatch.desktop").write_text(entry)
    done = subprocess.run(["desktop-file-validate", str(tmp_path / "zoomwatch.desktop")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("source", ["zoomwatch.spec", "build.py", "launcher.py"])
def test_python_sources_compile(source):
    compile((INSTALLER / source).read_text(), source, "exec")
    assert sys.version_info >= (3, 10)


# -- issue 18 items 5, 12, 15: what the installers do on Windows and macOS, read through seams -----------


class Recorder:
    """Stands in for PyInstaller's spec building blocks (Analysis, PYZ, EXE, COLLECT, BUNDLE)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def block(self, kind: str):  # type: ignore[no-untyped-def]
        def make(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls.append((kind, args, kwargs))
            return types.SimpleNamespace(**{"scripts": [], "pure": [], "binaries": [], "datas": [], **kwargs})
        return make

    def of(self, kind: str) -> list[dict]:
        return [kwargs for k, _, kwargs in self.calls if k == kind]


def run_spec(platform: str, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "platform", platform)
    recorder = Recorder()
    spec = INSTALLER / "zoomwatch.spec"
    names = {kind: recorder.block(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    exec(compile(spec.read_text(), str(spec), "exec"), {"SPECPATH": str(INSTALLER), "__name__": "__main__", **names})
    return recorder


def test_windows_build_ships_a_console_cli_beside_the_windowed_tray(monkeypatch):
    recorder = run_spec("win32", monkeypatch)
    programs = {kwargs["name"]: kwargs["console"] for kwargs in recorder.of("EXE")}
    assert programs == {"zoomwatch": False, "zoomwatch-cli": True}
    (collect,) = [args for kind, args, _ in recorder.calls if kind == "COLLECT"]
    assert [getattr(a, "name", None) for a in collect[:2]] == ["zoomwatch", "zoomwatch-cli"]  # one folder


def test_linux_build_is_one_console_program(monkeypatch):
    assert [(k["name"], k["console"]) for k in run_spec("linux", monkeypatch).of("EXE")] == [("zoomwatch", True)]


def test_macos_info_plist_says_why_it_reads_documents(monkeypatch):
    """Zoom records into ~/Documents/Zoom, which macOS guards (TCC): without this key no prompt explains it."""
    (bundle,) = run_spec("darwin", monkeypatch).of("BUNDLE")
    plist = bundle["info_plist"]
    assert "Zoom recordings" in plist["NSDocumentsFolderUsageDescription"]
    assert plist["LSUIElement"] is True and bundle["bundle_identifier"] == "org.zoomwatch.tray"


def _commands(script: Path) -> list[str]:
    return [line.strip() for line in script.read_text().splitlines() if line.strip() and
            not line.strip().startswith("#")]


def test_macos_release_signs_every_mach_o_then_builds_the_dmg_then_notarises_and_staples():
    script = INSTALLER / "macos" / "sign_and_notarize.sh"
    lines = _commands(script)

    def first(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    signing = lines[first("codesign --force")]
    assert "--timestamp" in signing and "--options runtime" in signing and "--entitlements" in signing
    assert not [line for line in lines if "--deep" in line and "codesign" in line and "verify" not in line]
    order = [first("Mach-O"), first('sign "$file"'), first('sign "$app"'), first("make_dmg.sh"),
             first("notarytool submit"), first("stapler staple")]
    assert order == sorted(order), order
    with open(INSTALLER / "macos" / "entitlements.plist", "rb") as handle:
        assert plistlib.load(handle)["com.apple.security.cs.allow-unsigned-executable-memory"] is True


def test_build_script_signs_before_it_makes_the_dmg(monkeypatch):
    """installer/build.py on macOS with a signing identity runs the signing script (which makes the dmg
    after signing), never make_dmg.sh on the unsigned app first."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("zoomwatch_build", INSTALLER / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    ran: list[list[str]] = []
    monkeypatch.setattr(build.subprocess, "run", lambda command, **kw: ran.append(command))
    monkeypatch.setattr(build.shutil, "which", lambda tool: f"/usr/bin/{tool}")

    monkeypatch.setenv("ZOOMWATCH_SIGN_IDENTITY", "Developer ID Application: Ana (TEAM123456)")
    build.macos()
    assert [Path(c[1]).name for c in ran] == ["sign_and_notarize.sh"]

    ran.clear()
    monkeypatch.delenv("ZOOMWATCH_SIGN_IDENTITY")
    build.macos()
    assert [Path(c[1]).name for c in ran] == ["make_dmg.sh"]


def test_inno_setup_app_mutex_is_the_one_the_tray_holds():
    from zoomwatch.ui.tray import APP_MUTEX

    iss = (INSTALLER / "windows" / "zoomwatch.iss").read_text()
    assert re.findall(r"^AppMutex=(.+)$", iss, re.M) == [APP_MUTEX]


def test_the_tray_creates_that_mutex_on_windows(monkeypatch):
    import ctypes

    from zoomwatch.ui import tray

    created: list[tuple[object, ...]] = []

    class Kernel32:
        def CreateMutexW(self, *args: object) -> int:  # noqa: N802 - the Windows name
            created.append(args)
            return 0x1234

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(ctypes, "WinDLL", lambda name, use_last_error=False: Kernel32(), raising=False)
    assert tray.hold_app_mutex() == 0x1234
    assert created == [(None, False, tray.APP_MUTEX)]
    monkeypatch.setattr(sys, "platform", "linux")
    assert tray.hold_app_mutex() is None and len(created) == 1


def test_the_tray_holds_the_mutex_while_its_icon_runs(app, monkeypatch):
    from zoomwatch.app import Engine
    from zoomwatch.ui import tray

    events: list[str] = []
    monkeypatch.setattr(tray, "hold_app_mutex", lambda: events.append("mutex") or 7)

    class Icon:
        HAS_MENU = True

        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def run(self, setup: object) -> None:
            events.append("icon runs")

        def stop(self) -> None:
            events.append("icon stopped")

    fake = types.ModuleType("pystray")
    fake.Icon = Icon  # type: ignore[attr-defined]
    fake.Menu = type("Menu", (), {"SEPARATOR": None, "__init__": lambda self, *items: None})  # type: ignore
    fake.MenuItem = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pystray", fake)
    engine = Engine(app.load())
    try:
        app_tray = tray.TrayApp(engine, opener=lambda p: None)
        app_tray.run()
        assert events == ["mutex", "icon runs"]
        app_tray.quit()
        assert events[-1] == "icon stopped"
    finally:
        engine.close()


def test_uninstaller_removes_the_real_log_folder_and_nothing_else_of_the_users(monkeypatch):
    """The log lives in platformdirs' user_log_dir (%LOCALAPPDATA%\\zoomwatch\\Logs on Windows); settings,
    catalog and the default backup folder are in %LOCALAPPDATA%\\zoomwatch itself and must stay."""
    from platformdirs import windows

    local = r"C:\Users\ana\AppData\Local"
    monkeypatch.setattr(windows, "get_win_folder", lambda csidl: local)
    dirs = windows.Windows("zoomwatch", appauthor=False)
    log_dir = dirs.user_log_dir.replace("/", "\\")
    iss = (INSTALLER / "windows" / "zoomwatch.iss").read_text()
    section = iss.split("[UninstallDelete]", 1)[1].split("\n[", 1)[0]
    removed = [name.replace("{localappdata}", local) for name in re.findall(r'Name: "([^"]+)"', section)]
    assert removed == [log_dir] == [local + r"\zoomwatch\Logs"]
    assert dirs.user_data_dir.replace("/", "\\") not in removed
