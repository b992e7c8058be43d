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
from zoomwatch.destination_kinds import DESTINATION_SECTION, KINDS
from zoomwatch.errors import ConfigError, SignedOut, ZoomwatchError
from zoomwatch.i18n import N_, T_, TP_, tr
from zoomwatch.paths import AppPaths


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    section: str
    kind: str = "text"  # text | folder | choice | secret
    choices: tuple[str, ...] = ()
    owner: str = ""     # the destination kind this field belongs to ("" = every kind's)
    required: str = ""  # said beside the field when its kind is chosen and it is left empty


def destination_fields(section: str) -> tuple[Field, ...]:
    """Each destination kind's fields in `section`, as destination_kinds.py declares them: its labelled
    settings, then (in the Destination tab) its secrets."""
    fields: list[Field] = []
    for kind in KINDS.values():
        fields += [Field(s.key, s.label, s.section, s.widget, owner=kind.name, required=s.required)
                   for s in kind.settings if s.label and s.section == section]
        if section == DESTINATION_SECTION:
            fields += [Field(secret.name, secret.label, section, "secret", owner=kind.name) for secret in kind.secrets]
    return tuple(fields)


FIELDS = (
    Field("watch.folder", N_("Zoom recordings folder"), "Recordings", "folder"),
    Field("watch.settle_seconds", N_("Finished after quiet for (seconds)"), "Recordings"),
    Field("destination.kind", N_("Back up to"), DESTINATION_SECTION, "choice", tuple(KINDS)),
    *destination_fields(DESTINATION_SECTION),
    Field("naming.template", N_("Backup name template"), "Naming"),
    Field("naming.locale", N_("Month and day names in"), "Naming"),
    Field("zoom.mode", N_("Zoom cloud recordings"), "Zoom account", "choice", ("off", "user", "s2s")),
    Field("zoom.sync_interval_minutes", N_("Sync every (minutes)"), "Zoom account"),
    Field("zoom.client_id", N_("Zoom OAuth client ID"), "Zoom account", "secret"),
    Field("zoom.client_secret", N_("Client secret (confidential apps only)"), "Zoom account", "secret"),
    Field("zoom.s2s_account_id", N_("Server-to-Server account ID"), "Zoom account", "secret"),
    Field("zoom.s2s_client_id", N_("Server-to-Server client ID"), "Zoom account", "secret"),
    Field("zoom.s2s_client_secret", N_("Server-to-Server client secret"), "Zoom account", "secret"),
    Field("transfer.workers", N_("Files at the same time"), "Transfers"),
    *destination_fields("Transfers"),
    Field("transfer.bandwidth_limit", N_("Bandwidth limit (e.g. 10M, 0 = none)"), "Transfers"),
    Field("ui.language", N_("Language (empty = the system's)"), "Naming", "choice", ("", "en", "es", "ru")),
    # -- clean-up (issue 14) --
    Field("zoom.warn_days", "Warn when Zoom deletes a recording within (days)", "Clean-up"),
    Field("zoom.trash_after_backup", "Move backed-up cloud recordings to Zoom's trash", "Clean-up", "choice",
          ("off", "on")),
    Field("zoom.trash_after_days", "…once their backup is this many days old", "Clean-up"),
    Field("cleanup.local_after_days", "Move local recordings to the trash after (days, 0 = never)", "Clean-up"),
)
CLEANUP_WARNING = (
    "Clean-up frees space by moving recordings to a trash: your computer's trash for local recordings, Zoom's "
    "trash for cloud recordings. zoomwatch only does it for a recording whose backup it has just checked, file by "
    "file, at the destination — never when the destination cannot be reached, and never for a backup on the same "
    "disk. Empty a trash only when you no longer need to undo: Zoom empties its own after 30 days. Off by default."
)
SECRET_KEYS = tuple(f.key for f in FIELDS if f.kind == "secret")
SAMPLE_FILE = "zoom_0.mp4"


def shown_for(field: Field, kind: str) -> bool:
    """Whether the dialog shows `field` while `kind` is chosen: a destination field of another kind is
    hidden in the Destination tab (elsewhere, e.g. S3's parts under Transfers, it stays)."""
    return not field.owner or field.owner == kind or field.section != DESTINATION_SECTION


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
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
    for field in FIELDS:  # what the chosen destination cannot work without
        if field.required and field.owner == checked.get("destination.kind") and field.key not in errors \
                and not checked.get(field.key):
            errors[field.key] = field.required
    for key in SECRET_KEYS:
        if values.get(key, "") != values.get(key, "").strip():
            errors[key] = N_("remove the spaces around the value")
    return checked, errors


def preview(template: str, locale: str) -> str:
    """Where the sample meeting's first file would go, or what is wrong with the template."""
    try:
        naming.validate_template(template)
        naming.validate_locale(locale)
        return naming.render_key(template, naming.SAMPLE_MEETING, SAMPLE_FILE, locale=locale)
    except ValueError as exc:
        return f"⚠ {tr(exc.args[0]) if exc.args else exc}"


def count_recordings(folder: str, cfg: configmod.Config, limit: int = 100_000) -> str:
    """The live line under the folder field: 'found N recording files'."""
    root = Path(os.path.expanduser(folder)) if folder else cfg.watch_folder
    if not root.is_dir():
        return T_("⚠ {folder} does not exist", folder=str(root))
    from zoomwatch.app import recording_files

    count = 0
    for _ in recording_files(root, cfg):
        count += 1
        if count > limit:
            return TP_("found over {n} recording files", "found over {n} recording files", limit)
    return TP_("found {n} recording file in {folder}", "found {n} recording files in {folder}", count, folder=str(root))


def zoom_account(paths: AppPaths) -> str:
    """One line for the Zoom section: who is signed in, or what to do."""
    from zoomwatch.app import zoom_user

    try:
        me = zoom_user(configmod.load(paths))
    except ZoomwatchError as exc:
        return tr(exc.title) if isinstance(exc, SignedOut) else f"⚠ {tr(exc.title)}: {tr(exc.message)}"
    return T_("Signed in as {email}", email=str(me.get("email", "?")))


def config_from(checked: dict[str, Any], paths: AppPaths) -> configmod.Config:
    base = configmod.load(paths)
    return configmod.Config({**base.values, **checked}, (), paths)


def test_connection(values: dict[str, str], paths: AppPaths) -> str:
    """The same check as `zoomwatch check`, on the values typed (saved or not): one line."""
    checked, errors = validate(values)
    if errors:
        return T_("⚠ fix the marked fields first ({fields})", fields=", ".join(errors))
    from zoomwatch.app import check_destination

    typed = {key: values[key] for key in SECRET_KEYS if values.get(key)}
    try:
        label = check_destination(config_from(checked, paths), secrets=typed)
    except ZoomwatchError as exc:
        return f"⚠ {tr(exc.title)}: {tr(exc.message)}" if exc.message else f"⚠ {tr(exc.title)}"
    return T_("OK: {label} — write, read back and delete work", label=tr(label))


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
            except ZoomwatchError as exc:  # a bad value, no keyring, or one that refused
                errors[key] = N_("{title}: {message}", title=exc.title, message=exc.message)
    return errors
