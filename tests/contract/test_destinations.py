"""One contract every backup destination keeps, run against each of them (as rclone's fstests run one
suite against every backend): the local folder, a real S3 server (SeaweedFS on loopback) and the
Supabase Storage stand-in (REST + TUS, through the real storage3 and tuspy clients).

Each destination is opened the way zoomwatch opens it (`open_destination` on validated settings); each
server starts once for the module and each test gets a fresh folder or bucket. What is stored is read
back through the store itself (the file, GetObject, the stand-in's objects), found from `location()`.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fakes.supabase_storage import MIB, FakeSupabaseStorage
from helpers import write_random
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

from zoomwatch import config as configmod
from zoomwatch.destinations import Destination, open_destination
from zoomwatch.destinations.base import Cancelled, SourceFile, UploadSession
from zoomwatch.destinations.local import PARTIAL_SUFFIX
from zoomwatch.errors import DestinationError, FileGone, ItemError, ZoomwatchError
from zoomwatch.paths import AppPaths

KEY = "2024/05/2024-05-06 14.00.00 Board meeting/zoom_0.mp4"
PREFIX = "contract/ana"


@dataclass
class Backend:
    """One destination under test, and how to look into its store behind its back."""

    name: str
    dest: Destination
    large: int                                  # a size over the multipart / TUS threshold
    read: Callable[[str], bytes | None]         # what the store holds at a location(), None when absent
    stored: Callable[[], list[str]]             # every object or file the store lists
    unfinished: Callable[[], list[str]]         # unfinished uploads the store still keeps
    broken: Callable[[], Destination]           # the same kind, set up so that nothing can be stored


def settings(tmp: Path, **values: str) -> configmod.Config:
    """Settings as zoomwatch would have them: defaults, and `values` checked like a config file's."""
    checked = {name: key.default for name, key in configmod.KEYS.items()}
    for dotted, value in values.items():
        name = dotted.replace("__", ".")
        checked[name] = configmod.check_value(name, value)
    paths = AppPaths(*(tmp / "app" / part for part in ("config", "data", "state", "log", "cache")))
    return configmod.Config(checked, (), paths)


# -- the servers, started once per module ---------------------------------------------------------------


@pytest.fixture(scope="module")
def supabase() -> Iterator[FakeSupabaseStorage]:
    server = FakeSupabaseStorage(max_file_size=200 * MIB)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- one backend per parameter ------------------------------------------------------------------------


def local_backend(request: pytest.FixtureRequest, tmp: Path) -> Backend:
    root = tmp / "backup"
    root.mkdir()
    dest = open_destination(settings(tmp, destination__kind="local", destination__local__path=str(root)))

    def read(location: str) -> bytes | None:
        path = Path(location)
        return path.read_bytes() if path.is_file() else None

    def stored() -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def unfinished() -> list[str]:
        return [name for name in stored() if name.endswith(PARTIAL_SUFFIX)]

    def broken() -> Destination:  # a chosen folder that is not there (a drive not plugged in)
        return open_destination(settings(tmp, destination__kind="local",
                                         destination__local__path=str(tmp / "unplugged" / "backup")))

    return Backend("local", dest, 3 * MIB + 17, read, stored, unfinished, broken)


def s3_backend(request: pytest.FixtureRequest, tmp: Path) -> Backend:
    server: SeaweedS3 = request.getfixturevalue("seaweed")
    bucket = f"zw-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)  # waits until the new bucket takes writes
    client = server.client()
    cfg = settings(tmp, destination__kind="s3", destination__s3__bucket=bucket,
                   destination__s3__endpoint_url=server.endpoint, destination__s3__region="us-east-1",
                   destination__s3__addressing_style="path", destination__s3__prefix=PREFIX,
                   destination__s3__part_size="5M", destination__s3__concurrency="1")
    dest = open_destination(cfg, secrets={"s3.access_key_id": ACCESS_KEY, "s3.secret_access_key": SECRET_KEY})

    def read(location: str) -> bytes | None:
        assert location.startswith(f"s3://{bucket}/"), location
        try:
            return client.get_object(Bucket=bucket, Key=location[len(f"s3://{bucket}/"):])["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    def stored() -> list[str]:
        return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))

    def unfinished() -> list[str]:
        return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    def broken() -> Destination:  # credentials the server does not know
        return open_destination(cfg, secrets={"s3.access_key_id": "nobody", "s3.secret_access_key": "wrong-secret"})

    return Backend("s3", dest, 11 * MIB + 17, read, stored, unfinished, broken)


