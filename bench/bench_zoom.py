#!/usr/bin/env python3
"""Zoom cloud benchmark of zoomwatch against the Zoom stand-in (tests/fakes/zoom_api.py, in this process, in
threads: its CPU counts as "bench CPU"), run from outside (bench/common.py) after a real `zoomwatch login`:
listing a year of recordings (requests and meetings served, from the stand-in's request log, against the
minimum from zoomwatch's own window function) and backing cloud recordings up to SeaweedFS beside a
download-all-then-upload-all script (`--throttle-mib N`: the stand-in sends each download connection at most N
MiB/s, like real Zoom). Both processes count the bytes they hash with SHA-256 (a sitecustomize that wraps
hashlib.sha256, by the module that asked), reported per byte uploaded. See bench/README.md; `--quick` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from datetime import date, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common import (
    MIB,
    Bench,
    BenchError,
    Done,
    Home,
    Proc,
    add_options,
    empty_prefix,
    log,
    seaweed_cpu,
    self_cpu,
    start_seaweed,
)

from zoomwatch.sources.zoom.api import PAGE_SIZE, WINDOW_DAYS, month_before, windows

USER = "ana@example.com"
BUCKET = "zoomwatch-bench"

# put first on PYTHONPATH of a process: it counts the bytes each package hashes with hashlib.sha256, written as
# JSON to $ZW_BENCH_HASHED at exit ({"zoomwatch": n, "botocore": n, ...}; hmac's are the request signatures)
HASH_COUNTER = """
import atexit, collections, hashlib, json, os, sys

_real = hashlib.sha256
_counts = collections.Counter()


class _Counted:
    def __init__(self, h, who):
        self._h, self._who = h, who

    def update(self, data):
        _counts[self._who] += memoryview(data).nbytes
        self._h.update(data)

    def copy(self):
        return _Counted(self._h.copy(), self._who)

    def __getattr__(self, name):
        return getattr(self._h, name)


def sha256(data=b"", **kw):
    who = sys._getframe(1).f_globals.get("__name__", "?").split(".")[0]
    h = _Counted(_real(**kw), who)
    if data:
        h.update(data)
    return h


hashlib.sha256 = sha256


@atexit.register
def _write():
    with open(os.environ["ZW_BENCH_HASHED"], "w") as out:
        json.dump(dict(_counts), out)
