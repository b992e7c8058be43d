"""The headless command line: `zoomwatch run`, `status`, `config`. One small function per command;
`main(argv)` returns an exit code. It reaches the engine through the facade (zoomwatch.app) only; `status`
shows a running zoomwatch's problems from the board it publishes (app.status_file)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from enum import IntEnum
from typing import Any

from zoomwatch import __version__, i18n
from zoomwatch import config as configmod
from zoomwatch.i18n import N_, T_, TP_, keep, tr
from zoomwatch.paths import AppPaths
from zoomwatch.printable import json_printable, printable
from zoomwatch.ui import argparse_words

log = logging.getLogger("zoomwatch")


class Exit(IntEnum):
    OK = 0
    INCOMPLETE = 1      # something is not backed up (yet), or a passing failure: try again later
    USAGE = 2           # argparse's own code for bad arguments
    BAD_CONFIG = 3      # a setting or credential is wrong or missing: change it
    ALREADY_RUNNING = 4
    NO_DISPLAY = 5
    SIGNED_OUT = 6      # not signed in to Zoom (any more): zoomwatch login


def exit_code_for(exc: BaseException) -> Exit:
    """The one place where an error's type becomes the exit code: what the person (or script) does next."""
    from zoomwatch.errors import AlreadyRunning, BadSetting, SignedOut, ZoomwatchError

    if isinstance(exc, AlreadyRunning):
        return Exit.ALREADY_RUNNING
    if isinstance(exc, SignedOut):
        return Exit.SIGNED_OUT
    if isinstance(exc, BadSetting):
        return Exit.BAD_CONFIG
    if isinstance(exc, ZoomwatchError) and exc.retryable:  # network, a store down, a rate limit, a locked
        return Exit.INCOMPLETE                              # keyring, a sign-in that timed out, a stop
    return Exit.BAD_CONFIG  # the rest needs a change by the person: credentials refused, a name refused...


def has_display() -> bool:
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return True
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoomwatch", description=T_("Back up Zoom recordings, verified."))
    parser.add_argument("--version", action="version", version=f"zoomwatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help=T_("watch the Zoom folder and back up, in the foreground, until Ctrl-C"))
    run.add_argument("--once", action="store_true",
                     help=T_("scan, wait for files still being written, back up, then exit (0 = all verified)"))
    run.add_argument("--max-wait", type=float, default=600.0, metavar="SECONDS",
                     help=T_("with --once: how long to wait for files still being written (default 600)"))

    status = commands.add_parser("status", help=T_("what is backed up, what waits, what failed"))
    status.add_argument("--json", action="store_true", help=T_("machine-readable output"))
    status.add_argument("--all", action="store_true", help=T_("list backed-up files too, not only the others"))

    commands.add_parser("tray", help=T_("the tray icon with the engine inside (the default on a desktop)"))
    commands.add_parser("settings", help=T_("the settings window"))
    auto = commands.add_parser("autostart", help=T_("start the tray at login: on, off or status"))
    auto.add_argument("action", choices=["on", "off", "status"])
    login = commands.add_parser("login", help=T_("sign in with Zoom (opens the browser; tokens go to the OS keyring)"))
    login.add_argument("--no-browser", action="store_true", help=T_("print the sign-in URL instead of opening it"))
    login.add_argument("--device", action="store_true", help=T_("sign in on another device with a code"))
    login.add_argument("--timeout", type=float, default=300, metavar="SECONDS",
                       help=T_("how long to wait for the browser (default 300)"))
    commands.add_parser("logout", help=T_("sign out of Zoom: revoke the token and remove it from the keyring"))
    commands.add_parser("whoami", help=T_("which Zoom account zoomwatch is signed in to"))
    sync = commands.add_parser("sync", help=T_("back up Zoom cloud recordings once, in the foreground"))
    sync.add_argument("--from", dest="start", type=_date, help=T_("first day to list (YYYY-MM-DD)"))
    sync.add_argument("--to", dest="end", type=_date, help=T_("last day to list (YYYY-MM-DD)"))
    cleanup = commands.add_parser("cleanup", help=T_("free space now: safe local recordings to the OS trash, safe "
                                                     "cloud recordings to Zoom's trash (each checked at the "
                                                     "destination right before)"))
    cleanup.add_argument("--dry-run", action="store_true", help=T_("only say what would go, what stays and why"))
    cleanup.add_argument("--history", action="store_true", help=T_("list what went to a trash, newest first"))
    commands.add_parser("check", help=T_("test the backup destination: write, read back and delete a probe"))
    dashboard = commands.add_parser("dashboard", help=T_("open the running zoomwatch's dashboard in the browser"))
    dashboard.add_argument("--no-browser", action="store_true",
                           help=T_("print the one-time link instead of opening it"))
    dashboard.add_argument("--api-key", action="store_true",
                           help=T_("print the REST API key (for scripts: curl -H \"X-API-Key: $KEY\" ...)"))

    secret = commands.add_parser("secret", help=T_("store credentials in the OS keyring (never in the config file)"))
    secret_actions = secret.add_subparsers(dest="action", metavar="ACTION", required=True)
    secret_set = secret_actions.add_parser("set",
                                           help=T_("store a secret, read from stdin (never from the command line)"))
    secret_set.add_argument("name")
    secret_delete = secret_actions.add_parser("delete", help=T_("remove a secret"))
    secret_delete.add_argument("name")
    secret_actions.add_parser("list", help=T_("which secrets are set (never their values)"))

    config = commands.add_parser("config", help=T_("show or change settings"))
    actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("show", help=T_("every setting and its value"))
    actions.add_parser("path", help=T_("where the config file is"))
    get = actions.add_parser("get", help=T_("one setting's value"))
    get.add_argument("key")
    setter = actions.add_parser("set", help=T_("change one setting"))
    setter.add_argument("key")
    setter.add_argument("value")
    _add_audit_commands(commands)
    return parser


def _date(text: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(T_("expected a date like 2024-01-31, got {text}", text=repr(text))) from None


_missing_streams: frozenset[str] = frozenset()


def _replace_missing_streams() -> frozenset[str]:
    """The windowed Windows executable, pythonw.exe and gui-scripts start with sys.stdin, sys.stdout and
    sys.stderr set to None: give each missing one os.devnull, so print() and logging work, and say which."""
    missing = set()
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))  # kept open for the whole process
            missing.add(name)
    return frozenset(missing)