def supabase_backend(request: pytest.FixtureRequest, tmp: Path) -> Backend:
    fake: FakeSupabaseStorage = request.getfixturevalue("supabase")
    bucket = f"zw-{uuid.uuid4().hex[:12]}"
    fake.create_bucket(bucket)
    cfg = settings(tmp, destination__kind="supabase", destination__supabase__url=fake.url,
                   destination__supabase__bucket=bucket, destination__supabase__prefix=PREFIX)
    dest = open_destination(cfg, secrets={"supabase.key": fake.service_key})
    base = f"{fake.url}/storage/v1/object/{bucket}/"

    def read(location: str) -> bytes | None:
        assert location.startswith(base), location
        found = fake.objects.get((bucket, unquote(location[len(base):])))
        return bytes(found.data) if found is not None else None

    def stored() -> list[str]:
        return sorted(name for (b, name) in list(fake.objects) if b == bucket)

    def unfinished() -> list[str]:
        return [u.name for u in list(fake.uploads.values()) if u.bucket == bucket and not u.finished]

    def broken() -> Destination:  # a key the project does not accept
        return open_destination(cfg, secrets={"supabase.key": "not-a-supabase-key"})

    return Backend("supabase", dest, 13 * MIB + 17, read, stored, unfinished, broken)


BACKENDS = {"local": local_backend, "s3": s3_backend, "supabase": supabase_backend}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SUPABASE_KEY"):
        monkeypatch.delenv(name, raising=False)
    return BACKENDS[request.param](request, tmp_path)


class Recorder:
    """An UploadSession's callbacks, recorded; `stop_after` sets stop once that many bytes are reported."""

    def __init__(self, resume: dict[str, Any] | None = None, stop_after: int | None = None) -> None:
        self.saved: list[dict[str, Any]] = []
        self.sent = 0
        self.stop_after = stop_after
        self.session = UploadSession(resume=resume, save_resume=self.saved.append, progress=self.progress,
                                     throttle=self.throttle, stop=threading.Event())

    def progress(self, done: int) -> None:
        if self.stop_after is not None and done >= self.stop_after:
            self.session.stop.set()

    def throttle(self, nbytes: int) -> None:
        self.sent += nbytes

    @property
    def resume(self) -> dict[str, Any] | None:
        return self.saved[-1] if self.saved else None


def upload(backend: Backend, source: Path, key: str, recorder: Recorder | None = None) -> str:
    recorder = recorder or Recorder()
    return backend.dest.upload(SourceFile.of(source), backend.dest.adapt_key(key), recorder.session)


def cancelled_upload(backend: Backend, source: Path, key: str) -> Recorder:
    """An upload of `source` stopped once its first chunk or part is through: Cancelled, resume state saved."""
    first = Recorder(stop_after=1)
    with pytest.raises(Cancelled):
        upload(backend, source, key, first)
    assert first.resume, f"{backend.name}: a cancelled upload saved no resume state"
    assert 0 < first.sent < source.stat().st_size, f"{backend.name}: sent {first.sent} bytes before stopping"
    return first


# -- the contract ---------------------------------------------------------------------------------------


def test_check_passes_and_leaves_nothing_behind(backend: Backend) -> None:
    backend.dest.check()
    assert backend.stored() == []
    assert backend.dest.id and backend.dest.label


