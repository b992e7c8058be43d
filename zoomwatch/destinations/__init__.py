"""Backup destinations. `open_destination(config)` builds the one the settings name.

The kinds and their settings are declared once in `zoomwatch.destination_kinds`; this registry maps each
kind's name to an opener that imports its class only when it is used (boto3 and storage3 are heavy)."""

from __future__ import annotations

from collections.abc import Callable

from zoomwatch.config import Config
from zoomwatch.destination_kinds import KINDS
from zoomwatch.destinations.base import Destination, RemoteObject, UploadSession
from zoomwatch.errors import ConfigError
from zoomwatch.i18n import N_

__all__ = ["OPENERS", "Destination", "RemoteObject", "UploadSession", "open_destination"]

Opener = Callable[[Config, "dict[str, str] | None"], Destination]


def _local(config: Config, secrets: dict[str, str] | None) -> Destination:
    from zoomwatch.destinations.local import LocalDestination

    return LocalDestination(config.backup_folder, create=not config["destination.local.path"])


def _s3(config: Config, secrets: dict[str, str] | None) -> Destination:
    from zoomwatch.destinations.s3 import S3Destination

    return S3Destination(config, secrets=secrets)


def _supabase(config: Config, secrets: dict[str, str] | None) -> Destination:
    from zoomwatch.destinations.supabase import SupabaseDestination

    return SupabaseDestination(config, secrets=secrets)


OPENERS: dict[str, Opener] = {"local": _local, "s3": _s3, "supabase": _supabase}


def open_destination(config: Config, *, secrets: dict[str, str] | None = None) -> Destination:
    """The destination the settings name; `secrets` (typed in the settings dialog, not yet stored)
    take precedence over the keyring."""
    kind = config["destination.kind"]
    opener = OPENERS.get(kind) if kind in KINDS else None
    if opener is None:
        raise ConfigError(
            N_("Destination {kind} is not available in this version", kind=repr(kind)),
            N_("set destination.kind to local (zoomwatch config set destination.kind local)"),
        )
    return opener(config, secrets)
