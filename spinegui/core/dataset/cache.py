"""The decoded-image cache: decode each DICOM once, in parallel, then memory-map it.

Layout under ``<workspace>/cache/``:
  manifest.json                 one entry per image: source key, state, geometry, window, or failure reason
  display/<image_id>.npy        modality values (full bit depth), long side <= 2048, for the viewer
  train_<S>/<image_id>.npy      S x S uint16 training array: the default window applied (MONOCHROME1
                                already inverted) and scaled to 0..65535, aspect kept, centred on black

An entry is valid while its source file's size and mtime are unchanged; a changed file is decoded again.
The build runs in worker processes (spawned: safe beside Qt and torch threads, and in a frozen app),
saves the manifest as it goes, and can be cancelled; a file that fails is recorded with its reason
(one declaring more pixels than ``SPINEGUI_MAX_PIXELS`` fails from its header, before any decoding).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.ids import safe_id

DISPLAY_MAX_SIDE = 2048
DEFAULT_TRAIN_SIZE = 256
MANIFEST_VERSION = 1
_SAVE_EVERY_S = 2.0

Progress = Callable[[int, int, str], None]  # (done, total, current item)


@dataclass(frozen=True)
class CacheJob:
    image_id: str
    source: str
    train_size: int


@dataclass
class BuildReport:
    total: int
    decoded: int
    reused: int
    failed: int
    cancelled: bool
    seconds: float


def source_key(path: str | Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


class ImageCache:
    def __init__(self, cache_dir: str | Path):
        self.dir = Path(cache_dir)
        self.manifest_path = self.dir / "manifest.json"
        self.entries: dict[str, dict] = self._load_manifest()

    def _load_manifest(self) -> dict[str, dict]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError):
            # A damaged manifest only costs a rebuild; the arrays are checked against it anyway.
            return {}
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            return {}
        return data.get("entries", {})

    def save(self) -> None:
        payload = json.dumps({"version": MANIFEST_VERSION, "entries": self.entries}, separators=(",", ":"))
        atomic_write_bytes(self.manifest_path, payload.encode("utf-8"))

    # --- reading -------------------------------------------------------------------------------
    def display_path(self, image_id: str) -> Path:
        return self.dir / "display" / f"{safe_id(image_id)}.npy"  # an id is never a path

    def train_path(self, image_id: str, size: int) -> Path:
        return self.dir / f"train_{size}" / f"{safe_id(image_id)}.npy"

    def is_fresh(self, image_id: str, source: str | Path, train_size: int | None = None) -> bool:
        entry = self.entries.get(image_id)
        if not entry or entry.get("key") != source_key(source):
            return False
        if entry["state"] == "failed":
            return True  # known bad and unchanged: do not retry on every build
        if not self.display_path(image_id).exists():
            return False
        return train_size is None or (
            str(train_size) in entry.get("train", {}) and self.train_path(image_id, train_size).exists()
        )

    def open_display(self, image_id: str) -> np.ndarray:
        """The cached display image as a read-only memory map."""
        return self._open(image_id, self.display_path(image_id))

    def open_train(self, image_id: str, size: int) -> np.ndarray:
        return self._open(image_id, self.train_path(image_id, size))

    def _open(self, image_id: str, path: Path) -> np.ndarray:
        entry = self.entries.get(image_id)
        if entry and entry.get("state") == "failed":
            raise InputError(entry.get("source"), entry.get("reason", "failed to decode"))
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cache entry unreadable ({exc}); rebuild the cache") from None

    def failures(self) -> dict[str, str]:
        return {k: e.get("reason", "") for k, e in self.entries.items() if e.get("state") == "failed"}

    # --- building ------------------------------------------------------------------------------
    def build(
        self,
        items: Iterable[tuple[str, str | Path]],
        train_size: int = DEFAULT_TRAIN_SIZE,
        workers: int | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> BuildReport:
        """Decode every (image_id, source path) that is not fresh. Incremental and cancellable."""
        start = time.perf_counter()
        items = list(items)
        todo = [
            CacheJob(safe_id(image_id), str(src), train_size)
            for image_id, src in items
            if not self.is_fresh(image_id, src, train_size)
        ]
        reused = len(items) - len(todo)
        report = BuildReport(len(items), 0, reused, 0, False, 0.0)
        if progress:
            progress(reused, len(items), "")
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
        try:
            (self.dir / "display").mkdir(parents=True, exist_ok=True)
            (self.dir / f"train_{train_size}").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(self.dir, f"cannot create the cache: {exc.strerror or exc}") from None
        last_save = time.monotonic()
        done = reused

        def record(job: CacheJob, result: dict) -> None:
            nonlocal done, last_save
            if result["state"] == "io-error":  # our disk, not the file: say so, do not remember it
                raise InputError(self.dir, result["reason"])
            done += 1
            old = self.entries.get(job.image_id, {})
            if result["state"] == "ok" and old.get("key") == result["key"]:
                result["train"] = {**old.get("train", {}), **result["train"]}
            self.entries[job.image_id] = result
            if result["state"] == "ok":
                report.decoded += 1
            else:
                report.failed += 1
            if progress:
                progress(done, len(items), job.image_id)
            if time.monotonic() - last_save > _SAVE_EVERY_S:
                self.save()
                last_save = time.monotonic()

        try:
            if workers == 1 or len(todo) <= 1:
                _worker_init()
                for job in todo:
                    if should_stop and should_stop():
                        report.cancelled = True
                        break
                    record(job, decode_to_cache(self.dir, job))
            else:
                report.cancelled = self._build_parallel(todo, workers, record, should_stop)
        finally:
            try:
                self.save()
            except OSError as exc:
                raise InputError(self.manifest_path, f"cannot save the cache manifest: {exc.strerror or exc}") from None
        report.seconds = time.perf_counter() - start
        return report

    def _build_parallel(self, todo, workers, record, should_stop) -> bool:
        pending_jobs = iter(todo)
        in_flight = {}
        # Keep a short queue per worker so that cancelling does not wait for a long backlog.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
            def submit_more():
                while len(in_flight) < workers * 2:
                    job = next(pending_jobs, None)
                    if job is None:
                        return
                    in_flight[pool.submit(decode_to_cache, self.dir, job)] = job

            submit_more()
            while in_flight:
                finished, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job = in_flight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        # A decoder crashed the pool: every job in flight dies with it, so none can
                        # be blamed. Keep what is done and say so; the next build carries on.
                        raise InputError(self.dir, "a decoder process crashed; run the cache build again "
                                                   "(images decoded so far are kept)") from None
                    record(job, result)
                if should_stop and should_stop():
                    for fut in in_flight:
                        fut.cancel()
                    return True
                submit_more()
        return False


def _worker_init() -> None:
    # The workers are the parallelism: one decoder thread each avoids oversubscribing the cores.
    from spinegui.core.dicom import reader as dicom_io
    from spinegui.core.procs import exit_with_parent

    dicom_io.set_decode_threads(1)
    exit_with_parent()


def _failed(job: CacheJob, reason: str) -> dict:
    return {"state": "failed", "source": job.source, "key": source_key(job.source), "reason": reason}


def decode_to_cache(cache_dir: Path, job: CacheJob) -> dict:
    """Decode one file and write its cache arrays. Runs in a worker; returns the manifest entry."""
    from spinegui.core.dicom.reader import read_image

    key = source_key(job.source)
    try:
        img = read_image(job.source)
    except InputError as exc:
        return _failed(job, exc.reason)
    pixels = img.pixels
    rows, cols = pixels.shape
    try:
        display, display_scale = resize_long_side(pixels, DISPLAY_MAX_SIDE)
        # display() applies the file's own VOI (window or VOI LUT) and MONOCHROME1 inversion; applied
        # to the already reduced display image, it costs a quarter of the full-resolution pass.
        train, geometry = letterbox(replace(img, pixels=display).display(), job.train_size)
    except MemoryError:  # an image under the pixel cap on a machine short of memory: this file fails
        return _failed(job, f"not enough memory to cache this {cols} x {rows} image")
    geometry["scale"] *= display_scale
    try:
        _save_npy(Path(cache_dir) / "display" / f"{job.image_id}.npy", display)
        _save_npy(Path(cache_dir) / f"train_{job.train_size}" / f"{job.image_id}.npy", train)
    except OSError as exc:
        return {"state": "io-error", "reason": f"cannot write the cache: {exc.strerror or exc}"}
    return {
        "state": "ok",
        "source": job.source,
        "key": key,
        "shape": [rows, cols],
        "display_shape": list(display.shape),
        "display_scale": display_scale,
        "dtype": str(display.dtype),
        "window": [img.window.center, img.window.width, img.window.source],
        "invert": bool(img.invert),
        "synthetic": bool(img.synthetic),
        "pixel_spacing": list(img.pixel_spacing) if img.pixel_spacing else None,
        "train": {str(job.train_size): geometry},
    }


def decode_full_resolution(source: str, dest: str) -> dict:
    """Decode one file at full resolution into `dest` (.npy) for the viewer to memory-map.

    Runs in a worker process: the decoders hold the GIL for up to a few hundred ms, which in a thread
    of the app would stall its event loop. Returns the display metadata, or {"error": reason}.
    """
    from spinegui.core.dicom.reader import read_image

    try:
        img = read_image(source)
    except InputError as exc:
        return {"error": exc.reason}
    try:
        _save_npy(Path(dest), np.ascontiguousarray(img.pixels))
    except MemoryError:
        return {"error": "not enough memory to show this image"}
    return {
        "window": [img.window.center, img.window.width, img.window.source],
        "invert": bool(img.invert),
        "pixel_spacing": list(img.pixel_spacing) if img.pixel_spacing else None,
        "synthetic": bool(img.synthetic),
    }


def resize_long_side(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Area-resample so the long side is at most `max_side`; keeps the dtype (full bit depth)."""
    rows, cols = pixels.shape
    scale = min(1.0, max_side / max(rows, cols))
    if scale == 1.0:
        return np.ascontiguousarray(pixels), 1.0
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    out = _resize_float(pixels.astype(np.float32, copy=False), size)
    if np.issubdtype(pixels.dtype, np.integer):
        info = np.iinfo(pixels.dtype)
        out = np.clip(np.rint(out), info.min, info.max).astype(pixels.dtype)
    return out, scale


def letterbox(image01: np.ndarray, size: int) -> tuple[np.ndarray, dict]:
    """Fit a [0,1] image into size x size, aspect kept, centred on 0; uint16 0..65535.

    The geometry maps image pixels to array pixels: x' = x * scale + offset_x (same for y).
    """
    rows, cols = image01.shape
    scale = size / max(rows, cols)
    new_w, new_h = max(1, round(cols * scale)), max(1, round(rows * scale))
    resized = _resize_float(image01.astype(np.float32, copy=False), (new_w, new_h))
    out = np.zeros((size, size), dtype=np.uint16)
    ox, oy = (size - new_w) // 2, (size - new_h) // 2
    out[oy : oy + new_h, ox : ox + new_w] = np.clip(np.rint(resized * 65535.0), 0, 65535).astype(np.uint16)
    return out, {"scale": scale, "offset": [ox, oy], "content": [new_w, new_h]}


def _resize_float(pixels: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    # Pillow's 32-bit float mode resamples in C with a proper box (area) filter when shrinking.
    small = Image.fromarray(np.ascontiguousarray(pixels)).resize(size_wh, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)
