"""How imported annotations replace an image's current ones (no Qt; used by AnnotationStore.import_images).

A box read back from a file that equals a current box (same lesion type and reader, xyxy within
``MATCH_TOL`` px: the export formats keep coordinates to well under that) *is* that box: it keeps its
uid and its editor. Every other imported box is new: a fresh uid unique within the image, its reader
from the file, and the importing reader (now) as its editor. So importing an image's own export back
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, replace

from spinegui.core.annotations.model import AnnBox, AnnotatedImage, ImageAnnotations, check_xyxy, new_uid, utc_now
from spinegui.core.errors import InputError

MATCH_TOL = 1e-3
Change = tuple[str, ImageAnnotations, ImageAnnotations]  # (image_id, before, after)


@dataclass(frozen=True)
class Step:
    """One undoable edit: whole-image snapshots (immutable, so cheap) of every image it changed
    (image_id, before, after), distinct images, and its menu text."""

    changes: tuple[Change, ...]
    text: str

    @property
    def image_id(self) -> str:
        """The first image the step changed (what undo/redo report and the UI shows)."""
        return self.changes[0][0]


def _same_box(a: AnnBox, b: AnnBox) -> bool:
    return (a.lesion_type == b.lesion_type and a.rad_id == b.rad_id
            and all(abs(x - y) <= MATCH_TOL for x, y in zip(a.xyxy, b.xyxy)))


def imported_annotations(image_id: str, current: ImageAnnotations, imported: ImageAnnotations, reader: str,
                         now: str, size: tuple[int, int] | None = None) -> ImageAnnotations:
    """`current` replaced by `imported`: its boxes (in file order), "No finding" readers and verification.

    New boxes are validated and clipped to `size` (rows, cols) when known; InputError naming the image
    when one is unusable (e.g. wholly outside the image).
    """
    unused = list(current.boxes)
    taken = {b.uid for b in current.boxes}
    boxes: list[AnnBox] = []
    matched = 0
    for b in imported.boxes:
        same = next((c for c in unused if _same_box(c, b)), None)
        if same is not None:
            unused.remove(same)
            boxes.append(same)
            matched += 1
            continue
        try:
            xyxy = check_xyxy(b.xyxy, size)
        except InputError as exc:
            raise InputError(None, f"image {image_id}: {exc.reason}") from None
        uid = new_uid()
        while uid in taken:
            uid = new_uid()
        taken.add(uid)
        boxes.append(AnnBox(uid, b.lesion_type, xyxy, b.rad_id, reader, now))
    if matched == len(boxes) == len(current.boxes):
        boxes = list(current.boxes)  # the same boxes: keep their order too
    if imported.verified_by == current.verified_by:
        verified = (current.verified_by, current.verified_at)  # same verifier: keep the current record
    else:
        verified = (imported.verified_by, imported.verified_at if imported.verified_by else None)
    return replace(current, boxes=tuple(boxes), no_finding=frozenset(imported.no_finding),
                   verified_by=verified[0], verified_at=verified[1])


def plan_import(images: Iterable[AnnotatedImage], known: Container[str],
                current: Callable[[str], ImageAnnotations], reader: str,
                sizes: dict[str, tuple[int, int]]) -> tuple[list[Change], dict]:
    """The changes an import makes, and its counts. Images not in `known` are skipped (counted): an id
    from the file is only ever matched against the index's own (plain file names, spinegui.core.ids),
    never used to name a file. A later entry for the same image wins. Returns (changes,
    {"images_changed", "boxes" (the boxes the known images hold in the file), "unknown_images",
    "unchanged" (known images already as in the file)}).
    """
    latest: dict[str, ImageAnnotations] = {}
    unknown: set[str] = set()
    for im in images:
        if im.image_id in known:
            latest[im.image_id] = im.ann
        else:
            unknown.add(im.image_id)
    now = utc_now()
    changes: list[Change] = []
    for image_id, ann in latest.items():
        before = current(image_id)
        after = imported_annotations(image_id, before, ann, reader, now, sizes.get(image_id))
        if after != before:
            changes.append((image_id, before, after))
    return changes, {"images_changed": len(changes), "boxes": sum(len(a.boxes) for a in latest.values()),
                     "unknown_images": len(unknown), "unchanged": len(latest) - len(changes)}
