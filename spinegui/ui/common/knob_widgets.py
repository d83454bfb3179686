"""Augmentation knobs as widgets, generated from ``spinegui.augment.knobs.KNOBS`` (nothing named here).

One ``KnobRow`` per knob: its label, an editor chosen by the knob's kind, and a reset button; the help
text is the tooltip. ``KnobForm`` groups the rows by ``knob.group`` in collapsible sections (``GROUPS``
order) and holds the current config.

    float   -> labelled slider (superqt QLabeledDoubleSlider)
    range   -> labelled two-handle slider (superqt QLabeledDoubleRangeSlider)
    choice  -> combo box
    angles  -> a row of check boxes, one per allowed angle

A row keeps the exact value it was given (a preset's 4/3 stays 4/3) until the user moves its editor;
a user's value is rounded to the knob's step, so it prints as the user saw it.
"""

from __future__ import annotations

import html
import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible, QLabeledDoubleRangeSlider, QLabeledDoubleSlider

from spinegui.augment.knobs import GROUPS, KNOBS, Knob, validate

LABEL_WIDTH = 132  # px: the labels of every group line up


def decimals(step: float) -> int:
    """Digits after the point that show a value on this step (0.005 -> 3, 0.5 -> 1, 1 -> 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 2


def tooltip(knob: Knob) -> str:
    """Rich text, so that Qt wraps the long help lines."""
    return (f"<p><b>{html.escape(knob.label)}</b> ({html.escape(knob.allowed())})<br>"
            f"{html.escape(knob.help)}</p>")


class KnobRow(QWidget):
    """Label, editor, reset button for one knob. ``changed`` fires on the user's edits and resets."""

    changed = Signal(str)  # the knob's name

    def __init__(self, knob: Knob, parent: QWidget | None = None):
        super().__init__(parent)
        self.knob = knob
        self._value: Any = knob.default
        self._writing = False
        shown_unit = knob.unit if knob.kind != "angles" else ""  # the check boxes carry theirs
        unit = f' <span style="color: #808080">{html.escape(shown_unit)}</span>' if shown_unit else ""
        self.label = QLabel(f"{html.escape(knob.label)}{unit}")
        self.label.setFixedWidth(LABEL_WIDTH)
        self.label.setWordWrap(True)
        self.editor = self._make_editor()
        self.reset_button = QToolButton()
        self.reset_button.setText("↺")
        self.reset_button.setAutoRaise(True)
        self.reset_button.setToolTip(f"Reset {knob.label} to its default ({_text(knob.default, knob.unit)})")
        self.reset_button.clicked.connect(self.reset)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 1, 0, 1)
        row.addWidget(self.label)
        row.addWidget(self.editor, 1)
        row.addWidget(self.reset_button)
        self.setToolTip(tooltip(knob))
        self._write(knob.default)
        self._mark()

    # --- value --------------------------------------------------------------------------------
    def value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        """Show ``value`` (already validated); no ``changed`` signal."""
        self._value = value
        self._write(value)
        self._mark()

    def reset(self) -> None:
        self.set_value(self.knob.default)
        self.changed.emit(self.knob.name)

    def _edited(self, *_args) -> None:
        if self._writing:
            return
        self._value = self._read()
        self._mark()
        self.changed.emit(self.knob.name)

    def _mark(self) -> None:
        """Bold label and an active reset button while the knob differs from its default."""
        differs = self._value != self.knob.default
        font = self.label.font()
        font.setBold(differs)
        self.label.setFont(font)
        self.reset_button.setEnabled(differs)

    def _write(self, value: Any) -> None:
        self._writing = True
        try:
            self._show(value)
        finally:
            self._writing = False

    # --- per kind -----------------------------------------------------------------------------
    def _make_editor(self) -> QWidget:
        k = self.knob
        if k.kind == "float":
            w = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
            w.setEdgeLabelMode(QLabeledDoubleSlider.EdgeLabelMode.LabelIsValue)
        elif k.kind == "range":
            w = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
            w.setHandleLabelPosition(QLabeledDoubleRangeSlider.LabelPosition.NoLabel)
            w.setEdgeLabelMode(QLabeledDoubleRangeSlider.EdgeLabelMode.LabelIsValue)
        elif k.kind == "choice":
            w = QComboBox()
            for c in k.choices:
                w.addItem(str(c), c)
            w.currentIndexChanged.connect(self._edited)
            return w
        elif k.kind == "angles":
            w = QWidget()
            box = QHBoxLayout(w)
            box.setContentsMargins(0, 0, 0, 0)
            self.checks = {}
            for c in k.choices:
                check = QCheckBox(f"{c}{k.unit}")
                check.toggled.connect(self._edited)
                box.addWidget(check)
                self.checks[c] = check
            box.addStretch(1)
            return w
        else:
            raise AssertionError(k.kind)
        w.setDecimals(decimals(k.step))
        w.setRange(k.low, k.high)
        w.setSingleStep(k.step)
        w.setPageStep(k.step * 10)
        w.valueChanged.connect(self._edited)
        w.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return w

    def _show(self, value: Any) -> None:
        k, w = self.knob.kind, self.editor
        if k in ("float", "range"):
            w.setValue(value)
        elif k == "choice":
            w.setCurrentIndex(w.findData(value))
        else:
            for c, check in self.checks.items():
                check.setChecked(c in value)

    def _read(self) -> Any:
        k, w = self.knob.kind, self.editor
        if k == "float":
            return self._rounded(w.value())
        if k == "range":
            lo, hi = sorted(self._rounded(v) for v in w.value())
            return (lo, hi)
        if k == "choice":
            return w.currentData()
        return tuple(c for c, check in self.checks.items() if check.isChecked())

    def _rounded(self, v: float) -> float:
        k = self.knob
        return min(max(round(float(v), decimals(k.step)), float(k.low)), float(k.high))


def _text(value: Any, unit: str) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        return f"{inner or 'none'}{' ' + unit if unit and value else ''}"
    return (f"{value:g}" if isinstance(value, float) else str(value)) + (f" {unit}" if unit else "")


class KnobForm(QWidget):
    """Every knob, grouped; ``config()`` is the current config, ``changed`` fires on each user edit."""

    changed = Signal(str)  # the name of the knob the user changed; "" when a whole config was set

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: dict[str, KnobRow] = {}
        self.sections: dict[str, QCollapsible] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        for group in GROUPS:
            knobs = [k for k in KNOBS if k.group == group]
            if not knobs:
                continue
            section = QCollapsible(group)
            section.setDuration(0)
            section.layout().setContentsMargins(0, 0, 0, 0)
            for knob in knobs:
                row = KnobRow(knob)
                row.changed.connect(self.changed)
                section.addWidget(row)
                self.rows[knob.name] = row
            section.expand(animate=False)
            layout.addWidget(section)
            self.sections[group] = section
        layout.addStretch(1)

    def config(self) -> dict[str, Any]:
        return {name: row.value() for name, row in self.rows.items()}

    def set_config(self, config: dict[str, Any]) -> None:
        """Show ``config`` (validated here, ConfigError if bad; missing knobs take their default)."""
        config = validate(config)
        for name, row in self.rows.items():
            row.set_value(config[name])
        self.changed.emit("")

    def reset_all(self) -> None:
        self.set_config({})
