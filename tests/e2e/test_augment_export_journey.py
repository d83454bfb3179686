"""Journey: export 20 augmented images of one class from the command line, then open them in the app:
the browser lists them and the viewer shows each with its boxes and the SYNTHETIC badge."""

from PySide6.QtCore import QSettings

from spinegui.cli.entry import main
from spinegui.core.dataset.vindr import load_index
from spinegui.ui.main_window import MainWindow


def test_export_then_browse_the_augmented_dataset(qtbot, demo_root, tmp_path, capsys):
    out = tmp_path / "augmented"
    code = main(["augment", str(demo_root), "--preset", "hybrid-geometric", "--classes", "Spondylolysthesis",
                 "--per-class", "20", "--seed", "5", "--out", str(out), "--workers", "1"])
    assert code == 0 and "wrote 20 augmented images" in capsys.readouterr().out
    index = load_index(out)

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("reader", "tester")
    win = MainWindow(settings, tmp_path / "ws")
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.image_shown, timeout=15000):
        assert win.open_dataset(out)
    assert win.browser.visible_count() == (20, 20)
    viewer = win.viewer
    first = index.images[win.current]
    assert viewer.image.image_id == first.image_id and viewer.image.synthetic
    assert viewer.badge.isVisible() and viewer.badge.text() == "SYNTHETIC"
    assert len(viewer.boxes.visible_uids()) == len(first.boxes) > 0
    win.grab().save(str(tmp_path / "augmented.png"))
    win.close()
