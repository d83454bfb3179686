"""Forms generated from a ``spinegui.core.params.ParamSet`` (nothing named here): the Augment tab's
knobs and the GAN tab's settings.

One editor per kind:
    float     -> labelled slider (superqt QLabeledDoubleSlider), or a spin box (``spin_floats``)
    range     -> labelled two-handle slider (superqt QLabeledDoubleRangeSlider)
    choice    -> combo box
    subset    -> a row of check boxes, one per choice
    bool      -> check box
    int       -> spin box (low..high)
    text      -> line edit
    list      -> line edit, comma-separated
    optional  -> line edit, empty = decided elsewhere (a placeholder says by whom)

``ParamForm`` lays the editors out in sections, collapsible when they have a title. With ``resets``
each param is a ``ParamRow`` (label, editor, reset button; bold label while not the default), as the
Augment tab shows them; without, a plain label/editor form, as the GAN tab shows them.

A row keeps the exact value it was given (a preset's 4/3 stays 4/3) until the user moves its editor;
a slider's value is rounded to the param's step, so it prints as the user saw it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible, QLabeledDoubleRangeSlider, QLabeledDoubleSlider

from spinegui.core.errors import InputError
from spinegui.core.params import Param, ParamSet

LABEL_WIDTH = 132  # px: the labels of every group line up
INT_MAX = 2**31 - 1  # a QSpinBox holds a C int


def decimals(step: float) -> int:
    """Digits after the point that show a value on this step (0.005 -> 3, 0.5 -> 1, 1 -> 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 2


def spin_decimals(p: Param) -> int:
    """Enough decimals for the smallest allowed value and to show the default and the bounds exactly
    (ema's 0.999 must not read 1.00)."""
    places = [2, -math.floor(math.log10(p.low)) + 1 if p.low and p.low > 0 else 2]
    for value in (p.default, p.low, p.high):
        if isinstance(value, float) and not value.is_integer():
            places.append(len(f"{value:.8f}".rstrip("0").split(".")[1]))
    return max(places)


def tooltip(p: Param) -> str:
    """Rich text, so that Qt wraps the long help lines."""
    return f"<p><b>{html.escape(p.label)}</b> ({html.escape(p.allowed())})<br>{html.escape(p.help)}</p>"


# --- one editor per kind ------------------------------------------------------------------------
def make_editor(p: Param, *, spin: bool = False) -> QWidget:
    """The editor of ``p`` showing its default; ``spin``: a spin box for a float, not a slider."""
    if p.optional or p.kind in ("text", "list"):
        w = QLineEdit()
    elif p.kind == "choice":
        w = QComboBox()
        for c in p.choices:
            w.addItem(str(c), c)
    elif p.kind == "bool":
        w = QCheckBox()
    elif p.kind == "subset":
        w = QWidget()
        box = QHBoxLayout(w)
        box.setContentsMargins(0, 0, 0, 0)
        w.checks = {}
        for c in p.choices:
            check = QCheckBox(f"{c}{p.unit}")
            box.addWidget(check)
            w.checks[c] = check
        box.addStretch(1)
    elif p.kind == "int":
        w = QSpinBox()
        w.setRange(int(p.low), int(min(p.high, INT_MAX)))
    elif p.kind == "float" and spin:
        w = QDoubleSpinBox()
        w.setDecimals(spin_decimals(p))
        w.setRange(float(p.low), float(p.high))
    elif p.kind in ("float", "range"):
        w = _slider(p)
    else:
        raise AssertionError(p.kind)
    write_editor(p, w, p.default)
    return w


def _slider(p: Param) -> QWidget:
    if p.kind == "float":
        w = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        w.setEdgeLabelMode(QLabeledDoubleSlider.EdgeLabelMode.LabelIsValue)
    else:
        w = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
        w.setHandleLabelPosition(QLabeledDoubleRangeSlider.LabelPosition.NoLabel)
        w.setEdgeLabelMode(QLabeledDoubleRangeSlider.EdgeLabelMode.LabelIsValue)
    w.setDecimals(decimals(p.step))
    w.setRange(p.low, p.high)
    w.setSingleStep(p.step)
    w.setPageStep(p.step * 10)
    w.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return w


def on_edit(w: QWidget, slot: Callable) -> None:
    """Call ``slot`` on every change of the editor's value."""
    if isinstance(w, QComboBox):
        w.currentIndexChanged.connect(slot)
    elif isinstance(w, QCheckBox):
        w.toggled.connect(slot)
    elif isinstance(w, QLineEdit):
        w.textChanged.connect(slot)
    elif hasattr(w, "checks"):
        for check in w.checks.values():
            check.toggled.connect(slot)
    else:
        w.valueChanged.connect(slot)


def write_editor(p: Param, w: QWidget, value: Any) -> None:
    """Show ``value``; one the editor cannot show (a choice it lacks) leaves it as it is."""
    if isinstance(w, QLineEdit) and isinstance(value, (list, tuple)):
        w.setText(",".join(map(str, value)))
    elif isinstance(w, QLineEdit):
        w.setText("" if value is None else f"{value:g}" if isinstance(value, float) else str(value))
    elif isinstance(w, QComboBox):
        i = w.findData(value)
        if i >= 0:
            w.setCurrentIndex(i)
    elif isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif hasattr(w, "checks"):
        for c, check in w.checks.items():
            check.setChecked(c in value)
    elif value is not None:
        w.setValue(value)


def read_editor(p: Param, w: QWidget) -> Any:
    """The editor's value; InputError for a line edit that does not hold a number it should."""
    if isinstance(w, QLineEdit):
        text = w.text().strip()
        if p.kind == "list":
            return [v.strip() for v in text.split(",") if v.strip()]
        if p.kind not in ("int", "float"):
            return None if not text and p.optional else text
        try:
            return None if not text else (int(text) if p.kind == "int" else float(text))
        except ValueError:
            raise InputError(None, f"{p.label}: expected a number, got {text!r}") from None
    if isinstance(w, QComboBox):
        return w.currentData()
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if hasattr(w, "checks"):
        return tuple(c for c, check in w.checks.items() if check.isChecked())
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        return w.value()
    if p.kind == "range":
        lo, hi = sorted(_rounded(p, v) for v in w.value())
        return (lo, hi)
    return _rounded(p, w.value())


def _rounded(p: Param, v: float) -> float:
    return min(max(round(float(v), decimals(p.step)), float(p.low)), float(p.high))


def _text(value: Any, unit: str) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        return f"{inner or 'none'}{' ' + unit if unit and value else ''}"
    return (f"{value:g}" if isinstance(value, float) else str(value)) + (f" {unit}" if unit else "")


# --- a row: label, editor, reset ----------------------------------------------------------------
class ParamRow(QWidget):
    """Label, editor, reset button for one param. ``changed`` fires on the user's edits and resets."""

    changed = Signal(str)  # the param's name

    def __init__(self, param: Param, parent: QWidget | None = None, *, spin: bool = False):
        super().__init__(parent)
        self.param = param
        self._value: Any = param.default
        self._writing = False
        shown_unit = param.unit if param.kind != "subset" else ""  # the check boxes carry theirs
        unit = f' <span style="color: #808080">{html.escape(shown_unit)}</span>' if shown_unit else ""
        self.label = QLabel(f"{html.escape(param.label)}{unit}")
        self.label.setFixedWidth(LABEL_WIDTH)
        self.label.setWordWrap(True)
        self.editor = make_editor(param, spin=spin)
        self.checks = getattr(self.editor, "checks", {})
        on_edit(self.editor, self._edited)
        self.reset_button = QToolButton()
        self.reset_button.setText("↺")
        self.reset_button.setAutoRaise(True)
        self.reset_button.setToolTip(f"Reset {param.label} to its default ({_text(param.default, param.unit)})")
        self.reset_button.clicked.connect(self.reset)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 1, 0, 1)
        row.addWidget(self.label)
        row.addWidget(self.editor, 1)
        row.addWidget(self.reset_button)
        self.setToolTip(tooltip(param))
        self._mark()

    def value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        """Show ``value`` (already validated); no ``changed`` signal."""
        self._value = value
        self._writing = True
        try:
            write_editor(self.param, self.editor, value)
        finally:
            self._writing = False
        self._mark()

    def reset(self) -> None:
        self.set_value(self.param.default)
        self.changed.emit(self.param.name)

    def _edited(self, *_args) -> None:
        if self._writing:
            return
        self._value = read_editor(self.param, self.editor)
        self._mark()
        self.changed.emit(self.param.name)

    def _mark(self) -> None:
        """Bold label and an active reset button while the param differs from its default."""
        differs = self._value != self.param.default
        font = self.label.font()
        font.setBold(differs)
        self.label.setFont(font)
        self.reset_button.setEnabled(differs)


