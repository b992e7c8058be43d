"""The Supabase Storage stand-in (tests/fakes/supabase_storage.py), exercised through the real clients:
storage3 (via ``supabase.create_client(...).storage``) and tuspy. These tests pin down both what the fake
answers and what the clients make of it, since a Supabase destination is written against the latter."""

from __future__ import annotations

import io
import json
import random
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
import requests
from fakes.supabase_storage import MIB, TUS_CHUNK_SIZE, FakeSupabaseStorage, is_valid_key
from helpers import alive_threads, wait_for
from storage3.exceptions import StorageApiError
from supabase import create_client
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

# supabase.create_client passes storage3 its deprecated timeout/verify arguments itself
pytestmark = pytest.mark.filterwarnings("ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning")

BUCKET = "recordings"
PUBLIC = "public-media"


def payload(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def fake_threads() -> list[str]:
    return alive_threads("fake-supabase")


@pytest.fixture
def fake() -> Iterator[FakeSupabaseStorage]:
    f = FakeSupabaseStorage(max_file_size=20 * MIB)
    f.start()
    f.create_bucket(BUCKET)
    f.create_bucket(PUBLIC, public=True)
    try:
        yield f
    finally:
        f.stop()
    assert fake_threads() == []


@pytest.fixture
def connect(fake: FakeSupabaseStorage) -> Iterator[Callable[..., object]]:
    """storage3 sync clients, built the way the app builds them; their connection pools closed afterwards."""
    made = []

    def _connect(key: str | None = None):
        storage = create_client(fake.url, key or fake.service_key).storage
        made.append(storage)
        return storage

    yield _connect
    for storage in made:
        storage.session.close()


def tus_client(fake: FakeSupabaseStorage, key: str | None = None, **headers: str) -> TusClient:
    key = key or fake.service_key
    return TusClient(fake.tus_url, headers={"Authorization": f"Bearer {key}", "apikey": key, **headers})


def tus_meta(name: str, bucket: str = BUCKET, content_type: str = "video/mp4", **extra: str) -> dict[str, str]:
    return {"bucketName": bucket, "objectName": name, "contentType": content_type, "cacheControl": "3600", **extra}


def api_error(call: Callable[[], object]) -> StorageApiError:
    with pytest.raises(StorageApiError) as info:
        call()
    return info.value


def wire(err: StorageApiError) -> tuple[int, dict]:
    """The HTTP status and JSON body behind a StorageApiError (storage3 keeps them on __cause__)."""
    response = err.__cause__.response
    return response.status_code, response.json()


# --------------------------------------------------------------------------------------------- lifecycle


def test_starts_on_loopback_and_comes_back_on_the_same_port() -> None:
    with FakeSupabaseStorage() as f:
        assert f.url.startswith("http://127.0.0.1:")
        assert f.storage_url == f.url + "/storage/v1"
        port = f.port
        f.put_object("b", "kept.txt", b"kept")
        f.stop()
        assert not f.running
        with pytest.raises(requests.ConnectionError):
            requests.get(f.url + "/storage/v1/bucket", timeout=2)
        f.start()
        assert f.port == port
        r = requests.get(f"{f.url}/storage/v1/object/b/kept.txt", headers={"Authorization": f"Bearer {f.service_key}"},
                         timeout=5)
        assert r.content == b"kept"
    assert fake_threads() == []


def test_key_rule_is_the_servers_is_valid_key() -> None:
    assert is_valid_key("2024-01-15 10.00.00 Weekly sync 123/zoom_0.mp4")
    assert is_valid_key("a_b/!-.*'()&$@=;:+,? z")
    for bad in ("", "Café.mp4", "a#b", "x%y", "tab\there", "line\n", "ü", "日本"):
        assert not is_valid_key(bad), bad


# ------------------------------------------------------------------------------------------ REST: happy


def test_buckets_through_storage3(connect) -> None:
    storage = connect()
    assert storage.create_bucket("backups", options={"public": False, "file_size_limit": 1000}) == {"name": "backups"}
    bucket = storage.get_bucket("backups")
    assert (bucket.id, bucket.public, bucket.file_size_limit) == ("backups", False, 1000)
    assert {b.id for b in storage.list_buckets()} == {BUCKET, PUBLIC, "backups"}

    err = api_error(lambda: storage.create_bucket("backups"))
    assert (err.status, err.code, err.message) == ("409", "Duplicate", "The resource already exists")
    assert wire(err) == (400, {"statusCode": "409", "error": "Duplicate", "message": "The resource already exists",
                               "code": "BucketAlreadyExists"})
    err = api_error(lambda: storage.get_bucket("nope"))
    assert (err.status, err.code, err.message) == ("404", "Bucket not found", "Bucket not found")
    assert wire(err)[1]["code"] == "NoSuchBucket"


def test_upload_info_download_list_remove(fake: FakeSupabaseStorage, connect) -> None:
    files = connect().from_(BUCKET)
    data = payload(300_000)
    name = "2024-01-15 10.00.00 Weekly sync/zoom_0.mp4"
    result = files.upload(name, data, file_options={"content-type": "video/mp4", "cache-control": "60",
                                                   "metadata": {"sha256": "abc", "meeting": "123"}})
    assert result.path == name and result.full_path == f"{BUCKET}/{name}"

    stored = fake.objects[(BUCKET, name)]
    assert (stored.data, stored.content_type, stored.cache_control) == (data, "video/mp4", "max-age=60")
    assert stored.metadata == {"sha256": "abc", "meeting": "123"}
    assert data and fake.bytes_received[(BUCKET, name)] >= len(data)  # multipart framing counts too

    info = files.info(name)
    assert info["size"] == len(data) and info["content_type"] == "video/mp4"
    assert info["metadata"] == {"sha256": "abc", "meeting": "123"} and info["etag"] == stored.etag
    assert files.exists(name) is True
    assert files.exists("2024-01-15 10.00.00 Weekly sync/other.mp4") is False
    assert files.download(name) == data

    # storage3's default content type is text/plain, not a guess from the name
    files.upload("notes.txt", b"hi")
    assert fake.objects[(BUCKET, "notes.txt")].content_type == "text/plain;charset=UTF-8"

    listing = files.list()
    assert [(e["name"], e["id"] is None) for e in listing] == [("2024-01-15 10.00.00 Weekly sync", True),
                                                               ("notes.txt", False)]
    inside = files.list("2024-01-15 10.00.00 Weekly sync")
    assert [e["name"] for e in inside] == ["zoom_0.mp4"] and inside[0]["metadata"]["size"] == len(data)

    removed = files.remove([name, "never-existed.mp4"])
    assert [r["name"] for r in removed] == [name]  # the missing one is silently left out
    assert (BUCKET, name) not in fake.objects
    assert files.remove(["never-existed.mp4"]) == []


def test_list_prefix_limit_offset_search(fake: FakeSupabaseStorage, connect) -> None:
    for i in range(5):
        fake.put_object(BUCKET, f"m/{i}.mp4", b"x")
    fake.put_object(BUCKET, "m/sub/deep.mp4", b"x")
    files = connect().from_(BUCKET)
    assert [e["name"] for e in files.list("m")] == ["0.mp4", "1.mp4", "2.mp4", "3.mp4", "4.mp4", "sub"]
    assert [e["name"] for e in files.list("m/", {"limit": 2, "offset": 1})] == ["1.mp4", "2.mp4"]
    assert [e["name"] for e in files.list("m", {"sortBy": {"column": "name", "order": "desc"}, "limit": 2})] == [
        "sub", "4.mp4"]
    assert [e["name"] for e in files.list("m", {"search": "3"})] == ["3.mp4"]
    assert files.list("nothing-here") == []
    assert connect().from_("no-such-bucket").list() == []  # like the server's search: no error


def test_upsert_update_and_how_storage3_passes_it(fake: FakeSupabaseStorage, connect) -> None:
    files = connect().from_(BUCKET)
    files.upload("a.mp4", b"one", file_options={"content-type": "video/mp4"})

    err = api_error(lambda: files.upload("a.mp4", b"two"))
    assert (err.status, err.code) == ("409", "Duplicate")
    assert wire(err) == (400, {"statusCode": "409", "error": "Duplicate", "message": "The resource already exists",
                               "code": "KeyAlreadyExists"})
    # the server compares x-upsert with the exact text "true"
    err = api_error(lambda: files.upload("a.mp4", b"two", file_options={"upsert": str(True)}))
    assert err.status == "409"
    with pytest.raises(AttributeError):  # a bool reaches httpx as a header value
        files.upload("a.mp4", b"two", file_options={"upsert": True})

    files.upload("a.mp4", b"two", file_options={"upsert": "true", "content-type": "video/mp4"})
    assert fake.objects[(BUCKET, "a.mp4")].data == b"two"
    sent = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/a.mp4")]
    assert [r.headers.get("x-upsert") for r in sent] == ["false", "false", "True", "true"]

    files.update("a.mp4", b"three", file_options={"content-type": "video/mp4"})  # PUT: always overwrites
    assert fake.objects[(BUCKET, "a.mp4")].data == b"three"
    files.update("new-by-put.mp4", b"four")
    assert fake.objects[(BUCKET, "new-by-put.mp4")].data == b"four"


def test_raw_body_upload_with_x_metadata(fake: FakeSupabaseStorage) -> None:
    """storage-js style: the body is the file, user metadata in a base64 JSON x-metadata header."""
    import base64

    r = requests.post(f"{fake.storage_url}/object/{BUCKET}/raw.m4a", data=b"audio",
                      headers={"Authorization": f"Bearer {fake.service_key}", "Content-Type": "audio/mp4",
                               "cache-control": "max-age=10",
                               "x-metadata": base64.b64encode(json.dumps({"k": "v"}).encode()).decode()},
                      timeout=5)
    assert r.status_code == 200 and r.json()["Key"] == f"{BUCKET}/raw.m4a"
    obj = fake.objects[(BUCKET, "raw.m4a")]
    assert (obj.data, obj.content_type, obj.cache_control, obj.metadata) == (b"audio", "audio/mp4", "max-age=10",
                                                                           {"k": "v"})
    ranged = requests.get(f"{fake.storage_url}/object/{BUCKET}/raw.m4a", timeout=5,
                          headers={"Authorization": f"Bearer {fake.service_key}", "Range": "bytes=1-3"})
    assert (ranged.status_code, ranged.content, ranged.headers["Content-Range"]) == (206, b"udi", "bytes 1-3/5")
    head = requests.head(f"{fake.storage_url}/object/{BUCKET}/raw.m4a", timeout=5,
                         headers={"Authorization": f"Bearer {fake.service_key}"})
    assert head.status_code == 200 and head.headers["Content-Length"] == "5" and head.headers["ETag"] == obj.etag


def test_signed_download_url(fake: FakeSupabaseStorage, connect) -> None:
    files = connect().from_(BUCKET)
    files.upload("s/clip one.mp4", b"signed bytes", file_options={"content-type": "video/mp4"})
    signed = files.create_signed_url("s/clip one.mp4", 60)
    assert signed["signedURL"].startswith(fake.storage_url + "/object/sign/")
    r = httpx.get(signed["signedURL"])  # no key needed
    assert (r.status_code, r.content) == (200, b"signed bytes")
    tampered = httpx.get(signed["signedURL"].replace("token=", "token=x"))
    assert tampered.status_code == 400 and tampered.json()["code"] == "InvalidSignature"
    err = api_error(lambda: files.create_signed_url("s/missing.mp4", 60))
    assert (err.status, err.code) == ("404", "not_found")


# ------------------------------------------------------------------------------------------ REST: errors


def test_missing_bucket_and_object(connect) -> None:
    storage = connect()
    err = api_error(lambda: storage.from_("no-such-bucket").upload("a.mp4", b"x"))
    assert (err.status, err.code, err.message) == ("404", "Bucket not found", "Bucket not found")
    err = api_error(lambda: storage.from_(BUCKET).download("missing.mp4"))
    assert (err.status, err.code, err.message) == ("404", "not_found", "Object not found")
    assert wire(err) == (400, {"statusCode": "404", "error": "not_found", "message": "Object not found",
                               "code": "NoSuchKey"})
    err = api_error(lambda: storage.from_(BUCKET).info("missing.mp4"))
    assert err.status == "404" and wire(err)[1]["code"] == "NoSuchKey"
    # exists() is False only for a missing object; a missing bucket raises
    assert storage.from_(BUCKET).exists("missing.mp4") is False
    err = api_error(lambda: storage.from_("no-such-bucket").exists("a.mp4"))
    assert (err.status, err.code) == ("404", "Bucket not found")


@pytest.mark.parametrize("name", ["Café.mp4", "meeting #5/zoom_0.mp4", "100%.mp4", "tab\tname.mp4"])
def test_invalid_object_names(fake: FakeSupabaseStorage, connect, name: str) -> None:
    err = api_error(lambda: connect().from_(BUCKET).upload(name, b"x"))
    assert (err.status, err.code, err.message) == ("400", "InvalidKey", f"Invalid key: {name}")
    assert wire(err)[1]["code"] == "InvalidKey"
    assert fake.objects == {}


def test_storage3_unquotes_and_rejects_paths_before_sending(fake: FakeSupabaseStorage, connect) -> None:
    files = connect().from_(BUCKET)
    files.upload("odd%20name.mp4", b"x")  # %20 is decoded by storage3 itself
    assert (BUCKET, "odd name.mp4") in fake.objects
    with pytest.raises(ValueError):
        files.upload("a/../b.mp4", b"x")


def test_project_size_limit() -> None:
    with FakeSupabaseStorage(max_file_size=64 * 1024) as small:
        small.create_bucket(BUCKET)
        storage = create_client(small.url, small.service_key).storage
        try:
            err = api_error(lambda: storage.from_(BUCKET).upload("big.mp4", payload(64 * 1024 + 1)))
            assert (err.status, err.code) == ("413", "Payload too large")
            assert wire(err) == (400, {"statusCode": "413", "error": "Payload too large",
                                       "message": "The object exceeded the maximum allowed size",
                                       "code": "EntityTooLarge"})
            storage.from_(BUCKET).upload("fits.mp4", payload(64 * 1024))
        finally:
            storage.session.close()


@pytest.mark.parametrize(("key", "message"), [
    ("not-a-jwt", "Invalid Compact JWS"),
    ("aaa.bbb.ccc", "signature verification failed"),
])
def test_bad_keys(connect, key: str, message: str) -> None:
    err = api_error(lambda: connect(key).list_buckets())
    assert (err.status, err.code, err.message) == ("403", "Unauthorized", message)
    assert wire(err) == (400, {"statusCode": "403", "error": "Unauthorized", "message": message,
                               "code": "AccessDenied"})


def test_expired_key_and_missing_credentials(fake: FakeSupabaseStorage, connect) -> None:
    storage = connect()
    storage.list_buckets()
    fake.expire_key(fake.service_key)
    err = api_error(lambda: storage.from_(BUCKET).upload("a.mp4", b"x"))
    assert (err.status, err.message) == ("403", '"exp" claim timestamp check failed')
    fake.revive_key(fake.service_key)
    storage.from_(BUCKET).upload("a.mp4", b"x")

    bare = httpx.get(f"{fake.storage_url}/bucket")
    assert bare.status_code == 400
    assert bare.json() == {"statusCode": "400", "error": "Error",
                           "message": "headers must have required property 'authorization'", "code": "InvalidRequest"}
    # like the real server (v1.70.6): an apikey header alone is not enough, on REST and TUS alike
    alone = httpx.get(f"{fake.storage_url}/bucket", headers={"apikey": fake.service_key})
    assert (alone.status_code, alone.json()) == (400, bare.json())
    tus_alone = httpx.post(fake.tus_url, headers={"apikey": fake.service_key, "Tus-Resumable": "1.0.0",
                                                  "Upload-Length": "3"})
    assert tus_alone.status_code == 400 and "required property 'authorization'" in tus_alone.text


def test_anon_key(fake: FakeSupabaseStorage, connect) -> None:
    fake.put_object(BUCKET, "private.mp4", b"secret")
    fake.put_object(PUBLIC, "open.png", b"open", content_type="image/png")
    anon = connect(fake.anon_key)

    err = api_error(lambda: anon.from_(BUCKET).upload("new.mp4", b"x"))
    assert (err.status, err.code, err.message) == ("403", "Unauthorized", "new row violates row-level security policy")
    assert wire(err)[1]["code"] == "AccessDenied"
    err = api_error(lambda: anon.from_(PUBLIC).upload("new.png", b"x"))
    assert err.status == "403"
    err = api_error(lambda: anon.from_(BUCKET).download("private.mp4"))
    assert (err.status, err.code) == ("404", "not_found")
    assert anon.from_(BUCKET).list() == [] and anon.from_(BUCKET).remove(["private.mp4"]) == []
    assert (BUCKET, "private.mp4") in fake.objects
    assert anon.list_buckets() == []
    assert api_error(lambda: anon.get_bucket(BUCKET)).status == "404"

    assert anon.from_(PUBLIC).download("open.png") == b"open"
    public_url = anon.from_(PUBLIC).get_public_url("open.png")
    assert httpx.get(public_url).content == b"open"


def test_injected_rest_failure(fake: FakeSupabaseStorage, connect) -> None:
    files = connect().from_(BUCKET)
    fake.fail_next("POST", 500, path_contains="/object/")
    err = api_error(lambda: files.upload("a.mp4", b"x"))
    assert err.status == "500" and wire(err)[0] == 500
    assert (BUCKET, "a.mp4") not in fake.objects
    files.upload("a.mp4", b"x")
    assert fake.objects[(BUCKET, "a.mp4")].data == b"x"
    fake.fail_next("GET", drop=True)
    with pytest.raises(httpx.TransportError) as info:  # not wrapped in StorageApiError
        files.download("a.mp4")
    assert isinstance(info.value, httpx.RemoteProtocolError)
    assert files.download("a.mp4") == b"x"


def test_pause_and_resume(fake: FakeSupabaseStorage, connect) -> None:
    files = connect().from_(BUCKET)
    files.upload("before.mp4", b"x")
    port = fake.port
    fake.pause()
    with pytest.raises(httpx.ConnectError):  # storage3 does not wrap transport errors
        files.info("before.mp4")
    fake.resume()
    assert fake.port == port
    assert files.info("before.mp4")["size"] == 1  # the same client reconnects


# ----------------------------------------------------------------------------------------------- TUS


def test_tus_options_and_head(fake: FakeSupabaseStorage) -> None:
    opts = requests.options(fake.tus_url, timeout=5)  # no key needed
    assert opts.status_code == 204
    assert opts.headers["Tus-Version"] == "1.0.0" and "creation" in opts.headers["Tus-Extension"]

    client = tus_client(fake)
    uploader = client.uploader(file_stream=io.BytesIO(payload(TUS_CHUNK_SIZE + 10)), chunk_size=TUS_CHUNK_SIZE,
                               metadata=tus_meta("h.mp4"))
    uploader.upload(stop_at=TUS_CHUNK_SIZE)
    assert uploader.url.startswith(fake.tus_url + "/")  # absolute Location
    head = requests.head(uploader.url, headers={**client.headers, "Tus-Resumable": "1.0.0"}, timeout=5)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(TUS_CHUNK_SIZE)
    assert head.headers["Upload-Length"] == str(TUS_CHUNK_SIZE + 10)
    assert head.headers["Tus-Resumable"] == "1.0.0" and head.headers["Cache-Control"] == "no-store"
    assert "Upload-Expires" in head.headers
    no_key = requests.head(uploader.url, headers={"Tus-Resumable": "1.0.0"}, timeout=5)
    assert no_key.status_code == 400


def test_tus_full_upload(fake: FakeSupabaseStorage, connect) -> None:
    data = payload(2 * TUS_CHUNK_SIZE + 12345)
    uploader = tus_client(fake).uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE,
                                         metadata=tus_meta("big/zoom_0.mp4", metadata=json.dumps({"sha256": "f00"})))
    uploader.upload()
    assert uploader.offset == len(data)
    obj = fake.objects[(BUCKET, "big/zoom_0.mp4")]
    assert obj.data == data and obj.content_type == "video/mp4" and obj.cache_control == "max-age=3600"
    assert obj.metadata == {"sha256": "f00"}
    assert fake.bytes_received[(BUCKET, "big/zoom_0.mp4")] == len(data)
    patches = [r.body_bytes for r in fake.requests if r.method == "PATCH"]
    assert patches == [TUS_CHUNK_SIZE, TUS_CHUNK_SIZE, 12345]
    info = connect().from_(BUCKET).info("big/zoom_0.mp4")
    assert info["size"] == len(data) and info["metadata"] == {"sha256": "f00"}


