#!/usr/bin/env python3
"""The Linux bundle (PyInstaller one-folder build, `installer/build.py`) measured from outside beside `python -m
zoomwatch` (bench/common.py): its size, `--version` start-up (first after evicting the page cache, then the
median), the tray on a private desktop (Xvfb, dbus-run-session, dunst, trayer; until its icon window exists and
is docked, then idle RSS and CPU; after an untimed first GTK client, which probes GLX and maps libLLVM once per
X server), and the imports `--version` and `run --once` pay for. See bench/README.md. Exit 1 when `--version`
or `run --once` loads a heavy module (boto3, botocore, supabase, storage3, tusclient, pystray, tkinter).
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
import time
from pathlib import Path
from typing import Any

from common import (
    MIB,
    NULL_KEYRING,
    REPO,
    Bench,
    BenchError,
    Home,
    add_options,
    home_env,
    log,
    make_file,
    psutil,
    rss_sum,
    start,
    summarize,
    vm_hwm,
    wait_until,
)

HEAVY = ("boto3", "botocore", "supabase", "storage3", "tusclient", "pystray", "tkinter")
OF_NOTE = ("numpy", "PIL", "botocore", "boto3", "babel", "cryptography", "gi", "supabase", "storage3", "httpx",
           "pydantic", "pydantic_core", "_tcl_data", "_tk_data", "Xlib", "IPython", "jedi", "parso", "mypy", "yaml",
           "aiohttp", "setuptools", "pkg_resources", "traitlets", "matplotlib")
GTK_LIKE = re.compile(r"^lib(gtk|gdk|glib|gio|gobject|cairo|pango|harfbuzz|freetype|fontconfig|pixman|png|epoxy|atk|"
                      r"atspi|X|xcb|wayland|girepository|gmodule|ffi|fribidi|graphite|thai|datrie|jpeg|tiff|webp|"
                      r"dbus|systemd|gcrypt|gpg|lz|zstd|xkb|ayatana|appindicator|dbusmenu|blkid|mount|selinux|pcre|"
                      r"expat|brotli|bz2|uuid|Lerc|jbig|deflate|sharpyuv|lzma|icu)")
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
tops = {m.split(".")[0] for m in list(sys.modules)} - set(sys.stdlib_module_names) - {"__main__", "_distutils_hack"}
heavy = [m for m in json.loads(os.environ["BENCH_HEAVY"]) if m in sys.modules]
with open(os.environ["BENCH_OUT"], "w") as out:
    json.dump({"code": code, "heavy_loaded": heavy, "modules": len(sys.modules), "third_party": sorted(tops)}, out)
"""


