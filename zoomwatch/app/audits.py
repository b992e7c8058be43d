"""`zoomwatch audit` and the dashboard's "Run audit": every recording zoomwatch knows of (the Zoom folder
now, the Zoom cloud listed live when signed in, the catalog) set against what the destination really holds,
and, with repair, what is missing or different queued for backup again. Reads only otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from zoomwatch.config import Config
from zoomwatch.core.audit import AuditItem, AuditReport, AuditState
from zoomwatch.core.catalog import Catalog
from zoomwatch.destinations import Destination, open_destination
from zoomwatch.errors import ZoomwatchError
from zoomwatch.i18n import N_
from zoomwatch.sources import local as watch
from zoomwatch.sources.local import folder_problem
from zoomwatch.sources.zoom.oauth import SignedOut

log = logging.getLogger("zoomwatch.app")  # the facade's one logger, as before the split


def audit(config: Config, *, read_data: float | None = None, repair: bool = False,
          progress: Callable[[int, int], None] | None = None) -> AuditReport:
    """`zoomwatch audit`: every recording zoomwatch knows of (the Zoom folder now, the Zoom cloud listed live
    when signed in, the catalog) set against the destination. `read_data`: None trusts the checksums the
    destination keeps, 100 reads everything back, 0 < p < 100 a random p percent. Changes nothing, except that
    `repair` queues what is missing or different for backup again (when its recording is still here)."""
    destination = open_destination(config)
    catalog = _audit_catalog(config, writable=repair)
    try:
        report = _audit_with(config, destination, catalog, read_data=read_data, progress=progress)
        if repair and report.error is None:
            _repair(report, catalog)
    finally:
        catalog.close()
    return report


def _audit_catalog(config: Config, *, writable: bool) -> Catalog:
    """The catalog as it is (read-only unless repairing); an empty one where none was ever written."""
    file = config.paths.catalog_file
    if writable:
        return Catalog(file)
    if file.exists():
        return Catalog(file, readonly=True)
    return Catalog(Path(":memory:"))


def _audit_with(config: Config, destination: Destination, catalog: Catalog, *, read_data: float | None,
                progress: Callable[[int, int], None] | None = None) -> AuditReport:
    from zoomwatch.core.audit import Audit

    scope: dict[str, object] = {"destination": destination.label, "zoom_folder": str(config.watch_folder),
                                "read_data": read_data}
    rows = catalog.rows(destination.id)
    known = {r.remote_key for r in catalog.rows(destination.id, include_old=True) if r.remote_key}
    extra = list(_zoom_folder_items(config, catalog, destination.id, scope))
    extra += _cloud_items(config, catalog, destination.id, scope)
    scope["catalog_files"] = len(rows)
    return Audit(destination, rows, scope=scope, extra=extra, known_keys=known, read_data=read_data,
                 progress=progress).run()


def _zoom_folder_items(config: Config, catalog: Catalog, dest_id: str,
                       scope: dict[str, object]) -> Iterator[AuditItem]:
    """Files in the Zoom folder that no catalog row tracks: not seen yet, or excluded by the settings."""
    from zoomwatch.core.catalog import display_path

    root = config.watch_folder
    problem = folder_problem(root)
    if problem is not None:
        scope["zoom_folder_problem"] = N_("{title}: {message}", title=problem[0], message=problem[1])
        return
    tracked = catalog.current_stats(dest_id)
    fence = watch.Fence(root, watch.own_folders(config))
    errors: list[str] = []
    for entry in watch.walk_files(root, errors, skip=fence.is_own):
        if os.fsencode(entry.path) in tracked:
            continue
        wanted = config.wants(entry.name)
        reason = N_("not seen by zoomwatch yet (is it running? or: zoomwatch run --once)") if wanted else \
            N_("excluded by the settings (watch.include / watch.exclude)")  # starts with EXCLUDED in English
        yield AuditItem(AuditState.NOT_BACKED_UP, path=display_path(entry.path), size=entry.stat().st_size,
                        reason=reason)
    if errors:
        scope["zoom_folder_problem"] = "; ".join(errors[:3])


def _cloud_items(config: Config, catalog: Catalog, dest_id: str, scope: dict[str, object]) -> list[AuditItem]:
    """The Zoom cloud files not fetched yet, listed live (when cloud backup is on and someone is signed in)."""
    if config["zoom.mode"] == "off":
        scope["cloud"] = "off"
        return []
    from zoomwatch.sources.zoom.listing import cloud_only

    try:
        found = list(cloud_only(config, catalog, dest_id))
    except SignedOut:
        scope["cloud"] = N_("not signed in (zoomwatch login): cloud recordings not listed")
        return []
    except ZoomwatchError as exc:
        scope["cloud"] = N_("could not be listed: {title}: {message}", title=exc.title, message=exc.message)
        return []
    scope["cloud"] = "listed"
    return found


def _repair(report: AuditReport, catalog: Catalog) -> None:
    """Queue every missing or different file whose recording is still here, unchanged, for backup again."""
    for item in report.items:
        if item.state not in (AuditState.MISSING, AuditState.DIFFERENT) or item.row_id is None:
            continue
        row = catalog.get(item.row_id)
        if row is None:
            continue
        try:
            st = os.stat(row.fs_path)
        except OSError:
            log.warning("cannot back up %s again: its recording is no longer on this computer", row.display)
            continue
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            continue  # changed since: the watcher backs the new version up by itself
        catalog.requeue_lost(row.id)
        report.repaired.append(row.remote_key or row.display)
