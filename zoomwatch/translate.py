"""The translators into zoomwatch's error family (zoomwatch.errors): one for OS errors on a source file,
one for HTTP errors raised by requests, one for botocore's (S3). Each decides on types, errno values,
HTTP statuses and the store's error codes, never on an exception's wording or class name.

A low module: requests and botocore are imported inside the functions that need them, for isinstance
checks only, so importing this costs nothing.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from zoomwatch.errors import (
    DestinationDown,
    ItemError,
    ServiceDown,
    SourceGone,
    SourceUnreadable,
    ZoomwatchError,
)

_GONE = {errno.ENOENT, errno.ENOTDIR}
_DENIED = {errno.EACCES, errno.EPERM}


# -- OS errors ------------------------------------------------------------------------------------

def source_error(exc: OSError, path: Any, *, doing: str = "before it was backed up") -> ItemError:
    """An OSError met while reading the recording at `path`: gone (deleted or renamed), or unreadable
    (no permission, an I/O error), the message naming the file and what to do."""
    name = os.fsdecode(path)
    if isinstance(exc, FileNotFoundError | NotADirectoryError) or exc.errno in _GONE:
        return SourceGone("File vanished", f"{name} was deleted or renamed {doing}")
    if isinstance(exc, PermissionError) or exc.errno in _DENIED:
        return SourceUnreadable("Cannot read recording", f"{name}: permission denied — let the user running "
                                "zoomwatch read it; retried later")
    reason = exc.strerror or (errno.errorcode.get(exc.errno, "") if exc.errno else "") or "read error"
    return SourceUnreadable("Cannot read recording", f"{name}: {reason}; retried later")


# -- HTTP (requests) ------------------------------------------------------------------------------

def http_status_error(status: int, *, service: str, where: str,
                      down: type[ZoomwatchError] = ServiceDown) -> ZoomwatchError:
    """An HTTP failure status from `service`: busy or failing (429, 5xx: retried later, as `down`), gone
    (404, 410: this item), refused (any other 4xx: this item, not retried as is)."""
    if status == 429 or status >= 500:
        return down(f"{service} is busy or failing", f"{where}: HTTP {status}; retried later", retryable=True)
    if status in (404, 410):
        return ItemError(f"{service} no longer has it", f"{where}: HTTP {status}; it is looked up again later")
    return ItemError(f"{service} refused a request", f"{where}: HTTP {status}", retryable=False)


def requests_error(exc: BaseException, *, service: str, where: str,
                   down: type[ZoomwatchError] = ServiceDown) -> ZoomwatchError:
    """A requests exception from `service` at `where` (a URL or host, never one carrying a token):
    a time-out, a refused, reset or cut connection (retried later, as `down`), or an HTTPError's status."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return http_status_error(exc.response.status_code, service=service, where=where, down=down)
    if isinstance(exc, requests.Timeout):
        return down(f"{service} unreachable", f"{where} did not answer in time — check the network; "
                    "retried later", retryable=True)
    if isinstance(exc, requests.ConnectionError):
        return down(f"{service} unreachable", f"{where}: the connection was refused or reset — check the "
                    "network; retried later", retryable=True)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return down(f"{service} connection was cut off", f"{where}: the answer broke off; it resumes later",
                    retryable=True)
    return down(f"{service} request failed", f"{where}: {_kind(exc)}; retried later", retryable=True)


def _kind(exc: BaseException) -> str:
    """A short, secret-free description of what happened (shown, never decided on)."""
    return type(exc).__name__


# -- botocore (S3) --------------------------------------------------------------------------------

CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "TokenRefreshRequired")
REGION_CODES = ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException")
DENIED_CODES = ("AccessDenied", "AllAccessDisabled", "AccountProblem")
NAME_CODES = ("KeyTooLongError", "InvalidObjectName", "InvalidKey", "InvalidURI")
BUSY_CODES = ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling")
DAMAGED_CODES = ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidPart", "InvalidPartOrder",
                 "NoSuchUpload", "EntityTooSmall")


def botocore_code(exc: BaseException) -> str:
    """The store's error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def botocore_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def botocore_error(exc: BaseException, bucket: str, key: str, endpoint: str | None) -> ZoomwatchError:
    """One clear message per S3 failure, naming the bucket (and key) and what to do."""
    from botocore import exceptions as bx

    where = f"s3://{bucket}/{key}" if key else f"bucket {bucket}"
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return DestinationDown("No S3 credentials", "set them with: zoomwatch secret set s3.access_key_id "
                               "(and s3.secret_access_key), or use AWS_ACCESS_KEY_ID / an AWS profile",
                               retryable=False)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError
                  | bx.ConnectionClosedError | bx.ConnectionError):
        return DestinationDown("S3 endpoint unreachable",
                               f"{endpoint or 'AWS S3'} does not answer — check the network "
                               "(or destination.s3.endpoint_url); uploads resume when it is back", retryable=True)
    code, status = botocore_code(exc), botocore_status(exc)
    headers = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPHeaders", {})
    if code == "NoSuchBucket" or (status == 404 and not key):
        return DestinationDown("S3 bucket not found", f"bucket {bucket} does not exist — create it, or fix "
                               "destination.s3.bucket", retryable=False)
    if code in CREDENTIAL_CODES:
        return DestinationDown("S3 credentials rejected", f"the store refused the access key for bucket {bucket} "
                               f"({code}) — set the right key with: zoomwatch secret set s3.secret_access_key",
                               retryable=False)
    if code == "RequestTimeTooSkewed":
        return DestinationDown("Clock is wrong", f"this computer's clock differs too much from that of the store "
                               f"holding bucket {bucket} — set the time automatically (NTP); zoomwatch retries",
                               retryable=True)
    if code in REGION_CODES or status == 301:
        region = headers.get("x-amz-bucket-region", "")
        hint = f"it is in {region}: zoomwatch config set destination.s3.region {region}" if region else \
            "set destination.s3.region to the bucket's region"
        return DestinationDown("Wrong S3 region", f"bucket {bucket} is in another region — {hint}", retryable=False)
    if code in DENIED_CODES or status == 403:
        return DestinationDown("S3: access denied", f"the key may not write to {where} — give it s3:PutObject "
                               "(and multipart) permission on the bucket/prefix", retryable=False)
    if code in NAME_CODES:
        return ItemError("Name refused by the store", f"{where}: {code} — change naming.template", retryable=False)
    if code in BUSY_CODES or status >= 500:
        return DestinationDown("S3 store is busy or failing", f"{where}: {code or status} — retrying with backoff",
                               retryable=True)
    if code in DAMAGED_CODES:
        return ItemError("Upload was damaged in transit", f"{where}: {code}; it is sent again")
    return ItemError("S3 error", f"{where}: {code or _kind(exc)} {str(exc)[:200]}")