def test_a_destination_that_cannot_store_says_so_and_never_answers_absent(backend: Backend) -> None:
    """check() raises DestinationError; stat() raises too, rather than saying "absent" (which would make
    the workers upload again, or take a missing drive for an empty one)."""
    dest = backend.broken()
    with pytest.raises(DestinationError) as raised:
        dest.check()
    assert raised.value.title and raised.value.message
    assert "wrong-secret" not in str(raised.value) and "not-a-supabase-key" not in str(raised.value)
    with pytest.raises(DestinationError):
        dest.stat(dest.adapt_key(KEY))


def test_stat_and_checksum_of_an_absent_key_are_none(backend: Backend) -> None:
    key = backend.dest.adapt_key(KEY)
    assert backend.dest.stat(key) is None
    assert backend.dest.checksum(key) is None


@pytest.mark.parametrize("size", ["small", "large"])
def test_upload_stores_the_bytes_and_says_their_sha256(backend: Backend, tmp_path: Path, size: str) -> None:
    length = 3000 if size == "small" else backend.large
    source = tmp_path / "zoom_0.mp4"
    sha = write_random(source, length, seed=7)
    recorder = Recorder()
    assert upload(backend, source, KEY, recorder) == sha
    key = backend.dest.adapt_key(KEY)
    found = backend.dest.stat(key)
    assert found is not None and found.size == length and found.sha256 in (None, sha)
    assert backend.dest.checksum(key) == sha
    data = backend.read(backend.dest.location(key))
    assert data is not None and hashlib.sha256(data).hexdigest() == sha
    assert recorder.sent == length, "every byte goes through the throttle exactly once"
    assert backend.unfinished() == []


