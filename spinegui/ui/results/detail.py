"""One run of an experiment read closely, for a fold (test or validation): the confusion matrix (a click
on a cell lists its images, a double-click on one asks to open it), per-class metrics with their 95%
CIs, one-vs-rest ROC curves, training curves and compute costs; each exported as PNG, SVG or CSV.

It draws what `spinegui.core.results.experiment_folder` computes; the Results panel tells it which run.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import InputError
from spinegui.core.results import experiment_folder as er
from spinegui.ui.results.charts import ComputeBars, ReliabilityPlot, RocPlot, TrainingCurves
from spinegui.ui.results.export import SVG_AVAILABLE, save_csv, save_png, save_svg, table_rows
from spinegui.ui.results.heatmap import ConfusionHeatmap
from spinegui.ui.results.tables import ComputeTable, ItemsTable, PerClassTable, SeedsTable, with_ci

TABS = ("confusion", "per_class", "roc", "training", "compute", "calibration", "seeds")


def segmented(labels: dict[str, str], slot) -> tuple[QButtonGroup, QHBoxLayout]:
    """Checkable buttons of which one is down (fold, counts/normalised); `slot(key)` on a click."""
    group, row = QButtonGroup(), QHBoxLayout()
    row.setSpacing(0)
    for i, (key, text) in enumerate(labels.items()):
        b = QPushButton(text)
        b.setCheckable(True)
        b.setChecked(i == 0)
        b.setProperty("key", key)
        group.addButton(b)
        row.addWidget(b)
    group.setExclusive(True)
    group.buttonClicked.connect(lambda b: slot(b.property("key")))
    return group, row


def _page(*widgets) -> QWidget:
    page = QWidget()
    box = QVBoxLayout(page)
    for w in widgets:
        box.addWidget(w, 0 if isinstance(w, QLabel) else 1)
    return page


class RunDetail(QWidget):
    open_image = Signal(str, str)  # item_id, caption ("predicted X (0.83), true Y — key, fold")
    open_result = Signal(object)   # er.ResultImage of that image, emitted just before open_image
    message = Signal(str, bool)    # text, is an error

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.exp: er.Experiment | None = None
        self.key: str | None = None
        self.fold = "test"
        self.normalised = False
        self.cell: tuple[int, int] | None = None
        self.folder: Path | None = None  # where export dialogs start
        self._dirty: set[str] = set()    # tabs to draw again when shown (update_run)
        self.fold_group, fold_row = segmented({"test": "Test", "val": "Validation"}, self.set_fold)
        self.png_button, self.svg_button, self.csv_button = (QPushButton(t) for t in ("PNG…", "SVG…", "CSV…"))
        for b, ext in ((self.png_button, "png"), (self.svg_button, "svg"), (self.csv_button, "csv")):
            b.clicked.connect(lambda _=False, e=ext: self._ask_export(e))
        self.svg_button.setEnabled(SVG_AVAILABLE)
        self.svg_button.setToolTip("the figure as SVG" if SVG_AVAILABLE else "this Qt build has no QtSvg")
        self.csv_button.setToolTip("the numbers of the figure or table shown")
        top = QHBoxLayout()
        top.addWidget(QLabel("Fold:"))
        top.addLayout(fold_row)
        top.addStretch(1)
        top.addWidget(QLabel("Export:"))
        for b in (self.png_button, self.svg_button, self.csv_button):
            top.addWidget(b)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._confusion_page(), "Confusion matrix")
        self.per_class_head = QLabel("")
        self.per_class_head.setWordWrap(True)
        self.per_class = PerClassTable()
        self.tabs.addTab(_page(self.per_class_head, self.per_class), "Per class")
        self.roc = RocPlot()
        self.tabs.addTab(self.roc, "ROC")
        self.training = TrainingCurves()
        self.tabs.addTab(self.training, "Training")
        self.tabs.addTab(self._compute_page(), "Compute")
        self.calibration_head = QLabel("")
        self.calibration_head.setWordWrap(True)
        self.reliability = ReliabilityPlot()
        self.tabs.addTab(_page(self.calibration_head, self.reliability), "Calibration")
        self.seeds_head = QLabel("")
        self.seeds_head.setWordWrap(True)
        self.seeds = SeedsTable()
        self.tabs.addTab(_page(self.seeds_head, self.seeds), "Seeds and vs none")
        self.tabs.currentChanged.connect(self._draw_dirty)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)

    def _confusion_page(self) -> QWidget:
        self.norm_group, norm_row = segmented({"counts": "Counts", "normalised": "Row-normalised"},
                                              lambda k: self.set_normalised(k == "normalised"))
        norm_row.addStretch(1)
        self.heatmap = ConfusionHeatmap()
        self.heatmap.cell_clicked.connect(self.show_cell)
        self.cell_head = QLabel("Click a cell to list its images.")
        self.cell_head.setWordWrap(True)
        self.items = ItemsTable()
        self.items.item_activated.connect(self._activate)
        side = QWidget()
        sbox = QVBoxLayout(side)
        sbox.setContentsMargins(0, 0, 0, 0)
        sbox.addWidget(self.cell_head)
        sbox.addWidget(self.items, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.heatmap)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setSizes([600, 380])
        page = QWidget()
        box = QVBoxLayout(page)
        box.addLayout(norm_row)
        box.addWidget(split, 1)
        return page

    def _compute_page(self) -> QWidget:
        self.compute_head = QLabel("")
        self.compute_head.setWordWrap(True)
        self.compute_table = ComputeTable()
        self.compute_bars = ComputeBars()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.compute_table)
        split.addWidget(self.compute_bars)
        split.setSizes([170, 330])
        return _page(self.compute_head, split)

    # --- what is shown -------------------------------------------------------------------------
    @property
    def run(self) -> dict | None:
        return self.exp.runs.get(self.key) if self.exp is not None and self.key else None

    def show_run(self, exp: er.Experiment | None, key: str | None) -> None:
        self.exp, self.key = exp, key
        self.folder = exp.folder if exp is not None else None
        if self.run is None:
            self.heatmap.clear("no run has finished yet" if exp is not None else "Open an experiment")
            self.items.show_items([])
            self.per_class.setRowCount(0)
            return
        self._refresh()

    def set_fold(self, fold: str) -> None:
        self.fold = fold
        for b in self.fold_group.buttons():
            b.setChecked(b.property("key") == fold)
        self._refresh()

    def set_normalised(self, on: bool) -> None:
        self.normalised = on
        for b in self.norm_group.buttons():
            b.setChecked((b.property("key") == "normalised") == on)
        self._show_confusion()

    def update_run(self, exp: er.Experiment, key: str | None) -> None:
        """The experiment read again while it runs: what changed is drawn, the tab shown now and the
        others when they are shown (`_dirty`), so that a finished run costs the UI thread one tab, not
        seven. The selected run unchanged: only what other runs feed (compute, seeds, calibration) is."""
        old_exp, old_run = self.exp, self.run
        self.exp, self.key = exp, key
        self.folder = exp.folder
        if self.run is None:
            self.show_run(exp, key)
            return
        same = (old_exp is not None and old_run == self.run and old_exp.classes == exp.classes
                and {f for k, f in old_exp.predictions if k == key} == {f for k, f in exp.predictions if k == key})
        if not same:
            self._dirty |= set(TABS)
        else:
            self._dirty |= {tab for tab, changed in (("compute", old_exp.compute != exp.compute),
                                                     ("seeds", old_exp.summary != exp.summary),
                                                     ("calibration", old_exp.stats != exp.stats)) if changed}
        self._draw_dirty()

    def _draw_dirty(self, *_args) -> None:
        """Draw the tab shown if it waits for a redraw (the others wait until they are shown)."""
        tab = self.current_tab()
        if tab in self._dirty and self.run is not None:
            self._dirty.discard(tab)
            self._draw(tab)

    def _refresh(self) -> None:
        if self.run is None:
            return
        self._dirty.clear()
        for tab in TABS:
            self._draw(tab)

    def _draw(self, tab: str) -> None:
        run, exp = self.run, self.exp
        fold = er.FOLD_NAMES[self.fold]
        if tab == "confusion":
            self._show_confusion()
            self._show_cell_items()
        elif tab == "per_class":
            ci = run.get("ci", {}).get(self.fold) or {}
            unit = "studies" if run.get("ci_unit") == "study" else "images"
            self.per_class_head.setText(
                f"<b>{self.key}</b>, {fold} fold: {run[self.fold]['n']} images, accuracy "
                f"{with_ci(er.metric(run, self.fold, 'accuracy'), ci.get('accuracy'))}{self._calibration_facts()}. "
                f"Intervals are bootstrap {er.CI_LEVEL}s resampling {unit} (the macro "
                "figures, not each class).")
            self.per_class.show_rows(er.per_class_rows(run, self.fold, exp.classes))
        elif tab == "roc":
            preds = exp.predictions.get((self.key, self.fold))
            self.roc.show_curves(er.roc_one_vs_rest(preds, exp.classes) if preds is not None else {},
                                 f"{self.key}, {fold}: " + ("ROC one-vs-rest" if preds is not None
                                                            else "no predictions file"))
        elif tab == "training":
            self.training.show_history(er.history(run), run.get("best_epoch"), run["key"])
        elif tab == "compute":
            self._show_compute(run["protocol"])
        elif tab == "calibration":
            self._show_calibration()
        else:
            self._show_seeds()

    def _calibration_facts(self) -> str:
        """'; ECE 0.081; sensitivity at 90% specificity 0.640 (AUROC 0.870)' where known."""
        run = self.run or {}
        cal = (run.get("calibration") or {}).get(self.fold) or {}
        split = run.get(self.fold) or {}
        out = "" if cal.get("ece") is None else f"; ECE {cal['ece']:.3f}"
        if split.get("sens_at_90_spec") is not None:
            auc = split.get("auroc")
            out += (f"; sensitivity at 90% specificity {split['sens_at_90_spec']:.3f}"
                    + ("" if auc is None else f" (AUROC {auc:.3f})"))
        return out

    def _show_calibration(self) -> None:
        run, exp = self.run, self.exp
        cal = (run.get("calibration") or {}).get(self.fold) or {}
        where = f"{self.key}, {er.FOLD_NAMES[self.fold]}"
        self.reliability.show_bins(cal.get("bins") or [], f"{where}: reliability" if cal else
                                   f"{where}: no calibration (no predictions file)")
        self.calibration_head.setText(
            f"<b>{self.key}</b>, {er.FOLD_NAMES[self.fold]} fold{self._calibration_facts() or ': no calibration'}. "
            f"Expected calibration error over {exp.stats.get('ece_bins', 15)} equal-width bins of the top-class "
            "confidence; the bars are each bin's accuracy, the dots its mean confidence.")

    def _show_seeds(self) -> None:
        exp = self.exp
        self.seeds_head.setText(
            "Test metrics over seeds (mean ± sample sd) and the paired difference against <i>none</i> on the "
            f"same test images ({exp.stats.get('ci_unit', 'study')}-level bootstrap, "
            f"{exp.stats.get('resamples', '?')} resamples; two-sided p). Runs whose GAN failed its quality "
            "gate are excluded.")
        self.seeds.show_entries(exp.summary)

    def _show_confusion(self) -> None:
        if self.run is not None:
            self.heatmap.set_matrix(self.exp.classes, er.confusion(self.run, self.fold, self.normalised),
                                    self.normalised)

    def show_cell(self, true: int, pred: int) -> None:
        self.cell = (true, pred)
        self.heatmap.select(self.cell)
        self._show_cell_items()

    def _show_cell_items(self) -> None:
        if self.cell is None or self.run is None:
            self.items.show_items([])
            return
        true, pred = self.cell
        items = er.cell_items(self.exp, self.key, self.fold, true, pred)
        missing = (self.key, self.fold) not in self.exp.predictions
        self.cell_head.setText(
            f"<b>true {self.exp.classes[true]} → predicted {self.exp.classes[pred]}</b> "
            f"({er.FOLD_NAMES[self.fold]}): " + ("the predictions file is missing" if missing else
                                                 f"{len(items)} image(s); double-click one to open it"))
        self.items.show_items(items)

    def _activate(self, item: er.CellItem) -> None:
        self.open_result.emit(er.result_image(self.exp, self.key, item))
        self.open_image.emit(item.item_id, f"{er.caption(item)} — {self.key}, {er.FOLD_NAMES[self.fold]}")

    def _show_compute(self, protocol: str) -> None:
        rows = er.compute_phases(self.exp, protocol)
        comp = self.exp.compute
        peak = comp.get("peak_rss_bytes")
        self.compute_head.setText(
            f"<b>{protocol} protocol</b>, wall seconds per phase on {comp.get('device', '?')}"
            f"{'' if peak is None else f'; peak host memory {peak / 2**30:.1f} GiB'}; whole experiment "
            f"{comp.get('wall_s', 0) / 60:.1f} min."
            + (" * One GAN per class serves every GAN strategy of a protocol: its cost is counted in each."
               if any(r["shared_gan"] for r in rows) else ""))
        self.compute_table.show_rows(rows)
        self.compute_bars.show_phases(rows, f"{protocol}: seconds per strategy")

    # --- export --------------------------------------------------------------------------------
    def current_tab(self) -> str:
        return TABS[self.tabs.currentIndex()]

    def figure(self) -> QWidget:
        return {"confusion": self.heatmap, "per_class": self.per_class, "roc": self.roc,
                "training": self.training, "compute": self.compute_bars, "calibration": self.reliability,
                "seeds": self.seeds}[self.current_tab()]

    def csv_rows(self) -> list[list]:
        """The numbers of what the current tab shows."""
        tab, exp, run = self.current_tab(), self.exp, self.run
        if tab == "per_class":
            return table_rows(self.per_class)
        if tab == "compute":
            return table_rows(self.compute_table)
        if tab == "seeds":
            return table_rows(self.seeds)
        if tab == "calibration":
            return [["lo", "hi", "count", "confidence", "accuracy"],
                    *([f"{b['lo']:.4f}", f"{b['hi']:.4f}", str(b["count"]), f"{b['confidence']:.4f}",
                       f"{b['accuracy']:.4f}"] for b in self.reliability.bins)]
        if run is None:
            return []
        if tab == "confusion":
            m = er.confusion(run, self.fold, self.normalised)
            return [["true \\ predicted", *exp.classes],
                    *([name, *(f"{v:.4f}" if self.normalised else str(int(v)) for v in row)]
                      for name, row in zip(exp.classes, m))]
        if tab == "roc":
            rows = [["class", "fpr", "tpr", "threshold"]]
            for name, c in self.roc.curves.items():
                rows += [[name, f"{f:.6g}", f"{t:.6g}", f"{h:.6g}"] for f, t, h in zip(c.fpr, c.tpr, c.thresholds)]
            return rows
        h = er.history(run)
        return [list(h), *([f"{h[n][i]:.6g}" for n in h] for i in range(len(h["epoch"])))]

    def default_name(self, ext: str) -> str:
        return f"{self.key or 'results'}-{self.fold}-{self.current_tab()}.{ext}"

    def _ask_export(self, ext: str) -> None:
        start = str((self.folder or Path.home()) / self.default_name(ext))
        path, _ = QFileDialog.getSaveFileName(self, f"Export {ext.upper()}", start, f"{ext.upper()} (*.{ext})")
        if path:
            self.export(ext, Path(path))

    def export(self, ext: str, path: Path) -> bool:
        try:
            if ext == "png":
                save_png(self.figure(), path)
            elif ext == "svg":
                save_svg(self.figure(), path, self.default_name("svg"))
            else:
                save_csv(self.csv_rows(), path)
        except InputError as exc:
            self.message.emit(str(exc), True)
            return False
        self.message.emit(f"saved {path}", False)
        return True
