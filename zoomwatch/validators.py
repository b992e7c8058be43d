"""Checks for setting values that more than one part of the settings uses: each takes what a person typed
(or the TOML value) and returns the value to use, or raises ValueError with a sentence saying what is
wrong. Pure functions, a low module (config.py and destination_kinds.py both declare keys with them)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoomwatch.i18n import N_


def as_int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(N_("expected a whole number"))
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(N_("expected a whole number, got {value}", value=repr(value))) from None
        if not low <= number <= high:
            raise ValueError(N_("must be between {low} and {high}, got {number}", low=str(low), high=str(high),
                                    number=str(number)))
        return number

    return check


def as_path(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(N_("expected a folder path"))
    text = value.strip()
    if text and not Path(os.path.expanduser(text)).is_absolute():
        raise ValueError(N_("must be an absolute path (or start with ~), got {text}", text=repr(text)))
    return text


def rate(value: Any) -> int:
    from zoomwatch.bandwidth import parse_rate

    try:
        return parse_rate(value)
    except (ValueError, OverflowError):
        raise ValueError(N_("expected bytes per second like 0 (no limit), 500K or 10M, got {value}",
                            value=repr(value))) from None


def url(value: Any) -> str:
    text = str(value).strip().rstrip("/")
    if text and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise ValueError(N_("expected a URL like https://s3.example.com, got {value}", value=repr(value)))
    return text


def text(value: Any) -> str:
    return str(value).strip()


def choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(N_("must be one of {choices}, got {value}", choices=", ".join(choices), value=repr(value)))
        return text

    return check
