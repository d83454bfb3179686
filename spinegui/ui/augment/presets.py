"""The Augmentation panel's settings bar: presets, TOML config files, Reset all and Copy as command.

A mixin of AugmentPanel, split out of the Augment panel: it uses the panel's knob form, message line and source.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QPushButton

from spinegui.augment.command import command_line
from spinegui.augment.presets import PRESET_HELP, load_config, load_preset, preset_names, save_config, save_preset
from spinegui.core.dataset.vindr import LESION_TYPES
from spinegui.core.errors import InputError

PER_CLASS = 20         # for "Copy as command"
OUT_DIR = "augmented"


class AugmentPresetsMixin:
    def _build_preset_bar(self) -> QHBoxLayout:
        """The row above the views: the preset chooser and the settings buttons (``self.buttons``)."""
        self.preset_box = QComboBox()
        self.preset_box.setMinimumContentsLength(14)
        self.preset_box.activated.connect(lambda i: self._on_preset_chosen(self.preset_box.itemData(i)))
        self._fill_presets()
        buttons = [
            ("Save as preset…", "Save the current settings as a preset of your own", self.save_preset_as),
            ("Load config…", "Read settings from a TOML file ([augment] table)", self.load_config_file),
            ("Save config…", "Write every setting to a TOML file ([augment] table)",
             self.save_config_file),
            ("Reset all", "Every knob back to its default (the identity)", self.reset_all),
            ("Copy as command", "Put the equivalent `spinegui augment` command line on the clipboard",
             self.copy_command),
        ]
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Preset"))
        bar.addWidget(self.preset_box)
        self.buttons: dict[str, QPushButton] = {}
        for text, tip, slot in buttons:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=slot: s())
            bar.addWidget(b)
            self.buttons[text] = b
        bar.addStretch(1)
        return bar

    def _fill_presets(self, select: str | None = None) -> None:
        box = self.preset_box
        box.blockSignals(True)
        box.clear()
        box.addItem("Custom", None)
        box.setItemData(0, "The current settings match no preset", Qt.ItemDataRole.ToolTipRole)
        for name in preset_names():
            box.addItem(name, name)
            box.setItemData(box.count() - 1, PRESET_HELP.get(name, "A preset you saved"),
                            Qt.ItemDataRole.ToolTipRole)
        box.setCurrentIndex(max(0, box.findData(select)) if select else 0)
        box.blockSignals(False)

    def _on_preset_chosen(self, name: str | None) -> None:
        if name:
            self.load_preset(name)

    def load_preset(self, name: str) -> bool:
        try:
            config = load_preset(name)
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._preset = (name, config)
        self.form.set_config(config)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findData(name)))
        self._say(f"preset {name}: {PRESET_HELP.get(name, 'your preset')}")
        return True

    def save_preset_as(self, name: str | None = None) -> bool:
        if name is None:
            name, ok = QInputDialog.getText(self, "Save preset", "Preset name (letters, digits, - _ .):")
            if not ok or not name.strip():
                return False
        try:
            path = save_preset(name.strip(), self.form.config())
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._preset = (name.strip(), self.form.config())
        self._fill_presets(select=name.strip())
        self._say(f"saved preset {name.strip()} ({path})")
        return True

    def save_config_file(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save augmentation settings", "augment.toml",
                                                  "TOML files (*.toml)")
            if not path:
                return False
        try:
            save_config(path, self.form.config())
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._say(f"saved the settings to {path}")
        return True

    def load_config_file(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load augmentation settings", "", "TOML files (*.toml)")
            if not path:
                return False
        try:
            config = load_config(path)
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._preset = None
        self.form.set_config(config)
        self.preset_box.setCurrentIndex(0)
        self._say(f"loaded the settings from {path}")
        return True

    def reset_all(self) -> None:
        self._preset = None
        self.form.reset_all()
        self.preset_box.setCurrentIndex(0)

    def command_text(self) -> str:
        """The `spinegui augment` line for these settings, the shown image's classes and the seed."""
        if self._pending is not None:  # given while hidden
            _image, boxes, root, *_ = self._pending
        else:
            boxes, root = (self._source.boxes, self._source.root) if self._source else ((), "")
        present = {b.lesion_type for b in boxes}
        classes = [t for t in LESION_TYPES if t in present] or list(LESION_TYPES)
        root = root or "DATASET"
        return command_line(root, self.form.config(), seed=self.seed, classes=classes,
                            per_class=PER_CLASS, out=OUT_DIR)

    def copy_command(self) -> str:
        text = self.command_text()
        QGuiApplication.clipboard().setText(text)
        self._say(f"copied: {text}")
        return text
