"""One error family for everything a person may need to read: a title, a message that says what to do,
and whether trying again later can help. The type says what kind of problem it is, so code decides on
types (and `retryable`), never on the wording of a title or message.

    ZoomwatchError
    ├── BadSetting (ConfigError)   a setting or credential is missing or wrong: change it
    ├── SignedOut                  sign in to Zoom again (zoomwatch login)
    ├── SignInTimedOut             the browser or device sign-in got no answer in time: run login again
    ├── RateLimited(until)         Zoom's daily limit: nothing to do, it resumes at `until`
    ├── Cancelled                  asked to stop (shutdown, pause, reload); resumes later
    ├── ServiceDown                Zoom (or another service we read from) does not answer or fails
    ├── DestinationDown            the backup destination as a whole cannot take files now
    │                              (DestinationError; retryable or not)
    ├── KeyringUnavailable(locked) the OS keyring is there but refused
    ├── AlreadyRunning             another zoomwatch uses this configuration
    └── ItemError                  one file's problem; the others go on
        ├── SourceGone (FileGone)          the recording was deleted or renamed
        ├── SourceChanged (FileChanged)    it changed while being backed up
        └── SourceUnreadable               it cannot be read (permission, I/O error)

The translators from OS, HTTP (requests) and botocore errors into this family are in zoomwatch.translate.

Titles and messages are English (logs, `str(exc)`), marked with zoomwatch.i18n's `N_` so a face shows them
translated with `i18n.tr(exc.title)`.
"""

from __future__ import annotations

import datetime as dt

from zoomwatch.i18n import N_


class ZoomwatchError(Exception):
    """An error with a short title and a message a person can act on."""

    retryable: bool = False

    def __init__(self, title: str, message: str = "", *, retryable: bool | None = None) -> None:
        super().__init__(f"{title}: {message}" if message else title)
        self.title = title
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def text(self) -> str:
        """Title and message in one line, still translatable where a face shows it (i18n.tr)."""
        return N_("{title}: {message}", title=self.title, message=self.message) if self.message else self.title


class BadSetting(ZoomwatchError):
    """A setting or credential is missing or has a value zoomwatch cannot use: the person changes it."""


ConfigError = BadSetting  # the name used before the family had its own types


class SignedOut(ZoomwatchError):
    """The user must sign in to Zoom again (`zoomwatch login`)."""


class SignInTimedOut(ZoomwatchError):
    """A sign-in got no answer in time (the browser's redirect, or a device code not approved): nothing is
    wrong with the settings; run `zoomwatch login` again."""

    retryable = True


class RateLimited(ZoomwatchError):
    """Zoom's daily API limit is used up: cloud sync waits until `until` (a UTC datetime)."""

    retryable = True
    TITLE = N_("Zoom's daily API limit is reached")

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(self.TITLE, N_("cloud sync resumes at {time} UTC", time=f"{until:%Y-%m-%d %H:%M}"))
        self.until = until


class Cancelled(ZoomwatchError):
    """The work was asked to stop (zoomwatch is stopping, pausing or reloading); it resumes later."""

    retryable = True

    def __init__(self, title: str = N_("Stopped"), message: str = N_("it resumes later")) -> None:
        super().__init__(title, message)


class ServiceDown(ZoomwatchError):
    """A service zoomwatch reads from (Zoom) does not answer, or answers with a failure. Retried later."""

    retryable = True


class DestinationDown(ZoomwatchError):
    """The backup destination as a whole cannot take files (missing, read-only, full, bad credentials).

    retryable=True: it may come back by itself (a drive being reconnected, space freed, a network down).
    retryable=False: nothing changes until the user changes the settings (bad credentials, no permission).
    """


DestinationError = DestinationDown


class BucketMissing(DestinationDown):
    """The store says the bucket does not exist (or this key may not see it)."""


class KeyringUnavailable(ZoomwatchError):
    """The OS keyring is there but refused (locked, denied, or the value too long for it). `locked`: unlocking
    it is all that is needed. Retryable unless the value itself is refused."""

    retryable = True

    def __init__(self, title: str, message: str, *, locked: bool = False, retryable: bool | None = None) -> None:
        super().__init__(title, message, retryable=retryable)
        self.locked = locked


class AlreadyRunning(ZoomwatchError):
    """Another zoomwatch process already uses this configuration."""


class ItemError(ZoomwatchError):
    """Something is wrong with one file (unreadable, vanished, changed while copying, refused by the store).
    Retried later unless `retryable` is False."""

    retryable = True


class SourceGone(ItemError):
    """The source file was deleted or renamed: nothing to back up any more."""

    retryable = False


class SourceChanged(ItemError):
    """The source file changed while it was being backed up: it goes back to settling."""


class SourceUnreadable(ItemError):
    """The source file is there but cannot be read (no permission, an I/O error): retried later, in case the
    permission is given or the disk recovers."""


class TooLarge(ItemError):
    """The store refuses the file for its size (a project's or bucket's limit): waits for a settings change."""

    retryable = False


FileGone = SourceGone
FileChanged = SourceChanged
