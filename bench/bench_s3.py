#!/usr/bin/env python3
"""S3 benchmark of zoomwatch against a real S3 server (SeaweedFS on loopback), beside `aws s3 cp` and
`rclone copyto`, driven from outside like a user would run it.

Every zoomwatch process runs as `python -m zoomwatch ...` with HOME and the XDG_* variables pointing
into a temporary folder, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for the credentials and the null
keyring, so nothing of the real user is read or written. Phases:

1. throughput: one random file (default 1 GiB) uploaded by zoomwatch `run --once` (default part size
   and concurrency 8M/4, plus 16M/8 and 32M/8), `aws s3 cp` and `rclone copyto`, tools alternated
   (the order rotates each round), `--repeat` rounds (default 3); wall time, MiB/s, and zoomwatch's
   own time split into start-up/scan, sha256 pre-pass, upload proper and the tail (verify, sidecar).
2. peak RSS (psutil, every 50 ms, process + children; plus the kernel's VmHWM of the main process)
   uploading 256 MiB and 2 GiB, same three tools: zoomwatch's must not grow with the file size.
3. resume: `zoomwatch run` with a bandwidth limit, SIGKILL once the store holds >= 50 % of the parts,
   then `run --once` without the limit; the bytes sent again beyond what was missing (from the log
   lines, the store's part list and the bytes each process put on its TCP sockets), and the sha256
   of the downloaded object against the file's.

Run `python bench/bench_s3.py --help`; `--quick` (256 MiB, 1 round) is a smoke run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
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
    NULL_KEYRING,
    POLL_S,
    BenchError,
    HomeTemplate,
    Sampler,
    Watched,
    add_output_options,
    ensure_tool,
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
    run_zoomwatch,
    seaweed_cpu,
    summarize,
    warn_if_short_of_space,
    write_figures,
    zoomwatch_argv,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3  # noqa: E402

BUCKET = "zoomwatch-bench"
MEETING = "2024-05-06 14.00.00 Bench 93456789012"
FILE_NAME = "zoom_0.mp4"
FINISHED_RE = re.compile(r"finished: (?P<path>.*) \((?P<bytes>\d+) bytes\)")
COMPLETE_RE = re.compile(r"multipart upload of (?P<key>.*) complete: (?P<sent>\d+) part\(s\) sent this time, "
                         r"(?P<reused>\d+) reused")
RESUMING_RE = re.compile(r"resuming multipart upload of (?P<key>.*): (?P<stored>\d+) of (?P<total>\d+) parts "
                         r"already stored")


# -- processes ------------------------------------------------------------------------------------

class ReadSampler(Sampler):
    """The common sampling (RSS of the process tree, VmHWM) plus, for zoomwatch, the bytes the process has
    read (read_chars) at each sample, to time its sha256 pre-pass."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.samples: list[tuple[float, int, int | None]] = []  # (monotonic, rss sum, read_chars)

    def sample(self, now: float, root: psutil.Process) -> bool:
        total = self.sample_tree(root)
        if total is None:
            return False
        try:
            rchar: int | None = root.io_counters().read_chars
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, AttributeError):
            rchar = None
        self.samples.append((now, total, rchar))
        return True


