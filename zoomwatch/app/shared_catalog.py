"""The engine's side of the shared catalog on PostgreSQL (issue 15; the catalog itself is
zoomwatch/core/shared_catalog.py): with catalog.shared_url set, a Publisher of this machine's verified rows
and, for account-wide cloud backup (s2s), a Fleet that leases users and claims files; the `zoomwatch-shared`
thread publishes, renews the leases and registers this machine, and says on the board when PostgreSQL cannot
be reached. Plain functions of the engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from zoomwatch.errors import ZoomwatchError
from zoomwatch.i18n import N_, NP_
from zoomwatch.sources.zoom.fleet import Fleet

if TYPE_CHECKING:
    from zoomwatch.app.engine import Engine

log = logging.getLogger("zoomwatch.app")  # the facade's one logger, as before the split

SHARED_PROBLEM = "shared_catalog"  # the board's key for the shared catalog (PostgreSQL) being unusable
SHARED_EVERY_SECONDS = 2.0  # verified rows are published at most this late


def shared_build(engine: Engine) -> None:
    """With catalog.shared_url set: a Publisher of this machine's verified rows and, for account-wide
    cloud backup (s2s), a Fleet that leases users and claims files for the cloud sync. Nothing otherwise."""
    from zoomwatch.core.shared_catalog import Machine, Publisher, shared_url

    engine.shared = None  # the Engine declares both
    engine.fleet = None
    try:
        url = shared_url()
    except ZoomwatchError:
        url = None
    if not url:
        return
    machine = Machine.of(engine.config.paths.state_dir, engine.config["catalog.machine_name"])
    engine.shared = Publisher(url, engine.config.paths.catalog_file, engine.destination.id, machine,
                              engine.destination.location)
    if engine.cloud is not None and engine.config["zoom.mode"] == "s2s":
        engine.fleet = Fleet(url, engine.destination.id, machine, lease_seconds=engine.config["catalog.lease_seconds"],
                             interval_seconds=60.0 * int(engine.config["zoom.sync_interval_minutes"]))
        engine.cloud.targets = engine.fleet.lease_targets(engine.cloud.targets, engine.cloud.stop)
        engine.cloud.gate = engine.fleet


def shared_start(engine: Engine, stop: threading.Event) -> threading.Thread | None:
    if engine.shared is None:
        return None
    thread = threading.Thread(target=shared_main, args=(engine, stop), name="zoomwatch-shared", daemon=True)
    thread.start()
    engine._threads.append(thread)
    return thread


def shared_once(engine: Engine) -> Callable[[], None]:
    """For run --once and sync: the shared-catalog thread until the returned function is called (it
    publishes once more then)."""
    stop = threading.Event()
    thread = shared_start(engine, stop)

    def finish() -> None:
        stop.set()
        if thread is not None:
            thread.join(timeout=60)
            engine._threads.remove(thread)

    return finish


def shared_main(engine: Engine, stop: threading.Event) -> None:
    """Until `stop` (and one round more, so what was verified last is published): renew the fleet's
    leases and claims, publish the verified rows waiting in the local catalog, register this machine.
    PostgreSQL unreachable: said on the board (with how many rows wait), and tried again."""
    from zoomwatch.core.shared_catalog import SharedCatalogNeedsSetup

    shared, fleet = engine.shared, engine.fleet
    assert shared is not None
    beat_every = max(0.5, float(engine.config["catalog.lease_seconds"]) / 4)
    next_beat = 0.0
    while True:
        stopping = stop.is_set()
        try:
            if fleet is not None and time.monotonic() >= next_beat:
                fleet.heartbeat()
                next_beat = time.monotonic() + beat_every
            if shared.publish():
                log.debug("published to the shared catalog")
            shared.register(engine.destination.label,
                            {str(k): n for k, n in engine.catalog.counts(engine.destination.id).items()})
            engine.board.clear_problem(SHARED_PROBLEM)
        except SharedCatalogNeedsSetup as exc:
            engine.board.set_problem(SHARED_PROBLEM, exc.title, N_("run zoomwatch check to see the SQL to run"))
        except ZoomwatchError as exc:
            waiting = shared.waiting()
            if engine.board.set_problem(SHARED_PROBLEM, exc.title, NP_(
                    "{message} — {n} backed-up file(s) wait to be published; zoomwatch keeps trying",
                    "{message} — {n} backed-up file(s) wait to be published; zoomwatch keeps trying", waiting,
                    message=exc.message)):
                log.warning("%s: %s", exc.title, exc.message)
        except Exception:  # noqa: BLE001 - this thread must never die
            log.exception("the shared-catalog thread failed; it carries on")
        if stopping:
            break
        stop.wait(min(SHARED_EVERY_SECONDS, beat_every))
    shared.close()
    if fleet is not None:
        fleet.close()
