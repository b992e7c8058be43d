#!/usr/bin/env python3
"""Supabase benchmark of zoomwatch against the Supabase Storage stand-in (tests/fakes/supabase_storage.py),
with zoomwatch driven from outside like a user would run it.

The stand-in runs in THIS process, in threads (Supabase Storage itself cannot run here), so its CPU use
counts against the benchmark process, not against zoomwatch, and on a small machine the two compete
for the cores: throughput figures are a floor for zoomwatch. It keeps every object in memory (a
finished TUS upload holds its bytes twice: the upload's buffer and the object), so the benchmark
process grows by about twice the file size; the script checks the available memory first and frees
each object after its run. zoomwatch's memory is measured in its own subprocess only (psutil every
50 ms, process + children, plus the kernel's VmHWM / ru_maxrss).

Every zoomwatch process runs as `python -m zoomwatch ...` with HOME and the XDG_* variables in a
temporary folder, SUPABASE_KEY set to the stand-in's service key and the null keyring. Phases:

1. resume: `zoomwatch run` with `transfer.bandwidth_limit` (default 60M) is SIGKILLed once the server
   holds >= 50 % of the file (default 1 GiB, --size-gib), then `run --once` without a limit. Re-sent
   bytes = every request-body byte the server received for the object, minus the file size; reported
   in MiB and in 6 MiB TUS chunks (goal: <= 1 chunk), with the sha256 of the stored object.
2. rss: peak RSS, wall time and MiB/s of `zoomwatch run --once` uploading 256 MiB and 2 GiB
   (--rss-sizes): the peak must not grow with the file size.

`python bench/bench_supabase.py --quick` (256 MiB only) is a smoke run; `--help` lists the options.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    GIB,
    MIB,
    NULL_KEYRING,
    POLL_S,
    BenchError,
    HomeTemplate,
    Sampler,
    Watched,
    add_output_options,
    fmt_size,
    home_env,
    kill_group,
    kill_started,
    log,
    machine_info,
    make_file,
    make_workdir,
    mib,
    parse_size,
    phase_failed,
    psutil,
    remove_workdir,
    rss_sum,
    run_zoomwatch,
    self_cpu,
    vm_hwm,
    warn_if_short_of_space,
    write_figures,
    zoomwatch_argv,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fakes.supabase_storage import TUS_CHUNK_SIZE, FakeSupabaseStorage  # noqa: E402

BUCKET = "recordings"
MEETING = "2024-05-06 14.00.00 Bench 93456789012"
FILE_NAME = "zoom_0.mp4"
RESUMING_RE = re.compile(r"resuming (?P<key>.+) at byte (?P<offset>\d+) of (?P<size>\d+)")
COMPLETE_RE = re.compile(r"resumable upload of (?P<key>.+) complete: (?P<sent>\d+) bytes sent this time")
VERIFIED_RE = re.compile(r"backed up and verified: (?P<src>.*) -> (?P<key>.*)$")
SELF = psutil.Process()


def self_rss() -> int:
    return SELF.memory_info().rss


# -- processes ------------------------------------------------------------------------------------

class UploadSampler(Sampler):
    """Every 50 ms: RSS of zoomwatch (its process and children, summed) and its VmHWM; the benchmark
    process's own RSS (the stand-in's objects); and the bytes the server holds for the upload, to time
    the upload proper (first stored byte to the last)."""

    def __init__(self, pid: int, stored: Callable[[], int] | None = None, size: int = 0) -> None:
        super().__init__(pid)
        self.stored = stored
        self.size = size
        self.peak_self = 0
        self.first_byte: float | None = None
        self.all_stored: float | None = None
        self.exec_done = False

    def sample(self, now: float, root: psutil.Process) -> bool:
        if not self.exec_done:
            # until the child has exec'd zoomwatch it is a copy of this (large) process: its RSS
            # and VmHWM would be the stand-in's, so nothing of it is counted
            try:
                self.exec_done = "zoomwatch" in root.cmdline()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                return False
            except psutil.AccessDenied:
                pass
        if self.exec_done:
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                procs = []
            self.peak_rss = max(self.peak_rss, rss_sum(procs))
            self.peak_hwm = max(self.peak_hwm, vm_hwm(self.pid))
        self.peak_self = max(self.peak_self, self_rss())
        if self.stored is not None:
            held = self.stored()
            if held > 0 and self.first_byte is None:
                self.first_byte = now
            if self.size and held >= self.size and self.all_stored is None:
                self.all_stored = now
        return True


@dataclass
class Measured:
    returncode: int
    wall_s: float
    peak_rss: int
    peak_hwm: int
    peak_self_rss: int
    cpu_s: float
    bench_cpu_s: float
    upload_s: float | None
    lines: list[str]

    def find(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        for text in self.lines:
            match = pattern.search(text)
            if match:
                return match
        return None

    def tail(self, n: int = 15) -> str:
        return "\n".join(self.lines[-n:])


class Started(Watched):
    """A zoomwatch process whose stderr is collected and whose memory is sampled."""

    sampler: UploadSampler

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, stored: Callable[[], int] | None = None,
                 size: int = 0) -> None:
        self.cpu0 = self_cpu()
        super().__init__(argv, env=env, cwd=cwd, name="zoomwatch",
                         sampler=lambda pid: UploadSampler(pid, stored, size))

    def finish(self, timeout: float) -> Measured:
        """Wait (os.wait4, for the exact CPU time) for at most `timeout` s. Its ru_maxrss is not used: Linux
        carries the parent's high-water mark into a forked child across exec, so it would report this
        process's (the stand-in's objects), not zoomwatch's."""
        wall, usage = self.wait(timeout)
        s = self.sampler
        upload_s = s.all_stored - s.first_byte if s.first_byte and s.all_stored else None
        return Measured(self.proc.returncode, wall, s.peak_rss, s.peak_hwm,
                        s.peak_self, usage.ru_utime + usage.ru_stime, self_cpu() - self.cpu0, upload_s,
                        [text for _, text in self.lines])


