import shutil

import pytest

from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dataset.workspace import Workspace


@pytest.fixture(scope="session")
def cached_workspace(demo_root, tmp_path_factory):
    """A workspace for demo_root with its cache built once; copy it (shutil.copytree) before use."""
    ws = Workspace.for_dataset(demo_root, tmp_path_factory.mktemp("cachedws") / "ws")
    index = load_index(demo_root)
    ImageCache(ws.cache_dir).build([(r.image_id, r.path) for r in index.images.values()], workers=2)
    return ws.path


@pytest.fixture
def window(qtbot, demo_root, cached_workspace, tmp_path):
    """The main window on the demo dataset, with a reader name set, offscreen."""
    from PySide6.QtCore import QSettings

    from spinegui.ui.main_window import MainWindow

    ws = tmp_path / "ws"
    shutil.copytree(cached_workspace, ws)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("reader", "tester")
    win = MainWindow(settings, ws)
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.image_shown, timeout=10000):
        assert win.open_dataset(demo_root)
    yield win
    from PySide6.QtWidgets import QMessageBox

    with pytest.MonkeyPatch.context() as mp:  # a test that broke saving must not leave a modal dialog
        mp.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
        win.close()
