"""COCO JSON: ``annotations/instances_<split>.json``, one file per split.

Categories are the 7 lesion types with stable ids 1..7 (LESION_TYPES order). Images get integer ids
(what COCO tools expect) and carry the VinDr ids as extra keys: ``vindr_image_id``, ``study_id``,
``series_id``, ``split``, ``no_finding`` (readers) and ``verified_by``/``verified_at``. Annotations are
``bbox`` [x, y, w, h] in pixels, ``area`` w*h, ``iscrowd`` 0, plus ``rad_id`` (and ``edited_by``,
``edited_at`` for edited boxes). ``file_name`` is the DICOM path relative to the dataset root.
"""

from __future__ import annotations

import json
from pathlib import Path

from spinegui import __version__
from spinegui.core.annotations.exports.common import COCO_IDS, box_meta, by_split, image_meta, make_box, make_image
from spinegui.core.annotations.model import AnnotatedImage, utc_now
from spinegui.core.dataset.vindr import IMAGE_SUFFIX, SPLITS
from spinegui.core.errors import InputError


def _r(v: float) -> float:
    return round(v, 6)  # far below the 1e-3 px promise; keeps the file short


def write(images: list[AnnotatedImage], out: Path, sizes: dict[str, tuple[int, int]]) -> list[Path]:
    groups = by_split(images)  # checks every id and split before the first folder is made
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    categories = [{"id": i, "name": name, "supercategory": "lesion"} for name, i in COCO_IDS.items()]
    written = []
    for split, ims in groups.items():
        coco_images, anns = [], []
        for n, im in enumerate(ims, 1):
            rows, cols = sizes[im.image_id]
            coco_images.append({"id": n, "file_name": f"{im.split}_images/{im.image_id}{IMAGE_SUFFIX}",
                                "width": cols, "height": rows, "vindr_image_id": im.image_id, **image_meta(im)})
            for b in im.ann.boxes:
                x0, y0, x1, y1 = b.xyxy
                w, h = x1 - x0, y1 - y0
                anns.append({"id": len(anns) + 1, "image_id": n, "category_id": COCO_IDS[b.lesion_type],
                             "bbox": [_r(x0), _r(y0), _r(w), _r(h)], "area": _r(w * h), "iscrowd": 0,
                             **box_meta(b)})
        doc = {
            "info": {"description": f"VinDr-SpineXR {split} lesion boxes", "version": __version__,
                     "contributor": "spinegui export", "date_created": utc_now()},
            "licenses": [],
            "images": coco_images,
            "annotations": anns,
            "categories": categories,
        }
        path = out / "annotations" / f"instances_{split}.json"
        path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        written.append(path)
    return written


def read(folder: Path) -> list[AnnotatedImage]:
    paths = [folder / "annotations" / f"instances_{s}.json" for s in SPLITS]
    paths = [p for p in paths if p.exists()] or sorted(folder.glob("*.json"))
    if not paths:
        raise InputError(folder, "no COCO file here (annotations/instances_<split>.json)")
    images: list[AnnotatedImage] = []
    for path in paths:
        images += _read_file(path)
    return images


def _read_file(path: Path) -> list[AnnotatedImage]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        names = {c["id"]: c["name"] for c in doc["categories"]}
        metas, boxes = {}, {}
        for img in doc["images"]:
            metas[img["id"]] = img
            boxes[img["id"]] = []
        for ann in doc["annotations"]:
            x, y, w, h = ann["bbox"]
            where = f"{path} (annotation id {ann.get('id')})"
            if ann["image_id"] not in boxes:
                raise InputError(path, f"annotation {ann.get('id')} refers to unknown image {ann['image_id']}")
            boxes[ann["image_id"]].append(make_box(where, names.get(ann["category_id"]), (x, y, x + w, y + h), ann))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a usable COCO file: {type(exc).__name__}: {exc}") from None
    out = []
    for key, img in metas.items():
        image_id = img.get("vindr_image_id") or Path(img.get("file_name", str(key))).stem
        out.append(make_image(str(image_id), img, boxes[key], where=path))
    return out
