"""A recording zoomwatch may not read is one file's error that names it, on every destination: the local
folder, S3 (SeaweedFS) and Supabase (the stand-in), through each upload path (a single write and the
multipart / resumable one). Not an "internal error", not a destination problem.

The tests run as root, which reads any file whatever its mode, so the upload itself runs with the
effective user and group set to `nobody` (real permission checks by the kernel, no stand-in for open()):
the file belongs to root with mode 600, in folders anyone may enter."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fakes.supabase_storage import MIB, FakeSupabaseStorage
from helpers import write_random
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

from zoomwatch.destinations.base import SourceFile, UploadSession
from zoomwatch.destinations.local import LocalDestination
from zoomwatch.destinations.s3 import S3Destination
from zoomwatch.destinations.supabase import SupabaseDestination
from zoomwatch.errors import ItemError

NOBODY = pwd.getpwnam("nobody")
MEETING = "2024-05-06 14.00.00 Board meeting 93456789012"
KEY = "2024/05/2024-05-06 14.00.00 Board meeting/zoom_0.mp4"
SIZES = {"single": 200_000, "multipart": 7 * MIB}  # S3 parts of 5 MB; Supabase: TUS above 6 MiB


@contextmanager
def as_nobody() -> Iterator[None]:
    os.setegid(NOBODY.pw_gid)
    os.seteuid(NOBODY.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shelf() -> Iterator[Path]:
    """A folder outside pytest's (root-only) temporary tree, that anyone may enter."""
    folder = Path(tempfile.mkdtemp(prefix="zw-unreadable-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def unreadable_recording(shelf: Path, size: int) -> Path:
    source = shelf / "Zoom" / MEETING / "zoom_0.mp4"
    write_random(source, size)
    for folder in (shelf / "Zoom", source.parent):
        folder.chmod(0o755)
    source.chmod(0o600)  # root's, and root's only
    with as_nobody(), pytest.raises(PermissionError):  # the kernel really refuses it to the upload below
        source.open("rb").close()
    return source


def assert_named_file_error(destination: object, source: Path, size: int) -> None:
    with as_nobody(), pytest.raises(ItemError) as caught:
        destination.upload(SourceFile(source, size), KEY, UploadSession())  # type: ignore[attr-defined]
    error = caught.value
    assert error.title == "Cannot read recording", error
    assert str(source) in error.message and "permission denied" in error.message.lower(), error
    assert error.retryable  # the permission may be given: tried again later


@pytest.fixture
def supabase() -> Iterator[FakeSupabaseStorage]:
    server = FakeSupabaseStorage(max_file_size=200 * MIB)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_local_folder(shelf: Path, size: int) -> None:
    backup = shelf / "backup"
    backup.mkdir()
    backup.chmod(0o777)  # the backup folder itself is writable for the upload's user
    source = unreadable_recording(shelf, size)
    assert_named_file_error(LocalDestination(backup), source, size)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_s3(app, s3: SeaweedS3, shelf: Path, size: int) -> None:
    bucket = f"unreadable-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=bucket)
    for key, value in (("destination.kind", "s3"), ("destination.s3.bucket", bucket),
                       ("destination.s3.endpoint_url", s3.endpoint), ("destination.s3.region", "us-east-1"),
                       ("destination.s3.addressing_style", "path"), ("destination.s3.part_size", "5M")):
        app.set(key, value)
    destination = S3Destination(app.load(), secrets={"s3.access_key_id": ACCESS_KEY,
                                                     "s3.secret_access_key": SECRET_KEY})
    destination.check()
    source = unreadable_recording(shelf, size)
    assert_named_file_error(destination, source, size)
    assert s3.client().list_objects_v2(Bucket=bucket).get("Contents", []) == []  # no part of it either


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_supabase(app, supabase: FakeSupabaseStorage, shelf: Path, size: int) -> None:
    supabase.create_bucket("recordings")
    for key, value in (("destination.kind", "supabase"), ("destination.supabase.url", supabase.url),
                       ("destination.supabase.bucket", "recordings")):
        app.set(key, value)
    destination = SupabaseDestination(app.load(), secrets={"supabase.key": supabase.service_key})
    destination.check()
    source = unreadable_recording(shelf, size)
    assert_named_file_error(destination, source, size)
    assert destination.stat(KEY) is None
