"""The study browser panel (pytest-qt, offscreen): counts, filters, search, sorting, walking the order,
edits through the store, thumbnails from the cache, and screenshots to look at (/tmp/browser_*.png).

Expectations are computed from the index (or the CSV), never from the panel's own model."""

import csv
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QIcon

from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import LESION_TYPES, NO_FINDING, Box, ImageRecord, VinDrIndex, load_index
from spinegui.core.dataset.workspace import Workspace
from spinegui.ui.browser.model import BOX_COL, ID_COL, LESION_COL, STATE_COL, ImageIdRole, LabelsRole, StudyIdRole
from spinegui.ui.browser.panel import StudyBrowser

TEST_STUDIES = 2  # studies moved to the test split, so that the split filter has two sides


@pytest.fixture(scope="module")
def root(demo_root, tmp_path_factory):
    """The demo dataset with its last studies moved into the test split (a copy: demo_root is shared)."""
    root = tmp_path_factory.mktemp("browser") / "vindr"
    shutil.copytree(demo_root, root)
    with open(root / "annotations" / "train.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    studies = list(dict.fromkeys(r[0] for r in rows))[-TEST_STUDIES:]
    train = [r for r in rows if r[0] not in studies]
    test = [r for r in rows if r[0] in studies]
    for name, part in (("train", train), ("test", test)):
        with open(root / "annotations" / f"{name}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([header] + part)
    for image_id in {r[2] for r in test}:
        shutil.move(root / "train_images" / f"{image_id}.dicom", root / "test_images" / f"{image_id}.dicom")
    return root


@pytest.fixture
def index(root):
    idx = load_index(root)
    assert not [p for p in idx.problems if p.severity == "error"]
    return idx


@pytest.fixture
def store(index, root, tmp_path):
    s = AnnotationStore(index, Workspace.for_dataset(root, tmp_path / "ws"), reader="tester", autosave=False)
    yield s
    s.close()


@pytest.fixture
def browser(qtbot, index, store):
    b = StudyBrowser(index, store)
    qtbot.addWidget(b)
    b.resize(900, 700)
    b.show()
    qtbot.waitExposed(b)
    return b


def shown(browser) -> list[str]:
    """Image ids the view shows, in order (walks the proxy: studies, then their images)."""
    proxy, out = browser.proxy, []
    for s in range(proxy.rowCount()):
        study = proxy.index(s, 0)
        out += [proxy.index(r, 0, study).data(ImageIdRole) for r in range(proxy.rowCount(study))]
    return out


def shown_studies(browser) -> list[str]:
    return [browser.proxy.index(s, 0).data(StudyIdRole) for s in range(browser.proxy.rowCount())]


def choose(box, value):
    i = box.findData(value)
    assert i >= 0, value
    box.setCurrentIndex(i)


# --- counts and filters ---------------------------------------------------------------------------
def test_counts_match_the_index(browser, index):
    n_studies = len({r.study_id for r in index.images.values()})
    assert browser.visible_count() == (len(index.images), len(index.images))
    assert sorted(shown(browser)) == sorted(index.images)
    assert len(shown_studies(browser)) == n_studies
    assert browser.counts_label.text() == f"{len(index.images)} of {len(index.images)} images · {n_studies} studies"


@pytest.mark.parametrize("lesion", LESION_TYPES + (NO_FINDING,))
def test_lesion_filter_narrows_to_exactly_those_images(browser, index, lesion):
    choose(browser.lesion_box, lesion)
    expected = {r.image_id for r in index.images.values()
                if lesion in {b.lesion_type for b in r.boxes} or (lesion == NO_FINDING and not r.boxes)}
    assert expected and set(shown(browser)) == expected
    # Study rows: exactly the studies of those images, and the counts line says so.
    studies = {index.images[i].study_id for i in expected}
    assert set(shown_studies(browser)) == studies
    assert browser.visible_count() == (len(expected), len(index.images))
    assert browser.counts_label.text().startswith(
        f"{len(expected)} of {len(index.images)} images · {len(studies)} stud")
    # Every row's chips show the chosen class.
    proxy = browser.proxy
    for s in range(proxy.rowCount()):
        study = proxy.index(s, 0)
        for r in range(proxy.rowCount(study)):
            assert lesion in proxy.index(r, LESION_COL, study).data(LabelsRole)


def test_split_finding_reader_and_combined_filters(browser, index):
    imgs = list(index.images.values())
    choose(browser.split_box, "test")
    assert set(shown(browser)) == {r.image_id for r in imgs if r.split == "test"} != set()
    choose(browser.split_box, "train")
    assert set(shown(browser)) == {r.image_id for r in imgs if r.split == "train"}
    choose(browser.finding_box, "normal")
    assert set(shown(browser)) == {r.image_id for r in imgs if r.split == "train" and not r.boxes} != set()
    browser.clear_button.click()
    assert len(shown(browser)) == len(imgs)
    choose(browser.finding_box, "abnormal")
    assert set(shown(browser)) == {r.image_id for r in imgs if r.boxes}
    choose(browser.finding_box, None)
    choose(browser.reader_box, "rad3")
    assert set(shown(browser)) == {r.image_id for r in imgs if "rad3" in r.readers} != set()


def test_search_by_id_prefix(browser, index, qtbot):
    rec = list(index.images.values())[5]
    for prefix, expected in (
        (rec.study_id[:7], {r.image_id for r in index.images.values() if r.study_id.startswith(rec.study_id[:7])}),
        (rec.series_id[:9].upper(), {r.image_id for r in index.images.values()
                                     if r.series_id.startswith(rec.series_id[:9])}),
        (rec.image_id[:12], {r.image_id for r in index.images.values() if r.image_id.startswith(rec.image_id[:12])}),
    ):
        qtbot.keyClicks(browser.search_edit, prefix)  # typing: the filter runs once the user pauses
        qtbot.waitUntil(lambda expected=expected: set(shown(browser)) == expected, timeout=2000)
        assert rec.image_id in expected
        browser.search_edit.clear()
        qtbot.waitUntil(lambda: len(shown(browser)) == len(index.images), timeout=2000)
    browser.search_edit.setText("nothing-starts-like-this")
    qtbot.waitUntil(lambda: browser.visible_count()[0] == 0, timeout=2000)
    assert browser.counts_label.text().startswith("0 of ")


# --- sorting ----------------------------------------------------------------------------------------
def click_header(qtbot, browser, col):
    header = browser.view.header()
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(col) + 10, header.height() // 2))


def test_sorting_by_box_count_by_clicking_the_header(browser, index, store, qtbot):
    # Give the boxes column some spread: one image gets three more boxes.
    some = list(index.images)[3]
    for k in range(3):
        store.add_box(some, "Osteophytes", (10 + k, 10, 40 + k, 40))
    browser.refresh_image(some)
    boxes = {i: len(store.boxes(i)) for i in index.images}
    study_total = {}
    for i, n in boxes.items():
        study_total[index.images[i].study_id] = study_total.get(index.images[i].study_id, 0) + n

    def check(descending):
        order = shown(browser)
        totals = [study_total[s] for s in shown_studies(browser)]
        assert totals == sorted(totals, reverse=descending)
        for s in shown_studies(browser):  # images sorted within each study
            per = [boxes[i] for i in order if index.images[i].study_id == s]
            assert per == sorted(per, reverse=descending)
        assert sorted(order) == sorted(index.images)

    click_header(qtbot, browser, BOX_COL)
    check(descending=False)
    assert shown_studies(browser)[-1] == index.images[some].study_id
    click_header(qtbot, browser, BOX_COL)
    check(descending=True)
    assert shown(browser)[0] == some
    click_header(qtbot, browser, BOX_COL)  # third click: back to the dataset's order
    assert shown(browser) == list(index.images)


# --- the current image ------------------------------------------------------------------------------
def test_next_previous_walk_the_filtered_order_across_studies(browser, index, qtbot):
    choose(browser.finding_box, "abnormal")
    expected = [i for i in index.images if index.images[i].boxes]  # dataset order, studies contiguous
    assert len({index.images[i].study_id for i in expected}) > 3
    seen = []
    browser.image_selected.connect(seen.append)
    walked = []
    while (nxt := browser.next_image()) is not None:
        walked.append(nxt)
        assert browser.current_image() == nxt
        assert browser.view.currentIndex().data(ImageIdRole) == nxt  # the view follows
    assert walked == expected and seen == expected
    assert browser.next_image() is None and browser.current_image() == expected[-1]
    back = []
    while (prev := browser.previous_image()) is not None:
        back.append(prev)
    assert back == expected[-2::-1]
    assert browser.neighbours(expected[2], 2) == [expected[3], expected[1], expected[4], expected[0]]
    assert browser.neighbours(expected[0], 1) == [expected[1]]
    assert browser.neighbours("no-such-image") == []
    # Walking into a folded study unfolds it, so the current row is on screen.
    view, proxy = browser.view, browser.proxy
    last_study = proxy.index(proxy.rowCount() - 1, 0)
    view.collapse(last_study)
    while browser.next_image() is not None:
        pass
    assert view.isExpanded(last_study) and view.currentIndex().parent() == last_study


def test_walk_follows_the_sort_order(browser, index, qtbot):
    click_header(qtbot, browser, ID_COL)
    click_header(qtbot, browser, ID_COL)  # descending ids
    walked = []
    while (nxt := browser.next_image()) is not None:
        walked.append(nxt)
    assert walked == shown(browser)
    studies = [index.images[i].study_id for i in walked]
    assert list(dict.fromkeys(studies)) == sorted(set(studies), reverse=True)


def test_select_image_and_keyboard(browser, index, qtbot):
    ids = list(index.images)
    with qtbot.waitSignal(browser.image_selected) as sig:
        browser.select_image(ids[4])
    assert sig.args == [ids[4]] and browser.current_image() == ids[4]
    browser.view.setFocus()
    with qtbot.waitSignal(browser.image_selected) as sig:
        qtbot.keyClick(browser.view, Qt.Key.Key_Down)  # ids[5] is ids[4]'s sibling (2 images a study)
    assert sig.args == [ids[5]]
    # Selecting the same image again says nothing; a filtered-out current image stays current.
    with qtbot.assertNotEmitted(browser.image_selected):
        browser.select_image(ids[5])
        browser.search_edit.setText(ids[0][:10])
        qtbot.waitUntil(lambda: browser.visible_count()[0] < len(ids))
    assert browser.current_image() == ids[5]
    assert not browser.view.currentIndex().isValid()
    assert browser.next_image() is None or browser.current_image() != ids[5]


# --- edits through the store ------------------------------------------------------------------------
def test_an_edit_shows_under_the_filter_and_as_edited(browser, index, store, qtbot, tmp_path):
    normal = next(i for i, r in index.images.items() if not r.boxes)
    choose(browser.lesion_box, "Vertebral collapse")
    before = set(shown(browser))
    assert normal not in before
    store.listeners.append(browser.refresh_image)
    store.add_box(normal, "Vertebral collapse", (20, 30, 120, 90))
    assert set(shown(browser)) == before | {normal}
    row = browser.proxy.mapFromSource(browser.model.source_index(normal))
    assert browser.view.isExpanded(row.parent())  # its study just appeared, unfolded
    assert browser.visible_count()[0] == len(before) + 1
    idx = browser.proxy.mapFromSource(browser.model.source_index(normal, STATE_COL))
    assert "edited" in idx.data()
    assert "Vertebral collapse" in idx.siblingAtColumn(LESION_COL).data(LabelsRole)
    assert idx.siblingAtColumn(BOX_COL).data() == 1
    choose(browser.lesion_box, None)
    choose(browser.state_box, "edited")
    assert shown(browser) == [normal]
    assert browser.reader_box.findData("tester") >= 0
    browser.grab().save(str(tmp_path / "browser_edited_filter.png"))
    store.undo()  # back to the dataset's annotations: no longer edited, filtered out again
    assert shown(browser) == []
    assert browser.counts_label.text().startswith("0 of")
    browser.grab().save(str(tmp_path / "browser_empty.png"))


# --- thumbnails ---------------------------------------------------------------------------------------
def test_thumbnails_load_after_a_cache_build_and_failures_show_their_reason(qtbot, index, root, tmp_path):
    bad = list(index.images)[1]
    bad_root = tmp_path / "copy"
    shutil.copytree(root, bad_root)
    idx = load_index(bad_root)
    (idx.images[bad].path).write_bytes(b"not a dicom file at all" * 100)
    cache = ImageCache(tmp_path / "cache")
    b = StudyBrowser(idx, None, cache)  # an empty cache: placeholders
    qtbot.addWidget(b)
    b.resize(900, 720)
    b.show()
    qtbot.waitExposed(b)
    first = list(idx.images)[0]
    src = b.model.source_index(first)
    assert b.model.data(src, Qt.ItemDataRole.DecorationRole) is b.thumbnails.placeholder
    assert "Not in the cache" in b.model.data(src, Qt.ItemDataRole.ToolTipRole)

    cache.build([(r.image_id, r.path) for r in idx.images.values()], train_size=64, workers=1)
    b.thumbnails_updated(list(idx.images))
    visible = b._visible_image_ids()
    assert first in visible and bad in visible
    qtbot.waitUntil(lambda: all(b.thumbnails.is_loaded(i) for i in visible if i != bad), timeout=5000)
    icon = b.model.data(src, Qt.ItemDataRole.DecorationRole)
    assert isinstance(icon, QIcon) and icon is not b.thumbnails.placeholder
    pm = icon.pixmap(48, 48)
    assert pm.width() == 48
    img = pm.toImage().convertToFormat(pm.toImage().Format.Format_Grayscale8)
    pixels = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes())
    assert pixels.std() > 10  # an X-ray, not a flat tile

    bad_src = b.model.source_index(bad)
    assert b.model.data(bad_src, Qt.ItemDataRole.DecorationRole) is b.thumbnails.failed
    reason = cache.failures()[bad]
    assert reason and reason in b.model.data(bad_src, Qt.ItemDataRole.ToolTipRole)
    b.grab().save(str(tmp_path / "browser_thumbnails.png"))


def test_fast_npy_reader_matches_numpy(tmp_path):
    from spinegui.ui.browser.thumbnails import _high_bytes

    for side, dtype in ((64, "<u2"), (256, "<u2"), (64, ">u2")):  # ">u2": the np.load fallback
        a = np.random.default_rng(side).integers(0, 65536, (side, side)).astype(dtype)
        np.save(tmp_path / "a.npy", a)
        assert np.array_equal(_high_bytes(tmp_path / "a.npy", side), (a.astype(np.uint16) >> 8).astype(np.uint8))


def test_thumbnails_come_only_for_rows_on_screen(qtbot, index, root, tmp_path):
    cache = ImageCache(tmp_path / "cache")
    cache.build([(r.image_id, r.path) for r in index.images.values()], train_size=64, workers=1)
    b = StudyBrowser(index, None, cache)
    qtbot.addWidget(b)
    b.resize(700, 300)  # a few rows tall
    b.show()
    qtbot.waitExposed(b)
    visible = b._visible_image_ids()
    qtbot.waitUntil(lambda: all(b.thumbnails.is_loaded(i) for i in visible), timeout=5000)
    b.thumbnails.wait_idle()
    loaded = {i for i in index.images if b.thumbnails.is_loaded(i)}
    assert set(visible) <= loaded and len(loaded) < len(index.images) / 2


# --- scale: lazy data -----------------------------------------------------------------------------------
def synthetic_index(n_images: int) -> VinDrIndex:
    images = {}
    for k in range(n_images):
        study = f"{k // 2:08x}study"
        boxes = [Box(LESION_TYPES[k % 7], 1, 1, 9, 9, f"rad{k % 3}")] if k % 2 else []
        images[f"{k:08x}image"] = ImageRecord(f"{k:08x}image", study, f"{k:08x}series", "train",
                                              None, boxes, set() if boxes else {"rad1"})
    return VinDrIndex(None, images, [])


def test_data_is_computed_per_visible_row_only(qtbot):
    idx = synthetic_index(4000)
    b = StudyBrowser(idx)
    qtbot.addWidget(b)
    b.resize(900, 600)
    b.show()
    qtbot.waitExposed(b)
    assert b.visible_count() == (4000, 4000)
    assert len(b.model._facts) < 100  # only the rows painted so far
    choose(b.lesion_box, "Osteophytes")  # a filter must look at every image, once
    assert b.visible_count()[0] == len([i for i in idx.images.values() if i.boxes and
                                        i.boxes[0].lesion_type == "Osteophytes"])
    b.view.scrollToBottom()
    qtbot.wait(50)
    assert shown(b)[-1] == b.neighbours(shown(b)[-2], 1)[0]


def test_screenshot_with_edits_and_verified(qtbot, index, store, tmp_path, root):
    cache = ImageCache(tmp_path / "cache")
    cache.build([(r.image_id, r.path) for r in index.images.values()], train_size=64, workers=1)
    ids = list(index.images)
    store.add_box(ids[0], "Surgical implant", (5, 5, 80, 80))
    store.add_box(ids[0], "Other lesions", (5, 90, 80, 180))
    store.set_verified(ids[1])
    b = StudyBrowser(index, store, cache)
    qtbot.addWidget(b)
    b.resize(900, 640)
    b.show()
    qtbot.waitExposed(b)
    b.select_image(ids[2])
    visible = b._visible_image_ids()
    qtbot.waitUntil(lambda: all(b.thumbnails.is_loaded(i) for i in visible), timeout=5000)
    qtbot.wait(300)  # the batched repaint
    b.grab().save(str(tmp_path / "browser_overview.png"))
    assert "verified" in b.model.data(b.model.source_index(ids[1], STATE_COL))
