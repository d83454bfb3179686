"""The answer controls of the reading view: origin, confidence, and the optional lesion and quality.

Only the study's own words appear here, the same for every item; nothing depends on the item shown.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.dataset.vindr import NO_FINDING
from spinegui.core.reader_study.session import CONFIDENCE, QUALITY

ANSWER_LABELS = {"real": "Real  (R)", "synthetic": "Synthetic  (S)"}
NOT_GIVEN = "— not given —"
NONE_SEEN = "none"     # recorded as the dataset's "No finding"
QUALITY_WORDS = {1: "poor", 3: "fair", 5: "excellent"}
_BIG = "QPushButton { font-size: 16px; padding: 10px 14px; } QPushButton:checked { background: #2d6cdf; color: white; }"


class AnswerPanel(QWidget):
    changed = Signal()   # any control changed (the window enables Next)

    def __init__(self, classes: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setStyleSheet(_BIG)
        self.answer_buttons: dict[str, QPushButton] = {}
        self.confidence_buttons: dict[int, QPushButton] = {}
        self._answers = QButtonGroup(self)
        self._confidence = QButtonGroup(self)
        origin = QGroupBox("Your answer")
        row = QHBoxLayout(origin)
        for value, text in ANSWER_LABELS.items():
            self.answer_buttons[value] = self._toggle(text, self._answers, row)
        conf = QGroupBox("Confidence  (keys 1–5)")
        grid = QGridLayout(conf)
        low, high = CONFIDENCE
        for n in range(low, high + 1):
            self.confidence_buttons[n] = b = self._toggle(str(n), self._confidence, None)
            grid.addWidget(b, 0, n - low)
        grid.addWidget(QLabel("guess"), 1, 0)
        grid.addWidget(QLabel("certain"), 1, high - low)
        self.lesion = QComboBox()
        self.lesion.addItem(NOT_GIVEN, None)
        for cls in classes:
            if cls != NO_FINDING:
                self.lesion.addItem(cls, cls)
        self.lesion.addItem(NONE_SEEN, NO_FINDING)
        self.quality = QComboBox()
        self.quality.addItem(NOT_GIVEN, None)
        for n in range(QUALITY[0], QUALITY[1] + 1):
            self.quality.addItem(f"{n}  {QUALITY_WORDS.get(n, '')}".rstrip(), n)
        optional = QGroupBox("Optional")
        form = QFormLayout(optional)
        form.addRow("Lesion seen", self.lesion)
        form.addRow("Image quality", self.quality)
        self.lesion.currentIndexChanged.connect(self.changed)
        self.quality.currentIndexChanged.connect(self.changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for box in (origin, conf, optional):
            layout.addWidget(box)

    def _toggle(self, text: str, group: QButtonGroup, layout) -> QPushButton:
        b = QPushButton(text)
        b.setCheckable(True)
        group.addButton(b)
        b.toggled.connect(lambda on: on and self.changed.emit())
        if layout is not None:
            layout.addWidget(b)
        return b

    # --- state ----------------------------------------------------------------------------------
    @property
    def answer(self) -> str | None:
        return next((v for v, b in self.answer_buttons.items() if b.isChecked()), None)

    @property
    def confidence(self) -> int | None:
        return next((n for n, b in self.confidence_buttons.items() if b.isChecked()), None)

    @property
    def lesion_class(self) -> str | None:
        return self.lesion.currentData()

    @property
    def quality_score(self) -> int | None:
        return self.quality.currentData()

    def complete(self) -> bool:
        return self.answer is not None and self.confidence is not None

    def set_answer(self, value: str) -> None:
        self.answer_buttons[value].setChecked(True)

    def set_confidence(self, n: int) -> None:
        self.confidence_buttons[n].setChecked(True)

    def clear(self) -> None:
        """Nothing chosen (a new item): exclusive groups must let go to uncheck their buttons."""
        for group in (self._answers, self._confidence):
            group.setExclusive(False)
            for b in group.buttons():
                b.setChecked(False)
            group.setExclusive(True)
        self.lesion.setCurrentIndex(0)
        self.quality.setCurrentIndex(0)
        self.changed.emit()
