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
from zoomwatch.i18n import N_

_GONE = {errno.ENOENT, errno.ENOTDIR}
_DENIED = {errno.EACCES, errno.EPERM}


# -- OS errors ------------------------------------------------------------------------------------

def source_error(exc: OSError, path: Any, *, doing: str = N_("before it was backed up")) -> ItemError:
    """An OSError met while reading the recording at `path`: gone (deleted or renamed), or unreadable
    (no permission, an I/O error), the message naming the file and what to do."""
    name = os.fsdecode(path)
    if isinstance(exc, FileNotFoundError | NotADirectoryError) or exc.errno in _GONE:
        return SourceGone(N_("File vanished"), N_("{name} was deleted or renamed {doing}", name=name, doing=doing))
    if isinstance(exc, PermissionError) or exc.errno in _DENIED:
        return SourceUnreadable(N_("Cannot read recording"), N_("{name}: permission denied — let the user running "
                                "zoomwatch read it; retried later", name=name))
    reason = exc.strerror or (errno.errorcode.get(exc.errno, "") if exc.errno else "") or N_("read error")
    return SourceUnreadable(N_("Cannot read recording"), N_("{name}: {reason}; retried later", name=name,
                                                            reason=reason))


# -- HTTP (requests) ------------------------------------------------------------------------------

def http_status_error(status: int, *, service: str, where: str,
                      down: type[ZoomwatchError] = ServiceDown) -> ZoomwatchError:
    """An HTTP failure status from `service`: busy or failing (429, 5xx: retried later, as `down`), gone
    (404, 410: this item), refused (any other 4xx: this item, not retried as is)."""
    if status == 429 or status >= 500:
        return down(N_("{service} is busy or failing", service=service),
                    N_("{where}: HTTP {status}; retried later", where=where, status=str(status)), retryable=True)
    if status in (404, 410):
        return ItemError(N_("{service} no longer has it", service=service),
                         N_("{where}: HTTP {status}; it is looked up again later", where=where, status=str(status)))
    return ItemError(N_("{service} refused a request", service=service), f"{where}: HTTP {status}", retryable=False)


def requests_error(exc: BaseException, *, service: str, where: str,
                   down: type[ZoomwatchError] = ServiceDown) -> ZoomwatchError:
    """A requests exception from `service` at `where` (a URL or host, never one carrying a token):
    a time-out, a refused, reset or cut connection (retried later, as `down`), or an HTTPError's status."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return http_status_error(exc.response.status_code, service=service, where=where, down=down)
    if isinstance(exc, requests.Timeout):
        return down(N_("{service} unreachable", service=service), N_("{where} did not answer in time — check the "
                    "network; retried later", where=where), retryable=True)
    if isinstance(exc, requests.ConnectionError):
        return down(N_("{service} unreachable", service=service), N_("{where}: the connection was refused or "
                    "reset — check the network; retried later", where=where), retryable=True)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return down(N_("{service} connection was cut off", service=service),
                    N_("{where}: the answer broke off; it resumes later", where=where), retryable=True)
    return down(N_("{service} request failed", service=service),
                N_("{where}: {kind}; retried later", where=where, kind=_kind(exc)), retryable=True)


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

    where = f"s3://{bucket}/{key}" if key else N_("bucket {bucket}", bucket=bucket)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return DestinationDown(N_("No S3 credentials"), N_("set them with: zoomwatch secret set s3.access_key_id "
                               "(and s3.secret_access_key), or use AWS_ACCESS_KEY_ID / an AWS profile"),
                               retryable=False)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError
                  | bx.ConnectionClosedError | bx.ConnectionError):
        return DestinationDown(N_("S3 endpoint unreachable"),
                               N_("{endpoint} does not answer — check the network "
                               "(or destination.s3.endpoint_url); uploads resume when it is back",
                                  endpoint=endpoint or "AWS S3"), retryable=True)
    code, status = botocore_code(exc), botocore_status(exc)
    headers = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPHeaders", {})
    if code == "NoSuchBucket" or (status == 404 and not key):
        return DestinationDown(N_("S3 bucket not found"), N_("bucket {bucket} does not exist — create it, or fix "
                               "destination.s3.bucket", bucket=bucket), retryable=False)
    if code in CREDENTIAL_CODES:
        return DestinationDown(N_("S3 credentials rejected"), N_("the store refused the access key for bucket "
                               "{bucket} ({code}) — set the right key with: zoomwatch secret set s3.secret_access_key",
                               bucket=bucket, code=code), retryable=False)
    if code == "RequestTimeTooSkewed":
        return DestinationDown(N_("Clock is wrong"), N_("this computer's clock differs too much from that of the "
                               "store holding bucket {bucket} — set the time automatically (NTP); zoomwatch retries",
                               bucket=bucket), retryable=True)
    if code in REGION_CODES or status == 301:
        region = headers.get("x-amz-bucket-region", "")
        hint = N_("it is in {region}: zoomwatch config set destination.s3.region {region}", region=region) \
            if region else N_("set destination.s3.region to the bucket's region")
        return DestinationDown(N_("Wrong S3 region"), N_("bucket {bucket} is in another region — {hint}",
                                                         bucket=bucket, hint=hint), retryable=False)
    if code in DENIED_CODES or status == 403:
        return DestinationDown(N_("S3: access denied"), N_("the key may not write to {where} — give it s3:PutObject "
                               "(and multipart) permission on the bucket/prefix", where=where), retryable=False)
    if code in NAME_CODES:
        return ItemError(N_("Name refused by the store"), N_("{where}: {code} — change naming.template",
                                                             where=where, code=code), retryable=False)
    if code in BUSY_CODES or status >= 500:
        return DestinationDown(N_("S3 store is busy or failing"), N_("{where}: {code} — retrying with backoff",
                               where=where, code=code or str(status)), retryable=True)
    if code in DAMAGED_CODES:
        return ItemError(N_("Upload was damaged in transit"), N_("{where}: {code}; it is sent again",
                                                                 where=where, code=code))
    return ItemError(N_("S3 error"), f"{where}: {code or _kind(exc)} {str(exc)[:200]}")
