"""The Results panel's tables: the strategy x model grid (one column per protocol x model), the
per-class metrics, the compute costs and the images of a confusion cell."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from spinegui.core.results.experiment_folder import PHASES, CellItem, Experiment, metric
from spinegui.ui.results.heatmap import mix

KEY = Qt.ItemDataRole.UserRole
MIN_HEIGHT_CAP = 300   # px: a taller grid may scroll
RUNNING = Qt.ItemDataRole.UserRole + 1   # the run key of a cell whose run is in progress


def fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def with_ci(value, ci) -> str:
    return fmt(value) if not ci else f"{fmt(value)} ({ci[0]:.3f}–{ci[1]:.3f})"


def mean_sd(v: dict | None) -> str:
    if not v or v.get("mean") is None:
        return "–"
    return fmt(v["mean"]) + ("" if v.get("sd") is None else f" ± {v['sd']:.3f}")


def difference(v: dict | None) -> str:
    """'+0.042 (+0.010 to +0.075), p 0.012' of a paired comparison (core/results/summary.py)."""
    if not v or v.get("diff") is None:
        return "–"
    ci = v.get("ci")
    p = v.get("p")
    return (f"{v['diff']:+.3f}" + (f" ({ci[0]:+.3f} to {ci[1]:+.3f})" if ci else "")
            + ("" if p is None else f", p {'< 0.001' if p < 0.001 else f'{p:.3f}'}"))


def summary_tooltip(entry: dict | None) -> str:
    """The grid cell's statistics over seeds: mean ± sd and the paired difference against none."""
    if not entry:
        return ""
    if entry.get("excluded"):
        return f"excluded: {entry['excluded']} (not summarised as a result)"
    lines = [f"over {entry.get('n_seeds', 1)} seed(s): test accuracy {mean_sd(entry.get('test_accuracy'))}, "
             f"macro-F1 {mean_sd(entry.get('test_macro_f1'))}"]
    if entry.get("strategy") != "none":
        lines += [f"vs none, macro-F1: {difference(entry.get('vs_none'))}",
                  f"vs none, accuracy: {difference(entry.get('vs_none_accuracy'))}"]
    return "\n".join(lines)


