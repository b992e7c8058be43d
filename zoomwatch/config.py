"""Settings: a human-editable TOML file in the user config dir, addressed by dotted keys
(`watch.settle_seconds`), each key with a default and a validator that says clearly what is wrong.

A config file that is not valid TOML is set aside (renamed, never deleted) and defaults are used, but
only when zoomwatch starts (`load`). A running zoomwatch re-reads the file through `SettingsWatch`: only
once it has been quiet for a moment, and a file that cannot be read then (half written by an editor) is
reported and the previous settings are kept; it is never renamed.
A key with a bad value is reported and its default used; the rest of the file still counts.
A backup folder inside the watched folder (or the other way round) is refused: zoomwatch would back up
its own backups.
Secrets never live here: they go to the OS keyring (see `secrets.py`).
The destination keys (`destination.s3.bucket`, ...) are declared with their kind in `destination_kinds.py`.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from zoomwatch import i18n, naming, validators
from zoomwatch.destination_kinds import DEFAULT_KIND, KINDS
from zoomwatch.destination_kinds import settings as destination_settings
from zoomwatch.errors import ConfigError
from zoomwatch.paths import AppPaths, default_zoom_folder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

log = logging.getLogger(__name__)

DEFAULT_INCLUDE = ["*.mp4", "*.m4a", "*.mp3", "*.wav", "*.webm", "*.txt", "*.vtt", "*.srt", "*.cc"]
DEFAULT_EXCLUDE = ["*.zoom", "*.conf", "*.tmp", "*.part", ".*", "~*"]
DESTINATION_KINDS = tuple(KINDS)

# checks shared with the destination kinds' declarations (destination_kinds.py)
_as_int, _as_path, _rate, _url, _text, _choice = (validators.as_int, validators.as_path, validators.rate,
                                                   validators.url, validators.text, validators.choice)


def _as_float(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(i18n.N_("expected a number"))
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(i18n.N_("expected a number, got {value}", value=repr(value))) from None
        if not low <= number <= high:
            raise ValueError(i18n.N_("must be between {low} and {high}, got {number}", low=f"{low:g}", high=f"{high:g}",
                                     number=f"{number:g}"))
        return number

    return check


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(i18n.N_("expected true or false, got {value}", value=repr(value)))


def _as_globs(value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = tomllib.loads(f"v = {text}")["v"]
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(i18n.N_("expected a non-empty list of file patterns, e.g. \"*.mp4, *.m4a\""))
    return list(value)


def _date(value: Any) -> str:
    text = str(value).strip()
    if text:
        import datetime as dt

        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(i18n.N_("expected a date like 2024-01-31, got {value}", value=repr(value))) from None
    return text


def _emails(value: Any) -> list[str]:
    items = _as_globs(value) if value not in ("", [], None) else []
    bad = [item for item in items if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", item)]
    if bad:
        raise ValueError(i18n.N_("not e-mail addresses: {addresses}", addresses=", ".join(bad)))
    return items


def _words(value: Any) -> list[str]:
    return _as_globs(value) if value not in ("", [], None) else []


MAX_FORMAT_NUMBER = 255  # widths and precisions in the template: a key segment holds 255 bytes anyway


def _template(value: Any) -> str:
    text = str(value)
    _check_format_numbers(text)
    naming.validate_template(text)
    return text


def _check_format_numbers(template: str) -> None:
    """Refuse a width or precision too big to be meant (`{title:>400000000}` took 19 s and 800 MB to
    render once) before anything renders the template."""
    from string import Formatter

    try:
        fields = list(Formatter().parse(template))
    except ValueError:
        return  # naming.validate_template names the syntax error
    for _literal, name, spec, _conversion in fields:
        for digits in re.findall(r"\d+", spec or ""):
            if len(digits.lstrip("0")) > 3 or int(digits) > MAX_FORMAT_NUMBER:
                shown = f"{{{name}:{spec}}}" if len(spec or "") <= 20 else f"{{{name}:{(spec or '')[:20]}...}}"
                raise ValueError(f"the width or precision in {shown} is too large "
                                 f"(at most {MAX_FORMAT_NUMBER})")


def _locale(value: Any) -> str:
    naming.validate_locale(str(value))
    return str(value)


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    check: Callable[[Any], Any]
    help: str


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key("watch.folder", "", _as_path,
            "Zoom recording folder; empty = the first that exists of Zoom in your Documents folder and ~/Zoom"),
        Key("watch.settle_seconds", 30.0, _as_float(1, 3600),
            "a file counts as finished when its size and mtime have not changed for this long"),
        Key("watch.include", DEFAULT_INCLUDE, _as_globs, "file name patterns to back up"),
        Key("watch.exclude", DEFAULT_EXCLUDE, _as_globs, "file name patterns never backed up (wins over include)"),
        Key("destination.kind", DEFAULT_KIND, _choice(*DESTINATION_KINDS),
            f"where backups go: {', '.join(DESTINATION_KINDS[:-1])} or {DESTINATION_KINDS[-1]}"),
        *(Key(s.key, s.default, s.check, s.help) for s in destination_settings()),
        Key("naming.template", naming.DEFAULT_TEMPLATE, _template, "where each file goes in the backup"),
        Key("naming.locale", "en", _locale, "language of {month_name} and {weekday}, e.g. en, es, de"),
        Key("transfer.workers", 2, _as_int(1, 16), "files backed up at the same time"),
        Key("transfer.bandwidth_limit", 0, _rate,
            "bytes per second across all transfers, e.g. 10M; 0 = no limit"),
        Key("zoom.mode", "off", _choice("off", "user", "s2s"),
            "Zoom cloud recordings: off, user (your own, signed in with OAuth) or s2s (account-wide, admins)"),
        Key("zoom.api_base", "https://api.zoom.us/v2", _url, "Zoom REST API base URL"),
        Key("zoom.oauth_base", "https://zoom.us", _url, "Zoom OAuth base URL"),
        Key("zoom.redirect_port", 8765, _as_int(0, 65535),
            "port of the loopback redirect URI http://127.0.0.1:PORT/oauth/callback (0 = any free port)"),
        Key("zoom.since", "", _date, "list cloud recordings from this date; empty = 12 months back"),
        Key("zoom.lookback_days", 7, _as_int(0, 365), "days before the last sync that every sync lists again"),
        Key("zoom.sync_interval_minutes", 15, _as_int(1, 1440), "minutes between cloud syncs"),
        Key("zoom.file_types", [], _words, "only these file types (MP4, M4A, CHAT, TRANSCRIPT...); empty = all"),
        Key("zoom.include_trash", False, _as_bool, "also back up recordings in Zoom's trash"),
        Key("zoom.trash_after_backup", False, _as_bool,
            "move a meeting's cloud recording to Zoom's trash once all its files are verified"),
        # -- beat Zoom's deletion and free the disk (issue 14) --
        Key("zoom.warn_days", 7, _as_int(0, 365),
            "warn about a cloud recording Zoom deletes within this many days that is not backed up yet"),
        Key("zoom.trash_after_days", 0, _as_int(0, 3650),
            "with zoom.trash_after_backup: days after its backup is verified before a recording goes to Zoom's "
            "trash (0 = at once); it is checked at the destination right before"),
        Key("cleanup.local_after_days", 0, _as_int(0, 3650),
            "move local recordings older than this many days to the OS trash once their backup is checked "
            "safe at the destination (0 = never)"),
        # -- end of issue 14 keys --
        Key("zoom.users", [], _emails, "s2s: back up only these users (e-mails); empty = every user"),
        Key("zoom.account_ids", [], _words, "s2s: sub-account IDs of a master account (instead of zoom.users)"),
        # the shared catalog (its PostgreSQL URL is the secret catalog.shared_url; see core/shared_catalog.py)
        Key("catalog.machine_name", "", _text, "this machine's name in the shared catalog; empty = the host name"),
        Key("catalog.lease_seconds", 120, _as_int(3, 3600),
            "s2s with a shared catalog: a machine that stops for this long leaves its users to the others"),
        Key("notify.backups", False, _as_bool, "tray: a notification for every recording backed up"),
        Key("log.level", "info", _choice("debug", "info", "warning", "error"), "how much goes to the log"),
        # the dashboard and REST API (issue 13)
        Key("dashboard.enabled", True, _as_bool, "serve the dashboard and REST API on 127.0.0.1 while zoomwatch runs"),
        Key("dashboard.port", 0, _as_int(0, 65535), "the dashboard's port on 127.0.0.1; 0 = any free port"),
        # -- the interface's language (issue 16) --
        Key("ui.language", "", _choice("", *i18n.LANGUAGES),
            "language of the tray, settings and messages: en, es or ru; empty = the system's"),
    ]
}


@dataclass(frozen=True)
class Config:
    """The settings in force: validated values for every known key, plus what was wrong on load."""

    values: dict[str, Any]
    problems: tuple[str, ...] = ()
    paths: AppPaths = field(default_factory=AppPaths.default)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def watch_folder(self) -> Path:
        configured = self.values["watch.folder"]
        return Path(os.path.expanduser(configured)) if configured else default_zoom_folder()

    @property
    def backup_folder(self) -> Path:
        configured = self.values["destination.local.path"]
        return Path(os.path.expanduser(configured)) if configured else self.paths.default_backup_dir

    def folder_overlap(self) -> str | None:
        """What is wrong when the backup folder and the watched folder hold one another (zoomwatch would
        back up its own backups until the disk is full); None when they are apart or nothing is copied
        to a local folder."""
        if self.values["destination.kind"] != "local":
            return None
        return folders_overlap(self.watch_folder, self.backup_folder)

    def wants(self, name: str) -> bool:
        """Whether a file name is one zoomwatch backs up (include and not exclude; case-insensitive)."""
        include, exclude = _patterns(tuple(self.values["watch.include"]), tuple(self.values["watch.exclude"]))
        lowered = name.lower()
        return include.match(lowered) is not None and exclude.match(lowered) is None


def folders_overlap(watched: Path, backup: Path) -> str | None:
    """A sentence naming the problem when `backup` is `watched`, inside it, or holds it."""
    real_watched, real_backup = Path(os.path.realpath(watched)), Path(os.path.realpath(backup))
    if real_backup == real_watched:
        return i18n.N_("the backup folder {backup} is the watched Zoom folder {watched}", backup=str(backup),
                       watched=str(watched))
    if real_backup.is_relative_to(real_watched):
        return i18n.N_("the backup folder {backup} is inside the watched Zoom folder {watched}: zoomwatch would back "
                       "up its own backups — choose a backup folder outside it", backup=str(backup),
                       watched=str(watched))
    if real_watched.is_relative_to(real_backup):
        return i18n.N_("the watched Zoom folder {watched} is inside the backup folder {backup} — choose a backup "
                       "folder that does not hold the Zoom folder", backup=str(backup), watched=str(watched))
    return None


@functools.lru_cache(maxsize=8)
def _patterns(include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Each glob list compiled once into one regular expression (the scan matches every file name)."""
    def compile_globs(globs: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile("|".join(fnmatch.translate(g.lower()) for g in globs) or "(?!)")

    return compile_globs(include), compile_globs(exclude)


def check_value(key: str, value: Any) -> Any:
    """The validated value for `key`, or ConfigError naming the key and what to do."""
    if key not in KEYS:
        raise ConfigError(i18n.N_("Unknown setting {key}", key=repr(key)),
                          i18n.N_("known settings: {keys}", keys=", ".join(KEYS)))
    try:
        return KEYS[key].check(value)
    except (ValueError, OverflowError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(i18n.N_("Bad value for {key}", key=key), i18n.reason(exc)) from None
    except RecursionError:  # a TOML array typed for a list setting, nested thousands deep
        raise ConfigError(i18n.N_("Bad value for {key}", key=key), i18n.N_("values nested too deeply")) from None


MAX_TABLE_DEPTH = 8  # zoomwatch's keys are three deep; a file nested deeper is not a zoomwatch file
UNREADABLE = i18n.N_("Settings file cannot be read — keeping the previous settings")


class SettingsUnreadable(ConfigError):
    """The config file exists but cannot be used as a whole (not TOML, not UTF-8, unreadable)."""

    def __init__(self, title: str, message: str = "", *, set_aside: bool = False) -> None:
        super().__init__(title, message)
        self.set_aside = set_aside  # at start-up: rename it so nothing is lost (bad syntax, not a read error)


def _flatten(table: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    if depth > MAX_TABLE_DEPTH:
        raise tomllib.TOMLDecodeError(f"tables nested more than {MAX_TABLE_DEPTH} deep at {prefix[:80]!r}")
    flat: dict[str, Any] = {}
    for name, value in table.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + ".", depth + 1))
        else:
            flat[dotted] = value
    return flat


def _read_raw(path: Path) -> dict[str, Any] | None:
    """The settings in the file as dotted keys; None when there is no file; SettingsUnreadable when the
    file cannot be used (the message says why)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SettingsUnreadable(i18n.N_("cannot read {path}", path=str(path)), str(exc.strerror or exc)) from None
    try:
        text = data.decode("utf-8")  # TOML is UTF-8: a file that is not is as unreadable as bad syntax
        return _flatten(tomllib.loads(text))
    except UnicodeDecodeError as exc:
        reason: str = i18n.N_("not UTF-8 text ({reason})", reason=exc.reason)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        reason = i18n.N_("values nested too deeply")
    raise SettingsUnreadable(i18n.N_("config file {path} is not valid TOML", path=str(path)), reason, set_aside=True)


def set_aside(path: Path) -> Path:
    """Rename a file zoomwatch cannot read so that nothing in it is lost; return the new name."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    path.rename(aside)
    return aside


def load(paths: AppPaths | None = None) -> Config:
    """Read the config file when zoomwatch starts: a missing file means defaults, a corrupt one is set
    aside (renamed) and defaults are used."""
    paths = paths or AppPaths.default()
    problems: list[str] = []
    try:
        raw = _read_raw(paths.config_file) or {}
    except SettingsUnreadable as exc:
        if exc.set_aside:
            aside = set_aside(paths.config_file)
            problems.append(i18n.N_("{title} ({message}); it was moved to {name} and defaults are used",
                                    title=exc.title, message=exc.message, name=aside.name))
        else:
            problems.append(i18n.N_("{title}: {message}", title=exc.title, message=exc.message))
        raw = {}
    return _build(raw, paths, problems)


def reread(paths: AppPaths) -> Config:
    """Read the config file again for a running zoomwatch. Unlike `load`, a file that cannot be used
    (half written, missing, empty) raises SettingsUnreadable and is left exactly where it is."""
    try:
        raw = _read_raw(paths.config_file)
    except SettingsUnreadable as exc:
        raise SettingsUnreadable(UNREADABLE, i18n.N_("{title}: {message}; fix it and save it again", title=exc.title,
                                                     message=exc.message)) from None
    if raw is None:
        raise SettingsUnreadable(UNREADABLE, i18n.N_("{path} is missing; restart zoomwatch to use defaults",
                                                     path=str(paths.config_file)))
    if not raw and _is_blank(paths.config_file):
        raise SettingsUnreadable(UNREADABLE, i18n.N_("{path} is empty; restart zoomwatch to use defaults",
                                                     path=str(paths.config_file)))
    return _build(raw, paths, [])


def _is_blank(path: Path) -> bool:
    try:
        return not path.read_bytes().strip()
    except OSError:
        return True


def _build(raw: dict[str, Any], paths: AppPaths, problems: list[str]) -> Config:
    values = {name: key.default for name, key in KEYS.items()}
    for name, value in raw.items():
        if name not in KEYS:
            problems.append(i18n.N_("unknown setting {name} in {path} is ignored", name=repr(name),
                                    path=str(paths.config_file)))
            continue
        try:
            values[name] = check_value(name, value)
        except ConfigError as exc:
            problems.append(i18n.N_("{title}: {message}; using the default {default}", title=exc.title,
                                    message=exc.message, default=repr(KEYS[name].default)))
    if "naming.locale" not in raw:  # unset: month and day names follow the interface's language
        values["naming.locale"] = i18n.naming_locale(values["ui.language"])
    cfg = Config(values, (), paths)
    overlap = cfg.folder_overlap()
    if overlap:
        problems.append(i18n.N_("{overlap}; nothing is backed up until this is fixed", overlap=overlap))
    for problem in problems:
        log.warning("%s", problem)
    return Config(values, tuple(problems), paths)


def ui_language(paths: AppPaths) -> str:
    """`ui.language` from the config file, read quietly ("" = the system's, also when the file cannot be
    used): the CLI picks the language before it parses its arguments."""
    try:
        raw = _read_raw(paths.config_file) or {}
        return str(check_value("ui.language", raw.get("ui.language", "")))
    except ConfigError:
        return ""


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_value(paths: AppPaths, key: str, value: Any) -> Any:
    """Validate and store one setting, keeping the rest of the file (and its comments) as it was."""
    checked = check_value(key, value)
    current = load(paths)  # sets a corrupt file aside first, so the write below starts clean
    if key in ("watch.folder", "destination.local.path", "destination.kind"):
        overlap = Config({**current.values, key: checked}, (), paths).folder_overlap()
        if overlap:
            raise ConfigError(i18n.N_("Bad value for {key}", key=key), overlap)
    try:
        document = tomlkit.parse(paths.config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = tomlkit.document()
    *sections, leaf = key.split(".")
    table: Any = document
    for section in sections:
        if section not in table:
            table[section] = tomlkit.table()
        table = table[section]
    table[leaf] = checked
    _atomic_write(paths.config_file, tomlkit.dumps(document))
    return checked


def fingerprint(paths: AppPaths) -> tuple[object, ...]:
    """Changes when the config file changes or a secret is stored (`zoomwatch secret` touches a stamp),
    so a running engine knows to reload."""
    def stat(path: Path) -> tuple[int, int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    return stat(paths.config_file), stat(paths.secrets_stamp)


QUIET_SECONDS = 1.0


class SettingsWatch:
    """Tells a running zoomwatch when to reload, polled about once a second by the CLI and the tray.

    A change counts only once the config file (and the secrets stamp) has stayed the same for
    QUIET_SECONDS, so an editor saving in place is not caught half way; a file that still cannot be used
    then is reported through `on_problem` and the settings in force are kept until the file changes again.
    """

    def __init__(self, paths: AppPaths, on_problem: Callable[[str, str], object], *,
                 quiet: float = QUIET_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.paths = paths
        self.on_problem = on_problem
        self.quiet = quiet
        self.clock = clock
        self._seen = self._done = fingerprint(paths)
        self._since = clock()

    def poll(self) -> Config | None:
        """The new settings when they changed, are quiet and readable; otherwise None."""
        now = fingerprint(self.paths)
        if now != self._seen:
            self._seen, self._since = now, self.clock()
            return None
        if now == self._done or self.clock() - self._since < self.quiet:
            return None
        self._done = now
        try:
            return reread(self.paths)
        except SettingsUnreadable as exc:
            log.warning("%s: %s", exc.title, exc.message)
            self.on_problem(exc.title, exc.message)
            return None
