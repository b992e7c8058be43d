"""`zoomwatch audit`: every recording zoomwatch knows of, set against what the destination holds.

Each file gets one state: "safe" (the destination holds it with the recorded size and SHA-256, asked with
core.safety.check_backup, the one such check), "missing" and "different" at the destination, "not_backed_up"
(with why), "cloud_only" (a Zoom cloud recording not backed up yet, with Zoom's auto-delete date) and
"unknown_at_destination" (an object no catalog row names). A destination that cannot answer ends the audit
with `error` set: nothing is then called missing. The audit reads only; `repair` (in the facade) is the one
thing that changes anything, re-queueing what is missing or different.

What lies outside the catalog (the Zoom folder's files, the cloud listing) is gathered by the facade and
handed in as ready items, so this module stays below the sources layer.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from zoomwatch.core.catalog import FileState, Row
from zoomwatch.core.safety import Verdict, check_backup
from zoomwatch.destinations.base import Destination
from zoomwatch.errors import DestinationError, ItemError, ZoomwatchError
from zoomwatch.i18n import N_

SIDECAR = "meeting.json"
WORKERS = 8  # files checked at once


class AuditState(str, Enum):
    SAFE = "safe"
    MISSING = "missing"                                 # not at the destination (deleted there?)
    DIFFERENT = "different"                             # something else is there: corrupt or replaced
    NOT_BACKED_UP = "not_backed_up"                     # not yet: settling, queued, failed, excluded...
    CLOUD_ONLY = "cloud_only"                           # in Zoom's cloud only
    UNKNOWN_AT_DESTINATION = "unknown_at_destination"   # at the destination, in no catalog row

    def __str__(self) -> str:
        return self.value


STATES = tuple(s.value for s in AuditState)
AT_RISK = frozenset({AuditState.MISSING, AuditState.DIFFERENT, AuditState.NOT_BACKED_UP, AuditState.CLOUD_ONLY})
EXCLUDED = "excluded"  # the reason of a file the settings leave out (listed, but out of scope)


@dataclass(frozen=True)
class AuditItem:
    state: AuditState
    title: str | None = None
    start: str | None = None             # ISO 8601
    meeting_id: str | None = None
    key: str | None = None               # at the destination
    path: str | None = None              # on this computer (or Zoom's file name for a cloud file)
    size: int | None = None
    reason: str | None = None
    auto_delete_date: str | None = None  # when Zoom deletes a cloud recording (as Zoom lists it)
    row_id: int | None = field(default=None, compare=False)  # the catalog row, for --repair

    @property
    def in_scope(self) -> bool:
        """Whether the item counts for the verdict (a file the settings exclude, or an object no catalog row
        names, is listed but does not make the audit fail)."""
        if self.state is AuditState.UNKNOWN_AT_DESTINATION:
            return False
        return not (self.state is AuditState.NOT_BACKED_UP and (self.reason or "").startswith(EXCLUDED))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("row_id")
        data["state"] = self.state.value
        return data


def _utc_iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class AuditReport:
    scope: dict[str, Any]
    items: list[AuditItem] = field(default_factory=list)
    error: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    finished_at: dt.datetime | None = None
    cause: ZoomwatchError | None = field(default=None, repr=False)  # the destination's error behind `error`
    repaired: list[str] = field(default_factory=list)  # what --repair queued again (keys)

    @property
    def ok(self) -> bool:
        """True only when the destination answered and every file in scope is safe."""
        return self.error is None and not any(i.in_scope and i.state in AT_RISK for i in self.items)

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(STATES, 0)
        for item in self.items:
            found[item.state.value] += 1
        return found

    def at_risk(self) -> list[AuditItem]:
        return [i for i in self.items if i.in_scope and i.state in AT_RISK]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "started_at": _utc_iso(self.started_at), "finished_at": _utc_iso(self.finished_at),
                "scope": self.scope, "counts": self.counts(), "items": [i.to_dict() for i in self.items],
                "error": self.error, "repaired": self.repaired}


def wants_read(read_data: float | None, pick: Callable[[], float]) -> bool:
    """Whether one file is read back: never (None), always (100), or a random `read_data` percent."""
    if read_data is None or read_data <= 0:
        return False
    return read_data >= 100 or pick() * 100 < read_data


def _meeting(row: Row) -> dict[str, Any]:
    info = row.info
    return {"title": info.title if info else None, "start": info.start if info else None,
            "meeting_id": info.meeting_id if info else None}


def _waiting_reason(row: Row) -> str:
    if row.state is FileState.FAILED:
        return N_("failed: {error}", error=row.last_error) if row.last_error else N_("failed")
    if row.state is FileState.SETTLING:
        return N_("settling: {error}", error=row.last_error) if row.last_error else N_("settling: still being written")
    if row.state is FileState.UPLOADING:
        return N_("uploading")
    return N_("queued ({error})", error=row.last_error) if row.last_error else N_("queued")


class Audit:
    """One audit of `rows` (the catalog's rows for `destination`) plus the `extra` items the facade found
    (files in the Zoom folder no row tracks, cloud recordings not fetched yet)."""

    def __init__(self, destination: Destination, rows: Iterable[Row], *, scope: dict[str, Any],
                 extra: Iterable[AuditItem] = (), known_keys: Iterable[str] = (), read_data: float | None = None,
                 progress: Callable[[int, int], None] | None = None, pick: Callable[[], float] = random.random) -> None:
        self.destination = destination
        self.rows = list(rows)
        self.report = AuditReport(scope=scope)
        self.extra = list(extra)
        self.known_keys = set(known_keys)
        self.read_data = read_data
        self.progress = progress or (lambda done, total: None)
        self.pick = pick

    def run(self) -> AuditReport:
        report = self.report
        report.items.extend(self.extra)
        checked = [r for r in self.rows if r.state is FileState.VERIFIED and r.remote_key and r.sha256]
        waiting = [r for r in self.rows if r.state in (FileState.SETTLING, FileState.QUEUED, FileState.UPLOADING,
                                                       FileState.FAILED)]
        report.items.extend(AuditItem(AuditState.NOT_BACKED_UP, path=r.display, size=r.size, key=r.remote_key,
                                      reason=_waiting_reason(r), row_id=r.id, **_meeting(r)) for r in waiting)
        try:
            report.items.extend(self._check_all(checked))
            report.items.extend(self._unknown())
        except DestinationError as exc:
            # a destination that cannot answer: said once, and no file called missing or different
            report.items = [i for i in report.items if i.state not in (AuditState.SAFE, AuditState.MISSING,
                                                                       AuditState.DIFFERENT)]
            report.error = f"{exc.title}: {exc.message}" if exc.message else exc.title
            report.cause = exc
        report.finished_at = dt.datetime.now(dt.timezone.utc)
        return report

    def _check_all(self, rows: list[Row]) -> list[AuditItem]:
        """Each row checked, WORKERS at a time (a store answers one HEAD or GET per round trip), in order."""
        if not rows:
            return []
        picks = [wants_read(self.read_data, self.pick) for _ in rows]  # drawn here: one random stream
        found: list[AuditItem | None] = [None] * len(rows)
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(rows)), thread_name_prefix="zoomwatch-audit") as pool:
            futures = {pool.submit(self._check, row, read): n
                       for n, (row, read) in enumerate(zip(rows, picks, strict=True))}
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    found[futures[future]] = future.result()
                    self.progress(done, len(rows))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return [item for item in found if item is not None]

    def _check(self, row: Row, read: bool) -> AuditItem:
        assert row.remote_key is not None and row.sha256 is not None
        common = dict(key=row.remote_key, path=row.display, size=row.size, row_id=row.id, **_meeting(row))
        try:
            check = check_backup(self.destination, row.remote_key, row.size, row.sha256, read_data=read)
        except ItemError as exc:  # this one object cannot be read (e.g. refused): it is not provably safe
            return AuditItem(AuditState.DIFFERENT, reason=N_("could not be checked: {title}: {message}",
                                                                        title=exc.title, message=exc.message),
                             **common)  # type: ignore[arg-type]
        if check.verdict is Verdict.SAFE:
            how = N_("read back and hashed") if check.read_back else N_("size and stored SHA-256 match")
            return AuditItem(AuditState.SAFE, reason=how, **common)  # type: ignore[arg-type]
        if check.verdict is Verdict.MISSING:
            return AuditItem(AuditState.MISSING, reason=N_("not at the destination"), **common)  # type: ignore[arg-type]
        if check.size != row.size:
            why = N_("size {size} at the destination, {recorded} recorded", size=check.size, recorded=row.size)
        else:
            why = (N_("SHA-256 differs from the one recorded (read back)") if check.read_back
                   else N_("SHA-256 differs from the one recorded"))
        return AuditItem(AuditState.DIFFERENT, reason=why, **common)  # type: ignore[arg-type]

    def _unknown(self) -> list[AuditItem]:
        """Objects at the destination that no catalog row names (the meeting.json files aside)."""
        known = self.known_keys | {r.remote_key for r in self.rows if r.remote_key}
        found = []
        for key, remote in self.destination.list():
            if key in known or key.rpartition("/")[2] == SIDECAR:
                continue
            found.append(AuditItem(AuditState.UNKNOWN_AT_DESTINATION, key=key, size=remote.size,
                                   reason=N_("at the destination, but not in this computer's catalog")))
        return found
