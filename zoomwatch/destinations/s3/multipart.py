"""A multipart upload that survives crashes, restarts and network loss: the part of S3 uploading that
boto3/s3transfer do not do across process restarts.

The upload ID is saved in the catalog before the first part is sent, and the completed parts
(number, ETag, SHA-256) at checkpoints: once an eighth more parts were confirmed since the last one
(so saving the growing list stays linear in the number of parts, not quadratic near 10,000), at least
every CHECKPOINT_SECONDS, and whenever the upload stops. A later run asks the store which parts it
holds (ListParts) and sends only the others; parts the store holds that the catalog never heard of
(the process died between two checkpoints) are kept when their MD5 matches the file, so a crash costs
a re-read of those parts, never a re-upload. Memory is bounded by concurrency x part size: each worker
reads only its own part.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from zoomwatch.destinations.base import SourceFile, UploadSession
from zoomwatch.destinations.s3.common import SHA_META, S3Store, b64, part_size_for
from zoomwatch.errors import ItemError, SourceChanged
from zoomwatch.i18n import N_
from zoomwatch.translate import botocore_code

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 30.0  # the confirmed parts are saved at least this often
CHECKPOINT_GROWTH = 8      # ... and once 1/8 more parts were confirmed since the last save


class MultipartUpload:
    def __init__(self, dest: S3Store, source: SourceFile, key: str, session: UploadSession) -> None:
        self.dest = dest
        self.client = dest.client
        self.source = source
        self.full_key = dest.full_key(key)
        self.size = size = source.size
        self.session = session
        self.part_size = part_size_for(size, dest.part_size)
        self.count = -(-size // self.part_size)
        self.parts: dict[int, dict[str, str]] = {}
        self.state: dict[str, Any] = {}
        self.sent_parts = 0
        self.done_bytes = 0
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self._lock = threading.Lock()

    # -- the whole upload -------------------------------------------------------------------------

    def run(self) -> str:
        sha = self.source.sha256(self.session.stop)  # read once: a hash the transfer already took is reused
        with self.dest.errors(self.full_key):
            if not self._resume(sha):
                self._create(sha)
            todo = [n for n in range(1, self.count + 1) if n not in self.parts]
            if self.parts:
                log.info("resuming multipart upload of %s: %d of %d parts already stored",
                         self.full_key, len(self.parts), self.count)
            self._progress()
            try:
                self._send(todo)
            finally:
                with self._lock:
                    if self._unsaved:
                        self._save()
            self._complete()
        log.info("multipart upload of %s complete: %d part(s) sent this time, %d reused",
                 self.full_key, self.sent_parts, self.count - self.sent_parts)
        return sha

    def _resume(self, sha: str) -> bool:
        """Pick up the upload the catalog remembers, if the store still has it and it is for this file."""
        old = self.session.resume or {}
        if not old.get("upload_id"):
            return False
        same = (old.get("key"), old.get("size"), old.get("part_size"), old.get("sha256")) == (
            self.full_key, self.size, self.part_size, sha)
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
        self.state = dict(old)
        known = {int(n): p for n, p in old.get("parts", {}).items()}
        for number, etag, size in listed:
            if number > self.count or size != self._length(number):
                continue
            if number in known and known[number]["etag"] == etag:
                self.parts[number] = known[number]
            else:  # stored but never recorded: keep it if it is really this file's bytes
                data = self._read(number)
                if hashlib.md5(data).hexdigest() == etag:
                    self.parts[number] = {"etag": etag, "sha256": b64(hashlib.sha256(data).digest())}
        self.done_bytes = sum(self._length(n) for n in self.parts)
        self._save()
        return True

    def _create(self, sha: str) -> None:
        created = self.client.create_multipart_upload(
            Bucket=self.dest.bucket, Key=self.full_key, Metadata={SHA_META: sha}, ChecksumAlgorithm="SHA256",
            **self.dest.extra)
        self.state = {"upload_id": created["UploadId"], "key": self.full_key, "size": self.size,
                      "part_size": self.part_size, "sha256": sha, "parts": {}}
        self.parts = {}
        self.done_bytes = 0
        self.session.save_resume(self.state)  # before any part is sent, so a crash never orphans it

    def _list_parts(self, upload_id: str) -> list[tuple[int, str, int]]:
        found: list[tuple[int, str, int]] = []
        paginator = self.client.get_paginator("list_parts")
        for page in paginator.paginate(Bucket=self.dest.bucket, Key=self.full_key, UploadId=upload_id):
            for part in page.get("Parts", []):
                found.append((int(part["PartNumber"]), part["ETag"].strip('"'), int(part["Size"])))
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
        return data

    def _send(self, todo: list[int]) -> None:
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=min(self.dest.concurrency, len(todo)),
                                  thread_name_prefix="zoomwatch-part")
        try:
            futures = [pool.submit(self._send_part, n) for n in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _send_part(self, number: int) -> None:
        self.session.check_stop()
        data = self._read(number)
        md5 = hashlib.md5(data)
        sha = b64(hashlib.sha256(data).digest())
        self.session.throttle(len(data))
        self.session.check_stop()
        response = self.client.upload_part(
            Bucket=self.dest.bucket, Key=self.full_key, UploadId=self.state["upload_id"], PartNumber=number,
            Body=data, ContentMD5=b64(md5.digest()), ChecksumSHA256=sha)
        etag = response["ETag"].strip('"')
        if self.dest.etag_is_md5 and etag != md5.hexdigest():
            raise ItemError(N_("Upload was damaged in transit"),
                            N_("part {number} of {full_key}: ETag mismatch", number=number, full_key=self.full_key))
        with self._lock:
            self.parts[number] = {"etag": etag, "sha256": sha}
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
        parts = [{"PartNumber": n, "ETag": f'"{p["etag"]}"', "ChecksumSHA256": p["sha256"]}
                 for n, p in sorted(self.parts.items())]
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

