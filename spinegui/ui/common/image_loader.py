"""Images for the viewer: the cached display image at once, full resolution from a decoder process.

The UI thread only opens memory maps. Full-resolution decodes run in a worker process (the JPEG 2000
decoders hold the GIL for up to a few hundred ms, which in a thread would stall the event loop) and
land as .npy files under the cache's `full/` folder, kept for the last few images; the neighbours of
the current image are decoded ahead of time.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from spinegui.core.dataset.cache import ImageCache, decode_full_resolution
from spinegui.core.dicom.display import Window
from spinegui.core.errors import InputError
from spinegui.core.procs import exit_with_parent
from spinegui.ui.viewer.view import ViewerImage

KEEP_FULL = 12  # full-resolution files kept on disk (about 8 MB each for a VinDr image)


def viewer_image(image_id: str, pixels: np.ndarray, meta: dict, scale: float = 1.0) -> ViewerImage:
    center, width, source = meta["window"]
    spacing = meta.get("pixel_spacing")
    return ViewerImage(image_id=image_id, pixels=pixels, window=Window(center, width, source=source),
                       invert=bool(meta.get("invert")), scale=scale,
                       pixel_spacing=tuple(spacing) if spacing else None, synthetic=bool(meta.get("synthetic")))


def viewer_image_from_cache(cache: ImageCache, image_id: str) -> ViewerImage | None:
    entry = cache.entries.get(image_id)
    if not entry or entry.get("state") != "ok":
        return None
    try:
        pixels = cache.open_display(image_id)
    except InputError:
        return None
    return viewer_image(image_id, pixels, entry, float(entry.get("display_scale", 1.0)))


class ImageLoader(QObject):
    """Asks for an image; answers with `ready` (maybe twice: cached, then full) or `failed`."""

    ready = Signal(object, bool)  # ViewerImage, is_full_resolution
    failed = Signal(str, str)  # image_id, reason
    _decoded = Signal(str, object)  # image_id, metadata dict (from a pool thread)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cache: ImageCache | None = None
        self.paths: dict[str, Path] = {}
        self.current: str | None = None
        self._full: dict[str, dict] = {}  # image_id -> metadata, in decode order (oldest first)
        self._pending: dict[str, object] = {}  # image_id -> Future
        self._pool: ProcessPoolExecutor | None = None
        self._private_dir: Path | None = None  # a temp folder of our own (read-only windows)
        self._decoded.connect(self._on_decoded)

    def _full_dir(self) -> Path:
        return self._private_dir if self._private_dir is not None else self.cache.dir / "full"

    def use_private_full_dir(self, private: bool) -> None:
        """Decode into a temp folder of this loader's own instead of the workspace cache: a read-only
        window must not write (nor clear) the folder the writer's window uses."""
        self._forget_full()
        if private and self._private_dir is None:
            self._private_dir = Path(tempfile.mkdtemp(prefix="spinegui-view-"))
        elif not private:
            self._drop_private_dir()

    def _forget_full(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._full.clear()

    def _drop_private_dir(self) -> None:
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)  # made by mkdtemp above
            self._private_dir = None

    def request(self, image_id: str, neighbours: list[str] = ()) -> None:
        self.current = image_id
        wanted = {image_id, *neighbours}
        for stale in [i for i in self._pending if i not in wanted]:  # stepping fast: drop the backlog
            if self._pending[stale].cancel():
                del self._pending[stale]
        if not (image_id in self._full and self._emit_full(image_id)):
            cached = viewer_image_from_cache(self.cache, image_id) if self.cache else None
            if cached is not None:
                self.ready.emit(cached, False)
            self._decode(image_id)
        for n in neighbours:  # prefetch: shown at full resolution at once when the user steps there
            if n not in self._full:
                self._decode(n)

    def _decode(self, image_id: str) -> None:
        if image_id not in self.paths:
            if image_id == self.current:
                self.failed.emit(image_id, "not in this dataset")
            return
        if image_id in self._pending or self.cache is None:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=exit_with_parent)
            shutil.rmtree(self._full_dir(), ignore_errors=True)  # files of an earlier session
        self._full_dir().mkdir(parents=True, exist_ok=True)
        future = self._pool.submit(decode_full_resolution, str(self.paths[image_id]),
                                   str(self._full_dir() / f"{image_id}.npy"))
        self._pending[image_id] = future
        future.add_done_callback(lambda f, i=image_id: None if f.cancelled() else self._decoded.emit(i, _result(f)))

    def _on_decoded(self, image_id: str, meta: dict) -> None:
        self._pending.pop(image_id, None)
        if meta.get("pool_broken"):
            self._stop_pool()  # a fresh decoder process starts with the next request
        if "error" in meta:
            if image_id == self.current:
                self.failed.emit(image_id, meta["error"])
            return
        self._full.pop(image_id, None)
        self._full[image_id] = meta
        while len(self._full) > KEEP_FULL:
            old = next(i for i in self._full if i != self.current)  # never the image on screen
            del self._full[old]
            (self._full_dir() / f"{old}.npy").unlink(missing_ok=True)
        if image_id == self.current:
            self._emit_full(image_id)

    def _emit_full(self, image_id: str) -> bool:
        self._full[image_id] = self._full.pop(image_id)  # most recently used last
        try:
            pixels = np.load(self._full_dir() / f"{image_id}.npy", mmap_mode="r")
        except (OSError, ValueError):
            self._full.pop(image_id, None)
            return False
        self.ready.emit(viewer_image(image_id, pixels, self._full[image_id]), True)
        return True

    def shutdown(self) -> None:
        self._stop_pool(final=True)
        self._drop_private_dir()

    def _stop_pool(self, final: bool = False) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if not final:
            pool.shutdown(wait=False, cancel_futures=True)
            return
        # At exit: end the decoder now (a full-resolution decode can take seconds), then join the pool's
        # manager thread. One still running races the interpreter's exit hook on its wakeup pipe
        # (Python 3.11: "Exception ignored ... Bad file descriptor" on stderr after a clean exit).
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _result(future) -> dict:
    try:
        return future.result()
    except BrokenProcessPool:  # the decoder process died (e.g. a codec crash): the app goes on
        return {"error": "the decoder process crashed on this file", "pool_broken": True}
    except Exception as exc:
        return {"error": f"decoding failed: {type(exc).__name__}: {exc}"}