class WireCounter(threading.Thread):
    """Bytes one process handed to its TCP connections to the S3 port (tcp_info bytes_acked + what is
    still in the send queue), from `ss` every 50 ms; a connection's largest count is kept, so pooled
    and closed connections both count (a connection closed between two polls loses < 50 ms)."""

    LINE = re.compile(r"^\S+\s+\d+\s+(?P<sendq>\d+)\s+(?P<local>\S+)\s+(?P<peer>\S+).*pid=(?P<pid>\d+),")

    def __init__(self, port: int, pid: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.pid = pid
        self.per_conn: dict[str, int] = {}
        self.polls = 0
        self.available = shutil.which("ss") is not None
        self._halt = threading.Event()

    def poll(self) -> None:
        try:
            out = subprocess.run(["ss", "-tinpH", "dst", f"127.0.0.1:{self.port}"], capture_output=True,
                                 text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return
        current: str | None = None
        sendq = 0
        for line in out.splitlines():
            match = self.LINE.match(line)
            if match:
                current = match["local"] if int(match["pid"]) == self.pid else None
                sendq = int(match["sendq"])
                continue
            if current is None:
                continue
            acked = re.search(r"\bbytes_acked:(\d+)", line)
            written = (int(acked.group(1)) if acked else 0) + sendq
            self.per_conn[current] = max(self.per_conn.get(current, 0), written)
            current = None
        self.polls += 1

    def run(self) -> None:
        if not self.available:
            return
        while not self._halt.is_set():
            self.poll()
            self._halt.wait(POLL_S)

    def stop(self) -> int | None:
        self._halt.set()
        self.join(10)
        return sum(self.per_conn.values()) if self.available and self.polls else None


@dataclass
class Measured:
    tool: str
    argv: list[str]
    returncode: int
    wall_s: float
    peak_rss: int
    peak_hwm: int
    lines: list[tuple[float, str]]  # (seconds since start, stderr line)
    samples: list[tuple[float, int, int | None]]  # (seconds since start, rss sum, read_chars)
    wire_bytes: int | None = None
    cpu_s: float = 0.0  # user + system CPU of the process (and the children it waited for)

    def find(self, pattern: re.Pattern[str]) -> tuple[float, re.Match[str]] | None:
        for t, text in self.lines:
            match = pattern.search(text)
            if match:
                return t, match
        return None

    def tail(self, n: int = 15) -> str:
        return "\n".join(text for _, text in self.lines[-n:])


class Started(Watched):
    """A background process whose stderr is read line by line (with arrival times), whose memory (and
    read bytes) is sampled and, with `wire_port`, whose bytes sent to that port are counted; `finish()`
    waits for it (bounded) and returns the figures."""

    sampler: ReadSampler

    def __init__(self, tool: str, argv: list[str], *, env: dict[str, str], cwd: Path,
                 wire_port: int | None = None) -> None:
        super().__init__(argv, env=env, cwd=cwd, name=tool, sampler=ReadSampler)
        self.tool = tool
        self.wire = WireCounter(wire_port, self.proc.pid) if wire_port else None
        if self.wire:
            self.wire.start()

    def finish(self, timeout: float) -> Measured:
        """Wait (os.wait4, so the exact CPU time and ru_maxrss come back too) for at most `timeout` s."""
        try:
            wall, usage = self.wait(timeout)
        finally:
            wire = self.wire.stop() if self.wire else None
        return Measured(self.tool, self.argv, self.proc.returncode, wall, self.sampler.peak_rss,
                        max(self.sampler.peak_hwm, usage.ru_maxrss * 1024), list(self.lines),
                        [(t - self.t0, r, c) for t, r, c in self.sampler.samples], wire,
                        usage.ru_utime + usage.ru_stime)


# -- the world: server, files, tools --------------------------------------------------------------

def time_sha256(path: Path) -> float:
    """Seconds to sha256 the file the way zoomwatch's pre-pass does (1 MiB readinto, same hashlib)."""
    digest = hashlib.sha256()
    buffer = bytearray(MIB)
    view = memoryview(buffer)
    t0 = time.perf_counter()
    with open(path, "rb") as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return time.perf_counter() - t0


@dataclass
class World:
    work: Path
    server: SeaweedS3
    client: Any
    rclone: str
    files: dict[int, tuple[Path, str]] = field(default_factory=dict)  # size -> (path, sha256)
    counter: int = 0
    homes: HomeTemplate = field(init=False)

    def __post_init__(self) -> None:
        self.homes = HomeTemplate(self.work / "zw-base", self.zw_env, [
            ("destination.kind", "s3"), ("destination.s3.bucket", BUCKET),
            ("destination.s3.endpoint_url", self.server.endpoint), ("destination.s3.region", "us-east-1"),
            ("destination.s3.addressing_style", "path")])

    def file(self, size: int) -> tuple[Path, str]:
        if size not in self.files:
            path = self.work / f"zoom-{size}" / MEETING / FILE_NAME
            log(f"making a {fmt_size(size)} random file")
            self.files[size] = (path, make_file(path, size))
        return self.files[size]

    def next_prefix(self, label: str) -> str:
        self.counter += 1
        return f"r{self.counter:03d}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}"

    # zoomwatch -----------------------------------------------------------------------------------

    def zw_env(self, home: Path) -> dict[str, str]:
        return home_env(home, drop=("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                                    "AWS_SHARED_CREDENTIALS_FILE"),
                        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                        PYTHON_KEYRING_BACKEND=NULL_KEYRING, PYTHONUNBUFFERED="1")

    def zw(self, home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_zoomwatch(*args, env=self.zw_env(home), cwd=home, timeout=timeout)

    def zw_home(self, zoom: Path, prefix: str, part_size: int, concurrency: int, bwlimit: str = "0") -> Path:
        """A fresh zoomwatch configuration (copied from one made once) watching `zoom`."""
        return self.homes.copy(self.work / "zw" / prefix, [
            ("watch.folder", str(zoom)), ("destination.s3.prefix", prefix),
            ("destination.s3.part_size", str(part_size)), ("destination.s3.concurrency", str(concurrency)),
            ("transfer.bandwidth_limit", bwlimit)])

    def zw_once(self, size: int, label: str, part_size: int, concurrency: int, timeout: float,
                wire: bool = False) -> dict[str, Any]:
        path, sha = self.file(size)
        prefix = self.next_prefix(label)
        home = self.zw_home(path.parent.parent, prefix, part_size, concurrency)
        cpu0 = self.server_cpu()
        started = Started(label, zoomwatch_argv("run", "--once", "--max-wait", "60"),
                          env=self.zw_env(home), cwd=home, wire_port=self.server.ports["s3"] if wire else None)
        m = started.finish(timeout)
        server_cpu = self.server_cpu() - cpu0
        if m.returncode != 0:
            raise BenchError(f"{label}: zoomwatch run --once exited {m.returncode}:\n{m.tail()}")
        done = m.find(COMPLETE_RE)
        if done is None:
            raise BenchError(f"{label}: no 'multipart upload ... complete' line:\n{m.tail()}")
        key = done[1]["key"]
        self.check_object(key, size, sha)
        out = self.figures(m, size, server_cpu)
        out.update(zoomwatch_phases(m, size), part_size=part_size, concurrency=concurrency)
        self.clean(prefix, home)
        return out

    # peers ---------------------------------------------------------------------------------------

    def peer_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("AWS_", "RCLONE_")) and name != "AWS_CA_BUNDLE":
                env.pop(name)
        aws_config = self.work / "aws-config"
        if not aws_config.exists():
            aws_config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
            (self.work / "aws-credentials").write_text("")
            (self.work / "rclone.conf").write_text("")
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(aws_config), AWS_SHARED_CREDENTIALS_FILE=str(self.work / "aws-credentials"),
            RCLONE_CONFIG=str(self.work / "rclone.conf"),
            RCLONE_CONFIG_ZW_TYPE="s3", RCLONE_CONFIG_ZW_PROVIDER="Other",
            RCLONE_CONFIG_ZW_ENDPOINT=self.server.endpoint, RCLONE_CONFIG_ZW_ACCESS_KEY_ID=ACCESS_KEY,
            RCLONE_CONFIG_ZW_SECRET_ACCESS_KEY=SECRET_KEY, RCLONE_CONFIG_ZW_REGION="us-east-1",
            RCLONE_CONFIG_ZW_FORCE_PATH_STYLE="true",
        )
        return env

    def peer_argv(self, tool: str, path: Path, key: str) -> list[str]:
        if tool == "aws":
            return [*aws_command(), "s3", "cp", str(path), f"s3://{BUCKET}/{key}",
                    "--endpoint-url", self.server.endpoint, "--no-progress", "--only-show-errors"]
        if tool == "rclone":
            return ["env", "-u", "AWS_CA_BUNDLE", self.rclone, "copyto", str(path), f"zw:{BUCKET}/{key}"]
        raise ValueError(tool)

    def peer(self, tool: str, size: int, timeout: float) -> dict[str, Any]:
        path, _ = self.file(size)
        prefix = self.next_prefix(tool)
        key = f"{prefix}/{FILE_NAME}"
        cpu0 = self.server_cpu()
        m = Started(tool, self.peer_argv(tool, path, key), env=self.peer_env(), cwd=self.work).finish(timeout)
        server_cpu = self.server_cpu() - cpu0
        if m.returncode != 0:
            raise BenchError(f"{tool} exited {m.returncode}:\n{m.tail()}")
        self.check_object(key, size, None)
        out = self.figures(m, size, server_cpu)
        self.clean(prefix)
        return out

    # both ----------------------------------------------------------------------------------------

    def server_cpu(self) -> float:
        return seaweed_cpu(self.server)

    def figures(self, m: Measured, size: int, server_cpu_s: float) -> dict[str, Any]:
        return {"tool": m.tool, "wall_s": round(m.wall_s, 3), "mib_s": round(size / MIB / m.wall_s, 1),
                "peak_rss_mib": round(m.peak_rss / MIB, 1), "peak_vmhwm_mib": round(m.peak_hwm / MIB, 1),
                "client_cpu_s": round(m.cpu_s, 2), "server_cpu_s": round(server_cpu_s, 2),
                "cpu_cores_busy": round((m.cpu_s + server_cpu_s) / m.wall_s, 2)}

    def check_object(self, key: str, size: int, sha: str | None) -> None:
        head = self.client.head_object(Bucket=BUCKET, Key=key)
        if int(head["ContentLength"]) != size:
            raise BenchError(f"s3://{BUCKET}/{key} holds {head['ContentLength']} bytes, expected {size}")
        if sha is not None and head.get("Metadata", {}).get("sha256") != sha:
            raise BenchError(f"s3://{BUCKET}/{key}: metadata sha256 {head.get('Metadata')} != the file's {sha}")

    def clean(self, prefix: str, home: Path | None = None) -> None:
        """Delete what a run stored (objects and unfinished uploads) and its zoomwatch home."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix + "/"):
            for obj in page.get("Contents", []):
                self.client.delete_object(Bucket=BUCKET, Key=obj["Key"])
        uploads = self.client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix + "/").get("Uploads", [])
        for upload in uploads:
            self.client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)


def aws_command() -> list[str]:
    """`python -m awscli` with this interpreter when awscli is importable (no pyenv shim in the way),
    else the `aws` on PATH."""
    try:
        import awscli  # noqa: F401
        return [sys.executable, "-m", "awscli"]
    except ImportError:
        found = shutil.which("aws")
        if not found:
            raise BenchError("awscli is not installed: pip install awscli") from None
        return [found]


def zoomwatch_phases(m: Measured, size: int) -> dict[str, Any]:
    """Where a zoomwatch `run --once` spent its wall time, from its log lines' arrival times and the
    bytes it had read: start-up/scan (process start -> 'finished: FILE'), the sha256 pre-pass (until
    it has read the whole file once more), the upload proper (-> 'multipart upload ... complete',
    which includes CreateMultipartUpload, the parts, CompleteMultipartUpload and a HEAD), and the tail
    (verifying HEAD, meeting.json sidecar, catalog, exit)."""
    finished, complete = m.find(FINISHED_RE), m.find(COMPLETE_RE)
    if finished is None or complete is None:
        return {}
    t_finished, t_complete = finished[0], complete[0]
    before = [c for t, _, c in m.samples if t <= t_finished and c is not None]
    t_hashed = None
    if before:
        base = before[-1]
        for t, _, c in m.samples:
            if t > t_finished and c is not None and c - base >= size:
                t_hashed = t
                break
    out: dict[str, Any] = {"startup_scan_s": round(t_finished, 3), "tail_s": round(m.wall_s - t_complete, 3)}
    if t_hashed is not None and t_hashed < t_complete:
        upload = t_complete - t_hashed
        out.update(sha256_prepass_s=round(t_hashed - t_finished, 3), upload_proper_s=round(upload, 3),
                   upload_proper_mib_s=round(size / MIB / upload, 1))
    else:
        out.update(hash_and_upload_s=round(t_complete - t_finished, 3))
    return out


# -- statistics -----------------------------------------------------------------------------------

def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)
            and k not in ("part_size", "concurrency")]
    return {k: summarize([r[k] for r in runs if k in r]) for k in keys if all(k in r for r in runs)}


# -- phase 1: throughput --------------------------------------------------------------------------

@dataclass(frozen=True)
class ZwSetting:
    part_size: int
    concurrency: int

    @property
    def label(self) -> str:
        return f"zoomwatch {self.part_size // MIB}M/{self.concurrency}"


def phase_throughput(world: World, size: int, repeat: int, settings: list[ZwSetting],
                     timeout: float) -> dict[str, Any]:
    log(f"phase 1: throughput, {fmt_size(size)}, {repeat} round(s), tools alternated")
    path, _ = world.file(size)
    hash_s = [time_sha256(path) for _ in range(3)]
    tools: list[str | ZwSetting] = [settings[0], "aws", "rclone", *settings[1:]]
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_no in range(repeat):
        order = tools[round_no % len(tools):] + tools[:round_no % len(tools)]
        for tool in order:
            if isinstance(tool, ZwSetting):
                label = tool.label
                result = world.zw_once(size, label, tool.part_size, tool.concurrency, timeout)
            else:
                label = tool
                result = world.peer(tool, size, timeout)
            runs.setdefault(label, []).append(result)
            extra = ""
            if "upload_proper_s" in result:
                extra = (f" [start-up/scan {result['startup_scan_s']:.2f} s, sha256 pre-pass "
                         f"{result['sha256_prepass_s']:.2f} s, upload {result['upload_proper_s']:.2f} s = "
                         f"{result['upload_proper_mib_s']:.0f} MiB/s, tail {result['tail_s']:.2f} s]")
            log(f"  round {round_no + 1} {label}: {result['wall_s']:.2f} s, {result['mib_s']:.0f} MiB/s, "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB, CPU s client {result['client_cpu_s']:.1f} / "
                f"server {result['server_cpu_s']:.1f}{extra}")
    summary = {label: summarize_runs(r) for label, r in runs.items()}
    default = settings[0].label
    zw_labels = [s.label for s in settings]
    best = max(zw_labels, key=lambda lab: summary[lab]["mib_s"]["median"])
    ratios: dict[str, Any] = {}
    for peer in ("aws", "rclone"):
        for lab, name in ((default, "zoomwatch_default"), (best, "zoomwatch_best")):
            ratios[f"{name}_over_{peer}"] = round(summary[lab]["mib_s"]["median"] / summary[peer]["mib_s"]["median"], 3)
        if "upload_proper_mib_s" in summary[default]:
            ratios[f"zoomwatch_default_upload_proper_over_{peer}"] = round(
                summary[default]["upload_proper_mib_s"]["median"] / summary[peer]["mib_s"]["median"], 3)
    return {"size_bytes": size, "rounds": repeat, "order": [t.label if isinstance(t, ZwSetting) else t for t in tools],
            "bench_sha256_alone_s": summarize(hash_s), "runs": runs, "summary": summary,
            "zoomwatch_default": default, "zoomwatch_fastest": best, "ratios": ratios}


# -- phase 2: peak RSS ----------------------------------------------------------------------------

def phase_rss(world: World, sizes: list[int], repeat: int, setting: ZwSetting, timeout: float) -> dict[str, Any]:
    log(f"phase 2: peak RSS at {', '.join(fmt_size(s) for s in sizes)}, {repeat} round(s)")
    out: dict[str, Any] = {}
    tools: list[str | ZwSetting] = [setting, "aws", "rclone"]
    for round_no in range(repeat):
        for size in sizes:
            order = tools[round_no % len(tools):] + tools[:round_no % len(tools)]
            for tool in order:
                if isinstance(tool, ZwSetting):
                    label = "zoomwatch"
                    result = world.zw_once(size, tool.label, tool.part_size, tool.concurrency, timeout)
                else:
                    label = tool
                    result = world.peer(tool, size, timeout)
                out.setdefault(label, {}).setdefault(fmt_size(size), []).append(result)
                log(f"  round {round_no + 1} {label} {fmt_size(size)}: peak RSS {result['peak_rss_mib']:.0f} MiB "
                    f"(VmHWM {result['peak_vmhwm_mib']:.0f}), {result['mib_s']:.0f} MiB/s")
    summary: dict[str, Any] = {}
    for label, by_size in out.items():
        summary[label] = {s: {"peak_rss_mib": summarize([r["peak_rss_mib"] for r in runs]),
                              "peak_vmhwm_mib": summarize([r["peak_vmhwm_mib"] for r in runs]),
                              "mib_s": summarize([r["mib_s"] for r in runs])} for s, runs in by_size.items()}
        small, big = fmt_size(sizes[0]), fmt_size(sizes[-1])
        summary[label]["growth_mib"] = round(summary[label][big]["peak_rss_mib"]["median"]
                                             - summary[label][small]["peak_rss_mib"]["median"], 1)
    bound = setting.part_size * setting.concurrency
    zw = summary.get("zoomwatch", {})
    return {"sizes": [fmt_size(s) for s in sizes], "runs": out, "summary": summary,
            "zoomwatch_part_buffers_mib": bound // MIB,
            # flat: the 2 GiB peak within a part-size x concurrency window of the 256 MiB peak
            "zoomwatch_flat": bool(zw) and zw["growth_mib"] <= max(16.0, bound / MIB / 2)}


# -- phase 3: resume after SIGKILL ----------------------------------------------------------------

def stored_parts(world: World, key_prefix: str) -> tuple[str | None, str | None, list[tuple[int, int]]]:
    uploads = world.client.list_multipart_uploads(Bucket=BUCKET, Prefix=key_prefix).get("Uploads", [])
    if not uploads:
        return None, None, []
    upload = uploads[0]
    parts: list[tuple[int, int]] = []
    paginator = world.client.get_paginator("list_parts")
    for page in paginator.paginate(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]):
        parts.extend((int(p["PartNumber"]), int(p["Size"])) for p in page.get("Parts", []))
    return upload["Key"], upload["UploadId"], parts


def download_sha256(world: World, key: str) -> str:
    digest = hashlib.sha256()
    body = world.client.get_object(Bucket=BUCKET, Key=key)["Body"]
    for chunk in iter(lambda: body.read(4 * MIB), b""):
        digest.update(chunk)
    return digest.hexdigest()


def phase_resume(world: World, size: int, setting: ZwSetting, bwlimit: str, timeout: float) -> dict[str, Any]:
    log(f"phase 3: SIGKILL at ~50 % of a {fmt_size(size)} upload (limit {bwlimit}/s), then run --once")
    path, sha = world.file(size)
    prefix = world.next_prefix("resume")
    home = world.zw_home(path.parent.parent, prefix, setting.part_size, setting.concurrency, bwlimit)
    part = setting.part_size  # zoomwatch grows it only past 10,000 parts
    count = -(-size // part)
    port = world.server.ports["s3"]
    first = Started("zoomwatch run", zoomwatch_argv("run"), env=world.zw_env(home), cwd=home,
                    wire_port=port)
    stored_at_trigger: list[tuple[int, int]] = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            if first.proc.poll() is not None:
                raise BenchError(f"zoomwatch run exited before 50 % was stored:\n{first.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"the store did not hold 50 % of the parts within {timeout:.0f} s")
            _, _, parts = stored_parts(world, prefix + "/")
            if sum(s for _, s in parts) * 2 >= size:
                stored_at_trigger = parts
                break
            time.sleep(0.1)
        t_kill = time.monotonic() - first.t0
        kill_group(first.proc)
    finally:
        first.kill()
        wire_first = first.wire.stop() if first.wire else None
    time.sleep(1.0)  # let the store finish whatever it had received in full
    key, _, after = stored_parts(world, prefix + "/")
    if key is None:
        raise BenchError("no multipart upload left at the store after the SIGKILL")
    stored_numbers = {n for n, _ in after}
    stored_bytes = sum(s for _, s in after)
    log(f"  killed after {t_kill:.1f} s: {len(stored_at_trigger)} parts stored at the trigger, "
        f"{len(after)} of {count} a second later; first process put {mib(wire_first)} MiB on the wire")

    world.zw(home, "config", "set", "transfer.bandwidth_limit", "0")
    second = Started("zoomwatch run --once", zoomwatch_argv("run", "--once", "--max-wait", "60"),
                     env=world.zw_env(home), cwd=home, wire_port=port).finish(timeout)
    if second.returncode != 0:
        raise BenchError(f"run --once after the SIGKILL exited {second.returncode}:\n{second.tail()}")
    resuming, complete = second.find(RESUMING_RE), second.find(COMPLETE_RE)
    if complete is None:
        raise BenchError(f"no 'multipart upload ... complete' line after the SIGKILL:\n{second.tail()}")
    sent, reused = int(complete[1]["sent"]), int(complete[1]["reused"])
    missing = count - len(stored_numbers)
    # parts the store already held, sent again anyway (the resume should reuse every one)
    resent_stored = max(0, sent - missing)
    # parts the first process had started but the store never got: sent (partly) twice. Lower bound:
    # the gaps below the highest stored part (parts are started in order); upper bound: concurrency.
    highest = max(stored_numbers) if stored_numbers else 0
    gaps = sum(1 for n in range(1, highest + 1) if n not in stored_numbers)
    inflight_upper = min(setting.concurrency, missing)
    window = part * setting.concurrency
    resent_upper = (resent_stored + inflight_upper) * part
    out: dict[str, Any] = {
        "size_bytes": size, "part_size": part, "concurrency": setting.concurrency, "parts": count,
        "bandwidth_limit_first_run": bwlimit, "killed_after_s": round(t_kill, 2),
        "parts_stored_at_trigger": len(stored_at_trigger), "parts_stored_after_kill": len(after),
        "bytes_stored_after_kill": stored_bytes, "log_resuming_line": resuming[1].group(0) if resuming else None,
        "log_complete_line": complete[1].group(0), "parts_sent_second_run": sent, "parts_reused": reused,
        "parts_missing_after_kill": missing, "stored_parts_sent_again": resent_stored,
        "inflight_parts_lower_bound": gaps, "inflight_parts_upper_bound": inflight_upper,
        "resent_bytes_upper_bound_mib": round(resent_upper / MIB, 1),
        "resent_upper_bound_over_window": round(resent_upper / window, 3),
        "second_run_wall_s": round(second.wall_s, 2),
    }
    if wire_first is not None and second.wire_bytes is not None:
        wire_total = wire_first + second.wire_bytes
        # what went over the wire beyond one copy of the file (HTTP headers and the small requests are
        # a few KiB of it): the measured re-sent bytes
        wasted = wire_total - size
        out.update(wire_bytes_first_run_mib=mib(wire_first), wire_bytes_second_run_mib=mib(second.wire_bytes),
                   resent_bytes_measured_mib=round(wasted / MIB, 1),
                   resent_measured_over_window=round(wasted / window, 3))
    headline = out.get("resent_measured_over_window", out["resent_upper_bound_over_window"])
    out["resent_over_window"] = headline
    out["goal_met"] = resent_stored == 0 and headline <= 1.0
    log("  downloading the object to check its sha256")
    got = download_sha256(world, key)
    out.update(final_sha256=got, file_sha256=sha, sha256_matches=got == sha)
    world.clean(prefix, home)
    return out


# -- phase 4: where zoomwatch spends its time (py-spy) ---------------------------------------------

def _category(leaf: str, source: str) -> str:
    if "SocketIO.readinto" in leaf or "do_poll" in leaf or "wait_for_read" in leaf:
        return "waiting for the store's response"
    if "HTTPConnection.send" in leaf or "sendall" in leaf or "chunk_readable" in leaf:
        return "sending the bytes (socket)"
    if "SigV4Auth.payload" in leaf:
        return "botocore SigV4 payload sha256 (http endpoints only)"
    if "zoomwatch/" in leaf and "md5" in source:
        return "zoomwatch md5 of the parts"
    if "zoomwatch/" in leaf and ("sha256" in source or "digest.update" in source):
        return "zoomwatch sha256 (pre-pass and parts)"
    if "zoomwatch/" in leaf and "pread" in source:
        return "reading the file"
    if "Catalog." in leaf:
        return "catalog (SQLite)"
    if "importlib" in leaf or "_compile_bytecode" in leaf or "<frozen" in leaf:
        return "imports (start-up)"
    if "Condition.wait" in leaf or "Event.wait" in leaf or "lock" in leaf.lower():
        return "waits on locks and events"
    return "other"


def phase_profile(world: World, size: int, setting: ZwSetting, timeout: float) -> dict[str, Any]:
    """One more zoomwatch `run --once` under `py-spy record` (100 Hz, all threads): the leaf frames
    where samples landed, grouped. py-spy slows the run; the shares are what counts, not its time."""
    import linecache

    spy = shutil.which("py-spy")
    if not spy:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    log(f"phase 4: zoomwatch {setting.label.split()[-1]} uploading {fmt_size(size)} under py-spy")
    path, sha = world.file(size)
    prefix = world.next_prefix("profile")
    home = world.zw_home(path.parent.parent, prefix, setting.part_size, setting.concurrency)
    raw = world.work / "py-spy.txt"
    argv = [spy, "record", "-r", "100", "-f", "raw", "-o", str(raw), "--threads", "--nonblocking", "--",
            *zoomwatch_argv("run", "--once", "--max-wait", "60")]
    m = Started("py-spy zoomwatch", argv, env=world.zw_env(home), cwd=home).finish(timeout)
    if m.returncode != 0 or not raw.exists():
        raise BenchError(f"py-spy run exited {m.returncode}:\n{m.tail()}")
    leaves: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        total += int(number)
        leaf = stack.split(";")[-1]
        leaves[leaf] = leaves.get(leaf, 0) + int(number)
    categories: dict[str, int] = {}
    top: list[dict[str, Any]] = []
    for leaf, count in sorted(leaves.items(), key=lambda kv: -kv[1]):
        where = re.search(r"\((?P<file>[^()]+):(?P<line>\d+)\)$", leaf)
        source = ""
        if where:
            file = where["file"]
            for root in (str(REPO), *sys.path):
                candidate = Path(root) / file
                if candidate.exists():
                    source = linecache.getline(str(candidate), int(where["line"])).strip()
                    break
        cat = _category(leaf, source)
        categories[cat] = categories.get(cat, 0) + count
        if len(top) < 15:
            top.append({"frame": leaf, "source": source, "share": round(count / total, 3), "category": cat})
    world.clean(prefix, home)
    raw.unlink(missing_ok=True)
    return {"samples": total, "wall_s_under_py_spy": round(m.wall_s, 2),
            "categories": {k: round(v / total, 3) for k, v in sorted(categories.items(), key=lambda kv: -kv[1])},
            "top_frames": top}


# -- report ---------------------------------------------------------------------------------------

def _mmm(s: dict[str, float], unit: str = "", fmt: str = ".1f") -> str:
    return f"{s['median']:{fmt}}{unit} (min {s['min']:{fmt}}, max {s['max']:{fmt}})"


def print_report(r: dict[str, Any]) -> None:
    print(f"\nzoomwatch S3 benchmark — SeaweedFS on loopback — {r['machine']['cpus']} CPUs, "
          f"Python {r['machine']['python']}, {r['machine']['when']}")
    print(f"command: {r['command']}")
    t = r.get("throughput")
    if t:
        print(f"\n1. Throughput, {fmt_size(t['size_bytes'])} random file, median of {t['rounds']} (min, max):")
        for label, s in t["summary"].items():
            line = f"   {label:<22} {_mmm(s['mib_s'], ' MiB/s', '.0f'):<36} wall {_mmm(s['wall_s'], ' s', '.2f')}"
            print(line)
            print(f"   {'':<22} CPU s: client {s['client_cpu_s']['median']:.1f}, SeaweedFS "
                  f"{s['server_cpu_s']['median']:.1f} ({s['cpu_cores_busy']['median']:.2f} of "
                  f"{r['machine']['cpus']} cores busy); peak RSS {s['peak_rss_mib']['median']:.0f} MiB")
            if "upload_proper_s" in s:
                print(f"   {'':<22} start-up/scan {s['startup_scan_s']['median']:.2f} s, sha256 pre-pass "
                      f"{s['sha256_prepass_s']['median']:.2f} s, upload proper {s['upload_proper_s']['median']:.2f} s"
                      f" ({s['upload_proper_mib_s']['median']:.0f} MiB/s), tail {s['tail_s']['median']:.2f} s")
        print(f"   sha256 of the file alone in this process: {t['bench_sha256_alone_s']['median']:.2f} s")
        print(f"   fastest zoomwatch setting: {t['zoomwatch_fastest']}")
        for name, value in t["ratios"].items():
            print(f"   ratio {name}: {value:.2f}  (throughput; > 1 = zoomwatch faster)")
    m = r.get("rss")
    if m:
        print(f"\n2. Peak RSS (process + children, 50 ms polling), median (min, max) of {m['rounds']}:")
        for label, by_size in m["summary"].items():
            cells = [f"{s}: {_mmm(by_size[s]['peak_rss_mib'], ' MiB', '.0f')}" for s in m["sizes"]]
            print(f"   {label:<10} " + "; ".join(cells) + f"; growth {by_size['growth_mib']:+.0f} MiB")
        print(f"   zoomwatch flat (no growth with file size): {m['zoomwatch_flat']} "
              f"(its part buffers: {m['zoomwatch_part_buffers_mib']} MiB)")
    s = r.get("resume")
    if s:
        window = s["part_size"] * s["concurrency"] / MIB
        print(f"\n3. Resume after SIGKILL at ~50 % ({fmt_size(s['size_bytes'])}, {s['parts']} parts of "
              f"{s['part_size'] // MIB} MiB, concurrency {s['concurrency']}, first run limited to "
              f"{s['bandwidth_limit_first_run']}/s):")
        print(f"   killed after {s['killed_after_s']} s; store held {s['parts_stored_after_kill']} parts "
              f"({s['bytes_stored_after_kill'] / MIB:.0f} MiB) after the kill")
        print(f"   log: {s['log_resuming_line']}")
        print(f"   log: {s['log_complete_line']}")
        print(f"   stored parts sent again: {s['stored_parts_sent_again']}; in-flight parts at the kill: "
              f"{s['inflight_parts_lower_bound']}..{s['inflight_parts_upper_bound']}")
        print(f"   re-sent (upper bound, in-flight parts counted whole): {s['resent_bytes_upper_bound_mib']} MiB = "
              f"{s['resent_upper_bound_over_window']:.2f} x part size x concurrency ({window:.0f} MiB)")
        if "resent_bytes_measured_mib" in s:
            print(f"   re-sent (measured on the TCP sockets: {s['wire_bytes_first_run_mib']} + "
                  f"{s['wire_bytes_second_run_mib']} MiB - the file): {s['resent_bytes_measured_mib']} MiB = "
                  f"{s['resent_measured_over_window']:.2f} x part size x concurrency")
        print(f"   goal (<= 1 x part size x concurrency, no stored part re-sent) met: {s['goal_met']}")
        print(f"   downloaded object sha256 == file sha256: {s['sha256_matches']}")
    p = r.get("profile")
    if p and "skipped" in p:
        print(f"\n4. py-spy profile: skipped ({p['skipped']})")
    elif p:
        print(f"\n4. Where zoomwatch's samples land (py-spy, 100 Hz, all threads, {p['samples']} samples; "
              f"waits in socket reads count as samples):")
        for name, share in p["categories"].items():
            print(f"   {share * 100:5.1f} %  {name}")
        print("   top frames:")
        for frame in p["top_frames"][:10]:
            source = f"  [{frame['source'][:60]}]" if frame["source"] else ""
            print(f"   {frame['share'] * 100:5.1f} %  {frame['frame'][:90]}{source}")
    if r.get("errors"):
        print("\nerrors:")
        for phase, message in r["errors"].items():
            print(f"   {phase}: {message}")


# -- main -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 256 MiB, 1 round, RSS at 64 and 256 MiB")
    parser.add_argument("--size-gib", type=float, help="throughput and resume file size (default 1)")
    parser.add_argument("--repeat", type=int, help="rounds per tool (default 3)")
    parser.add_argument("--rss-sizes", help="the two RSS file sizes (default 256M,2G)")
    parser.add_argument("--settings", default="8M/4,16M/8,32M/8",
                        help="zoomwatch part_size/concurrency settings to try; the first is the default "
                             "compared with the peers and used for RSS and resume (default 8M/4,16M/8,32M/8)")
    parser.add_argument("--kill-bwlimit", default="100M",
                        help="transfer.bandwidth_limit of the run that is SIGKILLed (default 100M)")
    parser.add_argument("--phases", default="throughput,rss,resume,profile",
                        help="a subset of throughput,rss,resume,profile (default all; profile needs py-spy)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for one upload (default 900)")
    add_output_options(parser)
    args = parser.parse_args(argv)

    size = int((args.size_gib if args.size_gib is not None else (0.25 if args.quick else 1.0)) * GIB)
    repeat = args.repeat or (1 if args.quick else 3)
    rss_sizes = [parse_size(x) for x in (args.rss_sizes or ("64M,256M" if args.quick else "256M,2G")).split(",")]
    settings = []
    for item in args.settings.split(","):
        part, _, conc = item.strip().partition("/")
        settings.append(ZwSetting(parse_size(part), int(conc or 4)))
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - {"throughput", "rss", "resume", "profile"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")

    work = make_workdir(args.workdir, "zoomwatch-bench-s3-")
    need = size + sum(rss_sizes) + 2 * GIB  # the files, plus room for what the store keeps meanwhile
    warn_if_short_of_space(work, need)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        "settings": {"size_bytes": size, "repeat": repeat, "rss_sizes": rss_sizes,
                     "zoomwatch": [s.label for s in settings], "kill_bwlimit": args.kill_bwlimit,
                     "aws": "aws s3 cp (awscli defaults: 8 MiB chunks, 10 concurrent requests)",
                     "rclone": "rclone copyto (defaults: 5 MiB chunks, upload concurrency 4, MD5 pre-pass)"},
        "errors": {},
    }
    server: SeaweedS3 | None = None
    code = 0
    try:
        rclone = ensure_tool("rclone", "rclone")
        versions = {"rclone": subprocess.run([rclone, "version"], capture_output=True, text=True,
                                             timeout=30).stdout.splitlines()[:1],
                    "aws": subprocess.run([*aws_command(), "--version"], capture_output=True, text=True,
                                          timeout=60).stdout.strip()}
        report["machine"]["tools"] = versions
        log(f"workdir {work}; starting SeaweedFS")
        server = SeaweedS3(work / "s3")
        server.start()
        import boto3
        from botocore.config import Config as BotoConfig

        client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                              config=BotoConfig(s3={"addressing_style": "path"}, read_timeout=300,
                                                retries={"max_attempts": 3}))
        client.create_bucket(Bucket=BUCKET)
        world = World(work, server, client, rclone)
        world.file(size)
        log("warm-up: one untimed upload of each tool (the store allocates its volumes)")
        world.zw_once(size, "warm-up", settings[0].part_size, settings[0].concurrency, args.timeout)
        world.peer("aws", size, args.timeout)
        world.peer("rclone", size, args.timeout)
        # zoomwatch's fixed cost: run --once on a Zoom folder without recordings
        empty = work / "zoom-empty"
        empty.mkdir()
        noop = []
        for _ in range(3):
            home = world.zw_home(empty, world.next_prefix("noop"), settings[0].part_size, settings[0].concurrency)
            m = Started("noop", zoomwatch_argv("run", "--once"), env=world.zw_env(home),
                        cwd=home).finish(120)
            noop.append(m.wall_s)
            shutil.rmtree(home, ignore_errors=True)
        report["zoomwatch_noop_run_once_s"] = summarize(noop)
        log(f"zoomwatch run --once with nothing to do: {statistics.median(noop):.2f} s")

        for phase in phases:
            try:
                if phase == "throughput":
                    report["throughput"] = phase_throughput(world, size, repeat, settings, args.timeout)
                elif phase == "rss":
                    report["rss"] = phase_rss(world, rss_sizes, repeat, settings[0], args.timeout)
                    report["rss"]["rounds"] = repeat
                elif phase == "resume":
                    report["resume"] = phase_resume(world, size, settings[0], args.kill_bwlimit, args.timeout)
                elif phase == "profile":
                    report["profile"] = phase_profile(world, size, settings[0], args.timeout)
            except (BenchError, subprocess.SubprocessError, OSError) as exc:
                code = phase_failed(report, phase, exc)
    except (BenchError, RuntimeError, subprocess.SubprocessError, OSError) as exc:
        log(f"failed: {exc}")
        report["errors"]["setup"] = str(exc)[-3000:]
        code = 2
    finally:
        kill_started()
        if server is not None:
            server.stop()
        remove_workdir(work, args.keep)
    print_report(report)
    write_figures(args.json_out, report)
    resume = report.get("resume")
    if code == 0 and resume and not (resume["sha256_matches"] and resume["goal_met"]):
        code = 1
    if code == 0 and report.get("rss") and not report["rss"]["zoomwatch_flat"]:
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
