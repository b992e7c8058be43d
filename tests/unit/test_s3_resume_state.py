"""The S3 multipart resume state (issue 11.34): the confirmed parts are saved at checkpoints whose total cost
grows linearly with the number of parts (it was rewritten whole after every part: quadratic near 10,000
parts), and nothing confirmed is left unsaved when an upload stops. A stand-in S3 client confirms parts at
once; the catalog is the real SQLite one."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers import write_random

from zoomwatch.core.catalog import Catalog
from zoomwatch.destinations.base import Cancelled, SourceFile, UploadSession
from zoomwatch.destinations.s3.multipart import MultipartUpload, WholeHash

MIB = 1024 * 1024


class _Client:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, str]:
        return {"UploadId": "upload-1"}

    def upload_part(self, **kwargs: Any) -> dict[str, str]:
        self.sent.append(kwargs["PartNumber"])
        return {"ETag": f'"{hashlib.md5(kwargs["Body"]).hexdigest()}"'}


class _Dest:
    bucket = "bucket"
    part_size = MIB
    concurrency = 1
    etag_is_md5 = True
    checksum_echo: bool | None = None
    extra: dict[str, str] = {}

    def __init__(self) -> None:
        self.client = _Client()

    def full_key(self, key: str) -> str:
        return key

    def errors(self, key: str = "") -> Any:
        import contextlib

        return contextlib.nullcontext()


class _TinyParts(MultipartUpload):
    def _read(self, number: int) -> bytes:  # bookkeeping only: 16 bytes stand for a part
        return number.to_bytes(16, "big")


@pytest.fixture
def parts_at_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of the configured size, whatever the file's (they grow with it: see common.part_size_for)."""
    from zoomwatch.destinations.s3 import common

    monkeypatch.setattr(common, "GROWN_PART", 0)


def test_recording_thousands_of_parts_costs_linear_writes(tmp_path: Path, parts_at_the_setting: None) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    row = catalog.note_seen("s3:test", tmp_path / "zoom_0.mp4", 1, 0)
    writes: list[int] = []

    def save(state: dict[str, Any]) -> None:
        catalog.save_progress(row.id, resume=state)
        writes.append(len(json.dumps(state)))

    parts = 4000
    upload = _TinyParts(_Dest(), SourceFile(tmp_path / "zoom_0.mp4", parts * MIB), "k",  # type: ignore[arg-type]
                        UploadSession(save_resume=save))
    upload.state = {"upload_id": "u", "key": "k", "size": upload.size, "part_size": MIB, "mtime_ns": 0, "parts": {}}
    whole = WholeHash()
    upload._send(whole)
    whole.close()
    upload._save()
    final = writes[-1]
    assert len(writes) < 100, len(writes)  # was one write per part: 4,000
    assert sum(writes) < 12 * final  # was ~ parts / 2 x the final size: 2,000 x
    stored = catalog.get(row.id)
    assert stored is not None and stored.resume is not None and len(stored.resume["parts"]) == parts
    catalog.close()


@pytest.mark.parametrize("stop_after", [1, 7, 25])
def test_an_upload_that_stops_has_every_confirmed_part_saved(tmp_path: Path, stop_after: int,
                                                             parts_at_the_setting: None) -> None:
    source = tmp_path / "zoom_0.mp4"
    write_random(source, 40 * MIB + 5)
    dest = _Dest()
    saved: list[dict[str, Any]] = []
    session = UploadSession(save_resume=lambda state: saved.append(json.loads(json.dumps(state))))

    def progress(done: int) -> None:
        if len(dest.client.sent) >= stop_after:
            session.stop.set()

    session.progress = progress
    with pytest.raises(Cancelled):
        MultipartUpload(dest, SourceFile(source, 40 * MIB + 5), "m/zoom_0.mp4", session).run()  # type: ignore[arg-type]
    assert sorted(int(n) for n in saved[-1]["parts"]) == sorted(dest.client.sent)
    assert len(dest.client.sent) == stop_after


