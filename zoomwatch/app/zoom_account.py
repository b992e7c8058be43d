"""Signing in to Zoom and out again from the faces (`zoomwatch login` / `logout`, the settings form): the
tokens go to the keyring, and a stamp tells a running zoomwatch to reload (its service thread watches it).
"""

from __future__ import annotations

from collections.abc import Callable

from zoomwatch.config import Config
from zoomwatch.errors import ZoomwatchError
from zoomwatch.paths import AppPaths


def zoom_login(config: Config, show_url: Callable[[str], None], show_code: Callable[[str], None], *,
               device: bool = False, timeout: float = 300) -> dict:
    """Sign in to Zoom (the browser's loopback flow, or a device code), store the tokens in the keyring,
    and return who signed in (Zoom's /users/me)."""
    from zoomwatch.sources.zoom import accounts, oauth

    if device:
        tokens = accounts.device_login(config, show_code)
    else:
        client_id, client_secret = accounts.client_credentials()
        tokens = oauth.login(config["zoom.oauth_base"], client_id, client_secret, config["zoom.redirect_port"],
                             show_url, timeout=timeout)
    oauth.TokenStore().save(tokens)
    _secrets_changed(config.paths)
    return accounts.user_api(config).me()


def zoom_logout(config: Config) -> bool | None:
    """Sign out of Zoom: revoke the token and remove it from the keyring. None when nobody was signed
    in; otherwise whether Zoom could be told."""
    from zoomwatch.sources.zoom import accounts, oauth

    store = oauth.TokenStore()
    tokens = store.load()
    if tokens is None:
        return None
    try:
        client_id, client_secret = accounts.client_credentials()
        revoked = oauth.revoke(config["zoom.oauth_base"], client_id, client_secret,
                               tokens.refresh_token or tokens.access_token)
    except ZoomwatchError:
        revoked = False
    store.clear()
    _secrets_changed(config.paths)
    return revoked


def zoom_user(config: Config) -> dict:
    """Who zoomwatch is signed in to Zoom as (Zoom's /users/me); raises a ZoomwatchError when nobody is."""
    from zoomwatch.sources.zoom import accounts

    return accounts.user_api(config).me()


def _secrets_changed(paths: AppPaths) -> None:
    """A running zoomwatch reloads when this stamp changes (see config.fingerprint)."""
    paths.secrets_stamp.parent.mkdir(parents=True, exist_ok=True)
    paths.secrets_stamp.touch()