def main(argv: list[str] | None = None, paths: AppPaths | None = None) -> int:
    global _missing_streams
    _missing_streams = _missing_streams | _replace_missing_streams()
    paths = paths or AppPaths.default()
    i18n.setup(configmod.ui_language(paths))  # before the parser: its help is translated
    argparse_words.install()  # and argparse's own words ("usage:", its errors)
    args = _parser().parse_args(argv)
    if args.command is None:
        if not has_display():
            print(T_("zoomwatch: no display here, so no tray icon. Run it headless with: zoomwatch run\n"
                  "(see zoomwatch --help for every command)"), file=sys.stderr)
            return Exit.NO_DISPLAY
        args.command = "tray"
    handler = {"run": cmd_run, "status": cmd_status, "config": cmd_config, "check": cmd_check,
               "secret": cmd_secret, "tray": cmd_tray, "settings": cmd_settings,
               "autostart": cmd_autostart, "login": cmd_login, "logout": cmd_logout, "whoami": cmd_whoami,
               "sync": cmd_sync, "dashboard": cmd_dashboard, "cleanup": cmd_cleanup, **AUDIT_COMMANDS}[args.command]
    from zoomwatch.errors import ZoomwatchError

    try:
        return int(handler(args, paths))
    except BrokenPipeError:  # `zoomwatch status | head`
        sys.stderr.close()
        return Exit.OK
    except ZoomwatchError as exc:  # one a command did not expect (e.g. a locked keyring): said, not a traceback
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}" if exc.message else f"zoomwatch: {tr(exc.title)}",
              file=sys.stderr)
        return exit_code_for(exc)


