"""What the faces ask without a running engine (`zoomwatch check`, `status`, `ls`, `restore`, `cleanup
--history`, the settings form): each file's state read from the catalog, a probe of the destination, the
recording files below a folder, the meetings at the destination and their download, the clean-up journal,
the recordings Zoom deletes soon, and the shared catalog and its fleet. Each works whether zoomwatch runs or
not (cleanup_history only tries the instance lock, to settle a clean-up a crash cut short).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from zoomwatch.config import Config
from zoomwatch.core import at_risk as risk
from zoomwatch.core.catalog import STATES, Catalog, FileState, Row
from zoomwatch.core.cleanup import Entry, Journal, Report
from zoomwatch.core.restore import Meeting
from zoomwatch.destinations import open_destination
from zoomwatch.errors import BadSetting, ZoomwatchError
from zoomwatch.i18n import N_
from zoomwatch.printable import printable
from zoomwatch.sources import local as watch

log = logging.getLogger("zoomwatch.app")  # the facade's one logger, as before the split


@dataclass(frozen=True)
class FileReport:
    """What `zoomwatch status` lists: the destination's label and each file's row (catalog.Row: path, state,
    size, sha256, remote_key, attempts, last_error, next_try_at, bytes_done, verified_at, resume)."""

    destination: str
    states: tuple[FileState, ...]  # every file state a person sees, in order
    rows: tuple[Row, ...]
    damaged: str = ""  # why the catalog could not be read (damaged: the next run sets it aside)


def file_report(config: Config) -> FileReport:
    """Each file's state at the configured destination, read from the catalog without writing to it."""
    destination = open_destination(config)
    rows: list[Row] = []
    damaged = ""
    if config.paths.catalog_file.exists():
        try:
            catalog = Catalog(config.paths.catalog_file, readonly=True)
        except ZoomwatchError as exc:  # a damaged catalog: said, and the rest shown
            damaged = f"{exc.title}: {exc.message}"
        else:
            try:
                rows = catalog.rows(destination.id)
            finally:
                catalog.close()
    shown = tuple(s for s in STATES if s is not FileState.SUPERSEDED)
    return FileReport(destination.label, shown, tuple(rows), damaged)


def check_destination(config: Config, *, secrets: dict[str, str] | None = None) -> str:
    """Write, read back and delete a probe at the destination `config` names (secrets typed but not yet
    stored win over the keyring); returns its label, raises a ZoomwatchError saying what is wrong."""
    destination = open_destination(config, secrets=secrets)
    destination.check()
    return destination.label


def recording_files(root: Path, config: Config) -> Iterator[str]:
    """The names of the files below `root` that zoomwatch would back up (symbolic links never followed)."""
    for entry in watch.walk_files(root, []):
        if config.wants(entry.name):
            yield entry.name


def _recorded_checksums(config: Config, dest_id: str) -> dict[str, str]:
    """key -> SHA-256 the catalog recorded at backup (empty without a readable catalog)."""
    if not config.paths.catalog_file.exists():
        return {}
    try:
        catalog = Catalog(config.paths.catalog_file, readonly=True)
    except ZoomwatchError as exc:
        log.warning("the catalog cannot be read (%s); using what the destination says", exc.message)
        return {}
    try:
        return {r.remote_key: r.sha256 for r in catalog.rows(dest_id, include_old=True)
                if r.remote_key and r.sha256 and r.state is FileState.VERIFIED}
    finally:
        catalog.close()


def list_meetings(config: Config, text: str | None = None, start: dt.date | None = None,
                  end: dt.date | None = None) -> list[Meeting]:
    """`zoomwatch ls`: the meetings at the destination (read from it, not from the catalog), newest first,
    those whose title, folder or meeting ID contains `text` and that started from `start` to `end`."""
    from zoomwatch.core import restore as restoring

    destination = open_destination(config)
    found = restoring.meetings(destination, _recorded_checksums(config, destination.id))
    return restoring.select(found, text, start, end)


