"""Export what the Results panel shows: a widget as PNG or SVG, a table as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QTableWidget, QWidget

from spinegui.core.errors import InputError

try:  # QtSvg ships with PySide6-Essentials; a stripped build without it still exports PNG and CSV
    from PySide6.QtSvg import QSvgGenerator
except ImportError:  # pragma: no cover - depends on the installed Qt
    QSvgGenerator = None

SVG_AVAILABLE = QSvgGenerator is not None


def save_png(widget: QWidget, path: str | Path) -> None:
    if not widget.grab().save(str(path), "PNG"):
        raise InputError(path, "could not write the PNG")


def save_svg(widget: QWidget, path: str | Path, title: str = "") -> None:
    """The widget painted into an SVG (text stays text; pyqtgraph plots come out as vector paths)."""
    if QSvgGenerator is None:
        raise InputError(path, "SVG export needs QtSvg, which this Qt build lacks; export PNG instead")
    gen = QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(QSize(widget.width(), widget.height()))
    gen.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    gen.setTitle(title)
    painter = QPainter()
    if not painter.begin(gen):
        raise InputError(path, "could not write the SVG")
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        painter.end()


def table_rows(table: QTableWidget) -> list[list[str]]:
    """The header and the cells as shown (hidden rows left out)."""
    cols = range(table.columnCount())
    head = [table.horizontalHeaderItem(c).text().replace("\n", " ") if table.horizontalHeaderItem(c) else ""
            for c in cols]
    rows = [[table.item(r, c).text().replace("\n", " ") if table.item(r, c) else "" for c in cols]
            for r in range(table.rowCount()) if not table.isRowHidden(r)]
    if table.verticalHeader().isVisible():  # row names live in the vertical header
        head = ["", *head]
        names = [table.verticalHeaderItem(r).text().replace("\n", " ") if table.verticalHeaderItem(r) else ""
                 for r in range(table.rowCount()) if not table.isRowHidden(r)]
        rows = [[n, *row] for n, row in zip(names, rows)]
    return [head, *rows]


def save_csv(rows: list[list], path: str | Path) -> None:
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
    except OSError as exc:
        raise InputError(path, f"could not write: {exc.strerror or exc}") from None
