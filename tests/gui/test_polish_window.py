"""The main window at its default size (issue 18): the browser shows every column, the annotation list
its entries whole, the status bar its caching progress unclipped; the header panel shows the SYNTHETIC
series description; the window geometry is saved from a real display only, and a squashed one is not
restored."""

from __future__ import annotations

import shutil

import pydicom
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMainWindow

from spinegui.core.dataset.vindr import load_index
from spinegui.ui import main_window as mw
from spinegui.ui.browser.model import LESION_COL
from spinegui.ui.browser.panel import COLUMN_WIDTHS
from spinegui.ui.main_window import DEFAULT_SIZE, MIN_RESTORED_SIZE, MainWindow
from spinegui.ui.viewer.header_panel import SERIES, HeaderPanel


def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)


def make_window(qtbot, tmp_path, headless: bool = True) -> MainWindow:
    win = MainWindow(settings(tmp_path), tmp_path / "ws")  # no stored geometry: the default size
    win.setProperty("headless", headless)
    qtbot.addWidget(win)
    return win


@pytest.fixture
def window(qtbot, demo_root, tmp_path):
    win = make_window(qtbot, tmp_path)
    with qtbot.waitExposed(win):
        win.show()
    with qtbot.waitSignal(win.image_shown, timeout=20000):
        assert win.open_dataset(demo_root)
    qtbot.wait(50)  # the docks' layout settles
    yield win
    win.close()


def test_browser_columns_all_visible_at_the_default_size(window, qtbot, tmp_path):
    assert window.width() >= DEFAULT_SIZE[0] and window.height() >= DEFAULT_SIZE[1]
    view = window.browser.view
    header, width = view.header(), view.viewport().width()
    fm = header.fontMetrics()
    for col in range(header.count()):
        x, w = header.sectionViewportPosition(col), header.sectionSize(col)
        text = window.browser.model.headerData(col, Qt.Orientation.Horizontal)
        assert not header.isSectionHidden(col) and 0 <= x and x + w <= width, (text, x, w, width)
        assert fm.horizontalAdvance(text) + 12 <= w, text  # the header reads whole
    assert view.horizontalScrollBar().maximum() == 0
    window.grab().save(str(tmp_path / "default_window.png"))
    # a wider dock: the columns fill it, the lesion chips take what the others do not need
    window.resize(window.width() + 400, window.height())
    window.resizeDocks([window.browser_dock], [window.browser_dock.width() + 400], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: view.viewport().width() > width + 300)
    assert sum(header.sectionSize(c) for c in range(header.count())) == view.viewport().width()
    assert header.sectionSize(LESION_COL) > COLUMN_WIDTHS[LESION_COL]


def test_annotation_entries_fit_and_tooltips_say_all(window):
    store, image_id = window.store, window.current
    store.reader = "tester"
    store.add_box(image_id, "Disc space narrowing", (10.0, 10.0, 60.0, 60.0))  # the longest type, edited here
    window.annotation_panel.refresh()
    lst = window.annotation_panel.boxes
    fm = lst.fontMetrics()
    assert lst.count() >= 2
    for i in range(lst.count()):
        item = lst.item(i)
        need = fm.horizontalAdvance(item.text()) + lst.iconSize().width() + 16
        assert need <= lst.viewport().width(), (item.text(), need, lst.viewport().width())
    edited = [lst.item(i) for i in range(lst.count()) if lst.item(i).text().endswith("✎")]
    assert len(edited) == 1 and "edited by tester" in edited[0].toolTip()
    assert "Disc space narrowing" in edited[0].toolTip() and "drawn by tester" in edited[0].toolTip()


