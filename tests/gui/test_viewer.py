"""The radiology viewer, driven through real (synthetic) mouse and key events, offscreen."""

from __future__ import annotations

import shutil
import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QWheelEvent
from PySide6.QtWidgets import QApplication, QMainWindow

from mouse import NONE, RIGHT, click, drag, hover, source_px_per_screen_px
from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.vindr import LESION_TYPES, load_index
from spinegui.core.dataset.workspace import Workspace
from spinegui.core.dicom.display import Window
from spinegui.core.dicom.reader import read_image
from spinegui.ui.viewer.view import ImageViewer, ViewerImage


@pytest.fixture
def viewer(qtbot):
    v = ImageViewer()
    qtbot.addWidget(v)
    v.resize(900, 700)
    with qtbot.waitExposed(v):
        v.show()
    v.setFocus()
    return v


@pytest.fixture(scope="module")
def demo(demo_root):
    index = load_index(demo_root)
    rec = next(r for r in index.images.values() if r.boxes)
    return rec, read_image(rec.path)


def viewer_image(rec, img, scale=1.0, **kw) -> ViewerImage:
    pixels = img.pixels if scale == 1.0 else img.pixels[:: round(1 / scale), :: round(1 / scale)]
    return ViewerImage(rec.image_id, pixels, img.window, img.invert, scale, img.pixel_spacing, **kw)


@pytest.fixture
def store(demo_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    s = AnnotationStore(load_index(root), Workspace.for_dataset(root, tmp_path / "ws"), reader="tester",
                        autosave=False)
    yield s
    s.close()


# --- image and window/level -----------------------------------------------------------------------
def test_demo_image_window_level_drag_changes_pixels(qtbot, viewer, demo, tmp_path):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img))
    before = viewer.rendered_image()
    assert before.shape == img.pixels.shape and before.dtype == np.uint8 and before.std() > 10
    start = viewer.window
    windows = []
    viewer.window_changed.connect(windows.append)
    # right-drag: 120 px right (wider) and 80 px down (higher centre)
    a = viewer.map_to_viewport(200, 300)
    step = source_px_per_screen_px(viewer)
    drag(qtbot, viewer, (200, 300), (200 + 120 * step, 300 + 80 * step), button=RIGHT)
    assert windows, "no window_changed during the drag"
    end = viewer.window
    assert end.width > start.width and end.center > start.center and end.source == "user"
    after = viewer.rendered_image()
    assert np.mean(after != before) > 0.5
    # the view did not move: right-drag is window/level, not zoom
    assert viewer.map_to_viewport(200, 300) == a
    viewer.grab().save(str(tmp_path / "viewer_wl_drag.png"))

    viewer.reset_window()
    assert viewer.window == img.window
    np.testing.assert_array_equal(viewer.rendered_image(), before)


def test_invert_flips_rendered_pixels(qtbot, viewer, demo):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img))
    normal = viewer.rendered_image().astype(int)
    qtbot.keyClick(viewer, Qt.Key.Key_I)
    assert viewer.inverted
    inverted = viewer.rendered_image().astype(int)
    assert np.abs(inverted + normal - 255).max() <= 1
    viewer.set_invert(False)
    np.testing.assert_array_equal(viewer.rendered_image(), normal)


def test_keys_auto_window_and_presets(qtbot, viewer, demo):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img))
    qtbot.keyClick(viewer, Qt.Key.Key_A)
    assert viewer.window.source == "percentile"
    seen = {}
    for name in ("Default (DICOM)", "Auto (percentiles)", "Bone", "Soft tissue", "Full range"):
        viewer.apply_preset(name)
        seen[name] = viewer.window
    assert seen["Default (DICOM)"] == img.window
    assert seen["Bone"].center > seen["Soft tissue"].center
    assert seen["Full range"].lower == float(img.pixels.min())
    with pytest.raises(ValueError):
        viewer.apply_preset("Lung")
    qtbot.keyClick(viewer, Qt.Key.Key_R)
    assert viewer.window == img.window


def test_zoom_and_pan_keys(qtbot, viewer, demo):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img))
    fit = source_px_per_screen_px(viewer)
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    assert source_px_per_screen_px(viewer) < fit
    qtbot.keyClick(viewer, Qt.Key.Key_1)
    assert source_px_per_screen_px(viewer) == pytest.approx(1.0, abs=0.02)
    before = viewer.map_to_viewport(100, 100)
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.map_to_viewport(100, 100).x() > before.x()  # the image moves right
    qtbot.keyClick(viewer, Qt.Key.Key_0)
    assert source_px_per_screen_px(viewer) == pytest.approx(fit, rel=0.02)


