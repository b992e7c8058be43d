"""printable(): untrusted names shown on one line with nothing a terminal or a log reader acts on; and the
log formatter built on it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from zoomwatch.logsetup import setup_logging
from zoomwatch.printable import json_printable, printable


@pytest.mark.parametrize(("raw", "shown"), [
    ("Team sync", "Team sync"),
    ("Réunion — 会議 🎉", "Réunion — 会議 🎉"),  # ordinary letters, any script, stay as they are
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x1b]0;pwn\x07", "\\x1b]0;pwn\\x07"),
    ("del\x7f c1\x9b31m nel\x85", "del\\x7f c1\\x9b31m nel\\x85"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("\u202egnp.exe \u2066x\u2069 \u200f\u061c", "\\u202egnp.exe \\u2066x\\u2069 \\u200f\\u061c"),
    (b"bad\xff\xfename", "bad\\xff\\xfename"),  # bytes that are not UTF-8
    (Path(b"/z/bad\xffname".decode("utf-8", "surrogateescape")), "/z/bad\\xffname"),
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ("C:\\Users\\me", "C:\\Users\\me"),  # backslashes are not doubled
])
def test_printable_escapes_only_what_acts_on_a_terminal(raw: object, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(printable(raw)) == shown  # escaping twice changes nothing
    shown.encode("utf-8")  # and it can always be written out


def test_json_printable_keeps_values_exact_but_escapes_raw_controls() -> None:
    value = {"path": "a\x1b[31m\x9b\u202e\u2028" + b"\xff".decode("utf-8", "surrogateescape")}
    out = json_printable(json.dumps(value, ensure_ascii=False))
    assert out.isprintable() and out.isascii()
    assert json.loads(out) == {"path": "a\x1b[31m\x9b\u202e\u2028\\xff"}


def test_log_records_stay_one_line_and_tracebacks_are_indented(tmp_path: Path) -> None:
    log_file = tmp_path / "zoomwatch.log"
    setup_logging(log_file, stderr=False)
    try:
        log = logging.getLogger("zoomwatch.test")
        evil = "x\n2026-01-01 00:00:00,000 ERROR forged \x1b[2J" + b"\xff".decode("utf-8", "surrogateescape")
        log.info("finished: %s", Path(evil))
        try:
            raise OSError(f"cannot read {evil}")
        except OSError:
            log.exception("unexpected error while backing up %s", evil)
    finally:
        for handler in list(logging.getLogger().handlers):
            handler.close()
            logging.getLogger().removeHandler(handler)
    lines = log_file.read_text(encoding="utf-8").splitlines()
    starts = [line for line in lines if not line.startswith(" ")]
    assert len(starts) == 2, lines
    assert starts[0].endswith("finished: x\\n2026-01-01 00:00:00,000 ERROR forged \\x1b[2J\\xff")
    assert lines[2] == "    Traceback (most recent call last):"
    # a newline inside the exception's own text starts a new, indented line: it cannot pose as a record
    assert lines[-2:] == ["    OSError: cannot read x", "    2026-01-01 00:00:00,000 ERROR forged \\x1b[2J\\xff"]
    assert all(line.isprintable() for line in lines)
