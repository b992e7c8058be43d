#!/usr/bin/env python3
"""Account-wide cloud backup on a fleet: 1, 2 and 3 `zoomwatch run` processes (homes of their own) sharing one
Zoom account (the stand-in, tests/fakes/zoom_api.py, in this process, S2S, downloads throttled per connection
like Zoom's per-connection speed), one SeaweedFS bucket and one real PostgreSQL server (tests/pgserver.py):
wall time until every file's row is published, speed-up against 1 worker, duplicate downloads (the stand-in
counts GETs per file), and the time the others take to finish the users of a worker SIGKILLed halfway.
See bench/README.md; `--quick` is a smoke run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from typing import Any

from common import MIB, NULL_KEYRING, Bench, BenchError, Home, Proc, add_options, log, start_seaweed, wait_until

PHASES = "workers,takeover"


def query(url: str, sql: str, *args: object) -> list[tuple]:
    import psycopg

    try:
        with psycopg.connect(url) as conn:
            return conn.execute(sql, args).fetchall()
    except psycopg.errors.UndefinedTable:
        return []


def published(url: str) -> int:
    found = query(url, "SELECT count(*) FROM zoomwatch_recordings")
    return int(found[0][0]) if found else 0


class Setup:
    def __init__(self, bench: Bench, args: argparse.Namespace) -> None:
        from fakes.zoom_api import FakeZoom
        from pgserver import PostgresServer

        self.bench, self.args = bench, args
        self.zoom = FakeZoom().start()
        self.zoom.add_users_with_recordings(args.users, sizes=(args.file_mib * MIB,))
        self.zoom.throttle_per_connection = args.throttle_mib * MIB
        self.files = len(self.zoom.files_by_id())
        log("starting PostgreSQL")
        self.pg = PostgresServer()  # its own folder under /tmp: the server runs as another user
        self.pg.start()
        self.seaweed, self.s3 = start_seaweed(bench.work / "seaweed", "fleet-0")
        self.template = Home(bench.work / "template", (
            ("destination.kind", "s3"), ("destination.s3.bucket", "fleet-0"),
            ("destination.s3.endpoint_url", self.seaweed.endpoint), ("destination.s3.region", "us-east-1"),
            ("destination.s3.addressing_style", "path"), ("zoom.mode", "s2s"), ("zoom.oauth_base", self.zoom.url),
            ("zoom.api_base", self.zoom.api_base), ("zoom.sync_interval_minutes", "60"),
            ("catalog.lease_seconds", str(args.lease_seconds)), ("watch.folder", str(bench.work / "no-zoom"))))
        (bench.work / "no-zoom").mkdir()
        self.runs = 0

    def close(self) -> None:
        self.zoom.stop()
        self.pg.close()

    def fleet(self, n: int) -> tuple[list[Home], str]:
        """n homes on a new database and a new bucket, the stand-in's counters reset."""
        from s3server import ACCESS_KEY, SECRET_KEY

        self.runs += 1
        name = f"fleet_{self.runs}_{uuid.uuid4().hex[:6]}"
        self.pg.sql(f"CREATE DATABASE {name} OWNER zoomwatch")
        url = self.pg.url.rsplit("/", 1)[0] + f"/{name}"
        bucket = name.replace("_", "-")
        self.s3.create_bucket(Bucket=bucket)
        self.zoom.download_counts.clear()
        homes = []
        for i in range(n):
            home = Home(self.bench.work / f"{name}-m{i}", template=self.template,
                        ZOOMWATCH_SHARED_URL=url, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                        ZOOM_ACCOUNT_ID=self.zoom.account_id, ZOOM_S2S_CLIENT_ID=self.zoom.client_id,
                        ZOOM_S2S_CLIENT_SECRET=self.zoom.client_secret, PYTHON_KEYRING_BACKEND=NULL_KEYRING)
            home.set(("destination.s3.bucket", bucket), ("catalog.machine_name", f"m{i}"))
            homes.append(home)
        return homes, url

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.zoom.download_counts.values() if n > 1)


def stop_all(procs: list[Proc], killed: tuple[Proc, ...] = ()) -> None:
    procs = [p for p in procs if p not in killed]
    for proc in procs:
        if proc.alive():
            proc.signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(120)
        except BenchError:
            proc.kill()


