"""Supabase Storage object names and error messages: `supabase_key_name` (what a backup key becomes in a
bucket, which accepts only a small ASCII set) and `translate` (what a user reads when storage3, tuspy or
httpx fail). The errors are built the way those libraries build them (checked against the stand-in
server in tests/fakes through the real clients), so no server runs here."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
import requests
from fakes.supabase_storage import is_valid_key
from hypothesis import example, given, settings
from hypothesis import strategies as st
from storage3._sync.file_api import relative_path_to_parts
from storage3.exceptions import StorageApiError
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from zoomwatch.destinations.supabase import supabase_key_name, translate
from zoomwatch.errors import BucketMissing, DestinationError, ItemError, TooLarge

URL = "https://abcdefghijklmnop.supabase.co"
BUCKET = "recordings"
KEY = "2024/07/2024-07-01 09.30.00 Weekly sync/zoom_0.mp4"


def hex8(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# -- supabase_key_name: concrete examples ---------------------------------------------------------

@pytest.mark.parametrize("original,mapped", [
    ("Réunion d'équipe", "Reunion d'equipe"),
    ("2024/07/2024-07-01 09.30.00 Réunion d'équipe/zoom_0.mp4",
     "2024/07/2024-07-01 09.30.00 Reunion d'equipe/zoom_0.mp4"),
    ("Čeština Ünïcödé Ñandú façade", "Cestina Unicode Nandu facade"),
    ("ﬁnal ｆｕｌｌｗｉｄｔｈ", "final fullwidth"),  # compatibility forms fold to their ASCII letters
    ("🎉 Launch party 🚀", "Launch party"),  # emoji go; the spaces they leave are trimmed
    ("Q3 review 📈 and plan", "Q3 review and plan"),  # ... and collapsed
    ("plain ASCII (v2) & more: $5 @ 10=10; +1, ok!", "plain ASCII (v2) & more_ $5 @ 10=10; +1, ok!"),
])
def test_latin_names_keep_their_letters_without_accents(original, mapped):
    assert supabase_key_name(original) == mapped


@pytest.mark.parametrize("char", list('#%[]{}^~`"<>|\\?'))
def test_characters_supabase_refuses_are_replaced(char):
    mapped = supabase_key_name(f"a{char}b/c{char}d.mp4")
    assert mapped == "a_b/c_d.mp4"
    assert is_valid_key(mapped)


def test_control_characters_and_tabs_are_replaced():
    assert supabase_key_name("a\tb\nc\x00d\x7fe") == "a_b_c_d_e"


@pytest.mark.parametrize("title", ["週次定例", "設計レビュー", "Привет мир", "😀😀😀", "주간 회의"])
def test_a_mostly_non_latin_name_becomes_a_stable_8_hex_trace(title):
    assert supabase_key_name(title) == hex8(title)  # sha256 of the original: the same in every process


def test_two_different_cjk_titles_do_not_collide():
    assert supabase_key_name("週次定例") != supabase_key_name("設計レビュー")
    assert supabase_key_name("会議 A") != supabase_key_name("会議 B")


def test_mostly_cjk_title_with_a_few_latin_letters_keeps_them_beside_the_trace():
    mapped = supabase_key_name("プロジェクト X 定例会議")
    assert mapped == f"X {hex8('プロジェクト X 定例会議')}"


@pytest.mark.parametrize("title_a,title_b", [("週次定例", "設計レビュー"), ("Планёрка", "Ретроспектива")])
def test_cjk_titles_inside_a_real_key_keep_a_trace_and_do_not_collide(title_a, title_b):
    """BUG: the "mostly non-Latin" test is made on the whole key, and a key from the default template
    ("{year}/{month:02d}/{date} {time} {title}/{filename}") is mostly ASCII (dates, file name), so the
    trace is never added: the title is dropped without a trace, the meeting folder is just
    "2024-07-01 09.30.00", and two meetings with different non-Latin titles map to the same key."""
    key_a = f"2024/07/2024-07-01 09.30.00 {title_a}/zoom_0.mp4"
    key_b = f"2024/07/2024-07-01 09.30.00 {title_b}/zoom_0.mp4"
    mapped_a, mapped_b = supabase_key_name(key_a), supabase_key_name(key_b)
    assert mapped_a != mapped_b
    assert mapped_a.split("/")[2] != "2024-07-01 09.30.00"  # some trace of the title is in the folder name


@pytest.mark.parametrize("title_a,title_b", [("🎉🎉", "🚀🚀"), ("🎉", "📈 ✅"), ("😀😀😀", "😀😀")])
def test_all_emoji_titles_inside_a_real_key_keep_a_trace_and_do_not_collide(title_a, title_b):
    """BUG (issue 11.27): an all-emoji title beside the date and time left only the time ("🎉🎉" became
    "2024-07-01 09.30.00"), without the hash the code's comment promises, so such meetings collided."""
    folder_a, folder_b = f"2024-07-01 09.30.00 {title_a}", f"2024-07-01 09.30.00 {title_b}"
    mapped_a = supabase_key_name(f"2024/07/{folder_a}/zoom_0.mp4").split("/")[2]
    mapped_b = supabase_key_name(f"2024/07/{folder_b}/zoom_0.mp4").split("/")[2]
    assert mapped_a == f"2024-07-01 09.30.00 {hex8(folder_a)}"
    assert mapped_b == f"2024-07-01 09.30.00 {hex8(folder_b)}"


