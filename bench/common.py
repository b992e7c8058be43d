"""What the benchmark scripts in bench/ share: running zoomwatch isolated, as a subprocess, and measuring it.

- processes: `start()` (its own session, remembered in PROCS), `kill_group()` / `stop_group()` and
  `kill_started()` for the `finally` of each script; `ensure_tool()` (rclone, strace: apt-get only as root);
- an isolated zoomwatch: `make_home()` and `home_env()` (HOME and the XDG_* variables in a folder of
  its own), `zoomwatch_argv()` / `run_zoomwatch()` (`python -m zoomwatch ...`) and `HomeTemplate` (a
  HOME configured once and copied for each run);
- measuring: `Sampler` (RSS of a process tree every 50 ms, and VmHWM; `rss_sum()`, `vm_hwm()`), `Watched`
  (a background process whose stderr lines are timed and which is reaped with os.wait4 for its CPU
  seconds), `self_cpu()`, `seaweed_cpu()`, `make_file()` (a random file and its sha256);
- figures: `summarize()` (median, min, max), `parse_size()` / `fmt_size()` / `mib()`, `machine_info()`;
- the run: `add_output_options()` (--workdir, --keep, --json-out), `make_workdir()` / `remove_workdir()`,
  `warn_if_short_of_space()`, `phase_failed()` and `write_figures()`.

It also imports psutil (the scripts take it from here), exiting with a hint when it is missing. The scripts
import it as `common` (their own folder is first on sys.path when run as `python bench/bench_*.py`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the project's test extra
    sys.exit(f"{Path(sys.argv[0]).name} needs psutil: pip install psutil (or pip install -e '.[test]')")

MIB = 1024 * 1024
GIB = 1024 * MIB
POLL_S = 0.05
NULL_KEYRING = "keyring.backends.null.Keyring"
XDG_DIRS = {"XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state",
            "XDG_CACHE_HOME": ".cache"}
PROCS: list[subprocess.Popen[Any]] = []  # every process a script started, killed in its `finally`


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


def stop_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """Send `sig` to a process this script started and its session, and wait (10 s; then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        proc.send_signal(sig)
    try:
        proc.wait(10)
        return
    except subprocess.TimeoutExpired:
        if sig == signal.SIGKILL:
            return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a process this script started, and its session (it was started in a new one)."""
    stop_group(proc, signal.SIGKILL)


def kill_started() -> None:
    """SIGKILL whatever this script started and is still running."""
    for proc in PROCS:
        kill_group(proc)


def ensure_tool(name: str, package: str) -> str:
    """The path of `name`; installed with apt-get only when missing and running as root."""
    found = shutil.which(name)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError(f"{name} is not installed and this is not root with apt-get: "
                         f"install the Debian package {package!r} (apt-get install -y {package}) and re-run")
    log(f"{name} missing: apt-get install -y {package}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = subprocess.run(["apt-get", "install", "-y", package], env=env, capture_output=True, timeout=600)
    if result.returncode != 0:
        log("apt-get install failed; trying apt-get update first")
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(["apt-get", "install", "-y", package], env=env, capture_output=True, timeout=600)
    found = shutil.which(name)
    if result.returncode != 0 or not found:
        raise BenchError(f"could not install {package}: {result.stderr.decode(errors='replace')[-500:]}")
    return found


# -- an isolated zoomwatch ------------------------------------------------------------------------

def make_home(home: Path, *extra: str) -> Path:
    """`home` with the folders home_env() points the XDG_* variables at, and `extra` folders in it."""
    for sub in (*XDG_DIRS.values(), *extra):
        (home / sub).mkdir(parents=True, exist_ok=True)
    return home


def home_env(home: Path, *, base: Mapping[str, str] | None = None, drop: tuple[str, ...] = (),
             keep: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """`base` (default: this process's environment) without the variables whose names start with one of
    `drop` (but those in `keep`), with HOME and XDG_CONFIG/DATA/STATE/CACHE_HOME in `home`, then `extra`:
    nothing of the real user is read or written."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith(drop) or k in keep}
    env["HOME"] = str(home)
    env.update({name: str(home / sub) for name, sub in XDG_DIRS.items()})
    env.update(extra)
    return env


def zoomwatch_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoomwatch", *args]


def run_zoomwatch(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m zoomwatch ARGS` to the end; BenchError when it fails."""
    result = subprocess.run(zoomwatch_argv(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"zoomwatch {' '.join(args)} exited {result.returncode}: "
                         f"{result.stdout[-1000:]}{result.stderr[-2000:]}")
    return result


def config_set(home: Path, env: dict[str, str], settings: Iterable[tuple[str, str]]) -> None:
    for key, value in settings:
        run_zoomwatch("config", "set", key, value, env=env, cwd=home)


class HomeTemplate:
    """A zoomwatch HOME configured once (`settings`, the first time one is needed) and copied for each run,
    which then gets its own settings: one `config set` per run setting instead of a whole configuration."""

    def __init__(self, path: Path, env: Callable[[Path], dict[str, str]], settings: Iterable[tuple[str, str]]) -> None:
        self.path = path
        self.env = env
        self.settings = list(settings)
        self._ready = False

    def copy(self, home: Path, settings: Iterable[tuple[str, str]]) -> Path:
        if not self._ready:
            make_home(self.path)
            config_set(self.path, self.env(self.path), self.settings)
            self._ready = True
        shutil.copytree(self.path, home)
        config_set(home, self.env(home), settings)
        return home


# -- measuring ------------------------------------------------------------------------------------

def vm_hwm(pid: int) -> int:
    """The kernel's peak RSS of one process (VmHWM), in bytes; 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_sum(procs: Iterable[psutil.Process]) -> int:
    """Summed RSS of the processes still there."""
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total


class Sampler(threading.Thread):
    """Every 50 ms: RSS of the process and all its children (summed) and the main process's VmHWM; keeps
    the peaks. Subclasses add to `sample()`, which is called each time and stops the thread when false."""

    def __init__(self, pid: int, interval: float = POLL_S) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_hwm = 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            if not self.sample(time.monotonic(), root):
                break
            self._halt.wait(self.interval)

    def sample(self, now: float, root: psutil.Process) -> bool:
        return self.sample_tree(root) is not None

    def sample_tree(self, root: psutil.Process) -> int | None:
        """The tree's RSS now (None when the process is gone), with the peaks updated."""
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        total = rss_sum(procs)
        self.peak_rss = max(self.peak_rss, total)
        self.peak_hwm = max(self.peak_hwm, vm_hwm(self.pid))
        return total

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


class Watched:
    """A background process (see start()) whose stderr is read line by line, with the seconds since its
    start, and whose memory `sampler(pid)` samples; `wait()` reaps it with os.wait4, so the exact CPU
    seconds come back."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path, name: str,
                 sampler: Callable[[int], Sampler] = Sampler, stdout: int = subprocess.DEVNULL) -> None:
        self.argv = argv
        self.name = name
        self.lines: list[tuple[float, str]] = []  # (seconds since start, stderr line)
        self.t0 = time.monotonic()
        self.proc: subprocess.Popen[bytes] = start(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout,
                                                   stderr=subprocess.PIPE)
        self.sampler = sampler(self.proc.pid)
        self.sampler.start()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append((time.monotonic() - self.t0, raw.decode("utf-8", "replace").rstrip("\n")))

    def wait(self, timeout: float) -> tuple[float, Any]:
        """(wall seconds, os.wait4's rusage) once it exits; killed and BenchError after `timeout` s."""
        deadline = self.t0 + timeout
        try:
            while True:
                pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
                if pid:
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    kill_group(self.proc)
                    raise BenchError(f"{self.name} did not finish within {timeout:.0f} s; last lines:\n{self.tail()}")
                time.sleep(0.005)
        finally:
            wall = time.monotonic() - self.t0
            self.sampler.stop()
            self._reader.join(10)
        return wall, usage

    def tail(self, n: int = 15) -> str:
        return "\n".join(text for _, text in self.lines[-n:])

    def kill(self) -> None:
        kill_group(self.proc)
        self.sampler.stop()
        self._reader.join(10)


def self_cpu() -> float:
    """CPU seconds of this process so far (a stand-in's threads in it included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def seaweed_cpu(server: Any) -> float:
    """CPU seconds SeaweedFS (tests/s3server.py: one `weed server` process and its children) has used so far."""
    try:
        proc = psutil.Process(server.process.pid)
        return sum(p.cpu_times().user + p.cpu_times().system for p in [proc, *proc.children(recursive=True)])
    except (psutil.NoSuchProcess, AttributeError):
        return 0.0


def make_file(path: Path, size: int) -> str:
    """A random file of `size` bytes, with an mtime a day in the past; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        left = size
        while left:
            data = os.urandom(min(16 * MIB, left))
            handle.write(data)
            digest.update(data)
            left -= len(data)
    past = time.time() - 86400
    os.utime(path, (past, past))
    return digest.hexdigest()


# -- figures --------------------------------------------------------------------------------------

def summarize(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def parse_size(text: str) -> int:
    """'8M', '256M', '2G', '512K' or a number of bytes (1024-based, like zoomwatch's own settings)."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    for suffix, factor in (("K", 1024), ("M", MIB), ("G", GIB)):
        if value.endswith(suffix):
            return int(float(value[:-1]) * factor)
    return int(value)


def fmt_size(n: int) -> str:
    return f"{n // GIB} GiB" if n % GIB == 0 else f"{n / MIB:g} MiB"


def mib(n: float | None) -> float | None:
    return None if n is None else round(n / MIB, 1)


def machine_info(*, memory: bool = False) -> dict[str, Any]:
    """CPUs (and RAM), Python, platform and the time, for the report's "machine"."""
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    if memory:
        out["memory_gib"] = round(psutil.virtual_memory().total / GIB, 1)
    out.update(python=platform.python_version(), platform=platform.platform(),
               when=time.strftime("%Y-%m-%d %H:%M:%S"))
    return out


# -- the run --------------------------------------------------------------------------------------

def add_output_options(parser: argparse.ArgumentParser, keep_help: str = "keep the temporary folder") -> None:
    parser.add_argument("--workdir", type=Path, help="where to make the temporary folder (default /tmp)")
    parser.add_argument("--keep", action="store_true", help=keep_help)
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")


def make_workdir(workdir: Path | None, prefix: str) -> Path:
    """A new temporary folder `prefix`* in `workdir` (default /tmp, made when missing)."""
    base = workdir or Path("/tmp")
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def warn_if_short_of_space(work: Path, need: int) -> None:
    """A warning when the file system of `work` has less than `need` bytes free."""
    free = shutil.disk_usage(work).free
    if free < need:
        log(f"warning: {fmt_size(free)} free under {work.parent}, about {need / GIB:.1f} GiB needed")


def phase_failed(report: dict[str, Any], phase: str, exc: BaseException) -> int:
    """Log a failed phase and keep its error in report["errors"]; returns the exit code for it (2)."""
    log(f"phase {phase} failed: {exc}")
    report["errors"][phase] = str(exc)[-3000:]
    return 2


def remove_workdir(work: Path, keep: bool) -> None:
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def write_figures(path: Path | None, report: dict[str, Any]) -> None:
    """The report as JSON in `path` (nothing when None)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"figures written to {path}")
