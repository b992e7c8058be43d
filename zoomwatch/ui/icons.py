"""Tray icons, one per engine state (watching, uploading, paused, attention, stopped), drawn with
Pillow. The files in assets/ (PNG, ICO, ICNS, macOS template images) are written from these drawings
by assets/make_icons.py; at run time the PNG from assets/ is used when present (a checkout or a
bundle), else the same drawing is made in memory (an installed wheel). The macOS menu bar gets the
template images (black and transparent, which macOS colours for light and dark menu bars) at 2x."""

from __future__ import annotations

import sys
from enum import Enum
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256


class Icon(str, Enum):
    """The tray's pictures; the value names the files in assets/icons/."""

    WATCHING = "watching"
    UPLOADING = "uploading"
    PAUSED = "paused"
    ATTENTION = "attention"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


STATES = {
    # icon: (badge colour, badge drawing)
    Icon.WATCHING: ((46, 160, 67), "check"),
    Icon.UPLOADING: ((31, 111, 235), "arrow"),
    Icon.PAUSED: ((110, 118, 129), "pause"),
    Icon.ATTENTION: ((218, 54, 51), "bang"),
    Icon.STOPPED: ((110, 118, 129), "none"),
}


def camera(draw: ImageDraw.ImageDraw, colour: tuple[int, ...]) -> None:
    """A video-camera silhouette: the recording being kept safe."""
    draw.rounded_rectangle((16, 64, 176, 192), radius=28, fill=colour)
    draw.polygon([(180, 112), (240, 76), (240, 180), (180, 144)], fill=colour)


def badge(draw: ImageDraw.ImageDraw, kind: str, colour: tuple[int, ...], mark: tuple[int, ...]) -> None:
    if kind == "none":
        draw.ellipse((136, 136, 252, 252), outline=colour, width=14)
        return
    draw.ellipse((136, 136, 252, 252), fill=colour)
    if kind == "check":
        draw.line([(162, 196), (186, 220), (228, 170)], fill=mark, width=16, joint="curve")
    elif kind == "arrow":
        draw.polygon([(194, 152), (230, 192), (208, 192), (208, 232), (180, 232), (180, 192), (158, 192)], fill=mark)
    elif kind == "pause":
        draw.rectangle((168, 162, 186, 226), fill=mark)
        draw.rectangle((202, 162, 220, 226), fill=mark)
    elif kind == "bang":
        draw.rectangle((184, 154, 204, 206), fill=mark)
        draw.rectangle((184, 214, 204, 232), fill=mark)


def draw_state(state: str, template: bool = False) -> Image.Image:
    colour, kind = STATES[Icon(state)]
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    body = (0, 0, 0, 255) if template else (45, 140, 255, 255)
    if state == Icon.STOPPED and not template:
        body = (140, 148, 158, 255)
    camera(draw, body)
    # cut a ring around the badge so it reads at 16 px
    draw.ellipse((124, 124, 256, 256), fill=(0, 0, 0, 0))
    fill = (0, 0, 0, 255) if template else (*colour, 255)
    badge(draw, kind, fill, (0, 0, 0, 0) if template else (255, 255, 255, 255))
    return image


def assets_dir() -> Path:
    """assets/ beside the package (a checkout), or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "assets" if bundle else Path(__file__).resolve().parents[2] / "assets"


@cache
def load(state: str) -> Image.Image:
    """The tray icon for an engine state."""
    name = Icon(state) if state in STATES else Icon.ATTENTION
    path = assets_dir() / "icons" / f"{name}.png"
    if path.exists():
        with Image.open(path) as image:
            return image.convert("RGBA")
    return draw_state(name).resize((64, 64), Image.Resampling.LANCZOS)


@cache
def load_template(state: str) -> Image.Image:
    """The macOS menu-bar template image for an engine state, at 2x (44 px for the 22-point bar)."""
    name = Icon(state) if state in STATES else Icon.ATTENTION
    path = assets_dir() / "icons" / f"{name}Template@2x.png"
    if path.exists():
        with Image.open(path) as image:
            return image.convert("RGBA")
    return draw_state(name, template=True).resize((44, 44), Image.Resampling.LANCZOS)


def for_tray(state: str, platform: str | None = None) -> Image.Image:
    """The picture the tray shows: a template image in the macOS menu bar, the coloured icon elsewhere."""
    return load_template(state) if (platform or sys.platform) == "darwin" else load(state)
