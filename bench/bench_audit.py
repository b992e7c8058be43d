#!/usr/bin/env python3
"""Benchmark of `zoomwatch audit`, run from outside (bench/common.py): N backed-up recording files (`--files`,
default 10,000; `--quick`: 1,000) in a local backup folder and in SeaweedFS, audited without and with
`--read-data` (files/s, MiB/s, wall and CPU seconds, peak RSS), beside a peer that does the same work by
hand: `sha256sum` over the backup folder, and for S3 `rclone hashsum sha256 --download` of the prefix.

Phases: `local`, `s3`. Each audit must call every file safe (else exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_engine import make_tree
from common import MIB, Bench, BenchError, Home, Proc, add_options, log, start_seaweed, summarize


def backed_up(work: Path, name: str, files: int, settings: list[tuple[str, str]], timeout: float,
              **env: str) -> tuple[Home, int]:
    """A zoomwatch whose Zoom folder holds `files` small recordings, all backed up with `run --once`."""
    zoom = work / name / "zoom"
    zoom.mkdir(parents=True)
    made = make_tree(zoom, files)
    total = sum(p.stat().st_size for p in zoom.rglob("*") if p.is_file())
    home = Home(work / name / "home", [("watch.folder", str(zoom)), ("watch.settle_seconds", "1"), *settings],
                PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", **env)
    log(f"{name}: backing up {made} files ({total / MIB:.0f} MiB) with run --once")
    home.run("run", "--once", "--max-wait", "60").wait(timeout).check()
    return home, total


def audit_once(home: Home, files: int, size: int, timeout: float, *args: str) -> dict[str, Any]:
    done = home.run("audit", "--json", *args).wait(timeout)
    report = json.loads(done.stdout)
    if report["counts"]["safe"] != files or not report["ok"]:
        raise BenchError(f"audit {' '.join(args)} found {report['counts']} (error: {report['error']})")
    return {"wall_s": round(done.wall_s, 3), "cpu_s": round(done.cpu_s, 3), "files_s": round(files / done.wall_s, 1),
            "mib_s": round(size / MIB / done.wall_s, 1), "peak_rss_mib": round(done.peak_rss / MIB, 1)}


def audits(home: Home, files: int, size: int, repeat: int, timeout: float) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"default": [], "read_data": []}
    for _ in range(repeat):
        runs["default"].append(audit_once(home, files, size, timeout))
        runs["read_data"].append(audit_once(home, files, size, timeout, "--read-data"))
    return {mode: {k: summarize(r[k] for r in rounds) for k in rounds[0]} for mode, rounds in runs.items()}


def timed(argv: list[str], work: Path, timeout: float, env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    proc = Proc(argv, env=env or dict(os.environ), cwd=work, name=Path(argv[0]).name)
    done = proc.wait(timeout)
    if done.code != 0:
        raise BenchError(f"{argv[0]} exited {done.code}: {done.tail()}")
    return time.monotonic() - started


def phase_local(bench: Bench, files: int, repeat: int, timeout: float) -> dict[str, Any]:
    backup = bench.work / "local-backup"
    backup.mkdir()
    home, size = backed_up(bench.work, "local", files, [("destination.local.path", str(backup))], timeout)
    result = audits(home, files, size, repeat, timeout)
    script = f"find '{backup}' -type f ! -name meeting.json -print0 | xargs -0 sha256sum > /dev/null"
    peer = [timed(["sh", "-c", script], bench.work, timeout) for _ in range(repeat)]
    result["peer_sha256sum_wall_s"] = summarize(peer)
    result["ratio_read_data_vs_sha256sum"] = round(
        result["peer_sha256sum_wall_s"]["median"] / result["read_data"]["wall_s"]["median"], 3)
    return {"files": files, "bytes": size, **result}


def phase_s3(bench: Bench, files: int, repeat: int, timeout: float) -> dict[str, Any]:
    from s3server import ACCESS_KEY, SECRET_KEY

    server, _client = start_seaweed(bench.work / "seaweed", "audit")
    settings = [("destination.kind", "s3"), ("destination.s3.bucket", "audit"),
                ("destination.s3.endpoint_url", server.endpoint), ("destination.s3.region", "us-east-1"),
                ("destination.s3.addressing_style", "path"), ("destination.s3.prefix", "bench"),
                ("destination.s3.concurrency", "4")]
    home, size = backed_up(bench.work, "s3", files, settings, timeout, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                           AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    result: dict[str, Any] = {"files": files, "bytes": size, **audits(home, files, size, repeat, timeout)}
    rclone = shutil.which("rclone")
    if rclone:
        env = {k: v for k, v in home.env.items() if k != "AWS_CA_BUNDLE"}  # rclone refuses it over plain HTTP
        env |= {"RCLONE_CONFIG": str(bench.work / "rclone.conf"), "RCLONE_CONFIG_SW_TYPE": "s3",
                "RCLONE_CONFIG_SW_PROVIDER": "Other",
               "RCLONE_CONFIG_SW_ENDPOINT": server.endpoint, "RCLONE_CONFIG_SW_ACCESS_KEY_ID": ACCESS_KEY,
               "RCLONE_CONFIG_SW_SECRET_ACCESS_KEY": SECRET_KEY}
        (bench.work / "rclone.conf").write_text("")
        # the same work as --read-data: list the prefix, download every object and hash it
        argv = [rclone, "hashsum", "sha256", "--download", "--checkers", "4", "--output-file", "/dev/null",
                "sw:audit/bench"]
        peer = [timed(argv, bench.work, timeout, env=env) for _ in range(repeat)]
        result["peer_rclone_download_hash_wall_s"] = summarize(peer)
        result["ratio_read_data_vs_rclone"] = round(
            result["peer_rclone_download_hash_wall_s"]["median"] / result["read_data"]["wall_s"]["median"], 3)
    return result


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\nzoomwatch audit benchmark — {m['cpus']} CPUs, Python {m['python']}, zoomwatch {m['zoomwatch']}, "
          f"{m['when']}")
    for phase in ("local", "s3"):
        if not (p := r.get(phase)):
            continue
        print(f"\n{phase}: {p['files']} backed-up files, {p['bytes'] / MIB:.0f} MiB; median of "
              f"{p['default']['wall_s']['n']}")
        for mode in ("default", "read_data"):
            s = p[mode]
            print(f"   audit{' --read-data' if mode == 'read_data' else '':<12} {s['wall_s']['median']:7.2f} s  "
                  f"{s['files_s']['median']:8.0f} files/s  {s['mib_s']['median']:7.1f} MiB/s  "
                  f"CPU {s['cpu_s']['median']:.1f} s  peak RSS {s['peak_rss_mib']['median']:.0f} MiB")
        for key, value in p.items():
            if key.startswith("peer_"):
                print(f"   {key[5:]:<28} {value['median']:7.2f} s")
            elif key.startswith("ratio_"):
                print(f"   {key[6:]}: {value:.2f} (> 1 = zoomwatch faster)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "local,s3", "1,000 files, 1 round")
    parser.add_argument("--files", type=int, help="backed-up files (default 10,000)")
    parser.add_argument("--repeat", type=int, help="audits of each kind (default 3)")
    args = parser.parse_args()
    files = args.files or (1000 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    bench = Bench("audit", args, {"files": files, "repeat": repeat})
    calls = {"local": phase_local, "s3": phase_s3}
    for phase in bench.phases(parser, calls):
        bench.run(phase, calls[phase], bench, files, repeat, args.timeout)
    return bench.finish(print_report, lambda r: not r["errors"])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.SubprocessError as exc:
        sys.exit(f"bench_audit: {exc}")
