"""The annotation values shared by the store, its overlay file and the export formats (no Qt).

Everything here is immutable, so the store can keep whole-image snapshots for undo and hand them to
the UI or to an exporter without copying. Coordinates are float pixels, xyxy, in the stored image's
grid (the VinDr convention).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from spinegui.core.dataset.vindr import LESION_TYPES, NO_FINDING, ImageRecord
from spinegui.core.errors import InputError

XYXY = tuple[float, float, float, float]
MAX_READER_LEN = 64


@dataclass(frozen=True)
class AnnBox:
    """One lesion box. `uid` identifies it for the UI (unique within its image)."""

    uid: str
    lesion_type: str
    xyxy: XYXY
    rad_id: str                    # the reader who drew it
    edited_by: str | None = None   # the reader who last changed it in this workspace, and when (UTC)
    edited_at: str | None = None


@dataclass(frozen=True)
class ImageAnnotations:
    """The current annotations of one image."""

    boxes: tuple[AnnBox, ...] = ()
    no_finding: frozenset[str] = frozenset()  # readers who marked the image "No finding"
    verified_by: str | None = None
    verified_at: str | None = None

    @property
    def verified(self) -> bool:
        return self.verified_by is not None

    @property
    def labels(self) -> set[str]:
        """Image-level labels, as ImageRecord.labels: the lesion types boxed, or {'No finding'}."""
        return {b.lesion_type for b in self.boxes} or {NO_FINDING}

    def box(self, uid: str) -> AnnBox | None:
        return next((b for b in self.boxes if b.uid == uid), None)


@dataclass(frozen=True)
class AnnotatedImage:
    """An image's identity plus its annotations: the unit the export formats write and read."""

    image_id: str
    study_id: str
    series_id: str
    split: str
    ann: ImageAnnotations


# --- construction -------------------------------------------------------------------------------
def original_annotations(rec: ImageRecord) -> ImageAnnotations:
    """The dataset's own annotations of an image. Box uids are their order in the CSV (stable)."""
    boxes = tuple(AnnBox(f"d{i}", b.lesion_type, b.xyxy, b.rad_id) for i, b in enumerate(rec.boxes))
    # A "No finding" row without a reader only says the image exists: it names no reader.
    return ImageAnnotations(boxes, frozenset(r for r in rec.no_finding_readers if r))


def new_uid() -> str:
    return "n" + uuid.uuid4().hex[:12]


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def renumbered(ann: ImageAnnotations) -> ImageAnnotations:
    """Give boxes read back from a file fresh per-image uids (d0, d1, ... in file order)."""
    return replace(ann, boxes=tuple(replace(b, uid=f"d{i}") for i, b in enumerate(ann.boxes)))


