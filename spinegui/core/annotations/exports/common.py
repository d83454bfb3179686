"""What the export formats share: number formatting, side data, and checks on what they read."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from spinegui.core.annotations.model import AnnBox, AnnotatedImage, ImageAnnotations, check_lesion_type, renumbered
from spinegui.core.dataset.vindr import LESION_TYPES, SPLITS
from spinegui.core.errors import InputError
from spinegui.core.ids import safe_id

# Stable category ids: COCO counts from 1 (0 is background by convention), YOLO from 0.
COCO_IDS = {name: i + 1 for i, name in enumerate(LESION_TYPES)}
YOLO_IDS = {name: i for i, name in enumerate(LESION_TYPES)}


def num(v: float) -> str:
    """A coordinate as text: 4 decimals (well under the 1e-3 px round-trip promise), trailing zeros
    trimmed to the dataset's own two ("165.80")."""
    s = f"{v:.4f}"
    while s.endswith("0") and len(s.split(".")[1]) > 2:
        s = s[:-1]
    return s


def by_split(images: Iterable[AnnotatedImage]) -> dict[str, list[AnnotatedImage]]:
    """Images per split. Every writer groups through here, and ids and splits name files: InputError
    for one that is not a plain file name, before anything is written."""
    out: dict[str, list[AnnotatedImage]] = {s: [] for s in SPLITS}
    for im in images:
        safe_id(im.image_id)
        if im.split not in out:
            safe_id(im.split, f"image {im.image_id}: split")
        out.setdefault(im.split, []).append(im)
    return out


def require_sizes(images: list[AnnotatedImage], sizes: dict[str, tuple[int, int]] | None, fmt: str) -> None:
    missing = [im.image_id for im in images if not sizes or im.image_id not in sizes]
    if missing:
        raise InputError(None, f"{fmt} needs every image's size; {len(missing)} unknown (e.g. {missing[0]}): "
                               "build the cache or check that the image files exist")


def box_meta(b: AnnBox) -> dict:
    """What a box carries besides label and geometry (extra keys in COCO/VOC, side file for YOLO)."""
    d = {"rad_id": b.rad_id}
    if b.edited_by is not None:
        d["edited_by"], d["edited_at"] = b.edited_by, b.edited_at
    return d


def image_meta(im: AnnotatedImage) -> dict:
    d = {"study_id": im.study_id, "series_id": im.series_id, "split": im.split,
         "no_finding": sorted(im.ann.no_finding)}
    if im.ann.verified_by is not None:
        d["verified_by"], d["verified_at"] = im.ann.verified_by, im.ann.verified_at
    return d


def make_box(where: str | Path, lesion_type: object, xyxy, meta: dict) -> AnnBox:
    """A box read back from a file; InputError naming `where` when it is not usable."""
    try:
        label = check_lesion_type(lesion_type)
        x0, y0, x1, y1 = (float(v) for v in xyxy)
    except InputError as exc:
        raise InputError(where, exc.reason) from None
    except (TypeError, ValueError):
        raise InputError(where, f"bad box coordinates {xyxy!r}") from None
    if not x0 < x1 or not y0 < y1:
        raise InputError(where, f"empty or inverted box ({x0:g}, {y0:g}, {x1:g}, {y1:g})")
    edited_by = meta.get("edited_by") or None
    return AnnBox("", label, (x0, y0, x1, y1), str(meta.get("rad_id") or ""),
                  edited_by, (meta.get("edited_at") or None) if edited_by else None)


def make_image(image_id: str, meta: dict, boxes: list[AnnBox], where: str | Path | None = None) -> AnnotatedImage:
    """An image read back from a file (`where`); InputError when its id is not a plain file name."""
    safe_id(image_id, where=where)
    verified_by = meta.get("verified_by") or None
    ann = ImageAnnotations(tuple(boxes), frozenset(r for r in meta.get("no_finding", []) if r),
                           verified_by, (meta.get("verified_at") or None) if verified_by else None)
    return AnnotatedImage(image_id, str(meta.get("study_id") or ""), str(meta.get("series_id") or ""),
                          str(meta.get("split") or ""), renumbered(ann))
