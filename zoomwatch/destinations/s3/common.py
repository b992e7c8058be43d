"""What the S3 destination (the package's __init__) and its multipart upload both need: the metadata name
of the file's SHA-256, the part size rule, base64 digests, the translation of boto errors, and the shape
of the destination a multipart upload works for. Imports flow one way: __init__ -> multipart -> common."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from zoomwatch.errors import Cancelled, ZoomwatchError
from zoomwatch.translate import botocore_code, botocore_error, botocore_status

SHA_META = "sha256"
MAX_PARTS = 10_000
MIB = 1024 * 1024

code = botocore_code
status = botocore_status
translate = botocore_error


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def part_size_for(size: int, smallest: int) -> int:
    """The part size: at least `smallest`, and big enough that the file fits in 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    return max(smallest, -(-needed // MIB) * MIB)


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

    @property
    def client(self) -> Any: ...

    def errors(self, key: str = "") -> Any: ...

    def full_key(self, key: str) -> str: ...

    def head(self, full_key: str) -> dict[str, Any] | None: ...

    def discard(self, resume: dict[str, Any] | None) -> None: ...
