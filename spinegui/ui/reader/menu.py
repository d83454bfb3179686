"""The main window's "Reader study" menu: New study…, Open study… (as a named reader), Scores…

    build_reader_menu(win, bar.addMenu("&Reader study"), add)     # from window_menus.build_menus

The windows it opens are children of the main window (closed with it), each its own top-level window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit

from spinegui.core.errors import InputError
from spinegui.core.reader_study import open_study
from spinegui.core.reader_study.session import ReaderSession, check_reader
from spinegui.ui.reader.new_study import NewStudyDialog
from spinegui.ui.reader.reading import ReadingWindow
from spinegui.ui.reader.scores import ScoresWindow

LAST_FOLDER = "reader_study/folder"   # QSettings key: the study last made or opened
LAST_READER = "reader_study/reader"


def build_reader_menu(win, menu, add) -> None:
    add(menu, "reader_new", "&New study…", lambda: new_study_dialog(win))
    add(menu, "reader_open", "&Open study…", lambda: open_study_dialog(win))
    add(menu, "reader_scores", "&Scores…", lambda: scores_dialog(win))


def _last_folder(win) -> str:
    return str(win.settings.value(LAST_FOLDER, "") or "")


def new_study_dialog(win) -> NewStudyDialog:
    real = str(win.index.root) if getattr(win, "index", None) is not None else ""
    dialog = NewStudyDialog(real, "", win)
    dialog.created.connect(lambda study: _created(win, study))
    dialog.show()
    return dialog


def _created(win, study) -> None:
    win.settings.setValue(LAST_FOLDER, str(study.folder))
    win.show_message(f"reader study of {len(study.items)} images written to {study.folder}")


def open_study_dialog(win) -> ReadingWindow | None:
    folder = QFileDialog.getExistingDirectory(win, "Open a reader study", _last_folder(win))
    if not folder:
        return None
    default = str(win.settings.value(LAST_READER, "") or win.settings.value("reader", "") or "")
    name, ok = QInputDialog.getText(win, "Reader study", "Your reader name (your answers are saved under it):",
                                    QLineEdit.EchoMode.Normal, default)
    if not ok:
        return None
    return open_reading(win, folder, name)


def open_reading(win, folder, reader: str) -> ReadingWindow | None:
    """The reading window of ``reader`` on the study in ``folder`` (its own, if already open); a bad
    folder or name is one line in the main window."""
    folder = Path(folder)
    try:
        name = check_reader(reader.strip(), folder)   # the API's own rule for names
        reading = ReaderSession(open_study(folder), name)
    except InputError as exc:
        win.show_error(str(exc))
        return None
    for w in win.findChildren(ReadingWindow):
        if w.isVisible() and w.session.answers_path == reading.answers_path:
            w.raise_()
            w.activateWindow()
            return w
    win.settings.setValue(LAST_FOLDER, str(folder))
    win.settings.setValue(LAST_READER, name)
    w = ReadingWindow(reading, win)
    w.show()
    w.activateWindow()
    return w


def scores_dialog(win) -> ScoresWindow | None:
    folder = QFileDialog.getExistingDirectory(win, "Scores of a reader study", _last_folder(win))
    if not folder:
        return None
    return show_scores(win, folder)


def show_scores(win, folder) -> ScoresWindow | None:
    try:
        open_study(folder)   # not a study: one line here, no window
    except InputError as exc:
        win.show_error(str(exc))
        return None
    w = ScoresWindow(folder, win)
    w.show()
    return w
