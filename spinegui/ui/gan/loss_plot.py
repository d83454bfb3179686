"""Live GAN loss curves: critic and generator loss above, the Wasserstein estimate below, vs step.

Points arrive in batches (numpy arrays from `gan_run_state.digest`), are kept in growable buffers
per model, and are drawn decimated to at most MAX_POINTS per curve, so a week-long run redraws as
fast as a minute-long one, and at most REDRAW_S apart (a redraw of both plots costs 10-20 ms here).
One model is shown at a time (a per-class run trains one after another).
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from spinegui.ui.gan.run_state import QUANTITIES, decimate

MAX_POINTS = 1000
REDRAW_S = 0.5
PENS = {"critic": "#1f77b4", "generator": "#d62728", "wasserstein": "#2ca02c"}
NAMES = {"critic": "critic loss", "generator": "generator loss", "wasserstein": "Wasserstein estimate"}


class Series:
    """x, y float64 buffers that grow by doubling (appending a batch is amortised O(batch))."""

    def __init__(self):
        self._x = np.empty(256)
        self._y = np.empty(256)
        self.n = 0

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.n and len(x) and x[0] <= self._x[self.n - 1]:
            # A job killed before its last checkpoint redoes those steps on resume: the new points
            # replace the old ones instead of drawing the same step twice.
            self.n = int(np.searchsorted(self._x[:self.n], x[0], side="left"))
        need = self.n + len(x)
        if need > len(self._x):
            cap = max(need, 2 * len(self._x))
            self._x = np.resize(self._x, cap)
            self._y = np.resize(self._y, cap)
        self._x[self.n:need] = x
        self._y[self.n:need] = y
        self.n = need

    @property
    def x(self) -> np.ndarray:
        return self._x[:self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self.n]


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.series: dict[str, dict[str, Series]] = {}
        self.model: str | None = None
        self._drawn_at = 0.0
        self._later = QTimer(self, singleShot=True)
        self._later.timeout.connect(self._redraw)
        self.losses = pg.PlotWidget(background="w")
        self.distance = pg.PlotWidget(background="w")
        self.curves: dict[str, pg.PlotDataItem] = {}
        for plot, quantities, title in ((self.losses, ("critic", "generator"), "losses"),
                                        (self.distance, ("wasserstein",), "Wasserstein estimate")):
            item = plot.getPlotItem()  # (no grid: it doubles the cost of every redraw)
            item.setTitle(title, size="10pt")
            item.setLabel("left", "loss" if plot is self.losses else "estimate")
            item.addLegend(offset=(-10, 10), labelTextSize="9pt")
            item.setClipToView(True)
            for axis in ("bottom", "left"):
                item.getAxis(axis).enableAutoSIPrefix(False)
            for q in quantities:
                self.curves[q] = plot.plot([], [], pen=pg.mkPen(PENS[q], width=1), name=NAMES[q])
        self.distance.setXLink(self.losses)
        self.distance.getPlotItem().setLabel("bottom", "critic step")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.losses, 3)
        layout.addWidget(self.distance, 2)

    def clear(self) -> None:
        self._later.stop()
        self.series.clear()
        self.model = None
        for curve in self.curves.values():
            curve.setData([], [])

    def models(self) -> list[str]:
        return list(self.series)

    def append(self, losses: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> None:
        """Add a batch of points {model: {quantity: (steps, values)}}; redraw the shown model once."""
        for model, per in losses.items():
            series = self.series.setdefault(model, {q: Series() for q in QUANTITIES})
            for q, (x, y) in per.items():
                if len(x):
                    series[q].extend(x, y)
        if self.model is None and self.series:
            self.model = next(iter(self.series))
        if self.model in losses and not self._later.isActive():
            wait = REDRAW_S - (time.monotonic() - self._drawn_at)
            if wait <= 0:
                self._redraw()
            else:
                self._later.start(int(wait * 1000) + 1)

    def show_model(self, model: str | None) -> None:
        self.model = model
        self._redraw()

    def flush(self) -> None:
        """Draw now what is waiting for the next redraw."""
        if self._later.isActive():
            self._later.stop()
            self._redraw()

    def points_drawn(self, quantity: str) -> int:
        x, _ = self.curves[quantity].getData()
        return 0 if x is None else len(x)

    def _redraw(self) -> None:
        self._drawn_at = time.monotonic()
        per = self.series.get(self.model or "", {})
        for q, curve in self.curves.items():
            s = per.get(q)
            if s is None or s.n == 0:
                curve.setData([], [])
            else:
                curve.setData(*decimate(s.x, s.y, MAX_POINTS))
