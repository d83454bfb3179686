"""The app, offscreen, making random annotation edits through its window until killed.

    python crash_app.py DATASET_ROOT WORKSPACE SPINEGUI_HOME SEED

Used by test_crash_recovery_journey.py. Prints ``<seq> <time.monotonic()> <digest>`` per state, like
tests/unit/crash_editor.py, whose edit mix and digest it reuses.
"""

import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from crash_editor import digest, random_edit
from spinegui.core.errors import InputError
from spinegui.ui.main_window import MainWindow


def main(root: str, workspace: str, home: str, seed: int) -> None:
    os.environ["SPINEGUI_HOME"] = home
    app = QApplication([])
    settings = QSettings(str(Path(home) / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("reader", "rad1")
    window = MainWindow(settings, Path(workspace))
    window.setProperty("headless", True)
    window.show()
    assert window.open_dataset(root)
    store, rng, seq = window.store, random.Random(seed), 0
    image_ids = list(window.index.images)
    print(f"0 {time.monotonic():.6f} {digest(store)}", flush=True)

    def edit() -> None:
        nonlocal seq
        if rng.random() < 0.1:  # now and then move on to another image, as a reader does
            window.browser.select_image(rng.choice(image_ids))
        image_id = window.current
        try:
            random_edit(store, rng, [image_id])
        except InputError:
            pass
        seq += 1
        print(f"{seq} {time.monotonic():.6f} {digest(store)}", flush=True)
        QTimer.singleShot(rng.randint(2, 20), edit)

    QTimer.singleShot(0, edit)
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
