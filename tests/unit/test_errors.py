"""The error family and its translators: OS errors on a source file, requests' errors, botocore's; the
CLI's one table from error type to exit code; and a rule read from the source: no module decides on an
exception's class name or on the wording of its message or title."""

from __future__ import annotations

import ast
import datetime as dt
import errno
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from zoomwatch.errors import (
    AlreadyRunning,
    BadSetting,
    Cancelled,
    ConfigError,
    DestinationDown,
    DestinationError,
    FileChanged,
    FileGone,
    ItemError,
    KeyringUnavailable,
    RateLimited,
    ServiceDown,
    SignedOut,
    SignInTimedOut,
    SourceChanged,
    SourceGone,
    SourceUnreadable,
    ZoomwatchError,
)
from zoomwatch.translate import botocore_error, http_status_error, requests_error, source_error
from zoomwatch.ui import cli
from zoomwatch.ui.cli import Exit, exit_code_for

PACKAGE = Path(__file__).resolve().parents[2] / "zoomwatch"
SOURCE = Path("/home/ana/Documents/Zoom/2024-05-06 14.00.00 Board meeting/zoom_0.mp4")


# -- the family -----------------------------------------------------------------------------------

def test_the_old_names_are_the_new_types() -> None:
    assert (ConfigError, DestinationError, FileGone, FileChanged) == (BadSetting, DestinationDown, SourceGone,
                                                                    SourceChanged)


def test_a_stop_is_one_type_everywhere() -> None:
    from zoomwatch.destinations.base import Cancelled as UploadCancelled
    from zoomwatch.sources.zoom import cloud

    assert UploadCancelled is Cancelled and cloud.Cancelled is Cancelled
    assert isinstance(Cancelled(), ZoomwatchError) and Cancelled().retryable


def test_a_keyring_error_is_not_a_bad_setting() -> None:
    locked = KeyringUnavailable("Keyring is locked", "unlock it", locked=True)
    assert not isinstance(locked, BadSetting) and locked.retryable and locked.locked


# -- OS errors on the source ----------------------------------------------------------------------

@pytest.mark.parametrize(("exc", "kind", "retryable", "words"), [
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), SourceGone, False, "deleted or renamed"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory"), SourceGone, False, "deleted or renamed"),
    (PermissionError(errno.EACCES, "Permission denied"), SourceUnreadable, True, "permission denied"),
    (OSError(errno.EPERM, "Operation not permitted"), SourceUnreadable, True, "permission denied"),
    (OSError(errno.EIO, "Input/output error"), SourceUnreadable, True, "Input/output error"),
    (OSError(errno.ESTALE, None), SourceUnreadable, True, "ESTALE"),
], ids=["enoent", "enotdir", "eacces", "eperm", "eio", "no-strerror"])
def test_source_os_errors(exc: OSError, kind: type, retryable: bool, words: str) -> None:
    error = source_error(exc, SOURCE)
    assert type(error) is kind and error.retryable is retryable
    assert str(SOURCE) in error.message and words in error.message


def test_a_source_error_from_bytes_path_names_it_readably() -> None:
    error = source_error(PermissionError(errno.EACCES, "Permission denied"), b"/zoom/caf\xc3\xa9.mp4")
    assert "/zoom/café.mp4" in error.message


# -- requests -------------------------------------------------------------------------------------

def response(status: int) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = b"{}"
    return answer


@pytest.mark.parametrize(("exc", "title"), [
    (requests.ConnectionError("refused"), "Zoom unreachable"),
    (requests.ConnectTimeout("slow"), "Zoom unreachable"),
    (requests.ReadTimeout("slow"), "Zoom unreachable"),
    (requests.exceptions.ChunkedEncodingError("cut"), "Zoom connection was cut off"),
    (requests.exceptions.TooManyRedirects("loop"), "Zoom request failed"),
    (requests.HTTPError(response=response(503)), "Zoom is busy or failing"),
    (requests.HTTPError(response=response(429)), "Zoom is busy or failing"),
], ids=["refused", "connect-timeout", "read-timeout", "cut-off", "other", "503", "429"])
def test_passing_http_failures_are_retried(exc: BaseException, title: str) -> None:
    error = requests_error(exc, service="Zoom", where="https://api.zoom.us/v2")
    assert type(error) is ServiceDown and error.retryable and error.title == title
    assert "api.zoom.us" in error.message


def test_timeouts_and_refusals_are_told_apart() -> None:
    slow = requests_error(requests.ConnectTimeout("x"), service="Zoom", where="z")
    refused = requests_error(requests.ConnectionError("x"), service="Zoom", where="z")
    assert "in time" in slow.message and "refused or reset" in refused.message


def test_a_destination_gets_its_own_down_type() -> None:
    error = requests_error(requests.ConnectionError("x"), service="Supabase", where="http://127.0.0.1:9",
                           down=DestinationDown)
    assert type(error) is DestinationDown and error.retryable


