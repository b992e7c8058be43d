"""The language a person reads zoomwatch in: English, Spanish or Russian, picked from the operating system
(Windows' UI language, macOS's preferred languages, LANGUAGE/LC_ALL/LC_MESSAGES/LANG elsewhere) unless the
`ui.language` setting names one.

Two kinds of marked text, both extracted into zoomwatch/locale/zoomwatch.pot by Babel (see babel.cfg):

- `N_("msgid {name}", name=...)` / `NP_(singular, plural, n, ...)`: a `Msg`, a str holding the ENGLISH text
  (what logs, `str(exc)`, JSON and comparisons see) that remembers its msgid and parameters. Errors and
  problems carry these: the engine never translates, so logs and machine-readable output stay English.
- `T_(...)` / `TP_(...)`: translated at once, for a face building what it shows.

A face shows any text with `tr(text)`: a Msg is translated (its Msg parameters too, numbers formatted for the
locale), any other text is shown as it is. A Msg survives the status file as `to_json()` / `from_json()`.

A low module: no GUI, nothing heavy at import. The catalog is read with the standard library's gettext
(Babel's `support.Translations` is a subclass of the same class, but importing it costs ~20 ms at start-up);
Babel's number formatting is imported only when a translated number is shown.
"""

from __future__ import annotations

import gettext
import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

DOMAIN = "zoomwatch"
LANGUAGES = ("en", "es", "ru")  # English is the source language: its catalog is the code itself
LANGUAGE_NAMES = {"en": "English", "es": "Español", "ru": "Русский"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_language: str | None = None  # chosen by setup(); None = not chosen yet (the system's, on first use)
_translations: gettext.NullTranslations | None = None


# -- the marked text ------------------------------------------------------------------------------

class Msg(str):
    """English text that can still be shown in another language: its msgid (and plural), its count and
    its parameters. Everything treating it as a str sees the English."""

    msgid: str
    plural: str | None
    n: int | None
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any] | None = None, *, plural: str | None = None,
                n: int | None = None) -> Msg:
        params = dict(params or {})
        english = plural if plural is not None and n != 1 else msgid
        self = super().__new__(cls, _fill(english, {k: str(v) for k, v in params.items()}))
        self.msgid, self.plural, self.n, self.params = msgid, plural, n, params
        return self

    def translated(self) -> str:
        """The text in the language chosen (English when that has no translation for it)."""
        catalog = translations()
        if self.plural is not None:
            template = catalog.ngettext(self.msgid, self.plural, self.n if self.n is not None else 2)
        else:
            template = catalog.gettext(self.msgid)
        values = {k: _shown(k, v) for k, v in self.params.items()}
        text = _fill(template, values)
        return text if text is not None else str(self)

    def map(self, change: Any) -> Msg:
        """The same message with `change` applied to each text parameter (e.g. printable)."""
        params = {k: v.map(change) if isinstance(v, Msg) else change(v) if isinstance(v, str | os.PathLike) else v
                  for k, v in self.params.items()}
        return Msg(self.msgid, params, plural=self.plural, n=self.n)

    def to_json(self) -> dict[str, Any]:
        params = {k: v.to_json() if isinstance(v, Msg) else v if isinstance(v, int | float) else str(v)
                  for k, v in self.params.items()}
        data: dict[str, Any] = {"msgid": self.msgid, "params": params}
        if self.plural is not None:
            data.update(plural=self.plural, n=self.n)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Msg | None:
        """The Msg `to_json` wrote, or None for anything else (a status file from another version)."""
        if isinstance(data, dict) and isinstance(data.get("join"), str) and isinstance(data.get("parts"), list):
            return Joined(data["join"], [cls.from_json(p) or str(p) for p in data["parts"]])
        if not isinstance(data, dict) or not isinstance(data.get("msgid"), str):
            return None
        params: dict[str, Any] = {}
        for key, value in (data.get("params") or {}).items():
            params[key] = cls.from_json(value) if isinstance(value, dict) else value
        plural, n = data.get("plural"), data.get("n")
        return cls(data["msgid"], params, plural=plural if isinstance(plural, str) else None,
                   n=n if isinstance(n, int) else None)