"""


def hash_counting(env: dict[str, str], work: Path, name: str) -> tuple[dict[str, str], Path]:
    """`env` with the hash counter on PYTHONPATH; the file it writes its counts to."""
    folder = work / "hash-counter"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(HASH_COUNTER)
    out = work / f"hashed-{name}.json"
    path = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, "ZW_BENCH_HASHED": str(out)}, out


def hashed_figures(out: Path, uploaded: int) -> dict[str, Any]:
    counts = json.loads(out.read_text()) if out.exists() else {}
    return {"hashed_by": counts, "hashed_per_uploaded": round(sum(counts.values()) / uploaded, 3),
            "own_hashed_per_uploaded": round(counts.get("zoomwatch", counts.get("__main__", 0)) / uploaded, 3)}


def zoom_home(root: Path, fake: Any, settings: list[tuple[str, str]], **env: str) -> Home:
    """A zoomwatch signed in to the stand-in (a real `zoomwatch login`), with `settings`."""
    for folder in ("zoom", "backup"):
        (root / folder).mkdir(parents=True)
    browser = root / "browser.py"
    browser.write_text("import sys, requests\nrequests.get(sys.argv[1], timeout=30)\n")
    home = Home(root, [("watch.folder", str(root / "zoom")), ("zoom.mode", "user"), ("zoom.oauth_base", fake.url),
                       ("zoom.api_base", fake.api_base), ("zoom.redirect_port", "0"), *settings],
                drop=("ZOOM_", "AWS_", "SUPABASE_", "ZOOMWATCH_"), keep=("AWS_CA_BUNDLE",),
                PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring", ZOOM_CLIENT_ID=fake.client_id,
                BROWSER=f"{sys.executable} {browser} %s", **env)
    if "Signed in to Zoom as" not in (done := home.zw("login", "--timeout", "60")).stdout:
        raise BenchError(f"zoomwatch login: {done.stdout}{done.stderr}")
    return home


def figures(done: Done, cpu0: float) -> dict[str, Any]:
    return {"wall_s": round(done.wall_s, 3), "peak_rss_mib": round(done.peak_rss / MIB, 1),
            "peak_vmhwm_mib": round(done.peak_hwm / MIB, 1), "cpu_s": round(done.cpu_s, 2),
            "bench_cpu_s": round(self_cpu() - cpu0, 2)}


# -- listing --------------------------------------------------------------------------------------

def served(requests: list[Any], starts: list[Any]) -> dict[str, Any]:
    """What the stand-in served for these recordings-list requests: the windows asked, the meetings in them
    (pages x 300 at most, after its one-month clamp) and the meetings the clamp cut off."""
    pages: dict[tuple[date, date], int] = {}
    for r in requests:
        query = parse_qs(urlsplit(r.path).query)
        if "/recordings" in r.path and "from" in query:
            window = (date.fromisoformat(query["from"][0]), date.fromisoformat(query["to"][0]))
            pages[window] = pages.get(window, 0) + 1
    days = [s.astimezone(timezone.utc).date() for s in starts]
    listed = lost = 0
    shortened = []
    for (frm, to), n in pages.items():
        clamp = max(frm, month_before(to))
        listed += min(n * PAGE_SIZE, sum(1 for d in days if clamp <= d <= to))
        if clamp > frm:
            shortened.append((frm.isoformat(), clamp.isoformat()))
            lost += sum(1 for d in days if frm <= d < clamp)
    return {"windows_asked": len(pages), "meetings_listed": listed, "windows_shortened": shortened,
            "meetings_in_shortened_days": lost}


def phase_listing(work: Path, n: int, timeout: float) -> dict[str, Any]:
    from fakes.zoom_api import FakeZoom

    fake = FakeZoom(seed=11)
    fake.start()
    try:
        fake.add_user(USER, first_name="Ana", last_name="Lima")
        now = fake.now().replace(microsecond=0)
        starts = [now - timedelta(seconds=int((i + 0.5) * 364 * 86400 / n)) for i in range(n)]
        for i, start in enumerate(starts):
            fake.add_meeting(USER, topic=f"Lecture {i}", start_time=start, timezone="UTC",
                             files=[{"file_type": "MP4", "data": b"\0" * 1024}])
        home = zoom_home(work / "zw-listing", fake, [("destination.local.path", str(work / "zw-listing" / "backup")),
                                                     ("zoom.file_types", "SUMMARY")])
        runs = []
        for label in ("first sync (12 months)", "second sync (incremental)"):
            lists0, tokens0, log0, cpu0 = fake.list_requests, fake.token_requests, len(fake.request_log), self_cpu()
            done = home.run("sync", after_exec=True).wait(timeout).check()
            api = [r for r in fake.request_log[log0:] if r.listener == "main" and r.path.startswith("/v2")]
            runs.append({"label": label, "list_requests": fake.list_requests - lists0,
                         "token_requests": fake.token_requests - tokens0, "api_requests": len(api),
                         **served(api, starts), **figures(done, cpu0)})
            log(f"  {label}: {runs[-1]['list_requests']} list requests, {runs[-1]['meetings_listed']} meetings")
        today = date.today()  # the minimum: zoomwatch's own windows over its first sync's 365 days, pages of 300
        per_window = [sum(1 for s in starts if frm <= s.astimezone(timezone.utc).date() <= to)
                      for frm, to in windows(today - timedelta(days=365), today)]
        minimum = sum(max(1, math.ceil(count / PAGE_SIZE)) for count in per_window)
        return {"recordings": n, "runs": runs, "days_listed": 366, "windows": len(per_window),
                "min_list_requests": minimum,
                "ok": runs[0]["list_requests"] <= minimum and runs[0]["meetings_listed"] == n}
    finally:
        fake.stop()


# -- backup ---------------------------------------------------------------------------------------

def baseline_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Download every cloud recording to disk, then upload each with boto3 (the way existing scripts do).
    Runs in a subprocess of the benchmark."""
    import boto3
    import requests
    from botocore.config import Config as BotoConfig

    t0, session = time.monotonic(), requests.Session()
    answer = session.post(f"{spec['oauth_base']}/oauth/token", timeout=30, auth=(spec["client_id"],
                          spec["client_secret"]), data={"grant_type": "account_credentials",
                                                        "account_id": spec["account_id"]})
    answer.raise_for_status()
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    params: dict[str, Any] = {"from": (date.today() - timedelta(days=29)).isoformat(),
                              "to": date.today().isoformat(), "page_size": 300}
    files = []
    while True:
        page = session.get(f"{spec['api_base']}/users/{spec['user']}/recordings", params=params, headers=headers,
                           timeout=60)
        page.raise_for_status()
        body = page.json()
        files += [f for m in body.get("meetings", []) for f in m.get("recording_files", []) if f["file_type"] == "MP4"]
        if not body.get("next_page_token"):
            break
        params["next_page_token"] = body["next_page_token"]
    t_listed, folder, paths = time.monotonic(), Path(spec["folder"]), []
    folder.mkdir(parents=True, exist_ok=True)
    for n, item in enumerate(files):
        paths.append(folder / f"recording-{n:03d}.mp4")
        with session.get(item["download_url"], headers=headers, stream=True, timeout=60) as response, \
                open(paths[-1], "wb") as out:
            response.raise_for_status()
            for chunk in response.iter_content(MIB):
                out.write(chunk)
    t_downloaded = time.monotonic()
    s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1", aws_access_key_id=spec["key"],
                      aws_secret_access_key=spec["secret"], config=BotoConfig(s3={"addressing_style": "path"}))
    for path in paths:
        s3.upload_file(str(path), spec["bucket"], f"{spec['prefix']}/{path.name}")
    return {"files": len(paths), "list_s": round(t_listed - t0, 3), "download_s": round(t_downloaded - t_listed, 3),
            "upload_s": round(time.monotonic() - t_downloaded, 3)}


