#!/usr/bin/env python3
"""Clean-up benchmark (issue 14), run from outside on the shared harness (bench/common.py):

- `local`: `zoomwatch cleanup` of N safe local recordings (4 per meeting folder) backed up to a folder on a
  tmpfs (another disk, as the clean-up requires; needs root to mount it): wall time, CPU, bytes freed, files
  per second — beside a plain send2trash of the same number of folders with no check at all (the peer: the
  price of checking every backup at the destination right before).
- `order`: a `zoomwatch sync` of 20 cloud meetings with mixed deletion dates (auto_delete_date) from the
  Zoom stand-in (in this process): the order in which their files were fetched, beside the listing's own
  order (newest first), and whether every scheduled meeting came before every unscheduled one.

`--quick`: 100 files in the local phase.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import MIB, Bench, BenchError, Home, Proc, add_options, fmt_size, log, make_file, self_cpu

FILES = ("video.mp4", "audio.m4a", "chat.txt", "captions.vtt")
OLD = 30 * 86400


def mount_tmpfs(where: Path, size_mib: int) -> None:
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"cannot mount a tmpfs for the backup (root needed): {done.stderr.strip()}")


def meeting_folders(root: Path, count: int, size: int) -> int:
    """`count` files in meeting folders of 4 (plus Zoom's recording.conf); returns their bytes."""
    total = 0
    for n in range(0, count, len(FILES)):
        folder = root / f"2026-0{1 + n % 9}-1{n % 10} 10.00.00 Meeting {n:05d} 8{n:09d}"
        for name in FILES[: min(len(FILES), count - n)]:
            make_file(folder / name, size, age=OLD)
            total += size
        (folder / "recording.conf").write_text("{}")
    return total


def phase_local(work: Path, count: int, size: int, timeout: float) -> dict[str, Any]:
    nas = work / "nas"
    mount_tmpfs(nas, max(64, 2 * count * size // MIB + 32))
    try:
        root = work / "home"
        zoom, backup = root / "zoom", nas / "backup"
        zoom.mkdir(parents=True)
        backup.mkdir()
        total = meeting_folders(zoom, count, size)
        home = Home(root, [("watch.folder", str(zoom)), ("destination.local.path", str(backup)),
                           ("watch.settle_seconds", "1"), ("cleanup.local_after_days", "7")],
                    drop=("ZOOM_", "AWS_", "SUPABASE_", "ZOOMWATCH_"))
        log(f"backing up {count} files ({fmt_size(total)})")
        home.zw("run", "--once", "--max-wait", "60", timeout=timeout)
        cpu0 = self_cpu()
        run = Proc([*home.command, "cleanup"], env=home.env, cwd=root, name="zoomwatch cleanup")
        done = run.wait(timeout).check()
        left = sum(1 for p in zoom.rglob("*") if p.is_file())
        journal = json.loads(subprocess.run(
            [sys.executable, "-c", "import json,sqlite3,sys; db=sqlite3.connect(sys.argv[1]); print(json.dumps("
             "db.execute(\"SELECT COALESCE(SUM(size),0), COUNT(*) FROM cleanup_log WHERE state='done'\").fetchone()))",
             str(Path(home.env["XDG_DATA_HOME"]) / "zoomwatch" / "catalog.sqlite3")],
            capture_output=True, text=True, timeout=60).stdout)
        peer = plain_send2trash(work, count, size)
        home.close()
        return {"files": count, "bytes": total, "wall_s": round(done.wall_s, 3), "cpu_s": round(done.cpu_s, 2),
                "bench_cpu_s": round(self_cpu() - cpu0, 2), "peak_rss_mib": round(done.peak_rss / MIB, 1),
                "bytes_freed": journal[0], "folders_trashed": journal[1], "files_left": left,
                "files_per_s": round(count / done.wall_s, 1) if done.wall_s else None,
                "peer_send2trash_s": peer, "ratio_to_peer": round(done.wall_s / peer, 2) if peer else None}
    finally:
        subprocess.run(["umount", "-l", str(nas)], check=False)


def plain_send2trash(work: Path, count: int, size: int) -> float:
    """The same folders moved to the trash by send2trash alone (no catalog, no check): seconds."""
    root = work / "peer"
    zoom = root / "zoom"
    meeting_folders(zoom, count, size)
    code = ("import sys, time, pathlib; from send2trash import send2trash; t = time.perf_counter(); "
            "[send2trash(str(p)) for p in sorted(pathlib.Path(sys.argv[1]).iterdir())]; "
            "print(time.perf_counter() - t)")
    env = Home(root, drop=("ZOOM_", "AWS_", "SUPABASE_", "ZOOMWATCH_")).env
    done = subprocess.run([sys.executable, "-c", code, str(zoom)], env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise BenchError(f"plain send2trash failed: {done.stderr[-1000:]}")
    return round(float(done.stdout.strip()), 3)


def phase_order(work: Path, timeout: float) -> dict[str, Any]:
    from bench_zoom import USER, zoom_home
    from fakes.zoom_api import FakeZoom

    days = [40, None, 3, 25, None, 1, 12, 6, None, 30, 2, 18, None, 9, 60, 4, None, 15, 8, 21]
    fake = FakeZoom().start()
    try:
        fake.add_user(USER)
        today = dt.date.today()
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        by_id: dict[int, int | None] = {}
        for n, d in enumerate(days):
            m = fake.add_meeting(USER, topic=f"Class {n}", start_time=now - dt.timedelta(days=1 + n),
                                 files=[{"file_type": "MP4", "data": bytes([n]) * 200_000}],
                                 auto_delete_date=None if d is None else today + dt.timedelta(days=d))
            by_id[m["id"]] = d
        home = zoom_home(work / "order", fake, [("zoom.since", (today - dt.timedelta(days=40)).isoformat())])
        started = time.monotonic()
        home.zw("sync", timeout=timeout)
        wall = time.monotonic() - started
        fetched: list[int] = []
        for request in fake.cdn_requests:
            meeting_id = int(request["path"].split("/")[5])
            if meeting_id not in fetched:
                fetched.append(meeting_id)
        order = [by_id[i] for i in fetched]
        scheduled = [d for d in order if d is not None]
        home.close()
        return {"meetings": len(days), "sync_wall_s": round(wall, 2),
                "fetch_order_days_to_deletion": order,
                "listing_order_days_to_deletion": days,  # Zoom lists newest first: the order without the sort
                "scheduled_first": order[: len(scheduled)] == sorted(scheduled) and None not in order[:len(scheduled)],
                "all_fetched": len(fetched) == len(days)}
    finally:
        fake.stop()


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{report['command']}\n{report['machine']}")
    local = report.get("local")
    if local:
        print(f"\nlocal clean-up: {local['files']} safe files ({fmt_size(local['bytes'])}) in {local['wall_s']} s "
              f"({local['files_per_s']} files/s, CPU {local['cpu_s']} s, peak RSS {local['peak_rss_mib']} MiB); "
              f"freed {fmt_size(local['bytes_freed'])} in {local['folders_trashed']} folders; "
              f"{local['files_left']} files left")
        print(f"  peer: plain send2trash of the same folders, no check: {local['peer_send2trash_s']} s "
              f"(zoomwatch / peer = {local['ratio_to_peer']})")
    order = report.get("order")
    if order:
        print(f"\nsync of {order['meetings']} meetings ({order['sync_wall_s']} s): days to Zoom's deletion, "
              f"in fetch order: {order['fetch_order_days_to_deletion']}")
        print(f"  Zoom's listing order:                      {order['listing_order_days_to_deletion']}")
        print(f"  soonest first: {order['scheduled_first']}; all fetched: {order['all_fetched']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "local,order", "100 files in the local phase")
    parser.add_argument("--files", type=int, help="safe files in the local phase (default 1000; --quick 100)")
    parser.add_argument("--size-kib", type=int, default=64, help="size of each (default 64 KiB)")
    args = parser.parse_args()
    count = args.files or (100 if args.quick else 1000)
    size = args.size_kib * 1024
    bench = Bench("cleanup", args, {"files": count, "size_bytes": size})
    for phase in bench.phases(parser, ("local", "order")):
        if phase == "local":
            bench.run(phase, phase_local, bench.work, count, size, args.timeout)
        else:
            bench.run(phase, phase_order, bench.work, args.timeout)
    return bench.finish(print_report, lambda r: all((
        r.get("local", {}).get("files_left", 0) == 0, r.get("order", {}).get("scheduled_first", True))))


if __name__ == "__main__":
    sys.exit(main())
