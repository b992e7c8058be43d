"""Secrets (S3 keys, Supabase key, Zoom client credentials) live only in the OS keyring.

Nothing here ever logs, prints or puts a secret's value in an error message. Values are read from
stdin by the CLI, never from argv (which other users can see in the process list).
Where no keyring is available (a headless server), each destination falls back to the environment
(for S3: the standard AWS chain — environment, profile, instance role).
"""

from __future__ import annotations

import logging
from pathlib import Path

from zoomwatch.errors import ConfigError

log = logging.getLogger(__name__)

SERVICE = "zoomwatch"
KNOWN = {
    "s3.access_key_id": "S3 access key ID",
    "s3.secret_access_key": "S3 secret access key",
    "supabase.key": "Supabase service-role or anon key",
    "zoom.client_id": "Zoom OAuth client ID",
    "zoom.client_secret": "Zoom OAuth client secret (only for a confidential app; PKCE apps have none)",
    "zoom.s2s_account_id": "Zoom Server-to-Server account ID",
    "zoom.s2s_client_id": "Zoom Server-to-Server client ID",
    "zoom.s2s_client_secret": "Zoom Server-to-Server client secret",
}
INTERNAL = {"zoom.user_tokens": "Zoom sign-in tokens (written by zoomwatch login)"}
ENVIRONMENT = {  # fallbacks for headless servers
    "zoom.client_id": "ZOOM_CLIENT_ID", "zoom.client_secret": "ZOOM_CLIENT_SECRET",
    "zoom.s2s_account_id": "ZOOM_ACCOUNT_ID", "zoom.s2s_client_id": "ZOOM_S2S_CLIENT_ID",
    "zoom.s2s_client_secret": "ZOOM_S2S_CLIENT_SECRET", "supabase.key": "SUPABASE_KEY",
}


def _check_name(name: str) -> None:
    if name not in KNOWN and name not in INTERNAL:
        raise ConfigError(f"Unknown secret {name!r}", f"known secrets: {', '.join(KNOWN)}")


def get_secret(name: str) -> str | None:
    """The stored value, or None when it is not set or no keyring can be used."""
    _check_name(name)
    import keyring
    from keyring.errors import KeyringError

    try:
        value = keyring.get_password(SERVICE, name)
    except (KeyringError, RuntimeError) as exc:
        log.debug("keyring unavailable while reading %s: %s", name, type(exc).__name__)
        value = None
    if value is None and name in ENVIRONMENT:
        import os

        value = os.environ.get(ENVIRONMENT[name]) or None
    return value


def set_secret(name: str, value: str, changed_stamp: Path | None = None) -> None:
    _check_name(name)
    if not value.strip():
        raise ConfigError(f"Empty value for {name}", "nothing was stored; pass the value on stdin")
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(SERVICE, name, value.strip())
    except (KeyringError, RuntimeError) as exc:
        raise ConfigError(
            "No OS keyring available",
            f"could not store {name} ({type(exc).__name__}); on a server without a keyring use the "
            "environment instead (for S3: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an AWS profile)",
        ) from None
    _touch(changed_stamp)


def delete_secret(name: str, changed_stamp: Path | None = None) -> bool:
    """Remove a secret; returns False when it was not set."""
    _check_name(name)
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        return False
    except (KeyringError, RuntimeError) as exc:
        raise ConfigError("No OS keyring available", f"could not delete {name} ({type(exc).__name__})") from None
    _touch(changed_stamp)
    return True


def _touch(stamp: Path | None) -> None:
    """Let a running engine notice that credentials changed (it re-reads its settings then)."""
    if stamp is not None:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
