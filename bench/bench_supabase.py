#!/usr/bin/env python3
"""Supabase benchmark of zoomwatch against the Supabase Storage stand-in (tests/fakes/supabase_storage.py), run
from outside (bench/common.py). The stand-in runs in THIS process, in threads: its CPU and memory count against
the benchmark ("bench CPU"), it competes with zoomwatch for the cores (throughput is a floor for zoomwatch) and
it holds every object in memory (about twice the file size; checked before each run, freed after it). Phases:
resume after a SIGKILL at 50 % (where the second run resumed and the bytes re-sent, from the stand-in's
counters) and peak RSS at two sizes. See bench/README.md; `--quick` (256 MiB only) is a smoke run.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import sys
import time
from typing import Any

from common import (
    GIB,
    MIB,
    NULL_KEYRING,
    Bench,
    BenchError,
    Done,
    Home,
    add_options,
    fmt_size,
    log,
    make_file,
    mib,
    parse_size,
    psutil,
    self_cpu,
    wait_until,
)
from fakes.supabase_storage import TUS_CHUNK_SIZE, FakeSupabaseStorage  # noqa: E402  (tests/ via common)

BUCKET = "recordings"
MEETING = "2024-05-06 14.00.00 Bench 93456789012"


class World:
    def __init__(self, bench: Bench, fake: FakeSupabaseStorage) -> None:
        self.work, self.fake, self.counter = bench.work, fake, 0
        self.template = Home(self.work / "zw-template", [
            ("destination.kind", "supabase"), ("destination.supabase.url", fake.url),
            ("destination.supabase.bucket", BUCKET), ("watch.settle_seconds", "1")], **self.env())

    def env(self) -> dict[str, Any]:
        return {"drop": ("SUPABASE_",), "SUPABASE_KEY": self.fake.service_key, "PYTHON_KEYRING_BACKEND": NULL_KEYRING}

    def new_run(self, label: str, size: int, bwlimit: str = "0") -> tuple[Home, str, str]:
        """A random file in a Zoom folder of its own and a zoomwatch home with its own prefix: (home, sha, prefix)."""
        available, need = psutil.virtual_memory().available, 2 * size + 512 * MIB
        if available < need:
            raise BenchError(f"{available / GIB:.1f} GiB of memory available, the stand-in needs about "
                             f"{need / GIB:.1f} GiB for a {fmt_size(size)} object")
        self.counter += 1
        prefix = f"r{self.counter:02d}-{label}"
        zoom = self.work / prefix / "zoom"
        sha = make_file(zoom / MEETING / "zoom_0.mp4", size)
        home = Home(self.work / prefix / "home", [
            ("watch.folder", str(zoom)), ("destination.supabase.prefix", prefix),
            ("transfer.bandwidth_limit", bwlimit)], template=self.template, **self.env())
        return home, sha, prefix

    def upload(self, prefix: str) -> Any:
        """The stand-in's TUS upload of this run's recording, or None."""
        with self.fake._lock:
            found = [u for u in self.fake.uploads.values() if u.bucket == BUCKET and u.name.startswith(prefix + "/")]
        return found[-1] if found else None

    def received(self, key: str) -> int:
        with self.fake._lock:
            return self.fake.bytes_received.get((BUCKET, key), 0)

    def run_once(self, home: Home, prefix: str, size: int, timeout: float) -> tuple[Done, dict[str, Any]]:
        """`run --once`, timed at the stand-in (first byte stored, all stored), with its figures."""
        def stored() -> int:
            upload = self.upload(prefix)
            return upload.offset if upload is not None else 0

        cpu0 = self_cpu()
        done = home.run("run", "--once", "--max-wait", "60", after_exec=True,
                        marks={"first": lambda: stored() > 0, "all": lambda: stored() >= size}).wait(timeout).check()
        if home.status()["counts"]["verified"] != 1:
            raise BenchError(f"run --once did not back the file up: {home.status()['counts']}\n{done.tail()}")
        upload_s = done.marks["all"] - done.marks["first"] if len(done.marks) == 2 else None
        return done, {"wall_s": round(done.wall_s, 2), "mib_s": round(size / MIB / done.wall_s, 1),
                      "upload_s": upload_s and round(upload_s, 2),
                      "upload_mib_s": upload_s and round(size / MIB / upload_s, 1),
                      "zoomwatch_peak_rss_mib": mib(done.peak_rss), "zoomwatch_vmhwm_mib": mib(done.peak_hwm),
                      "zoomwatch_cpu_s": round(done.cpu_s, 2), "bench_process_cpu_s": round(self_cpu() - cpu0, 2),
                      "bench_process_rss_mib": mib(psutil.Process().memory_info().rss)}

    def sha_matches(self, key: str, size: int, sha: str) -> bool:
        obj = self.fake.objects.get((BUCKET, key))
        if obj is None or obj.size != size:
            raise BenchError(f"{key}: the stand-in holds {obj and obj.size} bytes, expected {size}")
        return hashlib.sha256(obj.data).hexdigest() == sha

    def clean(self, prefix: str) -> None:
        """Free what the stand-in holds for this run."""
        with self.fake._lock:
            for key in [k for k in self.fake.objects if k[1].startswith(prefix + "/")]:
                del self.fake.objects[key]
            for uid in [u for u, up in self.fake.uploads.items() if up.name.startswith(prefix + "/")]:
                del self.fake.uploads[uid]
        gc.collect()


def phase_resume(world: World, size: int, bwlimit: str, timeout: float, mid_chunk: bool) -> dict[str, Any]:
    home, sha, prefix = world.new_run("resume", size, bwlimit)
    first = home.run("run", after_exec=True)
    wait_until(lambda: first.alive() and (u := world.upload(prefix)) and u.offset * 2 >= size, timeout,
               "the stand-in to hold half the file", 0.01)
    upload = world.upload(prefix)
    if mid_chunk:  # a limited run sends a chunk at full speed, then sleeps: kill while one is on its way
        try:
            wait_until(lambda: world.received(upload.name) > upload.offset, 10, "a chunk in flight", 0.001)
        except BenchError:
            pass
    in_flight, t_kill = world.received(upload.name) - upload.offset, time.monotonic() - first.t0
    first.kill()
    # the kernel closes the dead process's socket; the stand-in keeps none of a cut-off chunk
    wait_until(lambda: upload.id not in world.fake._patching, 10, "the cut-off chunk to end", 0.05)
    time.sleep(0.2)
    stored, received_before = upload.offset, world.received(upload.name)
    log(f"  killed after {t_kill:.1f} s at {stored / MIB:.0f} MiB stored ({received_before / MIB:.1f} MiB received)")
    home.set(("transfer.bandwidth_limit", "0"))
    _, second = world.run_once(home, prefix, size, timeout)
    received = world.received(upload.name)
    sent, resent = received - received_before, received - size
    out = {"size_bytes": size, "chunk_bytes": TUS_CHUNK_SIZE, "bandwidth_limit_first_run": bwlimit,
           "killed_after_s": round(t_kill, 2), "kill_mode": "during a chunk" if mid_chunk else "first poll at >= 50 %",
           "chunk_bytes_in_flight_at_kill_mib": mib(in_flight), "stored_after_kill_mib": mib(stored),
           "received_before_kill_mib": mib(received_before), "inflight_lost_mib": mib(received_before - stored),
           # the second run sent everything from where it resumed: so it resumed at size - sent
           "resumed_at_byte": size - sent, "resumed_at_stored_offset": size - sent == stored,
           "sent_second_run_mib": mib(sent), "received_total_mib": mib(received), "resent_mib": mib(resent),
           "resent_chunks": round(resent / TUS_CHUNK_SIZE, 3), "goal_met": resent <= TUS_CHUNK_SIZE,
           "second_run": second, "sha256_matches": world.sha_matches(upload.name, size, sha)}
    world.clean(prefix)
    return out


def phase_rss(world: World, sizes: list[int], timeout: float) -> dict[str, Any]:
    runs = []
    for size in sizes:
        home, sha, prefix = world.new_run(f"rss-{size // MIB}m", size)
        _, run = world.run_once(home, prefix, size, timeout)
        key = world.upload(prefix).name
        run.update(size_bytes=size, resent_mib=mib(world.received(key) - size),
                   sha256_matches=world.sha_matches(key, size, sha))
        log(f"  {fmt_size(size)}: {run['wall_s']} s, zoomwatch peak RSS {run['zoomwatch_peak_rss_mib']} MiB")
        runs.append(run)
        world.clean(prefix)
    growth = round(runs[-1]["zoomwatch_peak_rss_mib"] - runs[0]["zoomwatch_peak_rss_mib"], 1)
    return {"runs": runs, "rss_growth_mib": growth, "zoomwatch_flat": growth <= 32}  # 32: polling noise, buffers


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\nzoomwatch Supabase benchmark — {m['cpus']} CPUs, {m['memory_gib']} GiB, Python {m['python']}, "
          f"zoomwatch {m['zoomwatch']}, {m['when']}; the stand-in runs in the benchmark process (bench CPU/RSS)")
    if s := r.get("resume"):
        print(f"\n1. resume after SIGKILL at ~50 % of {fmt_size(s['size_bytes'])} (limit "
              f"{s['bandwidth_limit_first_run']}/s, killed after {s['killed_after_s']} s, {s['kill_mode']}, "
              f"{s['chunk_bytes_in_flight_at_kill_mib']} MiB "
              "of a chunk in flight):")
        print(f"   stored at the kill {s['stored_after_kill_mib']} MiB; received {s['received_before_kill_mib']} MiB "
              f"(cut-off chunk lost: {s['inflight_lost_mib']} MiB)")
        print(f"   run --once resumed at byte {s['resumed_at_byte']} (= stored offset: "
              f"{s['resumed_at_stored_offset']}), sent {s['sent_second_run_mib']} MiB in {s['second_run']['wall_s']} s")
        print(f"   RE-SENT: {s['resent_mib']} MiB = {s['resent_chunks']} x the 6 MiB chunk (goal <= 1: "
              f"{'met' if s['goal_met'] else 'MISSED'}); sha256 matches: {s['sha256_matches']}")
    if rss := r.get("rss"):
        print("\n2. zoomwatch run --once (no limit):")
        for run in rss["runs"]:
            print(f"   {fmt_size(run['size_bytes']):>8}: {run['wall_s']} s, {run['mib_s']} MiB/s (upload proper "
                  f"{run['upload_mib_s']} MiB/s), zoomwatch peak RSS {run['zoomwatch_peak_rss_mib']} MiB (VmHWM "
                  f"{run['zoomwatch_vmhwm_mib']}), CPU {run['zoomwatch_cpu_s']} s; bench CPU "
                  f"{run['bench_process_cpu_s']} s, RSS {run['bench_process_rss_mib']} MiB")
        print(f"   peak RSS growth smallest -> largest file: {rss['rss_growth_mib']} MiB "
              f"({'flat' if rss['zoomwatch_flat'] else 'GROWS WITH THE FILE'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "resume,rss", "256 MiB only (resume and RSS)")
    parser.add_argument("--size-gib", type=float, help="resume file size in GiB (default 1; 0.25 with --quick)")
    parser.add_argument("--rss-sizes", help="RSS file sizes (default 256M,2G; 256M with --quick)")
    parser.add_argument("--kill-bwlimit", default="60M", help="bandwidth limit of the run that is SIGKILLed")
    parser.add_argument("--kill-between-chunks", action="store_true",
                        help="SIGKILL at the first poll past 50 %% instead of while a chunk is on its way")
    args = parser.parse_args()
    size = int((args.size_gib or (0.25 if args.quick else 1.0)) * GIB)
    rss_sizes = [parse_size(x) for x in (args.rss_sizes or ("256M" if args.quick else "256M,2G")).split(",")]
    bench = Bench("supabase", args, {"resume_size_bytes": size, "rss_sizes": rss_sizes,
                                     "kill_bwlimit": args.kill_bwlimit})
    phases = bench.phases(parser, ("resume", "rss"))
    fake = FakeSupabaseStorage(max_file_size=max(size, *rss_sizes) + GIB)
    try:
        fake.start()
        fake.create_bucket(BUCKET)
        world = World(bench, fake)
        if "resume" in phases:
            bench.run("resume", phase_resume, world, size, args.kill_bwlimit, args.timeout,
                      not args.kill_between_chunks)
        if "rss" in phases:
            bench.run("rss", phase_rss, world, rss_sizes, args.timeout)
    except (BenchError, OSError) as exc:
        bench.failed("setup", exc)
    finally:
        fake.stop()
    resume_ok = lambda r: r.get("goal_met", True) and r.get("sha256_matches", True)  # noqa: E731
    return bench.finish(print_report, lambda r: resume_ok(r.get("resume", {}))
                        and r.get("rss", {}).get("zoomwatch_flat", True))


if __name__ == "__main__":
    sys.exit(main())
