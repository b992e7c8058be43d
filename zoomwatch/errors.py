"""One error family for everything a person may need to read: a title, a message that says what to do,
and whether trying again later can help."""

from __future__ import annotations


class ZoomwatchError(Exception):
    """An error with a short title and a message a person can act on."""

    retryable: bool = False

    def __init__(self, title: str, message: str = "", *, retryable: bool | None = None) -> None:
        super().__init__(f"{title}: {message}" if message else title)
        self.title = title
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class ConfigError(ZoomwatchError):
    """A setting is missing or has a value zoomwatch cannot use."""


class ItemError(ZoomwatchError):
    """Something is wrong with one file (unreadable, vanished, changed while copying). Retried later."""

    retryable = True


class FileGone(ItemError):
    """The source file was deleted or renamed: nothing to back up any more."""

    retryable = False


class FileChanged(ItemError):
    """The source file changed while it was being backed up: it goes back to settling."""


class DestinationError(ZoomwatchError):
    """The backup destination as a whole cannot take files (missing, read-only, full, bad credentials).

    retryable=True: it may come back by itself (a drive being reconnected, space freed, a network down).
    retryable=False: nothing changes until the user changes the settings (bad credentials, no permission).
    """


class AlreadyRunning(ZoomwatchError):
    """Another zoomwatch process already uses this configuration."""
