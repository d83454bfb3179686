"""Journey: the workspace cannot be written: edits stay in memory, the window says so, and the user
saves them to another folder; quitting with unsaved edits asks first."""

import json
import shutil

from PySide6.QtWidgets import QFileDialog, QMessageBox

from spinegui.core.annotations.overlay import edits_path


def test_edits_survive_an_unwritable_workspace(qtbot, window, tmp_path, monkeypatch):
    store = window.store
    annotations_dir = store.edits_path.parent
    shutil.rmtree(annotations_dir, ignore_errors=True)
    annotations_dir.write_text("a file where the annotations folder should be")  # writes now fail
    uid = store.add_box(window.current, "Foraminal stenosis", (20, 30, 120, 130))
    qtbot.waitUntil(lambda: window.save_label.text() == "NOT SAVED", timeout=5000)
    assert store.last_save_error and str(annotations_dir) in store.last_save_error
    assert store.annotations(window.current).box(uid) is not None  # kept in memory

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(elsewhere))
    window.actions["save_elsewhere"].trigger()
    saved = json.loads(edits_path(elsewhere).read_text())
    assert uid in json.dumps(saved)
    qtbot.waitUntil(lambda: window.save_label.text() == "saved", timeout=5000)


def test_quitting_with_unsaved_edits_asks(qtbot, window, monkeypatch):
    store = window.store
    annotations_dir = store.edits_path.parent
    shutil.rmtree(annotations_dir, ignore_errors=True)
    annotations_dir.write_text("not a folder")
    store.add_box(window.current, "Other lesions", (5, 5, 50, 50))
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel)
    assert window.close() is False  # cancelled: the window stays, with the edits
    assert asked and window.store is not None and store.dirty
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert window.close() is True