def test_a_fullwidth_slash_in_a_title_does_not_add_a_folder_level():
    """BUG: naming.sanitize_segment keeps U+FF0F FULLWIDTH SOLIDUS in a title (it only replaces the ASCII
    "/"), and NFKD turns it into "/", so "営業／企画" becomes two folders in the bucket."""
    key = "2024/07/2024-07-01 09.30.00 Sales／Marketing sync/zoom_0.mp4"
    mapped = supabase_key_name(key)
    assert mapped.count("/") == key.count("/"), mapped


@pytest.mark.parametrize("original,mapped", [
    ("a//b", "a/_/b"),
    ("/lead", "_/lead"),
    ("trail/", "trail/_"),
    ("a/ /b", "a/_/b"),
    ("a/../b", "a/_/b"),
    ("a/./b", "a/_/b"),
    ("Notes.../zoom_0.mp4", "Notes/zoom_0.mp4"),
    ("Ends with space   /x", "Ends with space/x"),
    ("  lead spaces/x", "lead spaces/x"),
    ("a    lot   of  spaces/x", "a lot of spaces/x"),
    ("🎉/zoom_0.mp4", "6146299c/zoom_0.mp4"),  # an all-emoji title keeps a trace, not a bare "_"
    ("", "_"),
])
def test_no_empty_dot_or_space_ended_segment(original, mapped):
    assert supabase_key_name(original) == mapped


# -- supabase_key_name: properties ----------------------------------------------------------------

TRICKY = list(" ./\\#%?[]{}^~`\"<>|:*&$@=;+,!'()-_\t\n\x00" "éÉñüßøŁıİ" "週次定例会議レビュー주간회의Привет"
              "😀🎉ﬁｆ／．％①½\u200d\u0301\u202e\ufeff\u3000\xa0")
SEGMENT = st.text(st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=24)
KEYS = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)


@settings(max_examples=80, deadline=None)
@given(KEYS)
@example("週次定例")
@example("2024/07/2024-07-01 09.30.00 Réunion d'équipe/zoom_0.mp4")
@example("../.")
def test_mapped_key_is_a_valid_supabase_name_with_clean_segments(key):
    mapped = supabase_key_name(key)
    assert is_valid_key(mapped), mapped  # the server's isValidKey (supabase/storage src/storage/limits.ts)
    relative_path_to_parts(mapped)  # storage3 refuses "." and ".." segments (ValueError) before sending
    for segment in mapped.split("/"):
        assert segment, mapped
        assert segment == segment.strip(" ") and not segment.endswith("."), mapped
        assert "  " not in segment, mapped


