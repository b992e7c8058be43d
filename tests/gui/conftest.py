"""A real desktop for GUI tests: Xvfb, a D-Bus session, the trayer tray host, dunst for notifications
and gnome-keyring's Secret Service, all started once per session and stopped at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

WIDTH, HEIGHT = 1024, 768
KEYRING_PASSWORD = "zoomwatch-test-keyring"


@dataclass
class Desktop:
    display: str
    env: dict[str, str]

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    def screenshot(self, path: Path) -> Path:
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True, timeout=60)
        return path


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"desktop: timed out waiting for {what}")
        time.sleep(0.05)


def _bus_name_has_owner(env: dict[str, str], name: str) -> bool:
    done = subprocess.run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                           "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
                          env=env, capture_output=True, text=True, timeout=10)
    return done.returncode == 0 and "boolean true" in done.stdout


@pytest.fixture(scope="session")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    for tool in ("Xvfb", "xdotool", "trayer", "dbus-daemon", "dbus-send", "dunst", "gnome-keyring-daemon", "import"):
        assert shutil.which(tool), f"{tool} is missing: .ci/run installs it (apt-get)"
    n = _free_display()
    runtime = tmp_path_factory.mktemp("desktop")
    processes: list[subprocess.Popen] = []
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PYSTRAY_BACKEND",
                                            "XDG_RUNTIME_DIR", "PYTHON_KEYRING_BACKEND")}
    try:
        xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(xvfb)
        _wait(lambda: Path(f"/tmp/.X11-unix/X{n}").exists() or xvfb.poll() is not None, 30, "Xvfb")
        assert xvfb.poll() is None, f"Xvfb could not start on :{n}"
        # the socket can appear before the server accepts clients: wait until one really connects
        _wait(lambda: subprocess.run(["xdotool", "getdisplaygeometry"], env={**os.environ, "DISPLAY": f":{n}"},
                                     capture_output=True, timeout=10).returncode == 0, 30, "Xvfb to accept clients")
        # with DISPLAY set, so that a service the bus starts on demand (dunst) can reach the X server
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               env={**os.environ, "DISPLAY": f":{n}"}, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
        processes.append(bus)
        address = bus.stdout.readline().strip() if bus.stdout else ""
        assert address, "dbus-daemon gave no address"
        runtime.chmod(0o700)
        env = {**os.environ, "DISPLAY": f":{n}", "DBUS_SESSION_BUS_ADDRESS": address, "PYSTRAY_BACKEND": "gtk",
               "XDG_RUNTIME_DIR": str(runtime), "NO_AT_BRIDGE": "1"}
        env.pop("PYTHON_KEYRING_BACKEND", None)
        keyring_daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                                          env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        processes.append(keyring_daemon)
        assert keyring_daemon.stdin is not None
        keyring_daemon.stdin.write(KEYRING_PASSWORD.encode())
        keyring_daemon.stdin.close()
        dunst = subprocess.Popen(["dunst"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(dunst)
        # pystray's GTK backend asks for the notification service as it starts: wait until dunst owns it
        _wait(lambda: _bus_name_has_owner(env, "org.freedesktop.Notifications") or dunst.poll() is not None, 30,
              "dunst to own org.freedesktop.Notifications")
        assert dunst.poll() is None, "dunst could not start"
        desk = Desktop(f":{n}", env)
        for attempt in range(3):  # trayer occasionally fails to start on a busy machine: try again
            trayer = subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "120",
                 "--height", "32", "--SetDockType", "true"], env=env, stdout=subprocess.DEVNULL,
                stderr=open(runtime / f"trayer-{attempt}.log", "wb"))
            processes.append(trayer)
            try:
                _wait(lambda t=trayer: desk.xdotool("search", "--class", "trayer") != "" or t.poll() is not None, 60,
                      "the trayer tray host")
            except RuntimeError:
                trayer.kill()
                continue
            if trayer.poll() is None:
                break
        else:
            raise RuntimeError(f"desktop: trayer did not start: {(runtime / 'trayer-2.log').read_text()[-500:]}")
        os.environ.update({k: env[k] for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PYSTRAY_BACKEND",
                                               "XDG_RUNTIME_DIR", "NO_AT_BRIDGE")})
        os.environ.pop("PYTHON_KEYRING_BACKEND", None)
        yield desk
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
