"""What a second zoomwatch does for `zoomwatch dashboard`: find the running one's dashboard (in the status
file it publishes), ask it for a one-time link with the API key from the keyring, and open that link.
Only the standard library here: the command starts fast and loads no web framework."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from zoomwatch import secrets
from zoomwatch.errors import ConfigError, ServiceDown, ZoomwatchError
from zoomwatch.ui.web.auth import KEY_NAME

TIMEOUT_SECONDS = 10.0


def stored_key() -> str:
    """The dashboard's API key (keyring or ZOOMWATCH_API_KEY); ConfigError when there is none yet."""
    key = secrets.get_secret(KEY_NAME, strict=True)
    if not key:
        raise ConfigError("No dashboard API key yet", "it is made when zoomwatch (tray or `zoomwatch run`) "
                          "first starts with a keyring; on a machine without one, set ZOOMWATCH_API_KEY")
    return key


def one_time_link(url: str) -> str:
    """Ask the dashboard at `url` for a one-time link to its page."""
    request = urllib.request.Request(f"{url.rstrip('/')}/api/dashboard/link", method="POST",
                                     headers={"X-API-Key": stored_key()})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 - loopback URL
            return str(json.loads(answer.read())["url"])
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise ConfigError("The dashboard refused the API key",
                              "the running zoomwatch uses another key (one for its run only, as no keyring "
                              "could keep it): use its tray's Open dashboard…, or set ZOOMWATCH_API_KEY for both"
                              ) from None
        raise ServiceDown("The dashboard did not answer", f"{url}: HTTP {exc.code}") from None
    except (OSError, ValueError, KeyError) as exc:
        raise ServiceDown("The dashboard did not answer", f"{url}: {exc}") from None


__all__ = ["ZoomwatchError", "one_time_link", "stored_key"]