# -- config ---------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def cmd_config(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from zoomwatch.errors import ZoomwatchError

    if args.action == "path":
        print(paths.config_file)
        return Exit.OK
    if args.action == "set":
        try:
            value = configmod.set_value(paths, args.key, args.value)
        except ZoomwatchError as exc:
            print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
            return exit_code_for(exc)
        print(f"{args.key} = {_show(value)}")
        cfg = configmod.load(paths)
        if args.key == "watch.folder" and not cfg.watch_folder.is_dir():
            print(T_("note: {folder} does not exist yet; zoomwatch waits for it", folder=str(cfg.watch_folder)),
                  file=sys.stderr)
        if args.key == "destination.local.path" and not cfg.backup_folder.is_dir():
            print(T_("note: {folder} does not exist; create it (or connect the drive) "
                  "before backups can start", folder=str(cfg.backup_folder)), file=sys.stderr)
        return Exit.OK
    cfg = configmod.load(paths)
    for problem in cfg.problems:
        print(f"zoomwatch: {tr(problem)}", file=sys.stderr)
    if args.action == "get":
        if args.key not in configmod.KEYS:
            print(T_("zoomwatch: unknown setting {key}; known: {known}", key=repr(args.key),
                     known=", ".join(configmod.KEYS)), file=sys.stderr)
            return Exit.BAD_CONFIG
        print(_show(cfg[args.key]))
        return Exit.OK
    for key in configmod.KEYS:
        print(f"{key} = {_show(cfg[key])}")
    print(T_("# watching: {folder}", folder=str(cfg.watch_folder)))
    print(T_("# backing up to: {folder}", folder=str(cfg.backup_folder)) if cfg["destination.kind"] == "local" else "")
    return Exit.OK


# -- secrets and check -----------------------------------------------------------------------------

