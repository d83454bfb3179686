"""VinDr CSV: ``annotations/train.csv`` and ``annotations/test.csv``, the dataset's own schema.

Plain export writes exactly the 9 dataset columns, so the files drop into a dataset root and load with
``load_index``. With ``provenance`` four columns follow them (edited_by, edited_at, verified_by,
verified_at); ``load_index`` finds its columns by name and ignores these.

Every image has at least one row: a reader's "No finding" mark is a row with that rad_id, and an image
left with neither boxes nor marks (all its boxes deleted) gets one "No finding" row with an empty rad_id.
"""

from __future__ import annotations

import csv
from pathlib import Path

from spinegui.core.annotations.exports.common import by_split, make_box, make_image, num
from spinegui.core.annotations.model import AnnotatedImage
from spinegui.core.dataset.vindr import COLUMNS, NO_FINDING, SPLITS
from spinegui.core.errors import InputError
from spinegui.core.ids import id_problem, shown

PROVENANCE = ("edited_by", "edited_at", "verified_by", "verified_at")


def write(images: list[AnnotatedImage], out: Path, provenance: bool = False) -> list[Path]:
    groups = by_split(images)  # checks every id and split before the first folder is made
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    header = COLUMNS + (PROVENANCE if provenance else ())
    written = []
    for split, ims in groups.items():
        path = out / "annotations" / f"{split}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            for im in ims:
                for row in _rows(im, provenance):
                    w.writerow(row)
        written.append(path)
    return written


def _rows(im: AnnotatedImage, provenance: bool):
    a = im.ann
    ids = [im.study_id, im.series_id, im.image_id]
    verified = [a.verified_by or "", a.verified_at or ""] if a.verified_by else ["", ""]
    for b in a.boxes:
        extra = [b.edited_by or "", b.edited_at or ""] + verified if provenance else []
        yield ids + [b.rad_id, b.lesion_type, *(num(v) for v in b.xyxy)] + extra
    readers = sorted(a.no_finding) or ([] if a.boxes else [""])
    for r in readers:
        yield ids + [r, NO_FINDING, "", "", "", ""] + (["", ""] + verified if provenance else [])


def read(folder: Path) -> list[AnnotatedImage]:
    """Read ``annotations/<split>.csv`` under `folder` (an export, or a dataset root)."""
    found = [folder / "annotations" / f"{s}.csv" for s in SPLITS if (folder / "annotations" / f"{s}.csv").exists()]
    if not found:
        raise InputError(folder, "no annotations/train.csv or annotations/test.csv here")
    images: list[AnnotatedImage] = []
    for path in found:
        images += _read_csv(path, path.stem)
    return images


def _read_csv(path: Path, split: str) -> list[AnnotatedImage]:
    metas: dict[str, dict] = {}
    boxes: dict[str, list] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(path, "missing column(s): " + ", ".join(missing))
            for line, row in enumerate(reader, start=2):
                image_id = (row["image_id"] or "").strip()
                problem = id_problem(image_id)  # an id names the image's file: never a path
                if problem:
                    raise InputError(path, f"line {line}: image_id {shown(image_id)} is not a plain file name "
                                           f"({problem})")
                meta = metas.setdefault(image_id, {"study_id": row["study_id"], "series_id": row["series_id"],
                                                   "split": split, "no_finding": []})
                if row.get("verified_by"):
                    meta["verified_by"], meta["verified_at"] = row["verified_by"], row.get("verified_at")
                boxes.setdefault(image_id, [])
                if row["lesion_type"] == NO_FINDING:
                    meta["no_finding"].append(row["rad_id"])
                    continue
                coords = [row[c] for c in ("xmin", "ymin", "xmax", "ymax")]
                boxes[image_id].append(make_box(f"{path}:{line}", row["lesion_type"], coords, row))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    return [make_image(image_id, meta, boxes[image_id], where=path) for image_id, meta in metas.items()]
