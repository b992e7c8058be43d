"""What the S3 destination (the package's __init__) and its multipart upload both need: the metadata/tag name
of the file's SHA-256, the part size rule, base64 digests, the check of what the store says it received, the
translation of boto errors, and the shape of the destination a multipart upload works for. Imports flow one
way: __init__ -> multipart -> common.

Checksums: every PUT carries the file's SHA-256 and every part its CRC32 (x-amz-checksum-*, signed headers;
see multipart.py for why CRC32). A store that verifies it says so by echoing it back (AWS, SeaweedFS,
MinIO): then nothing else is computed. A store that does not echo it is sent Content-MD5 from then on (it
verifies that), and its ETag is compared with the MD5; the request that found out is checked by its ETag
after the fact. Either way a part damaged on its way is refused or caught."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from zoomwatch.errors import Cancelled, ItemError, ZoomwatchError
from zoomwatch.i18n import N_
from zoomwatch.translate import botocore_code, botocore_error, botocore_status

SHA_META = "sha256"
MAX_PARTS = 10_000
MIB = 1024 * 1024

code = botocore_code
status = botocore_status
translate = botocore_error


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


MIN_PART = 5 * MIB          # S3's smallest part (but the last)
GROWN_PART = 16 * MIB       # parts grow up to this with the file's size (see part_size_for)
GROW_FROM_PARTS = 32        # ... once the file has more parts than this


def part_size_for(size: int, smallest: int) -> int:
    """The part size: at least `smallest` (the setting), growing with the file up to GROWN_PART (16 MiB for a
    file of 512 MiB and more; memory stays within concurrency x 16 MiB), and big enough that the file fits
    in 10,000 parts. Measured on SeaweedFS (BENCHMARKS.md): 16 MiB parts beat 8 MiB parts on big files (half
    the requests), 32 MiB parts brought nothing more but memory."""
    needed = -(-size // MAX_PARTS)
    grown = min(max(smallest, GROWN_PART), size // GROW_FROM_PARTS)
    return max(smallest, -(-max(needed, grown) // MIB) * MIB)


def needs_md5(dest: S3Store) -> bool:
    """Whether a request should also carry Content-MD5: only for a store not known to verify the SHA-256
    (and, with KMS, whose ETag is no MD5, also while that is still unknown)."""
    return dest.checksum_echo is False or (dest.checksum_echo is None and not dest.etag_is_md5)


def check_received(dest: S3Store, response: dict[str, Any], field: str, sent: str, data: Any, md5: Any,
                   what: str) -> str:
    """Check what the store says it received for one PUT or part against what was sent (the checksum `sent`
    as request field `field`, e.g. ChecksumSHA256); return its ETag. `md5` is the hashlib object when
    Content-MD5 was sent, else None (computed here only if needed)."""
    etag = str(response.get("ETag", "")).strip('"')
    echoed = response.get(field)
    if echoed is not None:
        dest.checksum_echo = True
        if echoed != sent:
            raise ItemError(N_("Upload was damaged in transit"),
                            N_("{what}: the store received other bytes than sent", what=what))
        return etag
    dest.checksum_echo = False  # this store ignores the SHA-256: Content-MD5 from now on
    if dest.etag_is_md5 and etag:
        if (md5 or hashlib.md5(data)).hexdigest() != etag:
            raise ItemError(N_("Upload was damaged in transit"),
                            N_("{what}: the store's ETag differs from the bytes sent", what=what))
    return etag


@contextmanager
def s3_errors(bucket: str, key: str, endpoint: str | None) -> Iterator[None]:
    """Turn boto errors into messages that name the bucket/key and say what to do."""
    try:
        yield
    except (ZoomwatchError, Cancelled):
        raise
    except Exception as exc:  # botocore raises many families; translate() sorts them
        raise translate(exc, bucket, key, endpoint) from None


class S3Store(Protocol):
    """The members of the S3 destination a multipart upload uses."""

    bucket: str
    extra: dict[str, str]
    part_size: int
    concurrency: int
    etag_is_md5: bool
    checksum_echo: bool | None  # does the store verify x-amz-checksum-*? None until a response says

    @property
    def client(self) -> Any: ...

    def errors(self, key: str = "") -> Any: ...

    def full_key(self, key: str) -> str: ...

    def head(self, full_key: str) -> dict[str, Any] | None: ...

    def discard(self, resume: dict[str, Any] | None) -> None: ...

    def record_sha256(self, full_key: str, sha: str) -> None: ...
