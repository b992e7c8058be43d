"""Backup destinations. `open_destination(config)` builds the one the settings name."""

from __future__ import annotations

from zoomwatch.config import Config
from zoomwatch.destinations.base import Destination, RemoteObject, UploadSession
from zoomwatch.errors import ConfigError

__all__ = ["Destination", "RemoteObject", "UploadSession", "open_destination"]


def open_destination(config: Config, *, secrets: dict[str, str] | None = None) -> Destination:
    """The destination the settings name; `secrets` (typed in the settings dialog, not yet stored)
    take precedence over the keyring."""
    kind = config["destination.kind"]
    if kind == "local":
        from zoomwatch.destinations.local import LocalDestination

        return LocalDestination(config.backup_folder, create=not config["destination.local.path"])
    if kind == "s3":
        from zoomwatch.destinations.s3 import S3Destination

        return S3Destination(config, secrets=secrets)
    if kind == "supabase":
        from zoomwatch.destinations.supabase import SupabaseDestination

        return SupabaseDestination(config, secrets=secrets)
    raise ConfigError(
        f"Destination {kind!r} is not available in this version",
        "set destination.kind to local (zoomwatch config set destination.kind local)",
    )