def cmd_secret(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from zoomwatch import secrets
    from zoomwatch.errors import ZoomwatchError

    stamp = paths.secrets_stamp
    try:
        if args.action == "list":
            for name, what in secrets.KNOWN.items():
                state = T_("set") if secrets.get_secret(name) else T_("not set")  # outside the f-string: extracted
                print(f"{name:<22} {state:<8} {tr(what)}")
            return Exit.OK
        if args.action == "delete":
            found = secrets.delete_secret(args.name, stamp)
            print(T_("{name} deleted", name=args.name) if found else T_("{name} was not set", name=args.name))
            return Exit.OK
        if "stdin" in _missing_streams:
            print(T_("zoomwatch: secret set reads the secret from a console, and this zoomwatch has none. Run it in a "
                  "terminal: zoomwatch secret set {name} (installed with the Windows installer: "
                  "zoomwatch-cli.exe secret set {name}, in zoomwatch's install folder)", name=args.name),
                  file=sys.stderr)
            return Exit.USAGE
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass(f"{tr(secrets.KNOWN.get(args.name, args.name))}: ")
        else:
            value = sys.stdin.read()
        secrets.set_secret(args.name, value, stamp)
    except ZoomwatchError as exc:  # a bad name or value, no keyring, a keyring that refused
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    print(T_("{name} stored in the OS keyring", name=args.name))
    return Exit.OK


def cmd_check(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from zoomwatch.app import check_destination
    from zoomwatch.errors import ZoomwatchError

    cfg = configmod.load(paths)
    try:
        label = check_destination(cfg)
    except ZoomwatchError as exc:
        print(f"{tr(exc.title)}: {tr(exc.message)}" if exc.message else tr(exc.title))
        return exit_code_for(exc)
    print(T_("OK: {label} — write, read back and delete work", label=tr(label)))
    return _check_shared()


def _check_shared() -> Exit:
    """The shared catalog (PostgreSQL), when catalog.shared_url is set: reachable, and its tables there."""
    from zoomwatch.app import check_shared_catalog
    from zoomwatch.errors import ZoomwatchError

    try:
        label, sql = check_shared_catalog()
    except ZoomwatchError as exc:
        print(f"{tr(exc.title)}: {tr(exc.message)}" if exc.message else tr(exc.title))
        return exit_code_for(exc)
    if sql:
        print(f"{tr(label)}\n\n{sql}")
        return Exit.BAD_CONFIG
    if label:
        print(T_("OK: shared catalog: {label}", label=tr(label)))
    return Exit.OK


def _open_engine(paths: AppPaths, *, when_running: str = "") -> Any:
    """Load the settings, start logging, build the engine and take the single-instance lock.
    Returns the engine, or the exit code after saying what is wrong."""
    from zoomwatch.app import Engine
    from zoomwatch.errors import AlreadyRunning, ZoomwatchError
    from zoomwatch.logsetup import setup_logging

    cfg = configmod.load(paths)
    setup_logging(paths.log_file, cfg["log.level"])
    try:
        engine = Engine(cfg)
        engine.acquire()
    except AlreadyRunning as exc:
        print(f"zoomwatch: {tr(exc.title)}: {tr(when_running or exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    except ZoomwatchError as exc:
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    return engine


# -- Zoom cloud ------------------------------------------------------------------------------------

def cmd_login(args: argparse.Namespace, paths: AppPaths) -> Exit:
    import webbrowser

    from zoomwatch.app import zoom_login
    from zoomwatch.errors import ZoomwatchError

    cfg = configmod.load(paths)

    def show(url: str) -> None:
        print(T_("Sign in to Zoom in your browser:\n  {url}", url=url), flush=True)
        if not args.no_browser:
            webbrowser.open(url)

    try:
        me = zoom_login(cfg, show, lambda text: print(printable(tr(text)), flush=True), device=args.device,
                        timeout=args.timeout)
    except ZoomwatchError as exc:
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    if cfg["zoom.mode"] == "off":
        configmod.set_value(paths, "zoom.mode", "user")
    print(T_("Signed in to Zoom as {email}; cloud recordings are backed up from now on",
             email=printable(str(me.get("email", "?")))))
    return Exit.OK


def cmd_logout(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from zoomwatch.app import zoom_logout

    revoked = zoom_logout(configmod.load(paths))
    if revoked is None:
        print(T_("not signed in to Zoom"))
        return Exit.OK
    print(T_("signed out of Zoom") if revoked else T_("signed out of Zoom (Zoom could not be told; the tokens were "
                                                       "removed here)"))
    return Exit.OK


def cmd_whoami(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from zoomwatch.app import zoom_user
    from zoomwatch.errors import ZoomwatchError

    cfg = configmod.load(paths)
    try:
        me = zoom_user(cfg)
    except ZoomwatchError as exc:
        print(f"{tr(exc.title)}: {tr(exc.message)}")
        return exit_code_for(exc)
    who = T_("{email} ({first} {last}, account {account})", email=str(me.get("email")), first=me.get("first_name", ""),
             last=me.get("last_name", ""), account=str(me.get("account_id")))
    print(printable(who))  # Zoom's answer is untrusted text: no control characters reach the terminal
    return Exit.OK


def cmd_sync(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from tqdm import tqdm

    from zoomwatch.errors import ZoomwatchError

    engine = _open_engine(paths, when_running=N_("another zoomwatch is running: use its tray's Sync now"))
    if isinstance(engine, Exit):
        return engine
    try:
        if sys.stderr.isatty():
            engine.set_cloud_progress(lambda name, size: tqdm(total=size, unit="B", unit_scale=True, desc=name,
                                                              leave=False))
        result = engine.run_cloud_once(args.start, args.end)
    except ZoomwatchError as exc:
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    finally:
        engine.close()
    print(tr(result.summary()))
    return Exit.OK if result.ok else Exit.INCOMPLETE


# -- desktop: tray, settings, autostart ------------------------------------------------------------

def cmd_tray(args: argparse.Namespace, paths: AppPaths) -> Exit:
    if not has_display():
        print(T_("zoomwatch: no display for a tray icon; run headless with: zoomwatch run"), file=sys.stderr)
        return Exit.NO_DISPLAY
    engine = _open_engine(paths, when_running=N_("its settings window opens now"))
    if engine == Exit.ALREADY_RUNNING:
        paths.show_settings_stamp.parent.mkdir(parents=True, exist_ok=True)
        paths.show_settings_stamp.touch()  # the running tray opens its settings window
    if isinstance(engine, Exit):
        return engine
    try:
        from zoomwatch.ui.tray import TrayApp

        app = TrayApp(engine)
    except Exception as exc:  # pystray raises Xlib errors, not ImportError, when the display is unusable
        log.error("cannot show a tray icon (%s: %s); `zoomwatch run` works without one", type(exc).__name__, exc)
        engine.close()
        return Exit.NO_DISPLAY
    from zoomwatch.ui import web

    web.start(engine)
    try:
        app.run()
    finally:
        web.stop()
        engine.stop()
        engine.close()
    return Exit.OK


def cmd_settings(args: argparse.Namespace, paths: AppPaths) -> Exit:
    if not has_display():
        print(T_("zoomwatch: no display for the settings window; use: zoomwatch config set KEY VALUE"),
              file=sys.stderr)
        return Exit.NO_DISPLAY
    from zoomwatch.ui.settings_dialog import run_dialog

    run_dialog(paths)
    return Exit.OK


def cmd_autostart(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from zoomwatch.errors import ZoomwatchError
    from zoomwatch.ui import autostart

    entry = autostart.for_this_system()
    if args.action == "on":
        try:
            entry.enable()
        except ZoomwatchError as exc:
            print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
            return exit_code_for(exc)
    elif args.action == "off":
        entry.disable()
    print(T_("start at login: on ({where})", where=entry.where()) if entry.is_enabled()
          else T_("start at login: off ({where})", where=entry.where()))
    return Exit.OK


# -- run ------------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace, paths: AppPaths) -> Exit:
    engine = _open_engine(paths)
    if isinstance(engine, Exit):
        return engine
    try:
        if args.once:
            return _run_once(engine, args.max_wait)
        return _run_forever(engine)
    finally:
        engine.close()


def _run_once(engine: Any, max_wait: float) -> Exit:
    from zoomwatch.errors import ZoomwatchError

    try:
        result = engine.run_once(max_wait)
    except ZoomwatchError as exc:
        print(printable(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}"), file=sys.stderr)
        return exit_code_for(exc)
    print(tr(result.summary()))
    return Exit.OK if result.ok else Exit.INCOMPLETE


def _run_forever(engine: Any) -> Exit:
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("received %s: finishing up", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    engine.start()
    log.info("zoomwatch %s watching %s, backing up to %s", __version__, engine.watch_folder,
             engine.destination_label)
    from zoomwatch.ui import web

    web.start(engine)
    last = None
    try:
        while not stop.wait(1.0):  # the engine notices changed settings itself
            line = engine.snapshot().summary()
            if line != last:
                log.info("status: %s", line)
                last = line
    finally:
        web.stop()
    engine.stop()
    log.info("stopped; interrupted backups resume at the next start")
    return Exit.OK


# -- status ---------------------------------------------------------------------------------------

def _human(size: int) -> str:
    return i18n.format_size(size)




def _running_pid(paths: AppPaths) -> int | None:
    from filelock import FileLock, Timeout

    if not paths.lock_file.exists():
        return None
    lock = FileLock(str(paths.lock_file), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            return int(paths.lock_file.with_suffix(".pid").read_text().strip())
        except (OSError, ValueError):
            return -1
    lock.release()
    return None


def _problems(paths: AppPaths, pid: int | None, cfg: Any) -> list[dict[str, Any]]:
    """Every problem the running zoomwatch shows (the board it publishes), worst first; when none runs,
    what is wrong with the settings file."""
    from zoomwatch.app import ProblemKey, published_status
    from zoomwatch.printable import printable

    published = published_status(paths, pid)
    if published is not None:
        return [p for p in published.get("problems", []) if isinstance(p, dict)]
    if pid is None and cfg.problems:
        return [{"key": str(ProblemKey.SETTINGS), "title": "Settings problem",
                 "message": printable("; ".join(cfg.problems)), "at": None,
                 "i18n": {"title": N_("Settings problem").to_json()}}]
    return []


def cmd_status(args: argparse.Namespace, paths: AppPaths) -> Exit:
    import os

    from zoomwatch.app import FileState, file_report, fleet_status, published_status
    from zoomwatch.errors import ZoomwatchError

    def _resumable(row: Any) -> str | None:
        """What a pending resumable upload holds: S3 multipart parts, or a Supabase (TUS) upload's bytes."""
        resume = row.resume or {}
        if resume.get("upload_id"):
            parts = len(resume.get("parts", {}))
            return TP_("resumable upload: {n} part(s) stored", "resumable upload: {n} part(s) stored", parts)
        if resume.get("tus_url"):
            if row.bytes_done:
                return T_("resumable upload: about {done} of {size} sent", done=_human(row.bytes_done),
                          size=_human(row.size))
            return T_("resumable upload: started")
        return None

    cfg = configmod.load(paths)
    try:
        report = file_report(cfg)
    except ZoomwatchError as exc:
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    if report.damaged:
        print(f"zoomwatch: {report.damaged}", file=sys.stderr)
    rows = report.rows
    counts = dict.fromkeys(report.states, 0)
    for row in rows:
        counts[row.state] += 1
    pid = _running_pid(paths)
    # nothing runs, yet rows say "uploading": the process was killed (or crashed) mid-upload
    cut_off = {r.id for r in rows if r.state is FileState.UPLOADING} if pid is None else set()
    problems = _problems(paths, pid, cfg)
    published = published_status(paths, pid) or {}  # the running zoomwatch's board: its status, its dashboard
    at_risk = _at_risk(cfg)
    if args.json:  # json_printable: the names' control characters escaped, their invalid bytes as \xNN
        print(json_printable(json.dumps({
            "running": pid is not None, "pid": pid if pid and pid > 0 else None,
            "status": published.get("status"), "dashboard": published.get("dashboard") or None,
            "watch_folder": str(cfg.watch_folder), "destination": report.destination, "counts": counts,
            "problems": [{k: v for k, v in p.items() if k != "i18n"} for p in problems],
            "at_risk": at_risk,
            "files": [{"path": os.fsdecode(r.path), "state": r.state, "size": r.size, "sha256": r.sha256,
                       "remote_key": r.remote_key, "attempts": r.attempts, "last_error": r.last_error,
                       "next_try_at": r.next_try_at, "bytes_done": r.bytes_done, "verified_at": r.verified_at,
                       "resumable_upload": _resumable(r) is not None, "interrupted": r.id in cut_off}
                      for r in rows],
        }, indent=2, ensure_ascii=False)))
        return Exit.OK
    print(f"zoomwatch {__version__}: " + (T_("running (pid {pid})", pid=str(pid)) if pid else T_("not running")))
    print(T_("watching {folder}; backing up to {destination}", folder=printable(cfg.watch_folder),
             destination=printable(tr(report.destination))))
    for problem in problems:  # the running engine's board: already escaped (see printable)
        title, message = _problem_texts(problem)
        print(T_("problem: {title}", title=title) + (f" — {message}" if problem["message"] else ""))
    for item in at_risk:
        print(T_("at risk: {topic} ({start}) — Zoom deletes it on {date}; not backed up yet",
                 topic=printable(item['topic']), start=item['start'][:16].replace('T', ' '), date=item['delete_on']))
    for line in fleet_status(cfg):  # with a shared catalog: the machines, their users, the account's progress
        print(printable(tr(line)))
    shown: dict[str, int] = {str(state): n for state, n in counts.items()}
    if cut_off:
        shown = {("interrupted" if state == FileState.UPLOADING else state): n for state, n in shown.items()}
    print("  ".join(tr(i18n.state_count(state, n)) for state, n in shown.items()))
    for row in rows:
        if row.state is FileState.VERIFIED and not args.all:
            continue
        shows_error = row.last_error and row.state is not FileState.VERIFIED
        note = f" — {tr(keep(row.last_error, printable))}" if shows_error else ""
        state = str(row.state)
        if row.id in cut_off:
            state, note = "interrupted", T_(" — resumes at next start") + note
        resumable = _resumable(row)
        if resumable and row.state is not FileState.VERIFIED:
            note += f" ({resumable})"
        target = f" -> {printable(row.remote_key)}" if row.state is FileState.VERIFIED else ""
        print(f"  {tr(i18n.state_name(state)):<11} {_human(row.size):>9}  {printable(row.path)}{target}{note}")
    return Exit.OK


def _problem_texts(problem: dict[str, Any]) -> tuple[str, str]:
    """A published problem's title and message in the language in use (its msgid and parameters, when the
    running zoomwatch published them), else as published."""
    from zoomwatch.printable import printable

    marked = problem.get("i18n")
    marked = marked if isinstance(marked, dict) else {}
    texts = []
    for name in ("title", "message"):
        msg = i18n.Msg.from_json(marked.get(name))
        texts.append(printable(msg.translated()) if msg is not None else str(problem.get(name) or ""))
    return texts[0], texts[1]


# -- audit, ls, restore (issue 13) ------------------------------------------------------------------


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(T_("expected a percentage like 10 or 100, got {text}",
                                            text=repr(text))) from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(T_("the share to read back is more than 0 and at most 100, not {text}",
                                            text=repr(text)))
    return value


def _add_audit_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help=T_("is every recording safe? check each one against the destination"))
    audit.add_argument("--read-data", nargs="?", const=100.0, type=_percent, metavar="PERCENT",
                       help=T_("download and re-hash every backup (or a random PERCENT of them) instead of trusting "
                               "the checksum the destination keeps"))
    audit.add_argument("--json", action="store_true", help=T_("machine-readable output"))
    audit.add_argument("--html", metavar="FILE", help=T_("also write a self-contained HTML report to FILE"))
    audit.add_argument("--all", action="store_true", help=T_("list the safe files too"))
    audit.add_argument("--repair", action="store_true",
                       help=T_("queue what is missing or different at the destination for backup again"))
    ls = commands.add_parser("ls", help=T_("the meetings at the destination, newest first"))
    ls.add_argument("text", nargs="?", help=T_("only meetings whose title, folder or meeting ID contains this"))
    ls.add_argument("--from", dest="start", type=_date, help=T_("first day (YYYY-MM-DD)"))
    ls.add_argument("--to", dest="end", type=_date, help=T_("last day (YYYY-MM-DD)"))
    ls.add_argument("--json", action="store_true", help=T_("machine-readable output"))
    restore = commands.add_parser("restore", help=T_("download a meeting (title text or meeting ID) or one backed-up "
                                                     "file (its key) from the destination, checked"))
    restore.add_argument("what", metavar="WHAT")
    restore.add_argument("--to", dest="to", metavar="DIR", help=T_("where to (default: a new folder in Downloads)"))
    restore.add_argument("--from", dest="start", type=_date, help=T_("only meetings from this day (YYYY-MM-DD)"))
    restore.add_argument("--until", dest="end", type=_date, help=T_("only meetings up to this day (YYYY-MM-DD)"))


def cmd_audit(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from pathlib import Path

    from zoomwatch.app import audit
    from zoomwatch.ui import audit_report

    cfg = configmod.load(paths)
    bar = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm

        bar = tqdm(unit=T_("file"), desc=T_("checking"), leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        report = audit(cfg, read_data=args.read_data, repair=args.repair, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    data = report.to_dict()
    if args.html:
        Path(args.html).write_text(audit_report.html_page(data), encoding="utf-8")
    if args.json:
        print(json_printable(json.dumps(data, indent=2, ensure_ascii=False)))
    else:
        print(audit_report.text(data, show_safe=args.all))
    if report.cause is not None:
        where = data['scope'].get('destination') or T_("the destination")
        print(T_("zoomwatch: could not check {destination}: {error} — nothing was called missing",
                 destination=printable(where),
                 error=printable(tr(report.error or ''))), file=sys.stderr)
        return exit_code_for(report.cause)
    return Exit.OK if report.ok else Exit.INCOMPLETE


def cmd_ls(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from zoomwatch.app import list_meetings
    from zoomwatch.ui.audit_report import human

    found = list_meetings(configmod.load(paths), args.text, args.start, args.end)
    if args.json:
        print(json_printable(json.dumps([m.to_dict() for m in found], indent=2, ensure_ascii=False)))
        return Exit.OK
    for meeting in found:
        start = (meeting.start or "")[:16].replace("T", " ") or "?"
        ident = T_(" (ID {id})", id=meeting.meeting_id) if meeting.meeting_id else ""
        files = TP_("{n} file(s)", "{n} file(s)", len(meeting.files))
        print(printable(f"{start}  {meeting.title}{ident} — "
                        + T_("{files}, {size}, at {location}", files=files, size=human(meeting.size),
                             location=meeting.location)))
        for stored in meeting.files:
            print(printable(f"    {human(stored.size):>9}  {stored.name}   [{stored.key}]"))
    if not found:
        print(T_("no meetings at the destination match") if args.text or args.start or args.end
              else T_("no meetings at the destination"))
    return Exit.OK


def cmd_restore(args: argparse.Namespace, paths: AppPaths) -> Exit:
    from pathlib import Path

    from zoomwatch.app import RestoreFailed, restore

    bars: dict[str, Any] = {}

    def progress(name: str, done: int, size: int) -> None:
        if not sys.stderr.isatty():
            return
        from tqdm import tqdm

        bar = bars.get(name) or bars.setdefault(name, tqdm(total=size, unit="B", unit_scale=True, desc=name,
                                                           leave=False))
        bar.update(done - bar.n)

    try:
        written = restore(configmod.load(paths), args.what, to=Path(args.to) if args.to else None,
                          progress=progress, start=args.start, end=args.end)
    except RestoreFailed as exc:
        for path in exc.restored:
            print(T_("restored {path}", path=printable(path)))
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    finally:
        for bar in bars.values():
            bar.close()
    for path in written:
        print(T_("restored {path}", path=printable(path)))
    print(TP_("{n} file(s) restored, each checked against the SHA-256 recorded at backup",
              "{n} file(s) restored, each checked against the SHA-256 recorded at backup", len(written)))
    return Exit.OK


AUDIT_COMMANDS = {"audit": cmd_audit, "ls": cmd_ls, "restore": cmd_restore}


# -- dashboard (issue 13) ---------------------------------------------------------------------------

def cmd_dashboard(args: argparse.Namespace, paths: AppPaths) -> Exit:
    """Open the running zoomwatch's dashboard through a one-time link (or print it, or the API key)."""
    import webbrowser

    from zoomwatch.app import published_status
    from zoomwatch.errors import ZoomwatchError
    from zoomwatch.ui.web import client

    try:
        if args.api_key:
            print(client.stored_key())
            return Exit.OK
        url = (published_status(paths, _running_pid(paths)) or {}).get("dashboard")
        if not url:
            print(T_("zoomwatch: no running zoomwatch serves a dashboard; start zoomwatch (the tray, or "
                     "`zoomwatch run`) and try again"), file=sys.stderr)
            return Exit.INCOMPLETE
        link = client.one_time_link(str(url))
    except ZoomwatchError as exc:
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    if args.no_browser or not webbrowser.open(link):
        print(T_("Open this link (it works once, for two minutes):\n  {link}", link=link))
    else:
        print(T_("opened the dashboard in the browser ({url})", url=url))
    return Exit.OK
# -- clean-up (issue 14) ------------------------------------------------------------------------------

def _at_risk(cfg: Any) -> list[dict[str, Any]]:
    """The cloud recordings Zoom deletes soon that are not backed up yet (as the last sync found them)."""
    from zoomwatch.app import at_risk_list

    return [{"uuid": a.uuid, "topic": a.topic, "start": a.start, "delete_on": a.delete_on} for a in at_risk_list(cfg)]


def cmd_cleanup(args: argparse.Namespace, paths: AppPaths) -> Exit:
    import datetime as dt

    from zoomwatch.errors import ZoomwatchError

    if args.history:
        from zoomwatch.app import cleanup_history

        entries = cleanup_history(configmod.load(paths))
        if not entries:
            print(T_("nothing was moved to a trash yet"))
        for e in entries:
            moved = T_("to the OS trash") if e.kind == "local" else T_("to the Zoom's trash")
            state = {"done": moved, "undone": T_("stayed"), "unknown": T_("unknown")}.get(e.state, e.state)
            detail = f" — {printable(e.detail)}" if e.detail and e.state != "done" else ""
            print(f"{dt.datetime.fromtimestamp(e.at):%Y-%m-%d %H:%M}  {state:<16} {_human(e.size):>9}  "
                  f"{printable(e.what)}{detail}")
        return Exit.OK
    engine = _open_engine(paths, when_running=T_("a running zoomwatch cleans up by itself (after each sync and "
                                                 "once a day); stop it first, or use: zoomwatch cleanup --history"))
    if isinstance(engine, Exit):
        return engine
    try:
        report = engine.cleanup(dry_run=args.dry_run)
    except ZoomwatchError as exc:
        print(f"zoomwatch: {tr(exc.title)}: {tr(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    finally:
        engine.close()
    if not engine.setting("cleanup.local_after_days") and not engine.setting("zoom.trash_after_backup"):
        print(T_("clean-up is off: set cleanup.local_after_days (local recordings) or zoom.trash_after_backup "
                 "(cloud recordings) — see zoomwatch config show"))
    for line in report.lines(_human):
        print(printable(tr(line)))
    return Exit.INCOMPLETE if report.problem else Exit.OK
