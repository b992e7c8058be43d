"""Amazon S3 and S3-compatible stores (MinIO, R2, B2, Wasabi, SeaweedFS...), through boto3.

Small files: one PUT. Large files: a multipart upload (see multipart.py) that reads the file once and survives
crashes, restarts and network loss. Every request carries a checksum the store verifies (a PUT the file's
SHA-256, a part its CRC32; Content-MD5 only for a store that does not verify them: see common.py); the file's
own SHA-256 is kept with the object so the same recording is never uploaded twice and a HEAD after the upload
proves what is stored: in its metadata (`x-amz-meta-sha256`) for a single PUT, where it is known before the
first byte is sent, and in an object tag `sha256` for a multipart upload, where it is known only once the last
part is read. A tag is set on the finished object without copying it, by S3 and SeaweedFS alike, at any size
(a metadata copy is a server-side copy of every byte, limited to 5 GB in one request; the multipart checksum
of S3 is a checksum of the parts' checksums, not the file's SHA-256). stat() answers from either.

The SigV4 signature does not hash the body again (payload_signing_enabled off, also over plain http): the
body's checksum travels in a signed x-amz-checksum-* header, which the store verifies.

At start, multipart uploads under the configured prefix that no catalog row knows (a crash between
CreateMultipartUpload and saving its ID, a catalog rebuilt or lost) are aborted once they have been
idle for ORPHAN_IDLE_SECONDS, so their parts are not billed for ever; see abort_unknown_uploads().

What this module and multipart.py share lives in common.py (imports run __init__ -> multipart -> common).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoomwatch.config import Config
from zoomwatch.destinations import base
from zoomwatch.destinations.base import RemoteObject, SourceFile, UploadSession
from zoomwatch.destinations.s3.common import (
    MAX_PARTS,
    MIB,
    SHA_META,
    b64,
    check_received,
    needs_md5,
    part_size_for,
    s3_errors,
    translate,
)
from zoomwatch.destinations.s3.common import code as _code
from zoomwatch.destinations.s3.common import status as _status
from zoomwatch.destinations.s3.multipart import MultipartUpload
from zoomwatch.errors import BadSetting, DestinationError, SourceChanged, ZoomwatchError
from zoomwatch.i18n import N_
from zoomwatch.secrets import get_secret

log = logging.getLogger(__name__)

__all__ = ["MAX_PARTS", "MIB", "SHA_META", "MultipartUpload", "S3Destination", "abort_unknown_uploads", "b64",
           "part_size_for", "translate"]

# an unknown upload is aborted only after this long without a new part: another machine backing up to the
# same bucket and prefix may be uploading it right now, or be asleep in the middle of it
ORPHAN_IDLE_SECONDS = 24 * 3600


class S3Destination:
    makes_links = True  # presigned GET URLs

    def __init__(self, config: Config, client: Any = None, *, secrets: dict[str, str] | None = None) -> None:
        self._secrets = secrets or {}
        self.bucket = config["destination.s3.bucket"]
        if not self.bucket:
            raise BadSetting(N_("No S3 bucket set"),
                             N_("set it with: zoomwatch config set destination.s3.bucket NAME"))
        prefix = config["destination.s3.prefix"]
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint = config["destination.s3.endpoint_url"] or None
        self.region = config["destination.s3.region"] or None
        self.part_size = int(config["destination.s3.part_size"])
        self.concurrency = int(config["destination.s3.concurrency"])
        self.extra: dict[str, str] = {}
        if config["destination.s3.storage_class"]:
            self.extra["StorageClass"] = config["destination.s3.storage_class"].upper()
        sse = config["destination.s3.sse"]
        if sse == "aes256":
            self.extra["ServerSideEncryption"] = "AES256"
        elif sse == "aws:kms":
            self.extra["ServerSideEncryption"] = "aws:kms"
            if config["destination.s3.kms_key_id"]:
                self.extra["SSEKMSKeyId"] = config["destination.s3.kms_key_id"]
        self.etag_is_md5 = sse != "aws:kms"  # with KMS the ETag is not an MD5 of the data
        self.checksum_echo: bool | None = None  # whether the store verifies x-amz-checksum-* (common.py)
        where = N_(" at {endpoint}", endpoint=self.endpoint) if self.endpoint else ""
        self.id = f"s3:{self.endpoint or 'aws'}/{self.bucket}/{self.prefix}"
        self.label: str = N_("S3 bucket {bucket}{where}", bucket=f"{self.bucket}{'/' + prefix if prefix else ''}",
                             where=where)
        self._client = client
        self._addressing = config["destination.s3.addressing_style"]
        self.reachable = True  # False after a check() that failed: the start-up sweep then waits

    # -- client and errors ------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            key_id = self._secrets.get("s3.access_key_id") or get_secret("s3.access_key_id")
            secret = self._secrets.get("s3.secret_access_key") or get_secret("s3.secret_access_key")
            session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret) \
                if key_id and secret else boto3.session.Session()
            self._client = session.client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                config=BotoConfig(
                    s3={"addressing_style": self._addressing, "payload_signing_enabled": False},
                    retries={"mode": "standard", "max_attempts": 4},
                    connect_timeout=10, read_timeout=120, max_pool_connections=self.concurrency + 4,
                    request_checksum_calculation="when_required", response_checksum_validation="when_required",
                ),
            )
        return self._client

    @contextmanager
    def errors(self, key: str = "") -> Iterator[None]:
        """Turn boto errors into messages that name the bucket/key and say what to do."""
        with s3_errors(self.bucket, key, self.endpoint):
            yield

    def full_key(self, key: str) -> str:
        return self.prefix + key

    # -- interface --------------------------------------------------------------------------------

    def adapt_key(self, key: str) -> str:
        return key  # the naming sanitiser already made it safe here

    def check(self) -> None:
        """Write, read back and delete a small probe object."""
        probe = self.full_key(f".zoomwatch-check/{uuid.uuid4().hex}")
        body = b"zoomwatch connection check"
        self.reachable = False
        with self.errors(probe):
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=body, **self.extra)
            back = self.client.get_object(Bucket=self.bucket, Key=probe)["Body"].read()
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        self.reachable = True
        if back != body:
            raise DestinationError(N_("S3 check failed"),
                                   N_("bucket {bucket} returned other bytes than written", bucket=self.bucket))

    def stat(self, key: str) -> RemoteObject | None:
        """Size and SHA-256 of the object: the SHA-256 from its metadata (a single PUT) or its `sha256` tag
        (a multipart upload, see record_sha256); None when it carries neither."""
        full_key = self.full_key(key)
        head = self.head(full_key)
        if head is None:
            return None
        sha = head.get("Metadata", {}).get(SHA_META)
        if not sha and head.get("TagCount") != 0:  # S3 leaves TagCount out of a HEAD; SeaweedFS gives it
            sha = self._tagged_sha256(full_key)
        return RemoteObject(int(head["ContentLength"]), sha)

    def _tagged_sha256(self, full_key: str) -> str | None:
        with self.errors(full_key):
            try:
                tags = self.client.get_object_tagging(Bucket=self.bucket, Key=full_key).get("TagSet", [])
            except Exception as exc:
                if _status(exc) in (403, 404, 501) or _code(exc) in ("NotImplemented", "AccessDenied"):
                    return None  # cannot read tags here: checksum() reads the object back
                raise
        return next((str(t["Value"]) for t in tags if t.get("Key") == SHA_META), None)

    def record_sha256(self, full_key: str, sha: str) -> None:
        """Keep the file's SHA-256 with an object stored before it was known, as its tag `sha256` (the
        object is not copied). Without the right to tag, the object is read back when it is verified."""
        with self.errors(full_key):
            try:
                self.client.put_object_tagging(Bucket=self.bucket, Key=full_key,
                                               Tagging={"TagSet": [{"Key": SHA_META, "Value": sha}]})
            except Exception as exc:
                if _status(exc) not in (403, 501) and _code(exc) not in ("NotImplemented", "AccessDenied"):
                    raise
                log.warning("could not tag s3://%s/%s with its SHA-256 (%s): it is read back to verify it",
                            self.bucket, full_key, _code(exc) or _status(exc))

    def head(self, full_key: str) -> dict[str, Any] | None:
        with self.errors(full_key):
            try:
                return self.client.head_object(Bucket=self.bucket, Key=full_key)
            except Exception as exc:
                if _status(exc) == 404 and _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

    def checksum(self, key: str) -> str | None:
        """The SHA-256 the object carries in its metadata; an object stored without it (by another tool, or
        a sidecar) is read back and hashed, so it is never taken for an absent one."""
        found = self.stat(key)
        if found is None or found.sha256:
            return found.sha256 if found else None
        full_key = self.full_key(key)
        digest = hashlib.sha256()
        with self.errors(full_key):
            body = self.client.get_object(Bucket=self.bucket, Key=full_key)["Body"]
            for chunk in body.iter_chunks(base.CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def upload(self, source: SourceFile, key: str, session: UploadSession) -> str:
        if source.size < self.part_size:
            return self._put(source, key, session)
        return MultipartUpload(self, source, key, session).run()

    def _put(self, source: SourceFile, key: str, session: UploadSession) -> str:
        data = source.read_range(0, source.size)
        if len(data) != source.size:
            raise SourceChanged(N_("File changed during upload"),
                                N_("{display} is shorter than when it was measured", display=source.display))
        session.check_stop()
        sha = source.streamed(hashlib.sha256(data))
        sha_b64 = b64(bytes.fromhex(sha))
        md5 = hashlib.md5(data) if needs_md5(self) else None
        session.throttle(len(data))
        full = self.full_key(key)
        with self.errors(full):
            put = self.client.put_object(
                Bucket=self.bucket, Key=full, Body=data, ChecksumSHA256=sha_b64, Metadata={SHA_META: sha},
                **({"ContentMD5": b64(md5.digest())} if md5 else {}), **self.extra)
        check_received(self, put, "ChecksumSHA256", sha_b64, data, md5, f"s3://{self.bucket}/{full}")
        session.progress(len(data))
        return sha

    def discard(self, resume: dict[str, Any] | None) -> None:
        """Abort an unfinished multipart upload so its parts stop costing money."""
        if resume and resume.get("upload_id"):
            with self.errors(resume.get("key", "")):
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=resume["key"],
                                                       UploadId=resume["upload_id"])
                    log.info("aborted the unfinished multipart upload of %s", resume["key"])
                except Exception as exc:
                    if _code(exc) != "NoSuchUpload":
                        raise

    def write_small(self, key: str, data: bytes) -> None:
        full = self.full_key(key)
        with self.errors(full):
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType="application/json",
                                   ContentMD5=b64(hashlib.md5(data).digest()), **self.extra)

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.full_key(key)}"

    def share_link(self, key: str) -> str | None:
        """A presigned GET URL, valid for 7 days (the longest SigV4 allows)."""
        with self.errors(key):
            return str(self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self.full_key(key)}, ExpiresIn=7 * 86400))


    def abort_unknown_uploads(self, known_upload_ids: Iterable[str], *, idle_seconds: float | None = None) -> list[str]:
        """Abort the multipart uploads under our prefix (only there) whose ID the catalog does not know
        and that saw no new part for `idle_seconds`; return their keys. Without a prefix nothing is
        touched: the bucket's other uploads cannot be told apart from ours."""
        if not self.prefix:
            return []
        known = set(known_upload_ids)
        idle = ORPHAN_IDLE_SECONDS if idle_seconds is None else idle_seconds
        now = dt.datetime.now(dt.timezone.utc)
        aborted = []
        with self.errors():
            for upload in self._uploads_under_prefix():
                if upload["UploadId"] in known or (now - self._last_activity(upload)).total_seconds() < idle:
                    continue
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                except Exception as exc:
                    if _code(exc) != "NoSuchUpload":
                        raise
                log.info("aborted a multipart upload no backup of this computer knows: %s (started %s)",
                         upload["Key"], upload.get("Initiated", "?"))
                aborted.append(upload["Key"])
        return aborted

    def _uploads_under_prefix(self) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                 Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                if str(upload.get("Key", "")).startswith(self.prefix):  # a store ignoring Prefix is not trusted
                    yield upload

    def _last_activity(self, upload: dict[str, Any]) -> dt.datetime:
        """When the upload last changed: its newest part, else its start (now, when the store says neither)."""
        times = [t for t in [upload.get("Initiated")] if isinstance(t, dt.datetime)]
        for page in self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=upload["Key"],
                                                                     UploadId=upload["UploadId"]):
            times += [p["LastModified"] for p in page.get("Parts", []) if isinstance(p.get("LastModified"),
                                                                                     dt.datetime)]
        return max(times) if times else dt.datetime.now(dt.timezone.utc)

    # -- listing and reading back (audit, ls, restore) --------------------------------------------

    def list(self, prefix: str = "") -> Iterator[tuple[str, RemoteObject]]:
        """Every object below `prefix` under our prefix (ListObjectsV2, in key order); the connection
        probes left out. The listing carries no metadata: sha256 is None (stat() reads it)."""
        under = self.full_key(f"{prefix.rstrip('/')}/" if prefix else "")
        with self.errors(under):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=under):
                for item in page.get("Contents", []):
                    full = str(item.get("Key", ""))
                    if not full.startswith(under):  # a store ignoring Prefix is not trusted
                        continue
                    key = full[len(self.prefix):]
                    if key.startswith(".zoomwatch-check/"):
                        continue
                    yield key, RemoteObject(int(item.get("Size", 0)))

    def read(self, key: str, offset: int = 0) -> Iterator[bytes] | None:
        full = self.full_key(key)
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        with self.errors(full):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=full, **extra)["Body"]
            except Exception as exc:
                if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
        return self._chunks(body, full)

    def _chunks(self, body: Any, full: str) -> Iterator[bytes]:
        try:
            with self.errors(full):
                yield from body.iter_chunks(base.CHUNK)
        finally:
            body.close()

    def download(self, key: str, target: Path, *, progress: Callable[[int], None] | None = None,
                 stop: threading.Event | None = None) -> int:
        return base.download_into(self, key, target, progress=progress, stop=stop)


def abort_unknown_uploads(destination: Any, catalog: Any) -> None:
    """At start: abort the store's multipart uploads under the prefix that no catalog row knows, for a
    destination that has such uploads (S3) and answered its check. Never stops the start."""
    if not hasattr(destination, "abort_unknown_uploads") or not getattr(destination, "reachable", True):
        return
    known = {r.resume["upload_id"] for r in catalog.rows(destination.id, include_old=True)
             if r.resume and r.resume.get("upload_id")}
    try:
        aborted = destination.abort_unknown_uploads(known)
    except ZoomwatchError as exc:
        log.warning("could not look for forgotten multipart uploads: %s: %s", exc.title, exc.message)
        return
    if aborted:
        log.info("aborted %d forgotten multipart upload(s) under %s", len(aborted), destination.label)

