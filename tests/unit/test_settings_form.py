"""The settings dialog's rules without Tk: starting values, one readable message per bad field, saving
only what changed (and nothing at all while a field is wrong), secrets to the keyring and never the
config file, the naming preview, the recordings count and the connection test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from zoomwatch import naming, secrets
from zoomwatch.ui import settings_form as form

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@pytest.fixture(autouse=True)
def keyring_file(tmp_path: Path) -> Iterator[Path]:
    """A real keyring backend whose file lives in tmp_path; the previous keyring comes back afterwards."""
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    path = tmp_path / "keyring" / "keyring_pass.cfg"
    backend.file_path = str(path)
    keyring.set_keyring(backend)
    try:
        yield path
    finally:
        keyring.set_keyring(previous)


def values_of(app) -> dict[str, str]:
    return form.current_values(app.load())


def config_bytes(app) -> bytes:
    return app.paths.config_file.read_bytes()


def file_keys(app) -> dict[str, object]:
    """The settings written in the config file (dotted keys), not the defaults filled in on load."""
    def flat(table: dict[str, object], prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in table.items():
            out.update(flat(value, f"{prefix}{name}.") if isinstance(value, dict) else {f"{prefix}{name}": value})
        return out

    return flat(tomllib.loads(app.paths.config_file.read_text(encoding="utf-8")))


# -- starting values ------------------------------------------------------------------------------


def test_current_values_show_the_config_and_secrets_start_empty(app) -> None:
    secrets.set_secret("s3.access_key_id", "AKIASTORED")
    app.set("transfer.workers", "5")
    app.set("naming.locale", "de")

    values = values_of(app)

    assert values["watch.folder"] == str(app.zoom)
    assert values["destination.local.path"] == str(app.backup)
    assert float(values["watch.settle_seconds"]) == 1
    assert values["transfer.workers"] == "5"
    assert values["naming.locale"] == "de"
    assert values["naming.template"] == naming.DEFAULT_TEMPLATE
    assert values["destination.kind"] == "local"
    assert values["s3.access_key_id"] == "" and values["s3.secret_access_key"] == ""
    assert set(values) == {f.key for f in form.FIELDS}
    status = form.secret_status()
    assert {k: status[k] for k in ("s3.access_key_id", "s3.secret_access_key", "supabase.key")} == {
        "s3.access_key_id": True, "s3.secret_access_key": False, "supabase.key": False}
    assert not any(v for k, v in status.items() if k.startswith("zoom."))


def test_the_starting_values_validate_and_saving_them_unchanged_writes_nothing(app) -> None:
    app.set("transfer.bandwidth_limit", "10M")
    before = config_bytes(app)

    assert form.validate(values_of(app))[1] == {}
    assert form.save(values_of(app), app.paths) == {}
    assert config_bytes(app) == before


# -- validation -----------------------------------------------------------------------------------

BAD_FIELDS = [
    ("watch.settle_seconds", "soon", "number"),
    ("transfer.bandwidth_limit", "fast", "10M"),
    ("naming.template", "{nope}", "nope"),
    ("naming.locale", "xx-bogus", "xx-bogus"),
    ("destination.s3.bucket", "Bad_Bucket", "Bad_Bucket"),
    ("destination.s3.endpoint_url", "ftp://x", "URL"),
    ("transfer.workers", "99", "between 1 and 16"),
    ("watch.folder", "relative/folder", "absolute"),
]


@pytest.mark.parametrize(("key", "bad", "hint"), BAD_FIELDS, ids=[k for k, _v, _h in BAD_FIELDS])
def test_validate_names_the_bad_field_with_a_readable_message(app, key: str, bad: str, hint: str) -> None:
    values = {**values_of(app), key: bad}

    checked, errors = form.validate(values)

    assert list(errors) == [key]
    assert hint in errors[key]
    assert "Traceback" not in errors[key] and "ConfigError" not in errors[key]
    assert key not in checked


def test_validate_reports_every_bad_field_at_once(app) -> None:
    values = {**values_of(app), "watch.settle_seconds": "soon", "transfer.bandwidth_limit": "fast",
              "naming.template": "{nope}", "naming.locale": "xx-bogus", "destination.s3.endpoint_url": "ftp://x"}

    errors = form.validate(values)[1]

    assert set(errors) == {"watch.settle_seconds", "transfer.bandwidth_limit", "naming.template",
                           "naming.locale", "destination.s3.endpoint_url"}


def test_s3_without_a_bucket_asks_for_one(app) -> None:
    values = {**values_of(app), "destination.kind": "s3", "destination.s3.bucket": ""}

    errors = form.validate(values)[1]

    assert list(errors) == ["destination.s3.bucket"]
    assert "bucket name is needed" in errors["destination.s3.bucket"]
    assert form.validate({**values, "destination.kind": "local"})[1] == {}, "no bucket needed for a local backup"


def test_s3_with_an_invalid_bucket_name_says_the_name_is_invalid_not_missing(app) -> None:
    """The user typed a bucket name; being told 'a bucket name is needed' sends them looking for the wrong fix."""
    values = {**values_of(app), "destination.kind": "s3", "destination.s3.bucket": "Bad_Bucket"}

    errors = form.validate(values)[1]

    assert "not a valid bucket name" in errors["destination.s3.bucket"]


# -- destination fields come from the registry (zoomwatch/destination_kinds.py) ---------------------


def test_the_destination_fields_are_the_registry_s_labelled_settings_and_secrets() -> None:
    from zoomwatch.destination_kinds import KINDS

    for kind in KINDS.values():
        declared = {s.key for s in kind.settings if s.label} | {secret.name for secret in kind.secrets}
        assert {f.key for f in form.FIELDS if f.owner == kind.name} == declared
    assert next(f for f in form.FIELDS if f.key == "destination.kind").choices == tuple(KINDS)
    assert {"s3.access_key_id", "s3.secret_access_key", "supabase.key"} <= set(form.SECRET_KEYS)


def test_a_kind_declared_in_the_registry_gets_its_fields_without_touching_the_form(monkeypatch) -> None:
    from zoomwatch import destination_kinds as dk

    webdav = dk.DestinationKind("webdav", "a WebDAV folder", (
        dk.Setting("destination.webdav.url", "", str, "server URL", label="WebDAV URL", required="needed"),
        dk.Setting("destination.webdav.timeout", 30, int, "seconds"),  # no label: config only
    ), (dk.Secret("webdav.password", "WebDAV password"),))
    monkeypatch.setattr(form, "KINDS", {**dk.KINDS, "webdav": webdav})

    fields = form.destination_fields("Destination")

    added = [(f.key, f.kind, f.owner, f.required) for f in fields if f.owner == "webdav"]
    assert added == [("destination.webdav.url", "text", "webdav", "needed"),
                     ("webdav.password", "secret", "webdav", "")]


@pytest.mark.parametrize("kind", ["local", "s3", "supabase"])
def test_each_kind_requires_exactly_what_the_registry_says(app, kind: str) -> None:
    from zoomwatch.destination_kinds import KINDS

    required = {s.key: s.required for s in KINDS[kind].settings if s.required}
    emptied = {key: "" for other in KINDS.values() for key in (s.key for s in other.settings if s.required)}
    values = {**values_of(app), **emptied, "destination.kind": kind}

    assert form.validate(values)[1] == required


@pytest.mark.parametrize("kind", ["local", "s3", "supabase"])
def test_the_dialog_shows_only_the_chosen_kind_s_destination_fields(kind: str) -> None:
    shown = {f.key for f in form.FIELDS if f.section == "Destination" and form.shown_for(f, kind)}
    others = {f.key for f in form.FIELDS if f.owner and f.owner != kind and f.section == "Destination"}
    assert "destination.kind" in shown and not shown & others
    assert {f.key for f in form.FIELDS if f.owner == kind and f.section == "Destination"} <= shown
    assert form.shown_for(next(f for f in form.FIELDS if f.key == "destination.s3.concurrency"), kind), \
        "S3's parts setting stays under Transfers whatever the kind (as before)"


def test_secret_with_spaces_around_it_is_refused(app) -> None:
    values = {**values_of(app), "s3.secret_access_key": " wJalrXUtnFEMI/K7MDENG "}

    errors = form.validate(values)[1]

    assert list(errors) == ["s3.secret_access_key"]
    assert "spaces" in errors["s3.secret_access_key"]


# -- saving ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "bad", "hint"), BAD_FIELDS, ids=[k for k, _v, _h in BAD_FIELDS])
def test_save_with_an_error_writes_nothing(app, key: str, bad: str, hint: str) -> None:
    before = config_bytes(app)
    values = {**values_of(app), "transfer.workers": "7", "s3.access_key_id": "AKIANEW", key: bad}

    errors = form.save(values, app.paths)

    assert key in errors
    assert config_bytes(app) == before, "a good field must not be saved while another is wrong"
    assert secrets.get_secret("s3.access_key_id") is None, "no secret stored while a field is wrong"
    assert not app.paths.secrets_stamp.exists()


def test_save_writes_only_the_changed_settings(app) -> None:
    before = file_keys(app)
    values = {**values_of(app), "watch.settle_seconds": "45", "naming.template": "{year}/{title}/{filename}",
              "transfer.bandwidth_limit": "10M"}

    assert form.save(values, app.paths) == {}

    assert file_keys(app) == {**before, "watch.settle_seconds": 45.0, "naming.template": "{year}/{title}/{filename}",
                              "transfer.bandwidth_limit": 10 * 1024**2}
    cfg = app.load()
    assert cfg.problems == ()
    assert cfg["watch.settle_seconds"] == 45.0
    assert cfg["naming.template"] == "{year}/{title}/{filename}"
    assert cfg["transfer.bandwidth_limit"] == 10 * 1024**2
    assert cfg["transfer.workers"] == 2 and "transfer.workers" not in file_keys(app), "unchanged default not written"


def test_save_switches_to_s3_with_bucket_and_endpoint(app) -> None:
    values = {**values_of(app), "destination.kind": "S3", "destination.s3.bucket": "team-recordings",
              "destination.s3.endpoint_url": "https://minio.example.com/", "destination.s3.prefix": "/zoom/alice/"}

    assert form.save(values, app.paths) == {}

    cfg = app.load()
    assert cfg["destination.kind"] == "s3"
    assert cfg["destination.s3.bucket"] == "team-recordings"
    assert cfg["destination.s3.endpoint_url"] == "https://minio.example.com"
    assert cfg["destination.s3.prefix"] == "zoom/alice"


def test_typed_secrets_go_to_the_keyring_and_never_to_the_config_file(app, keyring_file: Path) -> None:
    values = {**values_of(app), "watch.settle_seconds": "20",
              "s3.access_key_id": "AKIAIOSFODNN7EXAMPLE", "s3.secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYKEY"}

    assert form.save(values, app.paths) == {}

    assert secrets.get_secret("s3.access_key_id") == "AKIAIOSFODNN7EXAMPLE"
    assert secrets.get_secret("s3.secret_access_key") == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYKEY"
    status = form.secret_status()
    assert (status["s3.access_key_id"], status["s3.secret_access_key"], status["supabase.key"]) == (True, True, False)
    text = app.paths.config_file.read_text(encoding="utf-8")
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "wJalrXUtnFEMI" not in text
    assert "s3.access_key_id" not in file_keys(app) and "access_key_id" not in text
    assert app.load()["watch.settle_seconds"] == 20.0
    assert keyring_file.is_file(), "the test keyring, not the user's, got the secrets"
    assert app.paths.secrets_stamp.exists(), "a running engine is told that credentials changed"


def test_an_empty_secret_field_keeps_the_stored_secret(app) -> None:
    secrets.set_secret("s3.access_key_id", "AKIASTORED")
    secrets.set_secret("s3.secret_access_key", "stored-secret")
    values = {**values_of(app), "s3.access_key_id": "AKIATYPEDNEW"}

    assert values["s3.secret_access_key"] == ""
    assert form.save(values, app.paths) == {}

    assert secrets.get_secret("s3.access_key_id") == "AKIATYPEDNEW"
    assert secrets.get_secret("s3.secret_access_key") == "stored-secret"


# -- naming preview -------------------------------------------------------------------------------


def test_preview_shows_where_the_sample_meeting_goes() -> None:
    assert form.preview(naming.DEFAULT_TEMPLATE, "en") == "2023/10/2023-10-29 10.00.00 Weekly sync/zoom_0.mp4"


def test_preview_follows_the_locale_for_month_and_day_names() -> None:
    template = "{year}/{month_name}/{weekday} {title}/{filename}"

    assert form.preview(template, "en") == "2023/October/Sunday Weekly sync/zoom_0.mp4"
    assert form.preview(template, "de") == "2023/Oktober/Sonntag Weekly sync/zoom_0.mp4"


@pytest.mark.parametrize(("template", "locale", "hint"), [
    ("{nope}/{filename}", "en", "nope"),
    ("{year}/{filename", "en", "template"),
    ("{year}/{title}", "en", "filename"),
    (naming.DEFAULT_TEMPLATE, "xx-bogus", "xx-bogus"),
])
def test_preview_explains_a_bad_template_or_locale(template: str, locale: str, hint: str) -> None:
    message = form.preview(template, locale)

    assert message.startswith("⚠ ")
    assert hint in message


# -- recordings count -----------------------------------------------------------------------------


def make_meeting(folder: Path) -> None:
    meeting = folder / "2023-10-29 10.00.00 Weekly sync"
    meeting.mkdir(parents=True)
    for name in ("zoom_0.mp4", "audio1234.m4a", "meeting_saved_chat.txt",
                 "double_click_to_convert_01.zoom", "recording.conf"):
        (meeting / name).write_bytes(b"x")


def test_count_recordings_counts_only_files_that_are_backed_up(app) -> None:
    make_meeting(app.zoom)

    assert form.count_recordings(str(app.zoom), app.load()) == f"found 3 recording files in {app.zoom}"


def test_count_recordings_of_an_empty_field_counts_the_configured_folder(app) -> None:
    (app.zoom / "one").mkdir()
    (app.zoom / "one" / "zoom_0.mp4").write_bytes(b"x")

    assert form.count_recordings("", app.load()) == f"found 1 recording file in {app.zoom}"


def test_count_recordings_says_a_missing_folder_does_not_exist(app, tmp_path: Path) -> None:
    missing = tmp_path / "no such folder"

    assert form.count_recordings(str(missing), app.load()) == f"⚠ {missing} does not exist"


def test_count_recordings_at_exactly_the_limit_does_not_claim_more(app) -> None:
    make_meeting(app.zoom)  # 3 recording files

    assert form.count_recordings(str(app.zoom), app.load(), limit=4) == f"found 3 recording files in {app.zoom}"
    assert form.count_recordings(str(app.zoom), app.load(), limit=2) == "found over 2 recording files"
    assert form.count_recordings(str(app.zoom), app.load(), limit=3) == f"found 3 recording files in {app.zoom}"


# -- connection test ------------------------------------------------------------------------------


def test_connection_to_a_missing_backup_folder_says_it_is_missing(app, tmp_path: Path) -> None:
    missing = tmp_path / "unplugged drive" / "backup"
    values = {**values_of(app), "destination.local.path": str(missing)}

    message = form.test_connection(values, app.paths)

    assert message.startswith("⚠ Backup folder is missing"), message
    assert str(missing) in message
    assert not missing.exists(), "the test must not create a folder the user chose"


def test_connection_to_an_existing_folder_is_ok_and_leaves_no_probe(app, tmp_path: Path) -> None:
    folder = tmp_path / "typed but not saved"
    folder.mkdir()
    values = {**values_of(app), "destination.local.path": str(folder)}

    message = form.test_connection(values, app.paths)

    assert message.startswith("OK:"), message
    assert str(folder) in message
    assert list(folder.iterdir()) == []
    assert app.load()["destination.local.path"] == str(app.backup), "testing does not save"


def test_connection_with_validation_errors_asks_to_fix_the_marked_fields(app) -> None:
    values = {**values_of(app), "watch.settle_seconds": "soon"}

    message = form.test_connection(values, app.paths)

    assert message.startswith("⚠ fix the marked fields first")
    assert "watch.settle_seconds" in message
