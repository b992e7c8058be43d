"""How long recording the confirmed parts of a big S3 multipart upload takes (issue 11.34).

Runs zoomwatch's MultipartUpload part path (`_send` -> `_send_part` -> checkpoint into the real SQLite
catalog through `Catalog.save_progress`) for N parts, with a stand-in S3 client that confirms each part at
once and parts of 16 bytes, so what is timed is the bookkeeping alone (hashing, JSON, SQLite), not the
network nor the disk. Prints parts, seconds, catalog writes and JSON bytes written, per N.

    PYTHONPATH=$PWD python bench/bench_s3_resume_state.py [--parts 1000,2000,5000,10000]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

from zoomwatch.core.catalog import Catalog
from zoomwatch.destinations.base import SourceFile, UploadSession
from zoomwatch.destinations.s3.multipart import MultipartUpload

MIB = 1024 * 1024


class _Client:
    def upload_part(self, **kwargs: Any) -> dict[str, str]:
        return {"ETag": f'"{hashlib.md5(kwargs["Body"]).hexdigest()}"'}


class _Dest:
    bucket = "bench"
    part_size = 5 * MIB
    concurrency = 1
    etag_is_md5 = True
    extra: dict[str, str] = {}
    client = _Client()

    def full_key(self, key: str) -> str:
        return key


class _Upload(MultipartUpload):
    def _read(self, number: int) -> bytes:  # the bookkeeping only: no 50 GB file needed
        return number.to_bytes(16, "big")


def measure(parts: int, folder: Path) -> dict[str, float]:
    catalog = Catalog(folder / f"catalog-{parts}.sqlite")
    row = catalog.note_seen("bench", folder / "zoom_0.mp4", parts * 5 * MIB, 0)
    writes = [0, 0]

    def save(state: dict[str, Any]) -> None:
        catalog.save_progress(row.id, resume=state)
        writes[0] += 1
        writes[1] += len(str(state))

    upload = _Upload(_Dest(), SourceFile(folder / "zoom_0.mp4", parts * 5 * MIB), "big/zoom_0.mp4",  # type: ignore[arg-type]
                     UploadSession(save_resume=save))
    upload.state = {"upload_id": "bench", "key": "big/zoom_0.mp4", "size": upload.size,
                    "part_size": upload.part_size, "sha256": "0" * 64, "parts": {}}
    started = time.perf_counter()
    upload._send(list(range(1, parts + 1)))
    if getattr(upload, "_unsaved", 0):  # the final checkpoint run() makes when the parts are all sent
        upload._save()
    seconds = time.perf_counter() - started
    stored = catalog.get(row.id)
    assert stored is not None and stored.resume is not None and len(stored.resume["parts"]) == parts
    catalog.close()
    return {"parts": parts, "seconds": seconds, "writes": writes[0], "json_mb": writes[1] / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="1000,2000,5000,10000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for parts in (int(p) for p in args.parts.split(",")):
            f = measure(parts, Path(tmp))
            print(f"{f['parts']:>6} parts: {f['seconds']:7.2f} s, {f['writes']:>6} catalog writes, "
                  f"{f['json_mb']:8.1f} MB of resume JSON")


if __name__ == "__main__":
    main()
