"""Render resources/spinegui.svg into the icon files the installers need.

    python packaging/make_icons.py

Writes resources/spinegui.png (256 px: Linux hicolor, .desktop), spinegui.ico (Windows: exe and
Start menu) and spinegui.icns (macOS .app). build.py runs it when one is missing or older than the SVG.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SVG = RESOURCES / "spinegui.svg"
OUTPUTS = [RESOURCES / n for n in ("spinegui.png", "spinegui.ico", "spinegui.icns")]


def stale() -> bool:
    return any(not p.exists() or p.stat().st_mtime < SVG.stat().st_mtime for p in OUTPUTS)


def render(size: int):
    """The SVG as a PIL image of size x size (Qt's SVG renderer: no extra dependency)."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # fonts, pixmaps need one
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(QColor(0, 0, 0, 0))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return Image.open(io.BytesIO(bytes(buf.data()))).convert("RGBA")


def main() -> int:
    big = render(1024)  # ICNS wants up to 1024; the smaller sizes are rendered, not scaled, for sharpness
    render(256).save(RESOURCES / "spinegui.png")
    sizes = [16, 24, 32, 48, 64, 128, 256]
    render(256).save(RESOURCES / "spinegui.ico", sizes=[(s, s) for s in sizes])
    big.save(RESOURCES / "spinegui.icns")
    for p in OUTPUTS:
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