def test_tus_empty_file(fake: FakeSupabaseStorage) -> None:
    tus_client(fake).uploader(file_stream=io.BytesIO(b""), chunk_size=TUS_CHUNK_SIZE,
                              metadata=tus_meta("empty.txt", content_type="text/plain")).upload()
    assert fake.objects[(BUCKET, "empty.txt")].data == b""


def test_tus_resume_from_stored_url(fake: FakeSupabaseStorage) -> None:
    data = payload(2 * TUS_CHUNK_SIZE + 7)
    client = tus_client(fake)
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, metadata=tus_meta("r.mp4"))
    first.upload(stop_at=TUS_CHUNK_SIZE)  # as if the process stopped after one chunk
    stored_url = first.url
    assert (BUCKET, "r.mp4") not in fake.objects

    again = tus_client(fake).uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=stored_url)
    assert again.offset == TUS_CHUNK_SIZE  # read with HEAD when the uploader is made
    assert again.get_offset() == TUS_CHUNK_SIZE
    again.upload()
    assert fake.objects[(BUCKET, "r.mp4")].data == data
    assert fake.bytes_received[(BUCKET, "r.mp4")] == len(data)  # nothing sent twice


def test_tus_existing_object_needs_x_upsert(fake: FakeSupabaseStorage) -> None:
    fake.put_object(BUCKET, "dup.mp4", b"old")
    with pytest.raises(TusCommunicationError) as info:
        tus_client(fake).uploader(file_stream=io.BytesIO(b"new"), metadata=tus_meta("dup.mp4")).upload()
    assert info.value.status_code == 409 and "409" in str(info.value)
    assert info.value.response_content == b"The resource already exists"

    tus_client(fake, **{"x-upsert": "true"}).uploader(file_stream=io.BytesIO(b"new"),
                                                      metadata=tus_meta("dup.mp4")).upload()
    assert fake.objects[(BUCKET, "dup.mp4")].data == b"new"


