#!/usr/bin/env python3
"""End-to-end benchmark of zoomwatch, driven from outside like a user would run it.

Every zoomwatch process runs as `python -m zoomwatch ...` with HOME and the XDG_* variables pointing
into a temporary folder, so nothing of the real user is read or written. Phases:

1. start-up scan: a tree of N already backed-up files (default 10,000 = 500 meeting folders x 20);
   time from process start to the "start-up scan" log line, and the number of recording files the
   second start OPENED (strace; must be 0).
2. idle CPU of `zoomwatch run` watching that tree.
3. latency from a writer's last write to the verified backup, settle time subtracted.
4. peak memory and speed while copying one big file, beside `rclone copyto` and `cp`.

Run `python bench/bench_engine.py --help`; `--quick` is a fast smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    GIB,
    MIB,
    BenchError,
    add_output_options,
    ensure_tool,
    home_env,
    kill_group,
    kill_started,
    log,
    make_home,
    make_workdir,
    psutil,
    remove_workdir,
    rss_sum,
    run_zoomwatch,
    start,
    write_figures,
    zoomwatch_argv,
)

SCAN_RE = re.compile(
    r"start-up scan of (?P<root>.*): (?P<files>\d+) files, (?P<unchanged>\d+) already backed up, "
    r"(?P<to_check>\d+) to check \((?P<secs>[0-9.]+) s\)"
)
VERIFIED_RE = re.compile(r"backed up and verified: (?P<src>.*) -> (?P<key>.*)$")
SETTLE_SECONDS = 2.0


# -- an isolated zoomwatch ------------------------------------------------------------------------

@dataclass
class Instance:
    """One isolated zoomwatch configuration: its own HOME/XDG dirs, Zoom folder and backup folder."""

    home: Path
    zoom: Path
    dest: Path
    cwd: Path

    @classmethod
    def create(cls, base: Path, zoom: Path | None = None) -> Instance:
        home = make_home(base / "home")
        zoom = zoom or base / "zoom"
        zoom.mkdir(parents=True, exist_ok=True)
        dest = base / "backup"
        dest.mkdir(parents=True, exist_ok=True)
        inst = cls(home, zoom, dest, base)
        inst.zw("config", "set", "watch.folder", str(zoom))
        inst.zw("config", "set", "destination.local.path", str(dest))
        inst.zw("config", "set", "watch.settle_seconds", f"{SETTLE_SECONDS:g}")
        return inst

    @property
    def env(self) -> dict[str, str]:
        return home_env(self.home, PYTHONUNBUFFERED="1")

    def argv(self, *args: str) -> list[str]:
        return zoomwatch_argv(*args)

    def zw(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run_zoomwatch(*args, env=self.env, cwd=self.cwd, timeout=timeout)

    def status(self) -> dict[str, Any]:
        return json.loads(self.zw("status", "--json").stdout)

    def start(self, prefix: list[str] | None = None) -> Running:
        return Running.start((prefix or []) + self.argv("run"), env=self.env, cwd=self.cwd)


class Running:
    """A `zoomwatch run` in the background whose stderr is tailed line by line, with arrival times."""

    def __init__(self, proc: subprocess.Popen[bytes], t_start: float) -> None:
        self.proc = proc
        self.t_start = t_start  # time.monotonic() just before Popen
        self.lines: list[tuple[float, float, str]] = []  # (monotonic, wall clock, text)
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, argv: list[str], *, env: dict[str, str], cwd: Path) -> Running:
        t_start = time.monotonic()
        proc = start(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE)
        return cls(proc, t_start)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            now, wall = time.monotonic(), time.time()
            with self._cond:
                self.lines.append((now, wall, raw.decode("utf-8", "replace").rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float, *, since: int = 0,
                 check: Any = None) -> tuple[int, float, float, re.Match[str]]:
        """The first line from index `since` matching `pattern` (and `check(match)`): index, times, match."""
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self.lines):
                    mono, wall, text = self.lines[index]
                    match = pattern.search(text)
                    if match and (check is None or check(match)):
                        return index, mono, wall, match
                    index += 1
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise BenchError(f"zoomwatch exited ({self.proc.returncode}) before {pattern.pattern!r}; "
                                     f"last lines:\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"timed out after {timeout:.0f} s waiting for {pattern.pattern!r}; "
                                     f"last lines:\n{self.tail()}")
                self._cond.wait(min(left, 0.5))

    def tail(self, n: int = 15) -> str:
        return "\n".join(text for _, _, text in self.lines[-n:])

    def stop(self, pid: int | None = None, timeout: float = 60) -> float:
        """SIGTERM (to `pid`, default the process itself) and wait; returns seconds to exit."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            try:
                os.kill(pid or self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
                raise BenchError(f"zoomwatch did not exit within {timeout:.0f} s of SIGTERM") from None
        self._reader.join(10)
        return time.monotonic() - t0


# -- phase 1: the tree and the start-up scan ------------------------------------------------------

def make_tree(root: Path, files: int, per_folder: int = 20) -> int:
    """`files` small recording files in meeting folders named like the Zoom client names them."""
    now = time.time()
    folders = max(1, (files + per_folder - 1) // per_folder)
    made = 0
    payload = os.urandom(16 * 1024)
    for m in range(folders):
        day = 1 + m % 28
        start = now - 86400 * (30 + m % 300) - m * 61
        folder = root / (f"2024-{1 + m // 28 % 12:02d}-{day:02d} {m // 60 % 24:02d}.{m % 60:02d}.{m % 7:02d} "
                         f"Topic {m} 8451234{m % 10000:04d}")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_folder):
            if made == files:
                break
            name = (f"video{i}.mp4", f"audio_only{i}.m4a", f"chat{i}.txt")[i % 3]
            path = folder / name
            size = 2048 + (m * 7 + i * 131) % 6144
            with open(path, "wb") as handle:
                handle.write(payload[(m + i) % 1024:][:size])
            os.utime(path, (start, start + i))
            made += 1
    return made


def strace_opens(trace: Path, root: Path) -> dict[str, Any]:
    """Count openat/open calls on paths under `root`: files vs folders (O_DIRECTORY)."""
    call = re.compile(r'\b(open|openat)\((?:(?P<dirfd>[^,"]+), )?"(?P<path>(?:[^"\\]|\\.)*)"(?:\.\.\.)?, '
                      r'(?P<flags>[A-Z0-9_|]+)')
    prefix = str(root).rstrip("/") + "/"
    file_opens: list[str] = []
    dir_opens = unresolved = total = 0
    with open(trace, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = call.search(line)
            if not match:
                continue
            total += 1
            path = match["path"]
            dirfd = (match["dirfd"] or "AT_FDCWD").strip()
            if not path.startswith("/"):
                fd_path = re.search(r"<(.*)>$", dirfd)  # strace -y prints 3</some/folder>
                if dirfd == "AT_FDCWD":
                    continue  # relative to the cwd, which is outside the Zoom folder
                if not fd_path:
                    unresolved += 1
                    continue
                path = fd_path.group(1).rstrip("/") + "/" + path
            if not (path + "/").startswith(prefix):
                continue
            if "O_DIRECTORY" in match["flags"] or os.path.isdir(path):
                dir_opens += 1
            else:
                file_opens.append(path)
    return {"open_calls_traced": total, "recording_file_opens": len(file_opens),
            "folder_opens": dir_opens, "unresolved_relative_opens": unresolved,
            "file_open_examples": sorted(set(file_opens))[:5]}


def phase_scan(inst: Instance, files: int, scan_repeats: int, strace: str) -> dict[str, Any]:
    log(f"phase 1: making {files} files in {inst.zoom}")
    t0 = time.monotonic()
    made = make_tree(inst.zoom, files)
    make_s = time.monotonic() - t0
    log(f"  made {made} files in {make_s:.1f} s; first backup with `run --once`")
    t0 = time.monotonic()
    once_timeout = max(600.0, files * 0.5)
    result = subprocess.run(inst.argv("run", "--once", "--max-wait", f"{once_timeout:.0f}"), env=inst.env,
                            cwd=inst.cwd, capture_output=True, text=True, timeout=once_timeout + 120)
    first_s = time.monotonic() - t0
    if result.returncode != 0:
        raise BenchError(f"first run --once exited {result.returncode}: {result.stdout[-1000:]}"
                         f"{result.stderr[-2000:]}")
    counts = inst.status()["counts"]
    if counts.get("verified") != made:
        raise BenchError(f"after the first run --once: {counts}, expected {made} verified")
    log(f"  first backup of {made} files: {first_s:.1f} s ({made / first_s:.0f} files/s)")

    # the second start, under strace: which files does it open?
    trace = inst.cwd / "strace.txt"
    log("  second start under strace")
    run = inst.start([strace, "-f", "-y", "-s", "65535", "-e", "trace=openat,open", "-o", str(trace)])
    try:
        _, mono, _, match = run.wait_for(SCAN_RE, timeout=300)
        strace_to_line = mono - run.t_start
        child = _zoomwatch_child(run.proc.pid)
        run.stop(pid=child)
    finally:
        kill_group(run.proc)
    opens = strace_opens(trace, inst.zoom)
    opens.update(strace_start_to_scan_line_s=round(strace_to_line, 3),
                 strace_scan_reported_s=float(match["secs"]))
    log(f"  strace: {opens['recording_file_opens']} recording files opened, "
        f"{opens['folder_opens']} folder opens (sanity: the scan reads every folder)")
    trace.unlink(missing_ok=True)

    # plain starts for the timing
    starts = []
    for n in range(scan_repeats):
        run = inst.start()
        try:
            _, mono, _, match = run.wait_for(SCAN_RE, timeout=300)
            to_line = mono - run.t_start
            stop_s = run.stop()
        finally:
            kill_group(run.proc)
        starts.append({"start_to_scan_line_s": round(to_line, 3), "scan_reported_s": float(match["secs"]),
                       "files": int(match["files"]), "unchanged": int(match["unchanged"]),
                       "to_check": int(match["to_check"]), "sigterm_to_exit_s": round(stop_s, 3),
                       "exit_code": run.proc.returncode})
        log(f"  start {n + 1}: scan line after {to_line:.2f} s (scan itself {match['secs']} s), "
            f"{match['unchanged']}/{match['files']} already backed up; exit {stop_s:.2f} s after SIGTERM")
    return {
        "files": made, "folders": len(list(inst.zoom.iterdir())),
        "make_tree_s": round(make_s, 2),
        "first_backup_run_once_s": round(first_s, 2),
        "first_backup_files_per_s": round(made / first_s, 1),
        "starts": starts,
        "start_to_scan_line_s_median": round(statistics.median(s["start_to_scan_line_s"] for s in starts), 3),
        "scan_reported_s_median": round(statistics.median(s["scan_reported_s"] for s in starts), 3),
        "strace": opens,
    }


def _zoomwatch_child(strace_pid: int, timeout: float = 30) -> int:
    """The python process that strace started (SIGTERM goes to it, not to strace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for child in psutil.Process(strace_pid).children():
                return child.pid
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    raise BenchError("could not find the zoomwatch process under strace")


# -- phase 2: idle CPU ----------------------------------------------------------------------------

def phase_idle(inst: Instance, seconds: float) -> dict[str, Any]:
    log(f"phase 2: idle CPU of `zoomwatch run` over {seconds:g} s")
    run = inst.start()
    try:
        index, _, _, _ = run.wait_for(SCAN_RE, timeout=300)
        proc = psutil.Process(run.proc.pid)
        t0 = time.monotonic()
        c0 = proc.cpu_times()
        ctx0 = proc.num_ctx_switches()
        # sleep in small steps so a dying zoomwatch is noticed
        deadline = t0 + seconds
        while time.monotonic() < deadline:
            if run.proc.poll() is not None:
                raise BenchError(f"zoomwatch exited during the idle window:\n{run.tail()}")
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        c1 = proc.cpu_times()
        ctx1 = proc.num_ctx_switches()
        window = time.monotonic() - t0
        rss = proc.memory_info().rss
        threads = proc.num_threads()
        lines_in_window = len(run.lines) - index - 1
        run.stop()
    finally:
        kill_group(run.proc)
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    out = {
        "window_s": round(window, 2), "cpu_s": round(cpu, 3),
        "user_s": round(c1.user - c0.user, 3), "system_s": round(c1.system - c0.system, 3),
        "percent_of_one_core": round(100 * cpu / window, 3),
        "voluntary_ctx_switches_per_s": round((ctx1.voluntary - ctx0.voluntary) / window, 1),
        "rss_mib": round(rss / MIB, 1), "threads": threads, "log_lines_during_window": lines_in_window,
    }
    log(f"  {out['percent_of_one_core']:.3f} % of one core ({cpu:.2f} s CPU in {window:.1f} s), "
        f"RSS {out['rss_mib']} MiB, {threads} threads")
    return out


# -- phase 3: latency -----------------------------------------------------------------------------

def phase_latency(inst: Instance, runs: int, size_mib: int = 20, chunks: int = 4) -> dict[str, Any]:
    log(f"phase 3: latency, {runs} x {size_mib} MB file into a new meeting folder (settle {SETTLE_SECONDS:g} s)")
    run = inst.start()
    samples = []
    try:
        index, _, _, _ = run.wait_for(SCAN_RE, timeout=300)
        chunk = os.urandom(size_mib * MIB // chunks)
        for n in range(runs):
            folder = inst.zoom / f"2030-01-{n + 1:02d} 09.00.00 Latency test {n} 8459999{n:04d}"
            folder.mkdir()
            path = folder / f"video{n}.mp4"
            with open(path, "wb") as handle:
                for _ in range(chunks):
                    handle.write(chunk)
                    handle.flush()
                    time.sleep(0.1)
            t_last_write = time.time()
            src = str(path)
            index, _, t_verified, match = run.wait_for(
                VERIFIED_RE, timeout=SETTLE_SECONDS + 120, since=index, check=lambda m, src=src: m["src"] == src)
            target = inst.dest / match["key"]
            st = target.stat()
            if st.st_size != size_mib * MIB:
                raise BenchError(f"{target} is {st.st_size} bytes, expected {size_mib * MIB}")
            sample = {
                "latency_minus_settle_s": round(t_verified - t_last_write - SETTLE_SECONDS, 3),
                # the backup's final name appears by rename (ctime), before the read-back check
                "renamed_minus_settle_s": round(st.st_ctime - t_last_write - SETTLE_SECONDS, 3),
            }
            samples.append(sample)
            log(f"  {n + 1}: verified {sample['latency_minus_settle_s']:.3f} s after last write + settle "
                f"(final name at {sample['renamed_minus_settle_s']:.3f} s)")
            time.sleep(1.0)  # let the meeting.json sidecar be written before the next folder appears
        run.stop()
    finally:
        kill_group(run.proc)
    lat = [s["latency_minus_settle_s"] for s in samples]
    ren = [s["renamed_minus_settle_s"] for s in samples]
    return {"settle_seconds": SETTLE_SECONDS, "file_mib": size_mib, "runs": samples,
            "median_s": round(statistics.median(lat), 3), "max_s": round(max(lat), 3),
            "renamed_median_s": round(statistics.median(ren), 3), "renamed_max_s": round(max(ren), 3)}


# -- phase 4: one big file ------------------------------------------------------------------------

def make_big(path: Path, size: int) -> None:
    block = os.urandom(8 * MIB)
    with open(path, "wb") as handle:
        left = size
        while left:
            n = min(left, len(block))
            handle.write(block[:n])
            left -= n
    past = time.time() - 3600
    os.utime(path, (past, past))


@dataclass
class Measured:
    wall_s: float
    peak_rss_mib: float
    peak_rss_source: str
    polled_peak_rss_mib: float
    exit_code: int
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def run_measured(argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> Measured:
    """Run argv to the end: wall time, peak RSS (GNU time -v if present, else psutil polling every 50 ms
    of the process tree); both are recorded when GNU time is there."""
    gnu_time = Path("/usr/bin/time")
    report = cwd / "time-v.txt"
    use_time = gnu_time.exists()
    full = [str(gnu_time), "-v", "-o", str(report), *argv] if use_time else argv
    peak = 0
    t0 = time.monotonic()
    proc = start(full, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        top = psutil.Process(proc.pid)
        deadline = t0 + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise BenchError(f"{argv[0]} did not finish within {timeout:.0f} s")
            try:
                members = [top] + top.children(recursive=True)
                if use_time:
                    members = members[1:]  # not GNU time itself
                peak = max(peak, rss_sum(members))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.05)
        wall = time.monotonic() - t0
    finally:
        kill_group(proc)
    reader.join(10)
    tail = b"".join(output).decode("utf-8", "replace")[-1500:]
    source, peak_mib = "psutil poll every 50 ms", peak / MIB
    if use_time:
        text = report.read_text(errors="replace") if report.exists() else ""
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        if found:
            source, peak_mib = "GNU time -v", int(found.group(1)) / 1024
        report.unlink(missing_ok=True)
    return Measured(wall, peak_mib, source, peak / MIB, proc.returncode, tail)


def phase_big(work: Path, gib: float, repeats: int, rclone: str) -> dict[str, Any]:
    size = int(gib * GIB)
    base = work / f"big-{gib:g}"
    src_dir = base / "zoom"
    src_dir.mkdir(parents=True)
    src = src_dir / "big recording.mp4"
    log(f"phase 4: {gib:g} GiB file: writing it")
    make_big(src, size)
    os.sync()
    rclone_home = base / "rclone-home"
    rclone_home.mkdir()
    rclone_env = dict(os.environ, HOME=str(rclone_home), XDG_CONFIG_HOME=str(rclone_home / ".config"),
                      XDG_CACHE_HOME=str(rclone_home / ".cache"))
    timeout = 120 + 60 * gib * 4
    tools = ["zoomwatch", "rclone", "cp", "cp+sync"]
    results: dict[str, list[Measured]] = {t: [] for t in tools}
    for rep in range(repeats):
        order = tools[rep % len(tools):] + tools[:rep % len(tools)]  # alternate who goes first
        for tool in order:
            run_dir = base / f"{tool}-{rep}"
            run_dir.mkdir()
            if tool == "zoomwatch":
                inst = Instance.create(run_dir, zoom=src_dir)
                argv = inst.argv("run", "--once", "--max-wait", f"{timeout:.0f}")
                env, check_dir = inst.env, inst.dest
            elif tool == "rclone":
                argv = ["env", "-u", "AWS_CA_BUNDLE", rclone, "copyto", str(src), str(run_dir / "copy.mp4")]
                env, check_dir = rclone_env, run_dir
            elif tool == "cp":
                argv = ["cp", str(src), str(run_dir / "copy.mp4")]
                env, check_dir = dict(os.environ), run_dir
            else:  # cp, then fsync the copy (zoomwatch fsyncs; plain cp leaves dirty pages behind)
                argv = ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", str(src), str(run_dir / "copy.mp4")]
                env, check_dir = dict(os.environ), run_dir
            os.sync()  # start each tool with no dirty pages left by the previous one
            m = run_measured(argv, env=env, cwd=run_dir, timeout=timeout)
            if m.exit_code != 0:
                raise BenchError(f"{tool} exited {m.exit_code}: {m.stderr_tail}")
            copies = [p for p in check_dir.rglob("*.mp4") if p.is_file()]
            if len(copies) != 1 or copies[0].stat().st_size != size:
                raise BenchError(f"{tool}: expected one {size}-byte copy in {check_dir}, found "
                                 f"{[(str(p), p.stat().st_size) for p in copies]}")
            m.extra["mib_per_s"] = size / MIB / m.wall_s
            results[tool].append(m)
            log(f"  {tool:<10} rep {rep + 1}: {m.wall_s:6.2f} s, {m.extra['mib_per_s']:7.0f} MiB/s, "
                f"peak RSS {m.peak_rss_mib:6.1f} MiB ({m.peak_rss_source}; polled {m.polled_peak_rss_mib:.1f})")
            shutil.rmtree(run_dir)
    src.unlink()
    out: dict[str, Any] = {"gib": gib, "bytes": size, "repeats": repeats, "tools": {}}
    for tool, ms in results.items():
        out["tools"][tool] = {
            "wall_s_median": round(statistics.median(m.wall_s for m in ms), 3),
            "mib_per_s_median": round(statistics.median(m.extra["mib_per_s"] for m in ms), 1),
            "peak_rss_mib_median": round(statistics.median(m.peak_rss_mib for m in ms), 1),
            "peak_rss_source": ms[0].peak_rss_source,
            "polled_peak_rss_mib_median": round(statistics.median(m.polled_peak_rss_mib for m in ms), 1),
            "runs": [{"wall_s": round(m.wall_s, 3), "peak_rss_mib": round(m.peak_rss_mib, 1),
                      "polled_peak_rss_mib": round(m.polled_peak_rss_mib, 1)} for m in ms],
        }
    zw, rc = out["tools"]["zoomwatch"], out["tools"]["rclone"]
    out["zoomwatch_over_rclone"] = {"time": round(zw["wall_s_median"] / rc["wall_s_median"], 2),
                                    "peak_rss": round(zw["peak_rss_mib_median"] / rc["peak_rss_mib_median"], 2)}
    return out


# -- report ---------------------------------------------------------------------------------------

def print_report(r: dict[str, Any]) -> None:
    p = print
    p("")
    p(f"zoomwatch benchmark ({r['meta']['mode']}; Python {r['meta']['python']}, {r['meta']['cpus']} CPUs, "
      f"{r['meta']['mem_gib']} GiB RAM, work dir on {r['meta']['workdir_fs']})")
    zw = r["meta"].get("zoomwatch", {})
    if zw:
        p(f"zoomwatch {zw.get('version', '?')} at commit {zw.get('commit', '?')}"
          + (f" with {zw['local_edits_in_zoomwatch']} locally edited file(s) in zoomwatch/"
             if zw.get("local_edits_in_zoomwatch") else ""))
    if "startup_scan" in r:
        s = r["startup_scan"]
        p(f"\n1. start-up scan of {s['files']} already backed-up files in {s['folders']} meeting folders")
        p(f"   (first backup of them with run --once: {s['first_backup_run_once_s']:.1f} s, "
          f"{s['first_backup_files_per_s']:.0f} files/s)")
        p(f"   process start -> scan line: {s['start_to_scan_line_s_median']:.2f} s median of {len(s['starts'])} "
          f"({', '.join(str(x['start_to_scan_line_s']) for x in s['starts'])})")
        p(f"   scan time the line reports:  {s['scan_reported_s_median']:.2f} s median")
        p(f"   SIGTERM -> exit:             {', '.join(str(x['sigterm_to_exit_s']) for x in s['starts'])} s")
        t = s["strace"]
        verdict = "OK" if t["recording_file_opens"] == 0 else "FAIL (must be 0)"
        p(f"   recording files opened by the second start (strace): {t['recording_file_opens']} -> {verdict}"
          f"   [folder opens {t['folder_opens']}, unresolved {t['unresolved_relative_opens']}; "
          f"under strace the scan line came after {t['strace_start_to_scan_line_s']:.2f} s]")
    if "idle" in r:
        i = r["idle"]
        p(f"\n2. idle CPU watching that tree for {i['window_s']:.0f} s: {i['percent_of_one_core']:.3f} % of one core "
          f"({i['cpu_s']:.2f} s CPU: user {i['user_s']:.2f}, system {i['system_s']:.2f}; "
          f"{i['voluntary_ctx_switches_per_s']} wake-ups/s; RSS {i['rss_mib']} MiB; {i['threads']} threads; "
          f"{i['log_lines_during_window']} log lines)")
    if "latency" in r:
        la = r["latency"]
        p(f"\n3. latency, last write -> 'backed up and verified' log line, minus settle {la['settle_seconds']:g} s "
          f"({la['file_mib']} MB file, new meeting folder, {len(la['runs'])} runs):")
        p(f"   median {la['median_s']:.3f} s, max {la['max_s']:.3f} s   "
          f"(all: {', '.join(str(x['latency_minus_settle_s']) for x in la['runs'])})")
        p(f"   final name in the backup folder (rename, before read-back): median {la['renamed_median_s']:.3f} s, "
          f"max {la['renamed_max_s']:.3f} s")
    for b in r.get("big_copy", []):
        p(f"\n4. copying one {b['gib']:g} GiB file (median of {b['repeats']}, tools alternated; "
          f"source in page cache, each tool starts after sync):")
        p(f"   {'tool':<10} {'wall s':>8} {'(min-max)':>13} {'MiB/s':>8} {'peak RSS MiB':>13}")
        for tool, t in b["tools"].items():
            walls = [x["wall_s"] for x in t["runs"]]
            spread = f"({min(walls):.2f}-{max(walls):.2f})"
            p(f"   {tool:<10} {t['wall_s_median']:>8.2f} {spread:>13} {t['mib_per_s_median']:>8.0f} "
              f"{t['peak_rss_mib_median']:>13.1f}")
        q = b["zoomwatch_over_rclone"]
        p(f"   zoomwatch/rclone: time x{q['time']}, peak RSS x{q['peak_rss']}  "
          f"(peak RSS from {b['tools']['zoomwatch']['peak_rss_source']})")
    if r.get("big_copy"):
        p("   note: zoomwatch does more work than a plain copy: sha256 while copying, fsync of the file and "
          "its folder,\n   a read-back sha256 of the stored copy, catalog transactions (SQLite, synchronous=FULL) "
          "and the meeting.json sidecar;\n   its wall time also includes Python start-up, the config load and "
          "the settle check. rclone (local->local) checks a hash too.\n   cp+sync = cp, then fsync of the "
          "copy (sync FILE), the nearest plain-tool equivalent of zoomwatch's durability.")
    for note in r.get("notes", []):
        p(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1,000 files, idle 10 s, big file 0.25 GiB, 1 repeat, 3 latency runs")
    parser.add_argument("--files", type=int, help="files in the start-up scan tree (default 10000)")
    parser.add_argument("--idle-seconds", type=float, help="idle CPU window (default 60)")
    parser.add_argument("--big-gib", type=float, help="size of the big file (default 2)")
    parser.add_argument("--small-gib", type=float,
                        help="second, smaller size, to show memory does not grow with size (default 0.25; 0 = skip)")
    parser.add_argument("--repeats", type=int, help="big-file runs per tool (default 3)")
    parser.add_argument("--latency-runs", type=int, help="latency samples (default 5)")
    parser.add_argument("--scan-repeats", type=int, help="timed second starts (default 3)")
    parser.add_argument("--phases", default="scan,idle,latency,big",
                        help="comma-separated subset of scan,idle,latency,big (idle and latency need scan)")
    add_output_options(parser)
    args = parser.parse_args(argv)

    quick = args.quick
    files = args.files or (1000 if quick else 10000)
    idle_s = args.idle_seconds or (10.0 if quick else 60.0)
    big = args.big_gib if args.big_gib is not None else (0.25 if quick else 2.0)
    small = args.small_gib if args.small_gib is not None else (0.0 if quick else 0.25)
    repeats = args.repeats or (1 if quick else 3)
    latency_runs = args.latency_runs or (3 if quick else 5)
    scan_repeats = args.scan_repeats or (1 if quick else 3)
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = phases - {"scan", "idle", "latency", "big"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if phases & {"idle", "latency"} and "scan" not in phases:
        parser.error("the idle and latency phases run on the scan phase's tree: add scan")

    work = make_workdir(args.workdir, "zoomwatch-bench-")
    report: dict[str, Any] = {"meta": {
        "mode": "quick" if quick else "full", "python": platform.python_version(), "cpus": os.cpu_count(),
        "mem_gib": round(psutil.virtual_memory().total / GIB, 1), "workdir": str(work),
        "workdir_fs": _fs_type(work), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "argv": sys.argv[1:], "settle_seconds": SETTLE_SECONDS, "zoomwatch": _zoomwatch_version(),
    }, "notes": []}
    code = 0
    try:
        strace = ensure_tool("strace", "strace") if "scan" in phases else ""
        rclone = ensure_tool("rclone", "rclone") if "big" in phases else ""
        if "scan" in phases:
            inst = Instance.create(work / "tree")
            report["startup_scan"] = phase_scan(inst, files, scan_repeats, strace)
            if report["startup_scan"]["strace"]["recording_file_opens"] != 0:
                code = 1
            if "idle" in phases:
                report["idle"] = phase_idle(inst, idle_s)
            if "latency" in phases:
                report["latency"] = phase_latency(inst, latency_runs)
                report["notes"].append(f"latency runs on the {files}-file tree with its catalog, in new folders")
        if "big" in phases:
            free = shutil.disk_usage(work).free
            sizes = [big] + ([small] if small and small != big else [])
            report["big_copy"] = []
            for gib in sizes:
                if free < gib * GIB * 2.5:
                    raise BenchError(f"not enough free space in {work} for a {gib:g} GiB file and its copy")
                report["big_copy"].append(phase_big(work, gib, repeats, rclone))
    except BenchError as exc:
        log(f"FAILED: {exc}")
        report["error"] = str(exc)
        code = 2
    except KeyboardInterrupt:
        log("interrupted")
        report["error"] = "interrupted"
        code = 130
    finally:
        kill_started()
        report["meta"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        remove_workdir(work, args.keep)
    print_report(report)
    write_figures(args.json_out, report)
    return code


def _zoomwatch_version() -> dict[str, Any]:
    """Which zoomwatch was measured: version, and the git commit (plus whether zoomwatch/ had local edits)."""
    out: dict[str, Any] = {}
    try:
        import zoomwatch

        out["version"] = zoomwatch.__version__
        repo = Path(zoomwatch.__file__).resolve().parent.parent
        git = ["git", "-C", str(repo)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            out["commit"] = head.stdout.strip()
            dirty = subprocess.run([*git, "status", "--porcelain", "--", "zoomwatch"], capture_output=True,
                                   text=True, timeout=10)
            out["local_edits_in_zoomwatch"] = len(dirty.stdout.splitlines())
    except (ImportError, OSError, subprocess.SubprocessError):
        pass
    return out


def _fs_type(path: Path) -> str:
    best = ("?", "")
    for part in psutil.disk_partitions(all=True):
        if str(path).startswith(part.mountpoint) and len(part.mountpoint) >= len(best[1]):
            best = (part.fstype, part.mountpoint)
    return best[0]


if __name__ == "__main__":
    sys.exit(main())
