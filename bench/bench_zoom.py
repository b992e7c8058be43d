#!/usr/bin/env python3
"""Zoom cloud benchmark of zoomwatch against the Zoom stand-in (tests/fakes/zoom_api.py), driven from
outside like a user would run it: a real `zoomwatch login` (a "browser" script follows the authorize
redirect to zoomwatch's loopback listener), then real `zoomwatch sync` processes.

The stand-in runs inside this benchmark process, in threads: its CPU time counts against the
benchmark process (reported as "bench CPU") and it competes with zoomwatch for the cores. Every
zoomwatch process runs as `python -m zoomwatch ...` with HOME and the XDG_* variables in a temporary
folder and a plain-file keyring there (keyrings.alt PlaintextKeyring), so nothing of the real user is
read or written. Phases:

1. listing: N recordings (default 1,000, one user, one 1 KiB MP4 each) spread over the last 12 months;
   `zoomwatch sync` with zoom.file_types = SUMMARY (a type none has), so nothing is downloaded: the
   recordings-list requests and token requests the stand-in saw, wall time, how many meetings the
   sync listed, against the minimum possible (one request per window of <= 30 days, pages of 300).
   Then a second sync (incremental: last sync - zoom.lookback_days).
2. backup: K cloud recordings of S MiB (default 20 x 50 MiB; --quick 5 x 10 MiB) backed up by
   `zoomwatch sync` to SeaweedFS (tests/s3server.py, destination.kind s3, default part size), beside
   "download them all first, then upload them all" written with requests + boto3 (a subprocess of
   this script: a Server-to-Server token from the stand-in's token endpoint, the listing, every file
   streamed to disk, then boto3's upload_file for each). Both in the same run (--repeat rounds, order
   alternated); wall times, their ratio (> 1 = zoomwatch faster) and peak RSS (psutil every 50 ms).

Run `python bench/bench_zoom.py --help`; `--quick` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta, timezone
from pathlib import Path
from typing import Any

from common import (
    MIB,
    BenchError,
    Watched,
    add_output_options,
    home_env,
    kill_started,
    log,
    machine_info,
    make_home,
    make_workdir,
    phase_failed,
    remove_workdir,
    run_zoomwatch,
    seaweed_cpu,
    self_cpu,
    write_figures,
    zoomwatch_argv,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

USER = "ana@example.com"
BUCKET = "zoomwatch-bench"
WINDOW_DAYS = 30  # the longest window zoomwatch asks Zoom for (zoomwatch.sources.zoom.api.WINDOW_DAYS)
PAGE_SIZE = 300  # Zoom's largest page
SYNC_LINE = re.compile(r"cloud sync: (?P<meetings>\d+) meetings, (?P<files>\d+) files, (?P<new>\d+) new")
SHORTENED = re.compile(r"Zoom shortened the listing window starting (?P<frm>\S+) to (?P<to>\S+)")
VERIFIED = re.compile(r"backed up and verified: ")


class Run(Watched):
    """A background process: stderr read line by line with arrival times, stdout kept, RSS sampled (the
    tree's every 50 ms, and the kernel's own peak, VmHWM, of the main process: wait4's ru_maxrss is no use
    here, it counts the moment between fork and exec, when the child is still a copy of this process with
    the stand-in's recordings), and waited for with os.wait4 (the exact CPU seconds come back)."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
        super().__init__(argv, env=env, cwd=cwd, name=" ".join(argv[-2:]), stdout=subprocess.PIPE)
        self.stdout = b""
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._out.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def finish(self, timeout: float) -> dict[str, Any]:
        wall, usage = self.wait(timeout)
        self._out.join(10)
        return {"returncode": self.proc.returncode, "wall_s": wall, "peak_rss": self.sampler.peak_rss,
                "peak_hwm": self.sampler.peak_hwm, "cpu_s": usage.ru_utime + usage.ru_stime}

    def find_all(self, pattern: re.Pattern[str]) -> list[tuple[float, re.Match[str]]]:
        return [(t, m) for t, text in self.lines if (m := pattern.search(text))]

    def tail(self, n: int = 20) -> str:
        return super().tail(n) + "\n" + self.stdout.decode("utf-8", "replace")[-1000:]


# -- an isolated zoomwatch user -------------------------------------------------------------------

class Home:
    """HOME, XDG_* and a plain-file keyring in a folder of their own; a browser script that does what a
    browser does after the user approves (follow the authorize URL's redirects)."""

    def __init__(self, root: Path, fake: Any, extra_env: dict[str, str] | None = None) -> None:
        self.root = make_home(root, "zoom", "backup")
        browser = root / "browser.py"
        browser.write_text("import sys, requests\nrequests.get(sys.argv[1], timeout=30)\n")
        self.env = home_env(root, drop=("ZOOM_", "AWS_", "SUPABASE_", "ZOOMWATCH_"), keep=("AWS_CA_BUNDLE",),
                            PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring", PYTHONUNBUFFERED="1",
                            ZOOM_CLIENT_ID=fake.client_id, BROWSER=f"{sys.executable} {browser} %s",
                            **(extra_env or {}))
        self.fake = fake
        for key, value in (("watch.folder", str(root / "zoom")), ("zoom.mode", "user"),
                           ("zoom.oauth_base", fake.url), ("zoom.api_base", fake.api_base),
                           ("zoom.redirect_port", "0")):
            self.zw("config", "set", key, value)

    def zw(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_zoomwatch(*args, env=self.env, cwd=self.root, timeout=timeout)

    def login(self) -> None:
        done = self.zw("login", "--timeout", "60")
        if "Signed in to Zoom as" not in done.stdout:
            raise BenchError(f"zoomwatch login: {done.stdout}{done.stderr}")

    def sync(self) -> Run:
        return Run(zoomwatch_argv("sync"), env=self.env, cwd=self.root)


# -- phase 1: how many requests a listing takes ----------------------------------------------------

def windows(start: date, end: date, days: int = WINDOW_DAYS) -> list[tuple[date, date]]:
    """[start, end] in windows of at most `days` days, newest first (what zoomwatch asks for)."""
    out, to = [], end
    while to >= start:
        frm = max(start, to - timedelta(days=days - 1))
        out.append((frm, to))
        to = frm - timedelta(days=1)
    return out


def month_before(d: date) -> date:
    """Zoom's silent clamp: `from` is moved to the same day one calendar month before `to`."""
    year, month = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
    import calendar

    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def phase_listing(work: Path, n: int, timeout: float) -> dict[str, Any]:
    from fakes.zoom_api import FakeZoom

    fake = FakeZoom(seed=11)
    fake.start()
    try:
        fake.add_user(USER, first_name="Ana", last_name="Lima")
        now = fake.now().replace(microsecond=0)
        span = timedelta(days=364).total_seconds()
        starts = [now - timedelta(seconds=int((i + 0.5) * span / n)) for i in range(n)]
        log(f"listing: {n} recordings from {starts[-1]:%Y-%m-%d} to {starts[0]:%Y-%m-%d}, 1 KiB MP4 each")
        for i, start in enumerate(starts):
            fake.add_meeting(USER, topic=f"Lecture {i}", start_time=start, timezone="UTC",
                             files=[{"file_type": "MP4", "data": b"\0" * 1024}])
        home = Home(work / "zw-listing", fake)
        home.zw("config", "set", "destination.local.path", str(home.root / "backup"))
        home.zw("config", "set", "zoom.file_types", "SUMMARY")  # a type none of them has: nothing is downloaded
        home.login()

        runs = []
        for label in ("first sync (12 months)", "second sync (incremental)"):
            lists0, tokens0, log0, cpu0 = fake.list_requests, fake.token_requests, len(fake.request_log), self_cpu()
            run = home.sync()
            figures = run.finish(timeout)
            if figures["returncode"] != 0:
                raise BenchError(f"{label}: zoomwatch sync exited {figures['returncode']}:\n{run.tail()}")
            api = [r for r in fake.request_log[log0:] if r.listener == "main" and r.path.startswith("/v2")]
            line = run.find_all(SYNC_LINE)
            shortened = [(m["frm"], m["to"]) for _, m in run.find_all(SHORTENED)]
            windows_asked = sorted({(re.search(r"from=([\d-]+)", r.path) or [None, None])[1] for r in api
                                    if "/recordings" in r.path} - {None})
            runs.append({
                "label": label, "wall_s": round(figures["wall_s"], 3),
                "list_requests": fake.list_requests - lists0, "token_requests": fake.token_requests - tokens0,
                "api_requests": len(api), "meetings_listed": int(line[-1][1]["meetings"]) if line else None,
                "windows_shortened_warnings": shortened, "windows_asked": len(windows_asked),
                "peak_rss_mib": round(figures["peak_rss"] / MIB, 1), "cpu_s": round(figures["cpu_s"], 2),
                "bench_cpu_s": round(self_cpu() - cpu0, 2),
            })
            log(f"  {label}: {runs[-1]['list_requests']} list requests, {runs[-1]['token_requests']} token "
                f"requests, {runs[-1]['meetings_listed']} meetings listed, {figures['wall_s']:.2f} s")

        # the minimum: zoomwatch's own windows (<= 30 days, the 365 days before today) x pages of 300
        today = date.today()
        since = today - timedelta(days=365)
        per_window = []
        for frm, to in windows(since, today):
            count = sum(1 for s in starts if frm <= s.astimezone(timezone.utc).date() <= to)
            clamp = month_before(to)
            lost = sum(1 for s in starts if frm <= s.astimezone(timezone.utc).date() < clamp) if clamp > frm else 0
            per_window.append({"from": frm.isoformat(), "to": to.isoformat(), "meetings": count,
                               "zoom_clamps_from_to": clamp.isoformat() if clamp > frm else None,
                               "meetings_in_clamped_days": lost})
        days = (today - since).days + 1
        minimum = sum(max(1, math.ceil(w["meetings"] / PAGE_SIZE)) for w in per_window)
        out = {
            "recordings": n, "runs": runs, "days_listed": days, "windows": len(per_window),
            "min_windows": math.ceil(days / WINDOW_DAYS), "min_list_requests": minimum,
            "per_window": per_window,
            "meetings_missed_by_clamp": sum(w["meetings_in_clamped_days"] for w in per_window),
        }
        first = runs[0]
        out["ok"] = first["list_requests"] <= minimum and first["meetings_listed"] == n
        return out
    finally:
        fake.stop()


# -- phase 2: cloud recordings to S3, zoomwatch vs download-all-then-upload-all -------------------

BASELINE_DOC = """download every cloud recording to disk, then upload each with boto3 (the way existing scripts do)"""


def baseline_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in a subprocess of the benchmark: requests for Zoom, boto3 for S3."""
    import boto3
    import requests
    from botocore.config import Config as BotoConfig

    t0 = time.monotonic()
    session = requests.Session()
    answer = session.post(f"{spec['oauth_base']}/oauth/token",
                          data={"grant_type": "account_credentials", "account_id": spec["account_id"]},
                          auth=(spec["client_id"], spec["client_secret"]), timeout=30)
    answer.raise_for_status()
    token = answer.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    today = date.today()
    params: dict[str, Any] = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat(),
                              "page_size": 300}
    files = []
    while True:
        page = session.get(f"{spec['api_base']}/users/{spec['user']}/recordings", params=params, headers=headers,
                           timeout=60)
        page.raise_for_status()
        body = page.json()
        for meeting in body.get("meetings", []):
            for item in meeting.get("recording_files", []):
                if item.get("file_type") == "MP4":
                    files.append((meeting["uuid"], item))
        if not body.get("next_page_token"):
            break
        params["next_page_token"] = body["next_page_token"]
    t_listed = time.monotonic()
    folder = Path(spec["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, (_, item) in enumerate(files):
        path = folder / f"recording-{n:03d}.mp4"
        with session.get(item["download_url"], headers=headers, stream=True, timeout=60) as response:
            response.raise_for_status()
            with open(path, "wb") as out:
                for chunk in response.iter_content(MIB):
                    out.write(chunk)
        if path.stat().st_size != item["file_size"]:
            raise RuntimeError(f"{path}: {path.stat().st_size} bytes, listed {item['file_size']}")
        paths.append(path)
    t_downloaded = time.monotonic()
    s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
                      aws_access_key_id=spec["access_key"], aws_secret_access_key=spec["secret_key"],
                      config=BotoConfig(s3={"addressing_style": "path"}))
    for path in paths:
        s3.upload_file(str(path), spec["bucket"], f"{spec['prefix']}/{path.name}")
    t_uploaded = time.monotonic()
    return {"files": len(paths), "bytes": sum(p.stat().st_size for p in paths),
            "list_s": round(t_listed - t0, 3), "download_s": round(t_downloaded - t_listed, 3),
            "upload_s": round(t_uploaded - t_downloaded, 3), "inside_s": round(t_uploaded - t0, 3)}


def stored(client: Any, prefix: str, size: int) -> tuple[int, int]:
    """(objects of `size` bytes under prefix, all objects under prefix)."""
    right = total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            total += 1
            right += obj["Size"] == size
    return right, total


def empty_prefix(client: Any, prefix: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])


def phase_backup(work: Path, count: int, size: int, repeat: int, timeout: float) -> dict[str, Any]:
    from fakes.zoom_api import FakeZoom
    from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

    need = 3 * count * size + 512 * MIB  # spool, baseline folder, the store
    free = shutil.disk_usage(work).free
    if free < need:
        raise BenchError(f"{free / MIB:.0f} MiB free under {work}, {need / MIB:.0f} MiB needed")
    server = SeaweedS3(work / "s3")
    fake = FakeZoom(seed=12)
    try:
        log("backup: starting SeaweedFS")
        server.start()
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        fake.start()
        fake.add_user(USER, first_name="Ana", last_name="Lima")
        now = fake.now().replace(microsecond=0, second=0)
        log(f"backup: {count} cloud recordings of {size / MIB:g} MiB (random bytes) in the stand-in")
        for i in range(count):
            fake.add_meeting(USER, topic=f"Seminar {i}", start_time=now - timedelta(hours=2 * (i + 1)),
                             timezone="Europe/Madrid", files=[{"file_type": "MP4", "data": os.urandom(size)}])
        aws = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        rounds: list[dict[str, Any]] = []
        for round_no in range(repeat):
            order = ["zoomwatch", "baseline"] if round_no % 2 == 0 else ["baseline", "zoomwatch"]
            result: dict[str, Any] = {}
            for tool in order:
                prefix = f"r{round_no}-{tool}"
                cpu0, scpu0, cdn0 = self_cpu(), seaweed_cpu(server), len(fake.cdn_requests)
                if tool == "zoomwatch":
                    home = Home(work / f"zw-backup-{round_no}", fake, aws)
                    for key, value in (("destination.kind", "s3"), ("destination.s3.bucket", BUCKET),
                                       ("destination.s3.prefix", prefix),
                                       ("destination.s3.endpoint_url", server.endpoint),
                                       ("destination.s3.region", "us-east-1"),
                                       ("destination.s3.addressing_style", "path")):
                        home.zw("config", "set", key, value)
                    home.login()
                    cpu0, scpu0, cdn0 = self_cpu(), seaweed_cpu(server), len(fake.cdn_requests)
                    run = home.sync()
                    figures = run.finish(timeout)
                    if figures["returncode"] != 0:
                        raise BenchError(f"zoomwatch sync exited {figures['returncode']}:\n{run.tail()}")
                    listed = run.find_all(SYNC_LINE)
                    verified = run.find_all(VERIFIED)
                    extra = {"downloads_done_s": round(listed[-1][0], 3) if listed else None,
                             "first_verified_s": round(verified[0][0], 3) if verified else None,
                             "last_verified_s": round(verified[-1][0], 3) if verified else None,
                             "verified_lines": len(verified),
                             "spool_left_mib": round(sum(p.stat().st_size for p in (home.root / ".cache").rglob("*")
                                                         if p.is_file()) / MIB, 1)}
                    shutil.rmtree(home.root, ignore_errors=True)
                else:
                    spec = {"oauth_base": fake.url, "api_base": fake.api_base, "client_id": fake.client_id,
                            "client_secret": fake.client_secret, "account_id": fake.account_id, "user": USER,
                            "endpoint": server.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
                            "bucket": BUCKET, "prefix": prefix, "folder": str(work / f"baseline-{round_no}")}
                    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
                    run = Run([sys.executable, str(Path(__file__).resolve()), "_baseline", json.dumps(spec)],
                              env=env, cwd=work)
                    figures = run.finish(timeout)
                    if figures["returncode"] != 0:
                        raise BenchError(f"baseline exited {figures['returncode']}:\n{run.tail()}")
                    extra = json.loads(run.stdout.decode().strip().splitlines()[-1])
                    shutil.rmtree(spec["folder"], ignore_errors=True)
                right, total = stored(client, prefix, size)
                if right != count:
                    raise BenchError(f"{tool}: {right} of {count} objects of {size} bytes stored under {prefix}/ "
                                     f"({total} objects there)")
                result[tool] = {"wall_s": round(figures["wall_s"], 3),
                                "mib_s": round(count * size / MIB / figures["wall_s"], 1),
                                "peak_rss_mib": round(figures["peak_rss"] / MIB, 1),
                                "peak_vmhwm_mib": round(figures["peak_hwm"] / MIB, 1),
                                "cpu_s": round(figures["cpu_s"], 2), "bench_cpu_s": round(self_cpu() - cpu0, 2),
                                "seaweedfs_cpu_s": round(seaweed_cpu(server) - scpu0, 2),
                                "cdn_requests": len(fake.cdn_requests) - cdn0, "objects_stored": total, **extra}
                log(f"  round {round_no + 1} {tool}: {figures['wall_s']:.2f} s, "
                    f"{count * size / MIB / figures['wall_s']:.1f} MiB/s, peak RSS {figures['peak_rss'] / MIB:.0f} MiB")
                empty_prefix(client, prefix)
            result["ratio_baseline_over_zoomwatch"] = round(
                result["baseline"]["wall_s"] / result["zoomwatch"]["wall_s"], 3)
            rounds.append(result)
        zw_walls = [r["zoomwatch"]["wall_s"] for r in rounds]
        bl_walls = [r["baseline"]["wall_s"] for r in rounds]
        return {"count": count, "size_bytes": size, "rounds": rounds,
                "zoomwatch_wall_s": statistics.median(zw_walls), "baseline_wall_s": statistics.median(bl_walls),
                "ratio": round(statistics.median(bl_walls) / statistics.median(zw_walls), 3),
                "zoomwatch_peak_rss_mib": max(r["zoomwatch"]["peak_rss_mib"] for r in rounds),
                "baseline_peak_rss_mib": max(r["baseline"]["peak_rss_mib"] for r in rounds),
                "baseline": BASELINE_DOC}
    finally:
        fake.stop()
        server.stop()


# -- report ---------------------------------------------------------------------------------------

def print_report(r: dict[str, Any]) -> None:
    print(f"\nzoomwatch Zoom cloud benchmark — {r['machine']['cpus']} cores, Python {r['machine']['python']}, "
          f"{r['machine']['when']}")
    lst = r.get("listing")
    if lst:
        print(f"\n1. listing {lst['recordings']} recordings over the last 12 months ({lst['days_listed']} days, "
              f"{lst['windows']} windows of <= {WINDOW_DAYS} days; minimum {lst['min_list_requests']} list requests)")
        for run in lst["runs"]:
            print(f"   {run['label']:<27} {run['list_requests']:>3} list requests, {run['token_requests']} token "
                  f"requests, {run['api_requests']} API requests, {run['meetings_listed']} meetings listed, "
                  f"{run['wall_s']:.2f} s (zoomwatch CPU {run['cpu_s']:.2f} s, bench CPU {run['bench_cpu_s']:.2f} s)")
            for frm, to in run["windows_shortened_warnings"]:
                print(f"   warning logged: Zoom shortened the window starting {frm} to {to}")
        if lst["meetings_missed_by_clamp"]:
            clamped = [w for w in lst["per_window"] if w["zoom_clamps_from_to"]]
            print(f"   {lst['meetings_missed_by_clamp']} meeting(s) fall on days a {WINDOW_DAYS}-day window loses to "
                  f"Zoom's one-month clamp: " + ", ".join(f"{w['from']}..{w['to']} -> from {w['zoom_clamps_from_to']}"
                                                          for w in clamped))
    bk = r.get("backup")
    if bk:
        print(f"\n2. backup of {bk['count']} x {bk['size_bytes'] / MIB:g} MiB cloud recordings to SeaweedFS "
              f"(median of {len(bk['rounds'])} round(s))")
        for n, rnd in enumerate(bk["rounds"], 1):
            z, b = rnd["zoomwatch"], rnd["baseline"]
            print(f"   round {n}: zoomwatch sync {z['wall_s']:.2f} s ({z['mib_s']} MiB/s; downloads done at "
                  f"{z['downloads_done_s']} s, last verified at {z['last_verified_s']} s), peak RSS "
                  f"{z['peak_rss_mib']:.0f} MiB, CPU {z['cpu_s']} s; baseline {b['wall_s']:.2f} s ({b['mib_s']} MiB/s; "
                  f"download {b['download_s']} s, upload {b['upload_s']} s), peak RSS {b['peak_rss_mib']:.0f} MiB, "
                  f"CPU {b['cpu_s']} s; ratio {rnd['ratio_baseline_over_zoomwatch']}")
        print(f"   median: zoomwatch {bk['zoomwatch_wall_s']:.2f} s, baseline {bk['baseline_wall_s']:.2f} s, "
              f"baseline/zoomwatch = {bk['ratio']} (> 1 = zoomwatch faster); zoomwatch peak RSS "
              f"{bk['zoomwatch_peak_rss_mib']:.0f} MiB")
    for phase, error in r["errors"].items():
        print(f"\n{phase} FAILED: {error[-1500:]}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_baseline"]:  # the baseline, in a process of its own
        print(json.dumps(baseline_worker(json.loads(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: backup of 5 x 10 MiB")
    parser.add_argument("--recordings", type=int, default=1000, help="recordings in the listing phase (default 1000)")
    parser.add_argument("--count", type=int, help="recordings in the backup phase (default 20; --quick 5)")
    parser.add_argument("--size-mib", type=float, help="size of each (default 50; --quick 10)")
    parser.add_argument("--repeat", type=int, default=1, help="backup rounds, order alternated (default 1)")
    parser.add_argument("--phases", default="listing,backup", help="a subset of listing,backup (default both)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for one sync (default 900)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    count = args.count or (5 if args.quick else 20)
    size = int((args.size_mib or (10 if args.quick else 50)) * MIB)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(phases) - {"listing", "backup"}:
        parser.error(f"unknown phase(s) in {args.phases}")

    work = make_workdir(args.workdir, "zoomwatch-bench-zoom-")
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "bench/bench_zoom.py", *argv]),
        "machine": machine_info(),
        "settings": {"recordings": args.recordings, "count": count, "size_bytes": size, "repeat": args.repeat},
        "errors": {},
    }
    code = 0
    try:
        log(f"workdir {work}")
        for phase in phases:
            try:
                if phase == "listing":
                    report["listing"] = phase_listing(work, args.recordings, args.timeout)
                else:
                    report["backup"] = phase_backup(work, count, size, args.repeat, args.timeout)
            except (BenchError, RuntimeError, subprocess.SubprocessError, OSError) as exc:
                code = phase_failed(report, phase, exc)
    finally:
        kill_started()
        remove_workdir(work, args.keep)
    print_report(report)
    write_figures(args.json_out, report)
    if code == 0 and report.get("listing") and not report["listing"]["ok"]:
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