def test_tus_object_created_meanwhile_conflicts_on_patch(fake: FakeSupabaseStorage) -> None:
    uploader = tus_client(fake).uploader(file_stream=io.BytesIO(b"mine"), metadata=tus_meta("race.mp4"))
    uploader.set_url(uploader.create_url())
    fake.put_object(BUCKET, "race.mp4", b"theirs")
    with pytest.raises(TusUploadFailed) as info:
        uploader.upload()
    assert info.value.status_code == 409
    assert fake.objects[(BUCKET, "race.mp4")].data == b"theirs"


@pytest.mark.parametrize(("case", "status"), [
    ("missing bucket", 404), ("bad key", 400), ("expired key", 400), ("anon", 403), ("bad name", 400),
    ("too big", 413),
])
def test_tus_create_errors(fake: FakeSupabaseStorage, case: str, status: int) -> None:
    key, meta, size = fake.service_key, tus_meta("e.mp4"), 10
    if case == "missing bucket":
        meta = tus_meta("e.mp4", bucket="no-such-bucket")
    elif case == "bad key":
        key = "aaa.bbb.ccc"
    elif case == "expired key":
        fake.expire_key(fake.service_key)
    elif case == "anon":
        key = fake.anon_key
    elif case == "bad name":
        meta = tus_meta("Réunion.mp4")
    elif case == "too big":
        size = fake.max_file_size + 1

    class Sized(io.BytesIO):  # reports a size without holding it
        def seek(self, pos: int, whence: int = 0) -> int:
            return size if whence == 2 else 0

        def tell(self) -> int:
            return size

    with pytest.raises(TusCommunicationError) as info:
        tus_client(fake, key).uploader(file_stream=Sized(), metadata=meta).upload()
    err = info.value
    assert err.status_code == status
    body = err.response_content
    if case in ("bad key", "expired key"):  # the JWT check answers before TUS does: JSON, HTTP 400
        assert json.loads(body)["statusCode"] == "403"
        assert json.loads(body)["message"] in ("signature verification failed", '"exp" claim timestamp check failed')
    elif case == "missing bucket":
        assert body == b"Bucket not found"
    elif case == "anon":
        assert body == b"new row violates row-level security policy"
    elif case == "bad name":
        assert body == "Invalid key: Réunion.mp4".encode()
    else:
        assert body == b"Maximum size exceeded\n"
    assert fake.uploads == {}


