"""Writes zoomwatch's icon files from the drawings in zoomwatch/icons.py: PNG (Linux, macOS), ICO
(Windows), ICNS (the macOS app bundle) and macOS menu-bar template images (black with alpha).

Run `python assets/make_icons.py` after changing a drawing; the files it writes are committed."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from zoomwatch.ui.icons import STATES, draw_state

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = HERE / "icons"
    out.mkdir(exist_ok=True)
    for state in STATES:
        image = draw_state(state)
        image.resize((64, 64), Image.LANCZOS).save(out / f"{state}.png")
        image.save(out / f"{state}.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (256, 256)])
        template = draw_state(state, template=True)
        template.resize((22, 22), Image.LANCZOS).save(out / f"{state}Template.png")
        template.resize((44, 44), Image.LANCZOS).save(out / f"{state}Template@2x.png")
    app = draw_state("watching")
    app.save(HERE / "zoomwatch.png")
    app.save(HERE / "zoomwatch.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    app.resize((512, 512), Image.LANCZOS).save(HERE / "zoomwatch.icns")


if __name__ == "__main__":
    main()
