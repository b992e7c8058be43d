#!/usr/bin/env python3
"""The Linux bundle (PyInstaller one-folder build, `installer/build.py`) measured from outside, beside
`python -m zoomwatch` from the installed package. Phases:

1. build: `python installer/build.py --dist WORK/dist` (a few minutes); the .tar.gz is unpacked into
   a clean folder the way tests/installer/test_bundle.py does (or `--archive PATH` reuses one).
2. size: the .tar.gz, the unpacked bundle (apparent bytes and disk usage, files), the 10 biggest
   entries of its _internal folder and the 10 biggest files, and the shared libraries at the top of
   _internal (system libraries PyInstaller copied).
3. startup: wall time of the bundled `zoomwatch --version` and of `python -m zoomwatch --version`
   (isolated HOME/XDG_*): the first run after the bundle's files, the interpreter's standard library
   and site-packages were evicted from the page cache with posix_fadvise(DONTNEED) (dropping all
   caches needs root; mapped pages and the shared system libraries may stay cached), then the median
   (min/max) of the next `--runs` (default 5), the two alternated.
4. tray: on a private desktop (Xvfb, `dbus-run-session`, dunst, the trayer tray host; PYSTRAY_BACKEND=gtk,
   null keyring, a local destination with nothing to back up), the time from launching the bundled
   `zoomwatch tray` to "tray icon shown" on its stderr and to its icon window docked in trayer's strip,
   then its RSS (process + children; anonymous/file-backed, and the mapped files holding the most) and
   CPU seconds after `--idle-seconds` (default 10) idle; the same for `python -m zoomwatch tray`. An
   untimed tray runs first: the first GTK client on a new X server probes GLX (Mesa maps libLLVM,
   ~45 MiB resident) and caches the answer on the root window, which a real desktop has long done.
5. imports: `python -X importtime -c "import zoomwatch.ui.cli"` (third run, warm cache): the 10 largest
   cumulative entries; and, running `zoomwatch.ui.cli.main` in-process through a small wrapper, which of
   boto3, botocore, supabase, storage3, tusclient, pystray, tkinter (and what else outside the
   standard library) `zoomwatch --version` and `zoomwatch run --once` on a local destination load.

Run `python bench/bench_bundle.py --help`. Exit 0; 1 when `--version` or `run --once` loads one of
the heavy modules; 2 when a phase failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from common import (
    MIB,
    NULL_KEYRING,
    BenchError,
    add_output_options,
    home_env,
    kill_started,
    log,
    machine_info,
    make_home,
    make_workdir,
    phase_failed,
    psutil,
    remove_workdir,
    start,
    stop_group,
    summarize,
    vm_hwm,
    write_figures,
)

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("boto3", "botocore", "supabase", "storage3", "tusclient", "pystray", "tkinter")
MEETING = "2024-05-06 14.00.00 Bench 93456789012"
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s*\|\s*(\d+)\s*\|(\s*)(\S+)")
WRAPPER = """\
import json, os, sys
args = json.loads(os.environ["BENCH_ARGS"])
sys.argv = ["zoomwatch", *args]
from zoomwatch.ui.cli import main
try:
    code = main(args)
except SystemExit as exc:
    code = exc.code
std = set(sys.stdlib_module_names)
tops = sorted({m.split(".")[0] for m in list(sys.modules)} - std - {"__main__", "_distutils_hack"})
heavy = json.loads(os.environ["BENCH_HEAVY"])
with open(os.environ["BENCH_OUT"], "w") as out:
    json.dump({"code": code, "loaded": {m: m in sys.modules for m in heavy}, "modules": len(sys.modules),
               "third_party": tops}, out)
