"""YOLO txt: ``labels/<split>/<image_id>.txt`` with ``class cx cy w h`` (normalised to the image).

Beside them: ``classes.txt`` (one name a line, class id = line number, LESION_TYPES order),
``data.yaml`` (Ultralytics-style names; the images themselves are DICOM and must be converted into
``images/<split>/`` to train), and ``spinegui_meta.json`` holding what YOLO cannot: per image the
study/series ids, split, size, "No finding" readers, verification, and per label line the reader
(and editor). An image without boxes has an empty label file, as YOLO expects for background images.
"""

from __future__ import annotations

import json
from pathlib import Path

from spinegui.core.annotations.exports.common import YOLO_IDS, box_meta, by_split, image_meta, make_box, make_image
from spinegui.core.annotations.model import AnnotatedImage
from spinegui.core.dataset.vindr import LESION_TYPES
from spinegui.core.errors import InputError
from spinegui.core.ids import safe_id

META_FILE = "spinegui_meta.json"
META_FORMAT = "spinegui-yolo-meta"


def write(images: list[AnnotatedImage], out: Path, sizes: dict[str, tuple[int, int]]) -> list[Path]:
    groups = by_split(images)  # checks every id and split before the first file is written
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "classes.txt", out / "data.yaml", out / META_FILE]
    written[0].write_text("".join(f"{name}\n" for name in LESION_TYPES), encoding="utf-8")
    names = ", ".join(json.dumps(n) for n in LESION_TYPES)  # a JSON list is a YAML flow sequence
    written[1].write_text(
        "# VinDr-SpineXR lesion boxes exported by spinegui. The images are DICOM: convert them to\n"
        "# images/train and images/test (same stems as labels/) before training.\n"
        f"path: .\ntrain: images/train\nval: images/test\nnc: {len(LESION_TYPES)}\nnames: [{names}]\n",
        encoding="utf-8")
    meta: dict = {"format": META_FORMAT, "version": 1, "images": {}}
    for split, ims in groups.items():
        label_dir = out / "labels" / safe_id(split, "split")
        label_dir.mkdir(parents=True, exist_ok=True)
        for im in ims:
            rows, cols = sizes[im.image_id]
            lines = []
            for b in im.ann.boxes:
                x0, y0, x1, y1 = b.xyxy
                cx, cy, w, h = (x0 + x1) / 2 / cols, (y0 + y1) / 2 / rows, (x1 - x0) / cols, (y1 - y0) / rows
                # 8 decimals of a <= 4,300 px side: < 1e-4 px
                lines.append(f"{YOLO_IDS[b.lesion_type]} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}\n")
            path = label_dir / f"{safe_id(im.image_id)}.txt"
            path.write_text("".join(lines), encoding="utf-8")
            written.append(path)
            meta["images"][im.image_id] = {**image_meta(im), "width": cols, "height": rows,
                                           "boxes": [box_meta(b) for b in im.ann.boxes]}
    written[2].write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return written


def read(folder: Path) -> list[AnnotatedImage]:
    meta_path = folder / META_FILE
    try:
        doc = json.loads(meta_path.read_text(encoding="utf-8"))
        if doc.get("format") != META_FORMAT:
            raise ValueError("not a spinegui YOLO side file")
        metas = doc["images"]
        classes = (folder / "classes.txt").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(exc.filename, "missing: YOLO labels alone hold neither readers nor image sizes") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(meta_path, f"not usable: {exc}") from None
    return [_read_image(folder, image_id, m, classes) for image_id, m in metas.items()]


def _read_image(folder: Path, image_id: str, meta: dict, classes: list[str]) -> AnnotatedImage:
    # The side file's ids and splits name label files: plain file names only, never paths.
    where = folder / META_FILE
    safe_id(image_id, where=where)
    if not isinstance(meta, dict):
        raise InputError(where, f"image {image_id}: not a JSON object")
    split = meta.get("split", "")
    path = folder / "labels" / (safe_id(split, f"image {image_id}: split", where) if split else "")
    path = path / f"{image_id}.txt"
    try:
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        cols, rows = float(meta["width"]), float(meta["height"])
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    except (KeyError, TypeError, ValueError):
        raise InputError(folder / META_FILE, f"image {image_id}: no usable width/height") from None
    box_metas = meta.get("boxes", [])
    if len(box_metas) != len(lines):
        raise InputError(path, f"{len(lines)} label lines but {META_FILE} describes {len(box_metas)}")
    boxes = []
    for n, (parts, bm) in enumerate(zip(lines, box_metas), 1):
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:5])
            if not 0 <= cls < len(classes):
                raise IndexError(cls)
            label = classes[cls]
        except (ValueError, IndexError):
            raise InputError(path, f"line {n}: expected 'class cx cy w h' with a class in classes.txt") from None
        xyxy = ((cx - w / 2) * cols, (cy - h / 2) * rows, (cx + w / 2) * cols, (cy + h / 2) * rows)
        boxes.append(make_box(f"{path}:{n}", label, xyxy, bm))
    return make_image(image_id, meta, boxes, where=where)
