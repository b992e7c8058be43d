"""A multipart upload that survives crashes, restarts and network loss: the part of S3 uploading that
boto3/s3transfer do not do across process restarts.

One read pass: each part is read once, by its worker; its checksum (sent with it, verified by the store) and
the whole file's SHA-256 come from that same buffer. The part checksum is a CRC32 (ChecksumAlgorithm, which
S3 and SeaweedFS verify per part): it catches a part damaged on its way as a SHA-256 would, at under half the
CPU (zlib's CRC32 runs at ~3 GB/s here, SHA-256 at ~1.4 GB/s), and the file's SHA-256 is computed anyway.
An upload saved by an older version (SHA-256 parts) resumes with SHA-256 parts: one upload, one algorithm.
The whole-file hash must see the parts in order while they are read and sent in any order: WholeHash feeds it,
from a hashing thread that runs beside the part hashes and the network ("thread", the default: measured
faster, see BENCHMARKS.md) or from each part's worker once the parts before it are in ("workers"). A worker
frees its buffer only once its part is in the whole hash, so memory stays bounded by concurrency x part size.
The whole-file SHA-256, known only at the end, is recorded by tagging the completed object (see
S3Destination.record_sha256); no pre-pass over the file is needed before the first byte goes out.

The upload ID is saved in the catalog before the first part is sent, and the completed parts
(number, ETag, checksum) at checkpoints: once an eighth more parts were confirmed since the last one
(so saving the growing list stays linear in the number of parts, not quadratic near 10,000), at least
every CHECKPOINT_SECONDS, and whenever the upload stops. A later run asks the store which parts it
holds (ListParts) and sends only the others. The parts already stored are read once more, in the same
single pass, for the whole-file hash (a SHA-256 state cannot be saved and combined): each is checked
against the checksum recorded for it (a part the catalog never heard of, as the process died between two
checkpoints, against the store's listed checksum or MD5 ETag) and sent again only if it differs.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import zlib
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from zoomwatch.destinations.base import Cancelled, SourceFile, UploadSession
from zoomwatch.destinations.s3.common import (
    MAX_PARTS,
    MIN_PART,
    S3Store,
    b64,
    check_received,
    needs_md5,
    part_size_for,
)
from zoomwatch.errors import ItemError, SourceChanged
from zoomwatch.i18n import N_
from zoomwatch.translate import botocore_code

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 30.0  # the confirmed parts are saved at least this often
CHECKPOINT_GROWTH = 8      # ... and once 1/8 more parts were confirmed since the last save
HASH_MODE = "thread"       # how the whole-file SHA-256 is fed: "thread" or "workers" (see WholeHash)
ALGORITHM = "CRC32"        # the checksum of each part (see the module docstring)
PART_CHECKSUMS = {"CRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
                  "SHA256": lambda data: hashlib.sha256(data).digest()}


class WholeHash:
    """The whole file's SHA-256, fed the parts in order (1, 2, ...) by workers that finish in any order.

    offer(n, data) as soon as part n is read; done(n, data) once it is sent: it returns when part n is in
    the hash. Mode "thread" hashes in a thread of its own from offer() on; mode "workers" hashes in done(),
    on the part's worker, once the parts before it are in. close() releases every waiter (with Cancelled)."""

    def __init__(self, mode: str = HASH_MODE) -> None:
        if mode not in ("thread", "workers"):
            raise ValueError(f"unknown hashing mode {mode!r}")
        self.mode = mode
        self.digest = hashlib.sha256()
        self.next = 1
        self._pending: dict[int, Any] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if mode == "thread":
            self._thread = threading.Thread(target=self._loop, name="zoomwatch-sha256", daemon=True)
            self._thread.start()

    def offer(self, number: int, data: Any) -> None:
        if self._thread is not None:
            with self._cond:
                self._pending[number] = data
                self._cond.notify_all()

    def done(self, number: int, data: Any) -> None:
        with self._cond:
            while self.next < number if self._thread is None else self.next <= number:
                if self._closed:
                    raise Cancelled()
                self._cond.wait()
        if self._thread is None:
            self.digest.update(data)  # only this worker's turn: no lock held while hashing (no GIL either)
            self._advance()

    def hexdigest(self, count: int) -> str:
        with self._cond:
            if self.next != count + 1:
                raise RuntimeError(f"whole-file hash has {self.next - 1} of {count} parts")
        return self.digest.hexdigest()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _advance(self) -> None:
        with self._cond:
            self.next += 1
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self.next not in self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                data = self._pending.pop(self.next)
            self.digest.update(data)
            self._advance()


