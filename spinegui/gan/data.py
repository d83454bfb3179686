"""Training images for a GAN, from the workspace cache: whole images or lesion-centred crops.

Only the train split is used. Whole images come from the cache's letterboxed training arrays;
crops come from the display arrays (up to 2048 px, full bit depth), windowed like the training
arrays, so a 128-px crop keeps far more lesion detail than a 128-px whole image.
Everything a GAN of ~200 images needs fits in memory: 200 x 256 x 256 x 2 bytes = 26 MB.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from spinegui.core.dataset.cache import DEFAULT_TRAIN_SIZE, ImageCache
from spinegui.core.dataset.vindr import LESION_TYPES, NO_FINDING, VinDrIndex
from spinegui.core.dataset.workspace import Workspace
from spinegui.core.dicom.display import Window, apply_window
from spinegui.core.errors import InputError

CROP_MARGIN = 1.5        # crop side = this x the box's longer side ...
CROP_MIN_SIDE = 48       # ... and at least this many display pixels


@dataclass
class GanData:
    images: np.ndarray        # (N, size, size) uint16, 0..65535 (windowed, like the cache)
    labels: np.ndarray        # (N,) int64 index into classes
    classes: list[str]
    sources: list[str]        # the image id each sample came from (nearest-neighbour view, leakage)
    skipped: dict[str, str]   # image id -> reason

    def count(self, name: str) -> int:
        return int(np.count_nonzero(self.labels == self.classes.index(name)))


def check_classes(names: list[str], index: VinDrIndex | None = None) -> list[str]:
    """Known class names, in the order given; an unknown one is refused by name."""
    known = list(LESION_TYPES) + [NO_FINDING]
    out = []
    for name in names:
        name = name.strip()
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise InputError(None, f"unknown class '{name}'{hint}; classes: {', '.join(known)}")
        if index is not None and not images_of(index, name):
            raise InputError(index.root, f"no training image of class '{name}' in this dataset")
        out.append(name)
    if not out:
        raise InputError(None, "no class given")
    return out


def images_of(index: VinDrIndex, name: str):
    return [r for r in index.in_split("train") if r.file_exists and name in r.labels]


def load_gan_data(index: VinDrIndex, classes: list[str], size: int, *, crops: bool = False,
                  workspace: Workspace | None = None, workers: int = 2, progress=None,
                  should_stop=None, image_ids=None) -> GanData:
    """The training images of `classes`; `image_ids`, when given, is an allow-list (the experiment
    runner passes its training fold, so that a GAN never sees a validation or test image)."""
    classes = check_classes(classes, index)
    ws = workspace or Workspace.for_dataset(index.root)
    cache = ImageCache(ws.cache_dir)
    allowed = None if image_ids is None else set(image_ids)

    def of(name):
        return [r for r in images_of(index, name) if allowed is None or r.image_id in allowed]

    records = {r.image_id: r for name in classes for r in of(name)}
    train_size = max(DEFAULT_TRAIN_SIZE, size)
    cache.build([(r.image_id, r.path) for r in records.values()], train_size=train_size, workers=workers,
                progress=progress, should_stop=should_stop)
    images, labels, sources, skipped = [], [], [], {}
    for label, name in enumerate(classes):
        for record in of(name):
            try:
                if crops and name != NO_FINDING:
                    pieces = _crops(cache, record, name, size)
                else:
                    pieces = [_whole(cache, record.image_id, train_size, size)]
            except InputError as exc:
                skipped[record.image_id] = exc.reason
                continue
            images += pieces
            labels += [label] * len(pieces)
            sources += [record.image_id] * len(pieces)
    if not images:
        raise InputError(index.root, f"no usable training image for {', '.join(classes)}")
    return GanData(np.stack(images), np.array(labels, np.int64), classes, sources, skipped)


def _resize(image01: np.ndarray, size: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(image01, np.float32))
    out = np.asarray(img.resize((size, size), Image.Resampling.BOX), np.float32)
    return np.clip(np.rint(out * 65535), 0, 65535).astype(np.uint16)


def _whole(cache: ImageCache, image_id: str, train_size: int, size: int) -> np.ndarray:
    array = np.asarray(cache.open_train(image_id, train_size))
    return array.copy() if train_size == size else _resize(array / 65535.0, size)


def _crops(cache: ImageCache, record, name: str, size: int) -> list[np.ndarray]:
    entry = cache.entries.get(record.image_id, {})
    display = np.asarray(cache.open_display(record.image_id))
    center, width = entry.get("window", [None, None])[:2]
    window = Window(float(center), float(width)) if center is not None and width else None
    if window is None:
        lo, hi = float(display.min()), float(display.max())
        window = Window((lo + hi) / 2, max(hi - lo, 1.0))
    image01 = apply_window(display, window, invert=bool(entry.get("invert")))
    scale = float(entry.get("display_scale", 1.0))
    out = []
    for box in record.boxes:
        if box.lesion_type != name:
            continue
        cx, cy = (box.xmin + box.xmax) / 2 * scale, (box.ymin + box.ymax) / 2 * scale
        side = max(CROP_MIN_SIDE, CROP_MARGIN * max(box.xmax - box.xmin, box.ymax - box.ymin) * scale)
        out.append(_resize(_square(image01, cx, cy, side), size))
    if not out:
        raise InputError(record.path, f"no box of class '{name}'")
    return out


def _square(image: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """A side x side window centred on (cx, cy); outside the image is black (0)."""
    half = side / 2
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    n = max(1, int(round(side)))
    out = np.zeros((n, n), np.float32)
    h, w = image.shape
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + n), min(h, y0 + n)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out