@pytest.mark.parametrize(("status", "retryable"), [(404, True), (410, True), (400, False), (403, False)])
def test_http_refusals_are_the_one_items(status: int, retryable: bool) -> None:
    error = requests_error(requests.HTTPError(response=response(status)), service="Zoom", where="/users/me")
    assert type(error) is ItemError and error.retryable is retryable and f"HTTP {status}" in error.message
    assert http_status_error(status, service="Zoom", where="/users/me").title == error.title


# -- botocore -------------------------------------------------------------------------------------

def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "any words at all"},  # type: ignore[typeddict-item]
                        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}, "PutObject")


@pytest.mark.parametrize(("exc", "kind", "retryable"), [
    (client_error("NoSuchBucket", 404), DestinationDown, False),
    (client_error("InvalidAccessKeyId", 403), DestinationDown, False),
    (client_error("AccessDenied", 403), DestinationDown, False),
    (client_error("SlowDown", 503), DestinationDown, True),
    (client_error("RequestTimeTooSkewed", 403), DestinationDown, True),
    (client_error("KeyTooLongError", 400), ItemError, False),
    (client_error("BadDigest", 400), ItemError, True),
    (client_error("SomethingNew", 400), ItemError, True),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), DestinationDown, True),
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), DestinationDown, True),
    (NoCredentialsError(), DestinationDown, False),
], ids=["no-bucket", "bad-key", "denied", "slow-down", "clock", "name", "digest", "unknown", "endpoint",
        "read-timeout", "no-credentials"])
def test_botocore_errors(exc: BaseException, kind: type, retryable: bool) -> None:
    error = botocore_error(exc, "team", "2024/zoom_0.mp4", "http://127.0.0.1:9")
    assert type(error) is kind and error.retryable is retryable


