"""The OAuth loopback listener of `zoomwatch login`, against the Zoom stand-in: real sockets on 127.0.0.1, a
"browser" that follows the authorize redirect, and the other things that can reach a local port - an idle
connection, a forged callback (any local program, or any web page through an <img> tag), hostile text."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from fakes.zoom_api import FakeZoom

from zoomwatch.errors import ConfigError, SignInTimedOut
from zoomwatch.sources.zoom import oauth


@pytest.fixture
def zoom() -> Iterator[FakeZoom]:
    fake = FakeZoom().start()
    fake.add_user("ana@example.com")
    try:
        yield fake
    finally:
        fake.stop()


def follow(url: str) -> None:
    """What a browser does after the user approves: follow the redirects to the loopback listener."""
    threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 30}, daemon=True).start()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Login:
    """oauth.login in a thread of its own, so that a hang fails the test instead of blocking it."""

    def __init__(self, zoom: FakeZoom, show: Callable[[str], None], timeout: float) -> None:
        self.result: oauth.TokenSet | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(zoom, show, timeout), name="test-login", daemon=True)
        self.started = time.monotonic()
        self.thread.start()

    def _run(self, zoom: FakeZoom, show: Callable[[str], None], timeout: float) -> None:
        try:
            self.result = oauth.login(zoom.url, zoom.client_id, None, 0, show, timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def finish(self, within: float) -> float:
        self.thread.join(within)
        assert not self.thread.is_alive(), f"zoomwatch login did not end within {within:.0f} s"
        return time.monotonic() - self.started


@pytest.fixture
def idle() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for s in sockets:
        s.close()


def open_idle(redirect_uri: str, sockets: list[socket.socket]) -> None:
    """A local connection that sends nothing (a port scanner, a stuck program, a malicious page's preconnect)."""
    parts = urlsplit(redirect_uri)
    sockets.append(socket.create_connection((parts.hostname, parts.port), timeout=5))


def test_an_idle_local_connection_does_not_block_the_browsers_callback(zoom, idle):
    def show(url: str) -> None:
        open_idle(query(url)["redirect_uri"], idle)
        follow(url)

    login = Login(zoom, show, timeout=30)
    login.finish(within=40)
    assert login.error is None, login.error
    assert login.result is not None and login.result.refresh_token in zoom.valid_refresh_tokens


def test_a_callback_with_the_wrong_state_is_ignored_and_the_real_one_still_signs_in(zoom):
    answers: list[int] = []

    def show(url: str) -> None:
        redirect = query(url)["redirect_uri"]
        answers.append(requests.get(f"{redirect}?code=stolen&state=guessed", timeout=10).status_code)
        answers.append(requests.get(f"{redirect}?code=stolen", timeout=10).status_code)
        answers.append(requests.get(f"{redirect}?error=access_denied", timeout=10).status_code)  # an <img> tag
        follow(url)

    login = Login(zoom, show, timeout=30)
    login.finish(within=40)
    assert answers == [400, 400, 400]
    assert login.error is None, login.error
    assert login.result is not None and login.result.refresh_token in zoom.valid_refresh_tokens


def test_the_timeout_is_honoured_even_with_an_idle_connection_open(zoom, idle):
    def show(url: str) -> None:
        redirect = query(url)["redirect_uri"]
        open_idle(redirect, idle)
        requests.get(f"{redirect}?code=forged&state=wrong", timeout=10)  # ignored: not this sign-in's state

    login = Login(zoom, show, timeout=2)
    took = login.finish(within=20)
    assert isinstance(login.error, SignInTimedOut) and login.error.title == "Zoom sign-in timed out"
    assert "cross-site request forgery" in login.error.message  # the ignored answer is mentioned
    assert took < 12


def test_an_error_with_escape_sequences_is_shown_escaped(zoom):
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[31mdenied\r\nzoomwatch: Signed in to Zoom as boss@example.com"

    def show(url: str) -> None:
        state = query(url)["state"]
        requests.get(f"{query(url)['redirect_uri']}?error={quote(hostile)}&state={state}", timeout=10)

    login = Login(zoom, show, timeout=30)
    login.finish(within=40)
    assert isinstance(login.error, ConfigError) and login.error.title == "Zoom sign-in was declined"
    shown = f"zoomwatch: {login.error.title}: {login.error.message}"  # what `zoomwatch login` prints
    assert not any(ord(c) < 32 or ord(c) == 127 for c in shown), repr(shown)
    assert "\\x1b[31mdenied\\r\\nzoomwatch: Signed in" in shown


def test_printable_escapes_control_characters_and_bounds_the_length():
    assert oauth.printable("a\x1bb\nc\u202ed") == "a\\x1bb\\nc\\u202ed"
    assert oauth.printable("ünïcödé ok") == "ünïcödé ok"
    assert len(oauth.printable("x" * 10_000)) == 200