def test_a_multipart_upload_reads_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One read pass (issue 17): no whole-file pre-pass; each part is opened and read once, and the whole-file
    SHA-256 comes from the same buffers (it was read once to hash, then once more per part)."""
    from zoomwatch.destinations import base

    path = tmp_path / "zoom_0.mp4"
    digest = write_random(path, 4 * MIB + 5)
    opened: list[Path] = []
    sharing_open = base.open_source

    def counting_open(p: Path):  # type: ignore[no-untyped-def]
        opened.append(p)
        return sharing_open(p)

    monkeypatch.setattr(base, "open_source", counting_open)
    source = SourceFile(path, 4 * MIB + 5)
    dest = _Dest()
    dest.client.complete_multipart_upload = lambda **kw: {}  # type: ignore[attr-defined]
    dest.head = lambda key: {"ContentLength": 4 * MIB + 5, "ETag": ""}  # type: ignore[attr-defined]
    recorded: list[tuple[str, str]] = []
    dest.record_sha256 = lambda key, sha: recorded.append((key, sha))  # type: ignore[attr-defined]
    assert MultipartUpload(dest, source, "m/zoom_0.mp4", UploadSession()).run() == digest  # type: ignore[arg-type]
    assert len(opened) == 5, "one open per part, no pre-pass"
    assert source.known_sha256 == digest and recorded == [("m/zoom_0.mp4", digest)]


@pytest.mark.parametrize("mode", ["thread", "workers"])
def test_the_whole_file_hash_is_right_whatever_order_parts_finish(mode: str) -> None:
    import random
    import threading

    parts = [random.randbytes(1000 + n) for n in range(40)]
    whole = WholeHash(mode)
    order = list(range(1, 41))
    random.shuffle(order)

    def worker(n: int) -> None:
        whole.offer(n, parts[n - 1])
        whole.done(n, parts[n - 1])

    threads = [threading.Thread(target=worker, args=(n,)) for n in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert whole.hexdigest(40) == hashlib.sha256(b"".join(parts)).hexdigest()
    whole.close()


class _Listing(_Client):
    """Holds the parts already sent; lists them like ListParts (SeaweedFS lists no checksum)."""

    def __init__(self, stored: dict[int, bytes]) -> None:
        super().__init__()
        self.stored = stored

    def get_paginator(self, name: str) -> Any:
        parts = [{"PartNumber": n, "ETag": f'"{hashlib.md5(b).hexdigest()}"', "Size": len(b)}
                 for n, b in sorted(self.stored.items())]
        return type("P", (), {"paginate": lambda self, **kw: [{"Parts": parts}]})()

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, str]:
        return {}


@pytest.mark.parametrize("saved_by", ["this version", "a version that hashed first"])
def test_a_resume_sends_only_missing_parts_and_hashes_the_whole_file(tmp_path: Path, saved_by: str) -> None:
    """Stored parts (recorded or not) are read once for the whole-file hash and not sent again; a resume state
    saved by the version that hashed the whole file first (its `sha256`, no `mtime_ns`) is still picked up."""
    path = tmp_path / "zoom_0.mp4"
    digest = write_random(path, 5 * MIB + 5)
    data = path.read_bytes()
    stored = {n: data[(n - 1) * MIB:n * MIB] for n in (1, 2, 4)}
    dest = _Dest()
    dest.client = _Listing(stored)  # type: ignore[assignment]
    dest.head = lambda key: {"ContentLength": 5 * MIB + 5, "ETag": ""}  # type: ignore[attr-defined]
    dest.record_sha256 = lambda key, sha: None  # type: ignore[attr-defined]
    dest.discard = lambda resume: pytest.fail("the upload was thrown away")  # type: ignore[attr-defined]
    etag = hashlib.md5(stored[1]).hexdigest()
    state: dict[str, Any] = {"upload_id": "u", "key": "m/zoom_0.mp4", "size": 5 * MIB + 5, "part_size": MIB}
    if saved_by == "this version":
        crc = base64.b64encode(zlib.crc32(stored[1]).to_bytes(4, "big")).decode()
        state |= {"mtime_ns": 0, "algorithm": "CRC32", "parts": {"1": {"etag": etag, "checksum": crc}}}
    else:  # SHA-256 parts and the file's SHA-256, no mtime
        sha = base64.b64encode(hashlib.sha256(stored[1]).digest()).decode()
        state |= {"sha256": digest, "parts": {"1": {"etag": etag, "sha256": sha}}}
    upload = MultipartUpload(dest, SourceFile(path, 5 * MIB + 5), "m/zoom_0.mp4",  # type: ignore[arg-type]
                             UploadSession(resume=state))
    assert upload.run() == digest
    assert sorted(dest.client.sent) == [3, 5, 6] and upload.read_bytes == 5 * MIB + 5
    assert upload.algorithm == ("CRC32" if saved_by == "this version" else "SHA256")


def test_a_resume_keeps_the_part_size_the_upload_was_started_with(tmp_path: Path) -> None:
    """Part sizes grow with the file now (issue 17): an upload started with other parts (an older version, another
    setting) still resumes from its stored parts."""
    path = tmp_path / "zoom_0.mp4"
    digest = write_random(path, 5 * MIB + 5)
    data = path.read_bytes()
    stored = {n: data[(n - 1) * 2 * MIB:n * 2 * MIB] for n in (1, 2)}
    dest = _Dest()
    dest.client = _Listing(stored)  # type: ignore[assignment]
    dest.head = lambda key: {"ContentLength": 5 * MIB + 5, "ETag": ""}  # type: ignore[attr-defined]
    dest.record_sha256 = lambda key, sha: None  # type: ignore[attr-defined]
    dest.discard = lambda resume: pytest.fail("the upload was thrown away")  # type: ignore[attr-defined]
    state = {"upload_id": "u", "key": "m/zoom_0.mp4", "size": 5 * MIB + 5, "part_size": 2 * MIB, "mtime_ns": 0,
             "algorithm": "CRC32", "parts": {}}
    upload = MultipartUpload(dest, SourceFile(path, 5 * MIB + 5), "m/zoom_0.mp4",  # type: ignore[arg-type]
                             UploadSession(resume=state))
    assert upload.run() == digest
    assert dest.client.sent == [3] and upload.count == 3
