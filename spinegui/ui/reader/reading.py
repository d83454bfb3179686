"""The blinded reading view: one study item at a time, the reader's answer, on to the next.

    w = ReadingWindow(session(study_folder, "rad1"), parent=main_window)   # a top-level window
    w.show()

Blinded: no file name, item id, origin, badge or frame; every item goes through the same widgets, so
nothing on screen but the pixels differs between a real and a synthetic item. Each answer is saved
(core/reader_study/session.py: one fsynced row) when Next is pressed, with the seconds from the image
being shown to then; Pause closes the window, and opening the study again under the same name resumes
at the next unanswered item of the reader's own order. The next item is read ahead in a worker thread,
so Next only swaps pixels already in memory.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import InputError
from spinegui.core.reader_study.session import CONFIDENCE, ReaderSession
from spinegui.ui.common.io_worker import IoWorker
from spinegui.ui.reader.answer_panel import AnswerPanel
from spinegui.ui.reader.image_view import ZOOM_STEP, StudyImageView

TITLE = "Blinded reader study"
_BANNER = ("background: #243b55; color: white; font-size: 18px; font-weight: bold; padding: 8px 14px; "
           "letter-spacing: 1px;")
_NOTE = "color: #b00020; font-weight: bold;"
HELP = ("Right-drag: window/level  ·  wheel or + −: zoom  ·  left-drag: pan  ·  0: reset view  ·  "
        "Enter: next  ·  F11: full screen, Esc leaves it")


class ReadingWindow(QWidget):
    def __init__(self, reading: ReaderSession, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.session = reading
        self.study = reading.study
        self.current: str | None = None
        self.shown_at = 0.0
        self.switch_ms: list[float] = []   # Next pressed -> next image shown, per item (for benchmarks)
        self._ahead: dict[str, object] = {}
        self._io = IoWorker(self, threads=1)
        self.setWindowTitle(f"{TITLE} — {reading.reader}")
        self._build()
        self._keys()
        self.resize(1280, 860)
        self._show_next()

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = QLabel(f"{TITLE.upper()}  ·  reader {self.session.reader}")
        self.banner.setTextFormat(Qt.TextFormat.PlainText)   # the reader's name is data
        self.banner.setStyleSheet(_BANNER)
        self.progress_label = QLabel()
        self.progress_label.setStyleSheet("font-size: 16px; font-weight: bold; padding: 0 10px;")
        self.full_screen_button = QPushButton("Full screen  (F11)")
        self.full_screen_button.clicked.connect(self.toggle_full_screen)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Close; your answers are saved, and you resume at the next image")
        self.pause_button.clicked.connect(self.close)
        top = QHBoxLayout()
        top.addWidget(self.banner, 1)
        for w in (self.progress_label, self.full_screen_button, self.pause_button):
            top.addWidget(w)
        self.image = StudyImageView()
        self.message = QLabel()   # the end of the study, or why an image cannot be shown
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("background: #333; color: #eee; font-size: 18px; padding: 24px;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.image)
        self.stack.addWidget(self.message)
        self.answers = AnswerPanel(self.study.classes)
        self.answers.changed.connect(self._update_next)
        self.next_button = QPushButton("Next  (Enter)")
        self.next_button.setStyleSheet("font-size: 17px; font-weight: bold; padding: 12px;")
        self.next_button.clicked.connect(self.save_and_next)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(_NOTE)
        side = QVBoxLayout()
        side.addWidget(self.answers)
        side.addWidget(self.next_button)
        side.addWidget(self.error)
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        panel.setFixedWidth(340)
        panel.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        middle = QHBoxLayout()
        middle.addWidget(self.stack, 1)
        middle.addWidget(panel)
        hint = QLabel(HELP)
        hint.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(middle, 1)
        layout.addWidget(hint)

    def _keys(self) -> None:
        low, high = CONFIDENCE
        keys = {"R": lambda: self.answers.set_answer("real"), "S": lambda: self.answers.set_answer("synthetic"),
                "Return": self.save_and_next, "Enter": self.save_and_next, "F11": self.toggle_full_screen,
                "Escape": self.leave_full_screen, "+": lambda: self.image.zoom(ZOOM_STEP),
                "=": lambda: self.image.zoom(ZOOM_STEP), "-": lambda: self.image.zoom(1 / ZOOM_STEP),
                "0": self.image.reset}
        keys.update({str(n): (lambda n=n: self.answers.set_confidence(n)) for n in range(low, high + 1)})
        self.shortcuts = {}
        for key, slot in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(slot)
            self.shortcuts[key] = sc

    # --- items ------------------------------------------------------------------------------------
    def _show_next(self) -> None:
        item = self.session.next_item()
        self.current = item
        self.answers.clear()
        self.error.clear()
        done, total = self.session.progress
        if item is None:
            self.progress_label.setText(f"{done} / {total}")
            self.message.setText(f"All {total} images are read. Thank you!\n\nYour answers are saved; "
                                 "you may close this window.")
            self.stack.setCurrentWidget(self.message)
            self.image.set_pixels(None)
            self.answers.setEnabled(False)
            self.pause_button.setText("Close")
            self._update_next()
            return
        self.progress_label.setText(f"{done + 1} / {total}")
        pixels = self._ahead.pop(item, None)
        try:
            if pixels is None:
                pixels = self.study.load_item(item)
        except InputError as exc:
            self.message.setText(f"This image cannot be shown:\n{exc}\n\nPause, and tell whoever runs the study.")
            self.stack.setCurrentWidget(self.message)
            self.answers.setEnabled(False)
            self._update_next()
            return
        self.answers.setEnabled(True)
        self.image.set_pixels(pixels)
        self.stack.setCurrentWidget(self.image)
        self.shown_at = time.perf_counter()
        self._update_next()
        self._read_ahead(item)

    def _read_ahead(self, current: str) -> None:
        """Load the item after ``current`` in the reader's order in the worker thread."""
        upcoming = next((i for i in self.session.order if i != current and i not in self.session.answered), None)
        if upcoming is None or upcoming in self._ahead:
            return
        self._ahead.clear()   # at most one image waits in memory
        self._io.submit(self.study.load_item, lambda px, err, i=upcoming: self._arrived(i, px, err), upcoming)

    def _arrived(self, item: str, pixels, error: str | None) -> None:
        if error is None and item != self.current:
            self._ahead[item] = pixels   # (an error is met again, and shown, when the item comes up)

    def _update_next(self) -> None:
        self.next_button.setEnabled(self.current is not None and self.answers.isEnabled()
                                    and self.answers.complete())

    def save_and_next(self) -> None:
        """Save the answer (with the seconds since the image was shown) and show the next item."""
        if not self.next_button.isEnabled() or self.current is None:
            return
        seconds = time.perf_counter() - self.shown_at
        a = self.answers
        try:
            self.session.record(self.current, a.answer, a.confidence, seconds, a.lesion_class, a.quality_score)
        except InputError as exc:
            self.error.setText(str(exc))
            return
        start = time.perf_counter()
        self._show_next()
        self.switch_ms.append((time.perf_counter() - start) * 1000.0)

    # --- full screen and closing ------------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.leave_full_screen()
        else:
            self.showFullScreen()
            self.full_screen_button.setText("Leave full screen  (Esc)")

    def leave_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        self.full_screen_button.setText("Full screen  (F11)")

    def closeEvent(self, event) -> None:
        self._io.shutdown()   # every answer is already on disk (one fsynced row each)
        super().closeEvent(event)