def test_tus_chunks_must_be_6_mib(fake: FakeSupabaseStorage) -> None:
    data = payload(3 * MIB)
    uploader = tus_client(fake).uploader(file_stream=io.BytesIO(data), chunk_size=MIB, metadata=tus_meta("c.mp4"))
    with pytest.raises(TusUploadFailed) as info:
        uploader.upload()
    assert info.value.status_code == 400 and b"6291456" in info.value.response_content
    # one PATCH with the whole of a file above 6 MiB is refused too
    big = payload(TUS_CHUNK_SIZE + 1)
    whole = tus_client(fake).uploader(file_stream=io.BytesIO(big), metadata=tus_meta("d.mp4"))
    with pytest.raises(TusUploadFailed):
        whole.upload()
    assert fake.upload_for(BUCKET, "d.mp4").offset == 0


def test_tus_expired_upload_urls(fake: FakeSupabaseStorage) -> None:
    data = payload(TUS_CHUNK_SIZE + 1)
    client = tus_client(fake)
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, metadata=tus_meta("x.mp4"))
    uploader.upload(stop_at=TUS_CHUNK_SIZE)
    fake.expire_uploads()
    with pytest.raises(TusCommunicationError) as info:
        client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=uploader.url)
    assert info.value.status_code == 410
    with pytest.raises(TusUploadFailed) as patch_info:
        uploader.upload()  # the old uploader still holds the URL
    assert patch_info.value.status_code == 410
    fake.expire_uploads(status=404)
    with pytest.raises(TusCommunicationError) as info:
        client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=uploader.url)
    assert info.value.status_code == 404
    # starting again works
    client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, metadata=tus_meta("x.mp4")).upload()
    assert fake.objects[(BUCKET, "x.mp4")].data == data


