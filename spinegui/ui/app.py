"""Start the desktop app: platform check, QApplication, settings, the dataset to open, --screenshot."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from spinegui.core.dataset.workspace import data_home
from spinegui.core.errors import InputError

DEMO_IMAGES = 300
SCREENSHOT_TIMEOUT_S = 60.0  # --screenshot gives up (exit 1) when no image is drawn by then


def demo_dataset_dir() -> Path:
    return data_home() / "demo-dataset"


def run_app(dataset: Path | None = None, screenshot: Path | None = None, workspace: Path | None = None,
            started: float | None = None) -> int:
    started = started or time.perf_counter()
    if screenshot is not None and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a picture needs no screen
    from spinegui.ui.common.platform_check import platform_problem

    problem = platform_problem()
    if problem:
        raise InputError(None, problem)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        _quiet_offscreen_plugin()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("spinegui")
    app.setOrganizationName("spinegui")
    settings = QSettings(str(data_home() / "settings.ini"), QSettings.Format.IniFormat)

    from spinegui.ui.main_window import MainWindow

    window = MainWindow(settings, workspace)
    window.setProperty("headless", screenshot is not None)
    root = dataset or _last_dataset(settings)
    window.show()
    if screenshot is not None:
        _arm_screenshot(window, screenshot, started)
    if root is not None:
        if not window.open_dataset(root) and screenshot is not None:
            raise InputError(root, "cannot open the dataset for --screenshot")
        if screenshot is not None and window.current is None:
            raise InputError(root, "the dataset has no image to show for --screenshot")
    else:
        _make_demo_then_open(window)
    return app.exec()


# Said by Qt's offscreen plugin on every window shown; it would break the one-line error contract.
_OFFSCREEN_NOISE = ("This plugin does not support propagateSizeHints()",)


def _quiet_offscreen_plugin() -> None:
    from PySide6.QtCore import qInstallMessageHandler

    def handler(_mode, _context, message: str) -> None:
        if message not in _OFFSCREEN_NOISE:
            print(message, file=sys.stderr, flush=True)

    qInstallMessageHandler(handler)


def _last_dataset(settings) -> Path | None:
    last = settings.value("last_dataset")
    if last and Path(last).is_dir():
        return Path(last)
    demo = demo_dataset_dir()
    return demo if (demo / "annotations" / "train.csv").exists() else None


_DEMO_PARTS = {"annotations", "train_images", "test_images"}


def _clear_partial_demo(target: Path, window) -> None:
    """Delete an interrupted demo only when it holds nothing but the generator's own folders;
    anything else there is set aside (renamed), never deleted."""
    import shutil
    from datetime import datetime

    if {p.name for p in target.iterdir()} <= _DEMO_PARTS and not any(p.is_symlink() for p in target.iterdir()):
        shutil.rmtree(target)
        return
    aside = target.with_name(f"{target.name}.set-aside-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    target.rename(aside)
    window.show_message(f"{target} held files the demo does not write: moved to {aside}")


def _make_demo_then_open(window) -> None:
    """First start: write the demo dataset with a progress dialog, then open it."""
    from PySide6.QtWidgets import QProgressDialog

    from spinegui.ui.common.background import DemoGenerator

    target = demo_dataset_dir()
    if target.exists() and any(target.iterdir()):  # a half-written demo from an interrupted first start
        _clear_partial_demo(target, window)
    dialog = QProgressDialog("Making the demo dataset (first start)…", None, 0, DEMO_IMAGES, window)
    dialog.setWindowTitle("spinegui")
    dialog.setMinimumDuration(0)
    gen = DemoGenerator(target, DEMO_IMAGES, parent=window)
    gen.progress.connect(lambda done, total: dialog.setValue(done))

    def finished(error: str) -> None:
        dialog.close()
        if error:
            window.show_error(error)
        else:
            window.open_dataset(target)

    gen.finished.connect(finished)
    window._demo_generator = gen  # keep it alive
    gen.start()


def _screenshot_timeout() -> float:
    """SCREENSHOT_TIMEOUT_S, or SPINEGUI_SCREENSHOT_TIMEOUT_S where set (tests, slow machines)."""
    try:
        value = float(os.environ.get("SPINEGUI_SCREENSHOT_TIMEOUT_S", SCREENSHOT_TIMEOUT_S))
    except ValueError:
        return SCREENSHOT_TIMEOUT_S
    return value if value > 0 else SCREENSHOT_TIMEOUT_S


def _arm_screenshot(window, out: Path, started: float) -> None:
    """Save the window once the first image is drawn, print the time, quit. The first image failing
    (exit 2) or nothing drawn within the time limit (exit 1) ends it too, with the reason."""
    import threading

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    state = {"done": False}
    limit = _screenshot_timeout()

    def give_up(line: str, code: int) -> None:
        if state["done"]:
            return
        state["done"] = True
        print(f"spinegui: error: {line}", file=sys.stderr, flush=True)
        # Queued: this may run inside open_dataset, and before exec() an exit() would be lost.
        QTimer.singleShot(0, lambda: (window.close(), QApplication.exit(code)))

    def on_failed(image_id: str, reason: str) -> None:
        rec = window.index.images.get(image_id) if window.index is not None else None
        give_up(f"{rec.path if rec else image_id}: cannot show the first image for --screenshot: {reason}", 2)

    def hard_stop() -> None:  # the event loop itself is stuck: leave without it
        if state.get("saved"):
            os._exit(0)  # the picture is written; only the shutdown hangs
        print(f"spinegui: error: {out}: no image drawn within {limit:g} s and the app did not respond; "
              "stopped it", file=sys.stderr, flush=True)
        os._exit(1)

    window.image_failed.connect(on_failed)
    QTimer.singleShot(int(limit * 1000), lambda: give_up(
        f"{out}: no image was drawn within {limit:g} s; gave up (no screenshot written)", 1))
    watchdog = threading.Timer(limit + 15, hard_stop)
    watchdog.daemon = True
    watchdog.start()

    def on_shown(_image_id: str, _full: bool) -> None:
        if state["done"]:
            return
        state["done"] = True
        first = time.perf_counter() - started
        QApplication.processEvents()

        def save() -> None:
            out.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(out)):
                print(f"spinegui: error: {out}: cannot write the screenshot", file=sys.stderr)
                QApplication.exit(2)
                return
            state["saved"] = True
            print(f"first image after {first:.2f} s; screenshot {out}")
            window.close()
            QApplication.exit(0)

        QTimer.singleShot(300, save)  # let the status bar and thumbnails settle

    window.image_shown.connect(on_shown)