def test_wheel_zooms_around_the_cursor(qtbot, viewer, demo):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img))
    fit = source_px_per_screen_px(viewer)
    at = viewer.map_to_viewport(150, 400)
    ev = QWheelEvent(QPointF(at), QPointF(viewer.viewport.mapToGlobal(at)), QPoint(0, 0), QPoint(0, 240),
                     NONE, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewer.viewport, ev)
    assert source_px_per_screen_px(viewer) < 0.8 * fit  # zoomed in ...
    after = viewer.map_to_viewport(150, 400)
    assert abs(after.x() - at.x()) <= 2 and abs(after.y() - at.y()) <= 2  # ... around the cursor


def test_keep_view_when_full_resolution_replaces_cached(qtbot, viewer, demo):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img, scale=0.5))
    assert viewer.source_size() == pytest.approx((img.pixels.shape[1], img.pixels.shape[0]), abs=2)
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    viewer.set_window(Window(1000.0, 500.0))
    where = viewer.map_to_viewport(150, 250)
    viewer.set_image(viewer_image(rec, img), keep_view=True)
    assert viewer.map_to_viewport(150, 250) == where
    assert viewer.window == Window(1000.0, 500.0)
    assert viewer.rendered_image().shape == img.pixels.shape


# --- cursor readout -------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_cursor_info_reports_source_pixel_and_value(qtbot, viewer, scale):
    rows, cols = 200, 300  # source size; value = 300 * y + x in source pixels
    ys, xs = np.mgrid[0:rows, 0:cols]
    src = (cols * ys + xs).astype(np.uint16)
    step = round(1 / scale)
    viewer.set_image(ViewerImage("syn", src[::step, ::step], Window(30000, 60000), False, scale, (0.5, 0.25)))
    infos = []
    viewer.cursor_info.connect(infos.append)
    hover(qtbot, viewer, (120.5, 70.5))
    x, y = 120, 70
    value = cols * (y // step * step) + x // step * step  # the reduced image holds every step-th pixel
    assert infos[-1] == f"x {x}  y {y}  value {value}  ({x * 0.25:.1f}, {y * 0.5:.1f} mm)"
    hover(qtbot, viewer, (-40, 70))  # left of the image
    assert infos[-1] == ""


def test_cursor_info_float_image_without_spacing(viewer):
    px = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    viewer.set_image(ViewerImage("f", px, Window.from_range(0, 1), False))
    assert viewer.describe(2.5, 1.5) == f"x 2  y 1  value {float(px[1, 2]):.6g}"
    assert viewer.describe(4.0, 1.0) == ""


# --- boxes ----------------------------------------------------------------------------------------
def test_draw_move_resize_relabel_delete_undo(qtbot, viewer, demo, store, tmp_path):
    rec, img = demo
    viewer.set_store(store)
    viewer.set_image(viewer_image(rec, img, scale=0.5))  # a reduced image: boxes still in source pixels
    viewer.show_boxes(rec.image_id)
    n0 = len(store.boxes(rec.image_id))
    assert len(viewer.boxes.visible_uids()) == n0
    tol = 2 * source_px_per_screen_px(viewer)
    selected = []
    viewer.box_selected.connect(selected.append)

    qtbot.keyClick(viewer, Qt.Key.Key_B)
    assert viewer.boxes.drawing
    drag(qtbot, viewer, (100, 200), (300, 420))
    boxes = store.boxes(rec.image_id)
    assert len(boxes) == n0 + 1 and not viewer.boxes.drawing
    new = boxes[-1]
    assert new.lesion_type == "Osteophytes" and new.rad_id == "tester"
    assert new.xyxy == pytest.approx((100, 200, 300, 420), abs=tol)
    assert selected[-1] == new.uid and viewer.boxes.selected_uid == new.uid
    viewer.grab().save(str(tmp_path / "viewer_drawn_box.png"))

    # move by the body: one undo step
    x0, y0, x1, y1 = new.xyxy
    drag(qtbot, viewer, ((x0 + x1) / 2, (y0 + y1) / 2), ((x0 + x1) / 2 + 60, (y0 + y1) / 2 + 40))
    moved = store.annotations(rec.image_id).box(new.uid)
    assert moved.xyxy == pytest.approx((x0 + 60, y0 + 40, x1 + 60, y1 + 40), abs=tol)
    assert store.undo_text == "Undo move box"
    store.undo()
    assert store.annotations(rec.image_id).box(new.uid).xyxy == new.xyxy
    store.redo()

    # resize by the bottom-right handle: one undo step
    mx0, my0, mx1, my1 = moved.xyxy
    drag(qtbot, viewer, (mx1, my1), (mx1 + 50, my1 + 30))
    resized = store.annotations(rec.image_id).box(new.uid)
    assert resized.xyxy == pytest.approx((mx0, my0, mx1 + 50, my1 + 30), abs=tol)
    assert store.undo_text == "Undo resize box"
    # ... and by the left edge handle
    drag(qtbot, viewer, (mx0, (my0 + my1 + 30) / 2), (mx0 - 40, (my0 + my1 + 30) / 2))
    assert store.annotations(rec.image_id).box(new.uid).xyxy[0] == pytest.approx(mx0 - 40, abs=tol)
    store.undo()

    qtbot.wait(5)  # the store's (queued) notification redraws the item
    assert viewer.boxes.item(new.uid).xyxy == pytest.approx(resized.xyxy)

    # number keys relabel the selected box (and set the type of the next one)
    qtbot.keyClick(viewer, Qt.Key.Key_3)
    assert store.annotations(rec.image_id).box(new.uid).lesion_type == LESION_TYPES[2]
    assert viewer.boxes.draw_type == LESION_TYPES[2]
    qtbot.wait(5)
    viewer.grab().save(str(tmp_path / "viewer_selected_box.png"))

    qtbot.keyClick(viewer, Qt.Key.Key_Delete)
    assert store.annotations(rec.image_id).box(new.uid) is None
    assert new.uid not in viewer.boxes.visible_uids() and selected[-1] == ""
    store.undo()
    qtbot.wait(5)
    assert store.annotations(rec.image_id).box(new.uid) is not None
    assert new.uid in viewer.boxes.visible_uids()


def test_number_keys_win_over_window_shortcuts_when_a_box_is_selected(qtbot, demo, store):
    rec, img = demo
    win = QMainWindow()
    qtbot.addWidget(win)
    viewer = ImageViewer()
    win.setCentralWidget(viewer)
    fired = []
    action = QAction("Actual size", win)
    action.setShortcut(QKeySequence("1"))
    action.triggered.connect(lambda: fired.append(1))
    win.addAction(action)
    win.resize(800, 600)
    with qtbot.waitActive(win):  # window shortcuts need the active window
        win.show()
        win.activateWindow()
    viewer.setFocus()
    viewer.set_store(store)
    viewer.set_image(viewer_image(rec, img))
    viewer.show_boxes(rec.image_id)
    qtbot.keyClick(viewer, Qt.Key.Key_1)
    assert fired == [1]  # nothing selected: the window's shortcut
    uid = store.boxes(rec.image_id)[0].uid
    viewer.select_box(uid)
    qtbot.keyClick(viewer, Qt.Key.Key_2)
    qtbot.keyClick(viewer, Qt.Key.Key_1)
    assert fired == [1] and store.annotations(rec.image_id).box(uid).lesion_type == LESION_TYPES[0]
    assert store.undo_text == "Undo change lesion type"


def test_click_selects_and_escape_deselects(qtbot, viewer, demo, store):
    rec, img = demo
    viewer.set_store(store)
    viewer.set_image(viewer_image(rec, img))
    viewer.show_boxes(rec.image_id)
    box = store.boxes(rec.image_id)[0]
    x0, y0, x1, y1 = box.xyxy
    click(qtbot, viewer, ((x0 + x1) / 2, (y0 + y1) / 2))
    assert viewer.boxes.selected_uid == box.uid
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert viewer.boxes.selected_uid == ""
    # dragging an unselected box pans instead of moving it
    where = viewer.map_to_viewport(x0, y0)
    drag(qtbot, viewer, ((x0 + x1) / 2, (y0 + y1) / 2), ((x0 + x1) / 2 + 80, (y0 + y1) / 2))
    assert store.boxes(rec.image_id)[0].xyxy == box.xyxy
    assert viewer.map_to_viewport(x0, y0).x() > where.x() + 40


def test_store_refusal_becomes_a_message(qtbot, viewer, demo, demo_root, tmp_path):
    rec, img = demo
    s = AnnotationStore(load_index(demo_root), Workspace.for_dataset(demo_root, tmp_path / "ws"), autosave=False)
    viewer.set_store(s)  # no reader: every edit is refused
    viewer.set_image(viewer_image(rec, img))
    messages = []
    viewer.message.connect(messages.append)
    qtbot.keyClick(viewer, Qt.Key.Key_B)
    drag(qtbot, viewer, (100, 200), (250, 300))
    assert messages and "reader" in messages[-1]
    assert len(s.boxes(rec.image_id)) == len(rec.boxes) == len(viewer.boxes.visible_uids())
    s.close()


def test_store_change_from_another_thread_redraws(qtbot, viewer, demo, store):
    rec, img = demo
    viewer.set_store(store)
    viewer.set_image(viewer_image(rec, img))
    viewer.show_boxes(rec.image_id)
    n = len(viewer.boxes.visible_uids())
    t = threading.Thread(target=store.add_box, args=(rec.image_id, "Vertebral collapse", (10, 10, 60, 60)))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(viewer.boxes.visible_uids()) == n + 1, timeout=2000)


