"""The installer sources: every file they name exists, and the scripts pass the linters that run here
(the Windows installer and the dmg cannot be built on Linux; see the README)."""

from __future__ import annotations

import re
import subprocess
import sys
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
    assert 'ValueName: "zoomwatch"' in iss  # the same value zoomwatch.autostart writes


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
