"""The dashboard's and REST API's questions to a running engine (issue 13; the web face is zoomwatch/ui/web):
the monitor's state, one page of recordings, one recording, where its backup is and a link to it, and the Zoom
sign-in. JSON-ready answers: never a secret, names as the catalog shows them. Plain functions of the engine
(the Engine methods of the same names call them).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

from zoomwatch.core.catalog import STATES, FileState, Row
from zoomwatch.core.status import ProblemKey
from zoomwatch.errors import ConfigError, ZoomwatchError
from zoomwatch.i18n import N_

if TYPE_CHECKING:
    from zoomwatch.app.engine import Engine


def monitor_status(engine: Engine) -> dict:
    snap = engine.snapshot()
    return {"monitoring": engine.monitoring, "status": str(snap.status), "paused": engine.transfers.paused,
            "summary": snap.summary(), "watch_folder": str(engine.config.watch_folder),
            "destination": engine.destination.label,
            "share_links": engine.destination.makes_links,
            "counts": {str(k): v for k, v in snap.counts.items()},
            "settling": snap.settling, "problems": len(snap.problems), "can_sync_cloud": engine.can_sync_cloud(),
            "transfers": [{"name": t.name, "size": t.size, "done": t.done} for t in snap.transfers]}


def recordings(engine: Engine, *, page: int = 1, per_page: int = 50, text: str = "", start: str = "",
               end: str = "", state: str = "") -> dict:
    """One page of recording files (the current version of each), newest meeting first, filtered."""
    if state and state not in {s.value for s in STATES}:
        raise ConfigError(N_("Unknown state"), N_("{state}: one of {states}", state=repr(state),
                                                  states=", ".join(s.value for s in STATES)))
    for day in (start, end):
        if day:
            try:
                dt.date.fromisoformat(day)
            except ValueError:
                raise ConfigError(N_("Not a date"), N_("{day}: expected a day like 2024-01-31",
                                                       day=repr(day))) from None
    page, per_page = max(1, page), min(max(1, per_page), 500)
    total, rows = engine.catalog.search(engine.destination.id, text=text, start=start, end=end, state=state,
                                        offset=(page - 1) * per_page, limit=per_page)
    return {"page": page, "per_page": per_page, "total": total, "pages": max(1, -(-total // per_page)),
            "items": [_recording(r) for r in rows]}


def recording(engine: Engine, row_id: int) -> dict | None:
    row = engine.catalog.get(row_id)
    if row is None or row.dest != engine.destination.id:
        return None
    return _recording(row)


def recording_location(engine: Engine, row_id: int) -> str | None:
    """Where the backup of a recording is (a path or URL), or None when it is not backed up."""
    row = engine.catalog.get(row_id)
    if row is None or row.dest != engine.destination.id or row.state is not FileState.VERIFIED:
        return None
    return engine.destination.location(row.remote_key or "")


def recording_share_link(engine: Engine, row_id: int) -> str | None:
    """A download link for a backed-up recording (S3, Supabase), or None (a folder destination)."""
    row = engine.catalog.get(row_id)
    if row is None or row.dest != engine.destination.id or row.state is not FileState.VERIFIED:
        return None
    return engine.destination.share_link(row.remote_key or "")


def zoom_auth(engine: Engine) -> dict:
    """Whether cloud backup is on and signed in (never a token)."""
    mode = str(engine.config["zoom.mode"])
    problem = next((p.as_dict() for p in engine.snapshot().problems
                    if p.key in (ProblemKey.ZOOM_SIGN_IN, ProblemKey.KEYRING)), None)
    signed_in: bool | None = None
    if mode == "user":
        from zoomwatch.sources.zoom import oauth

        try:
            signed_in = oauth.TokenStore().load() is not None
        except ZoomwatchError:
            signed_in = None  # the keyring refused: the problem says so
    return {"mode": mode, "signed_in": signed_in, "problem": problem}


def _recording(row: Row) -> dict:
    """One catalog row as the REST API shows it."""
    info = row.info
    return {"id": row.id, "path": row.display, "name": row.display.rpartition(os.sep)[2], "state": str(row.state),
            "size": row.size,
            "bytes_done": row.bytes_done, "sha256": row.sha256, "remote_key": row.remote_key,
            "attempts": row.attempts, "last_error": row.last_error, "verified_at": row.verified_at,
            "origin": str(info.origin) if info else "local",
            "meeting": {"title": info.title, "start": info.start, "meeting_id": info.meeting_id} if info else None}