def test_caching_progress_is_never_clipped(window, qtbot):
    qtbot.waitUntil(lambda: not window.builder.is_running(), timeout=60000)  # its own progress is over
    qtbot.wait(20)
    # A crowded status bar: a message, the window, read-only and a long save error all showing.
    window.read_only_label.show()
    window.save_label.setText("autosave failed: " + "x" * 120)
    window.statusBar().showMessage("a long message " * 10)
    bar = window.progress
    window._fit_progress(10466)
    bar.setRange(0, 10466)
    bar.setValue(5173)
    bar.show()
    qtbot.wait(20)
    need = bar.fontMetrics().horizontalAdvance(bar.text()) + 16
    assert bar.text() == "caching 5173/10466"
    assert bar.width() >= need and max(bar.sizeHint().width(), bar.minimumWidth()) >= need


def test_header_panel_shows_the_synthetic_series_description(qtbot, demo_root, tmp_path):
    rec = next(iter(load_index(demo_root).images.values()))
    panel = HeaderPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.path = rec.path
    panel.refresh()
    rows = {panel.table.item(r, 0).text(): r for r in range(panel.table.rowCount())}
    assert not panel.show_identifying.isChecked()
    assert rows[SERIES] == 1  # right under the file name
    value = panel.table.item(rows[SERIES], 1)
    assert "SYNTHETIC" in value.text() and value.font().bold()
    assert panel.synthetic_banner.isVisible()
    assert panel.table.item(rows.get("Patient ID", rows[SERIES]), 1).text() != ""  # the rest as before
    # A real file's series description is the patient's text: it stays hidden, no banner.
    real = tmp_path / "real.dicom"
    shutil.copy(rec.path, real)
    ds = pydicom.dcmread(real)
    ds.SeriesDescription = "L-SPINE LAT Jane Doe"
    ds.save_as(real)
    panel.path = real
    panel.refresh()
    rows = {panel.table.item(r, 0).text(): r for r in range(panel.table.rowCount())}
    assert panel.table.item(rows[SERIES], 1).text() == "(hidden)" and not panel.synthetic_banner.isVisible()
    panel.show_identifying.setChecked(True)
    rows = {panel.table.item(r, 0).text(): r for r in range(panel.table.rowCount())}
    assert panel.table.item(rows[SERIES], 1).text() == "L-SPINE LAT Jane Doe"


def test_geometry_saved_from_a_real_display_only(qtbot, tmp_path, monkeypatch):
    win = make_window(qtbot, tmp_path)  # offscreen, as --screenshot without a display
    win.close()
    s = settings(tmp_path)
    assert s.value("geometry") is None and s.value("window_state") is None
    monkeypatch.setattr(mw, "on_real_display", lambda: True)
    win = make_window(qtbot, tmp_path, headless=True)  # a --screenshot run on a display
    win.close()
    assert settings(tmp_path).value("geometry") is None
    win = make_window(qtbot, tmp_path, headless=False)  # the desktop app
    win.close()
    assert settings(tmp_path).value("geometry") is not None and settings(tmp_path).value("window_state") is not None


def store_geometry(qtbot, tmp_path, width: int, height: int) -> None:
    plain = QMainWindow()
    qtbot.addWidget(plain)
    plain.resize(width, height)
    s = settings(tmp_path)
    s.setValue("geometry", plain.saveGeometry())
    s.sync()


def test_a_squashed_stored_geometry_is_not_restored(qtbot, tmp_path, monkeypatch):
    # 798 x 774: what an offscreen run stored (its virtual screen is 800 x 800)
    store_geometry(qtbot, tmp_path, 798, 774)
    assert 798 < MIN_RESTORED_SIZE[0]
    win = make_window(qtbot, tmp_path)
    assert (win.width(), win.height()) == DEFAULT_SIZE
    win.close()
    # a sane one is restored (the minimum lowered to what the offscreen screen can hold)
    monkeypatch.setattr(mw, "MIN_RESTORED_SIZE", (600, 400))
    store_geometry(qtbot, tmp_path, 780, 700)
    win = make_window(qtbot, tmp_path)
    assert win.height() == 700 and win.size().toTuple() != DEFAULT_SIZE
    win.close()