# --- the form -----------------------------------------------------------------------------------
class ParamForm(QWidget):
    """Every param of a set in sections; ``values()`` is what the editors hold, ``changed`` fires on
    each user edit with the param's name ("" when a whole config was set)."""

    changed = Signal(str)

    def __init__(self, params: ParamSet, parent: QWidget | None = None, *,
                 sections: Sequence[tuple[str | None, Sequence[str]]] | None = None, resets: bool = True,
                 spin_floats: bool = False, expanded: bool = True):
        super().__init__(parent)
        self.params = params
        self.rows: dict[str, ParamRow] = {}
        self.editors: dict[str, QWidget] = {}
        self.sections: dict[str, QCollapsible] = {}
        if sections is None:
            sections = [(g, [p.name for p in params if p.group == g]) for g in params.groups]
        layout = QVBoxLayout(self)
        if resets:
            layout.setContentsMargins(4, 4, 4, 4)
            layout.setSpacing(2)
        else:
            layout.setContentsMargins(0, 0, 0, 0)
        for title, names in sections:
            if not names:
                continue
            widgets = self._rows(names, spin_floats) if resets else [self._plain_form(names, spin_floats)]
            if title is None:
                for w in widgets:
                    layout.addWidget(w)
                continue
            section = QCollapsible(title)
            section.setDuration(0)
            if resets:
                section.layout().setContentsMargins(0, 0, 0, 0)
            for w in widgets:
                section.addWidget(w)
            if expanded:
                section.expand(animate=False)
            layout.addWidget(section)
            self.sections[title] = section
        if resets:
            layout.addStretch(1)

    def _rows(self, names: Sequence[str], spin: bool) -> list[ParamRow]:
        rows = []
        for name in names:
            row = ParamRow(self.params[name], spin=spin)
            row.changed.connect(self.changed)
            rows.append(row)
            self.rows[name] = row
            self.editors[name] = row.editor
        return rows

    def _plain_form(self, names: Sequence[str], spin: bool) -> QWidget:
        body = QWidget()
        form = QFormLayout(body)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name in names:
            p = self.params[name]
            editor = make_editor(p, spin=spin)
            editor.setToolTip(f"<p><b>{p.label}</b><br>{p.help}</p>")
            on_edit(editor, lambda *_a, n=name: self.changed.emit(n))
            label = QLabel(p.label)
            label.setToolTip(editor.toolTip())
            form.addRow(label, editor)
            self.editors[name] = editor
        return body

    # --- values ------------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """{name: value}; None where an optional field is empty. InputError for a field that cannot
        be read (text where a number belongs)."""
        if self.rows:
            return {name: row.value() for name, row in self.rows.items()}
        return {name: read_editor(self.params[name], w) for name, w in self.editors.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Show the values given (others stay)."""
        for name, value in values.items():
            if name in self.rows:
                self.rows[name].set_value(value)
            elif name in self.editors:
                write_editor(self.params[name], self.editors[name], value)

    def config(self) -> dict[str, Any]:
        return self.values()

    def set_config(self, config: dict[str, Any]) -> None:
        """Show ``config`` (validated here, ParamError if bad; missing params take their default)."""
        self.set_values(self.params.validate(config))
        self.changed.emit("")

    def reset_all(self) -> None:
        self.set_config({})
