"""Journey: draw, move, relabel and delete boxes in the window, with undo and redo from the Edit menu."""

import json

import pytest
from PySide6.QtCore import Qt

from mouse import RIGHT, drag, source_px_per_screen_px
from spinegui.core.annotations.overlay import edits_path
from spinegui.core.dataset.vindr import LESION_TYPES


def test_draw_move_relabel_delete_with_undo_redo(qtbot, window, tmp_path):
    store, viewer = window.store, window.viewer
    image_id = window.current
    n0 = len(store.boxes(image_id))
    tol = 2 * source_px_per_screen_px(viewer)

    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_B)
    drag(qtbot, viewer, (60, 120), (220, 300))
    boxes = store.boxes(image_id)
    assert len(boxes) == n0 + 1
    new = boxes[-1]
    assert new.xyxy == pytest.approx((60, 120, 220, 300), abs=tol) and new.rad_id == "tester"
    window.grab().save(str(tmp_path / "e2e_annotate_drawn.png"))

    drag(qtbot, viewer, (140, 210), (180, 250))  # move by the body
    moved = store.annotations(image_id).box(new.uid).xyxy
    assert moved == pytest.approx((100, 160, 260, 340), abs=tol)

    qtbot.keyClick(viewer, Qt.Key.Key_5)  # relabel with a number key
    assert store.annotations(image_id).box(new.uid).lesion_type == LESION_TYPES[4]
    # The annotation panel follows.
    panel = window.annotation_panel.boxes
    qtbot.waitUntil(lambda: any(LESION_TYPES[4] in panel.item(i).text() for i in range(panel.count())), timeout=2000)

    qtbot.keyClick(viewer, Qt.Key.Key_Delete)
    assert store.annotations(image_id).box(new.uid) is None

    undo, redo = window.actions["undo"], window.actions["redo"]
    qtbot.waitUntil(lambda: undo.text() == "Undo delete box", timeout=2000)
    undo.trigger()
    assert store.annotations(image_id).box(new.uid).lesion_type == LESION_TYPES[4]
    undo.trigger()
    assert store.annotations(image_id).box(new.uid).lesion_type == "Osteophytes"
    undo.trigger()
    assert store.annotations(image_id).box(new.uid).xyxy == new.xyxy
    redo.trigger()
    assert store.annotations(image_id).box(new.uid).xyxy == moved
    qtbot.waitUntil(lambda: redo.text() == "Redo change lesion type", timeout=2000)

    # Edits reach the workspace (never the dataset) within 2 s, and the status bar says so.
    path = edits_path(window.store.workspace.path)
    qtbot.waitUntil(lambda: path.exists() and new.uid in path.read_text(), timeout=2500)
    json.loads(path.read_text())
    qtbot.waitUntil(lambda: window.save_label.text() == "saved", timeout=3000)


def test_window_level_drag_changes_the_rendered_pixels(qtbot, window):
    viewer = window.viewer
    before, w0 = viewer.rendered_image().copy(), viewer.window
    drag(qtbot, viewer, (100, 300), (400, 150), button=RIGHT)
    assert viewer.window != w0
    after = viewer.rendered_image()
    assert before.shape == after.shape and (before != after).mean() > 0.2
    assert "W " in window.window_label.text()


def test_undo_jumps_to_the_image_it_changes(qtbot, window):
    store, browser = window.store, window.browser
    first = window.current
    n0 = len(store.boxes(first))
    store.add_box(first, "Osteophytes", (10, 10, 50, 50))
    other = browser.next_image()
    qtbot.waitUntil(lambda: window.current == other, timeout=3000)
    window.actions["undo"].trigger()
    assert window.current == first and len(store.boxes(first)) == n0
    assert window.viewer.image.image_id == first