def test_visibility_filters(qtbot, viewer, demo, store):
    rec, img = demo
    viewer.set_store(store)
    viewer.set_image(viewer_image(rec, img))
    own = store.add_box(rec.image_id, "Surgical implant", (20, 30, 120, 160))
    qtbot.wait(5)
    viewer.show_boxes(rec.image_id)
    original = [b.uid for b in store.boxes(rec.image_id) if b.uid != own]
    assert set(viewer.boxes.visible_uids()) == set(original) | {own}
    viewer.set_visible(readers={"tester"})
    assert viewer.boxes.visible_uids() == [own]
    others = {b.lesion_type for b in store.boxes(rec.image_id) if b.uid != own}
    viewer.set_visible(classes={"Surgical implant"} - others)
    assert viewer.boxes.visible_uids() == [own]
    viewer.select_box(own)
    viewer.set_visible(classes={"Osteophytes"} - {"Surgical implant"}, readers=set())
    assert viewer.boxes.visible_uids() == [] and viewer.boxes.selected_uid == ""
    viewer.set_visible()
    assert len(viewer.boxes.visible_uids()) == len(original) + 1


def test_read_only_without_store(qtbot, viewer, demo):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img))
    messages = []
    viewer.message.connect(messages.append)
    qtbot.keyClick(viewer, Qt.Key.Key_B)
    assert not viewer.boxes.drawing and messages