def _item(text: str, align=Qt.AlignmentFlag.AlignCenter, bold: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if bold:
        f = QFont(item.font())
        f.setBold(True)
        item.setFont(f)
    return item


def _read_only(table: QTableWidget) -> None:
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setWordWrap(True)


def _cell(run: dict | None, entry: dict) -> QTableWidgetItem:
    """One grid cell: the run's test and validation figures, shaded by test macro-F1."""
    if run is None:
        item = _item("not run (yet)")
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        return item
    excluded = "\nexcluded: failed gate" if entry.get("excluded") else ""
    item = _item(f"{fmt(metric(run, 'test', 'accuracy'))} · {fmt(metric(run, 'test', 'macro_f1'))}\n"
                 f"val {fmt(metric(run, 'val', 'accuracy'))} · {fmt(metric(run, 'val', 'macro_f1'))}" + excluded)
    item.setData(KEY, run["key"])
    shade = 0.0 if excluded else 0.55 * (metric(run, "test", "macro_f1") or 0.0)  # dark text reads
    item.setBackground(QBrush(mix(shade)))
    item.setToolTip(f"{run['key']}\ntest accuracy · macro-F1, then validation\n" + summary_tooltip(entry))
    return item


class StrategyGrid(QTableWidget):
    """Rows strategies, columns protocol x model; a cell is one run: test accuracy and macro-F1, the
    validation ones below. Shaded by test macro-F1, so the best strategy stands out."""

    run_chosen = Signal(str)  # run key

    def __init__(self, parent=None):
        super().__init__(parent)
        _read_only(self)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setMinimumSectionSize(110)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("test accuracy · test macro-F1\nvalidation accuracy · macro-F1\n(click a cell: that run)")
        self.currentCellChanged.connect(self._chosen)
        self._shape: tuple[list, list, list] | None = None   # protocols, strategies, models shown
        self._shown: dict[tuple[int, int], tuple] = {}       # cell -> (run, summary entry) it shows
        self._marks: dict[str, str] = {}                                # what mark_running_many was asked
        self._marked: dict[tuple[int, int], tuple[str, str]] = {}       # the cells it marked

    def set_experiment(self, exp: Experiment) -> None:
        self.blockSignals(True)
        columns = [(p, m) for p in exp.protocols for m in exp.models]
        self.clear()
        self._marks, self._marked, self._shown = {}, {}, {}
        self.setRowCount(len(exp.strategies))
        self.setColumnCount(len(columns))
        self.setHorizontalHeaderLabels([f"{p}\n{m}" for p, m in columns])
        self.setVerticalHeaderLabels(exp.strategies)
        self._shape = (list(exp.protocols), list(exp.strategies), list(exp.models))
        self._fill(exp)
        self.blockSignals(False)
        self.resizeRowsToContents()
        self._fit_height()

    def update_experiment(self, exp: Experiment) -> bool:
        """The same experiment read again (a run finished): only the cells whose run or summary changed
        are made again, the selection kept. A grid of another shape is made anew. True when a cell changed."""
        if self._shape != (list(exp.protocols), list(exp.strategies), list(exp.models)):
            self.set_experiment(exp)
            return True
        self.blockSignals(True)
        marks, self._marks = self._marks, {}
        changed = self._fill(exp)
        self.blockSignals(False)
        self.mark_running_many(marks)   # the running cells are marked again if still unfinished
        if changed:
            self.resizeRowsToContents()
            self._fit_height()
        return bool(changed)

    def _fill(self, exp: Experiment) -> int:
        """(Re)make the cells whose run or summary differ from what is shown; how many."""
        columns = [(p, m) for p in exp.protocols for m in exp.models]
        changed = 0
        for r, s in enumerate(exp.strategies):
            for c, (p, m) in enumerate(columns):
                run, entry = exp.run_for(p, s, m), exp.summary_for(p, s, m)
                if self._shown.get((r, c), ()) == (run, entry) and self.item(r, c) is not None:
                    continue
                self._shown[(r, c)] = (run, entry)
                self._marked.pop((r, c), None)
                self.setItem(r, c, _cell(run, entry or {}))
                changed += 1
        return changed

    def mark_running(self, key: str | None, text: str) -> None:
        """The cell of the run `key` (protocol-strategy-model[-s<i>]) that is not finished yet shows
        `text` (what the job is doing there); the cell marked before goes back to "not run (yet)"."""
        self.mark_running_many({key: text} if key else {})

    def mark_running_many(self, marks: dict[str, str]) -> None:
        """Several runs at once (a spread experiment): {run key: text}. Cells are touched only when
        their mark changes (a poll that says the same repaints nothing)."""
        wanted: dict[tuple[int, int], tuple[str, str]] = {}
        for key, text in marks.items():
            where = self._cell_of(key)
            if where is not None and where not in wanted:
                wanted[where] = (key, text)
        if wanted == self._marked:
            return
        for (r, c) in self._marked:
            item = self.item(r, c)
            if item is not None and item.data(RUNNING) and not item.data(KEY) and (r, c) not in wanted:
                item.setText("not run (yet)")
                item.setData(RUNNING, None)
                item.setBackground(QBrush())
        for (r, c), (key, text) in wanted.items():
            item = self.item(r, c)
            item.setText(text)
            item.setData(RUNNING, key)
            item.setBackground(QBrush(QColor("#fff8c5")))  # the running cell, pale yellow
        self._marked = wanted
        self._marks = dict(marks)

    def _cell_of(self, key: str | None) -> tuple[int, int] | None:
        """The unfinished cell of run `key`, or None."""
        parts = (key or "").split("-")
        if len(parts) < 3 or self.columnCount() == 0 or self._shape is None:
            return None
        protocol, strategy, model = parts[:3]
        protocols, strategies, models = self._shape
        if protocol not in protocols or strategy not in strategies or model not in models:
            return None
        r, c = strategies.index(strategy), protocols.index(protocol) * len(models) + models.index(model)
        item = self.item(r, c)
        return (r, c) if item is not None and not item.data(KEY) else None

    def _fit_height(self) -> None:
        """As tall as its rows (and the scroll bar when the columns overflow), no taller: the space below
        goes to the audit and summary lines."""
        bar = self.horizontalScrollBar().sizeHint().height() if (
            self.columnCount() * self.horizontalHeader().minimumSectionSize()
            > self.viewport().width() + 1) else 0
        height = (self.horizontalHeader().sizeHint().height() + self.verticalHeader().length()
                  + 2 * self.frameWidth() + bar)
        self.setMaximumHeight(height)
        # and no shorter (up to a cap): the live box below must not squeeze its rows away
        self.setMinimumHeight(min(height, MIN_HEIGHT_CAP))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._fit_height()

    def key_at(self, row: int, col: int) -> str | None:
        item = self.item(row, col)
        return item.data(KEY) if item is not None else None

    def select_key(self, key: str) -> None:
        """Select the cell of `key` without announcing it (the panel asked: run_chosen is for clicks)."""
        for r in range(self.rowCount()):
            for c in range(self.columnCount()):
                if self.key_at(r, c) == key:
                    self.blockSignals(True)
                    self.setCurrentCell(r, c)
                    self.blockSignals(False)
                    return

    def _chosen(self, row: int, col: int, *_previous) -> None:
        key = self.key_at(row, col)
        if key:
            self.run_chosen.emit(key)


class PerClassTable(QTableWidget):
    COLUMNS = ("Class", "Precision", "Recall", "F1", "Support", "AUROC")

    def __init__(self, parent=None):
        super().__init__(0, len(self.COLUMNS), parent)
        _read_only(self)
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

    def show_rows(self, rows: list[dict]) -> None:
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            macro = row["name"] == "macro"
            name = "Macro (recall = balanced accuracy)" if macro else row["name"]
            self.setItem(r, 0, _item(name, Qt.AlignmentFlag.AlignLeft, macro))
            for c, k in enumerate(("precision", "recall", "f1"), start=1):
                self.setItem(r, c, _item(with_ci(row[k], row["ci"].get(k)), bold=macro))
            self.setItem(r, 4, _item("–" if row["support"] is None else str(row["support"]), bold=macro))
            self.setItem(r, 5, _item(with_ci(row["auroc"], row["ci"].get("auroc")), bold=macro))
        self.resizeRowsToContents()


class SeedsTable(QTableWidget):
    """Every protocol x strategy x model over its seeds, with the paired difference against none."""
    COLUMNS = ("Protocol", "Strategy", "Model", "Seeds", "Test accuracy (mean ± sd)", "Macro-F1 (mean ± sd)",
               "Δ macro-F1 vs none (95% CI), p", "Δ accuracy vs none (95% CI), p")

    def __init__(self, parent=None):
        super().__init__(0, len(self.COLUMNS), parent)
        _read_only(self)
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def show_entries(self, entries: list[dict]) -> None:
        self.setRowCount(len(entries))
        for r, e in enumerate(entries):
            cells = [e.get("protocol"), e.get("strategy"), e.get("model"), str(e.get("n_seeds", "–"))]
            if e.get("excluded"):
                cells += [f"excluded: {e['excluded']}", "", "", ""]
            elif e.get("strategy") == "none":
                cells += [mean_sd(e.get("test_accuracy")), mean_sd(e.get("test_macro_f1")), "baseline", "baseline"]
            else:
                cells += [mean_sd(e.get("test_accuracy")), mean_sd(e.get("test_macro_f1")),
                          difference(e.get("vs_none")), difference(e.get("vs_none_accuracy"))]
            for c, text in enumerate(cells):
                self.setItem(r, c, _item(str(text or ""), Qt.AlignmentFlag.AlignLeft if c < 3 else
                                         Qt.AlignmentFlag.AlignCenter))
        self.resizeRowsToContents()


class ComputeTable(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        _read_only(self)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def show_rows(self, rows: list[dict]) -> None:
        base = next((r["total"] for r in rows if r["strategy"] == "none"), None)
        heads = ["Strategy", *(f"{name} (s)" for name in PHASES.values()), "total (s)", "× none", "synthetic images"]
        self.clear()
        self.setColumnCount(len(heads))
        self.setRowCount(len(rows))
        self.setHorizontalHeaderLabels([h.replace(" (", "\n(") for h in heads])
        self.verticalHeader().hide()
        for r, row in enumerate(rows):
            mark = {"gan_train": " *"} if row["shared_gan"] else {}  # the shared GAN, see the note above
            cells = [row["strategy"], *(f"{row[p]:.1f}{mark.get(p, '')}" for p in PHASES), f"{row['total']:.1f}",
                     f"{row['total'] / base:.1f}×" if base else "–", str(row["synthetic_images"])]
            for c, text in enumerate(cells):
                self.setItem(r, c, _item(text, Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight,
                                         bold=c == len(PHASES) + 1))
        self.resizeRowsToContents()
        self.setMaximumHeight(self.horizontalHeader().sizeHint().height() + self.verticalHeader().length()
                              + 2 * self.frameWidth() + 2)


class ItemsTable(QTableWidget):
    """The images of one confusion cell; a double-click opens one (`item_activated`)."""

    COLUMNS = ("Image", "Origin", "Confidence")  # true and predicted are the cell's, said above the list
    item_activated = Signal(object)  # CellItem

    def __init__(self, parent=None):
        super().__init__(0, len(self.COLUMNS), parent)
        _read_only(self)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)  # one line per image; long synthetic ids lose their middle, not their end
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.items: list[CellItem] = []
        self.cellDoubleClicked.connect(lambda row, _col: self.item_activated.emit(self.items[row]))

    def show_items(self, items: list[CellItem]) -> None:
        self.items = list(items)
        self.setRowCount(len(items))
        for r, it in enumerate(items):
            synthetic = it.origin not in ("", "real")
            cells = (it.item_id, it.origin.upper() if synthetic else it.origin, f"{it.confidence:.2f}")
            for c, text in enumerate(cells):
                item = _item(text, Qt.AlignmentFlag.AlignLeft if c < 2 else Qt.AlignmentFlag.AlignRight)
                if synthetic:  # synthetic images are marked wherever shown
                    item.setForeground(QBrush(QColor("#c01c28")))
                self.setItem(r, c, item)
            self.item(r, 0).setToolTip(f"{it.item_id}: true {it.true}, predicted {it.pred}\n"
                                       "double-click to open it in the viewer")