"""


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def isolated_env(home: Path, *, clean: bool) -> dict[str, str]:
    """HOME and XDG_* in `home`; `clean` = the empty environment the bundle test uses (no Python paths)."""
    make_home(home, "Documents/Zoom", "backup")
    if clean:
        return home_env(home, base={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, PYTHON_KEYRING_BACKEND=NULL_KEYRING)
    return home_env(home, drop=("AWS_", "ZOOM_", "SUPABASE_", "DISPLAY", "WAYLAND_", "DBUS_", "PYSTRAY_"),
                    PYTHON_KEYRING_BACKEND=NULL_KEYRING)


def configure(command: list[str], home: Path, env: dict[str, str]) -> None:
    for key, value in (("watch.folder", str(home / "Documents" / "Zoom")),
                       ("destination.local.path", str(home / "backup")), ("watch.settle_seconds", "1")):
        done = subprocess.run([*command, "config", "set", key, value], env=env, cwd=home, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(command)} config set {key}: {done.stdout}{done.stderr}")


# -- 1. build --------------------------------------------------------------------------------------

def phase_build(work: Path, archive: Path | None) -> tuple[Path, Path, dict[str, Any]]:
    out: dict[str, Any] = {}
    if archive is None:
        dist = work / "dist"
        command = [sys.executable, str(REPO / "installer" / "build.py"), "--dist", str(dist)]
        log(f"building: {' '.join(command)} (a few minutes; output in {work / 'build.log'})")
        t0 = time.monotonic()
        with open(work / "build.log", "wb") as build_log:
            done = subprocess.run(command, cwd=REPO, stdout=build_log, stderr=subprocess.STDOUT, timeout=3600)
        out["build_s"] = round(time.monotonic() - t0, 1)
        if done.returncode != 0:
            raise BenchError(f"build failed ({done.returncode}):\n{(work / 'build.log').read_text()[-3000:]}")
        archives = sorted(dist.glob("zoomwatch-*-linux-*.tar.gz"))
        if len(archives) != 1:
            raise BenchError(f"expected one zoomwatch-*-linux-*.tar.gz in {dist}, found {archives}")
        archive = archives[0]
        warnings = [line for line in (work / "build.log").read_text(errors="replace").splitlines()
                    if " WARNING: " in line]
        text = (work / "build.log").read_text(errors="replace")
        out["runtime_hooks"] = sorted(set(re.findall(r"run-time hook '?([^'\s]+?\.py)", text)))
        out["build_warnings"] = len(warnings)
        out["build_warnings_sample"] = warnings[:15]
        log(f"built {archive.name} in {out['build_s']:.0f} s")
    out["archive"] = str(archive)
    unpacked = work / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    bundle = unpacked / "zoomwatch"
    if not (bundle / "zoomwatch").is_file():
        raise BenchError(f"{archive} has no zoomwatch/zoomwatch executable")
    return archive, bundle, out


# -- 2. size ---------------------------------------------------------------------------------------

def du(path: Path, *flags: str) -> int:
    done = subprocess.run(["du", "-s", *flags, str(path)], capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout.split()[0])


def tree_size(path: Path) -> tuple[int, int, int]:
    """(apparent bytes, bytes on disk, files) of a file or folder; symlinks count as themselves."""
    paths = [path] if path.is_symlink() or not path.is_dir() else [p for p in path.rglob("*") if not p.is_dir()
                                                                    or p.is_symlink()]
    apparent = disk = files = 0
    for p in paths:
        st = p.lstat()
        apparent += st.st_size
        disk += st.st_blocks * 512
        files += 1
    return apparent, disk, files


def phase_size(archive: Path, bundle: Path) -> dict[str, Any]:
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    internal = bundle / "_internal"
    top = internal if internal.is_dir() else bundle
    rel = lambda p: str(p.relative_to(bundle))  # noqa: E731

    def entry(p: Path) -> dict[str, Any]:
        apparent, disk, count = tree_size(p)
        return {"path": rel(p), "bytes": apparent, "disk_bytes": disk, "files": count}

    # ranked by space on disk: thousands of small files (type stubs, locale data) cost more than their bytes
    entries = sorted((entry(p) for p in top.iterdir()), key=lambda e: -e["disk_bytes"])
    biggest = sorted(((p.stat().st_size, p) for p in files), key=lambda t: -t[0])
    libs = [p for p in top.iterdir() if p.is_file() and ".so" in p.name]
    gtk_like = re.compile(r"^lib(gtk|gdk|glib|gio|gobject|cairo|pango|harfbuzz|freetype|fontconfig|pixman|png|"
                          r"epoxy|atk|atspi|X|xcb|wayland|girepository|gmodule|ffi|fribidi|graphite|thai|datrie|"
                          r"jpeg|tiff|webp|dbus|systemd|gcrypt|gpg|lz|zstd|xkb|ayatana|appindicator|dbusmenu|"
                          r"blkid|mount|selinux|pcre|expat|brotli|bz2|uuid|Lerc|jbig|deflate|sharpyuv|lzma|icu)")
    inside = {}
    for e in [e for e in entries if (bundle / e["path"]).is_dir()][:5]:  # what the biggest folders hold
        children = sorted((entry(p) for p in (bundle / e["path"]).iterdir()), key=lambda c: -c["disk_bytes"])
        inside[e["path"]] = children[:6]
    return {
        "archive_bytes": archive.stat().st_size,
        "unpacked_apparent_bytes": du(bundle, "-b"),
        "unpacked_disk_kib": du(bundle, "-k"),
        "files": len(files),
        "top_entries": entries[:12],
        "inside_biggest_folders": inside,
        "top_files": [{"path": rel(p), "bytes": n} for n, p in biggest[:10]],
        "python_packages_present": sorted(p.name for p in top.iterdir() if p.is_dir() and p.name in (
            "numpy", "PIL", "botocore", "boto3", "babel", "cryptography", "gi", "supabase", "storage3", "httpx",
            "pydantic", "pydantic_core", "_tcl_data", "_tk_data", "Xlib", "IPython", "jedi", "parso", "mypy",
            "yaml", "aiohttp", "setuptools", "pkg_resources", "traitlets", "matplotlib")),
        "top_level_shared_libs": {"count": len(libs), "bytes": sum(p.stat().st_size for p in libs),
                                  "gtk_x11_and_friends_bytes": sum(p.stat().st_size for p in libs
                                                                   if gtk_like.match(p.name))},
    }


# -- 3. startup ------------------------------------------------------------------------------------

def evict(roots: list[Path]) -> int:
    """Drop the files' clean pages from the page cache (no root needed); returns how many files."""
    n = 0
    for root in roots:
        for path in ([root] if root.is_file() else root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            except OSError:
                pass
            finally:
                os.close(fd)
    return n


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    if done.returncode != 0 or not done.stdout.startswith("zoomwatch "):
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return wall


def phase_startup(work: Path, bundle: Path, runs: int) -> dict[str, Any]:
    home = work / "home-startup"
    tools = {"bundle": ([str(bundle / "zoomwatch"), "--version"], isolated_env(home, clean=True)),
             "python": ([sys.executable, "-m", "zoomwatch", "--version"], isolated_env(home, clean=False))}
    py_roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"]),
                Path(sysconfig.get_paths()["platlib"]), REPO / "zoomwatch", Path(sys.executable).resolve()]
    evicted = {"bundle_files": evict([bundle]), "python_files": evict(list(dict.fromkeys(py_roots)))}
    first = {name: round(timed(argv, env, home), 3) for name, (argv, env) in tools.items()}
    later: dict[str, list[float]] = {name: [] for name in tools}
    for n in range(runs):
        for name in (["bundle", "python"] if n % 2 == 0 else ["python", "bundle"]):
            argv, env = tools[name]
            later[name].append(timed(argv, env, home))
    out = {"evicted": evicted, "first_s": first, "next": {name: summarize(v) for name, v in later.items()}}
    out["ratio_bundle_over_python"] = round(out["next"]["bundle"]["median"] / out["next"]["python"]["median"], 2)
    return out


