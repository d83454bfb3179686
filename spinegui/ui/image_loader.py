"""Images for the viewer: the cached display image at once, full resolution from a background decode.

The UI thread only opens memory maps; decoding runs on a small thread pool (the decoders release
the GIL). A few recently used full-resolution images are kept so that stepping back is instant, and
the neighbours of the current image are decoded ahead of time.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from spinegui.core.cache import ImageCache
from spinegui.core.dicom_io import DicomImage, read_image
from spinegui.core.display import Window
from spinegui.core.errors import InputError
from spinegui.ui.viewer import ViewerImage

KEEP_FULL = 6


class _Signals(QObject):
    decoded = Signal(str, object)  # image_id, DicomImage
    failed = Signal(str, str)  # image_id, reason


class _Decode(QRunnable):
    def __init__(self, image_id: str, path: Path, signals: _Signals):
        super().__init__()
        self.image_id, self.path, self.signals = image_id, path, signals

    def run(self) -> None:
        try:
            img = read_image(self.path)
        except InputError as exc:
            self.signals.failed.emit(self.image_id, exc.reason)
            return
        except Exception as exc:  # never let a worker thread die silently
            self.signals.failed.emit(self.image_id, f"unexpected error: {exc}")
            return
        self.signals.decoded.emit(self.image_id, img)


def viewer_image_from_dicom(image_id: str, img: DicomImage) -> ViewerImage:
    return ViewerImage(image_id=image_id, pixels=img.pixels, window=img.window, invert=img.invert, scale=1.0,
                       pixel_spacing=img.pixel_spacing, synthetic=img.synthetic)


def viewer_image_from_cache(cache: ImageCache, image_id: str) -> ViewerImage | None:
    entry = cache.entries.get(image_id)
    if not entry or entry.get("state") != "ok":
        return None
    try:
        pixels = cache.open_display(image_id)
    except InputError:
        return None
    center, width, source = entry["window"]
    spacing = entry.get("pixel_spacing")
    return ViewerImage(image_id=image_id, pixels=pixels, window=Window(center, width, source=source),
                       invert=bool(entry.get("invert")), scale=float(entry.get("display_scale", 1.0)),
                       pixel_spacing=tuple(spacing) if spacing else None,
                       synthetic=bool(entry.get("synthetic")))


class ImageLoader(QObject):
    """Asks for an image; answers with `ready` (maybe twice: cached, then full) or `failed`."""

    ready = Signal(object, bool)  # ViewerImage, is_full_resolution
    failed = Signal(str, str)  # image_id, reason

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cache: ImageCache | None = None
        self.paths: dict[str, Path] = {}
        self.current: str | None = None
        self._full: OrderedDict[str, DicomImage] = OrderedDict()
        self._pending: set[str] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _Signals()
        self._signals.decoded.connect(self._on_decoded)
        self._signals.failed.connect(self._on_failed)

    def request(self, image_id: str, neighbours: list[str] = ()) -> None:
        self.current = image_id
        if image_id in self._full:
            self._full.move_to_end(image_id)
            self.ready.emit(viewer_image_from_dicom(image_id, self._full[image_id]), True)
        else:
            cached = viewer_image_from_cache(self.cache, image_id) if self.cache else None
            if cached is not None:
                self.ready.emit(cached, False)
            self._decode(image_id)
        for n in neighbours:  # prefetch: decoded now, shown instantly when the user steps there
            if n not in self._full:
                self._decode(n)

    def _decode(self, image_id: str) -> None:
        if image_id in self._pending or image_id not in self.paths:
            if image_id not in self.paths and image_id == self.current:
                self.failed.emit(image_id, "not in this dataset")
            return
        self._pending.add(image_id)
        self._pool.start(_Decode(image_id, self.paths[image_id], self._signals))

    def _on_decoded(self, image_id: str, img: DicomImage) -> None:
        self._pending.discard(image_id)
        self._full[image_id] = img
        while len(self._full) > KEEP_FULL:
            self._full.popitem(last=False)
        if image_id == self.current:
            self.ready.emit(viewer_image_from_dicom(image_id, img), True)

    def _on_failed(self, image_id: str, reason: str) -> None:
        self._pending.discard(image_id)
        if image_id == self.current:
            self.failed.emit(image_id, reason)

    def wait(self, msecs: int = 5000) -> None:
        self._pool.waitForDone(msecs)
