"""What the settings dialog edits, and every rule behind it, with no Tk in sight: the fields, their
validation (one message per field), the live naming preview and recordings count, the connection
test, and saving (settings to the config file, secrets to the OS keyring — never the file)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoomwatch import config as configmod
from zoomwatch import naming, secrets
from zoomwatch.errors import ConfigError, ZoomwatchError
from zoomwatch.paths import AppPaths


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    section: str
    kind: str = "text"  # text | folder | choice | secret
    choices: tuple[str, ...] = ()


FIELDS = (
    Field("watch.folder", "Zoom recordings folder", "Recordings", "folder"),
    Field("watch.settle_seconds", "Finished after quiet for (seconds)", "Recordings"),
    Field("destination.kind", "Back up to", "Destination", "choice", ("local", "s3", "supabase")),
    Field("destination.local.path", "Backup folder", "Destination", "folder"),
    Field("destination.s3.bucket", "S3 bucket", "Destination"),
    Field("destination.s3.prefix", "S3 folder (prefix)", "Destination"),
    Field("destination.s3.region", "S3 region", "Destination"),
    Field("destination.s3.endpoint_url", "S3 endpoint (not AWS)", "Destination"),
    Field("s3.access_key_id", "S3 access key ID", "Destination", "secret"),
    Field("s3.secret_access_key", "S3 secret access key", "Destination", "secret"),
    Field("destination.supabase.url", "Supabase project URL", "Destination"),
    Field("destination.supabase.bucket", "Supabase bucket", "Destination"),
    Field("destination.supabase.prefix", "Supabase folder", "Destination"),
    Field("supabase.key", "Supabase key", "Destination", "secret"),
    Field("naming.template", "Backup name template", "Naming"),
    Field("naming.locale", "Month and day names in", "Naming"),
    Field("zoom.mode", "Zoom cloud recordings", "Zoom account", "choice", ("off", "user", "s2s")),
    Field("zoom.sync_interval_minutes", "Sync every (minutes)", "Zoom account"),
    Field("zoom.client_id", "Zoom OAuth client ID", "Zoom account", "secret"),
    Field("zoom.client_secret", "Client secret (confidential apps only)", "Zoom account", "secret"),
    Field("zoom.s2s_account_id", "Server-to-Server account ID", "Zoom account", "secret"),
    Field("zoom.s2s_client_id", "Server-to-Server client ID", "Zoom account", "secret"),
    Field("zoom.s2s_client_secret", "Server-to-Server client secret", "Zoom account", "secret"),
    Field("transfer.workers", "Files at the same time", "Transfers"),
    Field("destination.s3.concurrency", "S3 parts at the same time", "Transfers"),
    Field("transfer.bandwidth_limit", "Bandwidth limit (e.g. 10M, 0 = none)", "Transfers"),
)
SECRET_KEYS = tuple(f.key for f in FIELDS if f.kind == "secret")
SAMPLE_FILE = "zoom_0.mp4"


def _as_text(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def current_values(cfg: configmod.Config) -> dict[str, str]:
    """The dialog's starting values; secrets start empty (typing one replaces the stored value)."""
    values = {f.key: _as_text(cfg[f.key]) for f in FIELDS if f.kind != "secret"}
    values.update({key: "" for key in SECRET_KEYS})
    return values


def secret_status() -> dict[str, bool]:
    return {key: secrets.get_secret(key) is not None for key in SECRET_KEYS}


def validate(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(checked settings, errors by field key). Nothing may be saved while errors is not empty."""
    checked: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in FIELDS:
        if field.kind == "secret":
            continue
        try:
            checked[field.key] = configmod.check_value(field.key, values.get(field.key, ""))
        except ConfigError as exc:
            errors[field.key] = exc.message
    if checked.get("destination.kind") == "s3" and "destination.s3.bucket" not in errors \
            and not checked.get("destination.s3.bucket"):
        errors["destination.s3.bucket"] = "a bucket name is needed to back up to S3"
    if checked.get("destination.kind") == "supabase":
        for key in ("destination.supabase.url", "destination.supabase.bucket"):
            if key not in errors and not checked.get(key):
                errors[key] = "needed to back up to Supabase"
    for key in SECRET_KEYS:
        if values.get(key, "") != values.get(key, "").strip():
            errors[key] = "remove the spaces around the value"
    return checked, errors


def preview(template: str, locale: str) -> str:
    """Where the sample meeting's first file would go, or what is wrong with the template."""
    try:
        naming.validate_template(template)
        naming.validate_locale(locale)
        return naming.render_key(template, naming.SAMPLE_MEETING, SAMPLE_FILE, locale=locale)
    except ValueError as exc:
        return f"⚠ {exc}"


def count_recordings(folder: str, cfg: configmod.Config, limit: int = 100_000) -> str:
    """The live line under the folder field: 'found N recording files'."""
    root = Path(os.path.expanduser(folder)) if folder else cfg.watch_folder
    if not root.is_dir():
        return f"⚠ {root} does not exist"
    from zoomwatch.app import recording_files

    count = 0
    for _ in recording_files(root, cfg):
        count += 1
        if count > limit:
            return f"found over {limit} recording files"
    return f"found {count} recording file{'s' if count != 1 else ''} in {root}"


def zoom_account(paths: AppPaths) -> str:
    """One line for the Zoom section: who is signed in, or what to do."""
    from zoomwatch.app import zoom_user

    try:
        me = zoom_user(configmod.load(paths))
    except ZoomwatchError as exc:
        return f"{exc.title}" if "Not signed in" in exc.title else f"⚠ {exc.title}: {exc.message}"
    return f"Signed in as {me.get('email', '?')}"


def config_from(checked: dict[str, Any], paths: AppPaths) -> configmod.Config:
    base = configmod.load(paths)
    return configmod.Config({**base.values, **checked}, (), paths)


def test_connection(values: dict[str, str], paths: AppPaths) -> str:
    """The same check as `zoomwatch check`, on the values typed (saved or not): one line."""
    checked, errors = validate(values)
    if errors:
        return f"⚠ fix the marked fields first ({', '.join(errors)})"
    from zoomwatch.app import check_destination

    typed = {key: values[key] for key in SECRET_KEYS if values.get(key)}
    try:
        label = check_destination(config_from(checked, paths), secrets=typed)
    except ZoomwatchError as exc:
        return f"⚠ {exc.title}: {exc.message}" if exc.message else f"⚠ {exc.title}"
    return f"OK: {label} — write, read back and delete work"


def save(values: dict[str, str], paths: AppPaths) -> dict[str, str]:
    """Validate and save; returns errors by field (empty when everything was saved)."""
    checked, errors = validate(values)
    if errors:
        return errors
    current = configmod.load(paths)
    for key, value in checked.items():
        if value != current[key]:
            configmod.set_value(paths, key, value)
    for key in SECRET_KEYS:
        if values.get(key):
            try:
                secrets.set_secret(key, values[key], paths.secrets_stamp)
            except ConfigError as exc:
                errors[key] = f"{exc.title}: {exc.message}"
    return errors
