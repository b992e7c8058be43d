"""What `check` and uploads tell a person about a Supabase destination that is not quite right: a bucket the
key may not see, a bucket's own size limit, a URL that is not Supabase at all. In-process, against the
stand-in in tests/fakes (and a plain web server on loopback), through the real storage3 and tuspy clients."""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.supabase_storage import MIB, FakeSupabaseStorage
from helpers import write_random

from zoomwatch.destinations.base import SourceFile, UploadSession
from zoomwatch.destinations.supabase import SupabaseDestination
from zoomwatch.errors import DestinationError, ItemError

pytestmark = pytest.mark.filterwarnings("ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeSupabaseStorage]:
    server = FakeSupabaseStorage(max_file_size=200 * MIB)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def destination(app, url: str, bucket: str, key: str) -> SupabaseDestination:
    app.set("destination.kind", "supabase")
    app.set("destination.supabase.url", url)
    app.set("destination.supabase.bucket", bucket)
    return SupabaseDestination(app.load(), secrets={"supabase.key": key})


def bucket_requests(fake: FakeSupabaseStorage, method: str) -> list[str]:
    return [r.path for r in fake.requests if r.method == method and r.path.rstrip("/").endswith("/bucket")]


def test_anon_key_on_an_existing_private_bucket_is_not_taken_for_a_missing_bucket(app, fake, caplog):
    fake.create_bucket("recordings")  # private
    dest = destination(app, fake.url, "recordings", fake.anon_key)
    with caplog.at_level(logging.INFO, logger="zoomwatch"), pytest.raises(DestinationError) as info:
        dest.check()
    assert info.value.title == "Supabase refuses the upload"  # the bucket is there; the key may not write
    assert "missing" not in caplog.text and "creating" not in caplog.text
    assert bucket_requests(fake, "POST") == []  # no attempt to create a bucket that exists


def test_anon_key_on_a_bucket_that_really_is_missing(app, fake, caplog):
    dest = destination(app, fake.url, "nowhere", fake.anon_key)
    with caplog.at_level(logging.INFO, logger="zoomwatch"), pytest.raises(DestinationError) as info:
        dest.check()
    assert info.value.title == "Supabase bucket not found" and "nowhere" in info.value.message
    assert "nowhere" not in fake.buckets


def test_service_key_creates_a_missing_bucket_private_and_leaves_an_existing_one(app, fake, caplog):
    dest = destination(app, fake.url, "fresh", fake.service_key)
    with caplog.at_level(logging.INFO, logger="zoomwatch"):
        dest.check()
    assert fake.buckets["fresh"].public is False and "does not exist; creating it" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="zoomwatch"):
        dest.check()
    assert "creating" not in caplog.text and len(bucket_requests(fake, "POST")) == 1


@pytest.mark.parametrize("size", [3_000, 12 * MIB], ids=["standard", "resumable"])
def test_a_buckets_own_size_limit_is_named_as_such(app, fake, tmp_path: Path, size: int):
    fake.create_bucket("recordings", file_size_limit=2_000 if size < MIB else 8_000_000)
    dest = destination(app, fake.url, "recordings", fake.service_key)
    source = tmp_path / ("chat.txt" if size < MIB else "zoom_0.mp4")
    write_random(source, size)
    with pytest.raises(ItemError) as info:
        dest.upload(SourceFile(source, size), f"2024/07/meeting/{source.name}", UploadSession())
    assert info.value.title == "File too large for this Supabase bucket" and not info.value.retryable
    assert "file_size_limit" in info.value.message and "project" not in info.value.message
    assert f"(file_size_limit {'2.0 KB' if size < MIB else '8.0 MB'})" in info.value.message


def test_the_project_limit_is_still_named_when_the_bucket_has_none(app, fake, tmp_path: Path):
    fake.max_file_size = 8 * MIB
    fake.create_bucket("recordings", file_size_limit=100 * MIB)
    dest = destination(app, fake.url, "recordings", fake.service_key)
    write_random(tmp_path / "zoom_0.mp4", 12 * MIB)
    with pytest.raises(ItemError) as info:
        dest.upload(SourceFile(tmp_path / "zoom_0.mp4", 12 * MIB), "m/zoom_0.mp4", UploadSession())
    assert info.value.title == "File too large for this Supabase project"
    assert "project's upload size limit" in info.value.message


class _WebPage(http.server.BaseHTTPRequestHandler):
    """Some other web server: every path is an HTML 404 page."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        page = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>Not Found</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(page)

    do_GET = do_POST = do_PUT = do_PATCH = do_HEAD = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def web_page() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    thread = threading.Thread(target=server.serve_forever, name="plain-web-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_url_that_is_not_supabase_is_named_in_check_and_uploads(app, web_page, tmp_path: Path):
    dest = destination(app, web_page, "recordings", "aaa.bbb.ccc")
    small, large = tmp_path / "chat.txt", tmp_path / "zoom_0.mp4"
    write_random(small, 500)
    write_random(large, 7 * MIB)
    calls = [dest.check, lambda: dest.stat("m/zoom_0.mp4"),
             lambda: dest.upload(SourceFile(small, 500), "m/chat.txt", UploadSession()),
             lambda: dest.upload(SourceFile(large, 7 * MIB), "m/zoom_0.mp4", UploadSession())]
    for call in calls:
        with pytest.raises(DestinationError) as info:
            call()
        assert info.value.title == "Not a Supabase Storage endpoint"
        assert info.value.message.startswith(f"{web_page} does not look like a Supabase Storage endpoint")
        assert "destination.supabase.url" in info.value.message and "lost" not in str(info.value)
