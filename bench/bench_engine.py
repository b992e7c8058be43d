#!/usr/bin/env python3
"""Benchmark of zoomwatch's core engine, run from outside (bench/common.py): the first backup of a tree of
small recordings and the start-up scan of it once backed up (and the files that start opens, by strace),
idle CPU watching it, the latency from a writer's last write to the catalog's verified_at, and copying one
big file beside rclone and cp. See bench/README.md; `--quick` is a fast smoke run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    GIB,
    MIB,
    Bench,
    BenchError,
    Home,
    Proc,
    add_options,
    ensure_tool,
    log,
    psutil,
    rotate,
    startup_scan,
    summarize,
    wait_until,
)

SETTLE_SECONDS = 2.0
OPEN_CALL = re.compile(r'\b(open|openat)\((?:(?P<dirfd>[^,"]+), )?"(?P<path>(?:[^"\\]|\\.)*)"(?:\.\.\.)?, '
                       r'(?P<flags>[A-Z0-9_|]+)')


def instance(base: Path, zoom: Path | None = None) -> tuple[Home, Path, Path]:
    """A zoomwatch watching `zoom` (default base/zoom) and backing up to base/backup: (home, zoom, backup)."""
    zoom, dest = zoom or base / "zoom", base / "backup"
    for folder in (zoom, dest):
        folder.mkdir(parents=True, exist_ok=True)
    home = Home(base / "home", [("watch.folder", str(zoom)), ("destination.local.path", str(dest)),
                                ("watch.settle_seconds", f"{SETTLE_SECONDS:g}")])
    return home, zoom, dest


# -- scan -----------------------------------------------------------------------------------------

def make_tree(root: Path, files: int, per_folder: int = 20) -> int:
    """`files` small recording files in meeting folders named like the Zoom client names them."""
    payload, now, made = os.urandom(16 * 1024), time.time(), 0
    for m in range(-(-files // per_folder)):
        folder = root / (f"2024-{1 + m // 28 % 12:02d}-{1 + m % 28:02d} {m // 60 % 24:02d}.{m % 60:02d}.{m % 7:02d} "
                         f"Topic {m} 8451234{m % 10000:04d}")
        folder.mkdir(parents=True, exist_ok=True)
        start = now - 86400 * (30 + m % 300) - m * 61
        for i in range(min(per_folder, files - made)):
            path = folder / (f"video{i}.mp4", f"audio_only{i}.m4a", f"chat{i}.txt")[i % 3]
            path.write_bytes(payload[(m + i) % 1024:][:2048 + (m * 7 + i * 131) % 6144])
            os.utime(path, (start, start + i))
            made += 1
    return made


def strace_opens(trace: Path, root: Path) -> dict[str, Any]:
    """The open/openat calls on paths under `root`: recording files vs folders (O_DIRECTORY)."""
    prefix = str(root).rstrip("/") + "/"
    files: list[str] = []
    folders = unresolved = total = 0
    for line in trace.read_text(errors="replace").splitlines():
        if not (match := OPEN_CALL.search(line)):
            continue
        total += 1
        path, dirfd = match["path"], (match["dirfd"] or "AT_FDCWD").strip()
        if not path.startswith("/"):
            if dirfd == "AT_FDCWD":
                continue  # relative to the cwd, which is outside the Zoom folder
            if not (fd_path := re.search(r"<(.*)>$", dirfd)):  # strace -y prints 3</some/folder>
                unresolved += 1
                continue
            path = fd_path[1].rstrip("/") + "/" + path
        if (path + "/").startswith(prefix):
            if "O_DIRECTORY" in match["flags"] or os.path.isdir(path):
                folders += 1
            else:
                files.append(path)
    return {"open_calls_traced": total, "recording_file_opens": len(files), "folder_opens": folders,
            "unresolved_relative_opens": unresolved, "file_open_examples": sorted(set(files))[:5]}


def phase_scan(home: Home, zoom: Path, files: int, repeats: int, strace: str) -> dict[str, Any]:
    t0 = time.monotonic()
    made = make_tree(zoom, files)
    make_s = time.monotonic() - t0
    log(f"made {made} files in {make_s:.1f} s; first backup with run --once")
    limit = max(600.0, files * 0.5)
    first = home.run("run", "--once", "--max-wait", f"{limit:.0f}").wait(limit + 120).check()
    counts = home.status()["counts"]
    if counts.get("verified") != made:
        raise BenchError(f"after the first run --once: {counts}, expected {made} verified")

    trace = home.root / "strace.txt"  # the second start under strace: which files does it open?
    run = home.run("run", prefix=(strace, "-f", "-y", "-s", "65535", "-e", "trace=openat,open", "-o", str(trace)))
    strace_at, strace_scan = startup_scan(run)
    child = wait_until(lambda: psutil.Process(run.proc.pid).children(), 30, "zoomwatch under strace")[0]
    child.terminate()  # SIGTERM to zoomwatch, not to strace
    run.wait(60)
    opens = strace_opens(trace, zoom)
    opens.update(strace_start_to_scan_line_s=round(strace_at, 3), strace_scan_reported_s=strace_scan["secs"])
    trace.unlink()

    starts = []
    for _ in range(repeats):
        run = home.run("run")
        at, scan = startup_scan(run)
        t_term = time.monotonic()
        run.signal()
        done = run.wait(60)
        starts.append({"start_to_scan_line_s": round(at, 3), "scan_reported_s": scan["secs"],
                       "files": int(scan["files"]), "unchanged": int(scan["unchanged"]),
                       "to_check": int(scan["to_check"]), "sigterm_to_exit_s": round(time.monotonic() - t_term, 3),
                       "exit_code": done.code})
    return {"files": made, "folders": len(list(zoom.iterdir())), "make_tree_s": round(make_s, 2),
            "first_backup_run_once_s": round(first.wall_s, 2),
            "first_backup_files_per_s": round(made / first.wall_s, 1),
            "starts": starts,
            "start_to_scan_line_s_median": round(statistics.median(s["start_to_scan_line_s"] for s in starts), 3),
            "scan_reported_s_median": round(statistics.median(s["scan_reported_s"] for s in starts), 3),
            "strace": opens}


# -- idle -----------------------------------------------------------------------------------------

def phase_idle(home: Home, seconds: float) -> dict[str, Any]:
    run = home.run("run")
    startup_scan(run)
    proc = psutil.Process(run.proc.pid)
    c0, x0, t0 = proc.cpu_times(), proc.num_ctx_switches(), time.monotonic()
    while time.monotonic() < t0 + seconds and run.alive():
        time.sleep(min(0.5, max(0.0, t0 + seconds - time.monotonic())))
    c1, x1, window = proc.cpu_times(), proc.num_ctx_switches(), time.monotonic() - t0
    rss, threads = proc.memory_info().rss, proc.num_threads()
    run.signal()
    run.wait(60)
    user, system = c1.user - c0.user, c1.system - c0.system
    return {"window_s": round(window, 2), "cpu_s": round(user + system, 3), "user_s": round(user, 3),
            "system_s": round(system, 3), "percent_of_one_core": round(100 * (user + system) / window, 3),
            "voluntary_ctx_switches_per_s": round((x1.voluntary - x0.voluntary) / window, 1),
            "rss_mib": round(rss / MIB, 1), "threads": threads}


# -- latency --------------------------------------------------------------------------------------

def phase_latency(home: Home, zoom: Path, dest: Path, runs: int, size_mib: int = 20, chunks: int = 4) -> dict[str, Any]:
    """Each file's verified_at in the catalog (read-only) against the time of its last write."""
    run = home.run("run")
    startup_scan(run)
    catalog = home.catalog()
    dest_id = catalog.rows()[0].dest
    chunk, samples = os.urandom(size_mib * MIB // chunks), []
    for n in range(runs):
        path = zoom / f"2030-01-{n + 1:02d} 09.00.00 Latency test {n} 8459999{n:04d}" / f"video{n}.mp4"
        path.parent.mkdir()
        with open(path, "wb") as handle:
            for _ in range(chunks):
                handle.write(chunk)
                handle.flush()
                time.sleep(0.1)
        t_last_write = time.time()
        row = wait_until(lambda p=path: run.alive() and (r := catalog.current(dest_id, p)) and r.state == "verified"
                         and r, SETTLE_SECONDS + 120, f"{path} verified in the catalog", 0.05)
        st = (dest / row.remote_key).stat()
        if st.st_size != size_mib * MIB:
            raise BenchError(f"{dest / row.remote_key} is {st.st_size} bytes, expected {size_mib * MIB}")
        samples.append({"latency_minus_settle_s": round(row.verified_at - t_last_write - SETTLE_SECONDS, 3),
                        # the backup's final name appears by rename (ctime), before the read-back check
                        "renamed_minus_settle_s": round(st.st_ctime - t_last_write - SETTLE_SECONDS, 3)})
        time.sleep(1.0)  # let the meeting.json sidecar be written before the next folder appears
    home.close()
    run.signal()
    run.wait(60)
    lat, ren = ([s[k] for s in samples] for k in ("latency_minus_settle_s", "renamed_minus_settle_s"))
    return {"settle_seconds": SETTLE_SECONDS, "file_mib": size_mib, "runs": samples,
            "median_s": round(statistics.median(lat), 3), "max_s": round(max(lat), 3),
            "renamed_median_s": round(statistics.median(ren), 3), "renamed_max_s": round(max(ren), 3)}


# -- big ------------------------------------------------------------------------------------------

def phase_big(work: Path, gib: float, repeats: int, rclone: str, timeout: float) -> dict[str, Any]:
    """Each tool alternated, after `sync` (no dirty pages left by the previous one); peak RSS from GNU time
    (`/usr/bin/time`, when there; its own fork is small, unlike this process), the polled tree RSS beside it."""
    size, base = int(gib * GIB), work / f"big-{gib:g}"
    src = base / "zoom" / "big recording.mp4"
    src.parent.mkdir(parents=True)
    block = os.urandom(8 * MIB)
    with open(src, "wb") as handle:
        for offset in range(0, size, len(block)):
            handle.write(block[:size - offset])
    os.utime(src, (time.time() - 3600, time.time() - 3600))
    rclone_env = dict(os.environ, HOME=str(base), XDG_CONFIG_HOME=str(base / ".config"),
                      XDG_CACHE_HOME=str(base / ".cache"))
    tools = ["zoomwatch", "rclone", "cp", "cp+sync"]
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
    for rep in range(repeats):
        for tool in rotate(tools, rep):
            out = base / f"{tool}-{rep}"
            out.mkdir()
            copy = str(out / "copy.mp4")
            os.sync()
            report = base / "time.txt"
            gnu_time = ("/usr/bin/time", "-f", "%M", "-o", str(report)) if Path("/usr/bin/time").exists() else ()
            if tool == "zoomwatch":
                home, _, out = instance(out, zoom=src.parent)
                proc = home.run("run", "--once", "--max-wait", f"{timeout:.0f}", prefix=gnu_time)
            else:
                argv = {"rclone": [rclone, "copyto", str(src), copy], "cp": ["cp", str(src), copy],
                        "cp+sync": ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", str(src), copy]}[tool]
                proc = Proc([*gnu_time, *argv], env=rclone_env, cwd=out)
            done = proc.wait(timeout).check()
            peak = int(report.read_text().split()[-1]) * 1024 if gnu_time else done.peak_rss
            copies = [p.stat().st_size for p in out.rglob("*.mp4")]
            if copies != [size]:
                raise BenchError(f"{tool}: expected one {size}-byte copy in {out}, found {copies}")
            runs[tool].append({"wall_s": round(done.wall_s, 3), "mib_per_s": round(size / MIB / done.wall_s, 1),
                               "peak_rss_mib": round(peak / MIB, 1),
                               "polled_peak_rss_mib": round(done.peak_rss / MIB, 1)})
            shutil.rmtree(out.parent if tool == "zoomwatch" else out)
    src.unlink()
    out_tools = {tool: {f"{k}_median": summarize(r[k] for r in rs)["median"] for k in rs[0]} | {"runs": rs}
                 for tool, rs in runs.items()}
    zw, rc = out_tools["zoomwatch"], out_tools["rclone"]
    return {"gib": gib, "bytes": size, "repeats": repeats, "peak_rss_source": "GNU time %M",
            "tools": out_tools,
            "zoomwatch_over_rclone": {"time": round(zw["wall_s_median"] / rc["wall_s_median"], 2),
                                      "peak_rss": round(zw["peak_rss_mib_median"] / rc["peak_rss_mib_median"], 2)}}


# -- report ---------------------------------------------------------------------------------------

def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\nzoomwatch engine benchmark — {m['cpus']} CPUs, {m['memory_gib']} GiB, Python {m['python']}, "
          f"zoomwatch {m['zoomwatch']} at {m.get('commit', '?')}, {m['when']}")
    if s := r.get("startup_scan"):
        t = s["strace"]
        print(f"\n1. start-up scan of {s['files']} already backed-up files in {s['folders']} meeting folders "
              f"(first backup with run --once: {s['first_backup_run_once_s']:.1f} s, "
              f"{s['first_backup_files_per_s']:.0f} files/s)")
        print(f"   process start -> scan done: {s['start_to_scan_line_s_median']:.2f} s median of {len(s['starts'])}; "
              f"the scan itself {s['scan_reported_s_median']:.2f} s; SIGTERM -> exit "
              f"{', '.join(str(x['sigterm_to_exit_s']) for x in s['starts'])} s")
        print(f"   recording files opened by the second start (strace): {t['recording_file_opens']} -> "
              f"{'OK' if t['recording_file_opens'] == 0 else 'FAIL (must be 0)'} [folder opens {t['folder_opens']}, "
              f"unresolved {t['unresolved_relative_opens']}]")
    if i := r.get("idle"):
        print(f"\n2. idle CPU watching that tree for {i['window_s']:.0f} s: {i['percent_of_one_core']:.3f} % of one "
              f"core ({i['cpu_s']:.2f} s CPU; {i['voluntary_ctx_switches_per_s']} wake-ups/s); RSS {i['rss_mib']} MiB; "
              f"{i['threads']} threads")
    if la := r.get("latency"):
        print(f"\n3. latency, last write -> verified (catalog), minus settle {la['settle_seconds']:g} s "
              f"({la['file_mib']} MB file, {len(la['runs'])} runs): median {la['median_s']:.3f} s, max "
              f"{la['max_s']:.3f} s; final name in the backup folder: median {la['renamed_median_s']:.3f} s")
    for b in r.get("big_copy", []):
        print(f"\n4. copying one {b['gib']:g} GiB file (median of {b['repeats']}, tools alternated):")
        for tool, t in b["tools"].items():
            print(f"   {tool:<10} {t['wall_s_median']:>7.2f} s {t['mib_per_s_median']:>7.0f} MiB/s "
                  f"peak RSS {t['peak_rss_mib_median']:>6.1f} MiB (polled {t['polled_peak_rss_mib_median']:.1f})")
        q = b["zoomwatch_over_rclone"]
        print(f"   zoomwatch / rclone: time x{q['time']}, peak RSS x{q['peak_rss']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "scan,idle,latency,big", "1,000 files, idle 10 s, big file 0.25 GiB, 1 repeat, 3 latency runs")
    parser.add_argument("--files", type=int, help="files in the start-up scan tree (default 10000)")
    parser.add_argument("--idle-seconds", type=float, help="idle CPU window (default 60)")
    parser.add_argument("--big-gib", type=float, help="size of the big file (default 2)")
    parser.add_argument("--small-gib", type=float, help="second, smaller size (default 0.25; 0 = skip)")
    parser.add_argument("--repeats", type=int, help="big-file runs per tool (default 3)")
    parser.add_argument("--latency-runs", type=int, help="latency samples (default 5)")
    parser.add_argument("--scan-repeats", type=int, help="timed second starts (default 3)")
    args = parser.parse_args()
    q = args.quick
    files = args.files or (1000 if q else 10000)
    sizes = [args.big_gib or (0.25 if q else 2.0)]
    small = args.small_gib if args.small_gib is not None else (0.0 if q else 0.25)
    sizes += [small] if small and small not in sizes else []
    bench = Bench("engine", args, {"files": files, "big_gib": sizes, "settle_seconds": SETTLE_SECONDS})
    phases = bench.phases(parser, ("scan", "idle", "latency", "big"))
    if {"idle", "latency"} & set(phases) and "scan" not in phases:
        parser.error("the idle and latency phases run on the scan phase's tree: add scan")
    try:
        if "scan" in phases:
            home, zoom, dest = instance(bench.work / "tree")
            bench.run("scan", phase_scan, home, zoom, files, args.scan_repeats or (1 if q else 3),
                      ensure_tool("strace", "strace"), key="startup_scan")
            if "idle" in phases and "startup_scan" in bench.report:
                bench.run("idle", phase_idle, home, args.idle_seconds or (10.0 if q else 60.0))
            if "latency" in phases and "startup_scan" in bench.report:
                bench.run("latency", phase_latency, home, zoom, dest, args.latency_runs or (3 if q else 5))
        if "big" in phases:
            rclone, bench.report["big_copy"] = ensure_tool("rclone", "rclone"), []
            for gib in sizes:
                if shutil.disk_usage(bench.work).free < gib * GIB * 2.5:
                    raise BenchError(f"not enough free space in {bench.work} for a {gib:g} GiB file and its copy")
                if found := bench.run("big", phase_big, bench.work, gib, args.repeats or (1 if q else 3), rclone,
                                      args.timeout, key=""):
                    bench.report["big_copy"].append(found)
    except BenchError as exc:
        bench.failed("setup", exc)
    return bench.finish(print_report, lambda r: "startup_scan" not in r
                        or r["startup_scan"]["strace"]["recording_file_opens"] == 0)


if __name__ == "__main__":
    sys.exit(main())
