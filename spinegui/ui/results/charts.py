"""The Results panel's plots (pyqtgraph): one-vs-rest ROC curves, training curves per epoch, and the
compute cost of each strategy as stacked bars. They draw what `spinegui.core.results.experiment_folder`
computed; nothing is computed here.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from spinegui.core.results.experiment_folder import PHASES, RocCurve
from spinegui.core.results.report.svg import PALETTE, PHASE_COLOURS  # the report's colours: one look for both


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    item = w.getPlotItem()
    item.setTitle(title, size="10pt", color="#1f2328")
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    item.showGrid(x=True, y=True, alpha=0.15)
    for axis in ("bottom", "left"):
        item.getAxis(axis).enableAutoSIPrefix(False)
        item.getAxis(axis).setTextPen("#1f2328")  # pyqtgraph's default grey is faint on white
        item.getAxis(axis).setPen("#57606a")
    w.setMenuEnabled(False)
    return w


def _legend(w: pg.PlotWidget, offset=(-10, -10)) -> pg.LegendItem:
    return w.getPlotItem().addLegend(offset=offset, labelTextSize="9pt", labelTextColor="#1f2328",
                                     brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#d0d7de"))


class RocPlot(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = _plot("ROC, one class against the rest", "true positive rate", "false positive rate")
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
        self.plot.setAspectLocked(True)
        self.plot.setMouseEnabled(False, False)
        self.curves: dict[str, RocCurve] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def show_curves(self, curves: dict[str, RocCurve | None], title: str) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.clear()
        else:
            _legend(self.plot)
        item.setTitle(title, size="10pt", color="#1f2328")
        item.plot([0, 1], [0, 1], pen=pg.mkPen("#8c959f", width=1, style=Qt.PenStyle.DashLine))
        self.curves = {k: v for k, v in curves.items() if v is not None}
        for i, (name, c) in enumerate(curves.items()):
            colour = PALETTE[i % len(PALETTE)]
            if c is None:  # no positive (or no negative) in this fold: no curve can exist
                item.legend.addItem(pg.PlotDataItem(pen=pg.mkPen(colour, style=Qt.PenStyle.DotLine)),
                                    f"{name} (no curve: one-sided fold)")
                continue
            item.plot(c.fpr, c.tpr, pen=pg.mkPen(colour, width=2), name=f"{name} (AUC {c.auc:.2f})")


class TrainingCurves(QWidget):
    """Train loss above; validation accuracy and macro-F1 below; the best epoch marked in both.

    The curves, their legend entries and the best-epoch lines are made once and then given new data:
    a live run's curves change every epoch, and making pyqtgraph items (legend labels above all) again
    each time cost tens of milliseconds of the UI thread."""

    SERIES = (("loss", "train_loss", "train loss", PALETTE[3]), ("scores", "val_accuracy", "val accuracy", PALETTE[0]),
              ("scores", "val_macro_f1", "val macro-F1", PALETTE[2]))

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.loss = _plot("training loss", "loss", "epoch")
        self.scores = _plot("validation", "score", "epoch")
        self.scores.setXLink(self.loss)
        self.scores.setYRange(0, 1, padding=0.03)
        _legend(self.loss, (-10, 10))
        _legend(self.scores, (-10, -10))
        self._curves: dict[str, pg.PlotDataItem] = {}   # series -> its curve, while it has points
        self._best: dict[str, pg.InfiniteLine] = {}
        self._shown: dict[str, object] = {}             # what was last set (titles, ticks): set again only on change
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss, 1)
        layout.addWidget(self.scores, 1)

    def _once(self, what: str, value, apply) -> None:
        if self._shown.get(what) != value:
            self._shown[what] = value
            apply(value)

    def show_history(self, h: dict[str, np.ndarray], best_epoch: int | None, title: str) -> None:
        self._once("loss title", f"{title}: training loss",
                   lambda t: self.loss.getPlotItem().setTitle(t, size="10pt", color="#1f2328"))
        self._once("scores title", f"{title}: validation",
                   lambda t: self.scores.getPlotItem().setTitle(t, size="10pt", color="#1f2328"))
        x = h.get("epoch", np.zeros(0))
        for plot, name, label, colour in self.SERIES:
            w, y = getattr(self, plot), h.get(name)
            curve = self._curves.get(name)
            if y is not None and len(y) and not np.isnan(y).all():
                if curve is None:
                    self._curves[name] = w.plot(x, y, pen=pg.mkPen(colour, width=2), symbolBrush=colour,
                                                symbolPen=None, name=label, symbol="o", symbolSize=6)
                else:
                    curve.setData(x, y)
            elif curve is not None:
                w.getPlotItem().removeItem(curve)
                w.getPlotItem().legend.removeItem(curve)
                del self._curves[name]
        # whole epochs while they fit; pyqtgraph's own ticks after
        self._once("ticks", (1, 1) if len(x) <= 20 else (None, None),
                   lambda t: [w.getPlotItem().getAxis("bottom").setTickSpacing(*t) for w in (self.loss, self.scores)])
        for plot in ("loss", "scores"):
            line = self._best.get(plot)
            if best_epoch and line is None:
                line = self._best[plot] = pg.InfiniteLine(
                    best_epoch, pen=pg.mkPen("#8c959f", style=Qt.PenStyle.DashLine), label="best",
                    labelOpts={"position": 0.92, "color": "#57606a"})
                getattr(self, plot).addItem(line)
            elif best_epoch:
                line.setValue(best_epoch)
            if line is not None:
                line.setVisible(bool(best_epoch))


class ComputeBars(QWidget):
    """Seconds per strategy, stacked by phase (PHASES: GAN training, GAN sampling, geometric copies,
    classifier training, evaluation)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = _plot("compute per strategy", "seconds", "")
        self.plot.setMouseEnabled(False, False)
        _legend(self.plot, (10, 10))
        self.bars: dict[str, pg.BarGraphItem] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def show_phases(self, rows: list[dict], title: str) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        item.legend.clear()
        item.setTitle(title, size="10pt", color="#1f2328")
        x = np.arange(len(rows), dtype=np.float64)
        base = np.zeros(len(rows))
        self.bars = {}
        for phase, name in PHASES.items():
            h = np.array([r[phase] for r in rows], np.float64)
            if not h.any():
                continue
            bar = pg.BarGraphItem(x=x, height=h, y0=base.copy(), width=0.6, brush=PHASE_COLOURS[phase],
                                  pen=pg.mkPen("w", width=1))
            item.addItem(bar)
            item.legend.addItem(bar, name)
            self.bars[phase] = bar
            base += h
        item.getAxis("bottom").setTicks([[(float(i), r["strategy"]) for i, r in enumerate(rows)]])
        top = float(base.max()) if len(base) else 1.0
        self.plot.setRange(xRange=(-0.6, len(rows) - 0.4), yRange=(0, top * 1.35 or 1.0), padding=0)


