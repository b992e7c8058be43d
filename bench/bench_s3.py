#!/usr/bin/env python3
"""S3 benchmark of zoomwatch against SeaweedFS on loopback, beside `aws s3 cp` and `rclone copyto`, run from
outside (bench/common.py): throughput (zoomwatch's time split by its catalog: claimed, upload started, parts
recorded; each tool's time and CPU seconds per GiB, zoomwatch's time over each peer's), the bytes each tool
reads from the file per byte uploaded (strace of its read calls on that file), peak RSS at two sizes, the
bytes re-sent after a SIGKILL at half the parts (ListParts and the bytes each run put on its TCP sockets),
and, in this process, how zoomwatch feeds the whole-file SHA-256 (a hashing thread or the part workers).
See bench/README.md; `--quick` (256 MiB, 1 round) is a smoke run.

`--endpoint URL --bucket NAME` measures against a store that is already running — another machine's
SeaweedFS, MinIO or AWS S3 — instead of starting SeaweedFS here, so the store does not share the
tools' CPU; the credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Each run works under
a prefix of its own and deletes what it wrote; the store's CPU is then not measured.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common import (
    GIB,
    MIB,
    NULL_KEYRING,
    POLL_S,
    Bench,
    BenchError,
    Done,
    Home,
    Proc,
    add_options,
    empty_prefix,
    ensure_tool,
    fmt_size,
    log,
    make_file,
    mib,
    parse_size,
    rotate,
    seaweed_cpu,
    start_seaweed,
    summarize,
    wait_until,
)
from s3server import ACCESS_KEY, SECRET_KEY  # noqa: E402  (tests/ is on sys.path through common)

BUCKET = "zoomwatch-bench"
MEETING = "2024-05-06 14.00.00 Bench 93456789012"


@dataclass(frozen=True)
class Store:
    """Where the tools upload: SeaweedFS started here (`server` set), or a store given by --endpoint."""

    endpoint: str
    bucket: str
    region: str
    addressing_style: str
    key_id: str
    secret: str
    server: Any = None

    @property
    def address(self) -> str:
        """ip:port of the S3 endpoint, as `ss` shows a connection's peer."""
        url = urlsplit(self.endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        ip = socket.getaddrinfo(url.hostname, port, proto=socket.IPPROTO_TCP)[0][4][0]
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass(frozen=True)
class Setting:
    part_size: int
    concurrency: int

    @property
    def label(self) -> str:
        return f"zoomwatch {self.part_size // MIB}M/{self.concurrency}"


def parts_of(size: int, s: Setting) -> int:
    """The part size zoomwatch uses for a file of `size` with setting `s` (parts grow with big files)."""
    from zoomwatch.destinations.s3.common import part_size_for

    return part_size_for(size, s.part_size)


class WireCounter(threading.Thread):
    """Bytes one process handed to its TCP connections to the S3 port (tcp_info bytes_acked + the send
    queue), from `ss` every 50 ms; each connection's largest count is kept, so pooled and closed
    connections both count (one closed between two polls loses < 50 ms)."""

    LINE = re.compile(r"^\S+\s+\d+\s+(?P<sendq>\d+)\s+(?P<local>\S+)\s+\S+.*pid=(?P<pid>\d+),")

    def __init__(self, address: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.address, self.pid, self.per_conn, self.polls = address, pid, {}, 0
        self._halt = threading.Event()
        if shutil.which("ss"):
            self.start()

    def run(self) -> None:
        while not self._halt.wait(POLL_S):
            out = subprocess.run(["ss", "-tinpH", "dst", self.address], capture_output=True, text=True,
                                 timeout=5).stdout
            conn, sendq = None, 0
            for line in out.splitlines():
                if match := self.LINE.match(line):
                    conn, sendq = (match["local"] if int(match["pid"]) == self.pid else None), int(match["sendq"])
                elif conn is not None:
                    acked = re.search(r"\bbytes_acked:(\d+)", line)
                    self.per_conn[conn] = max(self.per_conn.get(conn, 0), (int(acked[1]) if acked else 0) + sendq)
                    conn = None
            self.polls += 1

    def stop(self) -> int | None:
        self._halt.set()
        if self.is_alive():
            self.join(10)
        return sum(self.per_conn.values()) if self.polls else None


def local_store(work: Path) -> Store:
    server, _ = start_seaweed(work / "s3", BUCKET)
    return Store(server.endpoint, BUCKET, "us-east-1", "path", ACCESS_KEY, SECRET_KEY, server)


def given_store(endpoint: str, bucket: str, region: str, addressing_style: str) -> Store:
    key_id, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise BenchError("--endpoint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the store's credentials")
    return Store(endpoint, bucket, region, addressing_style, key_id, secret)


class World:
    """The store, the random files, a zoomwatch home configured once and copied for each run, and the peers."""

    def __init__(self, work: Path, store: Store) -> None:
        import boto3
        from botocore.config import Config as BotoConfig

        self.work, self.store, self.files, self.counter = work, store, {}, 0
        self.server = store.server
        self.client = boto3.client("s3", endpoint_url=store.endpoint, region_name=store.region,
                                   aws_access_key_id=store.key_id, aws_secret_access_key=store.secret,
                                   config=BotoConfig(s3={"addressing_style": store.addressing_style},
                                                     read_timeout=300, retries={"max_attempts": 3}))
        self.client.head_bucket(Bucket=store.bucket)  # a wrong endpoint, bucket or key: said before any run
        self.template = Home(work / "zw-template", [
            ("destination.kind", "s3"), ("destination.s3.bucket", store.bucket),
            ("destination.s3.endpoint_url", store.endpoint), ("destination.s3.region", store.region),
            ("destination.s3.addressing_style", store.addressing_style)], **self.zw_env())
        (work / "rclone.conf").write_text("")
        (work / "aws-config").write_text(f"[default]\nregion = {store.region}\ns3 =\n"
                                         f"    addressing_style = {store.addressing_style}\n")
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_")) or k == "AWS_CA_BUNDLE"}
        self.peer_env = dict(
            keep, AWS_ACCESS_KEY_ID=store.key_id, AWS_SECRET_ACCESS_KEY=store.secret, AWS_DEFAULT_REGION=store.region,
            AWS_CONFIG_FILE=str(work / "aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(work / "rclone.conf"),
            RCLONE_CONFIG=str(work / "rclone.conf"), RCLONE_CONFIG_ZW_TYPE="s3", RCLONE_CONFIG_ZW_PROVIDER="Other",
            RCLONE_CONFIG_ZW_ENDPOINT=store.endpoint, RCLONE_CONFIG_ZW_ACCESS_KEY_ID=store.key_id,
            RCLONE_CONFIG_ZW_SECRET_ACCESS_KEY=store.secret, RCLONE_CONFIG_ZW_REGION=store.region,
            RCLONE_CONFIG_ZW_FORCE_PATH_STYLE=str(store.addressing_style == "path").lower())
        self.peers = {"aws": [sys.executable, "-m", "awscli", "s3", "cp", "--endpoint-url", store.endpoint,
                              "--no-progress", "--only-show-errors"],
                      "rclone": ["env", "-u", "AWS_CA_BUNDLE", ensure_tool("rclone", "rclone"), "copyto"]}

    def zw_env(self) -> dict[str, Any]:
        return {"drop": ("AWS_",), "keep": ("AWS_CA_BUNDLE",), "AWS_ACCESS_KEY_ID": self.store.key_id,
                "AWS_SECRET_ACCESS_KEY": self.store.secret, "PYTHON_KEYRING_BACKEND": NULL_KEYRING}

    def file(self, size: int) -> tuple[Path, str]:
        if size not in self.files:
            log(f"making a {fmt_size(size)} random file")
            path = self.work / f"zoom-{size}" / MEETING / "zoom_0.mp4"
            self.files[size] = (path, make_file(path, size))
        return self.files[size]

    def prefix(self, label: str) -> str:
        self.counter += 1
        return f"r{self.counter:03d}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}"

    def home(self, zoom: Path, prefix: str, s: Setting, bwlimit: str = "0") -> Home:
        return Home(self.work / "zw" / prefix, [
            ("watch.folder", str(zoom)), ("destination.s3.prefix", prefix), ("destination.s3.part_size",
                                                                              str(s.part_size)),
            ("destination.s3.concurrency", str(s.concurrency)), ("transfer.bandwidth_limit", bwlimit)],
            template=self.template, **self.zw_env())

    def measure(self, proc: Proc, size: int, timeout: float) -> tuple[Done, dict[str, Any]]:
        cpu0 = seaweed_cpu(self.server)
        done = proc.wait(timeout).check()
        out = {"tool": proc.name, "wall_s": round(done.wall_s, 3), "mib_s": round(size / MIB / done.wall_s, 1),
               "peak_rss_mib": mib(done.peak_rss), "peak_vmhwm_mib": mib(max(done.peak_hwm, done.maxrss)),
               "client_cpu_s": round(done.cpu_s, 2), "client_cpu_s_per_gib": round(done.cpu_s / (size / GIB), 2)}
        if self.server is not None:  # the store's CPU is only known when it runs here
            server = seaweed_cpu(self.server) - cpu0
            out.update(server_cpu_s=round(server, 2), cpu_cores_busy=round((done.cpu_s + server) / done.wall_s, 2))
        return done, out

    def stored(self, prefix: str, size: int, sha: str | None) -> None:
        """The store holds the recording (`size` bytes, sha256 metadata `sha` when given) under prefix/;
        then everything under prefix/ is deleted."""
        listed = self.client.list_objects_v2(Bucket=self.store.bucket, Prefix=prefix + "/").get("Contents", [])
        found = [o for o in listed if o["Key"].endswith("/zoom_0.mp4")]
        if [o["Size"] for o in found] != [size]:
            raise BenchError(f"{prefix}/: expected one zoom_0.mp4 of {size} bytes, found {found}")
        meta = self.client.head_object(Bucket=self.store.bucket, Key=found[0]["Key"]).get("Metadata", {})
        if sha is not None and meta.get("sha256") != sha:  # a multipart upload: the SHA-256 is a tag
            tags = self.client.get_object_tagging(Bucket=self.store.bucket, Key=found[0]["Key"])["TagSet"]
            if {"Key": "sha256", "Value": sha} not in tags:
                raise BenchError(f"{found[0]['Key']}: metadata {meta}, tags {tags}, the file's sha256 is {sha}")
        empty_prefix(self.client, self.store.bucket, prefix)

    def zoomwatch(self, size: int, s: Setting, timeout: float, prefix_argv: tuple[str, ...] = ()) -> dict[str, Any]:
        """One `run --once`, its time split by the catalog's marks (see the module docstring)."""
        path, sha = self.file(size)
        prefix = self.prefix(s.label)
        home = self.home(path.parent.parent, prefix, s)
        count = -(-size // parts_of(size, s))

        def row() -> Any:
            return home.rows()[0]

        marks = {"claimed": lambda: row().remote_key,
                 "hashed": lambda: (row().resume or {}).get("upload_id") or row().state == "verified",
                 "parts": lambda: len((row().resume or {}).get("parts", {})) == count or row().state == "verified"}
        done, out = self.measure(home.run("run", "--once", "--max-wait", "60", marks=marks, prefix=prefix_argv), size,
                                 timeout)
        home.close()
        self.stored(prefix, size, sha)
        t = done.marks
        if len(t) == 3 and t["claimed"] < t["hashed"] < t["parts"]:
            out.update(startup_scan_s=round(t["claimed"], 3), sha256_prepass_s=round(t["hashed"] - t["claimed"], 3),
                       upload_proper_s=round(t["parts"] - t["hashed"], 3), tail_s=round(done.wall_s - t["parts"], 3),
                       upload_proper_mib_s=round(size / MIB / (t["parts"] - t["hashed"]), 1))
        shutil.rmtree(home.root, ignore_errors=True)
        return out | {"tool": s.label}

    def peer(self, tool: str, size: int, timeout: float, prefix_argv: tuple[str, ...] = ()) -> dict[str, Any]:
        path, _ = self.file(size)
        prefix = self.prefix(tool)
        where = f"{self.store.bucket}/{prefix}/{path.name}"
        target = f"s3://{where}" if tool == "aws" else f"zw:{where}"
        argv = [*prefix_argv, *self.peers[tool], str(path), target]
        _, out = self.measure(Proc(argv, env=self.peer_env, cwd=self.work, name=tool), size, timeout)
        self.stored(prefix, size, None)
        return out

    def tool(self, tool: str | Setting, size: int, timeout: float, prefix_argv: tuple[str, ...] = ()) -> dict[str, Any]:
        if isinstance(tool, Setting):
            return self.zoomwatch(size, tool, timeout, prefix_argv)
        return self.peer(tool, size, timeout, prefix_argv)


# -- phases ---------------------------------------------------------------------------------------

def phase_throughput(world: World, size: int, repeat: int, settings: list[Setting], timeout: float) -> dict[str, Any]:
    tools: list[str | Setting] = [settings[0], "aws", "rclone", *settings[1:]]
    runs: dict[str, list[dict[str, Any]]] = {}
    for n in range(repeat):
        for tool in rotate(tools, n):
            result = world.tool(tool, size, timeout)
            runs.setdefault(result["tool"], []).append(result)
            log(f"  round {n + 1} {result['tool']}: {result['wall_s']:.2f} s, {result['mib_s']:.0f} MiB/s, peak RSS "
                f"{result['peak_rss_mib']:.0f} MiB")
    summary = {label: {k: summarize(r[k] for r in rs) for k, v in rs[0].items()
                       if isinstance(v, float | int) and all(k in r for r in rs)} for label, rs in runs.items()}
    default, labels = settings[0].label, [s.label for s in settings]
    best = max(labels, key=lambda lab: summary[lab]["mib_s"]["median"])
    ratios = {}
    for peer in ("aws", "rclone"):
        speed = summary[peer]["mib_s"]["median"]
        ratios[f"zoomwatch_default_over_{peer}"] = round(summary[default]["mib_s"]["median"] / speed, 3)
        ratios[f"zoomwatch_best_over_{peer}"] = round(summary[best]["mib_s"]["median"] / speed, 3)
        ratios[f"time_zoomwatch_default_over_{peer}"] = round(summary[default]["wall_s"]["median"]
                                                             / summary[peer]["wall_s"]["median"], 3)
        if "upload_proper_mib_s" in summary[default]:
            ratios[f"zoomwatch_default_upload_proper_over_{peer}"] = round(
                summary[default]["upload_proper_mib_s"]["median"] / speed, 3)
    return {"size_bytes": size, "rounds": repeat, "runs": runs,
            "summary": summary, "zoomwatch_default": default, "zoomwatch_fastest": best, "ratios": ratios}


def phase_rss(world: World, sizes: list[int], repeat: int, setting: Setting, timeout: float) -> dict[str, Any]:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for n in range(repeat):
        for size in sizes:
            for tool in rotate([setting, "aws", "rclone"], n):
                result = world.tool(tool, size, timeout)
                label = "zoomwatch" if isinstance(tool, Setting) else tool
                runs.setdefault(label, {}).setdefault(fmt_size(size), []).append(result)
                log(f"  {label} {fmt_size(size)}: peak RSS {result['peak_rss_mib']:.0f} MiB")
    summary: dict[str, Any] = {}
    for label, by_size in runs.items():
        summary[label] = {s: {k: summarize(r[k] for r in rs) for k in ("peak_rss_mib", "peak_vmhwm_mib", "mib_s")}
                          for s, rs in by_size.items()}
        summary[label]["growth_mib"] = round(summary[label][fmt_size(sizes[-1])]["peak_rss_mib"]["median"]
                                             - summary[label][fmt_size(sizes[0])]["peak_rss_mib"]["median"], 1)
    bound = parts_of(max(sizes), setting) * setting.concurrency
    return {"sizes": [fmt_size(s) for s in sizes], "rounds": repeat, "runs": runs, "summary": summary,
            "zoomwatch_part_buffers_mib": bound // MIB,
            # flat: the big file's peak within half a part-size x concurrency window of the small one's
            "zoomwatch_flat": summary["zoomwatch"]["growth_mib"] <= max(16.0, bound / MIB / 2)}


def phase_reads(world: World, size: int, setting: Setting, timeout: float) -> dict[str, Any]:
    """Bytes each tool reads from the file per byte uploaded: strace (seccomp filtered, so only the read calls
    on that file stop the process) sums what its read calls returned. Not timed."""
    path, _ = world.file(size)
    strace = ensure_tool("strace", "strace")
    out: dict[str, Any] = {"size_bytes": size}
    for tool in (setting, "aws", "rclone"):
        trace = world.work / f"reads-{world.counter}.strace"
        argv = (strace, "-f", "--seccomp-bpf", "-qq", "-e", "trace=read,pread64,readv,preadv,preadv2", "-P",
                str(path), "-o", str(trace))
        result = world.tool(tool, size, timeout, argv)
        got = sum(int(m[1]) for m in re.finditer(r"= (\d+)$", trace.read_text(), re.M))
        out[result["tool"] if not isinstance(tool, Setting) else "zoomwatch"] = {
            "bytes_read": got, "read_per_byte_uploaded": round(got / size, 3)}
        log(f"  {result['tool']}: read {got / size:.3f} x the file")
    return out


def phase_hashing(world: World, size: int, setting: Setting, repeat: int) -> dict[str, Any]:
    """zoomwatch's multipart upload, in this process, with the whole-file SHA-256 fed by a hashing thread or by
    the part workers (multipart.WholeHash), alternating: wall and CPU seconds (all threads) per run."""
    from zoomwatch import config as configmod
    from zoomwatch.destinations.base import SourceFile, UploadSession
    from zoomwatch.destinations.s3 import S3Destination
    from zoomwatch.destinations.s3.multipart import MultipartUpload
    from zoomwatch.paths import AppPaths

    checked = {name: key.default for name, key in configmod.KEYS.items()}
    store = world.store
    for name, value in (("destination.kind", "s3"), ("destination.s3.bucket", store.bucket),
                        ("destination.s3.endpoint_url", store.endpoint), ("destination.s3.region", store.region),
                        ("destination.s3.addressing_style", store.addressing_style), ("destination.s3.part_size",
                                                                                     str(setting.part_size)),
                        ("destination.s3.concurrency", str(setting.concurrency))):
        checked[name] = configmod.check_value(name, value)
    paths = AppPaths(*(world.work / "hashing" / part for part in ("config", "data", "state", "log", "cache")))
    dest = S3Destination(configmod.Config(checked, (), paths),
                         secrets={"s3.access_key_id": store.key_id, "s3.secret_access_key": store.secret})
    path, sha = world.file(size)
    runs: dict[str, list[dict[str, float]]] = {}
    for n in range(repeat):
        for mode in rotate(["thread", "workers"], n):
            prefix = world.prefix(f"hash-{mode}")
            cpu0, t0 = time.process_time(), time.monotonic()
            got = MultipartUpload(dest, SourceFile(path, size), f"{prefix}/zoom_0.mp4", UploadSession(),
                                  hash_mode=mode).run()
            wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
            if got != sha:
                raise BenchError(f"hashing mode {mode}: sha256 {got}, the file's is {sha}")
            empty_prefix(world.client, world.store.bucket, prefix)
            runs.setdefault(mode, []).append({"wall_s": round(wall, 3), "cpu_s": round(cpu, 2)})
            log(f"  round {n + 1} {mode}: {wall:.2f} s, CPU {cpu:.2f} s")
    summary = {m: {k: summarize(r[k] for r in rs) for k in ("wall_s", "cpu_s")} for m, rs in runs.items()}
    return {"size_bytes": size, "rounds": repeat, "setting": setting.label, "runs": runs, "summary": summary,
            "workers_over_thread_time": round(summary["workers"]["wall_s"]["median"]
                                              / summary["thread"]["wall_s"]["median"], 3)}


def stored_parts(world: World, prefix: str) -> tuple[str | None, list[tuple[int, int]]]:
    """(key, [(part number, size)]) of the unfinished multipart upload under prefix/, as the store lists it."""
    uploads = world.client.list_multipart_uploads(Bucket=world.store.bucket, Prefix=prefix + "/").get("Uploads", [])
    if not uploads:
        return None, []
    key, upload_id = uploads[0]["Key"], uploads[0]["UploadId"]
    pages = world.client.get_paginator("list_parts").paginate(Bucket=world.store.bucket, Key=key, UploadId=upload_id)
    return key, [(int(p["PartNumber"]), int(p["Size"])) for page in pages for p in page.get("Parts", [])]


def phase_resume(world: World, size: int, setting: Setting, bwlimit: str, timeout: float) -> dict[str, Any]:
    path, sha = world.file(size)
    prefix = world.prefix("resume")
    home = world.home(path.parent.parent, prefix, setting, bwlimit)
    part, address = parts_of(size, setting), world.store.address
    count = -(-size // part)
    first = home.run("run")
    wire1 = WireCounter(address, first.proc.pid)
    wait_until(lambda: first.alive() and sum(s for _, s in stored_parts(world, prefix)[1]) * 2 >= size, timeout,
               "the store to hold half the parts", 0.1)
    t_kill = time.monotonic() - first.t0
    first.kill()
    wire_first = wire1.stop()
    time.sleep(1.0)  # let the store finish whatever it had received in full
    key, after = stored_parts(world, prefix)
    if key is None:
        raise BenchError("no multipart upload left at the store after the SIGKILL")
    in_catalog = len((home.rows()[0].resume or {}).get("parts", {}))
    home.close()
    stored = {n for n, _ in after}
    missing = count - len(stored)
    missing_bytes = size - sum(s for _, s in after)
    log(f"  killed after {t_kill:.1f} s: the store holds {len(after)} of {count} parts, the catalog knows "
        f"{in_catalog}; first run put {mib(wire_first)} MiB on the wire")

    home.set(("transfer.bandwidth_limit", "0"))
    second = home.run("run", "--once", "--max-wait", "60")
    wire2 = WireCounter(address, second.proc.pid)
    done = second.wait(timeout).check()
    wire_second = wire2.stop()
    window = part * setting.concurrency  # part: the size zoomwatch really used
    out: dict[str, Any] = {
        "size_bytes": size, "part_size": part, "concurrency": setting.concurrency, "parts": count,
        "bandwidth_limit_first_run": bwlimit, "killed_after_s": round(t_kill, 2),
        "parts_stored_after_kill": len(after), "parts_in_catalog_after_kill": in_catalog,
        "bytes_stored_after_kill": size - missing_bytes, "parts_missing_after_kill": missing,
        # parts the first run had started but the store never got: the gaps below the highest stored part
        # (parts start in order) up to the concurrency
        "inflight_parts_lower_bound": sum(1 for n in range(1, max(stored, default=0)) if n not in stored),
        "inflight_parts_upper_bound": min(setting.concurrency, missing), "second_run_wall_s": round(done.wall_s, 2)}
    out["resent_bytes_upper_bound_mib"] = mib(out["inflight_parts_upper_bound"] * part)
    out["resent_upper_bound_over_window"] = round(out["inflight_parts_upper_bound"] * part / window, 3)
    out["stored_parts_sent_again"] = None
    if wire_first is not None and wire_second is not None:
        wasted = wire_first + wire_second - size  # beyond one copy of the file (HTTP headers: a few KiB)
        out.update(wire_bytes_first_run_mib=mib(wire_first), wire_bytes_second_run_mib=mib(wire_second),
                   resent_bytes_measured_mib=mib(wasted), resent_measured_over_window=round(wasted / window, 3),
                   # whole parts the second run sent beyond the missing ones: stored parts sent again
                   stored_parts_sent_again=max(0, (wire_second - missing_bytes) // part))
    out["resent_over_window"] = out.get("resent_measured_over_window", out["resent_upper_bound_over_window"])
    out["goal_met"] = not out["stored_parts_sent_again"] and out["resent_over_window"] <= 1.0
    digest = hashlib.sha256()
    for chunk in world.client.get_object(Bucket=world.store.bucket, Key=key)["Body"].iter_chunks(4 * MIB):
        digest.update(chunk)
    out.update(final_sha256=digest.hexdigest(), file_sha256=sha, sha256_matches=digest.hexdigest() == sha)
    empty_prefix(world.client, world.store.bucket, prefix)
    return out


# -- report ---------------------------------------------------------------------------------------

def _mmm(s: dict[str, float], unit: str, fmt: str = ".1f") -> str:
    return f"{s['median']:{fmt}}{unit} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def print_report(r: dict[str, Any]) -> None:
    store = r["settings"].get("endpoint") or "SeaweedFS on loopback"
    print(f"\nzoomwatch S3 benchmark — {store} — {r['machine']['cpus']} CPUs, Python "
          f"{r['machine']['python']}, zoomwatch {r['machine']['zoomwatch']}, {r['machine']['when']}")
    if "zoomwatch_noop_run_once_s" in r:
        print(f"zoomwatch run --once with nothing to do: {r['zoomwatch_noop_run_once_s']['median']:.2f} s")
    if t := r.get("throughput"):
        print(f"\n1. throughput, {fmt_size(t['size_bytes'])} random file, median (min-max) of {t['rounds']}:")
        for label, s in t["summary"].items():
            print(f"   {label:<20} {_mmm(s['mib_s'], ' MiB/s', '.0f'):<22} wall {_mmm(s['wall_s'], ' s', '.2f')}; "
                  f"CPU s client {s['client_cpu_s']['median']:.1f} ({s['client_cpu_s_per_gib']['median']:.2f} s/GiB), "
                  + (f"SeaweedFS {s['server_cpu_s']['median']:.1f}; " if "server_cpu_s" in s else "")
                  + f"peak RSS {s['peak_rss_mib']['median']:.0f} MiB")
            if "upload_proper_s" in s:
                print(f"   {'':<20} start-up/scan {s['startup_scan_s']['median']:.2f} s, before the upload starts "
                      f"{s['sha256_prepass_s']['median']:.2f} s, parts {s['upload_proper_s']['median']:.2f} s "
                      f"({s['upload_proper_mib_s']['median']:.0f} MiB/s), tail {s['tail_s']['median']:.2f} s")
        print(f"   fastest zoomwatch setting: {t['zoomwatch_fastest']}")
        for name, value in t["ratios"].items():
            what = "time; < 1 = zoomwatch faster" if name.startswith("time_") else "throughput; > 1 = zoomwatch faster"
            print(f"   ratio {name}: {value:.2f} ({what})")
    if h := r.get("hashing"):
        print(f"\n1b. whole-file SHA-256 fed by a hashing thread or by the part workers ({fmt_size(h['size_bytes'])}, "
              f"{h['setting']}, in-process multipart upload), median (min-max) of {h['rounds']}:")
        for mode, s in h["summary"].items():
            print(f"   {mode:<8} wall {_mmm(s['wall_s'], ' s', '.2f')}, CPU {_mmm(s['cpu_s'], ' s', '.2f')}")
        print(f"   workers / thread time: {h['workers_over_thread_time']:.2f}")
    if rd := r.get("reads"):
        print(f"\n1c. bytes read from the file per byte uploaded ({fmt_size(rd['size_bytes'])}, strace):")
        for label, v in rd.items():
            if isinstance(v, dict):
                print(f"   {label:<10} {v['read_per_byte_uploaded']:.3f}")
    if m := r.get("rss"):
        print(f"\n2. peak RSS (process tree, 50 ms polling), median of {m['rounds']}:")
        for label, by in m["summary"].items():
            sizes = "; ".join(f"{s}: {_mmm(by[s]['peak_rss_mib'], ' MiB', '.0f')}" for s in m["sizes"])
            print(f"   {label:<10} {sizes}; growth {by['growth_mib']:+.0f} MiB")
        print(f"   zoomwatch flat: {m['zoomwatch_flat']} (part buffers {m['zoomwatch_part_buffers_mib']} MiB)")
    if s := r.get("resume"):
        print(f"\n3. resume after SIGKILL at ~50 % ({fmt_size(s['size_bytes'])}, {s['parts']} parts of "
              f"{s['part_size'] // MIB} MiB, {s['concurrency']} at once, first run limited to "
              f"{s['bandwidth_limit_first_run']}/s, killed after {s['killed_after_s']} s):")
        print(f"   the store held {s['parts_stored_after_kill']} of {s['parts']} parts (the catalog knew "
              f"{s['parts_in_catalog_after_kill']}); {s['parts_missing_after_kill']} missing; stored parts sent "
              f"again: {s['stored_parts_sent_again']}")
        if "resent_bytes_measured_mib" in s:
            print(f"   re-sent (TCP sockets: {s['wire_bytes_first_run_mib']} + {s['wire_bytes_second_run_mib']} MiB - "
                  f"the file): {s['resent_bytes_measured_mib']} MiB = {s['resent_measured_over_window']:.2f} x part "
                  "size x concurrency")
        print(f"   upper bound (in-flight parts counted whole): {s['resent_bytes_upper_bound_mib']} MiB = "
              f"{s['resent_upper_bound_over_window']:.2f} x; goal met: {s['goal_met']}; sha256 matches: "
              f"{s['sha256_matches']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, "throughput,hashing,reads,rss,resume", "256 MiB, 1 round, RSS at 64 and 256 MiB")
    parser.add_argument("--size-gib", type=float, help="throughput and resume file size (default 1)")
    parser.add_argument("--repeat", type=int, help="rounds per tool (default 3)")
    parser.add_argument("--rss-sizes", help="the two RSS file sizes (default 256M,2G)")
    parser.add_argument("--settings", default="8M/4,16M/8,32M/8",
                        help="zoomwatch part_size/concurrency settings; the first is compared with the peers and "
                             "used for RSS and resume (default 8M/4,16M/8,32M/8)")
    parser.add_argument("--kill-bwlimit", default="100M", help="bandwidth limit of the run that is SIGKILLed")
    parser.add_argument("--endpoint", help="an S3 endpoint already running (another machine: the store then does "
                                           "not share the tools' CPU); default: SeaweedFS started here on loopback")
    parser.add_argument("--bucket", help="with --endpoint: an existing bucket to work in (each run under a prefix "
                                         "of its own, deleted after)")
    parser.add_argument("--region", default="us-east-1", help="with --endpoint (default us-east-1)")
    parser.add_argument("--addressing-style", choices=("path", "virtual"), default="path",
                        help="with --endpoint (default path)")
    args = parser.parse_args()
    if bool(args.endpoint) != bool(args.bucket):
        parser.error("--endpoint and --bucket go together")
    size = int((args.size_gib or (0.25 if args.quick else 1.0)) * GIB)
    repeat = args.repeat or (1 if args.quick else 3)
    rss_sizes = [parse_size(x) for x in (args.rss_sizes or ("64M,256M" if args.quick else "256M,2G")).split(",")]
    settings = [Setting(parse_size(p), int(c or 4)) for p, _, c in (x.strip().partition("/")
                                                                   for x in args.settings.split(","))]
    bench = Bench("s3", args, {"size_bytes": size, "repeat": repeat, "rss_sizes": rss_sizes,
                               "zoomwatch": [s.label for s in settings], "kill_bwlimit": args.kill_bwlimit,
                               "endpoint": args.endpoint})
    phases = bench.phases(parser, ("throughput", "hashing", "reads", "rss", "resume"))
    try:
        store = (given_store(args.endpoint, args.bucket, args.region, args.addressing_style) if args.endpoint
                 else local_store(bench.work))
        world = World(bench.work, store)
        log("warm-up: one untimed upload of each tool (the store allocates its volumes)")
        for tool in (settings[0], "aws", "rclone"):
            world.tool(tool, size, args.timeout)
        empty = bench.work / "zoom-empty"
        empty.mkdir()
        noop = [world.home(empty, world.prefix("noop"), settings[0]).run("run", "--once").wait(120).check().wall_s
                for _ in range(3)]
        bench.report["zoomwatch_noop_run_once_s"] = summarize(noop)
        calls = {"throughput": lambda: phase_throughput(world, size, repeat, settings, args.timeout),
                 "hashing": lambda: phase_hashing(world, size, settings[0], repeat),
                 "reads": lambda: phase_reads(world, size, settings[0], args.timeout),
                 "rss": lambda: phase_rss(world, rss_sizes, repeat, settings[0], args.timeout),
                 "resume": lambda: phase_resume(world, size, settings[0], args.kill_bwlimit, args.timeout)}
        for phase in phases:
            bench.run(phase, calls[phase])
    except (BenchError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        bench.failed("setup", exc)
    return bench.finish(print_report, lambda r: r.get("resume", {}).get("sha256_matches", True)
                        and r.get("resume", {}).get("goal_met", True) and r.get("rss", {}).get("zoomwatch_flat", True))


if __name__ == "__main__":
    sys.exit(main())
