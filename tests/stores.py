"""The three destinations as `zoomwatch audit` and `zoomwatch restore` tests use them: a user's settings
pointing at a local folder, a real S3 server (SeaweedFS) or the Supabase Storage stand-in, and ways to
damage what is stored behind zoomwatch's back (delete, replace, replace keeping the stored checksum)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.supabase_storage import MIB, FakeSupabaseStorage
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
KINDS = ["local", "s3", "supabase"]
S3_PREFIX = "backups/ana"


@dataclass
class Store:
    kind: str
    app: Any
    delete: Callable[[str], None]
    replace: Callable[[str, bytes, bool], None]    # key, new bytes, keep the stored checksum beside them
    read: Callable[[str], bytes | None]
    keys: Callable[[], list[str]]
    break_it: Callable[[], None]                   # the destination can no longer be reached / refuses us
    large: int                                     # over the multipart / TUS threshold
    extra: dict[str, Any] = field(default_factory=dict)


def zw(app: Any, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True, text=True,
                          timeout=timeout)


def supabase_server() -> Iterator[FakeSupabaseStorage]:
    """The Supabase Storage stand-in for a test module (the module's `supabase` fixture yields from this)."""
    server = FakeSupabaseStorage(max_file_size=200 * MIB)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _env(app: Any, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    values = {"PYTHON_KEYRING_BACKEND": "crashing_keyring.CrashAfterTokenWrite",
              "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS / 'fakes'}", **values}
    app.env.update(values)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SUPABASE_KEY"):
        if name not in values:
            app.env.pop(name, None)
            monkeypatch.delenv(name, raising=False)


def local_store(request: pytest.FixtureRequest, app: Any, monkeypatch: pytest.MonkeyPatch) -> Store:
    _env(app, monkeypatch)
    backup: Path = app.backup

    def replace(key: str, data: bytes, keep: bool) -> None:
        (backup / key).write_bytes(data)

    def read(key: str) -> bytes | None:
        path = backup / key
        return path.read_bytes() if path.is_file() else None

    def keys() -> list[str]:
        return sorted(p.relative_to(backup).as_posix() for p in backup.rglob("*") if p.is_file())

    def break_it() -> None:  # the drive unplugged: the folder is gone
        shutil.move(str(backup), str(backup.with_name("unplugged")))

    return Store("local", app, lambda key: (backup / key).unlink(), replace, read, keys, break_it, 3 * MIB + 17)


def s3_store(request: pytest.FixtureRequest, app: Any, monkeypatch: pytest.MonkeyPatch) -> Store:
    server: SeaweedS3 = request.getfixturevalue("seaweed")
    bucket = f"zw-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    client = server.client()
    for key, value in (("destination.kind", "s3"), ("destination.s3.bucket", bucket),
                       ("destination.s3.endpoint_url", server.endpoint), ("destination.s3.region", "us-east-1"),
                       ("destination.s3.addressing_style", "path"), ("destination.s3.prefix", S3_PREFIX),
                       ("destination.s3.part_size", "5M"), ("destination.s3.concurrency", "2")):
        app.set(key, value)
    _env(app, monkeypatch, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)

    def full(key: str) -> str:
        return f"{S3_PREFIX}/{key}"

    def replace(key: str, data: bytes, keep: bool) -> None:
        kept = client.head_object(Bucket=bucket, Key=full(key))["Metadata"] if keep else {}
        client.put_object(Bucket=bucket, Key=full(key), Body=data, Metadata=kept)  # same x-amz-meta-sha256

    def read(key: str) -> bytes | None:
        try:
            return client.get_object(Bucket=bucket, Key=full(key))["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    def keys() -> list[str]:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(o["Key"][len(S3_PREFIX) + 1:] for o in listed)

    def break_it() -> None:  # credentials the server refuses
        app.env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"

    return Store("s3", app, lambda key: client.delete_object(Bucket=bucket, Key=full(key)), replace, read, keys,
                 break_it, 11 * MIB + 17, {"bucket": bucket})


def supabase_store(request: pytest.FixtureRequest, app: Any, monkeypatch: pytest.MonkeyPatch) -> Store:
    fake: FakeSupabaseStorage = request.getfixturevalue("supabase")
    bucket = f"zw-{uuid.uuid4().hex[:12]}"
    fake.create_bucket(bucket)
    for key, value in (("destination.kind", "supabase"), ("destination.supabase.url", fake.url),
                       ("destination.supabase.bucket", bucket)):
        app.set(key, value)
    _env(app, monkeypatch, SUPABASE_KEY=fake.service_key)

    def replace(key: str, data: bytes, keep: bool) -> None:
        stored = fake.objects[(bucket, key)]
        stored.data = data
        if not keep:
            stored.metadata = None

    def read(key: str) -> bytes | None:
        found = fake.objects.get((bucket, key))
        return bytes(found.data) if found is not None else None

    def keys() -> list[str]:
        return sorted(name for (b, name) in list(fake.objects) if b == bucket)

    def break_it() -> None:  # a key the project does not accept
        app.env["SUPABASE_KEY"] = "not-a-supabase-key"

    return Store("supabase", app, lambda key: fake.objects.pop((bucket, key)), replace, read, keys, break_it,
                 13 * MIB + 17)


STORES = {"local": local_store, "s3": s3_store, "supabase": supabase_store}

FIXTURES = """
Each test module that uses a Store defines (pytest finds fixtures by the names in the module itself):

    @pytest.fixture(scope="module")
    def supabase(): yield from stores.supabase_server()

    @pytest.fixture(params=stores.KINDS)
    def store(request, app, monkeypatch): return stores.STORES[request.param](request, app, monkeypatch)
"""
