"""The dashboard and the local REST API: a web face served by the running zoomwatch (tray or `zoomwatch run`)
on 127.0.0.1 only. It reaches the engine through zoomwatch.app like every face.

* `auth.py` — the API key (made at the first start, kept in the OS keyring), one-time links and sessions.
* `server.py` — the Starlette application and the uvicorn thread (imported only when a server starts, so
  `zoomwatch --version`, `status` and `config` never load a web framework).
* `page.py` — the server-rendered page (HTML and a little JavaScript, no build step).
* `client.py` — what a second zoomwatch does to open the running one's page (`zoomwatch dashboard`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoomwatch.app import Engine
    from zoomwatch.ui.web.server import Dashboard

log = logging.getLogger(__name__)

_running: Dashboard | None = None
_lock = threading.Lock()


def start(engine: Engine) -> Dashboard | None:
    """Serve the dashboard for `engine` (unless dashboard.enabled is off); None when it cannot (said in the log)."""
    global _running
    if not engine.setting("dashboard.enabled"):
        return None
    from zoomwatch.ui.web.server import Dashboard

    with _lock:
        if _running is not None:
            return _running
        try:
            _running = Dashboard.start(engine)
        except OSError as exc:
            log.error("the dashboard cannot listen on 127.0.0.1 port %s (%s); change dashboard.port (0 = any "
                      "free port)", engine.setting("dashboard.port"), exc.strerror or exc)
            return None
        return _running


def stop() -> None:
    global _running
    with _lock:
        running, _running = _running, None
    if running is not None:
        running.stop()


def running() -> Dashboard | None:
    return _running


def open_in_browser(browser: Any) -> bool:
    """The tray's "Open dashboard…": this process's dashboard through a fresh one-time link."""
    dashboard = _running
    if dashboard is None:
        return False
    browser(dashboard.one_time_link())
    return True
