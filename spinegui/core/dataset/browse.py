"""Browsing the index: which images a filter keeps, and the orders they can be sorted in (no Qt).

The study browser panel presents these; the CLI can reuse them (e.g. to list or export a filtered
subset). An image's browsable facts come from the annotation store when there is one (edits count),
else from the index.

    spec = FilterSpec(split="train", lesion="Osteophytes", state="unverified")
    ids = filter_images(index, spec, store)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from spinegui.core.dataset.vindr import LESION_TYPES, NO_FINDING, SPLITS, ImageRecord, VinDrIndex

if TYPE_CHECKING:  # the store is optional; avoid importing it (and its autosave) for index-only use
    from spinegui.core.annotations.store import AnnotationStore

# Edited/verified states a filter can ask for.
STATES = ("edited", "unedited", "verified", "unverified")
ABNORMAL, NORMAL = "abnormal", "normal"
_LESION_RANK = {t: i for i, t in enumerate(LESION_TYPES + (NO_FINDING,))}


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What the browser shows and filters on for one image: small, immutable, cheap to keep."""

    image_id: str
    study_id: str
    series_id: str
    split: str
    labels: tuple[str, ...]    # lesion types in LESION_TYPES order, or ("No finding",)
    n_boxes: int
    readers: tuple[str, ...]   # sorted
    edited: bool
    verified: bool

    @property
    def abnormal(self) -> bool:
        return self.n_boxes > 0


def image_facts(rec: ImageRecord, store: AnnotationStore | None = None) -> ImageFacts:
    if store is None:
        boxes = [(b.lesion_type, b.rad_id) for b in rec.boxes]
        readers = {r for _, r in boxes} | rec.no_finding_readers
        edited = verified = False
    else:
        ann = store.annotations(rec.image_id)
        boxes = [(b.lesion_type, b.rad_id) for b in ann.boxes]
        readers = {r for _, r in boxes} | set(ann.no_finding)
        edited, verified = store.is_edited(rec.image_id), ann.verified
    labels = tuple(sorted({t for t, _ in boxes}, key=_LESION_RANK.__getitem__)) or (NO_FINDING,)
    # An empty reader name (a "No finding" row without a reader) names nobody.
    return ImageFacts(rec.image_id, rec.study_id, rec.series_id, rec.split, labels, len(boxes),
                      tuple(sorted(r for r in readers if r)), edited, verified)


@dataclass(frozen=True)
class FilterSpec:
    """None (or "") means "any". `search` matches a prefix of the study, series or image id."""

    split: str | None = None      # "train" / "test"
    lesion: str | None = None     # one of LESION_TYPES, or NO_FINDING
    finding: str | None = None    # "normal" / "abnormal"
    reader: str | None = None
    state: str | None = None      # one of STATES
    search: str = ""

    def __post_init__(self) -> None:
        # A typo in a CLI argument should fail loudly, not silently match nothing.
        checks = {"split": SPLITS, "lesion": LESION_TYPES + (NO_FINDING,), "finding": (NORMAL, ABNORMAL),
                  "state": STATES}
        for name, allowed in checks.items():
            value = getattr(self, name)
            if value and value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; expected one of: {', '.join(allowed)}")

    @property
    def is_empty(self) -> bool:
        return not self.search.strip() and not any(getattr(self, f.name) for f in fields(self) if f.name != "search")

    def matches(self, f: ImageFacts) -> bool:
        if self.split and f.split != self.split:
            return False
        if self.lesion and self.lesion not in f.labels:
            return False
        if self.finding and (f.abnormal != (self.finding == ABNORMAL)):
            return False
        if self.reader and self.reader not in f.readers:
            return False
        if self.state and not _state_matches(self.state, f):
            return False
        term = self.search.strip().lower()
        if term and not (f.image_id.lower().startswith(term) or f.study_id.lower().startswith(term)
                         or f.series_id.lower().startswith(term)):
            return False
        return True


def _state_matches(state: str, f: ImageFacts) -> bool:
    return {"edited": f.edited, "unedited": not f.edited,
            "verified": f.verified, "unverified": not f.verified}[state]


def filter_images(index: VinDrIndex, spec: FilterSpec, store: AnnotationStore | None = None) -> list[str]:
    """The image ids that match, in index order."""
    return [r.image_id for r in index.images.values() if spec.matches(image_facts(r, store))]


def readers_of(facts: Iterable[ImageFacts]) -> list[str]:
    return sorted({r for f in facts for r in f.readers})


def all_readers(index: VinDrIndex, store: AnnotationStore | None = None) -> list[str]:
    """Every reader named in the dataset, plus those who edited in the workspace (cheap: no facts)."""
    found = {r for rec in index.images.values() for r in rec.readers}
    if store is not None:
        found |= set(readers_of(image_facts(index.images[i], store) for i in store.edited_image_ids()))
        if store.reader:
            found.add(store.reader)
    return sorted(r for r in found if r)


# --- sorting ------------------------------------------------------------------------------------
SORT_COLUMNS = ("id", "split", "lesions", "boxes", "readers", "state")


def image_sort_key(column: str, f: ImageFacts):
    """The key images are sorted by within a study (ties keep dataset order: sorts are stable)."""
    if column == "id":
        return f.image_id
    if column == "split":
        return f.split
    if column == "lesions":
        # Images with the rarer-ranked classes group together; "No finding" sorts last.
        return tuple(_LESION_RANK[t] for t in f.labels)
    if column == "boxes":
        return f.n_boxes
    if column == "readers":
        return f.readers
    if column == "state":
        return (f.edited, f.verified)
    raise ValueError(f"unknown sort column {column!r}; expected one of: {', '.join(SORT_COLUMNS)}")


def study_sort_key(column: str, study_id: str, images: list[ImageFacts]):
    """The key studies are sorted by: the same column summarised over the study's images."""
    if column == "id":
        return study_id
    if column == "split":
        return min(f.split for f in images)
    if column == "lesions":
        return tuple(sorted({_LESION_RANK[t] for f in images for t in f.labels}))
    if column == "boxes":
        return sum(f.n_boxes for f in images)
    if column == "readers":
        return tuple(readers_of(images))
    if column == "state":
        return (sum(f.edited for f in images), sum(f.verified for f in images))
    raise ValueError(f"unknown sort column {column!r}; expected one of: {', '.join(SORT_COLUMNS)}")