# --- validation ---------------------------------------------------------------------------------
def check_reader(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError(None, "the reader's name is empty; set it (e.g. 'rad1') before editing")
    name = name.strip()
    if len(name) > MAX_READER_LEN or any(not c.isprintable() for c in name):
        raise InputError(None, f"invalid reader name {name[:MAX_READER_LEN]!r}: use at most "
                               f"{MAX_READER_LEN} printable characters")
    return name


def check_lesion_type(label: object) -> str:
    if label == NO_FINDING:
        raise InputError(None, "'No finding' is not a box label; mark the image 'No finding' instead")
    if label not in LESION_TYPES:
        raise InputError(None, f"unknown lesion type {label!r}; expected one of: " + ", ".join(LESION_TYPES))
    return label  # type: ignore[return-value]


def check_xyxy(xyxy: Iterable[float], size: tuple[int, int] | None = None) -> XYXY:
    """Validate a box (finite, non-empty, not inverted) and clip it to the image when its size is known.

    `size` is (rows, cols), as the cache manifest stores it.
    """
    try:
        vals = [float(v) for v in xyxy]
    except (TypeError, ValueError):
        raise InputError(None, f"box coordinates must be 4 numbers (got {xyxy!r})") from None
    if len(vals) != 4:
        raise InputError(None, f"box coordinates must be 4 numbers xmin, ymin, xmax, ymax (got {len(vals)})")
    if not all(math.isfinite(v) for v in vals):
        raise InputError(None, f"box coordinates must be finite (got {vals})")
    x0, y0, x1, y1 = vals
    if x0 >= x1 or y0 >= y1:
        raise InputError(None, f"empty or inverted box: xmin={x0:g} xmax={x1:g} ymin={y0:g} ymax={y1:g}")
    if size is not None:
        rows, cols = size
        x0, x1 = min(max(x0, 0.0), float(cols)), min(max(x1, 0.0), float(cols))
        y0, y1 = min(max(y0, 0.0), float(rows)), min(max(y1, 0.0), float(rows))
        if x0 >= x1 or y0 >= y1:
            raise InputError(None, f"box ({vals[0]:g}, {vals[1]:g}, {vals[2]:g}, {vals[3]:g}) lies outside "
                                   f"the {cols}x{rows} image")
    return (x0, y0, x1, y1)


# --- JSON (the overlay file, and the export formats' side data) -------------------------------
def box_to_json(b: AnnBox) -> dict:
    d = {"uid": b.uid, "lesion_type": b.lesion_type, "xyxy": list(b.xyxy), "rad_id": b.rad_id}
    if b.edited_by is not None:
        d["edited_by"], d["edited_at"] = b.edited_by, b.edited_at
    return d


def box_from_json(d: dict) -> AnnBox:
    if not isinstance(d, dict) or not isinstance(d.get("xyxy"), list):
        raise ValueError("a box is not an object with an xyxy list")
    xyxy = tuple(float(v) for v in d["xyxy"] if isinstance(v, (int, float)) and not isinstance(v, bool))
    if len(xyxy) != 4 or len(d["xyxy"]) != 4:
        raise ValueError(f"box {_short(d.get('uid'))}: xyxy needs 4 numbers")
    if not all(math.isfinite(v) for v in xyxy):  # NaN/Infinity parse as JSON, but are no place on an image
        raise ValueError(f"box {_short(d.get('uid'))}: coordinates are not finite ({list(xyxy)})")
    uid, rad_id = d.get("uid"), d.get("rad_id")
    if not isinstance(uid, (str, int)) or not isinstance(rad_id, (str, int)):
        raise ValueError(f"box {_short(uid)}: uid and rad_id must be strings")
    return AnnBox(str(uid), check_lesion_type(d.get("lesion_type")), xyxy, str(rad_id),  # type: ignore[arg-type]
                  _opt_str(d.get("edited_by")), _opt_str(d.get("edited_at")))


def ann_to_json(a: ImageAnnotations) -> dict:
    d: dict = {"boxes": [box_to_json(b) for b in a.boxes], "no_finding": sorted(a.no_finding)}
    if a.verified_by is not None:
        d["verified_by"], d["verified_at"] = a.verified_by, a.verified_at
    return d


def ann_from_json(d: dict) -> ImageAnnotations:
    if not isinstance(d, dict):
        raise ValueError("an image's annotations are not an object")
    boxes, no_finding = d.get("boxes", []), d.get("no_finding", [])
    if not isinstance(boxes, list) or not isinstance(no_finding, list):
        raise ValueError("'boxes' and 'no_finding' must be lists")
    boxes = tuple(box_from_json(b) for b in boxes)
    if len({b.uid for b in boxes}) != len(boxes):
        raise ValueError("duplicate box uid")
    if not all(isinstance(r, str) for r in no_finding):
        raise ValueError("'no_finding' must list reader names")
    return ImageAnnotations(boxes, frozenset(no_finding), _opt_str(d.get("verified_by")),
                            _opt_str(d.get("verified_at")))


def _opt_str(v: object) -> str | None:
    if v is not None and not isinstance(v, str):
        raise ValueError(f"expected a string or null, got {type(v).__name__}")
    return v


def _short(v: object) -> str:
    return repr(v)[:40] if isinstance(v, (str, int)) else f"<{type(v).__name__}>"