def test_a_cancelled_upload_resumes_and_ends_byte_identical(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "zoom_0.mp4"
    size = backend.large
    sha = write_random(source, size, seed=11)
    first = cancelled_upload(backend, source, KEY)
    key = backend.dest.adapt_key(KEY)
    assert backend.dest.stat(key) is None, "a cancelled upload is not a stored file"
    second = Recorder(resume=first.resume)
    assert upload(backend, source, KEY, second) == sha
    assert second.sent < size, f"{backend.name}: the second upload sent {second.sent} of {size} bytes: no resume"
    assert first.sent + second.sent >= size
    data = backend.read(backend.dest.location(key))
    assert data is not None and len(data) == size and hashlib.sha256(data).hexdigest() == sha
    assert backend.dest.checksum(key) == sha
    assert backend.unfinished() == []


def test_discard_removes_an_unfinished_upload(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "zoom_0.mp4"
    sha = write_random(source, backend.large, seed=13)
    first = cancelled_upload(backend, source, KEY)
    assert backend.unfinished() != [], f"{backend.name}: the unfinished upload is not observable"
    backend.dest.discard(first.resume)
    assert backend.unfinished() == []
    assert backend.stored() == []
    backend.dest.discard(first.resume)  # twice is harmless (a retry after a crash)
    backend.dest.discard(None)
    again = Recorder(resume=first.resume)  # a stale resume state after a discard: starts over, still right
    assert upload(backend, source, KEY, again) == sha
    assert backend.dest.checksum(backend.dest.adapt_key(KEY)) == sha


def test_write_small_replaces_what_was_there(backend: Backend) -> None:
    key = backend.dest.adapt_key("2024/05/2024-05-06 14.00.00 Board meeting/meeting.json")
    backend.dest.write_small(key, b'{"title": "first"}')
    backend.dest.write_small(key, b'{"t": 2}')
    assert backend.read(backend.dest.location(key)) == b'{"t": 2}'
    found = backend.dest.stat(key)
    assert found is not None and found.size == len(b'{"t": 2}')
    assert [name for name in backend.stored() if not name.endswith("meeting.json")] == []


def test_checksum_reads_back_what_write_small_stored(backend: Backend, request: pytest.FixtureRequest) -> None:
    """Destination.checksum: "the sha256 of what is stored at key (reading it back if need be)"."""
    key = backend.dest.adapt_key("2024/05/m/meeting.json")
    backend.dest.write_small(key, b'{"t": 2}')
    assert backend.dest.checksum(key) == hashlib.sha256(b'{"t": 2}').hexdigest()


def test_location_and_share_link(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "chat.txt"
    sha = write_random(source, 2048, seed=5)
    upload(backend, source, "2024/05/m/chat.txt")
    key = backend.dest.adapt_key("2024/05/m/chat.txt")
    location = backend.dest.location(key)
    assert location.endswith("chat.txt") and key.split("/")[0] in location
    link = backend.dest.share_link(key)
    assert backend.dest.makes_links is (link is not None)  # what the dashboard's button says (link or path)
    if backend.name == "local":
        assert link is None and Path(location).is_absolute()
        return
    assert link is not None and link.startswith(("http://", "https://"))
    with urllib.request.urlopen(link, timeout=30) as answer:  # noqa: S310 - a loopback test server
        assert hashlib.sha256(answer.read()).hexdigest() == sha


@pytest.mark.parametrize("key", [KEY, "2024/07/2024-07-01 09.30.00 Réunion d'équipe/zoom_0.mp4",
                                 "2024/07/会議 🎥/audio?#1.m4a"])
def test_adapt_key_is_idempotent(backend: Backend, key: str) -> None:
    once = backend.dest.adapt_key(key)
    assert backend.dest.adapt_key(once) == once
    assert once.count("/") == key.count("/")


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_source_deleted_before_its_upload_is_file_gone(backend: Backend, tmp_path: Path, size: str) -> None:
    source = tmp_path / "zoom_0.mp4"
    length = 3000 if size == "small" else backend.large
    write_random(source, length, seed=19)
    source.unlink()
    with pytest.raises(FileGone) as raised:
        backend.dest.upload(SourceFile(source, length), backend.dest.adapt_key(KEY), Recorder().session)
    assert str(source) in raised.value.message
    assert backend.dest.stat(backend.dest.adapt_key(KEY)) is None


# -- a source file the OS will not let zoomwatch read ----------------------------------------------------


@contextmanager
def unreadable(source: Path) -> Iterator[None]:
    """Every way Python opens a file refuses `source` with EACCES, as the OS does for a file without read
    permission (chmod cannot show it: the tests run as root, who reads everything)."""
    real_open, real_os_open = builtins.open, os.open
    target = os.path.realpath(source)

    def refused(file: Any) -> bool:
        return isinstance(file, (str, bytes, os.PathLike)) and os.path.realpath(os.fsdecode(file)) == target

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if refused(file):
            raise PermissionError(13, "Permission denied", os.fsdecode(file))
        return real_open(file, *args, **kwargs)

    def guarded_os_open(file: Any, *args: Any, **kwargs: Any) -> int:
        if refused(file):
            raise PermissionError(13, "Permission denied", os.fsdecode(file))
        return real_os_open(file, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", guarded_open)
        patch.setattr(io, "open", guarded_open)
        patch.setattr(os, "open", guarded_os_open)
        yield


# Known today (issue 12 item 2/6: the destinations' error translation is being reworked by another helper).


@pytest.mark.parametrize("size", ["small", "large"])
def test_an_unreadable_source_is_a_per_file_error_naming_it(backend: Backend, tmp_path: Path, size: str,
                                                            request: pytest.FixtureRequest) -> None:
    source = tmp_path / "zoom_0.mp4"
    length = 3000 if size == "small" else backend.large
    write_random(source, length, seed=17)
    with unreadable(source), pytest.raises(ZoomwatchError) as raised:
        upload(backend, source, KEY)
    assert isinstance(raised.value, ItemError) and not isinstance(raised.value, DestinationError)
    assert raised.value.retryable is not None
    assert str(source) in raised.value.message or source.name in raised.value.message
    assert backend.dest.stat(backend.dest.adapt_key(KEY)) is None


def test_check_backup_tells_safe_missing_and_different_from_the_store_itself(backend: Backend,
                                                                             tmp_path: Path) -> None:
    """The one safety check (audit, clean-up) answers from what the destination holds, not from the catalog."""
    from zoomwatch.core.safety import Verdict, check_backup

    source = tmp_path / "zoom_0.mp4"
    sha = write_random(source, 4000, seed=5)
    upload(backend, source, KEY, Recorder())
    key = backend.dest.adapt_key(KEY)
    assert check_backup(backend.dest, key, 4000, sha).verdict is Verdict.SAFE
    read = check_backup(backend.dest, key, 4000, sha, read_data=True)
    assert read.safe and read.read_back and read.sha256 == sha
    assert check_backup(backend.dest, key, 4001, sha).verdict is Verdict.DIFFERENT
    assert check_backup(backend.dest, key, 4000, "0" * 64).verdict is Verdict.DIFFERENT
    assert check_backup(backend.dest, backend.dest.adapt_key(KEY + ".other"), 4000, sha).verdict is Verdict.MISSING
    # read back: a size other than recorded is told with the object's own size, whether the read stopped
    # early (more bytes than recorded) or ran out; nothing at the key is missing, not different
    for recorded in (3999, 4001):
        other = check_backup(backend.dest, key, recorded, sha, read_data=True)
        assert (other.verdict, other.size, other.read_back) == (Verdict.DIFFERENT, 4000, True)
    absent = check_backup(backend.dest, backend.dest.adapt_key(KEY + ".other"), 4000, sha, read_data=True)
    assert absent.verdict is Verdict.MISSING
    if backend.name == "s3":  # a read-back asks the store once per object: one GET, no HEAD, no tagging
        calls: list[str] = []

        def count(model: Any, **_: Any) -> None:
            calls.append(model.name)

        events = backend.dest.client.meta.events  # type: ignore[attr-defined]
        events.register("before-call.s3", count)
        try:
            assert check_backup(backend.dest, key, 4000, sha, read_data=True).safe
        finally:
            events.unregister("before-call.s3", count)
        assert calls == ["GetObject"]
    backend.dest.write_small(key, b"x" * 4000)  # replaced behind the backup's back, same size
    assert check_backup(backend.dest, key, 4000, sha, read_data=True).verdict is Verdict.DIFFERENT
    for read_data in (False, True):  # a store that cannot answer is "could not check", never "missing"
        with pytest.raises(DestinationError):
            check_backup(backend.broken(), key, 4000, sha, read_data=read_data)


# -- listing and reading back (audit, ls, restore; issue 13) ---------------------------------------------


def corrupt_keeping_metadata(backend: Backend, key: str, data: bytes) -> None:
    """Replace the bytes stored at `key` behind the destination's back, keeping the checksum it stores beside
    them (S3: a PUT with the same x-amz-meta-sha256; Supabase: the stored object's bytes; a folder: the file)."""
    dest: Any = backend.dest
    if backend.name == "s3":
        full = dest.full_key(key)
        kept = dest.client.head_object(Bucket=dest.bucket, Key=full)["Metadata"]
        dest.client.put_object(Bucket=dest.bucket, Key=full, Body=data, Metadata=kept)
    elif backend.name == "supabase":
        fake: FakeSupabaseStorage = dest._fake
        fake.objects[(dest.bucket, dest.full_key(key))].data = data
    else:
        Path(dest.location(key)).write_bytes(data)


@pytest.fixture
def stored_tree(backend: Backend, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, tuple[int, str]]:
    """Two meetings' files and a meeting.json stored through the destination: key -> (size, sha256)."""
    if backend.name == "supabase":
        backend.dest._fake = request.getfixturevalue("supabase")  # type: ignore[attr-defined]
    tree: dict[str, tuple[int, str]] = {}
    for n, (key, size) in enumerate([(KEY, backend.large), ("2024/05/2024-05-07 09.00.00 Standup/audio_only.m4a", 5000),
                                     ("top-level.txt", 10)]):
        source = tmp_path / f"source-{n}"
        sha = write_random(source, size, seed=n)
        upload(backend, source, key)
        tree[backend.dest.adapt_key(key)] = (size, sha)
    sidecar = backend.dest.adapt_key("2024/05/2024-05-07 09.00.00 Standup/meeting.json")
    backend.dest.write_small(sidecar, b'{"title": "Standup"}')
    tree[sidecar] = (20, hashlib.sha256(b'{"title": "Standup"}').hexdigest())
    return tree


def test_list_names_every_stored_object_with_its_size(backend: Backend, stored_tree: dict[str, tuple[int, str]],
                                                      tmp_path: Path) -> None:
    backend.dest.check()  # a probe: never listed
    if backend.name == "local":  # an unfinished copy beside the backups: never listed
        cancelled_upload(backend, write_big(tmp_path / "big", backend.large), "2024/unfinished.mp4")
    listed = dict(backend.dest.list())
    assert {k: v.size for k, v in listed.items()} == {k: size for k, (size, _) in stored_tree.items()}
    assert all(v.sha256 in (None, stored_tree[k][1]) for k, v in listed.items())
    standup = backend.dest.adapt_key("2024/05/2024-05-07 09.00.00 Standup")
    assert sorted(k for k, _ in backend.dest.list(standup)) == sorted(k for k in stored_tree if k.startswith(standup))
    assert list(backend.dest.list(backend.dest.adapt_key("2023"))) == []


def write_big(path: Path, size: int) -> Path:
    write_random(path, size, seed=11)
    return path


def test_download_is_byte_identical_and_resumes_from_what_the_target_holds(
        backend: Backend, stored_tree: dict[str, tuple[int, str]], tmp_path: Path) -> None:
    key = backend.dest.adapt_key(KEY)
    size, sha = stored_tree[key]
    whole = tmp_path / "whole.mp4"
    seen: list[int] = []
    assert backend.dest.download(key, whole, progress=seen.append) == size
    assert hashlib.sha256(whole.read_bytes()).hexdigest() == sha and seen[-1] == size
    resumed = tmp_path / "resumed.mp4"
    resumed.write_bytes(whole.read_bytes()[: size // 3])  # a download cut off a third of the way
    seen.clear()
    assert backend.dest.download(key, resumed, progress=seen.append) == size
    assert resumed.read_bytes() == whole.read_bytes()
    assert seen[0] > size // 3, "only the rest was fetched"
    stopped = tmp_path / "stopped.mp4"
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        backend.dest.download(key, stopped, stop=stop)


def test_reading_an_absent_key_is_none_and_its_download_says_so(backend: Backend, tmp_path: Path) -> None:
    key = backend.dest.adapt_key(KEY)
    assert backend.dest.read(key) is None
    with pytest.raises(ItemError) as raised:
        backend.dest.download(key, tmp_path / "nothing")
    assert not isinstance(raised.value, DestinationError) and raised.value.message


def test_a_destination_that_cannot_say_never_lists_nothing(backend: Backend) -> None:
    """An unreachable store raises rather than list nothing (which an audit would read as "all missing")."""
    with pytest.raises(DestinationError):
        list(backend.broken().list())
    with pytest.raises(DestinationError):
        backend.broken().read(backend.dest.adapt_key(KEY))


def test_read_data_catches_bytes_corrupted_behind_unchanged_metadata(
        backend: Backend, stored_tree: dict[str, tuple[int, str]]) -> None:
    from zoomwatch.core.safety import Verdict, check_backup

    key = backend.dest.adapt_key("2024/05/2024-05-07 09.00.00 Standup/audio_only.m4a")
    size, sha = stored_tree[key]
    corrupt_keeping_metadata(backend, key, b"\0" * size)
    trusted = check_backup(backend.dest, key, size, sha)
    if backend.name != "local":  # a store that keeps the checksum is trusted by default: it cannot see this
        assert trusted.verdict is Verdict.SAFE
    read = check_backup(backend.dest, key, size, sha, read_data=True)
    assert read.verdict is Verdict.DIFFERENT and read.read_back