def zoomwatch_home(root: Path, command: list[str], *, clean: bool) -> Home:
    """A zoomwatch (`command`: the bundle or python -m) watching an empty folder, backing up to a local one;
    `clean` = the empty environment the bundle test uses."""
    for folder in ("Documents/Zoom", "backup"):
        (root / folder).mkdir(parents=True)
    return Home(root, [("watch.folder", str(root / "Documents" / "Zoom")), ("destination.local.path",
                                                                           str(root / "backup")),
                       ("watch.settle_seconds", "1")], command=command,
                base={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"} if clean else None,
                drop=("AWS_", "ZOOM_", "SUPABASE_", "DISPLAY", "WAYLAND_", "DBUS_", "PYSTRAY_"),
                PYTHON_KEYRING_BACKEND=NULL_KEYRING)


# -- build and size -------------------------------------------------------------------------------

def phase_build(work: Path, archive: Path | None) -> tuple[dict[str, Any], Path, Path]:
    out: dict[str, Any] = {}
    if archive is None:
        build_log = work / "build.log"
        t0 = time.monotonic()
        with open(build_log, "wb") as handle:
            done = subprocess.run([sys.executable, str(REPO / "installer" / "build.py"), "--dist", str(work / "dist")],
                                  cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, timeout=3600)
        text = build_log.read_text(errors="replace")
        if done.returncode != 0:
            raise BenchError(f"build failed ({done.returncode}):\n{text[-3000:]}")
        archive = next((work / "dist").glob("zoomwatch-*-linux-*.tar.gz"))
        warnings = [line for line in text.splitlines() if " WARNING: " in line]
        out.update(build_s=round(time.monotonic() - t0, 1), build_warnings=len(warnings),
                   build_warnings_sample=warnings[:15],
                   runtime_hooks=sorted(set(re.findall(r"run-time hook '?([^'\s]+?\.py)", text))))
    out["archive"] = str(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(work / "unpacked", filter="data")
    bundle = work / "unpacked" / "zoomwatch"
    if not (bundle / "zoomwatch").is_file():
        raise BenchError(f"{archive} has no zoomwatch/zoomwatch executable")
    return out, archive, bundle


def tree_size(path: Path) -> dict[str, Any]:
    """Apparent bytes, bytes on disk and files of a file or folder (symlinks count as themselves)."""
    paths = [path] if path.is_symlink() or not path.is_dir() else [p for p in path.rglob("*")
                                                                    if p.is_symlink() or not p.is_dir()]
    stats = [p.lstat() for p in paths]
    return {"path": path.name, "bytes": sum(s.st_size for s in stats),
            "disk_bytes": sum(s.st_blocks * 512 for s in stats),
            "files": len(stats)}


def phase_size(archive: Path, bundle: Path) -> dict[str, Any]:
    top = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    entries = sorted((tree_size(p) for p in top.iterdir()), key=lambda e: -e["disk_bytes"])
    libs = [p for p in top.iterdir() if p.is_file() and ".so" in p.name]
    folders = [top / e["path"] for e in entries if (top / e["path"]).is_dir()]
    du = {flag: int(subprocess.run(["du", "-s", flag, str(bundle)], capture_output=True, text=True, check=True,
                                   timeout=120).stdout.split()[0]) for flag in ("-b", "-k")}
    return {"archive_bytes": archive.stat().st_size, "unpacked_apparent_bytes": du["-b"], "unpacked_disk_kib": du["-k"],
            "files": len(files), "top_entries": entries[:12],
            "inside_biggest_folders": {d.name: sorted((tree_size(p) for p in d.iterdir()),
                                                      key=lambda c: -c["disk_bytes"])[:6] for d in folders[:5]},
            "top_files": [{"path": str(p.relative_to(bundle)), "bytes": p.stat().st_size}
                          for p in sorted(files, key=lambda p: -p.stat().st_size)[:10]],
            "python_packages_present": sorted(p.name for p in top.iterdir() if p.is_dir() and p.name in OF_NOTE),
            "top_level_shared_libs": {"count": len(libs), "bytes": sum(p.stat().st_size for p in libs),
                                      "gtk_x11_and_friends_bytes": sum(p.stat().st_size for p in libs
                                                                       if GTK_LIKE.match(p.name))}}


# -- startup --------------------------------------------------------------------------------------

def evict(roots: list[Path]) -> int:
    """Drop the files' clean pages from the page cache (no root needed); returns how many files."""
    n = 0
    for path in (p for root in roots for p in ([root] if root.is_file() else root.rglob("*"))):
        if path.is_file() and not path.is_symlink():
            try:
                fd = os.open(path, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
                n += 1
            except OSError:
                pass
    return n


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not done.stdout.startswith("zoomwatch "):
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return time.perf_counter() - t0


def phase_startup(work: Path, bundle: Path, runs: int) -> dict[str, Any]:
    home = work / "home-startup"
    tools = {"bundle": ([str(bundle / "zoomwatch"), "--version"], home_env(home, base={"PATH": "/usr/bin:/bin"})),
             "python": ([sys.executable, "-m", "zoomwatch", "--version"], home_env(home))}
    paths = sysconfig.get_paths()
    py_roots = {Path(paths[k]) for k in ("stdlib", "purelib", "platlib")} | {REPO / "zoomwatch",
                                                                            Path(sys.executable).resolve()}
    evicted = {"bundle_files": evict([bundle]), "python_files": evict(sorted(py_roots))}
    first = {name: round(timed(argv, env, home), 3) for name, (argv, env) in tools.items()}
    later: dict[str, list[float]] = {name: [] for name in tools}
    for n in range(runs):
        for name in ("bundle", "python")[::1 if n % 2 == 0 else -1]:
            later[name].append(timed(*tools[name], home))
    out = {"evicted": evicted, "first_s": first, "next": {name: summarize(v) for name, v in later.items()}}
    out["ratio_bundle_over_python"] = round(out["next"]["bundle"]["median"] / out["next"]["python"]["median"], 2)
    return out


# -- tray -----------------------------------------------------------------------------------------

class Desktop:
    """Xvfb (it picks a free display itself: -displayfd), a D-Bus session, dunst and the trayer tray host."""

    def __init__(self, work: Path) -> None:
        for tool in ("Xvfb", "dbus-run-session", "dunst", "trayer", "xdotool"):
            if not shutil.which(tool):
                raise BenchError(f"{tool} is missing (apt-get install xvfb dbus-x11 dunst trayer xdotool)")
        runtime = work / "runtime"
        runtime.mkdir(mode=0o700)
        xvfb = start(["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        bus = start(["dbus-run-session", "--", "sh", "-c", 'echo "$DBUS_SESSION_BUS_ADDRESS"; exec sleep 86400'],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.env = {"DISPLAY": f":{xvfb.stdout.readline().strip()}", "PYSTRAY_BACKEND": "gtk", "NO_AT_BRIDGE": "1",
                    "DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().strip(), "XDG_RUNTIME_DIR": str(runtime)}
        wait_until(lambda: subprocess.run(["xdotool", "getdisplaygeometry"], env={**os.environ, **self.env},
                                          capture_output=True, timeout=30).returncode == 0, 30, "Xvfb", 0.05)
        for argv in (["dunst"], ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width",
                                 "120", "--height", "32", "--SetDockType", "true"]):
            start(argv, env={**os.environ, **self.env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.xdotool("search", "--class", "trayer"), 90, "the trayer tray host", 0.1)

    def xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=30).stdout.strip()


def memory_detail(pid: int) -> dict[str, Any]:
    """Anonymous vs file-backed RSS, threads, and the mapped files holding the most resident memory."""
    out: dict[str, Any] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "RssShmem"):
            out[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024, 1)
        elif key == "Threads":
            out["threads"] = int(value)
    per_file: dict[str, int] = {}
    current = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
            current = Path(head[5]).name if len(head) > 5 else "[anon]"
        elif head[:1] == ["Rss:"]:
            per_file[current] = per_file.get(current, 0) + int(head[1])
    out["top_mappings_mib"] = {k: round(v / 1024, 1) for k, v in sorted(per_file.items(), key=lambda kv: -kv[1])[:10]}
    return out


def one_tray(desk: Desktop, command: list[str], home: Home, idle: float) -> dict[str, Any]:
    """Until its icon window exists (xdotool --pid) and is docked (visible), then idle RSS and CPU."""
    t0 = time.monotonic()
    proc = start([*command, "tray"], env={**home.env, **desk.env}, cwd=home.root, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, Any] = {"command": " ".join([*command, "tray"])}
    for key, flags in (("icon_shown_s", ()), ("icon_window_docked_s", ("--onlyvisible",))):
        wait_until(lambda f=flags: proc.poll() is None and desk.xdotool("search", *f, "--pid", str(proc.pid)), 120,
                   f"{command[0]} tray: its icon window", 0.02)
        out[key] = round(time.monotonic() - t0, 3)
    tree = psutil.Process(proc.pid)
    cpu_shown = sum(sum(p.cpu_times()[:2]) for p in [tree, *tree.children(recursive=True)])
    time.sleep(idle)
    if proc.poll() is not None:
        raise BenchError(f"{command[0]} tray exited {proc.returncode} while idle")
    cpu = sum(sum(p.cpu_times()[:2]) for p in [tree, *tree.children(recursive=True)])
    out.update(idle_s=idle, idle_rss_mib=round(rss_sum([tree, *tree.children(recursive=True)]) / MIB, 1),
               idle_cpu_s=round(cpu - cpu_shown, 3), cpu_to_shown_s=round(cpu_shown, 2),
               vm_hwm_mib=round(vm_hwm(proc.pid) / MIB, 1), **memory_detail(proc.pid))
    proc.terminate()
    proc.wait(10)
    return out


def phase_tray(work: Path, bundle: Path, idle: float) -> dict[str, Any]:
    desk = Desktop(work)
    python = [sys.executable, "-m", "zoomwatch"]
    out: dict[str, Any] = {"display": desk.env["DISPLAY"], "warm_up_first_client": one_tray(
        desk, python, zoomwatch_home(work / "home-tray-warm-up", python, clean=False), 2)}
    for name, command, clean in (("bundle", [str(bundle / "zoomwatch")], True), ("python", python, False)):
        out[name] = one_tray(desk, command, zoomwatch_home(work / f"home-tray-{name}", command, clean=clean), idle)
        log(f"  {name}: icon after {out[name]['icon_shown_s']:.2f} s, docked {out[name]['icon_window_docked_s']} s")
    return out


# -- imports --------------------------------------------------------------------------------------

def importtime(code: str, env: dict[str, str], cwd: Path) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) for each line of `python -X importtime -c code`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    return [(int(m[1]), int(m[2]), len(m[3]) // 2, m[4]) for line in done.stderr.splitlines()
            if (m := IMPORT_LINE.match(line))]


def loaded_by(args: list[str], home: Home, out_file: Path) -> dict[str, Any]:
    env = {**home.env, "BENCH_ARGS": json.dumps(args), "BENCH_HEAVY": json.dumps(HEAVY), "BENCH_OUT": str(out_file)}
    done = subprocess.run([sys.executable, "-c", WRAPPER], env=env, cwd=home.root, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0 or not out_file.exists():
        raise BenchError(f"zoomwatch {' '.join(args)} under the wrapper: {done.returncode}\n{done.stderr[-2000:]}")
    return json.loads(out_file.read_text())


def phase_imports(work: Path) -> dict[str, Any]:
    home = zoomwatch_home(work / "home-imports", [sys.executable, "-m", "zoomwatch"], clean=False)
    rows = [importtime("import zoomwatch.ui.cli", home.env, home.root) for _ in range(3)][-1]
    # importtime prints a module after its children: zoomwatch.ui.cli's subtree runs from the previous top-level line
    end = next(i for i, r in enumerate(rows) if r[3] == "zoomwatch.ui.cli" and r[2] == 0)
    begin = max((i for i, r in enumerate(rows[:end]) if r[2] == 0), default=-1) + 1
    entry = lambda rs: [{"module": m, "cumulative_us": c, "self_us": s, "depth": d}  # noqa: E731
                        for s, c, d, m in sorted(rs, key=lambda r: -r[1])[:10]]
    make_file(home.root / "Documents" / "Zoom" / "2024-05-06 14.00.00 Bench 93456789012" / "zoom_0.mp4", MIB)
    once = loaded_by(["run", "--once", "--max-wait", "30"], home, work / "modules-run-once.json")
    if once["code"] != 0:
        raise BenchError(f"run --once exited {once['code']}")
    return {"import_zoomwatch_cli_us": rows[end][1], "top10_cumulative": entry(rows),
            "top10_under_zoomwatch_cli": entry(rows[begin:end + 1]),
            "start_up_imports": [{"module": m, "cumulative_us": c} for _, c, d, m in rows[:begin] if d == 0],
            "version": loaded_by(["--version"], home, work / "modules-version.json"), "run_once": once}


# -- report ---------------------------------------------------------------------------------------

def print_report(r: dict[str, Any]) -> None:
    mb = lambda n: f"{n / MIB:.1f} MiB"  # noqa: E731
    print(f"\nzoomwatch Linux bundle benchmark — {r['machine']['cpus']} cores, Python {r['machine']['python']}, "
          f"zoomwatch {r['machine']['zoomwatch']}, {r['machine']['when']}")
    if b := r.get("build"):
        print(f"\n1. build: {b['archive']} ("
              + (f"built in {b['build_s']:.0f} s, {b['build_warnings']} warnings; run-time hooks: "
                 f"{', '.join(b['runtime_hooks'])})" if "build_s" in b else "reused)"))
    if s := r.get("size"):
        libs = s["top_level_shared_libs"]
        print(f"\n2. size: .tar.gz {mb(s['archive_bytes'])}; unpacked {mb(s['unpacked_apparent_bytes'])} "
              f"({s['unpacked_disk_kib'] / 1024:.1f} MiB on disk), {s['files']} files; {libs['count']} shared "
              f"libraries {mb(libs['bytes'])} (GTK/X11/GLib and friends {mb(libs['gtk_x11_and_friends_bytes'])})")
        for e in s["top_entries"]:
            print(f"   {mb(e['disk_bytes']):>11} on disk {mb(e['bytes']):>11} {e['files']:>6} files  {e['path']}")
        for folder, children in s["inside_biggest_folders"].items():
            print(f"   inside {folder}: " + ", ".join(f"{c['path']} {mb(c['disk_bytes'])}" for c in children))
        print(f"   packages of note: {', '.join(s['python_packages_present'])}; biggest files: "
              + ", ".join(f"{Path(e['path']).name} {mb(e['bytes'])}" for e in s["top_files"][:5]))
    if st := r.get("startup"):
        print(f"\n3. --version wall time, first after evicting the page cache, then median [min-max] of "
              f"{st['next']['bundle']['n']}:")
        for name in ("bundle", "python"):
            n = st["next"][name]
            print(f"   {name:<7} first {st['first_s'][name]:.3f} s, then {n['median']:.3f} s "
                  f"[{n['min']:.3f}-{n['max']:.3f}]")
        print(f"   bundle / python = {st['ratio_bundle_over_python']}")
    if t := r.get("tray"):
        w = t["warm_up_first_client"]
        print(f"\n4. tray (Xvfb, trayer, GTK); untimed first GTK client: RSS {w['idle_rss_mib']} MiB, libLLVM "
              f"{sum(v for k, v in w['top_mappings_mib'].items() if k.startswith('libLLVM')):.1f} MiB")
        for name in ("bundle", "python"):
            x = t[name]
            print(f"   {name:<7} icon window {x['icon_shown_s']:.2f} s, docked {x['icon_window_docked_s']:.2f} s; "
                  f"after {x['idle_s']:.0f} s idle: RSS {x['idle_rss_mib']} MiB (VmHWM {x['vm_hwm_mib']}, anon "
                  f"{x.get('rssanon_mib')}, file {x.get('rssfile_mib')}), CPU {x['idle_cpu_s']} s")
    if im := r.get("imports"):
        print(f"\n5. import zoomwatch.ui.cli: {im['import_zoomwatch_cli_us'] / 1000:.1f} ms; inside it: "
              + ", ".join(f"{e['module']} {e['cumulative_us'] / 1000:.1f} ms"
                          for e in im["top10_under_zoomwatch_cli"][:6]))
        for label, key in (("zoomwatch --version", "version"), ("zoomwatch run --once (local)", "run_once")):
            print(f"   {label}: heavy modules loaded: {', '.join(im[key]['heavy_loaded']) or 'none'}; "
                  f"third-party: {', '.join(im[key]['third_party'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "size,startup,tray,imports", "the same (the build takes most of the time)")
    parser.add_argument("--archive", type=Path, help="use this zoomwatch-*-linux-*.tar.gz instead of building one")
    parser.add_argument("--runs", type=int, default=5, help="--version runs after the first (default 5)")
    parser.add_argument("--idle-seconds", type=float, default=10, help="idle time before the tray's RSS (default 10)")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        parser.error("the Linux bundle is measured on Linux only")
    bench = Bench("bundle", args, {"runs": args.runs, "idle_seconds": args.idle_seconds})
    phases = bench.phases(parser, ("size", "startup", "tray", "imports"))
    built = bench.run("build", phase_build, bench.work, args.archive and args.archive.resolve(), key="")
    if built:
        bench.report["build"], archive, bundle = built
    calls = {"size": lambda: phase_size(archive, bundle),
             "startup": lambda: phase_startup(bench.work, bundle, args.runs),
             "tray": lambda: phase_tray(bench.work, bundle, args.idle_seconds),
             "imports": lambda: phase_imports(bench.work)}
    for phase in phases:
        if built or phase == "imports":  # the imports are python's own
            bench.run(phase, calls[phase])
    return bench.finish(print_report, lambda r: not any(r.get("imports", {}).get(k, {}).get("heavy_loaded")
                                                        for k in ("version", "run_once")))


if __name__ == "__main__":
    sys.exit(main())