def restore(config: Config, what: str, *, to: Path | None = None,
            progress: Callable[[str, int, int], None] | None = None, start: dt.date | None = None,
            end: dt.date | None = None) -> list[Path]:
    """`zoomwatch restore`: download a meeting's files (`what`: title text or meeting ID, with an optional date
    range) or one file (its key at the destination) into `to` (default: a new folder under Downloads), each
    streamed, resumable, checked against the SHA-256 the backup recorded, and never over an existing file.
    Works with an empty catalog. Returns the paths written; RestoreFailed names the files that failed."""
    from zoomwatch.core import restore as restoring

    destination = open_destination(config)
    recorded = _recorded_checksums(config, destination.id)
    found = restoring.meetings(destination, recorded)
    chosen: list[tuple[restoring.StoredFile, Path]] = []
    target = to or _new_download_folder()
    exact = [f for m in found for f in m.files if f.key == what or f.key == destination.adapt_key(what)]
    if exact:
        chosen = [(exact[0], target)]
    else:
        chosen = [(f, target / restoring.folder_name(m)) for m in restoring.select(found, what, start, end)
                  for f in m.files]
    if not chosen:
        raise BadSetting(N_("Nothing to restore"), N_("no meeting or backed-up file at {label} matches {what} — list "
                                                      "them with: zoomwatch ls", label=destination.label,
                                                      what=repr(printable(what))))
    return restoring.Restorer(destination, progress).many(chosen)


def _new_download_folder() -> Path:
    """A new folder under the user's Downloads, named for now (never one that exists)."""
    import platformdirs

    base = Path(platformdirs.user_downloads_dir()) / f"zoomwatch restore {dt.datetime.now():%Y-%m-%d %H.%M.%S}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name} ({n})")
    return folder


# -- beat Zoom's deletion and free the disk (issue 14): what `zoomwatch cleanup --history` / `status` read --

CleanupReport = Report
CleanupEntry = Entry


def cleanup_history(config: Config) -> list[Entry]:
    """What went to a trash (and what was tried), newest first; when no zoomwatch runs, a clean-up a crash cut
    short is settled first (a running one may be in the middle of a move: its entries are left alone)."""
    if not config.paths.catalog_file.exists():
        return []
    journal = Journal(config.paths.catalog_file)
    config.paths.lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(config.paths.lock_file), timeout=0)
    try:
        try:
            with lock:
                journal.recover()
        except Timeout:
            pass
        return journal.history()
    finally:
        journal.close()


def at_risk_list(config: Config) -> list[risk.AtRisk]:
    """The cloud recordings Zoom deletes soon that the last sync found not backed up yet (read-only)."""
    if not config.paths.catalog_file.exists():
        return []
    journal = Journal(config.paths.catalog_file, readonly=True)
    try:
        return journal.at_risk()
    finally:
        journal.close()


# -- the shared catalog (issue 15), for `zoomwatch check` and `zoomwatch status` -------------------------

def check_shared_catalog() -> tuple[str, str]:
    """(label, SQL an administrator must run or "") for the configured shared catalog, or ("", "") when none
    is configured. Raises a ZoomwatchError naming the host and the reason (never the password)."""
    from zoomwatch.core import shared_catalog

    url = shared_catalog.shared_url()
    if not url:
        return "", ""
    try:
        return shared_catalog.check(url), ""
    except shared_catalog.SharedCatalogNeedsSetup as exc:
        return f"{exc.title}: {exc.message}", exc.sql


def fleet_status(config: Config) -> list[str]:
    """What the shared catalog says of the fleet (machines, who has which user, the account's progress),
    one line each; [] without a shared catalog; one line saying why when it cannot be read."""
    from zoomwatch.core import shared_catalog
    from zoomwatch.sources.zoom.fleet import fleet_report

    url = shared_catalog.shared_url()
    if not url:
        return []
    try:
        return fleet_report(url, open_destination(config).id).lines()
    except ZoomwatchError as exc:
        return [N_("shared catalog: {title}: {message}", title=exc.title, message=exc.message)]