# -- 4. tray -------------------------------------------------------------------------------------------

class Desktop:
    """Xvfb, a D-Bus session from dbus-run-session, dunst and the trayer tray host."""

    def __init__(self, work: Path) -> None:
        for tool in ("Xvfb", "dbus-run-session", "dunst", "trayer", "xdotool"):
            if not shutil.which(tool):
                raise BenchError(f"{tool} is missing (apt-get install xvfb dbus-x11 dunst trayer xdotool)")
        self.runtime = work / "runtime"
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        self.procs: list[subprocess.Popen[Any]] = []
        # Xvfb picks a free display itself and tells which (-displayfd): no race with other X servers
        # starting at the same time (test sessions pick the first free number too)
        xvfb = start(["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                     stdout=subprocess.PIPE, stderr=open(self.runtime / "xvfb.log", "wb"), text=True)
        self.procs.append(xvfb)
        assert xvfb.stdout is not None
        number = xvfb.stdout.readline().strip()
        if not number.isdigit():
            raise BenchError("Xvfb gave no display number: " + (self.runtime / "xvfb.log").read_text()[-1000:])
        self.display = f":{number}"
        # the bus lives as long as the `sleep` dbus-run-session runs; its address is the first line
        bus = start(["dbus-run-session", "--", "sh", "-c", 'echo "$DBUS_SESSION_BUS_ADDRESS"; exec sleep 86400'],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.procs.append(bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        if not address:
            raise BenchError("dbus-run-session gave no bus address")
        self.env = {"DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": address, "PYSTRAY_BACKEND": "gtk",
                    "XDG_RUNTIME_DIR": str(self.runtime), "NO_AT_BRIDGE": "1"}
        env = {**os.environ, **self.env}
        wait_until(lambda: subprocess.run(["xdotool", "getdisplaygeometry"], env=env, capture_output=True,
                                          timeout=30).returncode == 0, 30, f"Xvfb on {self.display}", 0.05)
        self.procs.append(start(["dunst"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.procs.append(start(["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width",
                                 "120", "--height", "32", "--SetDockType", "true"], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(self.runtime / "trayer.log", "wb")))
        try:
            wait_until(lambda: self.xdotool("search", "--class", "trayer"), 90, "the trayer tray host", 0.1)
        except BenchError:
            self.close()
            raise BenchError("trayer did not show up: " + (self.runtime / "trayer.log").read_text()[-1000:]) from None

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=30)
        return done.stdout.strip()

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop_group(proc)


def rss_tree(pid: int) -> tuple[int, float]:
    root = psutil.Process(pid)
    rss, cpu = 0, 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            rss += proc.memory_info().rss
            times = proc.cpu_times()
            cpu += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return rss, cpu


def one_tray(desk: Desktop, name: str, command: list[str], env: dict[str, str], home: Path,
             idle: float) -> dict[str, Any]:
    configure(command, home, env)
    env = {**env, **desk.env}
    lines: list[tuple[float, str]] = []
    t0 = time.monotonic()
    proc = start([*command, "tray"], env=env, cwd=home, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE)

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append((time.monotonic() - t0, raw.decode("utf-8", "replace").rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out: dict[str, Any] = {"command": " ".join([*command, "tray"])}
    try:
        def shown() -> float | None:
            if proc.poll() is not None:
                raise BenchError(f"{name} tray exited {proc.returncode}:\n" + "\n".join(t for _, t in lines[-20:]))
            return next((t for t, text in lines if "tray icon shown" in text), None)

        out["icon_shown_s"] = round(wait_until(shown, 120, f"{name}: 'tray icon shown'"), 3)
        try:
            wait_until(lambda: desk.xdotool("search", "--onlyvisible", "--pid", str(proc.pid)), 30,
                       f"{name}: its icon window", 0.02)
            out["icon_window_docked_s"] = round(time.monotonic() - t0, 3)
            window = desk.xdotool("search", "--onlyvisible", "--pid", str(proc.pid)).split()[0]
            geometry = dict(line.split("=") for line in desk.xdotool("getwindowgeometry", "--shell", window).split())
            out["icon_window_geometry"] = {k: int(v) for k, v in geometry.items() if k != "SCREEN" and v.isdigit()}
        except BenchError as exc:
            out["icon_window_docked_s"] = None
            out["icon_window_note"] = str(exc)
        _, cpu_shown = rss_tree(proc.pid)
        time.sleep(idle)
        rss, cpu = rss_tree(proc.pid)
        out.update(idle_s=idle, idle_rss_mib=round(rss / MIB, 1), idle_cpu_s=round(cpu - cpu_shown, 3),
                   cpu_to_shown_s=round(cpu_shown, 2), vm_hwm_mib=round(vm_hwm(proc.pid) / MIB, 1) or None,
                   **memory_detail(proc.pid))
        out["log_head"] = [t for _, t in lines[:12]]
        if proc.poll() is not None:
            raise BenchError(f"{name} tray exited {proc.returncode} while idle")
    finally:
        stop_group(proc)
        reader.join(5)
    return out


def memory_detail(pid: int) -> dict[str, Any]:
    """Anonymous vs file-backed RSS (/proc/PID/status), threads, and the mapped files that hold the most
    resident memory (/proc/PID/smaps), to tell what makes one tray bigger than another."""
    out: dict[str, Any] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem"):
                out[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024, 1)
            elif key == "Threads":
                out["threads"] = int(value)
        per_file: dict[str, int] = {}
        current = None
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            head = line.split()
            if head and re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
                current = head[5] if len(head) > 5 else "[anon]"
            elif head and head[0] == "Rss:" and current is not None:
                per_file[current] = per_file.get(current, 0) + int(head[1])
        top = sorted(per_file.items(), key=lambda kv: -kv[1])[:10]
        out["top_mappings_mib"] = {Path(k).name if k.startswith("/") else k: round(v / 1024, 1) for k, v in top}
        out["mapped_files"] = sum(1 for k in per_file if k.startswith("/"))
    except OSError:
        pass
    return out


def phase_tray(work: Path, bundle: Path, idle: float) -> dict[str, Any]:
    desk = Desktop(work)
    try:
        out: dict[str, Any] = {"display": desk.display}
        # The first GTK client on a fresh X server probes GLX (Mesa's software rasterizer maps libLLVM,
        # ~45 MiB resident) and caches the result on the root window (GDK_VISUALS); later clients skip
        # it, as on any real desktop. So an untimed first tray, reported apart, then the two measured.
        home = work / "home-tray-warm-up"
        log("tray: warm-up (first GTK client on this X server)")
        out["warm_up_first_client"] = one_tray(desk, "warm-up", [sys.executable, "-m", "zoomwatch"],
                                               isolated_env(home, clean=False), home, 2)
        for name, command, clean in (("bundle", [str(bundle / "zoomwatch")], True),
                                     ("python", [sys.executable, "-m", "zoomwatch"], False)):
            home = work / f"home-tray-{name}"
            log(f"tray: {name}")
            out[name] = one_tray(desk, name, command, isolated_env(home, clean=clean), home, idle)
            log(f"  {name}: 'tray icon shown' after {out[name]['icon_shown_s']:.2f} s, docked after "
                f"{out[name]['icon_window_docked_s']} s; RSS after {idle:.0f} s idle {out[name]['idle_rss_mib']} MiB")
        return out
    finally:
        desk.close()


# -- 5. imports ------------------------------------------------------------------------------------

def importtime(code: str, env: dict[str, str], cwd: Path) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) for each line of `python -X importtime -c code`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    rows = []
    for line in done.stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m:
            rows.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    return rows


def loaded_by(args: list[str], env: dict[str, str], cwd: Path, out_file: Path) -> dict[str, Any]:
    env = {**env, "BENCH_ARGS": json.dumps(args), "BENCH_HEAVY": json.dumps(HEAVY), "BENCH_OUT": str(out_file)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    wall = time.perf_counter() - t0
    if done.returncode != 0 or not out_file.exists():
        raise BenchError(f"zoomwatch {' '.join(args)} under the wrapper: {done.returncode}\n{done.stderr[-2000:]}")
    result = json.loads(out_file.read_text())
    result["wall_s"] = round(wall, 3)
    result["heavy_loaded"] = [m for m, yes in result["loaded"].items() if yes]
    return result


def phase_imports(work: Path) -> dict[str, Any]:
    home = work / "home-imports"
    env = isolated_env(home, clean=False)
    for _ in range(2):  # warm the cache
        importtime("import zoomwatch.ui.cli", env, home)
    rows = importtime("import zoomwatch.ui.cli", env, home)
    top = sorted(rows, key=lambda r: -r[1])[:10]
    total = next((r[1] for r in rows if r[3] == "zoomwatch.ui.cli"), None)
    # the import of zoomwatch.ui.cli itself, without the interpreter's start-up (site and its .pth files):
    # importtime prints a module after its children, so its subtree is the run since the previous top-level line
    end = next((i for i, r in enumerate(rows) if r[3] == "zoomwatch.ui.cli" and r[2] == 0), len(rows) - 1)
    begin = max((i for i, r in enumerate(rows[:end]) if r[2] == 0), default=-1) + 1
    own = sorted(rows[begin:end + 1], key=lambda r: -r[1])[:10]
    site = [r for r in rows[:begin] if r[2] == 0]
    configure([sys.executable, "-m", "zoomwatch"], home, env)
    meeting = home / "Documents" / "Zoom" / MEETING
    meeting.mkdir(parents=True, exist_ok=True)
    (meeting / "zoom_0.mp4").write_bytes(os.urandom(MIB))
    os.utime(meeting / "zoom_0.mp4", (time.time() - 86400, time.time() - 86400))
    version = loaded_by(["--version"], env, home, work / "modules-version.json")
    once = loaded_by(["run", "--once", "--max-wait", "30"], env, home, work / "modules-run-once.json")
    if once["code"] != 0:
        raise BenchError(f"run --once exited {once['code']}")
    run_rows = importtime("import zoomwatch.ui.cli; zoomwatch.ui.cli.main(['--version'])", env, home)
    return {
        "import_zoomwatch_cli_us": total,
        "top10_cumulative": [{"module": m, "cumulative_us": c, "self_us": s, "depth": d} for s, c, d, m in top],
        "top10_under_zoomwatch_cli": [{"module": m, "cumulative_us": c, "self_us": s, "depth": d}
                                      for s, c, d, m in own],
        "start_up_imports": [{"module": m, "cumulative_us": c} for _, c, _, m in site],
        "version_importtime_total_us": sum(r[0] for r in run_rows),
        "version": version, "run_once": once,
    }


# -- report ----------------------------------------------------------------------------------------

def mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


def print_report(r: dict[str, Any]) -> None:
    print(f"\nzoomwatch Linux bundle benchmark — {r['machine']['cpus']} cores, Python {r['machine']['python']}, "
          f"{r['machine']['when']}")
    b = r.get("build")
    if b:
        built = (f"built in {b['build_s']:.0f} s, {b['build_warnings']} PyInstaller warnings" if "build_s" in b
                 else "reused")
        print(f"\n1. build: {b['archive']} ({built})")
        if b.get("runtime_hooks"):
            print(f"   run-time hooks run at every start: {', '.join(b['runtime_hooks'])}")
    s = r.get("size")
    if s:
        print(f"\n2. size: .tar.gz {mib(s['archive_bytes'])}; unpacked {mib(s['unpacked_apparent_bytes'])} "
              f"(du: {s['unpacked_disk_kib'] / 1024:.1f} MiB on disk), {s['files']} files")
        libs = s["top_level_shared_libs"]
        print(f"   {libs['count']} shared libraries at the top of _internal: {mib(libs['bytes'])} (GTK/X11/GLib and "
              f"their dependencies: {mib(libs['gtk_x11_and_friends_bytes'])})")
        print("   biggest entries of _internal (by space on disk; apparent size; files):")
        for e in s["top_entries"]:
            print(f"     {mib(e['disk_bytes']):>11}  {mib(e['bytes']):>11}  {e['files']:>6}  {e['path']}")
        for folder, children in s["inside_biggest_folders"].items():
            print(f"   inside {folder}: " + ", ".join(f"{Path(c['path']).name} {mib(c['disk_bytes'])}"
                                                    for c in children))
        print(f"   Python packages of note in the bundle: {', '.join(s['python_packages_present'])}")
        print("   biggest files:")
        for e in s["top_files"]:
            print(f"     {mib(e['bytes']):>11}  {e['path']}")
    st = r.get("startup")
    if st:
        print(f"\n3. `--version` wall time (first run after evicting {st['evicted']['bundle_files']} bundle files and "
              f"{st['evicted']['python_files']} Python files from the page cache; then median [min–max] of "
              f"{st['next']['bundle']['n']}):")
        for name in ("bundle", "python"):
            n = st["next"][name]
            print(f"   {name:<7} first {st['first_s'][name]:.3f} s, then {n['median']:.3f} s "
                  f"[{n['min']:.3f}–{n['max']:.3f}]")
        print(f"   bundle / python (median) = {st['ratio_bundle_over_python']}")
    t = r.get("tray")
    if t:
        print("\n4. tray on Xvfb + dbus-run-session + dunst + trayer (PYSTRAY_BACKEND=gtk):")
        for name in ("warm_up_first_client", "bundle", "python"):
            if name in t:
                x = t[name]
                if name.startswith("warm"):
                    llvm = sum(v for k, v in x.get("top_mappings_mib", {}).items() if k.startswith("libLLVM"))
                    print(f"   first GTK client on the new X server (python, untimed warm-up): 'tray icon shown' "
                          f"{x['icon_shown_s']:.2f} s, RSS {x['idle_rss_mib']} MiB after {x['idle_s']:.0f} s, of which "
                          f"libLLVM {llvm:.1f} MiB")
                    continue
                print(f"   {name:<7} 'tray icon shown' {x['icon_shown_s']:.2f} s, "
                      f"icon docked {x['icon_window_docked_s']} s; "
                      f"after {x['idle_s']:.0f} s idle: RSS {x['idle_rss_mib']} MiB (VmHWM {x['vm_hwm_mib']} MiB), "
                      f"CPU {x['idle_cpu_s']} s while idle")
                print(f"           RssAnon {x.get('rssanon_mib')} MiB, RssFile {x.get('rssfile_mib')} MiB, "
                      f"{x.get('threads')} threads, {x.get('mapped_files')} mapped files; most resident: "
                      + ", ".join(f"{k} {v}" for k, v in list(x.get("top_mappings_mib", {}).items())[:6]))
    im = r.get("imports")
    if im:
        print(f"\n5. python -X importtime -c 'import zoomwatch.ui.cli': {im['import_zoomwatch_cli_us'] / 1000:.1f} ms; "
              "top 10 cumulative:")
        for e in im["top10_cumulative"]:
            print(f"     {e['cumulative_us'] / 1000:8.1f} ms  {'  ' * e['depth']}{e['module']}")
        print("   inside zoomwatch.ui.cli only (the interpreter's start-up left out: "
              + ", ".join(f"{e['module']} {e['cumulative_us'] / 1000:.1f} ms" for e in im["start_up_imports"]
                          if e["cumulative_us"] >= 1000) + "):")
        for e in im["top10_under_zoomwatch_cli"]:
            print(f"     {e['cumulative_us'] / 1000:8.1f} ms  {'  ' * e['depth']}{e['module']}")
        for label, key in (("zoomwatch --version", "version"), ("zoomwatch run --once (local)", "run_once")):
            x = im[key]
            print(f"   {label}: heavy modules loaded: {', '.join(x['heavy_loaded']) or 'none'} "
                  f"({x['modules']} modules in all; outside the standard library: {', '.join(x['third_party'])})")
    for phase, error in r["errors"].items():
        print(f"\n{phase} FAILED: {error[-1500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", type=Path, help="use this zoomwatch-*-linux-*.tar.gz instead of building one")
    parser.add_argument("--runs", type=int, default=5, help="--version runs after the first (default 5)")
    parser.add_argument("--idle-seconds", type=float, default=10, help="idle time before the tray's RSS (default 10)")
    parser.add_argument("--phases", default="size,startup,tray,imports",
                        help="a subset of size,startup,tray,imports (the build always runs unless --archive)")
    add_output_options(parser, keep_help="keep the temporary folder (bundle included)")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(phases) - {"size", "startup", "tray", "imports"}:
        parser.error(f"unknown phase(s) in {args.phases}")
    if not sys.platform.startswith("linux"):
        parser.error("the Linux bundle is measured on Linux only")

    work = make_workdir(args.workdir, "zoomwatch-bench-bundle-")
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "bench/bench_bundle.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "errors": {},
    }
    code = 0
    try:
        log(f"workdir {work}")
        bundle = None
        try:
            archive, bundle, report["build"] = phase_build(work, args.archive.resolve() if args.archive else None)
        except (BenchError, subprocess.SubprocessError, OSError, tarfile.TarError) as exc:
            log(f"build failed: {exc}")
            report["errors"]["build"] = str(exc)[-3000:]
            code = 2
        for phase in phases:
            if bundle is None and phase != "imports":
                continue
            try:
                log(f"phase {phase}")
                if phase == "size":
                    report["size"] = phase_size(archive, bundle)
                elif phase == "startup":
                    report["startup"] = phase_startup(work, bundle, args.runs)
                elif phase == "tray":
                    report["tray"] = phase_tray(work, bundle, args.idle_seconds)
                else:
                    report["imports"] = phase_imports(work)
            except (BenchError, subprocess.SubprocessError, OSError, psutil.Error) as exc:
                code = phase_failed(report, phase, exc)
    finally:
        kill_started()
        remove_workdir(work, args.keep)
    print_report(report)
    write_figures(args.json_out, report)
    imports = report.get("imports")
    if code == 0 and imports and (imports["version"]["heavy_loaded"] or imports["run_once"]["heavy_loaded"]):
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
