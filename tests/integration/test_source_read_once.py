"""The transfer hands one SourceFile per attempt to the duplicate check and to the upload (issue 12 item 6):
a recording hashed because the destination held a file of its size at its key is not hashed again by the
upload. Real watcher, catalog and backup folder; the destination is the local folder, whose look-up at the
first key reports a same-sized file stored by another machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import backed_up_files, wait_for, write_random

from zoomwatch.app import Engine
from zoomwatch.destinations.base import RemoteObject, SourceFile, UploadSession
from zoomwatch.destinations.local import LocalDestination

START = "2024-01-15 10.00.00"


class SameSizeAtFirstKey(LocalDestination):
    """The first key asked about holds another file of the same size; every upload notes what it was handed."""

    def __init__(self, root: Path, size: int) -> None:
        super().__init__(root)
        self.size = size
        self.first_key: str | None = None
        self.handed: list[tuple[str, str | None]] = []  # (key, checksum known when the upload began)

    def stat(self, key: str) -> RemoteObject | None:
        if self.first_key is None:
            self.first_key = key
        if key == self.first_key:
            return RemoteObject(self.size, "0" * 64)
        return super().stat(key)

    def upload(self, source: SourceFile, key: str, session: UploadSession) -> Any:
        self.handed.append((key, source.known_sha256))
        return super().upload(source, key, session)


def test_the_upload_gets_the_checksum_the_duplicate_check_read(app) -> None:  # type: ignore[no-untyped-def]
    video = app.zoom / f"{START} Team Sync/zoom_0.mp4"
    digest = write_random(video, 50_000)
    destination = SameSizeAtFirstKey(app.backup, 50_000)
    engine = Engine(app.load(), destination=destination)
    engine.start()
    try:
        wait_for(lambda: any("(2)" in str(name) for name in backed_up_files(app.backup)), timeout=60,
                 what="the backup under the next free name")
    finally:
        engine.stop()
        engine.close()
    assert len(destination.handed) == 1
    key, known = destination.handed[0]
    assert key != destination.first_key
    assert known == digest, "the upload was handed the checksum already read, not a fresh SourceFile"
