"""S3 error messages and part sizing: what a user reads when the store says no."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from zoomwatch.destinations.s3 import MAX_PARTS, part_size_for, translate
from zoomwatch.errors import DestinationError, ItemError

MIB = 1024 * 1024


def client_error(code: str, status: int, headers: dict[str, str] | None = None) -> ClientError:
    response = {"Error": {"Code": code, "Message": code},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}}}
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 1, 8 * MIB, 80 * 1024**3, 5 * 1024**4])
def test_any_file_up_to_5_tib_fits_in_10000_parts(size):
    part = part_size_for(size, 8 * MIB)
    assert part >= 8 * MIB and part % MIB == 0
    assert -(-size // part) <= MAX_PARTS


def test_part_size_grows_with_the_file_up_to_16_mib():
    """Measured (issue 17, BENCHMARKS.md): 16 MiB parts beat the 8 MiB setting on big files."""
    assert part_size_for(200 * MIB, 8 * MIB) == 8 * MIB  # a short recording: the setting
    assert part_size_for(384 * MIB, 8 * MIB) == 12 * MIB
    assert part_size_for(512 * MIB, 8 * MIB) == part_size_for(6 * 1024**3, 8 * MIB) == 16 * MIB
    assert part_size_for(6 * 1024**3, 32 * MIB) == 32 * MIB  # a bigger setting is kept
    assert part_size_for(200 * 1024**3, 8 * MIB) == 21 * MIB  # 10,000 parts at most


@pytest.mark.parametrize("code,status,title,retryable", [
    ("NoSuchBucket", 404, "S3 bucket not found", False),
    ("InvalidAccessKeyId", 403, "S3 credentials rejected", False),
    ("SignatureDoesNotMatch", 403, "S3 credentials rejected", False),
    ("AccessDenied", 403, "S3: access denied", False),
    ("RequestTimeTooSkewed", 403, "Clock is wrong", True),
    ("SlowDown", 503, "S3 store is busy or failing", True),
    ("InternalError", 500, "S3 store is busy or failing", True),
])
def test_store_refusals_become_clear_destination_errors(code, status, title, retryable):
    error = translate(client_error(code, status), "team-recordings", "2024/zoom_0.mp4", None)
    assert isinstance(error, DestinationError)
    assert (error.title, error.retryable) == (title, retryable)
    assert "team-recordings" in error.message


def test_wrong_region_names_the_right_one():
    error = translate(client_error("PermanentRedirect", 301, {"x-amz-bucket-region": "eu-west-1"}),
                      "team-recordings", "", None)
    assert error.title == "Wrong S3 region"
    assert "zoomwatch config set destination.s3.region eu-west-1" in error.message


def test_a_key_the_store_refuses_holds_only_that_file():
    error = translate(client_error("KeyTooLongError", 400), "b", "x" * 2000, None)
    assert isinstance(error, ItemError) and not error.retryable and "naming.template" in error.message


def test_network_and_credential_failures():
    down = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "b", "k", "http://127.0.0.1:9")
    assert down.title == "S3 endpoint unreachable" and down.retryable and "127.0.0.1:9" in down.message
    none = translate(NoCredentialsError(), "b", "k", None)
    assert none.title == "No S3 credentials" and "zoomwatch secret set s3.access_key_id" in none.message
