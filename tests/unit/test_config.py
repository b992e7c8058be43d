"""Settings: defaults, validation naming the bad key, round-trips through the TOML file, comments kept,
corrupt files set aside (never lost), the default Zoom folder, XDG dirs and file-name filtering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zoomwatch import config, paths
from zoomwatch.errors import ConfigError
from zoomwatch.paths import AppPaths


@pytest.fixture
def app_paths(tmp_path: Path) -> AppPaths:
    return AppPaths(
        config_dir=tmp_path / "cfg",
        data_dir=tmp_path / "data",
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "state" / "log",
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def corrupt_files(p: AppPaths) -> list[Path]:
    return sorted(p.config_dir.glob("config.toml.corrupt-*"))


# -- defaults and round trips ---------------------------------------------------------------------


def test_no_config_file_gives_every_default_and_no_problems(app_paths: AppPaths) -> None:
    cfg = config.load(app_paths)

    assert cfg.values == {name: key.default for name, key in config.KEYS.items()}
    assert cfg.problems == ()
    assert cfg["watch.settle_seconds"] == 30.0
    assert cfg["destination.kind"] == "local"
    assert cfg.backup_folder == app_paths.default_backup_dir
    assert not app_paths.config_file.exists(), "reading the settings must not create a file"


def good_values(tmp_path: Path) -> dict[str, tuple[str, object]]:
    """key -> (what a user types, the value zoomwatch then uses)."""
    folder = str(tmp_path / "My Zoom")
    return {
        "watch.folder": (folder, folder),
        "watch.settle_seconds": ("12.5", 12.5),
        "watch.include": ("*.mp4, *.mkv", ["*.mp4", "*.mkv"]),
        "watch.exclude": ('["*.tmp", "secret*"]', ["*.tmp", "secret*"]),
        "destination.kind": ("S3", "s3"),
        "destination.local.path": ("~/Backups", "~/Backups"),
        "naming.template": ("{year}/{title}/{filename}", "{year}/{title}/{filename}"),
        "naming.locale": ("de_DE", "de_DE"),
        "transfer.workers": ("4", 4),
        "transfer.bandwidth_limit": ("10M", 10 * 1024 * 1024),
        "log.level": ("DEBUG", "debug"),
        "destination.s3.bucket": ("team-recordings", "team-recordings"),
        "destination.s3.prefix": ("/zoom/ana/", "zoom/ana"),
        "destination.s3.region": ("eu-west-1", "eu-west-1"),
        "destination.s3.endpoint_url": ("https://s3.example.com/", "https://s3.example.com"),
        "destination.s3.addressing_style": ("Path", "path"),
        "destination.s3.storage_class": ("STANDARD_IA", "standard_ia"),
        "destination.s3.sse": ("aws:kms", "aws:kms"),
        "destination.s3.kms_key_id": ("alias/zoom", "alias/zoom"),
        "destination.s3.part_size": ("16M", 16 * 1024 * 1024),
        "destination.s3.concurrency": ("8", 8),
        "destination.supabase.url": ("https://abcd.supabase.co/", "https://abcd.supabase.co"),
        "destination.supabase.bucket": ("zoom-backups", "zoom-backups"),
        "destination.supabase.prefix": ("team/ana", "team/ana"),
        "zoom.mode": ("S2S", "s2s"),
        "zoom.api_base": ("https://eu01api-www4local.zoom.us/v2", "https://eu01api-www4local.zoom.us/v2"),
        "zoom.oauth_base": ("https://zoom.us/", "https://zoom.us"),
        "zoom.redirect_port": ("0", 0),
        "zoom.since": ("2024-01-31", "2024-01-31"),
        "zoom.lookback_days": ("14", 14),
        "zoom.sync_interval_minutes": ("60", 60),
        "zoom.file_types": ("MP4, TRANSCRIPT", ["MP4", "TRANSCRIPT"]),
        "zoom.include_trash": ("yes", True),
        "zoom.trash_after_backup": ("false", False),
        "zoom.warn_days": ("10", 10),
        "zoom.trash_after_days": ("30", 30),
        "cleanup.local_after_days": ("90", 90),
        "zoom.users": ("ana@example.com, bo@example.com", ["ana@example.com", "bo@example.com"]),
        "zoom.account_ids": ("sub1, sub2", ["sub1", "sub2"]),
        "catalog.machine_name": (" laptop-3 ", "laptop-3"),
        "catalog.lease_seconds": ("30", 30),
        "notify.backups": ("on", True),
        "ui.language": ("EN", "en"),  # another language moves naming.locale too: test_i18n.py
        "dashboard.enabled": ("off", False),
        "dashboard.port": ("8385", 8385),
    }


def test_good_values_cover_every_key(tmp_path: Path) -> None:
    assert set(good_values(tmp_path)) == set(config.KEYS)


@pytest.mark.parametrize("key", list(config.KEYS))
def test_set_value_then_load_round_trips(key: str, app_paths: AppPaths, tmp_path: Path, home: Path) -> None:
    typed, expected = good_values(tmp_path)[key]

    returned = config.set_value(app_paths, key, typed)
    cfg = config.load(app_paths)

    assert returned == expected
    assert cfg[key] == expected
    assert cfg.problems == ()
    others = {k: v for k, v in cfg.values.items() if k != key}
    assert others == {k: config.KEYS[k].default for k in others}, "setting one key must not change others"


def test_all_keys_set_together_survive_a_reload(app_paths: AppPaths, tmp_path: Path, home: Path) -> None:
    values = good_values(tmp_path)
    for key, (typed, _) in values.items():
        config.set_value(app_paths, key, typed)

    cfg = config.load(app_paths)

    assert cfg.problems == ()
    assert cfg.values == {key: expected for key, (_, expected) in values.items()}
    assert cfg.watch_folder == tmp_path / "My Zoom"
    assert cfg.backup_folder == home / "Backups", "~ in the backup folder means the user's home"


# -- bad values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("watch.settle_seconds", "soon"),
        ("watch.settle_seconds", "0"),
        ("watch.settle_seconds", "100000"),
        ("watch.settle_seconds", True),
        ("watch.include", '["*.mp4", 3]'),
        ("watch.include", '["*.mp4"'),
        ("watch.include", 42),
        ("destination.kind", "ftp"),
        ("destination.local.path", "backups/zoom"),
        ("watch.folder", "Documents/Zoom"),
        ("naming.template", "{year}/{speaker}/{filename}"),
        ("naming.locale", "klingon"),
        ("transfer.workers", "lots"),
        ("transfer.workers", "0"),
        ("transfer.bandwidth_limit", "fast"),
        ("transfer.bandwidth_limit", "-1"),
        ("transfer.bandwidth_limit", "inf"),
        ("transfer.bandwidth_limit", "1e400"),
        ("log.level", "loud"),
    ],
)
def test_bad_value_is_refused_with_the_key_named(key: str, value: object, app_paths: AppPaths) -> None:
    config.set_value(app_paths, "log.level", "warning")
    before = app_paths.config_file.read_bytes()
    previous = config.load(app_paths)[key]

    with pytest.raises(ConfigError) as caught:
        config.set_value(app_paths, key, value)

    assert key in str(caught.value)
    assert caught.value.message, "the error must say what is wrong, not only which key"
    assert app_paths.config_file.read_bytes() == before, "a refused value must leave the file untouched"
    assert config.load(app_paths)[key] == previous


def test_unknown_template_variable_is_named_in_the_error(app_paths: AppPaths) -> None:
    with pytest.raises(ConfigError) as caught:
        config.set_value(app_paths, "naming.template", "{year}/{speaker}/{filename}")
    assert "naming.template" in str(caught.value)
    assert "speaker" in str(caught.value)


def test_unknown_setting_is_refused(app_paths: AppPaths) -> None:
    with pytest.raises(ConfigError) as caught:
        config.set_value(app_paths, "watch.speed", "fast")
    assert "watch.speed" in str(caught.value)
    assert not app_paths.config_file.exists()


# -- the file a person edits ----------------------------------------------------------------------


def test_set_value_keeps_comments_and_formatting(app_paths: AppPaths) -> None:
    app_paths.config_dir.mkdir(parents=True)
    app_paths.config_file.write_text(
        "# my zoomwatch settings — do not lose this\n"
        "[watch]\n"
        "# wait a bit longer, the NAS is slow\n"
        "settle_seconds = 45   # seconds\n"
        "include = [ \"*.mp4\",   \"*.m4a\" ]   # only video and audio\n"
        "\n"
        "[log]\n"
        "level = 'warning'\n",
        encoding="utf-8",
    )

    config.set_value(app_paths, "watch.settle_seconds", "60")
    config.set_value(app_paths, "transfer.workers", "3")

    text = app_paths.config_file.read_text(encoding="utf-8")
    assert "# my zoomwatch settings — do not lose this" in text
    assert "# wait a bit longer, the NAS is slow" in text
    assert "# seconds" in text
    assert "include = [ \"*.mp4\",   \"*.m4a\" ]   # only video and audio" in text
    assert "level = 'warning'" in text
    cfg = config.load(app_paths)
    assert cfg.problems == ()
    assert cfg["watch.settle_seconds"] == 60.0
    assert cfg["transfer.workers"] == 3
    assert cfg["watch.include"] == ["*.mp4", "*.m4a"]
    assert cfg["log.level"] == "warning"


def test_corrupt_file_is_set_aside_and_defaults_used(app_paths: AppPaths) -> None:
    app_paths.config_dir.mkdir(parents=True)
    original = b"[watch\nsettle_seconds = = 3\n# my notes\n"
    app_paths.config_file.write_bytes(original)

    cfg = config.load(app_paths)

    aside = corrupt_files(app_paths)
    assert len(aside) == 1
    assert aside[0].read_bytes() == original, "nothing the user wrote may be lost"
    assert not app_paths.config_file.exists()
    assert cfg.values == {name: key.default for name, key in config.KEYS.items()}
    assert len(cfg.problems) == 1
    assert "not valid TOML" in cfg.problems[0]
    assert aside[0].name in cfg.problems[0], "the problem must say where the old file went"

    config.set_value(app_paths, "watch.settle_seconds", "5")

    cfg = config.load(app_paths)
    assert cfg.problems == ()
    assert cfg["watch.settle_seconds"] == 5.0
    assert corrupt_files(app_paths) == aside and aside[0].read_bytes() == original


def test_set_value_on_a_corrupt_file_sets_it_aside_first(app_paths: AppPaths) -> None:
    app_paths.config_dir.mkdir(parents=True)
    app_paths.config_file.write_bytes(b"this is = = not toml")

    config.set_value(app_paths, "log.level", "error")

    assert [p.read_bytes() for p in corrupt_files(app_paths)] == [b"this is = = not toml"]
    cfg = config.load(app_paths)
    assert cfg.problems == ()
    assert cfg["log.level"] == "error"


def test_two_corrupt_files_in_a_row_are_both_kept(app_paths: AppPaths) -> None:
    app_paths.config_dir.mkdir(parents=True)
    app_paths.config_file.write_bytes(b"first = = broken")
    config.load(app_paths)
    app_paths.config_file.write_bytes(b"second = = broken")
    config.load(app_paths)

    kept = {p.read_bytes() for p in corrupt_files(app_paths)}
    assert kept == {b"first = = broken", b"second = = broken"}


def test_bad_value_in_file_uses_that_keys_default_only(app_paths: AppPaths) -> None:
    app_paths.config_dir.mkdir(parents=True)
    app_paths.config_file.write_text(
        "[watch]\n"
        "settle_seconds = \"soon\"\n"
        "include = [\"*.mp4\"]\n"
        "[destination]\n"
        "kind = \"carrier-pigeon\"\n"
        "[log]\n"
        "level = \"debug\"\n",
        encoding="utf-8",
    )

    cfg = config.load(app_paths)

    assert cfg["watch.settle_seconds"] == 30.0
    assert cfg["destination.kind"] == "local"
    assert cfg["watch.include"] == ["*.mp4"]
    assert cfg["log.level"] == "debug"
    assert len(cfg.problems) == 2
    assert any("watch.settle_seconds" in p for p in cfg.problems)
    assert any("destination.kind" in p for p in cfg.problems)
    assert app_paths.config_file.exists(), "a valid TOML file with a bad value is not set aside"
    assert corrupt_files(app_paths) == []


def test_infinite_bandwidth_limit_in_file_falls_back_to_the_default(app_paths: AppPaths) -> None:
    # TOML has an `inf` literal; a file holding it must be reported, not stop zoomwatch from starting
    app_paths.config_dir.mkdir(parents=True)
    app_paths.config_file.write_text("[transfer]\nbandwidth_limit = inf\n[log]\nlevel = \"debug\"\n",
                                     encoding="utf-8")

    cfg = config.load(app_paths)

    assert cfg["transfer.bandwidth_limit"] == 0
    assert cfg["log.level"] == "debug"
    assert len(cfg.problems) == 1 and "transfer.bandwidth_limit" in cfg.problems[0]


def test_config_file_that_is_not_utf8_is_set_aside_and_can_be_replaced(app_paths: AppPaths) -> None:
    # e.g. saved as Latin-1 by an old editor; TOML files must be UTF-8, so this is not valid TOML
    app_paths.config_dir.mkdir(parents=True)
    original = "# réglages\n[log]\nlevel = \"debug\"\n".encode("latin-1")
    app_paths.config_file.write_bytes(original)

    cfg = config.load(app_paths)
    assert cfg["log.level"] == "info"
    assert len(cfg.problems) == 1 and str(app_paths.config_file) in cfg.problems[0]

    config.set_value(app_paths, "log.level", "error")

    cfg = config.load(app_paths)
    assert cfg.problems == ()
    assert cfg["log.level"] == "error"
    assert [p.read_bytes() for p in corrupt_files(app_paths)] == [original], "the user's file must be kept"


def test_unknown_key_in_file_is_reported_and_others_kept(app_paths: AppPaths) -> None:
    app_paths.config_dir.mkdir(parents=True)
    app_paths.config_file.write_text("[watch]\nsettle_secs = 5\nsettle_seconds = 7\n", encoding="utf-8")

    cfg = config.load(app_paths)

    assert cfg["watch.settle_seconds"] == 7.0
    assert len(cfg.problems) == 1 and "watch.settle_secs" in cfg.problems[0]


# -- where things are -----------------------------------------------------------------------------


def test_default_watch_folder_falls_back_to_home_zoom(home: Path, app_paths: AppPaths) -> None:
    (home / "Zoom").mkdir()

    assert paths.default_zoom_folder(home) == home / "Zoom"
    cfg = config.load(app_paths)
    assert cfg["watch.folder"] == ""
    assert cfg.watch_folder == home / "Zoom"


def test_default_watch_folder_prefers_documents_zoom(home: Path, app_paths: AppPaths) -> None:
    (home / "Zoom").mkdir()
    (home / "Documents" / "Zoom").mkdir(parents=True)

    assert paths.default_zoom_folder(home) == home / "Documents" / "Zoom"
    assert config.load(app_paths).watch_folder == home / "Documents" / "Zoom"


def test_default_watch_folder_when_neither_exists_is_documents_zoom(home: Path, app_paths: AppPaths) -> None:
    assert paths.default_zoom_folder(home) == home / "Documents" / "Zoom"
    assert config.load(app_paths).watch_folder == home / "Documents" / "Zoom"


def test_configured_watch_folder_wins_over_default(home: Path, app_paths: AppPaths, tmp_path: Path) -> None:
    (home / "Zoom").mkdir()
    config.set_value(app_paths, "watch.folder", "~/Elsewhere")
    assert config.load(app_paths).watch_folder == home / "Elsewhere"


def test_xdg_dirs_are_honoured(app, tmp_path: Path) -> None:  # app: conftest's isolated user
    p = AppPaths.default()

    assert p.config_dir == tmp_path / "xdg-config" / "zoomwatch"
    assert p.data_dir == tmp_path / "xdg-data" / "zoomwatch"
    assert p.config_file == tmp_path / "xdg-config" / "zoomwatch" / "config.toml"
    assert p.catalog_file == tmp_path / "xdg-data" / "zoomwatch" / "catalog.sqlite3"
    assert p.default_backup_dir == tmp_path / "xdg-data" / "zoomwatch" / "backup"
    assert p.state_dir.is_relative_to(tmp_path / "xdg-state")
    # the fixture's settings landed in the XDG config dir, not in ~/.config
    assert p.config_file.is_file()
    assert not (app.home / ".config").exists()
    assert config.load()["watch.settle_seconds"] == 1.0


# -- which files are backed up --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("zoom_0.mp4", True),
        ("audio_only.m4a", True),
        ("meeting_saved_chat.txt", True),
        ("closed_caption.txt", True),
        ("GMT20231012-140000_Recording.transcript.vtt", True),
        ("ZOOM_0.MP4", True),
        ("Audio_Only.M4A", True),
        ("double_click_to_convert_01.zoom", False),
        ("recording.conf", False),
        ("Recording.CONF", False),
        ("DOUBLE_CLICK_TO_CONVERT_01.ZOOM", False),
        (".zoom_0.mp4", False),
        ("zoom_0.mp4.tmp", False),
        ("~zoom_0.mp4", False),
        ("notes.docx", False),
    ],
)
def test_default_filter(name: str, wanted: bool, app_paths: AppPaths) -> None:
    assert config.load(app_paths).wants(name) is wanted


def test_exclude_wins_over_include_case_insensitively(app_paths: AppPaths) -> None:
    config.set_value(app_paths, "watch.include", "*.MP4")
    config.set_value(app_paths, "watch.exclude", "*draft*")
    cfg = config.load(app_paths)

    assert cfg.wants("zoom_0.mp4")
    assert not cfg.wants("Zoom_DRAFT_0.mp4")
    assert not cfg.wants("audio_only.m4a")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("*.mp4, *.m4a", ["*.mp4", "*.m4a"]),
        ("  *.mp4 ,*.m4a ,", ["*.mp4", "*.m4a"]),
        ('["*.mp4", "*.m4a"]', ["*.mp4", "*.m4a"]),
        ('["*.mp4"]', ["*.mp4"]),
    ],
)
def test_include_accepts_comma_list_and_toml_array(typed: str, expected: list[str], app_paths: AppPaths) -> None:
    config.set_value(app_paths, "watch.include", typed)
    cfg = config.load(app_paths)

    assert cfg["watch.include"] == expected
    assert cfg.wants("zoom_0.mp4")
    assert cfg.wants("audio_only.m4a") is ("*.m4a" in expected)
    assert not cfg.wants("meeting_saved_chat.txt")


# -- inputs that used to crash or stall every command (issue 11.17) ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[log]\nlevel = " + "[" * 100_000 + "]" * 100_000 + "\n",  # nested arrays: RecursionError in tomllib
        "a = " + "{b = " * 50_000 + "1" + "}" * 50_000 + "\n",  # nested inline tables
        "[" + ".".join(["t"] * 5000) + "]\nx = 1\n",  # a table header thousands of keys deep
    ],
    ids=["arrays", "inline-tables", "dotted-header"],
)
def test_deeply_nested_config_is_reported_as_not_valid_quickly(text: str, app_paths: AppPaths) -> None:
    import time

    app_paths.config_dir.mkdir(parents=True)
    app_paths.config_file.write_text(text, encoding="utf-8")
    started = time.monotonic()

    cfg = config.load(app_paths)

    assert time.monotonic() - started < 5
    assert cfg.values == {name: key.default for name, key in config.KEYS.items()}
    assert len(cfg.problems) == 1 and "not valid TOML" in cfg.problems[0]
    assert [p.read_text(encoding="utf-8") for p in corrupt_files(app_paths)] == [text]


def test_deeply_nested_list_value_is_refused_by_config_set(app_paths: AppPaths) -> None:
    with pytest.raises(ConfigError) as caught:
        config.set_value(app_paths, "watch.include", "[" * 100_000 + "]" * 100_000)
    assert "watch.include" in caught.value.title and "nested" in caught.value.message


@pytest.mark.parametrize("template", [
    "{title:>400000000}/{filename}",
    "{year}/{title:.400000000}/{filename}",
    "{year:0400000000d}/{filename}",
    "{title:>" + "9" * 5000 + "}/{filename}",
    "{title:256}/{filename}",
])
def test_huge_format_widths_in_the_template_are_refused_quickly(template: str, app_paths: AppPaths) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        config.set_value(app_paths, "naming.template", template)
    assert "too large" in caught.value.message and "255" in caught.value.message

    app_paths.config_dir.mkdir(parents=True, exist_ok=True)
    app_paths.config_file.write_text(f"[naming]\ntemplate = {template!r}\n", encoding="utf-8")
    cfg = config.load(app_paths)
    assert time.monotonic() - started < 2
    assert cfg["naming.template"] == config.KEYS["naming.template"].default
    assert len(cfg.problems) == 1 and "naming.template" in cfg.problems[0]


def test_sane_format_widths_still_work(app_paths: AppPaths) -> None:
    assert config.set_value(app_paths, "naming.template", "{title:.40}/{month:02d}/{filename}")
    assert config.set_value(app_paths, "naming.template", "{title:_>255}/{filename}")


# -- Supabase bucket names follow Supabase's rules (issue 11.21) --------------------------------------------


@pytest.mark.parametrize("name", ["Zoom_Recordings", "recordings_2026", "zw", "a", "Team Recordings (2026)"])
def test_supabase_accepts_its_own_bucket_names(name: str, app_paths: AppPaths) -> None:
    assert config.set_value(app_paths, "destination.supabase.bucket", name) == name
    assert config.load(app_paths)["destination.supabase.bucket"] == name


@pytest.mark.parametrize("name", ["zoom/recordings", "zoom\\rec", "ĉambro", "..", "x" * 64, "tab\there", "why?"])
def test_supabase_refuses_names_its_server_refuses(name: str, app_paths: AppPaths) -> None:
    with pytest.raises(ConfigError) as caught:
        config.set_value(app_paths, "destination.supabase.bucket", name)
    assert "destination.supabase.bucket" in caught.value.title and "Supabase bucket name" in caught.value.message


@pytest.mark.parametrize("name", ["Zoom_Recordings", "zw", "recordings_2026"])
def test_s3_bucket_names_keep_s3s_rules(name: str, app_paths: AppPaths) -> None:
    with pytest.raises(ConfigError):
        config.set_value(app_paths, "destination.s3.bucket", name)


# -- the Documents folder the system reports, wherever OneDrive moved it (issue 18.4) -------------------


def test_default_watch_folder_follows_the_systems_documents_folder(
        home: Path, app_paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    moved = tmp_path / "OneDrive - Contoso" / "Documents"  # Known Folder Move: Windows reports this one
    monkeypatch.setattr(platformdirs, "user_documents_dir", lambda: str(moved))
    (home / "Documents" / "Zoom").mkdir(parents=True)  # a stale folder left where Documents used to be

    assert config.load(app_paths).watch_folder == moved / "Zoom", "missing: reported as such, not the stale one"
    (moved / "Zoom").mkdir(parents=True)
    assert paths.default_zoom_folder(home) == moved / "Zoom"
    assert config.load(app_paths).watch_folder == moved / "Zoom"


def test_default_watch_folder_is_zoom_in_home_when_documents_has_none(
        home: Path, app_paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_documents_dir", lambda: str(tmp_path / "elsewhere" / "Documents"))
    (home / "Zoom").mkdir()
    assert config.load(app_paths).watch_folder == home / "Zoom"


def test_a_documents_folder_the_system_refuses_is_still_the_default(
        home: Path, app_paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    # macOS privacy protection: a stat inside ~/Documents raises PermissionError; loading the settings must not
    real_stat = os.stat

    def refuse(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).startswith(str(home / "Documents")):
            raise PermissionError(1, "Operation not permitted", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", refuse)
    assert config.load(app_paths).watch_folder == home / "Documents" / "Zoom"
