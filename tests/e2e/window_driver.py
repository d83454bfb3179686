"""The real app (`spinegui --dataset ROOT --workspace WS`, offscreen), driven by commands on stdin.

    python window_driver.py ROOT WORKSPACE READER

SPINEGUI_HOME must be set (the reader name goes into its settings.ini). Prints one JSON object per
line: {"event": "ready", ...state} once the first image is shown, then one answer per command:

    state                  -> the window's state (read_only, title, status, panel text, boxes)
    add X0 Y0 X1 Y1        -> {"added": uid} or {"refused": "<the store's one-line reason>"}
    save                   -> {"saved": true} or {"refused": ...}
    grab PATH              -> {"grabbed": PATH}: a picture of the window
    quit                   -> closes the window; the process exits with the app's exit code

Used by test_two_windows.py.
"""

import json
import os
import sys
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QApplication

from spinegui.core.dataset.workspace import data_home
from spinegui.core.errors import InputError


def say(**kw) -> None:
    print(json.dumps(kw), flush=True)


class Driver(QObject):
    command = Signal(str)  # from the stdin thread to the UI thread (queued)

    def __init__(self, app):
        super().__init__()
        self.app = app
        self.command.connect(self.run)
        self._ready = QTimer(self, interval=100)
        self._ready.timeout.connect(self._check_ready)
        self._ready.start()

    def window(self):
        from spinegui.ui.main_window import MainWindow

        return next(w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow))

    def state(self) -> dict:
        w = self.window()
        store = w.store
        label = getattr(w, "read_only_label", None)  # (getattr: the test also runs against older apps)
        return {"read_only": getattr(store, "read_only", None), "title": w.windowTitle(),
                "read_only_label": label is not None and label.isVisible(),
                "status": w.statusBar().currentMessage(),
                "panel": w.annotation_panel.state_label.text(), "image": w.current,
                "boxes": [b.uid for b in store.boxes(w.current)] if store and w.current else [],
                "edit_enabled": w.annotation_panel.no_finding_button.isEnabled()}

    def _check_ready(self) -> None:
        try:
            w = self.window()
        except StopIteration:
            return
        if w.store is not None and w.current is not None and w.viewer_image_id() == w.current:
            self._ready.stop()
            w.setProperty("headless", True)  # errors go to the status bar, never a modal dialog
            say(event="ready", **self.state())

    def run(self, line: str) -> None:
        cmd, *args = line.split()
        w = self.window()
        try:
            if cmd == "state":
                say(**self.state())
            elif cmd == "add":
                say(added=w.store.add_box(w.current, "Osteophytes", tuple(float(a) for a in args)))
            elif cmd == "save":
                w.store.save()
                say(saved=True)
            elif cmd == "grab":
                say(grabbed=args[0] if w.grab().save(args[0]) else None)
            elif cmd == "quit":
                w.close()
                self.app.quit()
        except InputError as exc:
            say(refused=str(exc))


def read_stdin(driver: Driver) -> None:
    for line in sys.stdin:
        if line.strip():
            driver.command.emit(line.strip())


def main(root: str, workspace: str, reader: str) -> int:
    app = QApplication([])  # run_app uses this one
    settings = QSettings(str(data_home() / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("reader", reader)
    settings.sync()
    driver = Driver(app)
    threading.Thread(target=read_stdin, args=(driver,), daemon=True).start()
    from spinegui.cli.entry import main as spinegui_main

    return spinegui_main(["--dataset", root, "--workspace", workspace])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
