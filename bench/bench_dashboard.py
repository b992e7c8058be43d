#!/usr/bin/env python3
"""Benchmark of the dashboard and the REST API (issue 13), run from outside on bench/common.py: a catalog of
10,000 backed-up recording files, a real `zoomwatch run` serving them, and

- page: the dashboard's first page (server time: the HTML over HTTP; page load: Debian's chromium, headless,
  through selenium, the navigation's duration), beside its last page and a search, and beside the peer
  `zoomwatch status --json` (the other way to read the same list);
- api: p50/p95 of GET /api/recordings (random pages of 50, and searches) beside GET /health (the framework's
  own floor);
- memory: the zoomwatch process's RSS with the dashboard off and on (same catalog, after start-up and after
  the API phase): what the server adds.

`--quick` is a smoke run (1,000 files, fewer requests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Bench, BenchError, Home, Proc, add_options, log, mib, psutil, wait_until

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FIRST_DAY = dt.datetime(2020, 1, 1, 9, 0)
KEYRING = "keyrings.alt.file.PlaintextKeyring"


def seed(home: Home, files: int) -> float:
    """`files` backed-up recording files (four per meeting) in the catalog, through zoomwatch's Catalog."""
    from zoomwatch import config as configmod
    from zoomwatch.core.catalog import Catalog, FileInfo
    from zoomwatch.destinations import open_destination
    from zoomwatch.paths import AppPaths

    started = time.monotonic()
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
                                             "XDG_CACHE_HOME")}
    os.environ.update({k: home.env[k] for k in saved})
    try:
        cfg = configmod.load(AppPaths.default())
        dest = open_destination(cfg).id
        catalog = Catalog(cfg.paths.catalog_file)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        names = ("zoom_0.mp4", "audio_only.m4a", "meeting_saved_chat.txt", "closed_caption.txt")
        for n in range(files):
            meeting, part = divmod(n, len(names))
            start = FIRST_DAY + dt.timedelta(hours=meeting)
            title = f"Team meeting {meeting:05d}"
            path = home.root / "old" / f"{start:%Y-%m-%d %H.%M.%S} {title}" / names[part]
            row = catalog.note_seen(dest, path, 10_000 + n, 1_600_000_000_000_000_000 + n)
            catalog.mark_queued(row.id, 10_000 + n, 1_600_000_000_000_000_000 + n,
                                FileInfo(title=title, start=start.isoformat(),
                                         meeting_id=str(80_000_000_000 + meeting)))
            catalog.mark_verified(row.id, f"{n:064x}", f"{start:%Y/%m}/{start:%Y-%m-%d %H.%M.%S} {title}/{names[part]}")
    finally:
        catalog.close()
    return time.monotonic() - started


class Server:
    """`zoomwatch run` with its dashboard, its URL and API key."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.proc: Proc = home.run("run")
        self.url = ""
        self.key = ""

    def ready(self, dashboard: bool) -> Server:
        status_file = Path(self.home.env["XDG_STATE_HOME"]) / "zoomwatch" / "status.json"

        def published() -> dict[str, Any] | None:
            self.proc.alive()
            try:
                data = json.loads(status_file.read_text())
            except (OSError, ValueError):
                return None
            if data.get("pid") != self.proc.proc.pid or (dashboard and not data.get("dashboard")):
                return None
            return data

        data = wait_until(published, 300, "the running zoomwatch's status file")
        if dashboard:
            self.url = data["dashboard"]
            self.key = self.home.zw("dashboard", "--api-key").stdout.strip()
        return self

    def rss(self) -> int:
        return int(psutil.Process(self.proc.proc.pid).memory_info().rss)

    def stop(self) -> None:
        self.proc.signal()
        self.proc.wait(120).check()


def settled_rss(server: Server, seconds: float = 3.0) -> int:
    """The process's RSS after `seconds` of quiet (the median of samples over the last second)."""
    time.sleep(seconds - 1.0)
    samples = []
    for _ in range(10):
        samples.append(server.rss())
        time.sleep(0.1)
    return int(statistics.median(samples))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 50), 2), "p95_ms": round(percentile(values, 95), 2),
            "max_ms": round(max(values), 2), "n": len(values)}