# --- badge and placeholder ------------------------------------------------------------------------
def test_synthetic_badge_only_when_synthetic(qtbot, viewer, demo, tmp_path):
    rec, img = demo
    viewer.set_image(viewer_image(rec, img, synthetic=False, title="real"))
    assert not viewer.badge.isVisible()
    viewer.set_image(viewer_image(rec, img, synthetic=True, title="GAN sample, class Osteophytes"))
    qtbot.wait(5)
    assert viewer.badge.isVisible() and viewer.badge.text() == "SYNTHETIC"
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    assert viewer.badge.isVisible() and viewer.badge.pos().x() < 20 and viewer.badge.pos().y() < 20
    viewer.grab().save(str(tmp_path / "viewer_synthetic.png"))


def test_placeholder_shows_the_reason_and_browsing_goes_on(qtbot, viewer, demo, tmp_path):
    rec, img = demo
    infos = []
    viewer.cursor_info.connect(infos.append)
    viewer.set_placeholder("x.dicom: cannot read this file: truncated JPEG 2000 stream")
    assert viewer.placeholder.isVisible()
    assert "truncated JPEG 2000 stream" in viewer.placeholder.text()
    assert viewer.image is None and viewer.rendered_image().size == 0
    qtbot.keyClick(viewer, Qt.Key.Key_I)  # keys do nothing, and do not fail
    viewer.grab().save(str(tmp_path / "viewer_placeholder.png"))
    viewer.set_image(viewer_image(rec, img))
    assert not viewer.placeholder.isVisible() and viewer.rendered_image().size > 0


def test_bad_array_becomes_placeholder(viewer):
    viewer.set_image(ViewerImage("bad", np.zeros((2, 3, 4), np.uint16), Window(1, 2), False))
    assert viewer.placeholder.isVisible() and "shape" in viewer.placeholder.text()


# --- the Qt binding itself ------------------------------------------------------------------------
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="True and None are immortal from Python 3.12")
def test_qt_binding_signal_emit_keeps_refcounts():
    """PySide6 6.12.0 drops a reference to True on every Signal.emit() (6.11.3 does not). On Python 3.11
    the interpreter then aborts ("bool_dealloc" / "none_dealloc") after a few thousand signals: about
    8000 mouse moves over the viewer, or the end of bench_viewer.py. Pin PySide6-Essentials != 6.12.0."""

    class Emitter(QObject):
        sig = Signal()

    e = Emitter()
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(50):
        e.sig.emit()
    lost = max(before_true - sys.getrefcount(True), before_none - sys.getrefcount(None))
    import PySide6

    assert lost < 25, f"PySide6 {PySide6.__version__} loses a True/None reference per Signal.emit()"