@settings(max_examples=80, deadline=None)
@given(KEYS)
def test_mapping_is_idempotent_and_deterministic(key):
    mapped = supabase_key_name(key)
    assert supabase_key_name(mapped) == mapped
    assert supabase_key_name(key) == mapped


SAFE = st.text("ABCxyz019_!-*'()&$@=;+, ", min_size=1, max_size=16)


@settings(max_examples=100, deadline=None)
@given(st.lists(SAFE, min_size=1, max_size=4))
def test_clean_ascii_names_pass_through_unchanged(segments):
    clean = [" ".join(segment.split()) for segment in segments]
    if all(clean):
        key = "/".join(clean)
        assert supabase_key_name(key) == key


# -- translate ------------------------------------------------------------------------------------

def storage_error(message: str, error: str, status: str | int) -> StorageApiError:
    """As storage3's file API raises it: StorageApiError(body["message"], body["error"], body["statusCode"])."""
    return StorageApiError(message, error, status)


def tus_create_error(status: int, content: bytes) -> TusCommunicationError:
    """As tuspy's create_url raises it when the answer has no Location."""
    return TusCommunicationError(f"Attempt to retrieve create file url with status {status}", status, content)


def tus_patch_error(status: int, content: bytes) -> TusUploadFailed:
    """As tuspy's upload_chunk raises it when a PATCH is answered with an error status."""
    return TusUploadFailed("", status, content)


def jwt_body(message: str) -> bytes:
    # what Supabase's TUS route answers (HTTP 400) when the JWT check fails
    body = {"statusCode": "403", "error": "Unauthorized", "message": message, "code": "AccessDenied"}
    return json.dumps(body).encode()


def check(exc: BaseException, kind: type, title: str, retryable: bool, key: str = KEY):
    error = translate(exc, BUCKET, key, URL)
    assert type(error) is kind, (type(error), error)
    assert (error.title, error.retryable) == (title, retryable), error
    return error


KEY_REJECTED = [
    storage_error("Invalid Compact JWS", "Unauthorized", "403"),
    storage_error("signature verification failed", "Unauthorized", "403"),
    storage_error('"exp" claim timestamp check failed', "Unauthorized", "403"),
    storage_error("invalid JWT", "Unauthorized", "401"),
    tus_create_error(400, jwt_body("Invalid Compact JWS")),
    tus_create_error(400, jwt_body("signature verification failed")),
    tus_patch_error(400, jwt_body('"exp" claim timestamp check failed')),
]


@pytest.mark.parametrize("exc", KEY_REJECTED, ids=range(len(KEY_REJECTED)))
def test_bad_key_is_reported_as_such_and_not_retried(exc):
    error = check(exc, DestinationError, "Supabase key rejected", False)
    assert "zoomwatch secret set supabase.key" in error.message


@pytest.mark.parametrize("exc", [
    storage_error("new row violates row-level security policy", "Unauthorized", "403"),
    tus_create_error(403, b"new row violates row-level security policy"),
], ids=["storage3", "tus"])
def test_row_level_security_refusal(exc):
    error = check(exc, DestinationError, "Supabase refuses the upload", False)
    assert BUCKET in error.message and "service-role key" in error.message


@pytest.mark.parametrize("exc", [
    storage_error("Bucket not found", "Bucket not found", "404"),
    tus_create_error(404, b"Bucket not found"),
], ids=["storage3", "tus"])
def test_missing_bucket(exc):
    error = check(exc, BucketMissing, "Supabase bucket not found", False)
    assert BUCKET in error.message


