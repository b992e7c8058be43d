"""The settings window on a real X server, driven like a user would: fields typed, buttons invoked.
Secrets go through the real Secret Service (gnome-keyring); Test connection talks to a real S3 server."""

from __future__ import annotations

import tkinter as tk
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for

from zoomwatch import config as configmod


@pytest.fixture
def secret_service(desktop) -> Iterator[None]:
    import keyring
    from keyring.backends import SecretService

    previous = keyring.get_keyring()
    keyring.set_keyring(SecretService.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def dialog(app, desktop, secret_service):
    from zoomwatch.ui.autostart import XdgAutostart
    from zoomwatch.ui.settings_dialog import SettingsDialog

    root = tk.Tk()
    window = SettingsDialog(root, app.paths, XdgAutostart(config_home=Path(app.env["XDG_CONFIG_HOME"])))
    root.update()
    yield window
    try:
        root.destroy()
    except tk.TclError:
        pass  # Save already closed it


def pump_until(window, condition, what: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    def step():  # type: ignore[no-untyped-def]
        window.root.update()
        return condition()

    return wait_for(step, timeout=timeout, what=what)


def test_window_appears_and_shows_current_settings(dialog, app, desktop):
    shown = wait_for(lambda: (dialog.root.update(), desktop.xdotool("search", "--onlyvisible", "--name",
                                                                     "zoomwatch settings"))[1],
                     what="the settings window on screen")
    assert shown
    assert dialog.vars["watch.folder"].get() == str(app.zoom)
    assert dialog.vars["watch.settle_seconds"].get() == "1.0"
    assert dialog.found.cget("text") == f"found 0 recording files in {app.zoom}"


def test_bad_values_are_shown_beside_their_fields_and_nothing_is_saved(dialog, app):
    before = app.paths.config_file.read_bytes()
    dialog.vars["watch.settle_seconds"].set("soon")
    dialog.vars["naming.template"].set("{year}/{nope}/{filename}")
    dialog.root.update()
    assert "unknown" in dialog.preview.cget("text").lower() or "nope" in dialog.preview.cget("text")
    dialog.save_button.invoke()
    assert "number" in dialog.errors["watch.settle_seconds"].cget("text")
    assert "nope" in dialog.errors["naming.template"].cget("text")
    assert app.paths.config_file.read_bytes() == before
    assert "marked fields" in dialog.message.cget("text")


def test_save_writes_settings_and_puts_secrets_only_in_the_keyring(dialog, app):
    import keyring

    secret = f"secret-{uuid.uuid4().hex}"
    dialog.vars["naming.locale"].set("es")
    dialog.vars["naming.template"].set("{year}_{month:02d}_{month_name}/{filename}")
    dialog.root.update()
    assert dialog.preview.cget("text") == "e.g. 2023_10_Octubre/zoom_0.mp4"
    dialog.vars["destination.kind"].set("s3")
    dialog.vars["destination.s3.bucket"].set("team-recordings")
    dialog.vars["s3.access_key_id"].set("AKIDEXAMPLE")
    dialog.vars["s3.secret_access_key"].set(secret)
    dialog.start_at_login.set(True)
    dialog.save_button.invoke()
    cfg = configmod.load(app.paths)
    assert (cfg["naming.locale"], cfg["destination.kind"], cfg["destination.s3.bucket"]) == ("es", "s3",
                                                                                             "team-recordings")
    assert keyring.get_keyring().__class__.__module__.endswith("SecretService")
    assert keyring.get_password("zoomwatch", "s3.secret_access_key") == secret
    assert secret not in app.paths.config_file.read_text()
    assert (Path(app.env["XDG_CONFIG_HOME"]) / "autostart" / "zoomwatch.desktop").exists()
    keyring.delete_password("zoomwatch", "s3.secret_access_key")
    keyring.delete_password("zoomwatch", "s3.access_key_id")


def test_test_connection_reports_a_wrong_bucket_on_a_real_s3_server(dialog, tmp_path_factory):
    from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

    server = SeaweedS3(tmp_path_factory.mktemp("seaweed-dialog"))
    server.start()
    try:
        dialog.vars["destination.kind"].set("s3")
        dialog.vars["destination.s3.bucket"].set("bucket-that-is-not-there")
        dialog.vars["destination.s3.endpoint_url"].set(server.endpoint)
        dialog.vars["destination.s3.region"].set("us-east-1")
        dialog.vars["s3.access_key_id"].set(ACCESS_KEY)
        dialog.vars["s3.secret_access_key"].set(SECRET_KEY)
        dialog.test_button.invoke()
        text = pump_until(dialog, lambda: dialog.message.cget("text") if dialog.message.cget("text") != "Testing…"
                          else "", "the connection test's answer")
        assert text.startswith("⚠ S3 bucket not found") and "bucket-that-is-not-there" in text

        server.create_bucket("bucket-that-is-there")
        dialog.vars["destination.s3.bucket"].set("bucket-that-is-there")
        dialog.test_button.invoke()
        text = pump_until(dialog, lambda: dialog.message.cget("text") if dialog.message.cget("text") not in (
            "Testing…", str(text)) else "", "the second answer")
        assert text.startswith("OK: S3 bucket bucket-that-is-there")
    finally:
        server.stop()


def test_start_at_login_from_a_disk_image_is_refused_in_words_and_the_window_stays(app, desktop, tmp_path):
    """macOS: a login item pointing into a mounted dmg or a translocated copy breaks at the next login
    (issue 18 item 14). The settings are saved; the window stays open and says what to do."""
    from zoomwatch.ui.autostart import LaunchAgent
    from zoomwatch.ui.settings_dialog import SettingsDialog

    root = tk.Tk()
    try:
        agent = LaunchAgent(agents_dir=tmp_path, command=["/Volumes/zoomwatch/zoomwatch.app/Contents/MacOS/zoomwatch"])
        window = SettingsDialog(root, app.paths, agent)
        window.vars["naming.locale"].set("de")
        window.start_at_login.set(True)
        assert window.save() is False
        root.update()
        assert "Applications" in window.message.cget("text") and not window.start_at_login.get()
        assert not agent.is_enabled() and configmod.load(app.paths)["naming.locale"] == "de"
        assert root.winfo_exists()
    finally:
        root.destroy()


def test_choosing_a_kind_shows_exactly_its_registered_fields(dialog):
    """The fields shown follow the destination registry: the chosen kind's settings and secrets, none of
    another kind's (the dialog has no list of its own)."""
    from zoomwatch.destination_kinds import KINDS

    def shown(key: str) -> bool:
        return all(widget.grid_info() for widget in dialog.rows[key])

    for kind in ("s3", "supabase", "local"):
        dialog.vars["destination.kind"].set(kind)
        dialog.root.update()
        for other in KINDS.values():
            in_tab = [s.key for s in other.settings if s.label and s.section == "Destination"]
            for key in in_tab + [secret.name for secret in other.secrets]:
                assert shown(key) == (other.name == kind), (kind, key)
        assert shown("destination.kind") and shown("destination.s3.concurrency") and shown("watch.folder")
