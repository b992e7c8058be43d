"""Turn recording files into meetings and meetings into safe storage keys.

This module owns three jobs:

* ``parse_meeting`` works out which meeting a recording file belongs to, from
  the Zoom client's per-meeting folder names, from Zoom web-portal download
  names, or (failing both) from the file's own name and modification time.
* ``render_key`` fills a user template (``str.format`` syntax) with a
  meeting's details and returns a relative, ``/``-separated key.
* ``sanitize_segment`` makes one path segment safe for Windows, macOS, Linux,
  S3 and Supabase Storage at once.

Normalisation done by the parser (documented because titles round-trip
through it): folder and parent-folder names are NFC-normalised, and runs of
whitespace (``str.split`` semantics) in topics collapse to one space with
leading/trailing whitespace removed.  The meeting ID is the last
space-separated token only when it is 9-11 ASCII digits, so a topic that
itself ends in such a number is indistinguishable from one followed by an ID.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from string import Formatter

from babel import Locale, UnknownLocaleError
from babel.dates import get_day_names, get_month_names


@dataclass(frozen=True)
class Meeting:
    """One Zoom meeting as far as naming is concerned."""

    title: str
    start: datetime
    meeting_id: str | None
    source: str


SAMPLE_MEETING = Meeting("Weekly sync", datetime(2023, 10, 29, 10, 0, 0), "84512345678", "zoom-folder")

DEFAULT_TEMPLATE = "{year}/{month:02d}/{date} {time} {title}/{filename}"

TEMPLATE_VARIABLES: tuple[str, ...] = (
    "year", "month", "month_name", "day", "weekday", "date", "time", "hour",
    "minute", "title", "meeting_id", "filename", "stem", "ext", "source",
)  # fmt: skip

FOLDER_FALLBACK_TITLE = "Zoom Meeting"
PORTAL_FALLBACK_TITLE = "Zoom Recording"
FILE_FALLBACK_TITLE = "Untitled"

MAX_SEGMENT_BYTES = 255
MAX_KEPT_EXT_CHARS = 16

# --- parse_meeting ---------------------------------------------------------

_FOLDER_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2})\.([0-9]{2})\.([0-9]{2})(?: (.*))?",
    re.DOTALL,
)
_PORTAL_RE = re.compile(r"GMT([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{2})([0-9]{2})([0-9]{2})_")
_MEETING_ID_RE = re.compile(r"[0-9]{9,11}")


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _make_datetime(groups: tuple[str, ...]) -> datetime | None:
    try:
        year, month, day, hour, minute, second = (int(g) for g in groups)
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _split_topic(topic: str) -> tuple[str, str | None]:
    """Split a normalised topic into (title, meeting_id)."""
    head, _, last = topic.rpartition(" ")
    if _MEETING_ID_RE.fullmatch(last):
        return head or FOLDER_FALLBACK_TITLE, last
    return topic or FOLDER_FALLBACK_TITLE, None


def _meeting_from_folder_name(name: str) -> Meeting | None:
    match = _FOLDER_RE.fullmatch(unicodedata.normalize("NFC", name))
    if match is None:
        return None
    start = _make_datetime(match.groups()[:6])
    if start is None:
        return None
    title, meeting_id = _split_topic(_collapse_whitespace(match.group(7) or ""))
    return Meeting(title, start, meeting_id, "zoom-folder")


def _candidate_folders(path: Path, root: Path | None) -> list[Path]:
    """The file's parent and ancestors, nearest first, stopping before root."""
    folders = []
    for folder in path.parents:
        if root is not None and folder == root:
            break
        folders.append(folder)
    return folders


def _utc_to_local(moment: datetime) -> datetime | None:
    try:
        return moment.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None


def _portal_title(path: Path, root: Path | None) -> str:
    parent = path.parent
    if parent == root:
        return PORTAL_FALLBACK_TITLE
    name = _collapse_whitespace(unicodedata.normalize("NFC", parent.name))
    return name or PORTAL_FALLBACK_TITLE


