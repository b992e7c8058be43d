"""Build zoomwatch for the system this runs on, in one command: `python installer/build.py`
(`--dist DIR` puts the result elsewhere than dist/).

- Linux: a PyInstaller one-folder build packed as dist/zoomwatch-VERSION-linux-ARCH.tar.gz, with a
  .desktop file, the icon and install.sh / uninstall.sh (per user, no root).
- macOS: dist/zoomwatch.app (menu-bar app, LSUIElement) and, with hdiutil, dist/zoomwatch-VERSION.dmg.
- Windows: dist/zoomwatch/ and, when Inno Setup's iscc is on PATH, dist/zoomwatch-VERSION-setup.exe.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = Path(sys.argv[sys.argv.index("--dist") + 1]).resolve() if "--dist" in sys.argv else ROOT / "dist"
WORK = DIST.parent / "build-pyinstaller" if "--dist" in sys.argv else ROOT / "build" / "pyinstaller"
sys.path.insert(0, str(ROOT))
from zoomwatch import __version__  # noqa: E402


def pyinstaller() -> None:
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(DIST),
                    "--workpath", str(WORK), str(ROOT / "installer" / "zoomwatch.spec")],
                   check=True)


def linux() -> Path:
    folder = DIST / "zoomwatch"
    for name in ("install.sh", "uninstall.sh", "zoomwatch.desktop"):
        shutil.copy2(ROOT / "installer" / "linux" / name, folder / name)
    shutil.copy2(ROOT / "assets" / "zoomwatch.png", folder / "zoomwatch.png")
    archive = DIST / f"zoomwatch-{__version__}-linux-{platform.machine()}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="zoomwatch")
    return archive


def macos() -> Path:
    app = DIST / "zoomwatch.app"
    if shutil.which("hdiutil"):
        subprocess.run(["bash", str(ROOT / "installer" / "macos" / "make_dmg.sh"), str(app),
                        str(DIST / f"zoomwatch-{__version__}.dmg")], check=True)
        return DIST / f"zoomwatch-{__version__}.dmg"
    return app


def windows() -> Path:
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if not iscc:
        print("Inno Setup (iscc) not found: only the folder dist/zoomwatch was built")
        return DIST / "zoomwatch"
    subprocess.run([iscc, f"/DAppVersion={__version__}", f"/DSourceDir={DIST / 'zoomwatch'}",
                    f"/O{DIST}", str(ROOT / "installer" / "windows" / "zoomwatch.iss")], check=True)
    return DIST / f"zoomwatch-{__version__}-setup.exe"


def main() -> int:
    pyinstaller()
    if sys.platform.startswith("linux"):
        artefact = linux()
    elif sys.platform == "darwin":
        artefact = macos()
    else:
        artefact = windows()
    print(f"built {artefact}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
