"""Every kind of backup destination, declared once: its name and label, its settings (config key, default,
check, help; the settings form's label and whether the kind cannot work without it), and its secrets.

Pure data in a low module: config.py builds its destination keys and their validation from it, the settings
form and dialog lay out, require and show or hide their destination fields from it, and
`zoomwatch.destinations` maps each name to the class that does the work (imported only when opened).
A new kind is one entry here and one opener there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoomwatch import validators
from zoomwatch.i18n import N_

DESTINATION_SECTION = "Destination"


@dataclass(frozen=True)
class Setting:
    """One config key that belongs to a kind of destination."""

    key: str
    default: Any
    check: Callable[[Any], Any]
    help: str
    label: str = ""                   # the settings form's label; "" = only `zoomwatch config set` sets it
    widget: str = "text"              # the form's field: text | folder
    section: str = DESTINATION_SECTION  # the settings dialog's tab
    required: str = ""                # said beside the field when the kind is chosen and it is empty


@dataclass(frozen=True)
class Secret:
    """A credential of a kind, kept in the OS keyring (never the config file)."""

    name: str
    label: str


@dataclass(frozen=True)
class DestinationKind:
    name: str      # the value of destination.kind
    label: str     # for people
    settings: tuple[Setting, ...]
    secrets: tuple[Secret, ...] = ()

    def owns(self, key: str) -> bool:
        """Whether a setting or secret name is this kind's."""
        return any(s.key == key for s in self.settings) or any(s.name == key for s in self.secrets)


def _bucket(value: Any) -> str:
    """S3's bucket naming rules."""
    text = str(value).strip()
    if text and not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", text):
        raise ValueError(N_("{name} is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)",
                            name=repr(text)))
    return text


# Supabase Storage's own rule (storage-api `isValidBucketName`): S3-safe characters, capitals and
# underscores allowed, no "/"; at most 63 characters here, the shorter limit older servers apply. "?" is
# valid there too but would end the URL path zoomwatch builds, so it is refused here.
_SUPABASE_BUCKET = re.compile(r"[A-Za-z0-9_!.*'() &$@=;:+,\-]{1,63}")


def _supabase_bucket(value: Any) -> str:
    text = str(value).strip()
    if text and (not _SUPABASE_BUCKET.fullmatch(text) or set(text) == {"."}):
        raise ValueError(N_("{name} is not a valid Supabase bucket name (1-63 letters, digits, spaces and "
                         "_ - . ! * ' ( ) & $ @ = ; : + ,; no \"/\" or \"?\")", name=repr(text)))
    return text


def _prefix(value: Any) -> str:
    text = str(value).strip().strip("/")
    if any(part in (".", "..") for part in text.split("/")) or "//" in text:
        raise ValueError(N_("{value} is not a usable key prefix (no empty, '.' or '..' parts)", value=repr(value)))
    return text


def _part_size(value: Any) -> int:
    size = validators.rate(value)
    if not 5 * 1024**2 <= size <= 5 * 1024**3:
        raise ValueError(N_("must be between 5M and 5G (S3's limits for a part)"))
    return size


LOCAL = DestinationKind("local", N_("a folder"), (
    Setting("destination.local.path", "", validators.as_path,
            "backup folder (local disk, USB drive, NAS mount); empty = a folder in the user data dir",
            label=N_("Backup folder"), widget="folder"),
))

S3 = DestinationKind("s3", N_("an S3 bucket"), (
    Setting("destination.s3.bucket", "", _bucket, "S3 bucket name",
            label=N_("S3 bucket"), required=N_("a bucket name is needed to back up to S3")),
    Setting("destination.s3.prefix", "", _prefix, "key prefix (folder) inside the bucket, e.g. zoom/alice",
            label=N_("S3 folder (prefix)")),
    Setting("destination.s3.region", "", validators.text, "bucket region, e.g. eu-west-1; empty = the SDK's default",
            label=N_("S3 region")),
    Setting("destination.s3.endpoint_url", "", validators.url,
            "endpoint of an S3-compatible store (MinIO, R2, B2, Wasabi...); empty for AWS",
            label=N_("S3 endpoint (not AWS)")),
    Setting("destination.s3.addressing_style", "auto", validators.choice("auto", "path", "virtual"),
            "bucket in the host name (virtual) or in the path (path)"),
    Setting("destination.s3.storage_class", "",
            validators.choice("", "standard", "standard_ia", "onezone_ia", "intelligent_tiering", "glacier_ir",
                              "glacier", "deep_archive", "reduced_redundancy"),
            "storage class for new objects; empty = the bucket's default"),
    Setting("destination.s3.sse", "none", validators.choice("none", "aes256", "aws:kms"), "server-side encryption"),
    Setting("destination.s3.kms_key_id", "", validators.text, "KMS key id when destination.s3.sse is aws:kms"),
    Setting("destination.s3.part_size", 8 * 1024**2, _part_size,
            "smallest multipart part (grown for huge files so 5 TiB fits in 10,000 parts)"),
    Setting("destination.s3.concurrency", 4, validators.as_int(1, 32), "parts uploaded at the same time per file",
            label=N_("S3 parts at the same time"), section="Transfers"),
), (
    Secret("s3.access_key_id", N_("S3 access key ID")),
    Secret("s3.secret_access_key", N_("S3 secret access key")),
))

SUPABASE = DestinationKind("supabase", N_("a Supabase Storage bucket"), (
    Setting("destination.supabase.url", "", validators.url, "Supabase project URL, e.g. https://abcd.supabase.co",
            label=N_("Supabase project URL"), required=N_("needed to back up to Supabase")),
    Setting("destination.supabase.bucket", "", _supabase_bucket,
            "Supabase Storage bucket (created private if missing)",
            label=N_("Supabase bucket"), required=N_("needed to back up to Supabase")),
    Setting("destination.supabase.prefix", "", _prefix, "folder inside the bucket, e.g. zoom/ana",
            label=N_("Supabase folder")),
), (
    Secret("supabase.key", N_("Supabase key")),
))

KINDS: dict[str, DestinationKind] = {kind.name: kind for kind in (LOCAL, S3, SUPABASE)}
DEFAULT_KIND = "local"


def settings() -> list[Setting]:
    """Every kind's settings, in the order of KINDS."""
    return [setting for kind in KINDS.values() for setting in kind.settings]


def owner_of(key: str) -> DestinationKind | None:
    """The kind a setting or secret name belongs to (None: it belongs to no destination)."""
    return next((kind for kind in KINDS.values() if kind.owns(key)), None)
