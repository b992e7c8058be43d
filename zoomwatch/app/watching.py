"""The settle thread (`zoomwatch-settle`): it watches the Zoom folder with watchdog (or watchdog's polling
observer when the system's change notifications cannot be had), rescans it now and then, waits for a folder
that went away (a drive unplugged), and hands finished files to the engine's settler. Plain functions of the
engine: Engine.start() runs settle_main(engine) in the thread; the watcher it starts is `engine._watcher`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from zoomwatch.core.status import ProblemKey
from zoomwatch.i18n import N_
from zoomwatch.sources import local as watch
from zoomwatch.sources.local import FOLDER_MISSING, FolderWatcher, folder_problem

if TYPE_CHECKING:
    from zoomwatch.app.engine import Engine

log = logging.getLogger("zoomwatch.app")  # the facade's one logger, as before the split

FOLDER_RECHECK_SECONDS = 30.0
POLLING = N_("Watching the Zoom folder by polling")
RESTART_FIRST_SECONDS = 5.0
THREAD_RETRY_SECONDS = (5.0, 300.0)  # a loop that failed unexpectedly starts again after this (doubling)


def settle_main(engine: Engine) -> None:
    """The settle thread never dies: an unexpected failure is logged and shown (keyed SETTLE_THREAD),
    and watching starts again after a delay (doubling up to a limit); stop() ends the wait at once."""
    failed = 0
    while not engine._stop.is_set():
        try:
            settle_loop(engine)
            return
        except Exception as exc:  # noqa: BLE001 - the settle thread must never die
            failed += 1
            first, longest = THREAD_RETRY_SECONDS
            delay = min(longest, first * 2.0 ** min(failed - 1, 16))
            log.exception("watching the Zoom folder failed unexpectedly; trying again in %.0f s", delay)
            engine.board.set_problem(ProblemKey.SETTLE_THREAD, N_("Watching the Zoom folder failed"),
                                     N_("internal error ({kind}); zoomwatch tries again in {seconds} s — the log "
                                        "has the details", kind=type(exc).__name__, seconds=f"{delay:.0f}"))
            engine._stop.wait(delay)


def settle_loop(engine: Engine) -> None:
    """Watch the Zoom folder; if it vanishes (a drive unplugged) or the system refuses to show it (macOS
    privacy), say so, wait, and carry on. A backup folder inside it is refused: nothing is watched."""
    root = engine.config.watch_folder
    overlap = engine.config.folder_overlap()
    if overlap:
        engine.board.set_problem(ProblemKey.FOLDER_OVERLAP, N_("Backup folder and Zoom folder overlap"),
                                 N_("{overlap}; nothing is backed up until it is fixed", overlap=overlap))
        log.error("%s; nothing is backed up until it is fixed", overlap)
        engine._refresh()
        return
    gone = False
    shown: tuple[str, str] | None = None
    while not engine._stop.is_set():
        problem = folder_problem(root)
        if problem is not None:
            if problem[0] == FOLDER_MISSING:
                title = N_("Zoom folder is gone") if gone else N_("Zoom folder not found")
                problem = (title, N_("{root} is not there — connect its drive, or choose another folder: "
                           "zoomwatch config set watch.folder PATH; zoomwatch waits for it", root=str(root)))
            if engine.board.set_problem(ProblemKey.WATCH_FOLDER, *problem) and problem != shown:
                log.warning("%s: %s", *problem)
            shown = problem
            engine._refresh()
            engine._stop.wait(FOLDER_RECHECK_SECONDS)
            continue
        if shown is not None:
            engine.board.clear_problem(ProblemKey.WATCH_FOLDER)
            shown = None
        engine._refresh()
        watch_root(engine, root)
        if engine._stop.is_set():
            return
        gone = True
        log.warning("the Zoom folder %s went away; waiting for it to come back", root)
        if engine._watcher is not None:
            engine._watcher.stop()
            engine._watcher = None
        engine._refresh()


def start_watcher(engine: Engine, root: Path) -> None:
    """The system's change notifications if they can be had, else watchdog's polling observer (inotify
    limits reached, some network shares), said as a problem; the periodic rescan covers the rest."""
    if engine._watcher is not None:
        engine._watcher.stop()
        engine._watcher = None
    watcher: FolderWatcher | None = None
    try:
        watcher = FolderWatcher(root, engine.settler.offer)
        watcher.start()
        engine._watcher = watcher
        engine.board.clear_problem(ProblemKey.WATCHER)
        return
    except OSError as exc:
        if watcher is not None:
            watcher.stop()
        reason = exc.strerror or str(exc)
    try:
        watcher = FolderWatcher(root, engine.settler.offer, polling=True)
        watcher.start()
        engine._watcher = watcher
        message = N_("the system's change notifications cannot be used for {root} ({reason}); zoomwatch "
                     "looks for new files every {seconds} s instead. On Linux, raising "
                     "fs.inotify.max_user_watches and fs.inotify.max_user_instances (sysctl) fixes this",
                     root=str(root), reason=reason, seconds=f"{watch.POLL_SECONDS:g}")
        if engine.board.set_problem(ProblemKey.WATCHER, POLLING, message):
            log.warning("%s: %s", POLLING, message)
    except OSError as exc:
        engine._watcher = None
        engine.board.set_problem(ProblemKey.WATCHER, N_("Cannot watch the Zoom folder"),
                                 N_("{root}: {reason}; zoomwatch looks for new files every {minutes} minutes",
                                    root=str(root), reason=str(exc.strerror or exc),
                                    minutes=f"{watch.RESCAN_SECONDS / 60:g}"))


def watch_root(engine: Engine, root: Path) -> None:
    """Start the observer, scan, then settle files until stopped or the folder vanishes. The whole
    folder is scanned again every RESCAN_SECONDS (events lost to an overflow, a share with no
    notifications), and an observer that died, or a polling stand-in, is started again."""
    start_watcher(engine, root)
    started = time.monotonic()
    result = engine.settler.scan(root)
    engine.board.clear_problem(ProblemKey.SETTLE_THREAD)  # watching works (again)
    log.info("start-up scan of %s: %d files, %d already backed up, %d to check (%.2f s)",
             root, result.files, result.unchanged, result.to_check, time.monotonic() - started)
    engine._refresh()
    next_scan = time.monotonic() + watch.RESCAN_SECONDS
    restart_at, backoff = 0.0, RESTART_FIRST_SECONDS

    def keep_going() -> bool:
        nonlocal next_scan, restart_at, backoff
        if folder_problem(root) is not None:
            return False
        now = time.monotonic()
        rescan = now >= next_scan
        dead = engine._watcher is None or not engine._watcher.alive()
        if (dead and now >= restart_at) or (rescan and engine._watcher is not None and engine._watcher.polling):
            if dead:  # an observer dying again at once is retried less and less often
                log.warning("the watcher of %s stopped; starting it again", root)
                restart_at, backoff = now + backoff, min(2 * backoff, watch.RESCAN_SECONDS)
            start_watcher(engine, root)
        elif not dead and now - restart_at > watch.RESCAN_SECONDS:
            backoff = RESTART_FIRST_SECONDS  # it has been running well for a while
        if rescan:
            engine.settler.scan(root, rescan=True)
            next_scan = time.monotonic() + watch.RESCAN_SECONDS
        return True

    engine.settler.run(keep_going=keep_going)
