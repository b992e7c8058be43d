"""Logging: a rotating file in the user log dir, plus stderr when running in the foreground.

Every record is one line: the names of recordings are untrusted (a newline in a folder name would forge
a log line, an escape sequence would drive the terminal, bytes that are not UTF-8 would make the handler
fail and the line be lost), so the formatter escapes the message with `printable()`; a traceback keeps
its lines but each is indented, so a line that starts at the left margin always starts a record.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from zoomwatch.printable import printable

FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
CONTINUATION = "    "


class EscapingFormatter(logging.Formatter):
    """A logging.Formatter whose output holds no control character but the newlines before the
    (indented) lines of a traceback or stack."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        parts = [printable(self.formatMessage(record))]
        if record.exc_info:
            parts.append(_indented(self.formatException(record.exc_info)))
        elif record.exc_text:
            parts.append(_indented(record.exc_text))
        if record.stack_info:
            parts.append(_indented(self.formatStack(record.stack_info)))
        return "\n".join(parts)


def _indented(text: str) -> str:
    return "\n".join(CONTINUATION + printable(line) for line in text.rstrip("\n").split("\n"))


def setup_logging(log_file: Path, level: str = "info", *, stderr: bool = True) -> None:
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for old in list(root.handlers):
        root.removeHandler(old)
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8", errors="backslashreplace")
        handler.setFormatter(EscapingFormatter(FORMAT))
        root.addHandler(handler)
    except OSError as exc:
        print(f"zoomwatch: cannot write the log file {printable(log_file)}: {exc}", file=sys.stderr)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(console)
    for noisy in ("watchdog", "filelock", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
