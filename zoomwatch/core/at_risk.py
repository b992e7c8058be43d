"""Cloud recordings Zoom will soon delete: the order a sync fetches meetings in (the soonest deletion
first) and which recordings are "at risk" (deleted by Zoom within `zoom.warn_days` and not yet safe).

Zoom's recordings listing carries `auto_delete` (the account's retention policy deletes the recording)
and `auto_delete_date` (`yyyy-MM-dd`) per meeting. A meeting without them is never deleted by Zoom on a
schedule, so it comes after every one that is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from zoomwatch.i18n import N_

PROBLEM_PREFIX = "at_risk:"  # one problem per recording: its key is this plus the meeting's UUID
TITLE = N_("Zoom deletes a recording soon")


def deletion_day(meeting: dict[str, Any]) -> dt.date | None:
    """The day Zoom's retention policy deletes the meeting's recording, or None (not scheduled, or unreadable)."""
    if meeting.get("auto_delete") is False:
        return None
    raw = meeting.get("auto_delete_date")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        return None


def deletion_order(meeting: dict[str, Any]) -> tuple[int, dt.date]:
    """Sort key: meetings Zoom deletes soonest first, then those never deleted on a schedule (listing order kept)."""
    day = deletion_day(meeting)
    return (0, day) if day is not None else (1, dt.date.max)


@dataclass(frozen=True)
class AtRisk:
    """A cloud recording Zoom deletes on `delete_on` of which some file is not safe at the destination yet.
    `targets` are the spool paths of the files zoomwatch backs up (their catalog rows say when they are)."""

    uuid: str
    topic: str
    start: str
    delete_on: str       # ISO date
    targets: tuple[str, ...]

    @property
    def problem_key(self) -> str:
        return PROBLEM_PREFIX + self.uuid

    def message(self) -> str:
        """The problem's text: stable for one recording (so it is notified once)."""
        return N_("{topic} ({start}) is deleted from Zoom's cloud on {date} and is not backed up yet; zoomwatch "
                  "fetches it first — keep zoomwatch running until it is backed up", topic=self.topic,
                  start=self.start[:16].replace('T', ' '), date=self.delete_on)


def is_at_risk(delete_on: dt.date | None, today: dt.date, warn_days: int) -> bool:
    """Whether a deletion on `delete_on` is within `warn_days` days of `today` (or already past)."""
    return delete_on is not None and (delete_on - today).days <= warn_days