def test_botocore_decides_on_the_code_not_the_words() -> None:
    worded = ClientError({"Error": {"Code": "SomethingNew", "Message": "AccessDenied NoSuchBucket SlowDown"},
                          "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject")  # type: ignore[typeddict-item]
    assert botocore_error(worded, "team", "k", None).title == "S3 error"


# -- Zoom's API: its error code, not its words ------------------------------------------------------

class OneAnswer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        answer = response(self.status)
        answer._content = self.body
        return answer


class Token:
    def token(self, *, force_refresh: bool = False) -> str:
        return "t"


def test_trashing_a_recording_zoom_no_longer_has_is_no_error() -> None:
    from zoomwatch.sources.zoom.api import ZoomApi

    gone = ZoomApi("https://zoom.test/v2", Token(), session=OneAnswer(  # type: ignore[arg-type]
        404, b'{"code": 3301, "message": "There is no recording for this meeting."}'))
    assert gone.trash_recordings("abc") is False


def test_a_message_that_merely_mentions_3301_is_still_an_error() -> None:
    from zoomwatch.sources.zoom.api import ZoomApi, ZoomApiError

    other = ZoomApi("https://zoom.test/v2", Token(), session=OneAnswer(  # type: ignore[arg-type]
        400, b'{"code": 300, "message": "Invalid meeting 3301"}'))
    with pytest.raises(ZoomApiError) as caught:
        other.trash_recordings("abc")
    assert caught.value.code == 300 and caught.value.status == 400


# -- exit codes: one table ------------------------------------------------------------------------

UNTIL = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("error", "code"), [
    (BadSetting("No S3 bucket set", "set it"), Exit.BAD_CONFIG),
    (SignedOut("Signed out of Zoom", "zoomwatch login"), Exit.SIGNED_OUT),
    (SignInTimedOut("Zoom sign-in timed out", "run login again"), Exit.INCOMPLETE),
    (RateLimited(UNTIL), Exit.INCOMPLETE),
    (Cancelled(), Exit.INCOMPLETE),
    (KeyringUnavailable("Keyring is locked", "unlock it", locked=True), Exit.INCOMPLETE),
    (KeyringUnavailable("The OS keyring refused", "too long", retryable=False), Exit.BAD_CONFIG),
    (DestinationDown("S3 endpoint unreachable", "network", retryable=True), Exit.INCOMPLETE),
    (DestinationDown("S3 credentials rejected", "set the key", retryable=False), Exit.BAD_CONFIG),
    (ServiceDown("Zoom unreachable", "network"), Exit.INCOMPLETE),
    (AlreadyRunning("zoomwatch is already running", "pid 1"), Exit.ALREADY_RUNNING),
    (ItemError("Name refused by the store", "change naming.template", retryable=False), Exit.BAD_CONFIG),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.name)
def test_exit_code_table(error: ZoomwatchError, code: Exit) -> None:
    assert exit_code_for(error) is code


def test_a_browser_sign_in_that_times_out_is_not_a_bad_setting(app, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("ZOOM_CLIENT_ID", "some-client")
    app.set("zoom.redirect_port", "0")
    code = cli.main(["login", "--no-browser", "--timeout", "0.5"], paths=app.paths)
    assert code == Exit.INCOMPLETE, capsys.readouterr()
    assert "Zoom sign-in timed out" in capsys.readouterr().err


def test_an_error_no_command_expected_is_said_with_its_exit_code(app, monkeypatch, capsys) -> None:
    def locked(args: object, paths: object) -> Exit:
        raise KeyringUnavailable("Keyring is locked", "reading zoom.user_tokens needs it unlocked", locked=True)

    monkeypatch.setattr(cli, "cmd_logout", locked)
    assert cli.main(["logout"], paths=app.paths) == Exit.INCOMPLETE
    err = capsys.readouterr().err
    assert "Keyring is locked" in err and "Traceback" not in err


# -- the rule, read from the source ---------------------------------------------------------------

TEXT_ATTRIBUTES = {"message", "title", "args", "strerror"}
NAME_ATTRIBUTES = {"__name__", "__qualname__", "__module__"}


def _class_name(node: ast.AST) -> bool:
    """`x.__class__.__name__`, `type(x).__name__` (or __module__ / __qualname__)."""
    if not (isinstance(node, ast.Attribute) and node.attr in NAME_ATTRIBUTES):
        return False
    inner = node.value
    return (isinstance(inner, ast.Attribute) and inner.attr == "__class__") or (
        isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "type")


def _text_of(node: ast.AST, names: set[str]) -> bool:
    """`exc.message`, `exc.title`, `exc.args`, `str(exc)`, `repr(exc)`, `f"{exc}"` for a caught exception."""
    if isinstance(node, ast.Attribute) and node.attr in TEXT_ATTRIBUTES:
        return isinstance(node.value, ast.Name) and node.value.id in names
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "repr"):
        return any(isinstance(a, ast.Name) and a.id in names for a in node.args)
    if isinstance(node, ast.FormattedValue):
        return isinstance(node.value, ast.Name) and node.value.id in names
    return False


def decisions_on_words(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    caught = {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}
    for node in ast.walk(tree):
        tested: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            tested = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "startswith", "endswith", "find", "index", "count", "__contains__"):
            tested = [node.func.value, *node.args]
        for operand in tested:
            for part in ast.walk(operand):
                if _class_name(part):
                    found.append((node.lineno, "compares a class name"))
                elif _text_of(part, caught):
                    found.append((node.lineno, "searches an exception's text"))
    return found


def test_the_rule_catches_what_it_is_meant_to() -> None:
    bad = ast.parse(
        "try:\n    pass\nexcept Exception as exc:\n"
        "    a = exc.__class__.__name__ == 'SignedOut'\n"
        "    b = '3301' in exc.message\n"
        "    c = exc.title != TOO_LARGE\n"
        "    d = 'token' in str(exc)\n"
        "    e = type(exc).__name__ in ('ConnectionError',)\n"
        "    f = exc.message.startswith('x')\n"
        "    g = exc.__class__.__module__.startswith('tusclient')\n")
    assert [line for line, _ in decisions_on_words(bad)] == [4, 5, 6, 7, 8, 9, 10]
    fine = ast.parse("try:\n    pass\nexcept Exception as exc:\n    log(exc.title)\n    a = exc.code == 3301\n"
                     "    b = isinstance(exc, KeyError)\n")
    assert decisions_on_words(fine) == []


def test_no_module_decides_on_an_exception_class_name_or_its_words() -> None:
    wrong = [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for line, what in decisions_on_words(ast.parse(path.read_text(encoding="utf-8")))]
    assert wrong == []


def test_a_cloud_download_zoom_does_not_answer_is_that_file_s_error_without_the_url_s_token(tmp_path) -> None:
    from zoomwatch.sources.zoom.cloud import download

    with pytest.raises(ItemError) as caught:
        download(requests.Session(), "http://127.0.0.1:9/rec/download/abc?access_token=SECRET-TOKEN", "bearer",
                 tmp_path / "zoom_0.mp4", 1000)
    error = caught.value
    assert error.title == "Zoom download failed: Zoom unreachable" and error.retryable
    assert "127.0.0.1:9" in error.message and "SECRET" not in str(error)


def test_a_device_code_that_expires_unapproved_is_a_sign_in_time_out(app, monkeypatch) -> None:
    from fakes.zoom_api import DEVICE_CODE_TTL, FakeZoom

    from zoomwatch.sources.zoom import accounts

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with FakeZoom() as zoom:
        monkeypatch.setenv("ZOOM_CLIENT_ID", zoom.client_id)
        monkeypatch.setenv("ZOOM_CLIENT_SECRET", zoom.client_secret)  # Zoom's device grant wants Basic auth
        app.set("zoom.oauth_base", zoom.url)
        shown: list[str] = []
        with pytest.raises(SignInTimedOut) as caught:  # Zoom answers expired_token: nobody approved the code
            accounts.device_login(app.load(), shown.append, sleep=lambda s: zoom.advance(DEVICE_CODE_TTL + s))
    assert "zoomwatch login" in caught.value.message and shown and exit_code_for(caught.value) is Exit.INCOMPLETE
