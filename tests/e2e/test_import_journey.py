"""Journey: export from the File menu, edit, import the export back from the menu: the exported
annotations return as ONE undoable edit; a folder that is not an export shows an error and changes nothing."""

import pytest
from PySide6.QtWidgets import QFileDialog

from spinegui.core.annotations.exports import FORMATS


def content(ann):
    return sorted((b.lesion_type, b.rad_id) + b.xyxy for b in ann.boxes), ann.no_finding


def assert_same(got, want):
    (gboxes, gnf), (wboxes, wnf) = content(got), content(want)
    assert gnf == wnf and len(gboxes) == len(wboxes)
    for g, w in zip(gboxes, wboxes):
        assert g[:2] == w[:2] and g[2:] == pytest.approx(w[2:], abs=1e-3)


def choose_folder(monkeypatch, folder):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_from_the_menu_restores_an_export_in_one_undo(qtbot, window, tmp_path, monkeypatch, fmt):
    store = window.store
    out = tmp_path / f"export_{fmt}"
    choose_folder(monkeypatch, out)
    window.actions[f"export_{fmt}"].trigger()
    exported = {img.image_id: img.ann for img in store.snapshot()}
    assert out.is_dir() and any(out.rglob("*"))

    # edits: every box of one image deleted, a box added to another
    emptied = next(i for i, ann in exported.items() if len(ann.boxes) >= 2)
    for box in store.boxes(emptied):
        store.delete_box(emptied, box.uid)
    added_to = next(i for i in exported if i != emptied)
    uid = store.add_box(added_to, "Surgical implant", (30.5, 40.25, 130.75, 240.5))
    edited = {img.image_id: img.ann for img in store.snapshot()}
    assert store.boxes(emptied) == () and store.annotations(added_to).box(uid) is not None

    window.actions[f"import_{fmt}"].trigger()
    for image_id, ann in exported.items():
        assert_same(store.annotations(image_id), ann)
    message = window.statusBar().currentMessage()
    assert message.startswith("imported") and str(out) in message and "2 image(s) changed" in message
    assert window.actions["undo"].isEnabled() and window.actions["undo"].text().startswith("Undo import")

    window.actions["undo"].trigger()  # ONE undo brings both edits back
    assert {img.image_id: img.ann for img in store.snapshot()} == edited
    assert store.undo_text == "Undo add box"
    window.actions["redo"].trigger()
    for image_id, ann in exported.items():
        assert_same(store.annotations(image_id), ann)


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_from_a_folder_that_is_not_an_export_changes_nothing(qtbot, window, tmp_path, monkeypatch, fmt):
    store = window.store
    store.add_box(window.current, "Osteophytes", (10, 20, 110, 140))
    before, undo_text = store.snapshot(), store.undo_text
    bad = tmp_path / "not an export"
    bad.mkdir()
    (bad / "notes.txt").write_text("hello\n")
    choose_folder(monkeypatch, bad)
    window.actions[f"import_{fmt}"].trigger()
    message = window.statusBar().currentMessage()
    assert str(bad) in message and not message.startswith("imported")
    assert store.snapshot() == before and store.undo_text == undo_text and not store.can_redo
