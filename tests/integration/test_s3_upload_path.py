"""The S3 upload path of issue 17, against a real S3 server (SeaweedFS on loopback): a new recording is read
from disk once (HEAD first, no whole-file pre-pass); its SHA-256, known only at the end, is recorded as the
object's tag and stat() returns it; no Content-MD5 beside a SHA-256 the store verifies, and a part damaged on
its way is still caught (by the store's checksum of the part, or by the MD5 ETag where the store ignores
checksums); a
resume after SIGKILL re-sends no stored part and reads each byte of the file once."""

from __future__ import annotations

import hashlib
import io
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import stop_process, wait_for, write_random
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

from zoomwatch import config as configmod
from zoomwatch.core.safety import Verdict, check_backup
from zoomwatch.destinations import base
from zoomwatch.destinations.base import SourceFile, UploadSession
from zoomwatch.destinations.s3 import S3Destination
from zoomwatch.errors import ZoomwatchError
from zoomwatch.paths import AppPaths

MIB = 1024 * 1024
MEETING = "2024-05-06 14.00.00 Board meeting 93456789012"
KEY = "backups/ana/2024/05/2024-05-06 14.00.00 Board meeting/zoom_0.mp4"


@pytest.fixture
def bucket(s3: SeaweedS3) -> str:
    return s3.create_bucket(f"zw-{uuid.uuid4().hex[:12]}")


S3_SETTINGS = (("destination.s3.region", "us-east-1"), ("destination.s3.addressing_style", "path"),
               ("destination.s3.prefix", "backups/ana"), ("destination.s3.part_size", "5M"),
               ("destination.s3.concurrency", "2"))


def destination(s3: SeaweedS3, bucket: str, tmp: Path) -> S3Destination:
    checked = {name: key.default for name, key in configmod.KEYS.items()}
    for name, value in (("destination.kind", "s3"), ("destination.s3.bucket", bucket),
                        ("destination.s3.endpoint_url", s3.endpoint), *S3_SETTINGS):
        checked[name] = configmod.check_value(name, value)
    paths = AppPaths(*(tmp / "app" / part for part in ("config", "data", "state", "log", "cache")))
    return S3Destination(configmod.Config(checked, (), paths),
                         secrets={"s3.access_key_id": ACCESS_KEY, "s3.secret_access_key": SECRET_KEY})


class _Counting(io.RawIOBase):
    """The source file as zoomwatch opens it, counting the bytes read from it."""

    def __init__(self, raw: io.BufferedReader, counter: list[int]) -> None:
        self._raw, self._counter = raw, counter

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._counter[0] += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        self._counter[0] += n or 0
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return self._raw.closed


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counter = [0]
    real_open = base.open_source
    monkeypatch.setattr(base, "open_source", lambda path: _Counting(real_open(path), counter))
    return counter


