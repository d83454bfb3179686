"""The GAN tab's list of runs: one row per run folder (name, state, share done), newest first.

The rows come from `spinegui.jobs.list_runs` (read in a worker thread by the panel); a row keeps its
run folder in its data, so a run made by the command line or copied from another machine shows the
same way as one started here.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from spinegui.jobs import list_runs

STATE_COLOURS = {"running": "#1a7f37", "queued": "#9a6700", "failed": "#c01c28", "cancelled": "#6e7781",
                 "done": "#0550ae"}


def gan_runs(root: Path, extra: list[Path]):
    """The GAN runs under `root` and the run folders in `extra` (worker thread: it reads files)."""
    runs = [r for r in list_runs(root) if r.kind == "gan"]
    for path in extra:
        runs += [r for r in list_runs(path) if r.path not in {x.path for x in runs}]
    return runs


class RunsList(QTreeWidget):
    run_chosen = Signal(object)  # the run folder (Path), or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Run", "State", "Done"])
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
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
        return item

    def show_runs(self, runs, keep: Path | None = None) -> None:
        """Rows for `runs` (RunSummary); rows of other runs go, except `keep` (the one shown)."""
        wanted = {r.path.resolve() for r in runs} | ({keep} if keep else set())
        for i in reversed(range(self.topLevelItemCount())):
            if Path(self.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)) not in wanted:
                self.takeTopLevelItem(i)
        for r in runs:
            self.set_row(r.path.resolve(), r.state, "" if r.progress is None else f"{r.progress:.0%}", r.message)

    def choose(self, run: Path) -> None:
        self.setCurrentItem(self.row(run))

    def _chosen(self, item, _previous) -> None:
        self.run_chosen.emit(Path(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None)
