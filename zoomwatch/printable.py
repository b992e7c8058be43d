"""Untrusted text made safe to show: names of recordings (any bytes a file system allows), Zoom titles,
server messages. `printable()` is used wherever such text reaches a log line, a terminal or a tooltip.

Escaped, so that a name can neither forge a log line nor drive the terminal nor read backwards:
C0 controls, DEL and C1 controls (`\\n`, `\\r`, `\\t`, else `\\xNN`), the Unicode line and paragraph
separators and the bidirectional controls (`\\uNNNN`), and bytes that are not valid UTF-8 (kept by
Python as lone surrogates, shown as the byte they stand for: `\\xff`). Backslashes are left alone, so
escaping twice changes nothing and Windows paths read as usual.
"""

from __future__ import annotations

import os
import re

# C0, DEL, C1; Arabic letter mark, LRM, RLM; line and paragraph separators; embeddings and overrides
# (U+202A-202E); isolates (U+2066-2069); every surrogate (undecodable bytes, or a broken UTF-16 pair).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The same characters, but only those json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself).
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape: the byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`value` (text, bytes or a path) as one line of text with nothing a terminal or a log reader
    would act on."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "surrogateescape")
    elif isinstance(value, os.PathLike):
        text = os.fsdecode(value)
    else:
        text = str(value)
    return _UNSAFE.sub(_escape, text)


def _escape_in_json(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\\\x{code - 0xDC00:02x}"  # a JSON string holding the text \xNN, as printable() shows it
    return f"\\u{code:04x}"  # a JSON escape: the value read back is exactly the original character


def json_printable(document: str) -> str:
    """The output of `json.dumps(..., ensure_ascii=False)` made safe for a terminal: the characters it
    leaves raw (DEL, C1, separators, bidi controls) become JSON escapes, so the values read back are
    unchanged; undecodable bytes, which JSON cannot hold, become the text `\\xNN` as in printable()."""
    return _RAW_IN_JSON.sub(_escape_in_json, document)