def _meeting_from_portal_name(path: Path, root: Path | None) -> Meeting | None:
    match = _PORTAL_RE.match(path.name)
    if match is None:
        return None
    utc_start = _make_datetime(match.groups())
    start = _utc_to_local(utc_start) if utc_start is not None else None
    if start is None:
        return None
    return Meeting(_portal_title(path, root), start, None, "zoom-portal")


def _fallback_meeting(path: Path, mtime: float) -> Meeting:
    title = path.stem if path.stem.strip() else path.name
    if not title.strip():
        title = FILE_FALLBACK_TITLE
    return Meeting(title, datetime.fromtimestamp(mtime), None, "fallback")


def parse_meeting(path: Path, root: Path | None, mtime: float) -> Meeting:
    """Work out the meeting a recording file belongs to.

    Tries, in order: a Zoom client meeting folder among the file's ancestors
    (nearest first, never ``root`` itself or above it), a Zoom web-portal file
    name (``GMTYYYYMMDD-HHMMSS_...``, UTC converted to local time), and finally
    the file's stem with ``mtime`` as the start.
    """
    for folder in _candidate_folders(path, root):
        meeting = _meeting_from_folder_name(folder.name)
        if meeting is not None:
            return meeting
    meeting = _meeting_from_portal_name(path, root)
    if meeting is not None:
        return meeting
    return _fallback_meeting(path, mtime)


# --- sanitize_segment ------------------------------------------------------

_SURROGATES_RE = re.compile("[\ud800-\udfff]")
# Controls (C0, DEL, C1), Windows-forbidden characters, characters Supabase
# Storage refuses, and bidi embedding/override/isolate controls (used to
# disguise file extensions).
_FORBIDDEN_RE = re.compile('[\x00-\x1f\x7f-\x9f<>:"/\\\\|?*#%{}^~\\[\\]`\u202a-\u202e\u2066-\u2069]')
_WHITESPACE_RE = re.compile(r"\s+")
_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in "0123456789\u00b9\u00b2\u00b3"]
)
_GRAPHEME_EXTENDERS = frozenset({"Mn", "Mc", "Me"})


def _split_ext(name: str, max_ext: int | None = None) -> tuple[str, str]:
    """Split ``name`` into (stem, ext) like ``os.path.splitext``, ext without dot.

    Leading dots never start an extension (".bashrc" has none).  With
    ``max_ext``, longer "extensions" are treated as part of the stem.
    """
    index = name.rfind(".")
    if index <= 0 or not name[:index].strip("."):
        return name, ""
    ext = name[index + 1 :]
    if max_ext is not None and len(ext) > max_ext:
        return name, ""
    return name[:index], ext


def _clean_characters(text: str) -> str:
    text = _SURROGATES_RE.sub("_", text)
    text = unicodedata.normalize("NFC", text)
    text = _FORBIDDEN_RE.sub("_", text)
    return _WHITESPACE_RE.sub(" ", text)


def _trim(text: str) -> str:
    return text.lstrip(" ").rstrip(". ")


def _guard_reserved(name: str) -> str:
    base, dot, rest = name.partition(".")
    core = base.rstrip(" ")
    if core.upper() in _RESERVED_NAMES:
        return f"{core}_{base[len(core) :]}{dot}{rest}"
    return name


