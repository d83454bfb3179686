"""Thumbnails from the decoded-image cache, loaded off the UI thread, kept in a small LRU.

The model asks `thumbnail(image_id)` while painting a row; a miss queues a load and returns None
(the row shows a placeholder). A pool thread reads the cached training array and scales it;
results are handed to the UI thread by a timer a few times a second and announced in one `loaded`
batch, never one signal per thumbnail. Requests are served newest first and the queue is capped, so
fast scrolling does not leave a backlog of rows nobody looks at any more.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRectF, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap

from spinegui.core.dataset.cache import ImageCache

THUMB_SIZE = 48
LRU_CAPACITY = 1500      # ~14 MB of 48 px pixmaps: far more rows than any screen shows
MAX_QUEUED = 128         # older requests are dropped (re-requested if their row is painted again)
FLUSH_MS = 200           # results reach the view at most 5 times a second


def _pick_size(sizes: list[int], want: int) -> int | None:
    """The smallest training size that is at least twice the thumbnail (sharp), else the largest."""
    if not sizes:
        return None
    good = [s for s in sorted(sizes) if s >= 2 * want]
    return good[0] if good else max(sizes)


def load_thumbnail(cache_dir: Path, image_id: str, sizes: list[int], size: int) -> QImage:
    """Read one cached training array and scale it to `size` (runs in a pool thread: QImage only)."""
    train = _pick_size(sizes, size)
    if train is None:
        raise OSError("no training arrays in the cache")
    grey = _high_bytes(cache_dir / f"train_{train}" / f"{image_id}.npy", train)
    h, w = grey.shape
    img = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8)
    # scaled() returns an image that owns its pixels (the numpy buffer may go away after return).
    return img.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


def _high_bytes(path: Path, side: int) -> np.ndarray:
    """The 8-bit view (high byte) of a side x side little-endian uint16 .npy file.

    np.load parses the header in Python (~200 us, holding the GIL the UI thread needs to paint);
    the cache writes one known layout, so read it directly and fall back to np.load for any other.
    """
    data = path.read_bytes()
    if data[:6] == b"\x93NUMPY" and data[6] == 1:
        end = 10 + int.from_bytes(data[8:10], "little")
        header = data[10:end]
        if (b"'descr': '<u2'" in header and b"'fortran_order': False" in header
                and f"'shape': ({side}, {side})".encode() in header and len(data) >= end + 2 * side * side):
            return np.frombuffer(data, np.uint8, count=2 * side * side, offset=end)[1::2].reshape(side, side).copy()
    arr = np.load(path, mmap_mode="r")
    return np.ascontiguousarray(np.asarray(arr) >> 8, dtype=np.uint8)  # 0..65535 display values -> 8 bit


class _Queue:
    """Requests and results shared with the pool threads (plain Python, guarded by one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wanted: deque[str] = deque()
        self.results: deque[tuple[int, str, QImage | None, str]] = deque()
        self.workers = 0
        self.generation = 0  # bumped when the cache changes: late results of the old one are dropped


class _Worker(QRunnable):
    def __init__(self, queue: _Queue, cache_dir: Path, sizes_of, size: int, generation: int):
        super().__init__()
        self.q, self.cache_dir, self.sizes_of, self.size, self.generation = queue, cache_dir, sizes_of, size, generation

    def run(self) -> None:
        q = self.q
        while True:
            with q.lock:
                if not q.wanted or q.generation != self.generation:
                    q.workers -= 1
                    return
                image_id = q.wanted.pop()  # newest first: the rows on screen now
            try:
                img, err = load_thumbnail(self.cache_dir, image_id, self.sizes_of(image_id), self.size), ""
            except Exception as exc:  # unreadable array: shown as failed with the reason, never raised
                img, err = None, f"thumbnail unreadable: {exc}"
            q.results.append((self.generation, image_id, img, err))


class ThumbnailLoader(QObject):
    loaded = Signal(list)  # image ids whose thumbnail (or failure) arrived, one batch per flush

    # One loader thread: a thumbnail takes ~30-130 us, and a second thread would mostly compete with
    # the UI thread for the GIL while it paints.
    def __init__(self, size: int = THUMB_SIZE, capacity: int = LRU_CAPACITY, threads: int = 1, parent=None):
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self._cache: ImageCache | None = None
        self._icons: OrderedDict[str, QIcon] = OrderedDict()
        self._errors: dict[str, str] = {}
        self._pending: set[str] = set()
        self._available: set[str] = set()   # reported built, though our manifest copy may not know yet
        self._dir_sizes: list[int] = []
        self._q = _Queue()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self._flush)
        self.placeholder = _tile(size, QColor("#3a3d41"), None)
        self.failed = _tile(size, QColor("#5c2626"), "!")
        self.missing = _tile(size, QColor("#2b2d30"), "?")

    # --- the cache ---------------------------------------------------------------------------
    @property
    def cache(self) -> ImageCache | None:
        return self._cache

    def set_cache(self, cache: ImageCache | None) -> None:
        with self._q.lock:
            self._q.wanted.clear()
            self._q.generation += 1
        self._cache = cache
        self._icons.clear()
        self._errors.clear()
        self._pending.clear()
        self._available.clear()
        self._scan_dirs()

    def mark_available(self, image_ids) -> None:
        """The cache (re)built these: forget what we showed for them so their rows reload lazily."""
        self._scan_dirs()
        for image_id in image_ids:
            self._available.add(image_id)
            self._icons.pop(image_id, None)
            self._errors.pop(image_id, None)

    def _scan_dirs(self) -> None:
        # Sizes for images the manifest copy does not list yet (a build in another process).
        self._dir_sizes = []
        if self._cache is not None and self._cache.dir.is_dir():
            for p in self._cache.dir.glob("train_*"):
                if p.name[6:].isdigit():
                    self._dir_sizes.append(int(p.name[6:]))

    def _sizes_of(self, image_id: str) -> list[int]:
        entry = self._cache.entries.get(image_id) if self._cache else None
        if entry and entry.get("train"):
            return [int(s) for s in entry["train"]]
        return list(self._dir_sizes)

    # --- what a row shows --------------------------------------------------------------------
    def status(self, image_id: str) -> tuple[str, str]:
        """("ok" | "failed" | "uncached", reason): failed entries carry the cache's reason."""
        if image_id in self._errors:
            return "failed", self._errors[image_id]
        entry = self._cache.entries.get(image_id) if self._cache else None
        if entry is not None:
            if entry.get("state") == "failed":
                return "failed", entry.get("reason") or "failed to decode"
            return "ok", ""
        return ("ok", "") if image_id in self._available else ("uncached", "")

    def thumbnail(self, image_id: str) -> QIcon:
        """The icon to show now: the thumbnail, or a placeholder / failed tile (queues a load)."""
        icon = self._icons.get(image_id)
        if icon is not None:
            self._icons.move_to_end(image_id)
            return icon
        state, _ = self.status(image_id)
        if state == "failed":
            return self.failed
        if state == "ok" and self._cache is not None:
            self._request(image_id)
        return self.placeholder

    def is_loaded(self, image_id: str) -> bool:
        return image_id in self._icons

    def _request(self, image_id: str) -> None:
        if image_id in self._pending:
            return
        self._pending.add(image_id)
        q = self._q
        with q.lock:
            q.wanted.append(image_id)
            while len(q.wanted) > MAX_QUEUED:
                self._pending.discard(q.wanted.popleft())
            start = q.workers < self._pool.maxThreadCount()
            if start:
                q.workers += 1
        if start:
            self._pool.start(_Worker(q, self._cache.dir, self._sizes_of, self.size, q.generation))
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        """Move finished loads into the LRU (UI thread: QPixmap lives here) and announce them once."""
        q = self._q
        done: list[str] = []
        while q.results:
            generation, image_id, img, err = q.results.popleft()
            if generation != q.generation:
                continue
            self._pending.discard(image_id)
            if img is None:
                self._errors[image_id] = err
            else:
                self._icons[image_id] = _icon(QPixmap.fromImage(img))
                self._icons.move_to_end(image_id)
                if len(self._icons) > self.capacity:
                    self._icons.popitem(last=False)
            done.append(image_id)
        with q.lock:
            idle = not q.wanted and q.workers == 0 and not q.results
        if idle:
            self._pending.clear()  # dropped requests are re-made when their rows are painted
            self._timer.stop()
        if done:
            self.loaded.emit(done)

    def wait_idle(self, msecs: int = 5000) -> bool:
        """Block until the pool is idle (tests and shutdown)."""
        return self._pool.waitForDone(msecs)


def _icon(pm: QPixmap) -> QIcon:
    # The same pixmap when the row is selected: the style's tint would misrepresent an X-ray.
    icon = QIcon(pm)
    icon.addPixmap(pm, QIcon.Mode.Selected)
    return icon


def _tile(size: int, colour: QColor, mark: str | None) -> QIcon:
    pm = QPixmap(QSize(size, size))
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    path.addRoundedRect(QRectF(1, 1, size - 2, size - 2), 5, 5)
    p.fillPath(path, colour)
    p.setPen(QPen(colour.lighter(140), 1))
    p.drawPath(path)
    if mark:
        font = QFont()
        font.setBold(True)
        font.setPixelSize(size // 2)
        p.setFont(font)
        p.setPen(QColor("#ff8a80") if mark == "!" else QColor("#9aa0a6"))
        p.drawText(QRectF(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, mark)
    p.end()
    return _icon(pm)
