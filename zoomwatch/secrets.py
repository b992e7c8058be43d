"""Secrets (S3 keys, Supabase key, Zoom client credentials, the shared catalog's PostgreSQL URL) live only
in the OS keyring.

Nothing here ever logs, prints or puts a secret's value in an error message. Values are read from
stdin by the CLI, never from argv (which other users can see in the process list).
Where no keyring is available (a headless server), each destination falls back to the environment
(for S3: the standard AWS chain — environment, profile, instance role).

A keyring that is there but refuses (a locked macOS keychain, a value too long for Windows Credential
Manager) is not the same as a secret that is not set: `get_secret(..., strict=True)` and `set_secret` raise
KeyringUnavailable for it, which says so and can be retried. Keyring backends raise their platform's own
errors (pywintypes.error on Windows, D-Bus errors on Linux), not only keyring.errors.KeyringError.
"""

from __future__ import annotations

import logging
from pathlib import Path

from zoomwatch.errors import BadSetting, KeyringUnavailable
from zoomwatch.i18n import N_

__all__ = ["KeyringUnavailable", "delete_secret", "get_secret", "set_secret"]

log = logging.getLogger(__name__)

SERVICE = "zoomwatch"
KNOWN = {
    "s3.access_key_id": N_("S3 access key ID"),
    "s3.secret_access_key": N_("S3 secret access key"),
    "supabase.key": N_("Supabase service-role or anon key"),
    "zoom.client_id": N_("Zoom OAuth client ID"),
    "zoom.client_secret": N_("Zoom OAuth client secret (only for a confidential app; PKCE apps have none)"),
    "zoom.s2s_account_id": N_("Zoom Server-to-Server account ID"),
    "zoom.s2s_client_id": N_("Zoom Server-to-Server client ID"),
    "zoom.s2s_client_secret": N_("Zoom Server-to-Server client secret"),
    "catalog.shared_url": N_("PostgreSQL URL of a catalog shared by several machines (postgresql://user:pw@host/db)"),
}
INTERNAL = {"zoom.user_tokens": "Zoom sign-in tokens (written by zoomwatch login)",
            "dashboard.api_key": "the dashboard's REST API key (made at the first start)"}
WINDOWS_BLOB_TOO_LONG = 1783  # CredWrite's error for a value over 2,560 bytes of UTF-16 (keyring issue 355)
INTERNAL_PREFIXES = ("zoom.user_tokens.",)  # the parts of a value stored in pieces (see zoom/oauth.py)
ENVIRONMENT = {  # fallbacks for headless servers
    "zoom.client_id": "ZOOM_CLIENT_ID", "zoom.client_secret": "ZOOM_CLIENT_SECRET",
    "zoom.s2s_account_id": "ZOOM_ACCOUNT_ID", "zoom.s2s_client_id": "ZOOM_S2S_CLIENT_ID",
    "zoom.s2s_client_secret": "ZOOM_S2S_CLIENT_SECRET", "supabase.key": "SUPABASE_KEY",
    "dashboard.api_key": "ZOOMWATCH_API_KEY",
    "catalog.shared_url": "ZOOMWATCH_SHARED_URL",
}


def _check_name(name: str) -> None:
    if name not in KNOWN and name not in INTERNAL and not name.startswith(INTERNAL_PREFIXES):
        raise BadSetting(N_("Unknown secret {name}", name=repr(name)),
                         N_("known secrets: {KNOWN}", KNOWN=', '.join(KNOWN)))


def _refused(exc: BaseException, doing: str) -> KeyringUnavailable:
    """A clear error for a keyring that refused, naming what was being done but never a value."""
    from keyring.errors import KeyringLocked

    if isinstance(exc, KeyringLocked):
        return KeyringUnavailable(N_("Keyring is locked"),
                                  N_("{doing} needs it unlocked: unlock it and try again", doing=doing),
                                  locked=True)
    code = getattr(exc, "winerror", None)
    detail = f"{type(exc).__name__}{f' {code}' if code is not None else ''}"
    if code == WINDOWS_BLOB_TOO_LONG:
        return KeyringUnavailable(N_("The OS keyring refused"),
                                  N_("{doing} failed ({detail}): the value is too long for Windows Credential "
                                     "Manager (at most 1,280 characters)", doing=doing, detail=detail), retryable=False)
    return KeyringUnavailable(N_("The OS keyring refused"),
                              N_("{doing} failed ({detail}); check that the keyring (Credential Manager, Keychain, "
                                 "Secret Service) is unlocked and works", doing=doing, detail=detail))


def get_secret(name: str, *, strict: bool = False) -> str | None:
    """The stored value, or None when it is not set or no keyring can be used. With `strict`, a keyring
    that is there but refuses (locked) raises KeyringUnavailable instead, unless the environment has it."""
    _check_name(name)
    import keyring
    from keyring.errors import NoKeyringError

    try:
        value = keyring.get_password(SERVICE, name)
    except Exception as exc:  # noqa: BLE001 - backends raise their platform's own errors
        log.debug("keyring unavailable while reading %s: %s", name, type(exc).__name__)
        fallback = _environment(name)
        if strict and fallback is None and not isinstance(exc, NoKeyringError):
            raise _refused(exc, N_("reading {name}", name=name)) from None
        return fallback
    if value is None:
        return _environment(name)
    return value


def _environment(name: str) -> str | None:
    import os

    return os.environ.get(ENVIRONMENT[name]) or None if name in ENVIRONMENT else None


def set_secret(name: str, value: str, changed_stamp: Path | None = None) -> None:
    _check_name(name)
    if not value.strip():
        raise BadSetting(N_("Empty value for {name}", name=name),
                         N_("nothing was stored; pass the value on stdin"))
    import keyring
    from keyring.errors import NoKeyringError

    try:
        keyring.set_password(SERVICE, name, value.strip())
    except NoKeyringError as exc:
        raise BadSetting(
            N_("No OS keyring available"),
            N_("could not store {name} ({name2}); on a server without a keyring use the environment instead (for S3: "
               "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an AWS profile)", name=name, name2=type(exc).__name__),
        ) from None
    except Exception as exc:  # noqa: BLE001 - backends raise their platform's own errors
        raise _refused(exc, N_("storing {name}", name=name)) from None
    _touch(changed_stamp)


def delete_secret(name: str, changed_stamp: Path | None = None) -> bool:
    """Remove a secret; returns False when it was not set."""
    _check_name(name)
    import keyring
    from keyring.errors import NoKeyringError, PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        return False
    except NoKeyringError as exc:
        raise BadSetting(N_("No OS keyring available"),
                         N_("could not delete {name} ({name2})", name=name, name2=type(exc).__name__)) from None
    except Exception as exc:  # noqa: BLE001 - backends raise their platform's own errors
        raise _refused(exc, N_("deleting {name}", name=name)) from None
    _touch(changed_stamp)
    return True


def _touch(stamp: Path | None) -> None:
    """Let a running engine notice that credentials changed (it re-reads its settings then)."""
    if stamp is not None:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
