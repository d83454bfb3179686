"""Journey: open the demo dataset, browse with filters, step through images; a corrupt file shows why."""

import shutil

from PySide6.QtCore import QSettings

from spinegui.core.dataset.vindr import load_index
from spinegui.ui.main_window import MainWindow


def test_filters_and_stepping_through_images(qtbot, window, demo_root, tmp_path):
    index = load_index(demo_root)
    browser, viewer = window.browser, window.viewer
    assert browser.visible_count() == (24, 24)
    first = window.current
    assert viewer.image.image_id == first and viewer.image.synthetic  # the demo is marked SYNTHETIC

    # Filter to one lesion type: exactly the images with such a box, counted independently.
    expected = {r.image_id for r in index.images.values() if "Vertebral collapse" in r.labels}
    browser.lesion_box.setCurrentIndex(browser.lesion_box.findData("Vertebral collapse"))
    assert browser.visible_count()[0] == len(expected) > 0
    with qtbot.waitSignal(window.image_shown):
        browser.select_image(sorted(expected)[0])
    while browser.previous_image() is not None:  # to the first image in the browser's order
        pass
    seen = [browser.current_image()]
    while (nxt := browser.next_image()) is not None:
        seen.append(nxt)
        qtbot.waitUntil(lambda: viewer.image.image_id == nxt, timeout=5000)
    assert set(seen) == expected  # next_image walks the filtered images only

    # Test split only, then back to everything.
    browser.lesion_box.setCurrentIndex(0)
    browser.split_box.setCurrentIndex(browser.split_box.findData("test"))
    assert browser.visible_count()[0] == sum(r.split == "test" for r in index.images.values())
    browser.split_box.setCurrentIndex(0)
    assert browser.visible_count()[0] == 24

    # The viewer shows each image's boxes from the store.
    rec = next(r for r in index.images.values() if len(r.boxes) >= 1)
    with qtbot.waitSignal(window.image_shown):
        browser.select_image(rec.image_id)
    assert len(viewer.boxes.visible_uids()) == len(rec.boxes)
    window.grab().save(str(tmp_path / "e2e_browse.png"))


def test_corrupt_image_shows_its_reason_and_browsing_goes_on(qtbot, demo_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    index = load_index(root)
    bad, good = list(index.images.values())[:2]
    bad.path.write_bytes(b"\x00" * 512)  # not a DICOM any more
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, tmp_path / "ws")
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    win.show()
    win.open_dataset(root)
    win.browser.select_image(bad.image_id)
    qtbot.waitUntil(lambda: win.viewer.placeholder.isVisible(), timeout=10000)
    assert bad.path.name in win.viewer.placeholder.text()
    with qtbot.waitSignal(win.image_shown, timeout=10000):
        win.browser.select_image(good.image_id)
    assert win.viewer.image.image_id == good.image_id
    win.close()


def test_not_a_dataset_says_what_is_missing(qtbot, window, tmp_path):
    (tmp_path / "annotations").mkdir()
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    assert window.open_dataset(tmp_path) is False
    assert any("missing annotations/train.csv" in m for m in messages)
    assert window.index is not None and window.browser.visible_count()[1] == 24  # the old dataset stays


def test_boxes_shown_or_hidden_per_class_and_reader(qtbot, window, demo_root):
    index = load_index(demo_root)
    rec = next(r for r in index.images.values() if r.boxes)
    with qtbot.waitSignal(window.image_shown):
        window.browser.select_image(rec.image_id)
    viewer = window.viewer
    assert len(viewer.boxes.visible_uids()) == len(rec.boxes)
    hidden_type = rec.boxes[0].lesion_type
    window.actions[f"show_{hidden_type}"].trigger()  # untick it
    assert len(viewer.boxes.visible_uids()) == sum(b.lesion_type != hidden_type for b in rec.boxes)
    window.actions[f"show_{hidden_type}"].trigger()
    reader_actions = {a.text(): a for a in window.readers_menu.actions()}
    assert set(reader_actions) == {r for x in index.images.values() for r in x.readers}
    reader = rec.boxes[0].rad_id
    reader_actions[reader].trigger()
    assert len(viewer.boxes.visible_uids()) == sum(b.rad_id != reader for b in rec.boxes)


def test_reopening_keeps_the_last_edit(qtbot, window, demo_root):
    """Open the same dataset again right after an edit: the edit is on disk and in the new store."""
    uid = window.store.add_box(window.current, "Other lesions", (15, 25, 60, 90))
    image_id = window.current
    assert window.open_dataset(demo_root)
    assert window.store.annotations(image_id).box(uid) is not None