def test_tus_injected_500_then_resume(fake: FakeSupabaseStorage) -> None:
    data = payload(2 * TUS_CHUNK_SIZE + 3)
    client = tus_client(fake)
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, metadata=tus_meta("f.mp4"))
    uploader.upload(stop_at=TUS_CHUNK_SIZE)
    fake.fail_next("PATCH", 500)
    with pytest.raises(TusUploadFailed) as info:
        uploader.upload()
    assert info.value.status_code == 500 and "500" in str(info.value)
    resumed = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=uploader.url)
    assert resumed.offset == TUS_CHUNK_SIZE
    resumed.upload()
    assert fake.objects[(BUCKET, "f.mp4")].data == data
    assert fake.bytes_received[(BUCKET, "f.mp4")] == len(data) + TUS_CHUNK_SIZE  # the refused chunk came twice


def test_tus_connection_cut_mid_chunk_keeps_the_bytes_received(fake: FakeSupabaseStorage) -> None:
    data = payload(2 * TUS_CHUNK_SIZE + 3)
    client = tus_client(fake)
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, metadata=tus_meta("g.mp4"))
    uploader.upload(stop_at=TUS_CHUNK_SIZE)
    fake.fail_next("PATCH", drop=True, after_bytes=MIB)
    with pytest.raises(TusUploadFailed) as info:
        uploader.upload()
    assert info.value.status_code is None  # a transport error, wrapped
    resumed = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=uploader.url)
    assert resumed.offset == TUS_CHUNK_SIZE + MIB  # as observed on v1.70.6: not a multiple of 6 MiB
    resumed.upload()
    assert fake.objects[(BUCKET, "g.mp4")].data == data
    assert fake.bytes_received[(BUCKET, "g.mp4")] == len(data)  # no byte had to come twice