def phase_workers(setup: Setup, counts: list[int], timeout: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in counts:
        homes, url = setup.fleet(n)
        started = time.monotonic()
        procs = [home.run("run") for home in homes]
        try:
            wait_until(lambda url=url: published(url) >= setup.files, timeout, f"{setup.files} files published")
            wall = time.monotonic() - started
        finally:
            stop_all(procs)
        shares = {r[0]: r[1] for r in query(url, "SELECT machine, count(*) FROM zoomwatch_recordings GROUP BY 1")}
        out[str(n)] = {"wall_s": round(wall, 2), "duplicate_downloads": setup.duplicates(), "files_per_worker": shares,
                       "downloads": sum(setup.zoom.download_counts.values())}
        log(f"{n} worker(s): {wall:.1f} s, {setup.duplicates()} duplicate download(s), {shares}")
    if "1" in out:
        for figures in out.values():
            figures["speedup_vs_1"] = round(out["1"]["wall_s"] / figures["wall_s"], 2)
    return out


def phase_takeover(setup: Setup, timeout: float) -> dict[str, Any]:
    homes, url = setup.fleet(3)
    started = time.monotonic()
    procs = [home.run("run") for home in homes]
    try:
        victim_id = wait_until(lambda: (homes[0].root / ".local/state/zoomwatch/machine-id").exists() and
                               (homes[0].root / ".local/state/zoomwatch/machine-id").read_text().strip(), 120,
                               "machine 0's id")
        wait_until(lambda: published(url) >= setup.files // 3 and query(
            url, "SELECT 1 FROM zoomwatch_user_leases WHERE machine = %s", victim_id), timeout, "machine 0 at work")
        held = [r[0] for r in query(url, "SELECT user_email FROM zoomwatch_user_leases WHERE machine = %s", victim_id)]
        in_flight = query(url, "SELECT count(*) FROM zoomwatch_cloud_claims WHERE machine = %s AND state = 'claimed'",
                          victim_id)[0][0]
        procs[0].kill()
        killed = time.monotonic()
        log(f"SIGKILLed machine 0 holding {held} and {in_flight} file claim(s), {published(url)} published")
        wait_until(lambda: query(url, "SELECT 1 FROM zoomwatch_user_leases WHERE user_email = ANY(%s) AND"
                                 " machine IS NOT NULL AND machine != %s", held, victim_id) or
                   published(url) >= setup.files, timeout, "its user taken by another machine")
        taken = time.monotonic() - killed
        wait_until(lambda: published(url) >= setup.files, timeout, "every file published")
        done = time.monotonic() - killed
    finally:
        stop_all(procs, killed=(procs[0],))
    return {"lease_seconds": setup.args.lease_seconds, "first_user_taken_over_s": round(taken, 2),
            "all_done_after_kill_s": round(done, 2), "wall_s": round(time.monotonic() - started, 2),
            "claims_in_flight_at_kill": in_flight, "duplicate_downloads": setup.duplicates()}


def show(report: dict[str, Any]) -> None:
    settings = report["settings"]
    print(f"\nfleet: {settings['users']} users x {settings['file_mib']} MiB, Zoom stand-in throttled to "
          f"{settings['throttle_mib']} MiB/s per connection, SeaweedFS + PostgreSQL on this machine")
    for n, fig in (report.get("workers") or {}).items():
        print(f"  {n} worker(s): {fig['wall_s']:.1f} s (x{fig.get('speedup_vs_1', 0):.2f} vs 1), "
              f"duplicate downloads {fig['duplicate_downloads']}, files per worker {fig['files_per_worker']}")
    take = report.get("takeover")
    if take:
        print(f"  SIGKILL of 1 of 3 (lease {take['lease_seconds']} s): its first user taken over after "
              f"{take['first_user_taken_over_s']:.1f} s, all done {take['all_done_after_kill_s']:.1f} s after the "
              f"kill; {take['claims_in_flight_at_kill']} file(s) in flight, {take['duplicate_downloads']} downloaded "
              "twice")


def verdict(report: dict[str, Any]) -> bool:
    workers = report.get("workers") or {}
    ok = all(f["duplicate_downloads"] == 0 for f in workers.values())
    if "3" in workers:
        ok = ok and workers["3"].get("speedup_vs_1", 0) >= 2.5
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, PHASES, "12 users x 2 MiB at 2 MiB/s, lease 5 s (about 2 minutes)")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--file-mib", type=int, default=16, help="one MP4 of this size per user")
    parser.add_argument("--throttle-mib", type=float, default=8.0, help="MiB/s per download connection")
    parser.add_argument("--lease-seconds", type=int, default=15)
    parser.add_argument("--workers", default="1,2,3")
    args = parser.parse_args()
    if args.quick:
        args.users, args.file_mib, args.throttle_mib, args.lease_seconds = 12, 2, 2.0, 5
    settings = {"users": args.users, "file_mib": args.file_mib, "throttle_mib": args.throttle_mib,
                "lease_seconds": args.lease_seconds, "workers": args.workers}
    bench = Bench("fleet", args, settings)
    phases = bench.phases(parser, PHASES.split(","))
    setup = Setup(bench, args)
    try:
        if "workers" in phases:
            bench.run("workers", phase_workers, setup, [int(n) for n in args.workers.split(",")], args.timeout)
        if "takeover" in phases:
            bench.run("takeover", phase_takeover, setup, args.timeout)
    finally:
        setup.close()
    return bench.finish(show, verdict)


if __name__ == "__main__":
    sys.exit(main())

