"""The selected run's own settings (its config.toml), read-only, beside the form for the next run.

The form keeps what the user is editing for the next run; this view only shows what a run was started
with, one row per GAN setting in `GAN_SETTINGS`' order and spelling (the command line's), the settings
that differ from their defaults in bold.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from spinegui.gan.settings import ARCH_DEFAULTS, GAN_SETTINGS

NOTHING = "Select a run to see the settings it was started with."


def settings_rows(config: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(label, value, differs from the default) per GAN setting of a run's config; "–" for one the
    config lacks (a run of an older spinegui), "by arch" for an unset architecture default. An
    optimiser setting is compared with its architecture's default (config.toml holds it filled in)."""
    rows = []
    by_arch = ARCH_DEFAULTS.get(config.get("arch"), {})
    for p in GAN_SETTINGS:
        if p.name not in config:
            rows.append((p.label, "–", False))
            continue
        value = config[p.name]
        if value is None:
            text = "by arch"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = p.arg_text(value)
        default = by_arch.get(p.name) if p.default is None else p.default
        rows.append((p.label, text, value is not None and value != default))
    return rows


def settings_html(name: str, config: dict[str, Any]) -> str:
    classes = ", ".join(str(c) for c in config.get("classes", [])) or "–"
    cells = "".join(
        f"<tr><td style='color:#404040; padding-right:8px'>{html.escape(label)}</td>"
        f"<td>{'<b>' if changed else ''}{html.escape(text)}{'</b>' if changed else ''}</td></tr>"
        for label, text, changed in settings_rows(config))
    return (f"<b>{html.escape(name)}</b><br><span style='color:#6e7781'>read-only: what this run was started "
            f"with (bold: not the default); the form is for the next run</span><br>"
            f"classes: {html.escape(classes)}<table cellspacing='0'>{cells}</table>")


class RunSettingsView(QScrollArea):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel(NOTHING)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setStyleSheet("padding: 4px;")
        inner = QWidget()
        box = QVBoxLayout(inner)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(QLabel("<b>Settings of the selected run</b>"))
        box.addWidget(self.label, 1)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setMinimumWidth(200)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.shown: dict[str, Any] | None = None

    def show_config(self, name: str | None, config: dict[str, Any] | None, error: str | None = None) -> None:
        """A run's settings; None: no run selected; `error`: its config.toml cannot be read."""
        self.shown = config
        if error:
            self.label.setText(f"<span style='color:#c01c28'><b>{html.escape(error)}</b></span>")
        elif name is None or config is None:
            self.label.setText(NOTHING)
        else:
            self.label.setText(settings_html(name, config))