@pytest.mark.parametrize("exc", [
    storage_error("The object exceeded the maximum allowed size", "Payload too large", "413"),
    tus_create_error(413, b"Maximum size exceeded\n"),
    tus_patch_error(413, b"upload's size exceeded\n"),
], ids=["storage3", "tus-create", "tus-patch"])
def test_file_over_the_project_limit_holds_only_that_file(exc):
    error = check(exc, TooLarge, "File too large for this Supabase project", False)
    assert KEY in error.message


@pytest.mark.parametrize("exc", [
    storage_error("Invalid key: 2024/07/Réunion/zoom_0.mp4", "InvalidKey", "400"),
    tus_create_error(400, "Invalid key: 2024/07/Réunion/zoom_0.mp4".encode()),
], ids=["storage3", "tus"])
def test_name_refused(exc):
    error = check(exc, ItemError, "Name refused by Supabase", False)
    assert "naming.template" in error.message


@pytest.mark.parametrize("name", ["Expense claims review", "Why the export is too large", "Bucket list",
                                  "Invalid JWT debugging"])
def test_name_refused_whatever_words_the_refused_name_contains(name):
    """BUG: the error texts are matched on the whole body, and Supabase's InvalidKey message echoes the
    refused name: "Expense claims review" contains "exp" and "claim", so the one bad name becomes
    "Supabase key rejected" (a non-retryable DestinationError that stops every upload), and
    "... too large" becomes "File too large for this Supabase project"."""
    key = f"2024/07/2024-07-01 09.30.00 {name}#/zoom_0.mp4"
    check(storage_error(f"Invalid key: {key}", "InvalidKey", "400"), ItemError, "Name refused by Supabase", False,
          key=key)


@pytest.mark.parametrize("exc", [
    storage_error("Internal Server Error", "Internal", "500"),
    storage_error("Internal Server Error", "Internal", "429"),
    storage_error("Unable to parse error message: <html>502 Bad Gateway</html>", "InternalError", 502),
    storage_error("Unable to parse error message: upstream timeout", "InternalError", 504),
    tus_patch_error(500, b"Something went wrong with that request\n"),
    tus_patch_error(429, b"Too Many Requests\n"),
    tus_patch_error(423, b"The resource is locked\n"),
    tus_create_error(503, b"Service Unavailable"),
], ids=["500", "429", "502-unparsed", "504-unparsed", "tus-500", "tus-429", "tus-423", "tus-503"])
def test_server_failures_and_rate_limits_are_retried(exc):
    error = check(exc, DestinationError, "Supabase is busy or failing", True)
    assert BUCKET in error.message


@pytest.mark.parametrize("exc", [
    httpx.ConnectError("[Errno 111] Connection refused"),
    httpx.ConnectTimeout("timed out"),
    httpx.ReadTimeout("timed out"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
    TusCommunicationError(requests.exceptions.ConnectionError("Max retries exceeded")),  # tuspy wraps requests'
    TusUploadFailed(requests.exceptions.ConnectionError("Connection aborted.")),
    requests.exceptions.ConnectionError("Connection refused"),
], ids=["connect", "connect-timeout", "read-timeout", "disconnected", "tus-create", "tus-patch", "requests"])
def test_network_failure_is_unreachable_and_retried(exc):
    error = check(exc, DestinationError, "Supabase unreachable", True)
    assert URL in error.message


def test_lost_upload_is_sent_again_and_unknown_errors_name_the_file():
    lost = check(TusCommunicationError("Attempt to retrieve offset fails with status 404", 404,
                                       b"The file for this url was not found\n"), ItemError,
                 "Supabase lost the upload", True)
    assert KEY in lost.message
    other = translate(storage_error("mime type video/mp4 is not supported", "invalid_mime_type", "415"),
                      BUCKET, KEY, URL)
    assert isinstance(other, ItemError) and other.title == "Supabase error"
    assert "415" in other.message and KEY in other.message

