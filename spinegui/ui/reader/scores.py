"""The scores of a reader study, UNBLINDED: per reader, agreement, per class, the most mistaken images.

    w = ScoresWindow("study/", parent=main_window)    # runs score_study (writes scores.json) off the UI thread
    w.show()

The numbers are score_study's (the same as `spinegui reader-study score`); this view only lays them
out. It shows each mistaken image's truth, so it says so in its title and banner.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.reader_study import open_study, score_study
from spinegui.ui.common.io_worker import IoWorker

TITLE = "Reader study scores — UNBLINDED"
THUMB = 150
READER_COLUMNS = ("Reader", "n", "Correct", "Accuracy", "Sensitivity", "Specificity", "AUROC", "p-value",
                  "Mean s / image")
CLASS_COLUMNS = ("Class", "Items", "Answers", "Accuracy", "Sensitivity", "Specificity")
_BANNER = ("background: #8a4b00; color: white; font-size: 16px; font-weight: bold; padding: 8px 14px;")
KAPPA_NAMES = {"cohen": "Cohen's κ", "fleiss": "Fleiss' κ"}


def ratio_text(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def p_text(p: float | None) -> str:
    if p is None:
        return "—"
    return f"{p:.2e}" if 0 < p < 1e-3 else f"{p:.4f}"


def kappa_text(kappa: dict) -> str:
    n_readers = len(kappa.get("readers", []))
    if kappa.get("value") is None:
        why = "needs two readers" if n_readers < 2 else f"undefined on the {kappa.get('n_items', 0)} shared items"
        return f"Agreement between readers: {why}."
    text = (f"Agreement between {n_readers} readers on the {kappa['n_items']} items all answered: "
            f"{KAPPA_NAMES.get(kappa['method'], kappa['method'])} = {kappa['value']:.3f}")
    pairs = kappa.get("pairwise") or {}
    if pairs:
        text += "  (pairwise Cohen's κ: " + ", ".join(f"{k} {ratio_text(v)}" for k, v in pairs.items()) + ")"
    return text


def compute(folder) -> tuple[dict, dict[str, np.ndarray]]:
    """score_study's scores and a thumbnail of each most-mistaken item (runs in the worker thread)."""
    from PIL import Image

    scores = score_study(folder)
    study = open_study(folder)
    thumbs = {}
    for row in scores["most_mistaken"]:
        im = Image.fromarray(study.load_item(row["item"]))
        im.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
        thumbs[row["item"]] = np.ascontiguousarray(np.asarray(im, np.uint8))
    return scores, thumbs


def _table(columns: tuple[str, ...]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.verticalHeader().hide()
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(False)
    return t


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            cell = QTableWidgetItem(text)
            if c:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, cell)
    frame = 2 * table.frameWidth()
    table.setFixedHeight(table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(len(rows))) + frame)
    table.setMaximumWidth(table.horizontalHeader().length() + frame)


def _pixmap(u8: np.ndarray) -> QPixmap:
    h, w = u8.shape
    return QPixmap.fromImage(QImage(u8.data, w, h, w, QImage.Format.Format_Grayscale8).copy())


class ScoresWindow(QWidget):
    loaded = Signal(object)   # the scores dict, or the error line (str)

    def __init__(self, folder, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.folder = Path(folder)
        self.scores: dict | None = None
        self.setWindowTitle(TITLE)
        self._io = IoWorker(self, threads=1)
        banner = QLabel("UNBLINDED  ·  this view shows each image's truth: not for readers still reading")
        banner.setStyleSheet(_BANNER)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        head = QHBoxLayout()
        head.addWidget(self.status, 1)
        head.addWidget(refresh)
        self.readers = _table(READER_COLUMNS)
        self.kappa = QLabel()
        self.kappa.setWordWrap(True)
        self.classes = _table(CLASS_COLUMNS)
        self.mistaken = QListWidget()
        self.mistaken.setViewMode(QListView.ViewMode.IconMode)
        self.mistaken.setIconSize(QSize(THUMB, THUMB))
        self.mistaken.setResizeMode(QListView.ResizeMode.Adjust)
        self.mistaken.setMovement(QListView.Movement.Static)
        self.mistaken.setSpacing(6)
        self.mistaken.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(banner)
        layout.addLayout(head)
        for title, w in (("Per reader (positive class: synthetic; p: one-sided binomial against chance)",
                          self.readers), (None, self.kappa), ("Per class (all readers pooled)", self.classes),
                         ("Most often mistaken (truth shown)", self.mistaken)):
            if title:
                label = QLabel(title)
                label.setStyleSheet("font-weight: bold; margin-top: 8px;")
                layout.addWidget(label)
            layout.addWidget(w, 1 if w is self.mistaken else 0)
        self.resize(1200, 900)
        self.refresh()

    def refresh(self) -> None:
        self.status.setText(f"scoring {self.folder} …")
        self._io.submit(compute, self._on_scores, self.folder)

    def _on_scores(self, result, error: str | None) -> None:
        if error is not None:
            self.status.setText(error)
            self.loaded.emit(error)
            return
        self.scores, thumbs = result
        s = self.scores
        n_answers = sum(r["n"] for r in s["readers"].values())
        self.status.setText(f"{self.folder}: {s['items']} images, {len(s['readers'])} reader(s), {n_answers} "
                            f"answers; written to {self.folder / 'scores.json'}")
        _fill(self.readers, [[name, str(r["n"]), str(r["correct"]), ratio_text(r["accuracy"]),
                              ratio_text(r["sensitivity"]), ratio_text(r["specificity"]), ratio_text(r["auroc"]),
                              p_text(r["p_value"]), "—" if r["mean_seconds"] is None else f"{r['mean_seconds']:.1f}"]
                             for name, r in s["readers"].items()])
        self.kappa.setText(kappa_text(s["kappa"]))
        _fill(self.classes, [[cls, str(c["items"]), str(c["n"]), ratio_text(c["accuracy"]),
                              ratio_text(c["sensitivity"]), ratio_text(c["specificity"])]
                             for cls, c in s["per_class"].items()])
        self.mistaken.clear()
        for row in s["most_mistaken"]:
            text = f"{row['item']}\n{row['origin']} · {row['class']}\nmisjudged {row['wrong']} of {row['n']}"
            entry = QListWidgetItem(QIcon(_pixmap(thumbs[row["item"]])), text)
            entry.setToolTip(row["source"])
            entry.setData(Qt.ItemDataRole.UserRole, row["item"])
            self.mistaken.addItem(entry)
        self.loaded.emit(s)

    def closeEvent(self, event) -> None:
        self._io.shutdown()
        super().closeEvent(event)
