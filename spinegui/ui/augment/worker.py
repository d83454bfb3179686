"""The Augment tab's worker process: runs ``Augmenter(config)(image, boxes, seed=..., value_range=...)``,
the very call the `spinegui augment` export makes, so that the app itself never imports torch.

Qt-free on purpose: the spawned process imports this module (not the Qt client in ``augment_engine``),
then torch and the augmentation pipeline. ``worker_main`` is the module-level entry for
multiprocessing's spawn context (also in a PyInstaller-frozen app, whose entry calls freeze_support());
the loop and the protocol are ``spinegui.workers.loop``'s.

A request: {"id", "source", "chain", "boxes", "config", "seeds"}; its payload: {"results": [..], "scale",
"value_range", "ms"} or {"error": line}.

``source`` names a .npy file (the display cache, or a copy the client wrote) that the worker memory-maps:
{"path", "shape", "dtype", "bits_stored", "dicom"}. ``chain`` is the sequence of long-side reductions
applied to it before augmenting ((512,) for the preview, (512, 256) for the grid, () for full
resolution); the reduced arrays are kept for the last few sources, so a dragged slider costs one
augmentation per request. ``boxes`` are (k, 4) XYXY in the source array's pixels; the replies' boxes are
in the pixels of the array that was augmented (``scale`` of them per source-array pixel).
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from spinegui.workers.loop import serve

KEEP_SOURCES = 3


def worker_main(conn) -> None:
    """Entry of the worker process: import the pipeline once, then answer requests until told to stop."""
    serve(conn, _load, failed="the augmentation engine did not load")


def _load():
    import torch

    from spinegui.augment.knobs import defaults
    from spinegui.augment.pipeline import Augmenter

    # torch only moves the boxes here (small tensors): its thread pool costs more than it gives
    # (an elastic preview's boxes: 28 ms with 2 threads on a busy 2-core machine, 4 ms with one).
    torch.set_num_threads(1)
    # One tiny run, so that every lazy import (torch, torchvision, OpenCV) happens before "ready".
    Augmenter(defaults())(np.zeros((8, 8), np.uint16), np.array([[1.0, 1.0, 5.0, 5.0]]), seed=0)
    return functools.partial(run_request, sources=Sources(), augmenter_class=Augmenter)


def run_request(request: dict, sources: Sources, augmenter_class) -> dict:
    """One request: the reduced source, its boxes, one Augmenter run per seed. Never raises."""
    t0 = time.perf_counter()
    try:
        source = sources.get(request["source"])
        pixels, scale = source.reduced(tuple(request["chain"]))
        boxes = np.asarray(request["boxes"], np.float64).reshape(-1, 4) * scale
        aug = augmenter_class(request["config"])
        results = []
        for seed in request["seeds"]:
            res = aug(pixels, boxes, seed=int(seed), value_range=source.value_range)
            results.append({"image": np.asarray(res.image), "boxes": np.asarray(res.boxes),
                            "kept": np.asarray(res.kept), "visibility": np.asarray(res.visibility),
                            "params": res.params})
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"results": results, "scale": scale, "value_range": source.value_range,
            "ms": (time.perf_counter() - t0) * 1000}


class Sources:
    """The last few source images, memory-mapped, with their reduced versions and value ranges."""

    def __init__(self):
        self._items: OrderedDict[tuple, Source] = OrderedDict()

    def get(self, desc: dict) -> Source:
        st = os.stat(desc["path"])  # a file replaced under the same name is a new source
        key = (desc["path"], st.st_ino, st.st_size, st.st_mtime_ns, desc.get("bits_stored"), desc.get("dicom"))
        if key in self._items:
            self._items.move_to_end(key)
        else:
            self._items[key] = Source(desc)
            while len(self._items) > KEEP_SOURCES:
                self._items.popitem(last=False)
        return self._items[key]


class Source:
    def __init__(self, desc: dict):
        pixels = np.load(desc["path"], mmap_mode="r", allow_pickle=False)
        if tuple(pixels.shape) != tuple(desc["shape"]) or str(pixels.dtype) != desc["dtype"]:
            raise ValueError(f"{desc['path']} holds a {pixels.dtype} array of shape {pixels.shape}, "
                             f"not the {desc['dtype']} {tuple(desc['shape'])} image shown")
        self.pixels = pixels
        self.value_range = value_range_for(pixels, desc.get("bits_stored"), desc.get("dicom"))
        self._reduced: dict[tuple, tuple[np.ndarray, float]] = {(): (pixels, 1.0)}

    def reduced(self, chain: tuple) -> tuple[np.ndarray, float]:
        """The source reduced to each long side of ``chain`` in turn, and its pixels per source pixel."""
        if chain not in self._reduced:
            from spinegui.core.dataset.cache import resize_long_side

            base, scale = self.reduced(chain[:-1])
            small, f = resize_long_side(base, chain[-1])
            self._reduced[chain] = (small, scale * f)
        return self._reduced[chain]


def value_range_for(pixels: np.ndarray, bits_stored: int | None, dicom: str | None) -> tuple[float, float]:
    """The range the intensity transforms and the fill work in, as `spinegui augment` has it.

    Unsigned images: (0, 2**bits - 1) with bits = max(BitsStored, bits of the largest value), the
    export's rule, BitsStored given or read from the DICOM header at ``dicom``. Without either, the
    bits of the largest value alone (the same range whenever the image reaches its top stored bit;
    the dtype's range, (0, 65535) for 12-bit data in uint16, would turn a contrast of 1.2 about its
    middle into a black image). Signed and float images (which the export refuses): their finite
    minimum and maximum."""
    if pixels.dtype.kind == "u":
        if bits_stored is None and dicom:
            bits_stored = read_bits_stored(dicom)
        top = int(np.max(pixels)).bit_length() if pixels.size else 1
        bits = min(pixels.dtype.itemsize * 8, max(int(bits_stored or 0), top, 1))
        return 0.0, float(2**bits - 1)
    from spinegui.core.dicom.display import value_range

    return value_range(pixels)


def read_bits_stored(path: str) -> int | None:
    from spinegui.core.dicom.header import open_dataset, quiet_reader

    try:
        with quiet_reader():
            ds = open_dataset(Path(path), pixels=False)
        value = ds.get("BitsStored") or ds.get("BitsAllocated")
        return int(value) if value else None
    except Exception:  # an unreadable header: the dtype's range
        return None
