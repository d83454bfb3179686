"""The GAN tab's list of runs: one row per run folder (name, state, progress), newest first.

The rows come from `spinegui.jobs.list_runs` (read in a worker thread by the panel); a row keeps its
run folder in its data, so a run made by the command line or copied from another machine shows the
same way as one started here. State and progress are in `spinegui jobs`' words (its `shown_state`,
`run_progress`): "cancelling" while a stop is asked for, "epoch 3/10 · critic step 1,200/3,000".
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from spinegui.cli.jobs import run_progress, shown_state
from spinegui.core.errors import InputError
from spinegui.jobs import list_runs, read_status

STATE_COLOURS = {"running": "#1a7f37", "queued": "#9a6700", "failed": "#c01c28", "cancelled": "#6e7781",
                 "cancelling": "#9a6700", "done": "#0550ae"}


def gan_runs(root: Path, extra: list[Path]):
    """(RunSummary, state as shown, progress words) of the GAN runs under `root` and of the run
    folders in `extra` (worker thread: it reads files)."""
    return run_rows("gan", root, extra)


def run_rows(kind: str, root: Path | None, extra: list[Path], skip_kinds: tuple[str, ...] = ()):
    """(RunSummary, state as shown, progress words) of the runs of `kind` under `root` and of the run
    folders in `extra` (those of `skip_kinds` left out), as RunsList takes them (worker thread)."""
    runs = [r for r in list_runs(root) if r.kind == kind] if root is not None else []
    for path in extra:
        runs += [r for r in list_runs(path) if r.path not in {x.path for x in runs} and r.kind not in skip_kinds]
    rows = []
    for r in runs:
        progress = run_progress(r)
        try:
            state = shown_state(read_status(r.path), r.path)
        except InputError:   # gone or rewritten since it was listed
            state = r.state
        rows.append((r, state, "" if progress == "-" else progress))
    return rows


class RunsList(QTreeWidget):
    run_chosen = Signal(object)  # the run folder (Path), or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Run", "State", "Progress"])
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.header()
        # the names whole (they tell runs apart); the progress words after them, scrolled to when narrow
        for column in (0, 1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMinimumHeight(160)
        self.currentItemChanged.connect(self._chosen)

    def row(self, run: Path | None) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == str(run):
                return item
        return None

    def set_row(self, run: Path, state: str, done: str, message: str | None = None) -> QTreeWidgetItem:
        item = self.row(run)
        if item is None:
            item = QTreeWidgetItem([run.name, state, done])
            item.setData(0, Qt.ItemDataRole.UserRole, str(run))
            self.insertTopLevelItem(0, item)
            self.sortItems(0, Qt.SortOrder.DescendingOrder)  # newest first: names start with the start time
        item.setText(1, state)
        item.setText(2, done)
        item.setForeground(1, QBrush(QColor(STATE_COLOURS.get(state, "#000000"))))
        item.setToolTip(0, f"{run}\n{message}" if message else str(run))
        item.setToolTip(2, done)
        return item

    def show_runs(self, runs, keep: Path | None = None) -> None:
        """Rows for `runs` (gan_runs' tuples); rows of other runs go, except `keep` (the one shown)."""
        wanted = {r.path.resolve() for r, _, _ in runs} | ({keep} if keep else set())
        for i in reversed(range(self.topLevelItemCount())):
            if Path(self.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)) not in wanted:
                self.takeTopLevelItem(i)
        for r, state, progress in runs:
            self.set_row(r.path.resolve(), state, progress, r.message)

    def choose(self, run: Path) -> None:
        self.setCurrentItem(self.row(run))

    def _chosen(self, item, _previous) -> None:
        self.run_chosen.emit(Path(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None)