def test_tus_server_gone_and_back(fake: FakeSupabaseStorage) -> None:
    data = payload(TUS_CHUNK_SIZE + 5)
    client = tus_client(fake)
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, metadata=tus_meta("p.mp4"))
    uploader.upload(stop_at=TUS_CHUNK_SIZE)
    fake.pause()
    with pytest.raises(TusCommunicationError) as info:
        client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=uploader.url)
    assert info.value.status_code is None
    with pytest.raises(TusUploadFailed):
        uploader.upload()
    fake.resume()
    resumed = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=uploader.url)
    assert resumed.offset == TUS_CHUNK_SIZE
    resumed.upload()
    assert fake.objects[(BUCKET, "p.mp4")].data == data


def test_tus_offset_conflict_and_termination(fake: FakeSupabaseStorage) -> None:
    client = tus_client(fake)
    uploader = client.uploader(file_stream=io.BytesIO(b"abc"), metadata=tus_meta("o.mp4"))
    url = uploader.create_url()
    headers = {**client.headers, "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    wrong = requests.patch(url, data=b"abc", headers={**headers, "Upload-Offset": "1"}, timeout=5)
    assert (wrong.status_code, wrong.text) == (409, "Upload-Offset conflict\n")
    gone = requests.delete(url, headers={**client.headers, "Tus-Resumable": "1.0.0"}, timeout=5)
    assert gone.status_code == 204
    assert requests.head(url, headers={**client.headers, "Tus-Resumable": "1.0.0"}, timeout=5).status_code == 404
    assert fake.uploads == {}
    done = client.uploader(file_stream=io.BytesIO(b"abc"), metadata=tus_meta("done.mp4"))
    done.upload()
    finished = requests.delete(done.url, headers={**client.headers, "Tus-Resumable": "1.0.0"}, timeout=5)
    assert finished.status_code == 409 and fake.objects[(BUCKET, "done.mp4")].data == b"abc"


def test_tus_stalled_patch_is_stored_but_never_answered(fake: FakeSupabaseStorage) -> None:
    data = payload(TUS_CHUNK_SIZE + 7)
    client = tus_client(fake)
    url = client.uploader(file_stream=io.BytesIO(data), metadata=tus_meta("s.mp4")).create_url()
    fake.fail_next("PATCH", stall=True)
    headers = {**client.headers, "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.patch(url, data=data[:TUS_CHUNK_SIZE], headers={**headers, "Upload-Offset": "0"}, timeout=(5, 1))
    assert fake.upload_for(BUCKET, "s.mp4").offset == TUS_CHUNK_SIZE
    assert fake.open_connections() >= 1  # still open, silent
    resumed = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=url)
    assert resumed.offset == TUS_CHUNK_SIZE
    resumed.upload()
    assert fake.objects[(BUCKET, "s.mp4")].data == data


def test_tus_second_patch_while_one_is_in_flight(fake: FakeSupabaseStorage) -> None:
    client = tus_client(fake)
    data = payload(TUS_CHUNK_SIZE + 1)
    url = client.uploader(file_stream=io.BytesIO(data), metadata=tus_meta("lock.mp4")).create_url()
    path = url[len(fake.url):]
    slow = socket.create_connection(("127.0.0.1", fake.port))
    try:
        slow.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                      f"Authorization: Bearer {fake.service_key}\r\nUpload-Offset: 0\r\n"
                      f"Content-Type: application/offset+octet-stream\r\nContent-Length: {TUS_CHUNK_SIZE}\r\n\r\n"
                      ).encode() + data[:1000])
        wait_for(lambda: fake.bytes_received.get((BUCKET, "lock.mp4")), timeout=5, what="the first PATCH")
        second = requests.patch(url, data=data[:TUS_CHUNK_SIZE], timeout=5, headers={
            **client.headers, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream"})
        assert second.status_code == 423
    finally:
        slow.close()  # cut off mid-chunk: what arrived is kept (observed on v1.70.6)
    fake.wait_idle()
    resumed = client.uploader(file_stream=io.BytesIO(data), chunk_size=TUS_CHUNK_SIZE, url=url)
    assert resumed.offset == 1000
    resumed.upload()
    assert fake.objects[(BUCKET, "lock.mp4")].data == data
