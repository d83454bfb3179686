"""The Augment tab's grid of random draws: thumbnails with their boxes; a click picks a draw's seed."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from spinegui.core.dataset.vindr import LESION_COLOURS

GRID_ROWS, GRID_COLS = 3, 3


class _Cell(pg.ViewBox):
    def __init__(self, grid: DrawGrid, index: int):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.03)
        self.setMouseEnabled(False, False)
        self.grid, self.index = grid, index
        self.item = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.item)
        self.label = pg.TextItem(anchor=(0, 0), color="#e0e0e0", fill=pg.mkBrush(0, 0, 0, 160))
        self.label.setParentItem(self)  # in cell (screen) coordinates, top left
        self.rects: list[QGraphicsRectItem] = []
        self.pixels: np.ndarray | None = None
        self.boxes = np.zeros((0, 4), np.float32)
        self.seed: int | None = None

    def mouseClickEvent(self, ev):
        ev.accept()
        if ev.button() == Qt.MouseButton.LeftButton and self.seed is not None:
            self.grid.picked.emit(self.seed)


class DrawGrid(pg.GraphicsLayoutWidget):
    """Thumbnails of random draws with their boxes; a click picks the draw's seed."""

    picked = Signal(int)

    def __init__(self, rows: int = GRID_ROWS, cols: int = GRID_COLS, parent=None):
        super().__init__(parent)
        self.setBackground("#202020")
        self.ci.layout.setSpacing(3)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.cells: list[_Cell] = []
        for r in range(rows):
            for c in range(cols):
                cell = _Cell(self, len(self.cells))
                self.addItem(cell, row=r, col=c)
                self.cells.append(cell)

    def sizeHint(self) -> QSize:
        return QSize(300, 400)

    def set_cell(self, i: int, pixels: np.ndarray, levels, lut, boxes: np.ndarray, types, seed: int) -> None:
        cell = self.cells[i]
        cell.pixels, cell.boxes, cell.seed = pixels, boxes, seed
        cell.item.setImage(pixels, autoLevels=False, levels=levels, lut=lut)
        for rect in cell.rects:
            cell.removeItem(rect)
        cell.rects = []
        for (x0, y0, x1, y1), t in zip(boxes, types):
            rect = QGraphicsRectItem(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            pen = QPen(QColor(LESION_COLOURS.get(t, "#ffffff")), 1.5)
            pen.setCosmetic(True)
            rect.setPen(pen)
            cell.addItem(rect, ignoreBounds=True)
            cell.rects.append(rect)
        h, w = pixels.shape
        cell.setRange(QRectF(0, 0, w, h), padding=0.03)
        cell.label.setText(f"seed {seed}")

    def clear_cells(self) -> None:
        for cell in self.cells:
            cell.item.clear()
            for rect in cell.rects:
                cell.removeItem(rect)
            cell.rects, cell.pixels, cell.seed = [], None, None
            cell.label.setText("")
