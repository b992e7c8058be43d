"""The package type-checks for every system it ships on (issue 18 item 17). Code for one system sits
under `if sys.platform == "win32":`-style checks, which mypy follows, so the Windows registry calls are
checked as Windows code and nothing Windows-only is reported elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_mypy_finds_no_error_for(platform: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--platform", platform, "--cache-dir", str(tmp_path),
                           "--no-error-summary", "zoomwatch"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"mypy --platform {platform} zoomwatch:\n{done.stdout}{done.stderr}"