class Joined(Msg):
    """Texts (each a Msg or not) joined by a separator, translated part by part."""

    sep: str
    parts: list[Any]

    def __new__(cls, sep: str, parts: Any) -> Joined:  # type: ignore[misc]
        parts = list(parts)
        self = str.__new__(cls, sep.join(str(p) for p in parts))
        self.msgid, self.plural, self.n, self.params = str(self), None, None, {}
        self.sep, self.parts = sep, parts
        return self

    def translated(self) -> str:
        return self.sep.join(tr(p) for p in self.parts)

    def map(self, change: Any) -> Msg:
        return Joined(self.sep, [keep(p, change) for p in self.parts])

    def to_json(self) -> dict[str, Any]:
        return {"join": self.sep, "parts": [p.to_json() if isinstance(p, Msg) else str(p) for p in self.parts]}


def join(sep: str, parts: Any) -> Joined:
    """`sep.join(parts)` that a face can still translate part by part."""
    return Joined(sep, parts)


def _fill(template: str, values: dict[str, Any]) -> str:
    """`template` with its {name} fields filled; a broken translation falls back to None (English shown)."""
    if not values:
        return template
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return None  # type: ignore[return-value]


COUNTS = ("n", "count", "verified", "waiting")  # parameters that are counts: shown with the locale's digits


def _shown(name: str, value: Any) -> Any:
    if isinstance(value, Msg):
        return value.translated()
    if name in COUNTS and isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1000:
        return format_number(value)
    return value


def N_(msgid: str, /, **params: Any) -> Msg:  # noqa: N802 - gettext's customary marker names
    """Marked for translation, kept English until a face shows it."""
    return Msg(msgid, params)


def NP_(singular: str, plural: str, n: int, /, **params: Any) -> Msg:  # noqa: N802
    """Marked, with plural forms chosen by `n` (also available to the text as {n})."""
    return Msg(singular, {"n": n, **params}, plural=plural, n=n)


def T_(msgid: str, /, **params: Any) -> str:  # noqa: N802
    """Translated at once (a face building what it shows)."""
    if not params:  # most labels: a look-up, no Msg
        return translations().gettext(msgid)
    return Msg(msgid, params).translated()


def TP_(singular: str, plural: str, n: int, /, **params: Any) -> str:  # noqa: N802
    return NP_(singular, plural, n, **params).translated()


def tr(text: Any) -> str:
    """What a face shows for `text`: a Msg translated, anything else as it is."""
    if isinstance(text, Msg):
        return text.translated()
    return "" if text is None else str(text)


