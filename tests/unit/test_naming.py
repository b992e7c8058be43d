"""Tests for zoomwatch.naming: meeting parsing, key rendering and segment sanitising."""

from __future__ import annotations

import time
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from zoomwatch.naming import (
    DEFAULT_TEMPLATE,
    SAMPLE_MEETING,
    TEMPLATE_VARIABLES,
    Meeting,
    parse_meeting,
    render_key,
    sanitize_segment,
    validate_locale,
    validate_template,
    with_suffix_number,
)

ROOT = Path("/recordings")
JAN15 = datetime(2024, 1, 15, 10, 0, 0)
SPANISH_LAYOUT = "{year}_{month:02d}_{month_name}/{day:02d}-{month:02d}-{year}_{weekday}/{filename}"
FORBIDDEN = set('<>:"/\\|?*#%{}^~[]`')
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)}


def _local_from_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF


@pytest.fixture
def utc_minus_5(monkeypatch: pytest.MonkeyPatch):
    """Run with local time fixed at UTC-5 (POSIX TZ string), restoring afterwards."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- parse_meeting: Zoom client folders ------------------------------------


@pytest.mark.parametrize(
    ("folder", "title", "meeting_id"),
    [("2024-01-15 10.00.00 Weekly sync 84512345678", "Weekly sync", "84512345678"),
     ("2024-01-15 10.00.00 Weekly sync", "Weekly sync", None),
     ("2024-01-15 10.00.00 Ana's Personal Meeting Room", "Ana's Personal Meeting Room", None),
     ("2024-01-15 10.00.00 Ana's Personal Room 9876543210", "Ana's Personal Room", "9876543210"),
     ("2024-01-15 10.00.00 Sprint 2024 review 912345678", "Sprint 2024 review", "912345678"),
     ("2024-01-15 10.00.00 会议 🎉 12345678901", "会议 🎉", "12345678901"),
     ("2024-01-15 10.00.00 84512345678", "Zoom Meeting", "84512345678"),
     ("2024-01-15 10.00.00 Budget 12345678", "Budget 12345678", None),
     ("2024-01-15 10.00.00 Call 123456789012", "Call 123456789012", None),
     ("2024-01-15 10.00.00 Q&A: (part 2)!", "Q&A: (part 2)!", None),
     ("2024-01-15 10.00.00  Spaced   out  topic  ", "Spaced out topic", None),
     ("2024-01-15 10.00.00 ", "Zoom Meeting", None), ("2024-01-15 10.00.00", "Zoom Meeting", None)],
)  # fmt: skip
def test_zoom_folder_names(folder: str, title: str, meeting_id: str | None) -> None:
    meeting = parse_meeting(ROOT / folder / "zoom_0.mp4", ROOT, 0.0)
    assert meeting == Meeting(title, JAN15, meeting_id, "zoom-folder")


@pytest.mark.parametrize(
    "filename",
    ["zoom_0.mp4", "video1234567890.mp4", "audio_only.m4a", "audio1234567890.m4a", "chat.txt",
     "meeting_saved_chat.txt", "playback.m3u", "audioJohnSmith98796876.m4a",
     "GMT20240115-100000_Recording_1920x1080.mp4"],
)  # fmt: skip
def test_every_file_in_a_meeting_folder_takes_the_folder_meeting(filename: str) -> None:
    folder = ROOT / "2024-01-15 10.00.00 Weekly sync 84512345678"
    meeting = parse_meeting(folder / filename, ROOT, 0.0)
    assert meeting == Meeting("Weekly sync", JAN15, "84512345678", "zoom-folder")


def test_meeting_folder_found_among_ancestors_below_root() -> None:
    path = ROOT / "2024-01-15 10.00.00 Weekly sync" / "Audio Record" / "audioAna11.m4a"
    assert parse_meeting(path, ROOT, 0.0).title == "Weekly sync"
    assert parse_meeting(path, None, 0.0).title == "Weekly sync"


def test_nearest_meeting_folder_wins() -> None:
    path = ROOT / "2023-01-01 09.00.00 Outer" / "2024-01-15 10.00.00 Inner 912345678" / "zoom_0.mp4"
    assert parse_meeting(path, ROOT, 0.0) == Meeting("Inner", JAN15, "912345678", "zoom-folder")


def test_root_and_its_ancestors_are_not_meeting_folders() -> None:
    root = Path("/data/2024-01-15 10.00.00 Weekly sync")
    meeting = parse_meeting(root / "zoom_0.mp4", root, 1_700_000_000.0)
    assert meeting.source == "fallback"
    meeting = parse_meeting(root / "sub" / "zoom_0.mp4", root / "sub", 1_700_000_000.0)
    assert meeting.source == "fallback"


def test_root_given_as_parent_of_meeting_folder_still_matches() -> None:
    root = Path("/data/2023-01-01 09.00.00 Outer")
    path = root / "2024-01-15 10.00.00 Inner" / "zoom_0.mp4"
    assert parse_meeting(path, root, 0.0).title == "Inner"


@pytest.mark.parametrize(
    "folder",
    ["2024-13-15 10.00.00 Weekly sync", "2024-02-30 10.00.00 Weekly sync", "2024-01-15 25.00.00 Weekly sync",
     "2024-01-15 10.61.00 Weekly sync", "2024-01-15 10:00:00 Weekly sync", "2024-1-15 10.00.00 Weekly sync",
     "2024-01-15_10.00.00 Weekly sync", "x 2024-01-15 10.00.00 Weekly sync"],
)  # fmt: skip
def test_non_matching_folders_fall_back(folder: str) -> None:
    meeting = parse_meeting(ROOT / folder / "zoom_0.mp4", ROOT, 1_700_000_000.0)
    assert meeting == Meeting("zoom_0", datetime.fromtimestamp(1_700_000_000.0), None, "fallback")


def test_folder_names_are_nfc_normalised() -> None:
    path = ROOT / "2024-01-15 10.00.00 Re\u0301union" / "zoom_0.mp4"
    assert parse_meeting(path, ROOT, 0.0).title == "R\u00e9union"


# --- parse_meeting: web portal downloads and fallback ----------------------

PORTAL_NAMES = [
    "GMT20240115-100000_Recording_1920x1080.mp4", "GMT20240115-100000_Recording.m4a",
    "GMT20240115-100000_Recording.transcript.vtt", "GMT20240115-100000_RecordingnewChat.txt",
    "GMT20240115-100000_Recording_gallery_1280x720.mp4", "GMT20240115-100000_Recording.cc.vtt",
]  # fmt: skip


@pytest.mark.parametrize("filename", PORTAL_NAMES)
def test_portal_downloads(filename: str) -> None:
    meeting = parse_meeting(Path("/downloads/Team calls") / filename, Path("/downloads"), 0.0)
    expected_start = _local_from_utc(JAN15)
    assert meeting == Meeting("Team calls", expected_start, None, "zoom-portal")


@pytest.mark.usefixtures("utc_minus_5")
def test_portal_timestamp_is_utc_converted_to_local_time() -> None:
    meeting = parse_meeting(Path("/dl") / PORTAL_NAMES[0], None, 0.0)
    assert meeting.start == datetime(2024, 1, 15, 5, 0, 0)
    assert meeting.start.tzinfo is None


@pytest.mark.parametrize(
    ("path", "root"),
    [(Path("/downloads") / PORTAL_NAMES[0], Path("/downloads")), (Path(PORTAL_NAMES[0]), None),
     (Path(PORTAL_NAMES[0]), Path("."))],
)  # fmt: skip
def test_portal_title_falls_back_when_parent_is_root_or_empty(path: Path, root: Path | None) -> None:
    assert parse_meeting(path, root, 0.0).title == "Zoom Recording"


def test_invalid_portal_timestamp_falls_back() -> None:
    meeting = parse_meeting(Path("/dl/GMT20241315-100000_Recording.mp4"), None, 0.0)
    assert meeting.source == "fallback"
    assert meeting.title == "GMT20241315-100000_Recording"


@pytest.mark.parametrize(
    ("path", "title"),
    [(Path("/videos/holiday party.mp4"), "holiday party"), (Path("/videos/archive.tar.gz"), "archive.tar"),
     (Path("/videos/.hidden"), ".hidden"), (Path("/videos/README"), "README"), (Path("/"), "Untitled")],
)  # fmt: skip
def test_fallback_uses_stem_and_mtime(path: Path, title: str) -> None:
    mtime = 1_698_573_600.5
    meeting = parse_meeting(path, Path("/videos"), mtime)
    assert meeting == Meeting(title, datetime.fromtimestamp(mtime), None, "fallback")


# --- render_key ------------------------------------------------------------


def _jan15(title: str = "Weekly sync", meeting_id: str | None = "84512345678") -> Meeting:
    return Meeting(title, JAN15, meeting_id, "zoom-folder")


def test_default_template() -> None:
    expected = "2024/01/2024-01-15 10.00.00 Weekly sync/zoom_0.mp4"
    assert render_key(DEFAULT_TEMPLATE, _jan15(), "zoom_0.mp4") == expected
    meeting = parse_meeting(ROOT / "2024-01-15 10.00.00 Weekly sync 84512345678" / "zoom_0.mp4", ROOT, 0)
    assert render_key(DEFAULT_TEMPLATE, meeting, "zoom_0.mp4") == expected


def test_spanish_layout() -> None:
    key = render_key(SPANISH_LAYOUT, SAMPLE_MEETING, "zoom_0.mp4", locale="es")
    assert key == "2023_10_Octubre/29-10-2023_Domingo/zoom_0.mp4"


@pytest.mark.parametrize(
    ("locale", "month", "weekday"),
    [
        ("en", "October", "Sunday"),
        ("de_DE", "Oktober", "Sonntag"),
        ("de-DE", "Oktober", "Sonntag"),
        ("ca", "Octubre", "Diumenge"),  # stand-alone form, not "d’octubre"
        ("ru", "Октябрь", "Воскресенье"),  # nominative, not genitive "октября"
    ],
)
def test_locale_names(locale: str, month: str, weekday: str) -> None:
    key = render_key("{month_name} {weekday}/{filename}", SAMPLE_MEETING, "a.mp4", locale=locale)
    assert key == f"{month} {weekday}/a.mp4"


def test_all_variables() -> None:
    meeting = Meeting("Weekly sync", datetime(2023, 10, 29, 9, 5, 7), "84512345678", "zoom-folder")
    template = "/".join(f"{{{name}}}" for name in TEMPLATE_VARIABLES)
    key = render_key(template, meeting, "GMT_Recording.transcript.vtt", source="cloud")
    assert key == (
        "2023/10/October/29/Sunday/2023-10-29/09.05.07/9/5/Weekly sync/84512345678/"
        "GMT_Recording.transcript.vtt/GMT_Recording.transcript/vtt/cloud"
    )


def test_missing_id_and_extension_render_empty_and_drop_segments() -> None:
    key = render_key("{meeting_id}/{title} [{meeting_id}]/{stem}.{ext}", _jan15(meeting_id=None), "chat")
    assert key == "Weekly sync __/chat"


def test_format_specs_and_conversions() -> None:
    template = "{year}{month:02d}{day:02d}-{hour:02d}{minute:02d} {title!r:>15}/{filename}"
    key = render_key(template, _jan15(), "a.mp4")
    assert key == "20240115-1000 'Weekly sync'/a.mp4"


def test_default_source_is_local() -> None:
    assert render_key("{source}/{filename}", _jan15(), "a.mp4") == "local/a.mp4"


def test_template_with_nothing_left_falls_back_to_filename() -> None:
    assert render_key("{meeting_id}", _jan15(meeting_id=None), "zoom_0.mp4") == "zoom_0.mp4"
    assert render_key("/ /", _jan15(), "con") == "con_"


@pytest.mark.parametrize(
    ("title", "segment"),
    [("../../etc", ".._.._etc"), ("..", "_"), ("CON", "CON_"), ("a:b*c?", "a_b_c_"),
     ("Fiesta 🎉🥳 会议", "Fiesta 🎉🥳 会议"), ("line one\nline two\r\n", "line one_line two__"),
     ("back\\slash", "back_slash"), ("  trailing dots...  ", "trailing dots")],
)  # fmt: skip
def test_hostile_titles_stay_in_one_segment(title: str, segment: str) -> None:
    key = render_key("{title}/{filename}", _jan15(title), "zoom_0.mp4")
    assert key == f"{segment}/zoom_0.mp4"


def test_long_title_is_truncated_to_255_bytes() -> None:
    title = "Überlange Besprechung " * 14  # > 300 chars, multi-byte
    assert len(title) > 300
    key = render_key(DEFAULT_TEMPLATE, _jan15(title), "zoom_0.mp4")
    for segment in key.split("/"):
        assert len(segment.encode("utf-8")) <= 255
    assert key.endswith("/zoom_0.mp4")


def test_long_title_in_file_segment_keeps_extension() -> None:
    key = render_key("{date} {title} {filename}", _jan15("x" * 300), "zoom_0.mp4")
    assert len(key.encode("utf-8")) == 255
    assert key.endswith(".mp4")


def test_template_literals_cannot_escape() -> None:
    key = render_key("/../{year}/./{filename}", _jan15(), "zoom_0.mp4")
    assert key == "_/2024/_/zoom_0.mp4"


def test_render_rejects_unknown_locale_and_variables() -> None:
    with pytest.raises(ValueError, match="unknown locale 'xx'"):
        render_key(DEFAULT_TEMPLATE, _jan15(), "a.mp4", locale="xx")
    with pytest.raises(ValueError, match="unknown variable"):
        render_key("{foo}/{filename}", _jan15(), "a.mp4")


# --- validate_template / validate_locale -----------------------------------


@pytest.mark.parametrize(
    "template",
    [DEFAULT_TEMPLATE, SPANISH_LAYOUT, "{stem}.{ext}",
     "{source}/{year}/{date} {title} [{meeting_id}]/{filename}", "{{literal braces}}/{filename!s}"],
)  # fmt: skip
def test_valid_templates(template: str) -> None:
    validate_template(template)


@pytest.mark.parametrize(
    ("template", "fragment"),
    [("{foo}/{filename}", "'{foo}'"), ("{year", "invalid template syntax"),
     ("{year}}/{filename}", "invalid template syntax"), ("{title:02d}/{filename}", "'{title:02d}'"),
     ("{year:%Y}/{filename}", "'{year:%Y}'"), ("{year}/{title}", "{filename}"),
     ("{year}/{stem}", "{filename}"), ("", "{filename}"), ("{stem:.3}.{ext}", "same key"),
     ("{filename:.4}", "same key"), ("{}/{filename}", "positional"), ("{0}/{filename}", "positional"),
     ("{title.upper}/{filename}", "'{title.upper}'"), ("{title[0]}/{filename}", "'{title[0]}'"),
     ("{title!x}/{filename}", "'!x'"), ("{title:{year}}/{filename}", "nested")],
)  # fmt: skip
def test_invalid_templates(template: str, fragment: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        validate_template(template)
    message = str(excinfo.value)
    assert fragment in message
    assert "\n" not in message


def test_unknown_variable_message_lists_allowed_variables() -> None:
    with pytest.raises(ValueError) as excinfo:
        validate_template("{foo}/{filename}")
    for name in TEMPLATE_VARIABLES:
        assert name in str(excinfo.value)


@pytest.mark.parametrize("locale", ["en", "es", "de_DE", "de-DE", "pt_BR", "zh_Hant_TW"])
def test_valid_locales(locale: str) -> None:
    validate_locale(locale)


@pytest.mark.parametrize("locale", ["xx", "", "  ", "not a locale!", "C"])
def test_invalid_locales(locale: str) -> None:
    with pytest.raises(ValueError, match=r"unknown locale .* — use a code like en, es, de_DE"):
        validate_locale(locale)


# --- sanitize_segment / with_suffix_number ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("zoom_0.mp4", "zoom_0.mp4"), ("a:b*c?", "a_b_c_"), ('<>:"/\\|?*', "_________"),
     ("a#b%c{d}e^f~g[h]i`j", "a_b_c_d_e_f_g_h_i_j"),
     ("Ana's (1) & co, $5 @ home; +=!", "Ana's (1) & co, $5 @ home; +=!"), ("CON", "CON_"),
     ("con.txt", "con_.txt"), ("CON .mp4", "CON_ .mp4"), ("Nul.tar.gz", "Nul_.tar.gz"), ("lpt9", "lpt9_"),
     ("COM1.", "COM1_"), ("COM10", "COM10"), ("CONSOLE", "CONSOLE"), ("", "_"), (".", "_"), ("..", "_"),
     ("....", "_"), ("   ", "_"), (".hidden", ".hidden"), ("name. . .", "name"),
     ("  a \t\u00a0  b  ", "a _ b"), ("a\nb\r\nc", "a_b__c"), ("a\x00b\x7fc\x85d\x9f", "a_b_c_d_"),
     ("e\u0301te\u0301", "\u00e9t\u00e9"), ("会议 🎉 👨\u200d👩\u200d👧", "会议 🎉 👨\u200d👩\u200d👧"),
     ("\udcff\udce9.mp4", "__.mp4"), ("evil\u202egpj.exe", "evil_gpj.exe"), ("a\u3000\u2003b", "a b")],
)  # fmt: skip
def test_sanitize_examples(text: str, expected: str) -> None:
    assert sanitize_segment(text) == expected


def test_sanitize_truncates_bytes_not_chars_and_keeps_extension() -> None:
    result = sanitize_segment("é" * 200 + ".mp4")
    assert result == "é" * 125 + ".mp4"
    assert len(result.encode("utf-8")) == 254


@pytest.mark.parametrize(
    "text",
    ["a" * 300, "🎉" * 100, "会" * 100 + ".transcript.vtt", "x" * 300 + "." + "y" * 20, "e\u0301" * 200],
)
def test_sanitize_long_names(text: str) -> None:
    result = sanitize_segment(text)
    assert 240 <= len(result.encode("utf-8")) <= 255
    assert result == sanitize_segment(result)
    if text.endswith(".vtt"):
        assert result.endswith(".vtt")


def test_sanitize_does_not_orphan_combining_marks() -> None:
    # x + two marks with no precomposed form: the cut drops the whole cluster
    assert sanitize_segment("a" * 252 + "x\u0323\u0302") == "a" * 252
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 18 bytes, one cluster
    assert sanitize_segment("a" * 240 + family) == "a" * 240
    assert sanitize_segment("a" * 237 + family) == "a" * 237 + family


@pytest.mark.parametrize(
    ("key", "n", "expected"),
    [("2023/10/a b/zoom_0.mp4", 2, "2023/10/a b/zoom_0 (2).mp4"), ("zoom_0.mp4", 3, "zoom_0 (3).mp4"),
     ("2023/chat", 2, "2023/chat (2)"), ("x/archive.tar.gz", 2, "x/archive.tar (2).gz"),
     ("x/.hidden", 2, "x/.hidden (2)")],
)  # fmt: skip
def test_with_suffix_number(key: str, n: int, expected: str) -> None:
    assert with_suffix_number(key, n) == expected


def test_with_suffix_number_stays_within_255_bytes() -> None:
    key = "2024/" + "é" * 125 + ".mp4"
    result = with_suffix_number(key, 12)
    last = result.split("/")[-1]
    assert result.startswith("2024/")
    assert last.endswith(" (12).mp4")
    assert len(last.encode("utf-8")) <= 255


# --- Property-based tests --------------------------------------------------

TRICKY = st.sampled_from(
    [".", "..", " ", "\n", "\t", "/", "\\", ":", "*", "?", "#", "%", "CON", "con", "LPT1", "NUL",
     ".txt", "é", "e\u0301", "\u0301", "🎉", "\u200d", "\udcff", "\x00", "\x85", "\u202e", "会"]
)  # fmt: skip
ANY_TEXT = st.one_of(
    st.text(),
    st.text(st.characters(exclude_categories=())),  # includes lone surrogates
    st.lists(TRICKY, max_size=12).map("".join),
    st.builds(lambda a, b: a + b, st.lists(TRICKY, max_size=4).map("".join), st.text()),
    st.text(st.sampled_from("aé会🎉. \u0301"), min_size=100, max_size=400),
)


def _assert_safe_segment(segment: str) -> None:
    assert segment
    assert len(segment.encode("utf-8")) <= 255
    assert not any(ch in FORBIDDEN or _is_control(ch) for ch in segment)
    assert segment.strip(".")
    assert segment == segment.strip(" ")
    assert not segment.endswith(".")
    assert segment.partition(".")[0].rstrip(" ").upper() not in RESERVED
    assert unicodedata.is_normalized("NFC", segment)


@settings(deadline=None)
@given(ANY_TEXT)
def test_sanitize_properties(text: str) -> None:
    result = sanitize_segment(text)
    _assert_safe_segment(result)
    assert sanitize_segment(result) == result


TEMPLATES = st.sampled_from(
    [DEFAULT_TEMPLATE, SPANISH_LAYOUT, "{title}/{filename}", "{date} {title} {filename}",
     "/{title}/../{stem}.{ext}", "{meeting_id}/{title}{meeting_id}/{filename}"]
)  # fmt: skip


@settings(deadline=None)
@given(TEMPLATES, ANY_TEXT.filter(lambda t: t.strip()), ANY_TEXT, st.sampled_from(["en", "es", "ja"]))
def test_render_key_properties(template: str, title: str, filename: str, locale: str) -> None:
    meeting = Meeting(title, JAN15, None, "fallback")
    key = render_key(template, meeting, filename, source="cloud", locale=locale)
    assert key
    assert not key.startswith("/")
    for segment in key.split("/"):
        assert segment not in ("", ".", "..")
        _assert_safe_segment(segment)


TOPIC = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/\\"),
    max_size=40,
)


@settings(deadline=None)
@given(
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
    TOPIC,
    st.one_of(st.none(), st.from_regex(r"[0-9]{9,11}", fullmatch=True)),
)
def test_parse_meeting_round_trips_folder_names(start: datetime, topic: str, meeting_id: str | None) -> None:
    start = start.replace(microsecond=0)
    expected_title = " ".join(unicodedata.normalize("NFC", topic).split())
    if meeting_id is None:
        last = expected_title.rpartition(" ")[2]
        assume(not (last.isascii() and last.isdigit() and 9 <= len(last) <= 11))
    name = f"{start:%Y-%m-%d %H.%M.%S} {topic}" + (f" {meeting_id}" if meeting_id else "")
    meeting = parse_meeting(ROOT / name / "zoom_0.mp4", ROOT, 0.0)
    assert meeting == Meeting(expected_title or "Zoom Meeting", start, meeting_id, "zoom-folder")


@settings(deadline=None)
@given(ANY_TEXT, st.integers(min_value=1, max_value=10_000))
def test_with_suffix_number_properties(name: str, n: int) -> None:
    key = "2024/01/" + sanitize_segment(name)
    result = with_suffix_number(key, n)
    assert result != key
    assert result.startswith("2024/01/")
    assert f" ({n})" in result
    assert len(result.split("/")[-1].encode("utf-8")) <= 255