def _extends_cluster(ch: str) -> bool:
    """True for characters that attach to the previous one (marks, ZWJ, emoji modifiers, tags)."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in _GRAPHEME_EXTENDERS
        or ch == "\u200d"
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _cut_utf8(text: str, budget: int) -> str:
    """Longest prefix of ``text`` within ``budget`` UTF-8 bytes.

    Never splits a code point, and backs off to the start of a character
    cluster (base + marks / ZWJ sequence) rather than cut through one.
    """
    if len(text.encode("utf-8")) <= budget:
        return text
    end = len(text.encode("utf-8")[:budget].decode("utf-8", "ignore"))
    safe = end
    while safe > 0 and (_extends_cluster(text[safe]) or text[safe - 1] == "\u200d"):
        safe -= 1
    return text[: safe or end]


def _fit_bytes(name: str, limit: int = MAX_SEGMENT_BYTES) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = _split_ext(name, MAX_KEPT_EXT_CHARS)
    tail = f".{ext}" if ext else ""
    return _cut_utf8(stem, limit - len(tail.encode("utf-8"))) + tail


def sanitize_segment(text: str) -> str:
    """Make one path segment safe everywhere we store files.

    NFC-normalises; replaces controls, lone surrogates, ``< > : " / \\ | ? *``,
    ``# % { } ^ ~ [ ] `` ` and bidi controls with "_"; collapses whitespace;
    strips leading spaces and trailing spaces/dots; guards Windows reserved
    device names; and truncates to 255 UTF-8 bytes keeping a short extension.
    Never returns "", ".", or "..".  Idempotent.
    """
    name = _trim(_clean_characters(text))
    if not name:
        return "_"
    name = _trim(_fit_bytes(_guard_reserved(name)))
    return name or "_"


# --- Locale look-ups -------------------------------------------------------


_LOCALE_SHAPE = re.compile(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]+)*\Z")


@lru_cache(maxsize=64)
def _parse_locale(locale: str) -> Locale:
    message = f"unknown locale {locale!r} — use a code like en, es, de_DE"
    # a language code first (two or three letters): Babel 2.19 reads the POSIX names "C" and "POSIX" as en_US_POSIX
    if not isinstance(locale, str) or not _LOCALE_SHAPE.match(locale.strip()):
        raise ValueError(message)
    try:
        return Locale.parse(locale.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(message) from exc


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


@lru_cache(maxsize=64)
def _month_and_day_names(locale: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(month names indexed 1..12 with a blank at 0, day names Monday=0).

    Stand-alone forms are used: they are the nominative forms a folder label
    needs (Russian "Октябрь", Catalan "Octubre" rather than "d’octubre").
    """
    parsed = _parse_locale(locale)
    months = get_month_names("wide", context="stand-alone", locale=parsed)
    days = get_day_names("wide", context="stand-alone", locale=parsed)
    month_names = ("",) + tuple(_capitalise(months[m]) for m in range(1, 13))
    day_names = tuple(_capitalise(days[d]) for d in range(7))
    return month_names, day_names


def validate_locale(locale: str) -> None:
    """Raise ValueError unless Babel knows ``locale`` (``de_DE`` or ``de-DE``)."""
    _month_and_day_names(locale)


# --- Templates -------------------------------------------------------------

_Part = tuple[str, str | None, str, str | None]
_SAMPLE_FILENAMES = ("zoom_0.mp4", "zoom_1.mp4", "zoom_0.m4a")


def _field_text(name: str, spec: str, conversion: str | None) -> str:
    text = "{" + name
    if conversion:
        text += "!" + conversion
    if spec:
        text += ":" + spec
    return text + "}"


def _allowed() -> str:
    return "allowed variables: " + ", ".join(TEMPLATE_VARIABLES)


def _check_field(name: str, spec: str, conversion: str | None) -> None:
    shown = _field_text(name, spec, conversion)
    if name == "" or name.isdigit():
        raise ValueError(f"positional field {shown!r} in template; use a name — {_allowed()}")
    if name not in TEMPLATE_VARIABLES:
        if any(ch in name for ch in ".["):
            problem = "attribute/index access is not allowed"
        else:
            problem = "unknown variable"
        raise ValueError(f"{problem}: {shown!r} in template — {_allowed()}")
    if conversion not in (None, "r", "s", "a"):
        raise ValueError(f"invalid conversion '!{conversion}' in {shown!r}; use !r, !s or !a")
    if "{" in spec or "}" in spec:
        raise ValueError(f"nested fields in format spec are not supported: {shown!r}")


