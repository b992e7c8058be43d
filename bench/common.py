"""The one harness every script in bench/ runs on (imported as `common`; it puts tests/ on sys.path).

- `Proc`: a background process in a session of its own: stderr/stdout kept with their times, the process
  tree's RSS sampled every 50 ms, `marks` (name -> condition) timed the first time each holds, reaped with
  os.wait4 (exact CPU seconds); `start()`, `wait_until()`, `ensure_tool()`;
- `Home`: one isolated zoomwatch (HOME and XDG_* in a folder of its own) and its progress read from
  machine-readable places: `status --json` and the catalog opened read-only;
- `startup_scan()`: the one log line any benchmark reads (see there why);
- `start_seaweed()`, `seaweed_cpu()`, `empty_prefix()`: the S3 store;
- `Bench` and `add_options()`: the temporary folder, the phases and their errors, --json-out, the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the project's test extra
    sys.exit(f"{Path(sys.argv[0]).name} needs psutil: pip install psutil (or pip install -e '.[test]')")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
MIB = 1024 * 1024
GIB = 1024 * MIB
POLL_S = 0.05
NULL_KEYRING = "keyring.backends.null.Keyring"
XDG_DIRS = {"XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state",
            "XDG_CACHE_HOME": ".cache"}
PROCS: list[subprocess.Popen[Any]] = []  # every process a script started, killed at the end


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# -- processes ------------------------------------------------------------------------------------

def start(argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
    """Popen in a session of its own (so its whole group can be killed), remembered in PROCS."""
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    PROCS.append(proc)
    return proc


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """The first true value of `condition()`; BenchError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return value


def ensure_tool(name: str, package: str) -> str:
    """The path of `name`; installed with apt-get only when missing and running as root."""
    if not shutil.which(name) and os.geteuid() == 0 and shutil.which("apt-get"):
        log(f"{name} missing: apt-get install -y {package}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
            subprocess.run(argv, env=env, capture_output=True, timeout=600)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} is not installed: apt-get install -y {package}, then run again")
    return found


@dataclass
class Done:
    """How a Proc ended: exit code, wall and CPU seconds, peak memory, when its marks held, its output."""

    name: str
    code: int
    wall_s: float
    cpu_s: float
    maxrss: int  # wait4's ru_maxrss (the largest process of the tree), what GNU time -v reports
    peak_rss: int  # the tree's summed RSS, polled
    peak_hwm: int  # the main process's VmHWM
    marks: dict[str, float]  # seconds since start when each mark first held
    lines: list[tuple[float, str]]  # stderr lines and when they came
    stdout: str = ""

    def tail(self, n: int = 15) -> str:
        return "\n".join(text for _, text in self.lines[-n:]) + "\n" + self.stdout[-1000:]

    def check(self) -> Done:
        if self.code != 0:
            raise BenchError(f"{self.name} exited {self.code}:\n{self.tail()}")
        return self


