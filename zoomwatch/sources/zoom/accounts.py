"""Which Zoom accounts and users a sync covers, and with which credentials: the signed-in user
(`zoom.mode = user`), or for admins (`zoom.mode = s2s`) every user of the account, a chosen list of
users, or several sub-accounts of a master account, each with its own Server-to-Server token."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from zoomwatch import secrets
from zoomwatch.config import Config
from zoomwatch.errors import BadSetting, SignInTimedOut
from zoomwatch.i18n import N_
from zoomwatch.sources.zoom import oauth
from zoomwatch.sources.zoom.api import ZoomApi
from zoomwatch.translate import requests_error

log = logging.getLogger(__name__)
DEFAULT_API = "https://api.zoom.us/v2"


def client_credentials() -> tuple[str, str | None]:
    client_id = secrets.get_secret("zoom.client_id", strict=True)
    if not client_id:
        raise BadSetting(N_("No Zoom client ID"),
                         N_("create a Zoom OAuth app (public PKCE recommended) and set its client ID with: zoomwatch "
                            "secret set zoom.client_id"))
    return client_id, secrets.get_secret("zoom.client_secret", strict=True)


def user_auth(config: Config) -> oauth.UserAuth:
    client_id, client_secret = client_credentials()
    return oauth.UserAuth(config["zoom.oauth_base"], client_id, client_secret)


def user_api(config: Config, auth: oauth.UserAuth | None = None) -> ZoomApi:
    auth = auth or user_auth(config)
    base = config["zoom.api_base"]
    regional = auth.api_url()
    if base == DEFAULT_API and regional:  # Zoom tells each account its regional API host
        base = f"{regional.rstrip('/')}/v2"
    return ZoomApi(base, auth)


def s2s_apis(config: Config) -> Iterator[tuple[str, ZoomApi]]:
    """(account label, api) for the account, or for each configured sub-account."""
    client_id = secrets.get_secret("zoom.s2s_client_id", strict=True) or ""
    client_secret = secrets.get_secret("zoom.s2s_client_secret", strict=True) or ""
    accounts = config["zoom.account_ids"] or [secrets.get_secret("zoom.s2s_account_id", strict=True) or ""]
    for account in accounts:
        auth = oauth.S2SAuth(config["zoom.oauth_base"], account, client_id, client_secret)
        yield account, ZoomApi(config["zoom.api_base"], auth)


def sync_targets(config: Config) -> Callable[[], Iterator[tuple[str, ZoomApi]]]:
    """A generator factory of (user, api) pairs for one sync pass."""
    mode = config["zoom.mode"]
    if config["zoom.users"] and config["zoom.account_ids"]:
        raise BadSetting(N_("zoom.users and zoom.account_ids exclude each other"),
                         N_("back up either chosen users or whole sub-accounts: clear one of them"))

    def user_targets() -> Iterator[tuple[str, ZoomApi]]:
        yield "me", user_api(config)

    def admin_targets() -> Iterator[tuple[str, ZoomApi]]:
        for account, api in s2s_apis(config):
            listed = config["zoom.users"] or [u["email"] for u in api.users() if u.get("email")]
            emails = list(dict.fromkeys(e.lower() for e in listed))  # each user once, whatever the case
            log.info("cloud sync of account %s: %d user(s)", account, len(emails))
            for email in emails:
                yield email, api

    if mode == "user":
        return user_targets
    if mode == "s2s":
        return admin_targets
    raise BadSetting(N_("Zoom cloud backup is off"),
                     N_("turn it on: zoomwatch config set zoom.mode user (or s2s)"))


# -- the device grant, for machines without a browser ---------------------------------------------

def _post(url: str, data: dict[str, Any], auth: tuple[str, str] | None) -> requests.Response:
    try:
        return requests.post(url, data=data, auth=auth, timeout=30)
    except requests.RequestException as exc:
        raise requests_error(exc, service="Zoom", where=url.split("/oauth/")[0]) from None


def device_login(config: Config, show: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
                 timeout: float = 900) -> oauth.TokenSet:
    client_id, client_secret = client_credentials()
    base = config["zoom.oauth_base"]
    auth = (client_id, client_secret) if client_secret else None
    body: dict[str, Any] = {} if client_secret else {"client_id": client_id}
    response = _post(f"{base}/oauth/devicecode", body, auth)
    if response.status_code != 200:
        raise BadSetting(N_("Zoom device sign-in is not available"),
                         N_("the app must allow it (Zoom Support enables the device grant for private apps); HTTP "
                            "{status_code}", status_code=response.status_code))
    start = response.json()
    show(f"On any device, open {start['verification_uri']} and enter the code {start['user_code']}")
    interval = float(start.get("interval", 5))
    deadline = time.monotonic() + min(timeout, float(start.get("expires_in", timeout)))
    while time.monotonic() < deadline:
        sleep(interval)
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"],
                **body}
        answer = _post(f"{base}/oauth/token", data, auth)
        payload = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
        if answer.status_code == 200 and "access_token" in payload:
            return oauth.TokenSet.from_response(payload)
        error = payload.get("error", "")
        if error == "slow_down":
            interval += 5
        elif error == "expired_token":  # RFC 8628: the code expired before it was approved
            break
        elif error != "authorization_pending":
            raise BadSetting(N_("Zoom device sign-in failed"),
                             oauth.printable(str(error)) or f"HTTP {answer.status_code}")
    raise SignInTimedOut(N_("Zoom device sign-in timed out"),
                         N_("the code was not approved in time; run zoomwatch login again"))