@lru_cache(maxsize=64)
def _parse_template(template: str) -> tuple[_Part, ...]:
    if not isinstance(template, str):
        raise ValueError(f"template must be a string, not {type(template).__name__}")
    try:
        parts = tuple(Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid template syntax in {template!r}: {exc}") from exc
    for _literal, name, spec, conversion in parts:
        if name is not None:
            _check_field(name, spec or "", conversion)
    return tuple((lit, name, spec or "", conv) for lit, name, spec, conv in parts)


def _no_slashes(text: str) -> str:
    return text.replace("/", "_").replace("\\", "_")


def _template_values(meeting: Meeting, filename: str, source: str, locale: str) -> dict[str, object]:
    start = meeting.start
    month_names, day_names = _month_and_day_names(locale)
    stem, ext = _split_ext(filename)
    strings = {
        "month_name": month_names[start.month],
        "weekday": day_names[start.weekday()],
        "date": f"{start.year:04d}-{start.month:02d}-{start.day:02d}",
        "time": f"{start.hour:02d}.{start.minute:02d}.{start.second:02d}",
        "title": meeting.title,
        "meeting_id": meeting.meeting_id or "",
        "filename": filename,
        "stem": stem,
        "ext": ext,
        "source": source,
    }
    values: dict[str, object] = {k: _no_slashes(v) for k, v in strings.items()}
    values.update(year=start.year, month=start.month, day=start.day, hour=start.hour, minute=start.minute)
    return values


def _convert(value: object, conversion: str | None) -> object:
    if conversion == "r":
        return repr(value)
    if conversion == "a":
        return ascii(value)
    if conversion == "s":
        return str(value)
    return value


def _format_parts(parts: tuple[_Part, ...], values: dict[str, object]) -> str:
    pieces = []
    for literal, name, spec, conversion in parts:
        pieces.append(literal)
        if name is None:
            continue
        value = _convert(values[name], conversion)
        try:
            pieces.append(format(value, spec))
        except (ValueError, TypeError) as exc:
            shown = _field_text(name, spec, conversion)
            kind = type(values[name]).__name__
            raise ValueError(f"bad format spec in {shown!r} for a {kind} value: {exc}") from exc
    return "".join(pieces)


def _to_key(rendered: str, filename: str) -> str:
    segments = [sanitize_segment(part) for part in rendered.split("/") if part.strip()]
    if not segments:
        return sanitize_segment(_no_slashes(filename))
    return "/".join(segments)


def render_key(
    template: str,
    meeting: Meeting,
    filename: str,
    *,
    source: str = "local",
    locale: str = "en",
) -> str:
    """Render ``template`` for one file into a safe relative ``/``-separated key.

    String values lose ``/`` and ``\\`` (→ "_") before formatting; every
    segment of the result then goes through ``sanitize_segment`` and empty
    ones are dropped.  Raises ValueError for a broken template or locale.
    """
    parts = _parse_template(template)
    values = _template_values(meeting, filename, source, locale)
    return _to_key(_format_parts(parts, values), filename)


def validate_template(template: str) -> None:
    """Raise ValueError (one line, naming the bad part) unless ``template`` is usable."""
    parts = _parse_template(template)
    keys = [render_key(template, SAMPLE_MEETING, name) for name in _SAMPLE_FILENAMES]
    names = {name for _lit, name, _spec, _conv in parts if name}
    if "filename" not in names and not {"stem", "ext"} <= names:
        raise ValueError(
            "template must contain {filename} (or both {stem} and {ext}) so that "
            f"files of one meeting get different names — {_allowed()}"
        )
    if len(set(keys)) != len(keys):
        raise ValueError(
            f"template {template!r} gives different files the same key "
            f"({keys[0]!r}); do not truncate {{filename}}, {{stem}} or {{ext}}"
        )


def with_suffix_number(key: str, n: int) -> str:
    """Add " (n)" before the extension of the key's last segment.

    ``with_suffix_number("2023/10/a b/zoom_0.mp4", 2)`` gives
    ``"2023/10/a b/zoom_0 (2).mp4"``.  The last segment stays within 255 bytes.
    """
    head, sep, last = key.rpartition("/")
    stem, ext = _split_ext(last, MAX_KEPT_EXT_CHARS)
    tail = f" ({n})" + (f".{ext}" if ext else "")
    stem = _cut_utf8(stem, MAX_SEGMENT_BYTES - len(tail.encode("utf-8")))
    return f"{head}{sep}{stem}{tail}"
