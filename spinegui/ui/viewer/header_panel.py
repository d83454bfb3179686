"""DICOM header summary; patient-identifying tags stay hidden until the user unhides them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from spinegui.core.dicom.reader import read_header
from spinegui.core.errors import InputError


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
        layout = QVBoxLayout(self)
        layout.addWidget(self.show_identifying)
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
            summary = read_header(self.path, show_identifying=self.show_identifying.isChecked())
        except InputError as exc:
            summary = {"Error": exc.reason}
        self.table.setRowCount(len(summary))
        for row, (key, value) in enumerate(summary.items()):
            self.table.setItem(row, 0, QTableWidgetItem(key))
            self.table.setItem(row, 1, QTableWidgetItem(str(value)))

    def showEvent(self, event) -> None:  # read the header only when the panel is actually shown
        super().showEvent(event)
        self.refresh()
