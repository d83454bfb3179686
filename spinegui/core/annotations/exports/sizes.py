"""Image sizes (rows, cols) for the formats that need them (COCO, VOC, YOLO).

From the decoded-image cache's manifest when its entry is fresh, otherwise from the DICOM header alone
(no pixel is read: a few milliseconds a file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from spinegui.core.dataset.cache import ImageCache, source_key
from spinegui.core.dataset.vindr import VinDrIndex
from spinegui.core.dicom.header import first_float, open_dataset, quiet_reader
from spinegui.core.errors import InputError


def header_size(path: str | Path) -> tuple[int, int]:
    """(rows, cols) from a DICOM header. Raises InputError."""
    p = Path(path)
    with quiet_reader():  # VinDr's hex UIDs make pydicom warn on every file
        ds = open_dataset(p, pixels=False)
        rows, cols = first_float(ds.get("Rows")), first_float(ds.get("Columns"))
    if not rows or not cols:
        raise InputError(p, "no image size (Rows/Columns) in the DICOM header")
    return int(rows), int(cols)


def image_sizes(
    index: VinDrIndex,
    cache_dir: str | Path | None = None,
    image_ids: Iterable[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    """(sizes, failures): image_id -> (rows, cols), and image_id -> reason for the unreadable ones."""
    ids = list(index.images if image_ids is None else image_ids)
    entries: dict[str, dict] = {}
    if cache_dir is not None and (Path(cache_dir) / "manifest.json").exists():
        entries = ImageCache(cache_dir).entries
    sizes: dict[str, tuple[int, int]] = {}
    failures: dict[str, str] = {}
    for n, image_id in enumerate(ids, 1):
        rec = index.images[image_id]
        entry = entries.get(image_id)
        if entry and entry.get("state") == "ok" and entry.get("shape") and entry.get("key") == source_key(rec.path):
            rows, cols = entry["shape"]
            sizes[image_id] = (int(rows), int(cols))
        else:
            try:
                sizes[image_id] = header_size(rec.path)
            except InputError as exc:
                failures[image_id] = exc.reason
        if progress:
            progress(n, len(ids), image_id)
    return sizes, failures
