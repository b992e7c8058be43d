"""The Zoom cloud recordings not backed up yet, listed live for `zoomwatch audit` (nothing is downloaded).

A cloud file counts as fetched once the catalog holds a row for its spool path (the identity CloudSync
derives, see cloud.py); every other completed file of the listing is "only in the cloud", with Zoom's
`auto_delete_date` when the account deletes recordings on a schedule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

from zoomwatch.config import Config
from zoomwatch.core.audit import AuditItem, AuditState
from zoomwatch.core.catalog import Catalog
from zoomwatch.i18n import N_
from zoomwatch.sources.zoom.accounts import sync_targets
from zoomwatch.sources.zoom.cloud import DEFAULT_SINCE_DAYS, FETCHED, CloudSync, file_identity, file_name, meeting_start


def cloud_only(config: Config, catalog: Catalog, dest_id: str, *, start: dt.date | None = None,
               end: dt.date | None = None) -> Iterator[AuditItem]:
    """Each completed cloud file of the sync's period (zoom.since, or 12 months) that the catalog has not
    fetched. Raises SignedOut, RateLimited and the other ZoomwatchErrors of the listing."""
    sync = CloudSync(config, catalog, dest_id, sync_targets(config), spool=config.paths.spool_dir)
    if start is None:
        since = config["zoom.since"]
        start = dt.date.fromisoformat(since) if since else dt.date.today() - dt.timedelta(days=DEFAULT_SINCE_DAYS)
    end = end or dt.date.today()
    wanted = {t.upper() for t in config["zoom.file_types"]}
    for user, api in sync.targets():
        for meeting in sync._meetings(api, user, start, end):
            for item in meeting.get("recording_files", []):
                if wanted and item.get("file_type", "") not in wanted:
                    continue
                if item.get("status", "completed") != "completed" or not item.get("download_url"):
                    continue  # still processing at Zoom: the sync fetches it later
                identity = file_identity(meeting, item)
                spooled = hashlib.sha256(identity.encode()).hexdigest()[:24]
                target = config.paths.spool_dir / spooled / file_name(item)
                row = catalog.current(dest_id, target)
                if row is not None and row.state in FETCHED:
                    continue
                yield AuditItem(AuditState.CLOUD_ONLY, title=meeting.get("topic") or "Zoom Meeting",
                                start=meeting_start(meeting).isoformat(),
                                meeting_id=str(meeting.get("id") or "") or None,
                                path=file_name(item), size=int(item.get("file_size") or 0) or None,
                                reason=N_("in the Zoom cloud only: not backed up yet (zoomwatch sync fetches it)"),
                                auto_delete_date=meeting.get("auto_delete_date") or None)