class Proc:
    """A background process (see the module docstring). `after_exec`: sample no memory until the child has
    exec'd (until then it is a copy of this process, whose stand-ins may hold gigabytes)."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path, name: str = "",
                 marks: dict[str, Callable[[], Any]] | None = None, after_exec: bool = False) -> None:
        self.name = name or " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv[:4]))
        self.marks = dict(marks or {})
        self.times: dict[str, float] = {}
        self.lines: list[tuple[float, str]] = []
        self.stdout: list[bytes] = []
        self.peak_rss = self.peak_hwm = 0
        self._exec_seen = not after_exec
        self._halt = threading.Event()
        self.t0 = time.monotonic()
        self.proc: subprocess.Popen[bytes] = start(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._read_err, self._read_out,
                                                                            self._sample)]
        for thread in self._threads:
            thread.start()

    def _read_err(self) -> None:
        for raw in self.proc.stderr or []:
            self.lines.append((time.monotonic() - self.t0, raw.decode("utf-8", "replace").rstrip("\n")))

    def _read_out(self) -> None:
        self.stdout.extend(self.proc.stdout or [])

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.proc.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                if not self._exec_seen:
                    self._exec_seen = root.cmdline() != psutil.Process().cmdline()
                if self._exec_seen:
                    tree = [root, *root.children(recursive=True)]
                    self.peak_rss = max(self.peak_rss, rss_sum(tree))
                    self.peak_hwm = max(self.peak_hwm, vm_hwm(self.proc.pid))
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                pass
            now = time.monotonic() - self.t0
            for name, condition in self.marks.items():
                if name not in self.times and _holds(condition):
                    self.times[name] = now
            self._halt.wait(POLL_S)

    def alive(self) -> bool:
        """True while it runs; BenchError once it has exited (left unreaped for wait())."""
        if os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            raise BenchError(f"{self.name} exited:\n{self.tail()}")
        return True

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """`sig` to its process group (it is reaped by wait(), so its CPU seconds are known)."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def tail(self, n: int = 15) -> str:
        return "\n".join(text for _, text in self.lines[-n:])

    def wait(self, timeout: float) -> Done:
        """Reap it (os.wait4) within `timeout` s from now; killed and BenchError after that."""
        deadline = time.monotonic() + timeout
        while not (reaped := os.wait4(self.proc.pid, os.WNOHANG))[0]:
            if time.monotonic() > deadline:
                self.signal(signal.SIGKILL)
                self._finish()
                raise BenchError(f"{self.name} did not finish within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.005)
        wall = time.monotonic() - self.t0
        self.proc.returncode = os.waitstatus_to_exitcode(reaped[1])
        self._finish()
        usage = reaped[2]
        return Done(self.name, self.proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024,
                    self.peak_rss, self.peak_hwm, dict(self.times), list(self.lines),
                    b"".join(self.stdout).decode("utf-8", "replace"))

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        try:
            self.wait(30)
        except (BenchError, ChildProcessError):
            pass

    def _finish(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(10)


def _holds(condition: Callable[[], Any]) -> bool:
    try:
        return bool(condition())
    except Exception:  # a mark's source (catalog, store) not there yet
        return False


def vm_hwm(pid: int) -> int:
    """The kernel's peak RSS of one process (VmHWM), in bytes; 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(errors="replace").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_sum(procs: Iterable[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total


def self_cpu() -> float:
    """CPU seconds of this process so far (a stand-in's threads in it included)."""
    times = os.times()
    return times.user + times.system


# -- an isolated zoomwatch ------------------------------------------------------------------------

def home_env(home: Path, *, base: dict[str, str] | None = None, drop: tuple[str, ...] = (),
             keep: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """`base` (default: this environment) without the variables starting with one of `drop` (but `keep`),
    with HOME and XDG_* in `home`, then `extra`: nothing of the real user is read or written."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(drop) or k in keep}
    env.update(HOME=str(home), **{name: str(home / sub) for name, sub in XDG_DIRS.items()}, **extra)
    for sub in XDG_DIRS.values():
        (home / sub).mkdir(parents=True, exist_ok=True)
    return env


def zoomwatch_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoomwatch", *args]


class Home:
    """One isolated zoomwatch: `settings` applied with `config set` (after copying `template`'s folder,
    which saves most of them), and its progress read from status --json and the catalog."""

    def __init__(self, root: Path, settings: Iterable[tuple[str, str]] = (), *, template: Home | None = None,
                 base: dict[str, str] | None = None, drop: tuple[str, ...] = (), keep: tuple[str, ...] = (),
                 command: list[str] | None = None, **env: str) -> None:
        if template is not None:
            shutil.copytree(template.root, root)
        self.root = root
        self.command = command or zoomwatch_argv()  # or the bundle's executable
        self.env = home_env(root, base=base, drop=drop, keep=keep, PYTHONUNBUFFERED="1", **env)
        self._catalog: Any = None
        self.set(*settings)

    def set(self, *settings: tuple[str, str]) -> None:
        for key, value in settings:
            self.zw("config", "set", key, value)

    def zw(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`python -m zoomwatch ARGS` to the end; BenchError when it fails."""
        done = subprocess.run([*self.command, *args], env=self.env, cwd=self.root, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise BenchError(f"zoomwatch {' '.join(args)} exited {done.returncode}: {done.stdout[-1000:]}"
                             f"{done.stderr[-2000:]}")
        return done

    def run(self, *args: str, prefix: tuple[str, ...] = (), **kw: Any) -> Proc:
        return Proc([*prefix, *self.command, *args], env=self.env, cwd=self.root, name=f"zoomwatch {args[0]}",
                    **kw)

    def status(self) -> dict[str, Any]:
        return json.loads(self.zw("status", "--json").stdout)

    def catalog(self) -> Any:
        """Its catalog (zoomwatch.core.catalog.Catalog) opened read-only, or None before it exists."""
        if self._catalog is None:
            from zoomwatch.core.catalog import Catalog
            from zoomwatch.paths import APP_NAME

            file = Path(self.env["XDG_DATA_HOME"]) / APP_NAME / "catalog.sqlite3"
            self._catalog = Catalog(file, readonly=True) if file.exists() else None
        return self._catalog

    def rows(self) -> list[Any]:
        """The catalog's rows (zoomwatch.core.catalog.Row); [] before it exists."""
        return self.catalog().rows() if self.catalog() else []

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None


# The one place a benchmark reads zoomwatch's log wording. The end of the start-up scan and its own duration
# are in no machine-readable place: the scan writes nothing to the catalog for unchanged files, and
# `status --json` does not show the running engine's state. Everything else is read from the catalog,
# status --json, the destination or the stand-ins.
STARTUP_SCAN_LINE = re.compile(r"start-up scan of .*: (?P<files>\d+) files, (?P<unchanged>\d+) already backed up, "
                               r"(?P<to_check>\d+) to check \((?P<secs>[0-9.]+) s\)")


def startup_scan(proc: Proc, timeout: float = 300) -> tuple[float, dict[str, float]]:
    """(seconds from the process start to the scan's log line, the figures that line gives)."""
    def found() -> tuple[float, re.Match[str]] | None:
        proc.alive()
        return next(((t, m) for t, text in list(proc.lines) if (m := STARTUP_SCAN_LINE.search(text))), None)

    at, match = wait_until(found, timeout, "the start-up scan's log line")
    return at, {k: float(v) for k, v in match.groupdict().items()}


# -- servers --------------------------------------------------------------------------------------

def start_seaweed(work: Path, bucket: str) -> tuple[Any, Any]:
    """SeaweedFS (tests/s3server.py) in `work` with `bucket` made: (server, boto3 client)."""
    import boto3
    from botocore.config import Config as BotoConfig
    from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

    log("starting SeaweedFS")
    server = SeaweedS3(work)
    server.start()
    PROCS.append(server.process)  # killed at the end with the rest
    client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, config=BotoConfig(
                              s3={"addressing_style": "path"}, read_timeout=300, retries={"max_attempts": 3}))
    client.create_bucket(Bucket=bucket)
    return server, client


def seaweed_cpu(server: Any) -> float:
    """CPU seconds the SeaweedFS process tree has used so far."""
    try:
        proc = psutil.Process(server.process.pid)
        return sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(recursive=True)])
    except (psutil.NoSuchProcess, AttributeError):
        return 0.0


def empty_prefix(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Delete the objects and unfinished uploads under `prefix`/; returns the objects that were there."""
    objects = [o for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
               for o in page.get("Contents", [])]
    for obj in objects:
        client.delete_object(Bucket=bucket, Key=obj["Key"])
    for up in client.list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/").get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    return objects


# -- figures --------------------------------------------------------------------------------------

def summarize(values: Iterable[float]) -> dict[str, float]:
    values = list(values)
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def rotate(items: list[Any], n: int) -> list[Any]:
    """`items` starting at the n-th: who goes first alternates from round to round."""
    return items[n % len(items):] + items[:n % len(items)]


def parse_size(text: str) -> int:
    """'8M', '256M', '2G', '512K' or bytes (1024-based, like zoomwatch's own settings)."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 1024, "M": MIB, "G": GIB}.get(value[-1:], 1)
    return int(float(value[:-1] if factor > 1 else value) * factor)


def fmt_size(n: int) -> str:
    return f"{n // GIB} GiB" if n % GIB == 0 else f"{n / MIB:g} MiB"


def mib(n: float | None) -> float | None:
    return None if n is None else round(n / MIB, 1)


def make_file(path: Path, size: int, *, age: float = 86400) -> str:
    """A random file of `size` bytes, `age` seconds old; returns its sha256."""
    import hashlib

    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for offset in range(0, size, 16 * MIB):
            data = os.urandom(min(16 * MIB, size - offset))
            handle.write(data)
            digest.update(data)
    os.utime(path, (time.time() - age, time.time() - age))
    return digest.hexdigest()


def machine_info() -> dict[str, Any]:
    """CPUs, RAM, Python, platform, the time, and which zoomwatch (version, commit, local edits)."""
    import zoomwatch

    out: dict[str, Any] = {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
                           "python": platform.python_version(), "platform": platform.platform(),
                           "when": time.strftime("%Y-%m-%d %H:%M:%S"), "zoomwatch": zoomwatch.__version__}
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
    if head.returncode == 0:
        edits = subprocess.run([*git, "status", "--porcelain", "--", "zoomwatch"], capture_output=True, text=True,
                               timeout=10).stdout.splitlines()
        out.update(commit=head.stdout.strip(), local_edits_in_zoomwatch=len(edits))
    return out


# -- the run --------------------------------------------------------------------------------------

def add_options(parser: argparse.ArgumentParser, phases: str, quick: str) -> None:
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {quick}")
    parser.add_argument("--phases", default=phases, help=f"a subset of {phases} (default all)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for one run (default 900)")
    parser.add_argument("--workdir", type=Path, help="where to make the temporary folder (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")


@dataclass
class Bench:
    """One benchmark run: its temporary folder, its report (command, machine, settings, phase figures,
    errors) and its exit code (2 when a phase failed)."""

    name: str
    args: argparse.Namespace
    settings: dict[str, Any]
    report: dict[str, Any] = field(init=False)
    code: int = 0

    def __post_init__(self) -> None:
        base = self.args.workdir or Path("/tmp")
        base.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix=f"zoomwatch-bench-{self.name}-", dir=base))
        self.report = {"command": " ".join(["python", *sys.argv]), "machine": machine_info(),
                       "settings": self.settings, "errors": {}}
        log(f"workdir {self.work}")

    def phases(self, parser: argparse.ArgumentParser, known: Iterable[str]) -> list[str]:
        chosen = [p.strip() for p in self.args.phases.split(",") if p.strip()]
        if set(chosen) - set(known):
            parser.error(f"unknown phase(s) in {self.args.phases}; known: {', '.join(known)}")
        return chosen

    def run(self, phase: str, fn: Callable[..., dict[str, Any]], *args: Any, key: str | None = None) -> Any:
        """report[key or phase] = fn(*args) (not kept when key == ""); a failure is logged and kept in
        report["errors"], and None returned."""
        try:
            log(f"phase {phase}")
            value = fn(*args)
            if key != "":
                self.report[key or phase] = value
            return value
        except (BenchError, RuntimeError, subprocess.SubprocessError, OSError, psutil.Error) as exc:
            self.failed(phase, exc)
            return None

    def failed(self, phase: str, exc: BaseException) -> None:
        log(f"{phase} failed: {''.join(traceback.format_exception(exc)[-3:])}")
        self.report["errors"][phase] = str(exc)[-3000:]
        self.code = 2

    def finish(self, printer: Callable[[dict[str, Any]], None], verdict: Callable[[dict[str, Any]], bool]) -> int:
        """Kill what is left, remove the folder (unless --keep), print, write --json-out; the exit code:
        2 when a phase failed, 1 when `verdict(report)` is false, else 0."""
        for proc in PROCS:  # whatever is left
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)
        if self.args.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        printer(self.report)
        for phase, error in self.report["errors"].items():
            print(f"\n{phase} FAILED: {error[-1500:]}")
        if self.args.json_out:
            self.args.json_out.parent.mkdir(parents=True, exist_ok=True)
            self.args.json_out.write_text(json.dumps(self.report, indent=2, default=str) + "\n")
            log(f"figures written to {self.args.json_out}")
        return self.code or (0 if verdict(self.report) else 1)
