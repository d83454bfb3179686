"""The annotation/properties panel: the current image's boxes and state, and the edits on them.

Every action is one call on the AnnotationStore (the same calls the CLI and tests make).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.dataset.vindr import LESION_COLOURS, LESION_TYPES
from spinegui.core.errors import InputError


def swatch(colour: str, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(colour))
    return QIcon(pm)


def box_text(b) -> str:
    """A list entry, short enough for the dock: type, reader, ✎ when edited here (the tooltip says by whom)."""
    return f"{b.lesion_type} — {b.rad_id}" + (" ✎" if b.edited_by else "")


def box_tooltip(b) -> str:
    x0, y0, x1, y1 = b.xyxy
    lines = [b.lesion_type, f"drawn by {b.rad_id}", f"x {x0:.0f}–{x1:.0f}, y {y0:.0f}–{y1:.0f} (pixels)"]
    if b.edited_by:
        lines.append(f"edited by {b.edited_by}" + (f" at {b.edited_at}" if b.edited_at else ""))
    return "\n".join(lines)


class AnnotationPanel(QWidget):
    message = Signal(str)  # an error line for the status bar
    reader_requested = Signal()  # the user wants to set or change the reader name
    box_chosen = Signal(str)  # uid picked in the list

    def __init__(self, parent=None):
        super().__init__(parent)
        self.store = None
        self.image_id: str | None = None
        self.selected_uid = ""
        self._updating = False

        self.reader_button = QPushButton()
        self.reader_button.clicked.connect(self.reader_requested)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)  # reader names are data, not markup
        self.boxes = QListWidget()
        # A narrow dock elides an entry rather than scrolling sideways; its tooltip has it all.
        self.boxes.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.boxes.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.boxes.currentItemChanged.connect(self._on_item)
        self.type_combo = QComboBox()
        for n, t in enumerate(LESION_TYPES, start=1):
            self.type_combo.addItem(swatch(LESION_COLOURS[t]), f"{n}  {t}", t)
        self.type_combo.activated.connect(self._on_type)
        self.delete_button = QPushButton("Delete box")
        self.delete_button.clicked.connect(self.delete_selected)
        self.no_finding_button = QPushButton("Mark No finding")
        self.no_finding_button.setToolTip("This reader sees no lesion: removes this reader's boxes (undoable)")
        self.no_finding_button.clicked.connect(self.mark_no_finding)
        self.verified = QCheckBox("Verified")
        self.verified.clicked.connect(self._on_verified)

        layout = QVBoxLayout(self)
        layout.addWidget(self.reader_button)
        layout.addWidget(self.state_label)
        hint = QLabel("Boxes (B then drag to draw; 1–7 set the type)")
        hint.setWordWrap(True)  # a narrow dock wraps it rather than cutting it off
        layout.addWidget(hint)
        layout.addWidget(self.boxes, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Type"))
        row.addWidget(self.type_combo, 1)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.delete_button)
        row.addWidget(self.no_finding_button)
        layout.addLayout(row)
        layout.addWidget(self.verified)
        self.refresh()

    # --- wiring ---------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self.refresh()

    def show_image(self, image_id: str | None) -> None:
        self.image_id = image_id
        self.selected_uid = ""
        self.refresh()

    def select_box(self, uid: str) -> None:
        self.selected_uid = uid
        self.refresh()

    def refresh(self) -> None:
        self._updating = True
        try:
            reader = self.store.reader if self.store else None
            read_only = self.store.read_only if self.store else None
            self.reader_button.setText(f"Reader: {reader}" if reader else "Set your reader name to edit…")
            has_image = bool(self.store and self.image_id)
            editable = has_image and read_only is None
            self.boxes.setEnabled(has_image)  # read-only still lists and selects the boxes
            for w in (self.type_combo, self.delete_button, self.no_finding_button, self.verified):
                w.setEnabled(editable)
            self.boxes.clear()
            if not has_image:
                self.state_label.setText("No image")
                return
            ann = self.store.annotations(self.image_id)
            state = ["edited" if self.store.is_edited(self.image_id) else "as in the dataset"]
            if ann.verified:
                state.append(f"verified by {ann.verified_by}")
            if ann.no_finding:
                state.append("No finding: " + ", ".join(sorted(ann.no_finding)))
            text = f"{len(ann.boxes)} box(es) · " + " · ".join(state)
            if read_only is not None:
                text = f"READ-ONLY: {read_only}; edits are off until it closes.\n{text}"
            self.state_label.setText(text)
            for b in ann.boxes:
                item = QListWidgetItem(swatch(LESION_COLOURS.get(b.lesion_type, "#ffffff")), box_text(b))
                item.setToolTip(box_tooltip(b))
                item.setData(Qt.ItemDataRole.UserRole, b.uid)
                self.boxes.addItem(item)
                if b.uid == self.selected_uid:
                    self.boxes.setCurrentItem(item)
                    self.type_combo.setCurrentIndex(LESION_TYPES.index(b.lesion_type))
            self.delete_button.setEnabled(editable and bool(self.selected_uid))
            self.verified.setChecked(ann.verified)
        finally:
            self._updating = False

    # --- actions --------------------------------------------------------------------------------
    def _call(self, fn, *args) -> None:
        try:
            fn(*args)
        except InputError as exc:
            if self.store is not None and self.store.reader is None:
                self.reader_requested.emit()
            self.message.emit(str(exc))
        self.refresh()

    def _on_item(self, item, _previous) -> None:
        if self._updating or item is None:
            return
        self.selected_uid = item.data(Qt.ItemDataRole.UserRole)
        self.box_chosen.emit(self.selected_uid)
        self.refresh()

    def _on_type(self, index: int) -> None:
        if self.selected_uid and self.image_id:
            self._call(self.store.set_lesion_type, self.image_id, self.selected_uid, LESION_TYPES[index])

    def delete_selected(self) -> None:
        if self.selected_uid and self.image_id:
            uid, self.selected_uid = self.selected_uid, ""
            self._call(self.store.delete_box, self.image_id, uid)

    def mark_no_finding(self) -> None:
        if self.image_id:
            self._call(self.store.mark_no_finding, self.image_id)

    def _on_verified(self, checked: bool) -> None:
        if self.image_id:
            self._call(self.store.set_verified, self.image_id, checked)
