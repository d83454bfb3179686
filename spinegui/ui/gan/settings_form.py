"""GAN training settings as widgets, made from `spinegui.gan.settings.GAN_SETTINGS` by the one form
builder (`spinegui.ui.common.param_form`; no range or default is written here): a check list of
classes with their training-image counts, the common settings, and an Advanced section with the rest.
A setting whose default is the architecture's is a text field, empty = that default (the placeholder
says which).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from spinegui.gan.settings import ARCH_DEFAULTS, GAN_SETTINGS, SETTINGS
from spinegui.ui.common.param_form import ParamForm

FEW_IMAGES = 20   # below this a GAN tends to learn noise or copies: warned before training

# Shown first, in this order; every other setting goes to Advanced.
COMMON = ("arch", "size", "epochs", "steps", "minutes", "batch", "crops", "conditional", "diffaugment", "device",
          "seed")


class SettingsForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.classes = QListWidget()
        self.classes.setMaximumHeight(150)
        self.classes.itemChanged.connect(lambda _item: self.changed.emit())
        self.counts: dict[str, int] = {}
        self.warning = QLabel()   # few training images among the ticked classes
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #9a6700")
        self.changed.connect(self._warn_small)
        advanced = [s.name for s in SETTINGS if s.name not in COMMON]
        self.params = ParamForm(GAN_SETTINGS, sections=[(None, COMMON), ("Advanced", advanced)], resets=False,
                                spin_floats=True, expanded=False)
        self.params.changed.connect(lambda _name: self.changed.emit())
        self.editors: dict[str, QWidget] = self.params.editors
        self.section = self.params.sections["Advanced"]
        self.editors["arch"].currentIndexChanged.connect(self._show_arch_defaults)
        self._show_arch_defaults()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Classes</b> (training images)"))
        layout.addWidget(self.classes)
        layout.addWidget(self.warning)
        layout.addWidget(self.params)

    # --- classes -------------------------------------------------------------------------------
    def set_classes(self, counts: dict[str, int]) -> None:
        """One checkable row per class; a class without training images is shown but cannot be ticked."""
        self.classes.clear()
        self.counts = dict(counts)
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

    def small_classes(self, below: int) -> dict[str, int]:
        """The ticked classes with fewer than `below` training images: {class: count}."""
        return {name: self.counts[name] for name in self.chosen_classes() if self.counts.get(name, below) < below}

    def _warn_small(self) -> None:
        small = self.small_classes(FEW_IMAGES)
        self.warning.setText("" if not small else
                             "⚠ few training images: " + ", ".join(f"{n} ({c})" for n, c in small.items())
                             + f"; under {FEW_IMAGES} a GAN tends to make noise or copies: check its quality "
                             "gate before using its samples")

    # --- settings ------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """{name: value}; None where a text field is empty (the architecture's default).
        InputError for a text field that is not a number."""
        return self.params.values()

    def set_values(self, values: dict[str, Any]) -> None:
        self.params.set_values(values)

    def _show_arch_defaults(self) -> None:
        defaults = ARCH_DEFAULTS.get(self.editors["arch"].currentData(), {})
        for name, w in self.editors.items():
            if isinstance(w, QLineEdit):
                d = defaults.get(name)
                w.setPlaceholderText(f"by arch: {d:g}" if d is not None else "by arch")
