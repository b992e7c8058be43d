"""Where zoomwatch keeps its files: config, catalog, logs, lock — from platformdirs, so the XDG
variables are honoured on Linux, and Zoom's default recording folder (in the system's Documents folder,
wherever OneDrive or a policy moved it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "zoomwatch"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    state_dir: Path
    log_dir: Path
    cache_dir: Path

    @classmethod
    def default(cls) -> AppPaths:
        dirs = PlatformDirs(APP_NAME, appauthor=False)
        return cls(
            config_dir=Path(dirs.user_config_dir),
            data_dir=Path(dirs.user_data_dir),
            state_dir=Path(dirs.user_state_dir),
            log_dir=Path(dirs.user_log_dir),
            cache_dir=Path(dirs.user_cache_dir),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def catalog_file(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "zoomwatch.lock"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "zoomwatch.log"

    @property
    def secrets_stamp(self) -> Path:
        """Touched whenever a secret is stored or deleted, so a running engine reloads."""
        return self.state_dir / "secrets-changed"

    @property
    def show_settings_stamp(self) -> Path:
        """Touched by a second launch to ask the running tray to show its settings."""
        return self.state_dir / "show-settings"

    @property
    def spool_dir(self) -> Path:
        """Where cloud recordings are downloaded before they are uploaded (emptied as they verify)."""
        return self.cache_dir / "cloud-spool"

    @property
    def default_backup_dir(self) -> Path:
        return self.data_dir / "backup"


def documents_dir() -> Path:
    """The user's Documents folder as the system knows it: Windows' known folder (which OneDrive's Known
    Folder Move and group policies relocate), XDG_DOCUMENTS_DIR on Linux, ~/Documents on macOS."""
    from platformdirs import user_documents_dir

    return Path(user_documents_dir())


def zoom_folder_candidates(home: Path | None = None, documents: Path | None = None) -> list[Path]:
    """Zoom's default recording folders, newest convention first: Zoom in the Documents folder, then ~/Zoom.
    (Zoom's own "store my recordings at" setting is not read: Zoom documents no place it can be read from.)"""
    home = home or Path.home()
    documents = documents or documents_dir()
    return [documents / "Zoom", home / "Zoom"]


def default_zoom_folder(home: Path | None = None, documents: Path | None = None) -> Path:
    """The first Zoom folder that exists, else the modern default (reported as missing when run)."""
    candidates = zoom_folder_candidates(home, documents)
    for candidate in candidates:
        try:
            if candidate.is_dir():
                return candidate
        except OSError:  # macOS privacy protection refuses even a stat of ~/Documents/Zoom: the watcher says so
            return candidate
    return candidates[0]