class ReliabilityPlot(QWidget):
    """Reliability diagram of one run and fold (core/results/stats.calibration's bins): accuracy per
    confidence bin as bars, the bin's mean confidence as a dot, the diagonal as perfect calibration."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = _plot("reliability", "accuracy", "confidence (top class)")
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
        self.plot.setMouseEnabled(False, False)
        self.bins: list[dict] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def show_bins(self, bins: list[dict], title: str) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.clear()
        else:
            _legend(self.plot, offset=(10, 10))
        item.setTitle(title, size="10pt", color="#1f2328")
        item.plot([0, 1], [0, 1], pen=pg.mkPen("#8c959f", width=1, style=Qt.PenStyle.DashLine),
                  name="perfect calibration")
        self.bins = [b for b in bins if b.get("count")]
        if not self.bins:
            return
        centre = np.array([(b["lo"] + b["hi"]) / 2 for b in self.bins])
        width = (self.bins[0]["hi"] - self.bins[0]["lo"]) * 0.9
        accuracy = np.array([b["accuracy"] for b in self.bins])
        bars = pg.BarGraphItem(x=centre, height=accuracy, width=width, brush=pg.mkBrush(PALETTE[0]),
                               pen=pg.mkPen("#ffffff"), name="accuracy per bin")
        item.addItem(bars)   # named: the legend lists it
        item.plot(centre, [b["confidence"] for b in self.bins], pen=None, symbol="o", symbolSize=7,
                  symbolBrush=PALETTE[3], symbolPen=None, name="mean confidence")
