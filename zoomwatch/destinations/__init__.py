"""Backup destinations. `open_destination(config)` builds the one the settings name."""

from __future__ import annotations

from zoomwatch.config import Config
from zoomwatch.destinations.base import Destination, RemoteObject, UploadSession
from zoomwatch.errors import ConfigError

__all__ = ["Destination", "RemoteObject", "UploadSession", "open_destination"]


def open_destination(config: Config) -> Destination:
    kind = config["destination.kind"]
    if kind == "local":
        from zoomwatch.destinations.local import LocalDestination

        return LocalDestination(config.backup_folder, create=not config["destination.local.path"])
    if kind == "s3":
        from zoomwatch.destinations.s3 import S3Destination

        return S3Destination(config)
    raise ConfigError(
        f"Destination {kind!r} is not available in this version",
        "set destination.kind to local (zoomwatch config set destination.kind local)",
    )
