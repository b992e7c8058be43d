"""The facade: everything the faces (zoomwatch/ui) use of zoomwatch, and the only door they go through
(tests/unit/test_layers.py). It sits above sources/, core/ and destinations/ and wires them together.
Import from here (`from zoomwatch.app import Engine`), not from the modules below, which are its parts:

- engine.py — Engine: the lifecycle (instance lock, start/stop/reload, pause/resume, the service thread that
  reloads changed settings and publishes the board, the local clean-up thread) and the status board;
- watching.py — the settle thread: watching the Zoom folder (watchdog, polling fallback, rescans, a folder
  that goes away);
- cloud_loop.py — the cloud thread: a Zoom cloud sync every interval, its problems, its retry backoff;
- shared_catalog.py — the shared catalog on PostgreSQL: publishing, the heartbeat, the fleet's leases;
- once.py — `run --once` and `sync` in the foreground, and OnceResult, what they report;
- dashboard.py — the dashboard's and REST API's questions to a running engine (recordings, links, sign-in);
- published.py — the status file a running zoomwatch writes for `zoomwatch status` elsewhere, and its pid;
- queries.py — what the faces ask without a running engine: file states, destination check, ls, restore,
  the clean-up history, recordings at risk, the shared catalog and its fleet;
- audits.py — `zoomwatch audit` (and the dashboard's "Run audit"), with repair;
- zoom_account.py — signing in to Zoom and out again.
"""

from __future__ import annotations

from zoomwatch.app.audits import audit
from zoomwatch.app.engine import Engine
from zoomwatch.app.once import OnceResult
from zoomwatch.app.published import published_status, status_file
from zoomwatch.app.queries import (
    CleanupEntry,
    CleanupReport,
    FileReport,
    at_risk_list,
    check_destination,
    check_shared_catalog,
    cleanup_history,
    file_report,
    fleet_status,
    list_meetings,
    recording_files,
    restore,
)
from zoomwatch.app.zoom_account import zoom_login, zoom_logout, zoom_user
from zoomwatch.core.audit import AuditItem, AuditReport, AuditState
from zoomwatch.core.catalog import FileState
from zoomwatch.core.restore import Meeting, RestoreFailed
from zoomwatch.core.status import Activity, EngineStatus, Problem, ProblemKey, Snapshot

# what the faces use: the engine and the values it hands out
__all__ = ["Activity", "Engine", "EngineStatus", "FileReport", "FileState", "OnceResult", "Problem", "ProblemKey",
           "Snapshot", "check_destination", "cleanup_history", "at_risk_list", "CleanupReport", "CleanupEntry",
           "file_report", "published_status", "recording_files", "status_file", "zoom_login", "zoom_logout",
           "zoom_user", "check_shared_catalog", "fleet_status"]
__all__ += ["AuditItem", "AuditReport", "AuditState", "Meeting", "RestoreFailed", "audit", "list_meetings", "restore"]
