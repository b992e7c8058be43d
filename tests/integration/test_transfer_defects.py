"""Defects of the transfer workers and the catalog (issue 11), end to end with real components: a real
exFAT file system (case-insensitive), two catalogs sharing one backup folder, real SQLite files, real
subprocesses."""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import backed_up_files, sha256_of, write_random

from zoomwatch.engine import Engine
from zoomwatch.transfer import RetryPolicy

START = "2024-01-15 10.00.00"
FOLDER = "2024/01/2024-01-15 10.00.00 Team Sync"


def engine_for(app, config=None) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(config or app.load(), retry=RetryPolicy(base=0.2, cap=1.0))


def run_once(engine: Engine, max_wait: float = 30):  # type: ignore[no-untyped-def]
    try:
        return engine.run_once(max_wait)
    finally:
        engine.close()


@pytest.fixture
def exfat(tmp_path: Path) -> Iterator[Path]:
    """A real exFAT file system (case-insensitive, as USB drives are) mounted through FUSE on a loop device."""
    image, mount = tmp_path / "exfat.img", tmp_path / "exfat"
    mount.mkdir()
    with open(image, "wb") as out:
        out.truncate(64 * 1024 * 1024)
    subprocess.run(["mkfs.exfat", str(image)], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], check=True, capture_output=True,
                          text=True).stdout.strip()
    try:
        subprocess.run(["mount.exfat-fuse", loop, str(mount)], check=True, capture_output=True)
        try:
            (mount / "Probe").write_text("x")
            assert (mount / "PROBE").exists(), "the exFAT mount is expected to ignore case"
            (mount / "Probe").unlink()
            yield mount
        finally:
            subprocess.run(["umount", str(mount)], check=False, capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)


# -- 11.2: names that differ only in case or Unicode normalisation --------------------------------


def _three_meetings(zoom: Path, titles: list[str]) -> dict[str, str]:
    return {title: write_random(zoom / f"{START} {title}" / "zoom_0.mp4", 50_000 + n, seed=n)
            for n, title in enumerate(titles)}


def test_case_twins_are_three_files_on_a_real_case_insensitive_drive(app, exfat: Path) -> None:
    backup = exfat / "backup"
    backup.mkdir()
    app.set("destination.local.path", str(backup))
    shas = _three_meetings(app.zoom, ["Team Sync", "TEAM SYNC", "team sync"])

    result = run_once(engine_for(app))

    assert result.ok, result.summary()
    assert result.counts["verified"] == 3
    files = backed_up_files(backup)
    assert len(files) == 3, sorted(files)
    assert sorted(sha256_of(p) for p in files.values()) == sorted(shas.values()), "each recording kept whole"


def test_unicode_normalisation_twins_are_distinct_files(app) -> None:
    shas = _three_meetings(app.zoom, ["Caf\u00e9", "Cafe\u0301", "CAF\u00c9"])

    result = run_once(engine_for(app))

    assert result.ok, result.summary()
    files = backed_up_files(app.backup)
    assert len({unicodedata.normalize("NFC", name).casefold() for name in files}) == 3, sorted(files)
    assert sorted(sha256_of(p) for p in files.values()) == sorted(shas.values())