# -- the world: stand-in, files, zoomwatch homes --------------------------------------------------

class World:
    def __init__(self, work: Path, fake: FakeSupabaseStorage) -> None:
        self.work = work
        self.fake = fake
        self.counter = 0
        self.homes = HomeTemplate(self.work / "zw-base", self.env, [
            ("destination.kind", "supabase"), ("destination.supabase.url", self.fake.url),
            ("destination.supabase.bucket", BUCKET), ("watch.settle_seconds", "1")])

    def env(self, home: Path) -> dict[str, str]:
        return home_env(home, drop=("SUPABASE_KEY", "SUPABASE_SERVICE_ROLE_KEY"), SUPABASE_KEY=self.fake.service_key,
                        PYTHON_KEYRING_BACKEND=NULL_KEYRING, PYTHONUNBUFFERED="1")

    def zw(self, home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_zoomwatch(*args, env=self.env(home), cwd=home, timeout=timeout)

    def new_run(self, label: str, size: int, bwlimit: str = "0") -> tuple[Path, Path, str, str]:
        """A random file in its own Zoom folder and a fresh zoomwatch home with its own prefix in the
        bucket: (home, file, sha256, prefix)."""
        self.counter += 1
        prefix = f"r{self.counter:02d}-{label}"
        zoom = self.work / prefix / "zoom"
        path = zoom / MEETING / FILE_NAME
        log(f"  making a {fmt_size(size)} random file")
        sha = make_file(path, size)
        home = self.homes.copy(self.work / prefix / "home", [("watch.folder", str(zoom)),
                                                               ("destination.supabase.prefix", prefix),
                                                               ("transfer.bandwidth_limit", bwlimit)])
        return home, path, sha, prefix

    def upload_of(self, prefix: str) -> Any:
        """The stand-in's TUS upload of this run's recording, or None."""
        with self.fake._lock:
            found = [u for u in self.fake.uploads.values()
                     if u.bucket == BUCKET and u.name.startswith(prefix + "/") and u.name.endswith(FILE_NAME)]
        return found[-1] if found else None

    def stored_of(self, prefix: str) -> Callable[[], int]:
        def stored() -> int:
            upload = self.upload_of(prefix)
            return upload.offset if upload is not None else 0
        return stored

    def received(self, key: str) -> int:
        with self.fake._lock:
            return self.fake.bytes_received.get((BUCKET, key), 0)

    def check_object(self, key: str, size: int, sha: str) -> bool:
        obj = self.fake.objects.get((BUCKET, key))
        if obj is None:
            raise BenchError(f"{key} is not in the bucket")
        if obj.size != size:
            raise BenchError(f"{key} holds {obj.size} bytes, expected {size}")
        return hashlib.sha256(obj.data).hexdigest() == sha

    def clean(self, prefix: str) -> None:
        """Free what the stand-in holds for this run, and delete the run's files."""
        with self.fake._lock:
            for key in [k for k in self.fake.objects if k[1].startswith(prefix + "/")]:
                del self.fake.objects[key]
            for uid in [u for u, up in self.fake.uploads.items() if up.name.startswith(prefix + "/")]:
                del self.fake.uploads[uid]
        gc.collect()
        shutil.rmtree(self.work / prefix, ignore_errors=True)


def memory_check(size: int, what: str) -> dict[str, Any]:
    """The stand-in will hold about 2 x size (upload buffer + object) in this process."""
    available = psutil.virtual_memory().available
    need = 2 * size + 512 * MIB
    log(f"  memory: {available / GIB:.1f} GiB available, the stand-in needs about {need / GIB:.1f} GiB for {what}")
    if available < need:
        raise BenchError(f"not enough memory for {what}: {available / GIB:.1f} GiB available, "
                         f"about {need / GIB:.1f} GiB needed (the stand-in keeps objects in memory)")
    return {"available_gib": round(available / GIB, 1), "needed_gib": round(need / GIB, 1)}


def figures(m: Measured, size: int) -> dict[str, Any]:
    return {"wall_s": round(m.wall_s, 2), "mib_s": round(size / MIB / m.wall_s, 1),
            "upload_s": round(m.upload_s, 2) if m.upload_s else None,
            "upload_mib_s": round(size / MIB / m.upload_s, 1) if m.upload_s else None,
            "zoomwatch_peak_rss_mib": mib(m.peak_rss), "zoomwatch_vmhwm_mib": mib(m.peak_hwm),
            "zoomwatch_cpu_s": round(m.cpu_s, 2), "bench_process_cpu_s": round(m.bench_cpu_s, 2),
            "bench_process_peak_rss_mib": mib(m.peak_self_rss)}


# -- phases ---------------------------------------------------------------------------------------

def phase_resume(world: World, size: int, bwlimit: str, timeout: float, mid_chunk: bool) -> dict[str, Any]:
    log(f"phase resume: SIGKILL at ~50 % of a {fmt_size(size)} upload (limit {bwlimit}/s"
        f"{', during a chunk' if mid_chunk else ''}), then run --once")
    mem = memory_check(size, f"the {fmt_size(size)} object")
    home, _path, sha, prefix = world.new_run("resume", size, bwlimit)
    first = Started(zoomwatch_argv("run"), world.env(home), home)
    try:
        deadline = time.monotonic() + timeout
        half_at: float | None = None
        while True:
            if first.proc.poll() is not None:
                raise BenchError(f"zoomwatch run exited before 50 % was stored:\n{first.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"the server did not hold 50 % within {timeout:.0f} s")
            upload = world.upload_of(prefix)
            if upload is not None and upload.offset * 2 >= size:
                if half_at is None:
                    half_at = time.monotonic()
                # with the limit, a chunk goes at full speed and then zoomwatch sleeps: wait (at most
                # 10 s) until part of the next chunk has arrived, so that the kill cuts a chunk off
                inflight = world.received(upload.name) - upload.offset
                if not mid_chunk or inflight > 0 or time.monotonic() - half_at > 10:
                    break
                time.sleep(0.001)
                continue
            time.sleep(POLL_S)
        at_trigger = upload.offset
        inflight_at_trigger = world.received(upload.name) - upload.offset
        t_kill = time.monotonic() - first.t0
        kill_group(first.proc)
    finally:
        first.kill()
    key = upload.name
    # the kernel closes the dead process's socket; wait until the server has seen the end of the
    # chunk that was in flight (it keeps none of a cut-off chunk)
    settle = time.monotonic() + 10
    while time.monotonic() < settle:
        with world.fake._lock:
            busy = upload.id in world.fake._patching
        if not busy:
            break
        time.sleep(POLL_S)
    time.sleep(0.2)
    stored = upload.offset
    received_before = world.received(key)
    log(f"  killed after {t_kill:.1f} s at {stored / MIB:.0f} MiB stored; the server had received "
        f"{received_before / MIB:.1f} MiB for it")

    world.zw(home, "config", "set", "transfer.bandwidth_limit", "0")
    second = Started(zoomwatch_argv("run", "--once", "--max-wait", "60"), world.env(home),
                     home, world.stored_of(prefix), size).finish(timeout)
    if second.returncode != 0:
        raise BenchError(f"run --once after the SIGKILL exited {second.returncode}:\n{second.tail()}")
    received_after = world.received(key)
    resumed, complete = second.find(RESUMING_RE), second.find(COMPLETE_RE)
    resent = received_after - size
    out: dict[str, Any] = {
        "size_bytes": size, "chunk_bytes": TUS_CHUNK_SIZE, "bandwidth_limit_first_run": bwlimit,
        "killed_after_s": round(t_kill, 2), "stored_at_trigger_mib": mib(at_trigger),
        "kill_mode": "during a chunk" if mid_chunk else "first poll at >= 50 %",
        "chunk_bytes_in_flight_at_kill_mib": mib(inflight_at_trigger),
        "stored_after_kill_mib": mib(stored), "received_before_kill_mib": mib(received_before),
        "inflight_lost_mib": mib(received_before - stored),
        "resumed_at_byte": int(resumed["offset"]) if resumed else None,
        "resumed_at_stored_offset": bool(resumed and int(resumed["offset"]) == stored),
        "sent_second_run_mib": mib(received_after - received_before),
        "sent_second_run_log_mib": mib(int(complete["sent"])) if complete else None,
        "received_total_mib": mib(received_after), "resent_mib": mib(resent),
        "resent_chunks": round(resent / TUS_CHUNK_SIZE, 3), "goal_met": resent <= TUS_CHUNK_SIZE,
        "second_run": figures(second, size - stored), "memory": mem,
    }
    log("  checking the stored object's sha256")
    out["sha256_matches"] = world.check_object(key, size, sha)
    world.clean(prefix)
    return out


def phase_rss(world: World, sizes: list[int], timeout: float) -> dict[str, Any]:
    log(f"phase rss: peak RSS of zoomwatch run --once at {', '.join(fmt_size(s) for s in sizes)}")
    runs: list[dict[str, Any]] = []
    for size in sizes:
        log(f" {fmt_size(size)}:")
        mem = memory_check(size, f"the {fmt_size(size)} object")
        home, _path, sha, prefix = world.new_run(f"rss-{size // MIB}m", size)
        m = Started(zoomwatch_argv("run", "--once", "--max-wait", "60"), world.env(home),
                    home, world.stored_of(prefix), size).finish(timeout)
        if m.returncode != 0:
            raise BenchError(f"run --once of {fmt_size(size)} exited {m.returncode}:\n{m.tail()}")
        if m.find(VERIFIED_RE) is None:
            raise BenchError(f"no 'backed up and verified' line:\n{m.tail()}")
        key = world.upload_of(prefix).name  # the full object name (with the run's prefix)
        run = {"size_bytes": size, **figures(m, size), "memory": mem,
               "resent_mib": mib(world.received(key) - size), "sha256_matches": world.check_object(key, size, sha)}
        log(f"  {m.wall_s:.1f} s, {run['mib_s']} MiB/s, zoomwatch peak RSS {run['zoomwatch_peak_rss_mib']} MiB, "
            f"benchmark process peak RSS {run['bench_process_peak_rss_mib']} MiB")
        runs.append(run)
        world.clean(prefix)
    out: dict[str, Any] = {"runs": runs}
    if len(runs) >= 2:
        growth = runs[-1]["zoomwatch_peak_rss_mib"] - runs[0]["zoomwatch_peak_rss_mib"]
        out["rss_growth_mib"] = round(growth, 1)
        out["zoomwatch_flat"] = growth <= 32  # 50 ms polling noise and a few MiB of buffers
    return out


# -- report ---------------------------------------------------------------------------------------

def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\nzoomwatch Supabase benchmark — {m['when']}, {m['cpus']} CPUs, {m['memory_gib']} GiB RAM, "
          f"Python {m['python']}")
    print(f"command: {r['command']}")
    print("server: the Supabase Storage stand-in (tests/fakes/supabase_storage.py) IN THE BENCHMARK PROCESS, in "
          "threads: its CPU counts against the benchmark process (bench CPU below), it competes with zoomwatch "
          "for the cores, and it keeps objects in memory (bench RSS below). zoomwatch's RSS is its own subprocess "
          "only.")
    resume = r.get("resume")
    if resume:
        s = resume
        print(f"\n1. resume after SIGKILL at ~50 % of {fmt_size(s['size_bytes'])} (first run limited to "
              f"{s['bandwidth_limit_first_run']}/s, killed after {s['killed_after_s']} s, {s['kill_mode']}, "
              f"{s['chunk_bytes_in_flight_at_kill_mib']} MiB of a chunk in flight):")
        print(f"   stored at the kill {s['stored_after_kill_mib']} MiB; received by then "
              f"{s['received_before_kill_mib']} MiB (cut-off chunk lost: {s['inflight_lost_mib']} MiB)")
        print(f"   run --once resumed at byte {s['resumed_at_byte']} "
              f"(= stored offset: {s['resumed_at_stored_offset']}), sent {s['sent_second_run_mib']} MiB "
              f"(its log: {s['sent_second_run_log_mib']} MiB) in "
              f"{s['second_run']['wall_s']} s")
        print(f"   RE-SENT: {s['resent_mib']} MiB = {s['resent_chunks']} x the 6 MiB chunk "
              f"(goal <= 1 chunk: {'met' if s['goal_met'] else 'MISSED'}); sha256 of the object matches: "
              f"{s['sha256_matches']}")
    rss = r.get("rss")
    if rss:
        print("\n2. zoomwatch run --once (no limit):")
        print(f"   {'size':>8} {'wall s':>7} {'MiB/s':>7} {'upload MiB/s':>12} {'zw peak RSS':>12} {'zw VmHWM':>9} "
              f"{'zw CPU s':>8} {'bench CPU s':>11} {'bench RSS':>10}")
        for run in rss["runs"]:
            print(f"   {fmt_size(run['size_bytes']):>8} {run['wall_s']:>7} {run['mib_s']:>7} "
                  f"{str(run['upload_mib_s']):>12} {run['zoomwatch_peak_rss_mib']:>8} MiB "
                  f"{run['zoomwatch_vmhwm_mib']:>5} MiB {run['zoomwatch_cpu_s']:>8} {run['bench_process_cpu_s']:>11} "
                  f"{run['bench_process_peak_rss_mib']:>6} MiB")
        if "rss_growth_mib" in rss:
            print(f"   zoomwatch peak RSS growth from the smallest to the largest file: {rss['rss_growth_mib']} MiB "
                  f"({'flat' if rss['zoomwatch_flat'] else 'GROWS WITH THE FILE'})")
        print("   (MiB/s = file size / wall time of the whole run, including start-up and the sha256 pre-pass; "
              "upload MiB/s = first to last byte stored at the server, 50 ms resolution)")
    for phase, error in r["errors"].items():
        print(f"\nphase {phase} FAILED: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 256 MiB only (resume and RSS)")
    parser.add_argument("--size-gib", type=float, help="resume file size in GiB (default 1; 0.25 with --quick)")
    parser.add_argument("--rss-sizes", help="RSS file sizes (default 256M,2G; 256M with --quick)")
    parser.add_argument("--kill-bwlimit", default="60M",
                        help="transfer.bandwidth_limit of the run that is SIGKILLed (default 60M)")
    parser.add_argument("--kill-between-chunks", action="store_true",
                        help="SIGKILL at the first poll past 50 %% (often between two chunks) instead of waiting "
                             "until part of a chunk is in flight")
    parser.add_argument("--phases", default="resume,rss", help="a subset of resume,rss (default both)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for one run (default 900)")
    add_output_options(parser)
    args = parser.parse_args(argv)

    size = int((args.size_gib if args.size_gib is not None else (0.25 if args.quick else 1.0)) * GIB)
    rss_sizes = [parse_size(x) for x in (args.rss_sizes or ("256M" if args.quick else "256M,2G")).split(",")]
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - {"resume", "rss"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")

    work = make_workdir(args.workdir, "zoomwatch-bench-supabase-")
    need = max(size, *rss_sizes) + 256 * MIB  # one file at a time: each run's file is deleted after it
    warn_if_short_of_space(work, need)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else " ".join(argv),
        "machine": machine_info(memory=True),
        "settings": {"resume_size_bytes": size, "rss_sizes": rss_sizes, "kill_bwlimit": args.kill_bwlimit,
                     "server": "tests/fakes/supabase_storage.py in this process (threads)"},
        "errors": {},
    }
    fake = FakeSupabaseStorage(max_file_size=max(size, *rss_sizes) + GIB)
    code = 0
    try:
        fake.start()
        fake.create_bucket(BUCKET)
        log(f"workdir {work}; stand-in at {fake.url}")
        world = World(work, fake)
        for phase in phases:
            try:
                if phase == "resume":
                    report["resume"] = phase_resume(world, size, args.kill_bwlimit, args.timeout,
                                                    not args.kill_between_chunks)
                elif phase == "rss":
                    report["rss"] = phase_rss(world, rss_sizes, args.timeout)
            except (BenchError, subprocess.SubprocessError, OSError) as exc:
                code = phase_failed(report, phase, exc)
    finally:
        kill_started()
        fake.stop()
        remove_workdir(work, args.keep)
    print_report(report)
    write_figures(args.json_out, report)
    resume = report.get("resume")
    if code == 0 and resume and not (resume["sha256_matches"] and resume["goal_met"]):
        code = 1
    if code == 0 and report.get("rss") and not report["rss"].get("zoomwatch_flat", True):
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