def timed_sync(home: Home, count: int, work: Path, name: str) -> tuple[Proc, Path]:
    """`zoomwatch sync`, timed by its catalog: every cloud file is queued right after its download."""
    def verified() -> int:
        return sum(r.state == "verified" for r in home.rows())

    home.env, hashed = hash_counting(home.env, work, name)
    return home.run("sync", after_exec=True, marks={
        "downloads_done_s": lambda: len(home.rows()) >= count, "first_verified_s": verified,
        "last_verified_s": lambda: verified() >= count}), hashed


def phase_backup(work: Path, count: int, size: int, repeat: int, timeout: float,
                 throttle_mib: float = 0.0) -> dict[str, Any]:
    from fakes.zoom_api import FakeZoom
    from s3server import ACCESS_KEY, SECRET_KEY

    if shutil.disk_usage(work).free < 3 * count * size + 512 * MIB:
        raise BenchError(f"not enough free space under {work} for the spool, the baseline's folder and the store")
    server, client = start_seaweed(work / "s3", BUCKET)
    fake = FakeZoom(seed=12)
    fake.start()
    fake.throttle_per_connection = throttle_mib * MIB  # bytes/s per download connection (0: loopback speed)
    try:
        fake.add_user(USER, first_name="Ana", last_name="Lima")
        now = fake.now().replace(microsecond=0, second=0)
        for i in range(count):
            fake.add_meeting(USER, topic=f"Seminar {i}", start_time=now - timedelta(hours=2 * (i + 1)),
                             timezone="Europe/Madrid", files=[{"file_type": "MP4", "data": os.urandom(size)}])
        rounds = []
        for n in range(repeat):
            result: dict[str, Any] = {}
            for tool in ("zoomwatch", "baseline")[::1 if n % 2 == 0 else -1]:
                prefix = f"r{n}-{tool}"
                if tool == "zoomwatch":
                    home = zoom_home(work / f"zw-backup-{n}", fake, [
                        ("destination.kind", "s3"), ("destination.s3.bucket", BUCKET),
                        ("destination.s3.prefix", prefix), ("destination.s3.endpoint_url", server.endpoint),
                        ("destination.s3.region", "us-east-1"), ("destination.s3.addressing_style", "path")],
                        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
                    proc, hashed = timed_sync(home, count, work, prefix)
                else:
                    spec = {"oauth_base": fake.url, "api_base": fake.api_base, "client_id": fake.client_id,
                            "client_secret": fake.client_secret, "account_id": fake.account_id, "user": USER,
                            "endpoint": server.endpoint, "key": ACCESS_KEY, "secret": SECRET_KEY, "bucket": BUCKET,
                            "prefix": prefix, "folder": str(work / f"baseline-{n}")}
                    env, hashed = hash_counting({k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                                                work, prefix)
                    proc = Proc([sys.executable, __file__, "_baseline", json.dumps(spec)], cwd=work, after_exec=True,
                                env=env, name=tool)
                cpu0, scpu0, cdn0 = self_cpu(), seaweed_cpu(server), len(fake.cdn_requests)
                done = proc.wait(timeout).check()
                extra = {**{k: round(v, 3) for k, v in done.marks.items()}, **hashed_figures(hashed, count * size)}
                if tool == "baseline":
                    extra = {**json.loads(done.stdout.strip().splitlines()[-1]), **hashed_figures(hashed, count * size)}
                    shutil.rmtree(spec["folder"], ignore_errors=True)
                else:
                    home.close()
                    shutil.rmtree(home.root, ignore_errors=True)
                objects = empty_prefix(client, BUCKET, prefix)
                if sum(o["Size"] == size for o in objects) != count:
                    raise BenchError(f"{tool}: expected {count} objects of {size} bytes under {prefix}/, found "
                                     f"{[o['Size'] for o in objects]}")
                result[tool] = {**figures(done, cpu0), "mib_s": round(count * size / MIB / done.wall_s, 1),
                                "seaweedfs_cpu_s": round(seaweed_cpu(server) - scpu0, 2),
                                "cdn_requests": len(fake.cdn_requests) - cdn0, **extra}
                log(f"  round {n + 1} {tool}: {done.wall_s:.2f} s, peak RSS {done.peak_rss / MIB:.0f} MiB")
            result["ratio_baseline_over_zoomwatch"] = round(result["baseline"]["wall_s"]
                                                            / result["zoomwatch"]["wall_s"], 3)
            result["zoomwatch_over_baseline"] = round(result["zoomwatch"]["wall_s"] / result["baseline"]["wall_s"], 3)
            rounds.append(result)
        zw, bl = (statistics.median(r[t]["wall_s"] for r in rounds) for t in ("zoomwatch", "baseline"))
        return {"count": count, "size_bytes": size, "rounds": rounds, "zoomwatch_wall_s": zw, "baseline_wall_s": bl,
                "ratio": round(bl / zw, 3), "zoomwatch_over_baseline": round(zw / bl, 3),
                "throttle_mib_per_connection": throttle_mib, "baseline": baseline_worker.__doc__.split(".")[0],
                **{f"{t}_peak_rss_mib": max(r[t]["peak_rss_mib"] for r in rounds) for t in ("zoomwatch", "baseline")}}
    finally:
        fake.stop()


# -- report ---------------------------------------------------------------------------------------

def print_report(r: dict[str, Any]) -> None:
    print(f"\nzoomwatch Zoom cloud benchmark — {r['machine']['cpus']} cores, Python {r['machine']['python']}, "
          f"zoomwatch {r['machine']['zoomwatch']}, {r['machine']['when']}")
    if lst := r.get("listing"):
        print(f"\n1. listing {lst['recordings']} recordings over the last 12 months ({lst['windows']} windows of <= "
              f"{WINDOW_DAYS} days; minimum {lst['min_list_requests']} list requests)")
        for run in lst["runs"]:
            print(f"   {run['label']:<27} {run['list_requests']:>3} list requests, {run['token_requests']} token "
                  f"requests, {run['api_requests']} API requests, {run['meetings_listed']} meetings served, "
                  f"{run['wall_s']:.2f} s (zoomwatch CPU {run['cpu_s']:.2f} s, bench CPU {run['bench_cpu_s']:.2f} s)")
            for frm, to in run["windows_shortened"]:
                print(f"   the stand-in shortened the window from {frm} to {to} (Zoom's one-month clamp)")
    if bk := r.get("backup"):
        throttle = bk.get("throttle_mib_per_connection") or 0
        print(f"\n2. backup of {bk['count']} x {bk['size_bytes'] / MIB:g} MiB cloud recordings to SeaweedFS "
              f"(median of {len(bk['rounds'])} round(s); Zoom stand-in downloads "
              f"{f'throttled to {throttle:g} MiB/s per connection' if throttle else 'unthrottled'})")
        for n, rnd in enumerate(bk["rounds"], 1):
            z, b = rnd["zoomwatch"], rnd["baseline"]
            print(f"   round {n}: zoomwatch sync {z['wall_s']:.2f} s (downloads done at {z.get('downloads_done_s')} s, "
                  f"last verified at {z.get('last_verified_s')} s), peak RSS {z['peak_rss_mib']:.0f} MiB, CPU "
                  f"{z['cpu_s']} s; baseline {b['wall_s']:.2f} s (download {b['download_s']} s, upload "
                  f"{b['upload_s']} s), peak RSS {b['peak_rss_mib']:.0f} MiB; "
                  f"ratio {rnd['ratio_baseline_over_zoomwatch']}")
            print(f"      SHA-256 bytes hashed per byte uploaded: zoomwatch {z.get('hashed_per_uploaded')} (its own "
                  f"code {z.get('own_hashed_per_uploaded')}; {z.get('hashed_by')}), baseline "
                  f"{b.get('hashed_per_uploaded')} ({b.get('hashed_by')})")
        print(f"   median: zoomwatch/baseline = {bk.get('zoomwatch_over_baseline')} (goal <= 0.75); "
              f"baseline/zoomwatch = {bk['ratio']} (> 1 = zoomwatch faster); zoomwatch peak RSS "
              f"{bk['zoomwatch_peak_rss_mib']:.0f} MiB, baseline {bk['baseline_peak_rss_mib']:.0f} MiB")


def main() -> int:
    if sys.argv[1:2] == ["_baseline"]:  # the baseline, in a process of its own
        print(json.dumps(baseline_worker(json.loads(sys.argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "listing,backup", "backup of 5 x 10 MiB")
    parser.add_argument("--recordings", type=int, default=1000, help="recordings in the listing phase (default 1000)")
    parser.add_argument("--count", type=int, help="recordings in the backup phase (default 20; --quick 5)")
    parser.add_argument("--size-mib", type=float, help="size of each (default 50; --quick 10)")
    parser.add_argument("--repeat", type=int, default=1, help="backup rounds, order alternated (default 1)")
    parser.add_argument("--throttle-mib", type=float, default=0.0,
                        help="MiB/s the Zoom stand-in sends on each download connection (default 0: unthrottled)")
    args = parser.parse_args()
    count, size = args.count or (5 if args.quick else 20), int((args.size_mib or (10 if args.quick else 50)) * MIB)
    bench = Bench("zoom", args, {"recordings": args.recordings, "count": count, "size_bytes": size,
                                 "repeat": args.repeat, "throttle_mib": args.throttle_mib})
    for phase in bench.phases(parser, ("listing", "backup")):
        if phase == "listing":
            bench.run(phase, phase_listing, bench.work, args.recordings, args.timeout)
        else:
            bench.run(phase, phase_backup, bench.work, count, size, args.repeat, args.timeout, args.throttle_mib)
    return bench.finish(print_report, lambda r: r.get("listing", {}).get("ok", True))


if __name__ == "__main__":
    sys.exit(main())