@pytest.fixture
def s3app(app, s3: SeaweedS3, bucket: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in (("destination.kind", "s3"), ("destination.s3.bucket", bucket),
                       ("destination.s3.endpoint_url", s3.endpoint), *S3_SETTINGS):
        app.set(key, value)
    creds = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
             "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    app.env.update(creds)
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
    return app


def run_once_here(app) -> Any:  # type: ignore[no-untyped-def]
    from zoomwatch.app import Engine

    engine = Engine(app.load())
    try:
        return engine.run_once(max_wait=60)
    finally:
        engine.close()


def stored_sha(s3: SeaweedS3, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in s3.client().get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(MIB):
        digest.update(chunk)
    return digest.hexdigest()


def test_a_new_recording_is_read_once_and_its_sha256_is_the_objects_tag(s3app, s3, bucket, bytes_read, tmp_path):
    size = 23 * MIB + 17
    digest = write_random(s3app.zoom / MEETING / "zoom_0.mp4", size, seed=3)
    result = run_once_here(s3app)
    assert result.ok, result
    # HEAD first: the key was free, so nothing hashed the file before the upload, which read it once
    assert bytes_read[0] == size, f"read {bytes_read[0] / size:.2f} x the file"
    assert stored_sha(s3, bucket, KEY) == digest
    assert s3.client().get_object_tagging(Bucket=bucket, Key=KEY)["TagSet"] == [{"Key": "sha256", "Value": digest}]
    dest = destination(s3, bucket, tmp_path)
    found = dest.stat(KEY.removeprefix("backups/ana/"))
    assert found is not None and (found.size, found.sha256) == (size, digest)
    check = check_backup(dest, KEY.removeprefix("backups/ana/"), size, digest)
    assert check.verdict is Verdict.SAFE and not check.read_back


def test_stat_reads_the_sha256_tag_of_an_object_stored_by_another_tool(s3, bucket, tmp_path):
    """S3 leaves TagCount out of a HEAD: stat() asks for the tags when the metadata has no checksum."""
    data = b"recorded elsewhere" * 1000
    client = s3.client()
    client.put_object(Bucket=bucket, Key="backups/ana/x.mp4", Body=data)
    dest = destination(s3, bucket, tmp_path)
    assert dest.stat("x.mp4") == base.RemoteObject(len(data), None)  # no tag, no metadata: None, not absent
    dest.record_sha256("backups/ana/x.mp4", hashlib.sha256(data).hexdigest())
    assert dest.stat("x.mp4") == base.RemoteObject(len(data), hashlib.sha256(data).hexdigest())


def _headers_sent(dest: S3Destination, operation: str) -> list[dict[str, str]]:
    sent: list[dict[str, str]] = []
    dest.client.meta.events.register(f"before-send.s3.{operation}",
                                     lambda request, **kw: sent.append(dict(request.headers)))
    return sent


@pytest.mark.parametrize("size", [3 * MIB, 12 * MIB])  # one PUT; a multipart upload of three parts
def test_no_content_md5_beside_the_sha256_the_store_verifies(s3, bucket, tmp_path, size):
    path = tmp_path / "zoom_0.mp4"
    digest = write_random(path, size)
    dest = destination(s3, bucket, tmp_path)
    sent = _headers_sent(dest, "PutObject" if size < dest.part_size else "UploadPart")
    assert dest.upload(SourceFile(path, size), "m/zoom_0.mp4", UploadSession()) == digest
    checksum = "x-amz-checksum-sha256" if size < dest.part_size else "x-amz-checksum-crc32"  # see multipart.py
    assert sent and all(checksum in h for h in sent)
    assert not any("Content-MD5" in h for h in sent)
    assert all(h["X-Amz-Content-SHA256"] == b"UNSIGNED-PAYLOAD" or h["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
               for h in sent), "the signature hashed the body a third time"
    assert dest.checksum_echo is True and dest.stat("m/zoom_0.mp4").sha256 == digest  # type: ignore[union-attr]


def test_a_part_damaged_on_its_way_is_refused_by_the_store(s3, bucket, tmp_path):
    path = tmp_path / "zoom_0.mp4"
    write_random(path, 12 * MIB)
    dest = destination(s3, bucket, tmp_path)
    client = _Damaging(dest.client, keep_checksum=True)
    dest._client = client
    with pytest.raises(ZoomwatchError) as failed:
        dest.upload(SourceFile(path, 12 * MIB), "m/zoom_0.mp4", UploadSession())
    assert "damaged" in failed.value.title.lower(), failed.value
    assert client.calls and dest.stat("m/zoom_0.mp4") is None


class _Damaging:
    """The first part sent is damaged on its way (one byte flipped after it was hashed). Without
    keep_checksum the store also ignores x-amz-checksum-sha256 (it is not sent; nothing is echoed): only the
    MD5 (Content-MD5, the ETag) can catch it."""

    def __init__(self, client: Any, *, keep_checksum: bool = False) -> None:
        self._client = client
        self.calls: list[dict[str, Any]] = []
        self.damage_next = True
        self.keep_checksum = keep_checksum

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kw: Any) -> Any:
        if not self.keep_checksum:
            kw = {k: v for k, v in kw.items() if not k.startswith("Checksum")}
        self.calls.append({k: v for k, v in kw.items() if k != "Body"})
        if self.damage_next:
            self.damage_next = False
            kw["Body"] = bytes([kw["Body"][0] ^ 0xFF]) + kw["Body"][1:]
        response = self._client.upload_part(**kw)
        if not self.keep_checksum:  # SeaweedFS echoes the checksum it computed itself for an upload that has one
            response = {k: v for k, v in response.items() if not k.startswith("Checksum")}
        return response


def test_a_store_ignoring_checksums_gets_content_md5_and_a_damaged_part_is_caught(s3, bucket, tmp_path):
    path = tmp_path / "zoom_0.mp4"
    digest = write_random(path, 12 * MIB)
    dest = destination(s3, bucket, tmp_path)
    dest.concurrency = 1
    client = _Damaging(dest.client)
    dest._client = client
    with pytest.raises(ZoomwatchError, match="ETag differs"):
        dest.upload(SourceFile(path, 12 * MIB), "m/zoom_0.mp4", UploadSession())
    assert dest.checksum_echo is False and "ContentMD5" not in client.calls[0]
    client.calls.clear()
    assert dest.upload(SourceFile(path, 12 * MIB), "m/zoom_0.mp4", UploadSession()) == digest
    assert len(client.calls) == 3 and all("ContentMD5" in c for c in client.calls)
    assert stored_sha(s3, bucket, "backups/ana/m/zoom_0.mp4") == digest


def test_resume_after_sigkill_resends_no_stored_part_and_reads_the_file_once(s3app, s3, bucket, bytes_read):
    size = 60 * MIB
    s3app.set("transfer.bandwidth_limit", "8M")
    digest = write_random(s3app.zoom / MEETING / "zoom_0.mp4", size, seed=5)
    run = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=s3app.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)

    def stored_parts() -> list[int]:
        uploads = s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        if not uploads:
            return []
        listed = s3.client().list_parts(Bucket=bucket, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"])
        return [p["PartNumber"] for p in listed.get("Parts", [])]

    try:
        wait_for(lambda: len(stored_parts()) >= 5, timeout=180, what="five of twelve parts stored at the server")
    finally:
        stop_process(run, signal.SIGKILL)
    before = stored_parts()
    s3app.set("transfer.bandwidth_limit", "0")
    sent: list[int] = []
    from botocore.hooks import HierarchicalEmitter

    real_emit = HierarchicalEmitter.emit

    def noting(self: Any, event_name: str, **kwargs: Any) -> Any:
        if event_name.startswith("before-send.s3.UploadPart"):
            sent.append(int(re.search(r"partNumber=(\d+)", kwargs["request"].url)[1]))  # type: ignore[index]
        return real_emit(self, event_name, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HierarchicalEmitter, "emit", noting)
        result = run_once_here(s3app)
    assert result.ok, result
    assert not set(sent) & set(before), f"stored parts {before} sent again: {sent}"
    assert sorted(sent + before) == list(range(1, 13))
    assert bytes_read[0] == size, f"the second run read {bytes_read[0] / size:.2f} x the file"
    assert stored_sha(s3, bucket, KEY) == digest
    assert s3.client().get_object_tagging(Bucket=bucket, Key=KEY)["TagSet"] == [{"Key": "sha256", "Value": digest}]
