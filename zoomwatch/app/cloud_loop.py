"""The cloud thread (`zoomwatch-cloud`): a Zoom cloud sync every zoom.sync_interval_minutes (or at once on
"Sync now"), what each outcome puts on the board (signed out, keyring locked, rate-limited, failed), and the
backoff before the next try after a failure. Plain functions of the engine: Engine.start() runs
cloud_main(engine) in the thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from zoomwatch.core.status import ProblemKey
from zoomwatch.errors import ZoomwatchError
from zoomwatch.i18n import N_
from zoomwatch.secrets import KeyringUnavailable
from zoomwatch.sources.zoom.api import RateLimited
from zoomwatch.sources.zoom.cloud import CloudSync
from zoomwatch.sources.zoom.oauth import SignedOut

if TYPE_CHECKING:
    from zoomwatch.app.engine import Engine

log = logging.getLogger("zoomwatch.app")  # the facade's one logger, as before the split

CLOUD_FAILED = N_("Zoom cloud sync failed")
CLOUD_RETRY_SECONDS = (60.0, 300.0)  # first retry after a failed cloud sync, and the longest (backoff between)


def cloud_retry_delay(failed_before: int, interval: float) -> float:
    """Seconds to the next try after a failed cloud sync: 1, 2, 4 minutes... up to 5 (never past the interval)."""
    first, longest = CLOUD_RETRY_SECONDS
    return min(interval, longest, first * 2.0 ** min(failed_before, 16))


def cloud_main(engine: Engine) -> None:
    """Sync Zoom cloud recordings every zoom.sync_interval_minutes until stopped. This thread never
    dies: any failure is logged and shown, and the sync is tried again sooner (with backoff)."""
    assert engine.cloud is not None
    cloud = engine.cloud  # a reload builds a new CloudSync: this thread keeps to its own
    interval = 60.0 * int(engine.config["zoom.sync_interval_minutes"])
    failed = 0
    while not engine._stop.is_set() and not cloud.stop.is_set():
        wait = interval
        try:
            wait = cloud_pass(engine, cloud, interval, failed)
        except Exception as exc:  # noqa: BLE001 - the cloud thread must never die
            log.exception("Zoom cloud sync failed unexpectedly")
            wait = cloud_failed(engine, failed, interval, N_("internal error ({kind})", kind=type(exc).__name__))
        failed = failed + 1 if wait < interval else 0
        engine._refresh()
        engine._sync_now.clear()
        deadline = time.monotonic() + min(wait, 10 * 365 * 86400)
        while not cloud.stop.is_set() and not engine._sync_now.is_set() and time.monotonic() < deadline:
            engine._sync_now.wait(1.0)


def cloud_pass(engine: Engine, cloud: CloudSync, interval: float, failed: int) -> float:
    """One sync; returns the seconds until the next one."""
    try:
        result = cloud.sync()
    except SignedOut as exc:
        if engine.board.set_problem(ProblemKey.ZOOM_SIGN_IN, N_("Signed out of Zoom"), exc.message):
            log.error("%s: %s — cloud sync stops until you sign in again", exc.title, exc.message)
        return float("inf")  # until the settings (and so the sign-in) change
    except KeyringUnavailable as exc:
        title = N_("Keyring is locked") if exc.locked else exc.title
        message = N_("unlock it; zoomwatch retries") if exc.locked else N_("{message}; zoomwatch retries",
                                                                           message=exc.message)
        delay = cloud_retry_delay(failed, interval)
        if engine.board.set_problem(ProblemKey.KEYRING, title, message):
            log.warning("Zoom cloud sync cannot read the sign-in: %s: %s (retried in %.0f s)", exc.title,
                        exc.message, delay)
        return delay
    except RateLimited as exc:
        engine.board.set_problem(ProblemKey.ZOOM_RATE_LIMIT, exc.title, exc.message)
        return max(60.0, (exc.until - dt.datetime.now(dt.timezone.utc)).total_seconds())
    except ZoomwatchError as exc:
        log.warning("cloud sync failed: %s: %s", exc.title, exc.message)
        return cloud_failed(engine, failed, interval, N_("{title}: {message}", title=exc.title, message=exc.message))
    engine._after_sync(result)
    for key in (ProblemKey.ZOOM_SIGN_IN, ProblemKey.KEYRING, ProblemKey.ZOOM_RATE_LIMIT):
        engine.board.clear_problem(key)
    failures = result.failures
    if failures and not cloud.stop.is_set():
        more = N_("{failure} (and {count} more)", failure=failures[0], count=len(failures) - 1)
        return cloud_failed(engine, failed, interval, more if len(failures) > 1 else failures[0])
    engine.board.clear_problem(ProblemKey.ZOOM_SYNC)
    return interval


def cloud_failed(engine: Engine, failed: int, interval: float, cause: str) -> float:
    delay = cloud_retry_delay(failed, interval)
    at = dt.datetime.now() + dt.timedelta(seconds=delay)
    engine.board.set_problem(ProblemKey.ZOOM_SYNC, CLOUD_FAILED, N_("{cause} — retrying at {time}", cause=cause,
                                                                    time=f"{at:%H:%M:%S}"))
    return delay
