"""Long work off the UI thread: the cache build and the demo-dataset generator.

Both call the same core functions as the CLI. Their progress callbacks run in a worker thread and
fire once per image; they reach the UI as queued signals, throttled to a few a second.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from spinegui.core.dataset.cache import ImageCache
from spinegui.core.errors import InputError

THROTTLE_S = 0.2


class _Thread(QThread):
    def __init__(self, fn, parent=None):
        super().__init__(parent)
        self.fn = fn

    def run(self) -> None:
        self.fn()


class CacheBuilder(QObject):
    """Builds the decoded-image cache in the background; cancel() stops it at the next image."""

    progress = Signal(int, int)  # done, total
    images_ready = Signal(list)  # image ids newly in the cache (batched)
    finished = Signal(object)  # BuildReport, or an error line (str)

    def __init__(self, cache: ImageCache, items: list[tuple[str, Path]], train_size: int = 256,
                 workers: int | None = None, parent=None):
        super().__init__(parent)
        self.cache, self.items, self.train_size, self.workers = cache, items, train_size, workers
        self._stop = threading.Event()
        self._batch: list[str] = []
        self._last_emit = 0.0
        self._thread = _Thread(self._run, self)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()

    def wait(self, msecs: int = 30000) -> bool:
        return self._thread.wait(msecs)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def _on_progress(self, done: int, total: int, image_id: str) -> None:
        if image_id:
            self._batch.append(image_id)
        now = time.monotonic()
        if done >= total or now - self._last_emit >= THROTTLE_S:
            self._last_emit = now
            batch, self._batch = self._batch, []
            if batch:
                self.images_ready.emit(batch)
            self.progress.emit(done, total)

    def _run(self) -> None:
        try:
            report = self.cache.build(self.items, train_size=self.train_size, workers=self.workers,
                                      progress=self._on_progress, should_stop=self._stop.is_set)
        except InputError as exc:
            self.finished.emit(str(exc))
            return
        except Exception as exc:  # e.g. the disk is full: say so, the app goes on
            self.finished.emit(f"cache build failed: {exc}")
            return
        if self._batch:
            self.images_ready.emit(self._batch)
        self.finished.emit(report)


class DemoGenerator(QObject):
    """Writes the demo dataset in the background (first start)."""

    progress = Signal(int, int)
    finished = Signal(str)  # "" on success, else the error line

    def __init__(self, out: Path, n_images: int = 300, parent=None):
        super().__init__(parent)
        self.out, self.n_images = out, n_images
        self._last_emit = 0.0
        self._thread = _Thread(self._run, self)

    def start(self) -> None:
        self._thread.start()

    def wait(self, msecs: int = 120000) -> bool:
        return self._thread.wait(msecs)

    def _on_progress(self, done: int, total: int, _item: str) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_emit >= THROTTLE_S:
            self._last_emit = now
            self.progress.emit(done, total)

    def _run(self) -> None:
        from spinegui.core.demo.dataset import generate_demo_dataset

        try:
            generate_demo_dataset(self.out, self.n_images, progress=self._on_progress)
        except InputError as exc:
            self.finished.emit(str(exc))
            return
        except Exception as exc:
            self.finished.emit(f"{self.out}: demo dataset generation failed: {exc}")
            return
        self.finished.emit("")
