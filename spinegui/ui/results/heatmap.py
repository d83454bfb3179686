"""A confusion-matrix heatmap: true class down, predicted class across, the number in each cell, class
names on both axes and a colour scale beside it. A click on a cell emits `cell_clicked(true, pred)`.

Painted with QPainter (no pyqtgraph), so the same paint code draws on screen, into a PNG and into an
SVG (QSvgGenerator) with its text kept as text.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

# White to dark blue: low values fade into the page, so the eye goes to where the images are.
LOW, HIGH = QColor("#f7fbff"), QColor("#08306b")
LABEL_W = 150      # room for a row label (wrapped to two lines when longer)
SCALE_W = 70       # colour bar and its tick labels
MARGIN = 10
MAX_CELL = 150


def mix(t: float) -> QColor:
    t = min(max(t, 0.0), 1.0)
    return QColor.fromRgbF(*(a + (b - a) * t for a, b in zip(LOW.getRgbF()[:3], HIGH.getRgbF()[:3])))


class ConfusionHeatmap(QWidget):
    cell_clicked = Signal(int, int)  # true class, predicted class

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.classes: list[str] = []
        self.values = np.zeros((0, 0))
        self.normalised = False
        self.selected: tuple[int, int] | None = None
        self.empty_text = "Select a run"
        self.setMouseTracking(True)
        self.setMinimumSize(320, 280)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(560, 480)

    def set_matrix(self, classes: list[str], values, normalised: bool) -> None:
        self.classes, self.values, self.normalised = list(classes), np.asarray(values, np.float64), normalised
        if self.selected and max(self.selected) >= len(self.classes):
            self.selected = None
        self.update()

    def clear(self, text: str = "Select a run") -> None:
        self.set_matrix([], np.zeros((0, 0)), self.normalised)
        self.empty_text = text

    def select(self, cell: tuple[int, int] | None) -> None:
        self.selected = cell
        self.update()

    def cell_text(self, row: int, col: int) -> str:
        v = self.values[row, col]
        return f"{v:.2f}" if self.normalised else f"{int(round(v))}"

    # --- geometry ------------------------------------------------------------------------------
    def _font(self, bold: bool = False, size: float | None = None) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(size or max(self.font().pointSizeF(), 9.0))
        f.setBold(bold)
        return f

    def _layout(self) -> tuple[QRectF, bool]:
        """The grid's rectangle, and whether column labels are slanted (a word wider than a cell)."""
        n = max(len(self.classes), 1)
        top, left = MARGIN + 22, MARGIN + 22 + LABEL_W  # axis titles above and left, then the row labels
        fm = QFontMetricsF(self._font())

        def grid(bottom: float) -> QRectF:
            cell = min((self.width() - left - SCALE_W - 2 * MARGIN) / n, (self.height() - top - bottom) / n, MAX_CELL)
            return QRectF(left, top, max(cell, 8.0) * n, max(cell, 8.0) * n)

        g = grid(64)  # two lines of wrapped names, then the axis title
        widest_word = max((fm.horizontalAdvance(w) for c in self.classes for w in c.split()), default=0.0)
        if widest_word <= g.width() / n + 6:
            return g, False
        longest = max(fm.horizontalAdvance(c) for c in self.classes)
        return grid(longest * 0.72 + 34), True  # names at 45 degrees: their height is about 0.7 x length

    def _grid_rect(self) -> QRectF:
        return self._layout()[0]

    def cell_rect(self, row: int, col: int) -> QRectF:
        g = self._grid_rect()
        s = g.width() / max(len(self.classes), 1)
        return QRectF(g.left() + col * s, g.top() + row * s, s, s)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        g, n = self._grid_rect(), len(self.classes)
        if n == 0 or not g.contains(pos):
            return None
        s = g.width() / n
        return min(int((pos.y() - g.top()) / s), n - 1), min(int((pos.x() - g.left()) / s), n - 1)

    # --- events --------------------------------------------------------------------------------
    def mousePressEvent(self, ev) -> None:
        cell = self.cell_at(ev.position())
        if cell is not None and ev.button() == Qt.MouseButton.LeftButton:
            self.select(cell)
            self.cell_clicked.emit(*cell)

    def mouseMoveEvent(self, ev) -> None:
        cell = self.cell_at(ev.position())
        self.setCursor(Qt.CursorShape.PointingHandCursor if cell else Qt.CursorShape.ArrowCursor)
        if cell is None:
            self.setToolTip("")
            return
        r, c = cell
        self.setToolTip(f"true {self.classes[r]}, predicted {self.classes[c]}: {self.cell_text(r, c)}"
                        "\nclick to list these images")

    # --- painting ------------------------------------------------------------------------------
    def paintEvent(self, _ev) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        n = len(self.classes)
        if n == 0:
            p.setPen(QColor("#57606a"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        top = 1.0 if self.normalised else max(float(self.values.max()), 1.0)
        cell_font = self._font(True, 11 if self.cell_rect(0, 0).width() > 50 else 8)
        for r in range(n):
            for c in range(n):
                rect, t = self.cell_rect(r, c), self.values[r, c] / top
                p.fillRect(rect, mix(t))
                p.setPen(QPen(QColor("#d0d7de"), 1))
                p.drawRect(rect)
                p.setPen(QColor("white") if t > 0.5 else QColor("#1f2328"))
                p.setFont(cell_font)
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.cell_text(r, c))
        if self.selected is not None:
            p.setPen(QPen(QColor("#e36209"), 3))
            p.drawRect(self.cell_rect(*self.selected).adjusted(1.5, 1.5, -1.5, -1.5))
        self._paint_axes(p, n)
        self._paint_scale(p, top)

    def _paint_axes(self, p: QPainter, n: int) -> None:
        g, slanted = self._layout()
        p.setPen(QColor("#1f2328"))
        p.setFont(self._font())
        flags = Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap
        below = g.bottom() + 42
        for i, name in enumerate(self.classes):
            rect = self.cell_rect(i, 0)
            p.drawText(QRectF(g.left() - LABEL_W - 6, rect.top(), LABEL_W, rect.height()),
                       flags | Qt.AlignmentFlag.AlignRight, name)
            col = self.cell_rect(0, i)
            if not slanted:
                p.drawText(QRectF(col.left() - 4, g.bottom() + 4, col.width() + 8, 38),
                           Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap, name)
                continue
            width = QFontMetricsF(p.font()).horizontalAdvance(name)
            p.save()  # the name ends under its column's centre and rises to the left
            p.translate(col.center().x(), g.bottom() + 6)
            p.rotate(-45)
            p.drawText(QRectF(-width - 4, -2, width + 4, 18), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                       name)
            p.restore()
            below = max(below, g.bottom() + width * 0.72 + 12)
        p.setFont(self._font(True))
        p.drawText(QRectF(g.left(), below, g.width(), 20), Qt.AlignmentFlag.AlignCenter, "Predicted class")
        p.drawText(QRectF(g.left(), MARGIN, g.width(), 20), Qt.AlignmentFlag.AlignCenter,
                   "Row-normalised (recall per true class)" if self.normalised else "Counts (images)")
        p.save()
        p.translate(MARGIN + 14, g.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-g.height() / 2, -14, g.height(), 20), Qt.AlignmentFlag.AlignCenter, "True class")
        p.restore()

    def _paint_scale(self, p: QPainter, top: float) -> None:
        g = self._grid_rect()
        bar = QRectF(g.right() + 16, g.top(), 14, g.height())
        grad = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        grad.setColorAt(0.0, LOW)
        grad.setColorAt(1.0, HIGH)
        p.fillRect(bar, grad)
        p.setPen(QColor("#8c959f"))
        p.drawRect(bar)
        p.setFont(self._font(size=8))
        fm = QFontMetricsF(p.font())
        # Counts get whole-number ticks (a quarter of 25 images is no count anyone has).
        if self.normalised:
            ticks = [k / 4 for k in range(5)]
        else:  # whole, round counts (1, 2 or 5 x 10^k apart), and the largest cell at the top
            raw = top / 4
            mag = 10 ** np.floor(np.log10(raw)) if raw >= 1 else 1
            step = max(1, int(next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)))
            ticks = list(range(0, int(top) + 1, step))
            if top - ticks[-1] >= 0.3 * step:
                ticks.append(int(top))
        for v in ticks:
            y = bar.bottom() - bar.height() * v / top
            p.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 3, y))
            p.drawText(QPointF(bar.right() + 6, y + fm.ascent() / 2 - 1), f"{v:.2f}" if self.normalised else str(v))