class MultipartUpload:
    def __init__(self, dest: S3Store, source: SourceFile, key: str, session: UploadSession,
                 hash_mode: str = HASH_MODE) -> None:
        self.dest = dest
        self.client = dest.client
        self.source = source
        self.full_key = dest.full_key(key)
        self.size = size = source.size
        self.session = session
        self.part_size = part_size_for(size, dest.part_size)
        self.count = -(-size // self.part_size)
        self.parts: dict[int, dict[str, str]] = {}
        self.listed: dict[int, tuple[str, str | None]] = {}  # stored, not recorded: number -> (ETag, checksum)
        self.algorithm = ALGORITHM
        self.state: dict[str, Any] = {}
        self.sent_parts = 0
        self.read_bytes = 0
        self.done_bytes = 0
        self.hash_mode = hash_mode
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self._lock = threading.Lock()

    # -- the whole upload -------------------------------------------------------------------------

    def run(self) -> str:
        """Upload the file (resuming when the catalog knows an unfinished upload of it); return its SHA-256."""
        with self.dest.errors(self.full_key):
            if not self._resume():
                self._create()
            if self.parts or self.listed:
                log.info("resuming multipart upload of %s: %d of %d parts already stored",
                         self.full_key, len(self.parts) + len(self.listed), self.count)
            self._progress()
            whole = WholeHash(self.hash_mode)
            try:
                self._send(whole)
            finally:
                whole.close()
                with self._lock:
                    if self._unsaved:
                        self._save()
            sha = whole.hexdigest(self.count)
            self._complete()
            self.dest.record_sha256(self.full_key, sha)
        log.info("multipart upload of %s complete: %d part(s) sent this time, %d reused",
                 self.full_key, self.sent_parts, self.count - self.sent_parts)
        return self.source.streamed(whole.digest)

    def _resume(self) -> bool:
        """Pick up the upload the catalog remembers, if the store still has it and it is for this file."""
        old = self.session.resume or {}
        if not old.get("upload_id"):
            return False
        same = (old.get("key"), old.get("size")) == (self.full_key, self.size) and self._adopt_part_size(old)
        if same and "mtime_ns" in old:
            same = old["mtime_ns"] == self.source.mtime_ns
        elif same:  # saved by a version that hashed the whole file first
            same = old.get("sha256") == self.source.sha256(self.session.stop)
        if not same:
            self.dest.discard(old)
            return False
        try:
            listed = self._list_parts(old["upload_id"])
        except Exception as exc:
            if botocore_code(exc) == "NoSuchUpload":
                log.info("the store no longer has upload %s of %s; starting again", old["upload_id"], self.full_key)
                return False
            raise
        self.algorithm = old.get("algorithm", "SHA256")  # saved before CRC32 parts: SHA-256 ones
        self.state = {k: v for k, v in old.items() if k != "sha256"} | {"mtime_ns": self.source.mtime_ns,
                                                                       "algorithm": self.algorithm}
        known = {int(n): {"etag": p["etag"], "checksum": p.get("checksum") or p.get("sha256", "")}
                 for n, p in old.get("parts", {}).items()}
        for number, etag, size, checksum in listed:
            if number > self.count or size != self._length(number):
                continue
            if number in known and known[number]["etag"] == etag:
                self.parts[number] = known[number]
            else:  # stored but never recorded: kept if its bytes are this file's (checked as it is read)
                self.listed[number] = (etag, checksum)
        self.done_bytes = sum(self._length(n) for n in [*self.parts, *self.listed])
        self._save()
        return True

    def _adopt_part_size(self, old: dict[str, Any]) -> bool:
        """Keep the part size the saved upload was started with (an older version or setting may have chosen
        another): its stored parts stay usable as long as that size is one S3 accepts for this file."""
        size = old.get("part_size")
        if not isinstance(size, int) or size < min(MIN_PART, self.dest.part_size) or -(-self.size // size) > MAX_PARTS:
            return False
        self.part_size, self.count = size, -(-self.size // size)
        return True

    def _create(self) -> None:
        created = self.client.create_multipart_upload(
            Bucket=self.dest.bucket, Key=self.full_key, ChecksumAlgorithm=self.algorithm, **self.dest.extra)
        self.state = {"upload_id": created["UploadId"], "key": self.full_key, "size": self.size,
                      "part_size": self.part_size, "mtime_ns": self.source.mtime_ns, "algorithm": self.algorithm,
                      "parts": {}}
        self.parts = {}
        self.done_bytes = 0
        self.session.save_resume(self.state)  # before any part is sent, so a crash never orphans it

    def _list_parts(self, upload_id: str) -> list[tuple[int, str, int, str | None]]:
        found: list[tuple[int, str, int, str | None]] = []
        paginator = self.client.get_paginator("list_parts")
        for page in paginator.paginate(Bucket=self.dest.bucket, Key=self.full_key, UploadId=upload_id):
            for part in page.get("Parts", []):
                found.append((int(part["PartNumber"]), part["ETag"].strip('"'), int(part["Size"]),
                              part.get(f"Checksum{self.algorithm}")))
        return found

    # -- parts ------------------------------------------------------------------------------------

    def _length(self, number: int) -> int:
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    def _read(self, number: int) -> bytes:
        length = self._length(number)
        data = self.source.read_range((number - 1) * self.part_size, length)
        if len(data) != length:
            raise SourceChanged(N_("File changed during upload"),
                                N_("{display} is shorter than when it was measured", display=self.source.display))
        with self._lock:
            self.read_bytes += length
        return data

    def _send(self, whole: WholeHash) -> None:
        """Every part in order, each read once: stored ones checked, the others sent."""
        pool = ThreadPoolExecutor(max_workers=min(self.dest.concurrency, self.count),
                                  thread_name_prefix="zoomwatch-part")
        try:
            futures = [pool.submit(self._part, n, whole) for n in range(1, self.count + 1)]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                whole.close()  # the parts waiting for their turn give up
                raise failed[0].exception()  # type: ignore[misc]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _part(self, number: int, whole: WholeHash) -> None:
        self.session.check_stop()
        data = self._read(number)
        whole.offer(number, data)
        checksum = b64(PART_CHECKSUMS[self.algorithm](data))
        if not self._stored(number, checksum, data):
            self._send_part(number, data, checksum)
        whole.done(number, data)

    def _stored(self, number: int, checksum: str, data: bytes) -> bool:
        """Whether the store already holds part `number` with exactly these bytes (on a resume)."""
        with self._lock:
            known = self.parts.get(number)
            listed = self.listed.pop(number, None)
        if known is not None and known["checksum"] == checksum:
            return True
        if listed is not None:
            etag, stored = listed
            if (stored == checksum) if stored else \
                    (self.dest.etag_is_md5 and hashlib.md5(data).hexdigest() == etag):
                with self._lock:
                    self.parts[number] = {"etag": etag, "checksum": checksum}
                return True
        if known is not None or listed is not None:  # stored, but other bytes than the file has now
            log.info("part %d of %s differs from the file; sending it again", number, self.full_key)
            with self._lock:
                self.parts.pop(number, None)
                self.done_bytes -= len(data)
        return False

    def _send_part(self, number: int, data: bytes, checksum: str) -> None:
        md5 = hashlib.md5(data) if needs_md5(self.dest) else None
        field = f"Checksum{self.algorithm}"
        self.session.throttle(len(data))
        self.session.check_stop()
        response = self.client.upload_part(
            Bucket=self.dest.bucket, Key=self.full_key, UploadId=self.state["upload_id"], PartNumber=number,
            Body=data, **{field: checksum}, **({"ContentMD5": b64(md5.digest())} if md5 else {}))
        etag = check_received(self.dest, response, field, checksum, data, md5, f"part {number} of {self.full_key}")
        with self._lock:
            self.parts[number] = {"etag": etag, "checksum": checksum}
            self.sent_parts += 1
            self.done_bytes += len(data)
            self._unsaved += 1
            if self._unsaved * CHECKPOINT_GROWTH >= len(self.parts) or \
                    time.monotonic() - self._saved_at >= CHECKPOINT_SECONDS:
                self._save()
        self._progress()

    def _save(self) -> None:
        """Record the parts confirmed so far (callers on worker threads hold self._lock)."""
        self.state["parts"] = {str(n): p for n, p in sorted(self.parts.items())}
        self.session.save_resume(dict(self.state))
        self._unsaved = 0
        self._saved_at = time.monotonic()

    def _progress(self) -> None:
        self.session.progress(self.done_bytes)

    # -- finish -----------------------------------------------------------------------------------

    def _complete(self) -> None:
        self.session.check_stop()
        parts = [{"PartNumber": n, "ETag": f'"{p["etag"]}"', f"Checksum{self.algorithm}": p["checksum"]}
                 for n, p in sorted(self.parts.items())]
        if len(parts) != self.count:
            raise ItemError(N_("Upload check failed"), N_("{full_key}: {stored} of {count} parts stored",
                                                         full_key=self.full_key, stored=len(parts), count=self.count))
        self.client.complete_multipart_upload(
            Bucket=self.dest.bucket, Key=self.full_key, UploadId=self.state["upload_id"],
            MultipartUpload={"Parts": parts})
        head = self.dest.head(self.full_key)
        if head is None or int(head["ContentLength"]) != self.size:
            raise ItemError(N_("Upload check failed"),
                            N_("{full_key}: stored size differs from the file's", full_key=self.full_key))
        expected = hashlib.md5(b"".join(bytes.fromhex(p["etag"]) for _, p in sorted(self.parts.items())))
        etag = head.get("ETag", "").strip('"')
        if self.dest.etag_is_md5 and "-" in etag and etag != f"{expected.hexdigest()}-{self.count}":
            raise ItemError(N_("Upload check failed"),
                            N_("{full_key}: the store's ETag does not match the parts sent", full_key=self.full_key))
