"""DICOM header summary; patient-identifying tags stay hidden until the user unhides them.

A series description that carries our SYNTHETIC mark is shown even then (our own words, never a
patient's), at the top and in red, with a banner: a synthetic image must not pass for a real one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.dicom.header import HIDDEN
from spinegui.core.dicom.reader import read_header
from spinegui.core.errors import InputError

SERIES = "Series description"
SYNTHETIC = "SYNTHETIC"
_RED = "#d01818"  # the viewer's SYNTHETIC badge colour
_BANNER = f"color: white; background: {_RED}; font-weight: bold; padding: 3px 6px;"


def with_synthetic_mark(path: Path, summary: dict[str, str]) -> dict[str, str]:
    """The summary with the series description first after the file name, shown when it carries the
    SYNTHETIC mark even where identifying tags are hidden (read through read_header, as the CLI does)."""
    series = summary.get(SERIES, "")
    if series == HIDDEN:
        whole = read_header(path, show_identifying=True).get(SERIES, "")
        if SYNTHETIC in whole.upper():
            series = whole
    if not series:
        return summary
    rest = [(k, v) for k, v in summary.items() if k != SERIES]
    return dict([*rest[:1], (SERIES, series), *rest[1:]])


class HeaderPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.path: Path | None = None
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self.refresh)
        self.show_identifying = QCheckBox("Show patient-identifying tags")
        self.show_identifying.toggled.connect(lambda _on: self.refresh())
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Tag", "Value"])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.synthetic_banner = QLabel("SYNTHETIC image: not a real patient's")
        self.synthetic_banner.setStyleSheet(_BANNER)
        self.synthetic_banner.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.show_identifying)
        layout.addWidget(self.synthetic_banner)
        layout.addWidget(self.table)

    def show_file(self, path: Path | None) -> None:
        # Read the header once the user stops on an image, not for every image stepped over.
        self.path = path
        self._debounce.start()

    def refresh(self) -> None:
        if self.path is None or not self.isVisible():
            self.table.setRowCount(0)
            return
        try:
            summary = with_synthetic_mark(self.path, read_header(self.path, self.show_identifying.isChecked()))
        except InputError as exc:
            summary = {"Error": exc.reason}
        synthetic = SYNTHETIC in summary.get(SERIES, "").upper()
        self.synthetic_banner.setVisible(synthetic)
        self.table.setRowCount(len(summary))
        for row, (key, value) in enumerate(summary.items()):
            items = QTableWidgetItem(key), QTableWidgetItem(str(value))
            if key == SERIES and synthetic:
                for item in items:
                    item.setForeground(QBrush(QColor(_RED)))
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
            for col, item in enumerate(items):
                self.table.setItem(row, col, item)

    def showEvent(self, event) -> None:  # read the header only when the panel is actually shown
        super().showEvent(event)
        self.refresh()
