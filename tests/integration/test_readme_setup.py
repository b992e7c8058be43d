"""The README's two set-up commands are what a newcomer types first: they must work on a stock Debian 12 /
Ubuntu 24.04 Python, where `pip install` outside a virtual environment is refused (PEP 668), and CI must
run the README's test command word for word, so that the README cannot drift from what is tested."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import psutil
from helpers import backed_up_files, sha256_of, wait_for, write_random

ROOT = Path(__file__).resolve().parents[2]
STOCK_PYTHON = "/usr/bin/python3"  # the distribution's own Python, as on a fresh machine


def set_up_section() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]


def set_up_commands() -> tuple[str, str]:
    """The run command and the test command, from the two sh blocks of the README's "Set up"."""
    blocks = re.findall(r"```sh\n(.*?)\n```", set_up_section(), re.S)
    assert len(blocks) == 2, f"the README's Set up has {len(blocks)} command blocks, not 2"
    run, test = (block.strip() for block in blocks)
    assert "\n" not in run and "\n" not in test, "each set-up command is one line"
    return run, test


def ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]


def test_ci_runs_the_readmes_test_command_word_for_word() -> None:
    _, test = set_up_commands()
    lines = ci_lines()
    # `|| exit`: under `set -e` a failure before the last `&&` would otherwise not stop the script
    assert f"{test} || exit" in lines, f"no line of .ci/run is the README's test command {test!r}"
    assert any(line.startswith(".venv/bin/python -m ruff check ") for line in lines), "CI lints as before"


def test_ci_installs_what_the_readmes_commands_need_on_stock_debian() -> None:
    packages = re.search(r"packages=\((.*?)\)", (ROOT / ".ci" / "run").read_text(), re.S)
    assert packages and "python3-venv" in packages.group(1).split(), "`python3 -m venv` needs python3-venv on Debian"
    words = " ".join(set_up_section().split())
    assert "python3-venv" in words and "sudo apt install python3-venv" in words


def test_readme_commands_use_a_virtual_environment() -> None:
    for command in set_up_commands():
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install "), command
        assert not re.search(r"(^|&& )(python3 -m pip|pip|zoomwatch|python3 -m pytest) ", command), command


def test_readmes_run_command_works_on_the_stock_debian_python(tmp_path: Path) -> None:
    """Word for word, with the distribution's python3 first on PATH: installs, starts, backs up, stops."""
    stock_stdlib = subprocess.run([STOCK_PYTHON, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    assert Path(stock_stdlib, "EXTERNALLY-MANAGED").exists(), "expected a PEP 668 Python, as Debian 12 ships"
    run, _ = set_up_commands()
    source = tmp_path / "zoomwatch"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info",
                                                                ".*_cache", "build", "dist"))
    home = tmp_path / "home"
    zoom = home / "Documents" / "Zoom"
    sha = write_random(zoom / "2024-03-04 16.30.00 Quarterly planning 91234567890" / "zoom_0.mp4", 50_000)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           **{k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.endswith("_PROXY") or
              k.endswith("_proxy") or k in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}}
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(["sh", "-c", run], cwd=source, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        backup = home / ".local" / "share"
        started = re.compile(r"zoomwatch \S+ watching ")
        wait_for(lambda: process.poll() is not None or started.search(log.read_text(errors="replace")),
                 timeout=900, what="the README's run command to install zoomwatch and start it")
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        found = wait_for(lambda: [p for p in backed_up_files(backup).values() if p.name == "zoom_0.mp4"],
                         timeout=120, what="the recording to be backed up")
        assert [sha256_of(p) for p in found] == [sha]  # type: ignore[union-attr]
    finally:
        if process.poll() is None:  # Ctrl-C's cousin, to zoomwatch itself (not to the shell running it)
            for found in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
                if found.name() != "sh" and found.cmdline()[-1:] == ["run"]:
                    found.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    assert process.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert (source / ".venv" / "bin" / "zoomwatch").exists()