def reason(exc: BaseException) -> str:
    """An exception's message: the Msg it was raised with (still translatable), else its str."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Msg) else str(exc)


def keep(text: Any, change: Any) -> Any:
    """`change(text)` that keeps a Msg a Msg (applied to its parameters instead)."""
    return text.map(change) if isinstance(text, Msg) else change(text)


def state_name(state: str) -> Msg | str:
    """A file state as a person reads it (`status`, run --once)."""
    names = {"settling": N_("settling"), "queued": N_("queued"), "uploading": N_("uploading"),
             "verified": N_("verified"), "failed": N_("failed"), "superseded": N_("superseded"),
             "missing": N_("missing"), "interrupted": N_("interrupted")}
    return names.get(str(state), str(state))


def state_count(state: str, n: int) -> Msg | str:
    """'3 verified', with the plural form for n in the language shown (Russian: 1 файл, 2 файла, 5 файлов)."""
    counts = {
        "settling": lambda: NP_("{n} settling", "{n} settling", n),
        "queued": lambda: NP_("{n} queued", "{n} queued", n),
        "uploading": lambda: NP_("{n} uploading", "{n} uploading", n),
        "verified": lambda: NP_("{n} verified", "{n} verified", n),
        "failed": lambda: NP_("{n} failed", "{n} failed", n),
        "superseded": lambda: NP_("{n} superseded", "{n} superseded", n),
        "missing": lambda: NP_("{n} missing", "{n} missing", n),
        "interrupted": lambda: NP_("{n} interrupted", "{n} interrupted", n),
    }
    return counts[str(state)]() if str(state) in counts else f"{n} {state}"


# -- choosing the language -------------------------------------------------------------------------

def normalize(code: str | None) -> str | None:
    """One of LANGUAGES for a locale code like es_ES.UTF-8, ru-RU or pt (None when it is none of them)."""
    if not code:
        return None
    base = re.split(r"[_.@-]", code.strip(), maxsplit=1)[0].lower()
    return base if base in LANGUAGES else None


@lru_cache(maxsize=1)
def system_language() -> str:
    """The language of the operating system's interface, as one of LANGUAGES ("en" for any other)."""
    for code in _system_codes():
        found = normalize(code)
        if found:
            return found
        if code and code.split("_")[0].lower() not in ("c", "posix", ""):
            return "en"  # the person's first language is one zoomwatch does not speak: English
    return "en"


def _system_codes() -> list[str]:
    if sys.platform == "win32":
        return _windows_codes()
    if sys.platform == "darwin":
        return _macos_codes()
    return _environment_codes()


def _environment_codes() -> list[str]:
    """gettext's order: LANGUAGE (a list, e.g. es:en), then LC_ALL, LC_MESSAGES, LANG."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return [part for part in value.split(":") if part]
    return []


def _windows_codes() -> list[str]:  # pragma: no cover - Windows only
    import ctypes
    import locale

    try:
        langid = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return []
    code = locale.windows_locale.get(int(langid), "")
    return [code] if code else []


def _macos_codes() -> list[str]:  # pragma: no cover - macOS only
    import subprocess

    try:
        out = subprocess.run(["defaults", "read", "-g", "AppleLanguages"], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r'"?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)"?\s*,?\s*$', out, flags=re.MULTILINE)


def setup(language: str | None = None) -> str:
    """Use `language` (one of LANGUAGES; empty or None: the system's). Returns the language in use."""
    global _language, _translations
    _language = normalize(language) or system_language()
    _translations = None
    return _language


def current() -> str:
    return _language if _language is not None else setup()


def translations() -> gettext.NullTranslations:
    """The catalog of the language in use (NullTranslations for English or a missing catalog)."""
    global _translations
    if _translations is None:
        language = current()
        mo = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if language == "en" or not mo.is_file():
            _translations = gettext.NullTranslations()
        else:
            with mo.open("rb") as handle:
                _translations = gettext.GNUTranslations(handle)
    return _translations


def naming_locale(ui_language: str | None = None) -> str:
    """What `naming.locale` is when the config file does not set it: the interface's language, so folder
    names and the interface agree."""
    return normalize(ui_language) or system_language()


# -- numbers, sizes and dates for the language in use ----------------------------------------------

def format_number(number: float) -> str:
    from babel.numbers import format_decimal

    return format_decimal(number, locale=current())


def format_size(size: int) -> str:
    """A size in decimal units (1 KB = 1000 B) with the locale's decimal sign: 1.5 MB, 1,5 MB."""
    from babel.numbers import format_decimal

    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    shown = f"{value:.0f}" if unit == "B" else format_decimal(round(value, 1), format="#,##0.0", locale=current())
    return f"{shown} {_unit(unit)}"


def _unit(unit: str) -> str:
    units = {"B": N_("B"), "KB": N_("KB"), "MB": N_("MB"), "GB": N_("GB"), "TB": N_("TB")}
    return tr(units[unit])


def format_datetime(moment: Any, format: str = "medium") -> str:
    from babel.dates import format_datetime as babel_format

    return babel_format(moment, format=format, locale=current())
