"""Build zoomwatch for the system this runs on, in one command: `python installer/build.py`
(`--dist DIR` puts the result elsewhere than dist/).

- Linux: a PyInstaller one-folder build packed as dist/zoomwatch-VERSION-linux-ARCH.tar.gz, with a
  .desktop file, the icon and install.sh / uninstall.sh (per user, no root).
- macOS: dist/zoomwatch.app (menu-bar app, LSUIElement) and, with hdiutil, dist/zoomwatch-VERSION.dmg.
  With ZOOMWATCH_SIGN_IDENTITY and ZOOMWATCH_NOTARY_PROFILE set, installer/macos/sign_and_notarize.sh
  signs every Mach-O in the app (timestamp, hardened runtime, entitlements), then builds the dmg, then
  notarises and staples it — in that order; without them the dmg is unsigned.
- Windows: dist/zoomwatch/ (zoomwatch.exe, the windowed tray, and zoomwatch-cli.exe, the command line
  with a console) and, when Inno Setup's iscc is on PATH, dist/zoomwatch-VERSION-setup.exe.
"""

from __future__ import annotations

import os
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
    dmg = DIST / f"zoomwatch-{__version__}.dmg"
    if not shutil.which("hdiutil"):
        return app
    if os.environ.get("ZOOMWATCH_SIGN_IDENTITY"):  # sign, then the dmg, then notarise and staple
        subprocess.run(["bash", str(ROOT / "installer" / "macos" / "sign_and_notarize.sh"), str(app), str(dmg)],
                       check=True)
    else:
        print("ZOOMWATCH_SIGN_IDENTITY is not set: the dmg is unsigned (right-click -> Open the first time)")
        subprocess.run(["bash", str(ROOT / "installer" / "macos" / "make_dmg.sh"), str(app), str(dmg)], check=True)
    return dmg


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
