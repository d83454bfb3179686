"""GAN training settings as widgets, made from `spinegui.gan.settings.SETTINGS` (no range or
default is written here): a check list of classes with their training-image counts, the common
settings, and an Advanced section with the rest.

    choices          -> combo box
    bool             -> check box
    int              -> spin box (low..high)
    float            -> double spin box (low..high)
    None by default  -> text field, empty = the architecture's default (shown as placeholder)
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from spinegui.core.errors import InputError
from spinegui.gan.settings import ARCH_DEFAULTS, SETTINGS, Setting

# Shown first, in this order; every other setting goes to Advanced.
COMMON = ("arch", "size", "epochs", "batch", "crops", "conditional", "diffaugment", "device", "seed")


def label_of(s: Setting) -> str:
    return s.name.replace("_", "-")  # as the command line spells it


def _decimals(s: Setting) -> int:
    """Enough decimals for the smallest allowed value and to show the default and the bounds exactly
    (ema's 0.999 must not read 1.00)."""
    places = [2, -math.floor(math.log10(s.low)) + 1 if s.low and s.low > 0 else 2]
    for value in (s.default, s.low, s.high):
        if isinstance(value, float) and not value.is_integer():
            places.append(len(f"{value:.8f}".rstrip("0").split(".")[1]))
    return max(places)


def make_editor(s: Setting) -> QWidget:
    if s.choices:
        w = QComboBox()
        for c in s.choices:
            w.addItem(str(c), c)
        w.setCurrentIndex(w.findData(s.default))
    elif isinstance(s.default, bool):
        w = QCheckBox()
        w.setChecked(s.default)
    elif s.default is None:
        w = QLineEdit()
    elif isinstance(s.default, int):
        w = QSpinBox()
        w.setRange(int(s.low), int(min(s.high, 2**31 - 1)))
        w.setValue(s.default)
    else:
        w = QDoubleSpinBox()
        w.setDecimals(_decimals(s))
        w.setRange(float(s.low), float(s.high))
        w.setValue(float(s.default))
    w.setToolTip(f"<p><b>{label_of(s)}</b><br>{s.help}</p>")
    return w


class SettingsForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.classes = QListWidget()
        self.classes.setMaximumHeight(150)
        self.classes.itemChanged.connect(lambda _item: self.changed.emit())
        self.editors: dict[str, QWidget] = {}
        self.settings = {s.name: s for s in SETTINGS}
        common = QFormLayout()
        advanced = QFormLayout()
        for form in (common, advanced):
            form.setContentsMargins(0, 0, 0, 0)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for s in sorted(SETTINGS, key=lambda s: COMMON.index(s.name) if s.name in COMMON else len(COMMON)):
            editor = make_editor(s)
            label = QLabel(label_of(s))
            label.setToolTip(editor.toolTip())
            (common if s.name in COMMON else advanced).addRow(label, editor)
            self.editors[s.name] = editor
        self.section = QCollapsible("Advanced")
        self.section.setDuration(0)
        holder = QWidget()
        holder.setLayout(advanced)
        self.section.addWidget(holder)
        self.editors["arch"].currentIndexChanged.connect(self._show_arch_defaults)
        self._show_arch_defaults()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Classes</b> (training images)"))
        layout.addWidget(self.classes)
        layout.addLayout(common)
        layout.addWidget(self.section)

    # --- classes -------------------------------------------------------------------------------
    def set_classes(self, counts: dict[str, int]) -> None:
        """One checkable row per class; a class without training images is shown but cannot be ticked."""
        self.classes.clear()
        for name, n in counts.items():
            item = QListWidgetItem(f"{name} ({n})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            enabled = Qt.ItemFlag.ItemIsEnabled if n else Qt.ItemFlag.NoItemFlags
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | enabled)
            item.setCheckState(Qt.CheckState.Unchecked)
            if not n:
                item.setToolTip("no training image of this class in the dataset")
            self.classes.addItem(item)

    def set_checked(self, names: list[str]) -> None:
        for i in range(self.classes.count()):
            item = self.classes.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def chosen_classes(self) -> list[str]:
        return [self.classes.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.classes.count())
                if self.classes.item(i).checkState() == Qt.CheckState.Checked]

    # --- settings ------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """{name: value}; None where a text field is empty (the architecture's default).
        InputError for a text field that is not a number."""
        out = {}
        for name, w in self.editors.items():
            s = self.settings[name]
            if isinstance(w, QComboBox):
                out[name] = w.currentData()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, QLineEdit):
                text = w.text().strip()
                try:
                    out[name] = None if not text else (int(text) if name == "n_critic" else float(text))
                except ValueError:
                    raise InputError(None, f"{label_of(s)}: expected a number, got {text!r}") from None
            else:
                out[name] = w.value()
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            w = self.editors.get(name)
            if w is None:
                continue
            if isinstance(w, QComboBox):
                i = w.findData(value)
                if i >= 0:
                    w.setCurrentIndex(i)
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QLineEdit):
                w.setText("" if value is None else f"{value:g}" if isinstance(value, float) else str(value))
            elif value is not None:
                w.setValue(value)

    def _show_arch_defaults(self) -> None:
        defaults = ARCH_DEFAULTS.get(self.editors["arch"].currentData(), {})
        for name, w in self.editors.items():
            if isinstance(w, QLineEdit):
                d = defaults.get(name)
                w.setPlaceholderText(f"by arch: {d:g}" if d is not None else "by arch")
