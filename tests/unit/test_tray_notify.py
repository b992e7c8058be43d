"""Tray notifications: a problem that needs the user is announced once per cause, not per retry."""

from __future__ import annotations

from zoomwatch.app import Engine, ProblemKey
from zoomwatch.ui.tray import TrayApp


class RecordingIcon:
    """Stands in for pystray's Icon object: records what the tray sets and announces."""

    HAS_NOTIFICATION = True

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []
        self.icon = None
        self.title = ""

    def notify(self, message: str, title: str) -> None:
        self.notes.append((title, message))

    def update_menu(self) -> None:
        pass


def test_each_cause_is_notified_once_and_again_after_it_cleared(app):
    engine = Engine(app.load())
    try:
        tray = TrayApp(engine, opener=lambda p: None)
        tray.icon = RecordingIcon()
        for _ in range(3):  # the same failure on three retries
            engine.board.set_problem(ProblemKey.DESTINATION, "S3: access denied", "the key may not write to bucket b")
            tray.refresh()
        engine.board.set_problem(ProblemKey.DESTINATION, "Backup disk is full", "free space on /mnt/usb")
        tray.refresh()
        engine.board.clear_problem(ProblemKey.DESTINATION)
        tray.refresh()
        engine.board.set_problem(ProblemKey.DESTINATION, "S3: access denied", "the key may not write to bucket b")
        tray.refresh()
        assert tray.icon.notes == [("S3: access denied", "the key may not write to bucket b"),
                                   ("Backup disk is full", "free space on /mnt/usb"),
                                   ("S3: access denied", "the key may not write to bucket b")]
        assert "S3: access denied" in tray.icon.title
    finally:
        engine.close()


def test_backed_up_notifications_only_when_turned_on(app):
    engine = Engine(app.load())
    try:
        tray = TrayApp(engine, opener=lambda p: None)
        tray.icon = RecordingIcon()
        engine.board.add_recent("Weekly sync — zoom_0.mp4", "/backup/x", "x")
        tray.refresh()
        assert tray.icon.notes == []  # off by default
        app.set("notify.backups", "true")
        engine.config = app.load()
        engine.board.add_recent("Weekly sync — chat.txt", "/backup/y", "y")
        tray.refresh()
        tray.refresh()
        assert tray.icon.notes == [("Backed up", "Weekly sync — chat.txt")]
    finally:
        engine.close()


def test_problems_about_different_things_are_each_notified_and_each_listed(app, monkeypatch):
    engine = Engine(app.load())
    try:
        tray = TrayApp(engine, opener=lambda p: None)
        tray.icon = RecordingIcon()
        monkeypatch.setattr(Engine, "monitoring", property(lambda self: True))  # as if watching: the picture
        engine.board.set_problem(ProblemKey.DESTINATION, "Backup folder is missing", "/mnt/usb does not exist")
        engine.board.set_problem(ProblemKey.ZOOM_SIGN_IN, "Signed out of Zoom", "run zoomwatch login")
        tray.refresh()
        assert sorted(tray.icon.notes) == [("Backup folder is missing", "/mnt/usb does not exist"),
                                           ("Signed out of Zoom", "run zoomwatch login")]
        assert tray.shown is not None and tray.shown.image == "attention"
        assert tray.icon.title.startswith("zoomwatch — Backup folder is missing")  # the worst (then oldest)
        listed = tray.shown.menu[1]
        assert listed == ("⚠ Backup folder is missing — /mnt/usb does not exist",
                          "⚠ Signed out of Zoom — run zoomwatch login")
        assert tray.shown.menu[0] == "2 problems need attention"
        assert not tray.can_sync()  # signed out: "Sync now" is greyed

        engine.board.clear_problem(ProblemKey.DESTINATION)  # the drive is back; still signed out
        tray.refresh()
        assert len(tray.icon.notes) == 2, "the problem still shown is not announced again"
        assert tray.shown.menu[1] == ("⚠ Signed out of Zoom — run zoomwatch login",)
        assert tray.shown.image == "attention"
    finally:
        engine.close()