def phase_page(server: Server, files: int, repeats: int) -> dict[str, Any]:
    import requests

    session = requests.Session()
    link = server.home.zw("dashboard", "--no-browser").stdout.split()[-1]
    if session.get(link, timeout=60, allow_redirects=False).status_code != 303:
        raise BenchError("the one-time link did not open a session")
    pages = -(-files // 50)

    def get(query: str) -> None:
        answer = session.get(server.url + query, timeout=120)
        if answer.status_code != 200 or "recordings" not in answer.text:
            raise BenchError(f"page {query} answered {answer.status_code}")

    first = timed(lambda: get(""), repeats)
    last = timed(lambda: get(f"?page={pages}"), repeats)
    search = timed(lambda: get("?q=meeting+0042"), repeats)
    peer = timed(lambda: server.home.zw("status", "--json"), max(3, repeats // 4))
    out: dict[str, Any] = {"files": files, "first_page_server": ms(first), "last_page_server": ms(last),
                           "search_page_server": ms(search), "peer_status_json_cli": ms(peer),
                           "ratio_status_json_to_first_page": round(percentile(peer, 50) / percentile(first, 50), 1)}
    out["first_page_browser"] = browser_load(server, repeats)
    return out


def browser_load(server: Server, repeats: int) -> dict[str, Any]:
    """The first page loaded in Debian's chromium (headless): the navigation's duration as the browser times it
    (request to load event), after entering through a one-time link."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="zoomwatch-bench-chromium-")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get(server.home.zw("dashboard", "--no-browser").stdout.split()[-1])
        durations = []
        for _ in range(repeats):
            driver.get(server.url)
            entry = driver.execute_script("const n = performance.getEntriesByType('navigation')[0];"
                                          "return [n.responseEnd - n.requestStart, n.loadEventEnd - n.startTime];")
            durations.append((float(entry[0]), float(entry[1])))
            if "Team meeting" not in driver.page_source:
                raise BenchError("the browser did not show the meetings")
        return {"response_ms": ms([d[0] for d in durations]), "load_ms": ms([d[1] for d in durations])}
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def phase_api(server: Server, files: int, requests_n: int) -> dict[str, Any]:
    import requests

    session = requests.Session()
    session.headers["X-API-Key"] = server.key
    pages = -(-files // 50)
    rng = random.Random(7)

    def get(path: str) -> None:
        answer = session.get(server.url + path, timeout=120)
        if answer.status_code != 200:
            raise BenchError(f"{path} answered {answer.status_code}: {answer.text[:300]}")

    health = timed(lambda: get("health"), requests_n)
    listing = timed(lambda: get(f"api/recordings?page={rng.randint(1, pages)}&per_page=50"), requests_n)
    searching = timed(lambda: get(f"api/recordings?q=meeting+{rng.randint(0, files // 4 // 10):04d}"),
                      max(10, requests_n // 4))
    dated = timed(lambda: get(f"api/recordings?from={(FIRST_DAY + dt.timedelta(days=rng.randint(0, 30))):%Y-%m-%d}"),
                  max(10, requests_n // 4))
    return {"health": ms(health), "recordings_page_of_50": ms(listing), "recordings_search": ms(searching),
            "recordings_from_date": ms(dated),
            "ratio_recordings_to_health_p50": round(percentile(listing, 50) / percentile(health, 50), 1)}


def phase_memory(home: Home) -> dict[str, Any]:
    home.set(("dashboard.enabled", "false"))
    off = Server(home).ready(dashboard=False)
    try:
        rss_off = settled_rss(off)
    finally:
        off.stop()
    home.set(("dashboard.enabled", "true"))
    on = Server(home).ready(dashboard=True)
    try:
        rss_on = settled_rss(on)
    finally:
        on.stop()
    return {"rss_mib_dashboard_off": mib(rss_off), "rss_mib_dashboard_on": mib(rss_on),
            "added_mib": mib(rss_on - rss_off)}


def print_report(report: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "page,api,memory", "1,000 files, 5 page loads, 60 API requests")
    parser.add_argument("--files", type=int, help="recording files in the catalog (default 10000)")
    args = parser.parse_args()
    q = args.quick
    files = args.files or (1000 if q else 10000)
    repeats, requests_n = (5, 60) if q else (20, 400)
    bench = Bench("dashboard", args, {"files": files, "page_repeats": repeats, "api_requests": requests_n})
    phases = bench.phases(parser, ("page", "api", "memory"))
    try:
        zoom, dest = bench.work / "zoom", bench.work / "backup"
        zoom.mkdir()
        dest.mkdir()
        home = Home(bench.work / "home", [("watch.folder", str(zoom)), ("destination.local.path", str(dest))],
                    PYTHON_KEYRING_BACKEND=KEYRING)
        log(f"seeding {files} recording files")
        bench.report["seed_seconds"] = round(seed(home, files), 1)
        if {"page", "api"} & set(phases):
            server = Server(home).ready(dashboard=True)
            try:
                if "page" in phases:
                    bench.run("page", phase_page, server, files, repeats)
                if "api" in phases:
                    bench.run("api", phase_api, server, files, requests_n)
                bench.report["rss_mib_after_requests"] = mib(server.rss())
            finally:
                server.stop()
        if "memory" in phases:
            bench.run("memory", phase_memory, home)
    except BenchError as exc:
        bench.failed("setup", exc)
    return bench.finish(print_report, lambda r: True)


if __name__ == "__main__":
    sys.exit(main())
