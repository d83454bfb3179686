"""The VinDr-SpineXR index: annotation CSVs + image files -> studies, series, images, boxes.

Reads a dataset root exactly as PhysioNet ships it (see docs/VINDR.md). No pixel is decoded here and
the dataset is never written. Malformed rows are reported (file, line, reason) and skipped; every good
row still loads.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from spinegui.core.errors import InputError
from spinegui.core.ids import id_problem, shown

COLUMNS = ("study_id", "series_id", "image_id", "rad_id", "lesion_type", "xmin", "ymin", "xmax", "ymax")
LESION_TYPES = (
    "Osteophytes",
    "Disc space narrowing",
    "Surgical implant",
    "Foraminal stenosis",
    "Spondylolysthesis",  # sic: the dataset's spelling, matched literally
    "Vertebral collapse",
    "Other lesions",
)
NO_FINDING = "No finding"
# One colour per lesion type, shared by the viewer, exports and docs (distinct on grey X-rays).
LESION_COLOURS = {
    "Osteophytes": "#ff4d4d",
    "Disc space narrowing": "#33d17a",
    "Surgical implant": "#3daee9",
    "Foraminal stenosis": "#f5c211",
    "Spondylolysthesis": "#c061cb",
    "Vertebral collapse": "#ff8c1a",
    "Other lesions": "#99c1f1",
}
LABELS = LESION_TYPES + (NO_FINDING,)
SPLITS = ("train", "test")
IMAGE_SUFFIX = ".dicom"


@dataclass(frozen=True)
class Box:
    lesion_type: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    rad_id: str

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmax, self.ymax)


@dataclass
class ImageRecord:
    image_id: str
    study_id: str
    series_id: str
    split: str
    path: Path
    boxes: list[Box] = field(default_factory=list)
    # Readers who marked the image "No finding" (a reader may also have boxed it: both are kept).
    no_finding_readers: set[str] = field(default_factory=set)
    file_exists: bool = True

    @property
    def readers(self) -> set[str]:
        return {b.rad_id for b in self.boxes} | self.no_finding_readers

    @property
    def labels(self) -> set[str]:
        """Image-level labels: the lesion types boxed, or {'No finding'}."""
        found = {b.lesion_type for b in self.boxes}
        return found or {NO_FINDING}

    @property
    def is_abnormal(self) -> bool:
        return bool(self.boxes)


@dataclass
class Problem:
    """Something wrong in the dataset: where, and what. `line` is 1-based (the header is line 1)."""

    path: Path
    reason: str
    line: int | None = None
    severity: str = "error"  # "error": the row/file was skipped; "warning": loaded, but looks wrong

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else f"{self.path}"
        return f"{where}: {self.reason}"


@dataclass
class VinDrIndex:
    root: Path
    images: dict[str, ImageRecord]
    problems: list[Problem]

    # --- grouping -------------------------------------------------------------------------------
    def studies(self) -> dict[str, dict[str, list[ImageRecord]]]:
        """study_id -> series_id -> images, in CSV order."""
        tree: dict[str, dict[str, list[ImageRecord]]] = {}
        for rec in self.images.values():
            tree.setdefault(rec.study_id, {}).setdefault(rec.series_id, []).append(rec)
        return tree

    def in_split(self, split: str) -> list[ImageRecord]:
        return [r for r in self.images.values() if r.split == split]

    # --- counts ---------------------------------------------------------------------------------
    def counts(self) -> dict:
        """Images, studies, readers, normal/abnormal and per-class boxes/images, per split."""
        out: dict = {"splits": {}}
        readers: set[str] = set()
        for split in SPLITS:
            recs = self.in_split(split)
            boxes = Counter()
            images = Counter()
            for r in recs:
                readers |= r.readers
                for b in r.boxes:
                    boxes[b.lesion_type] += 1
                for label in {b.lesion_type for b in r.boxes}:
                    images[label] += 1
            abnormal = sum(1 for r in recs if r.is_abnormal)
            out["splits"][split] = {
                "images": len(recs),
                "studies": len({r.study_id for r in recs}),
                "normal": len(recs) - abnormal,
                "abnormal": abnormal,
                "boxes": sum(boxes.values()),
                "classes": {t: {"boxes": boxes[t], "images": images[t]} for t in LESION_TYPES},
                "missing_files": sum(1 for r in recs if not r.file_exists),
            }
        out["images"] = len(self.images)
        out["studies"] = len({r.study_id for r in self.images.values()})
        out["series"] = len({r.series_id for r in self.images.values()})
        out["readers"] = sorted(readers)
        return out


# --- loading ------------------------------------------------------------------------------------
def check_root(root: str | Path) -> Path:
    """Raise InputError naming exactly what is missing when `root` is not a VinDr-SpineXR root."""
    root = Path(root).expanduser()
    if not root.exists():
        raise InputError(root, "no such folder")
    if not root.is_dir():
        raise InputError(root, "not a folder (expected a VinDr-SpineXR root)")
    needed = ["annotations/train.csv", "annotations/test.csv", "train_images", "test_images"]
    missing = [n for n in needed if not (root / n).exists()]
    if missing:
        raise InputError(root, "not a VinDr-SpineXR root: missing " + ", ".join(missing))
    return root


def load_index(root: str | Path) -> VinDrIndex:
    root = check_root(root)
    images: dict[str, ImageRecord] = {}
    problems: list[Problem] = []
    for split in SPLITS:
        _load_split(root, split, images, problems)
    _match_files(root, images, problems)
    return VinDrIndex(root=root, images=images, problems=problems)


def _load_split(root: Path, split: str, images: dict[str, ImageRecord], problems: list[Problem]) -> None:
    csv_path = root / "annotations" / f"{split}.csv"
    image_dir = root / f"{split}_images"
    try:
        # utf-8-sig strips a BOM; newline="" lets csv handle CRLF and quoted fields.
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                problems.append(Problem(csv_path, "empty file (no header row)"))
                return
            col = _column_positions(csv_path, [h.strip() for h in header], problems)
            if col is None:
                return
            seen_rows: set[tuple] = set()
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                parsed = _parse_row(row, col, csv_path, line_no, problems)
                if parsed is None:
                    continue
                key = tuple(parsed)
                if key in seen_rows:
                    problems.append(Problem(csv_path, "duplicate of an earlier row (skipped)", line_no, "warning"))
                    continue
                seen_rows.add(key)
                _add_row(parsed, split, image_dir, csv_path, line_no, images, problems)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(csv_path, f"cannot read: {exc}") from None


def _column_positions(csv_path: Path, header: list[str], problems: list[Problem]) -> dict[str, int] | None:
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        problems.append(Problem(csv_path, "missing column(s): " + ", ".join(missing) + "; no row loaded", 1))
        return None
    return {c: header.index(c) for c in COLUMNS}


def _parse_row(row, col, csv_path, line_no, problems) -> tuple | None:
    def bad(reason: str) -> None:
        problems.append(Problem(csv_path, reason + " (row skipped)", line_no))

    if len(row) < len(col):
        return bad(f"{len(row)} fields, expected {len(COLUMNS)}")
    get = {c: row[i].strip() for c, i in col.items()}
    for id_col in ("study_id", "series_id", "image_id"):
        if not get[id_col]:
            return bad(f"empty {id_col}")
        if not get[id_col].isprintable():
            return bad(f"{id_col} {shown(get[id_col])} contains a control character")
    # The image id names the image's file: data, never a path (no "../", no absolute path).
    problem = id_problem(get["image_id"])
    if problem:
        return bad(f"image_id {shown(get['image_id'])} is not a plain file name ({problem})")
    label = get["lesion_type"]
    if label not in LABELS:
        close = difflib.get_close_matches(label, LABELS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return bad(f"unknown lesion_type {label!r}{hint}")
    coords_raw = [get[c] for c in ("xmin", "ymin", "xmax", "ymax")]
    if label == NO_FINDING:
        if any(coords_raw):
            problems.append(Problem(csv_path, "'No finding' row has coordinates (ignored)", line_no, "warning"))
        return (get["study_id"], get["series_id"], get["image_id"], get["rad_id"], label, None)
    try:
        x0, y0, x1, y1 = (float(v) for v in coords_raw)
    except ValueError:
        return bad(f"non-numeric coordinate in {coords_raw}")
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return bad(f"non-finite coordinate in {coords_raw}")
    if x0 >= x1 or y0 >= y1:
        return bad(f"empty or inverted box: xmin={x0:g} xmax={x1:g} ymin={y0:g} ymax={y1:g}")
    if x1 <= 0 or y1 <= 0:
        return bad(f"box outside the image: ({x0:g}, {y0:g}, {x1:g}, {y1:g})")
    if x0 < 0 or y0 < 0:
        problems.append(
            Problem(csv_path, f"box extends past the image edge ({x0:g}, {y0:g}); clipped at 0", line_no, "warning")
        )
        x0, y0 = max(x0, 0.0), max(y0, 0.0)
    return (get["study_id"], get["series_id"], get["image_id"], get["rad_id"], label, (x0, y0, x1, y1))


def _add_row(parsed, split, image_dir, csv_path, line_no, images, problems) -> None:
    study_id, series_id, image_id, rad_id, label, coords = parsed
    rec = images.get(image_id)
    if rec is None:
        rec = ImageRecord(image_id, study_id, series_id, split, image_dir / f"{image_id}{IMAGE_SUFFIX}")
        images[image_id] = rec
    elif rec.split != split or rec.study_id != study_id or rec.series_id != series_id:
        problems.append(
            Problem(csv_path, f"image {image_id} already listed with another study/series/split (row skipped)", line_no)
        )
        return
    if coords is None:
        rec.no_finding_readers.add(rad_id)
    else:
        rec.boxes.append(Box(label, *coords, rad_id=rad_id))


def _match_files(root: Path, images: dict[str, ImageRecord], problems: list[Problem]) -> None:
    """Flag annotated images without a file, and files without annotations (one scandir per split)."""
    for split in SPLITS:
        image_dir = root / f"{split}_images"
        try:
            stems = {e.name[: -len(IMAGE_SUFFIX)] for e in os.scandir(image_dir) if e.name.endswith(IMAGE_SUFFIX)}
        except OSError as exc:
            problems.append(Problem(image_dir, f"cannot list: {exc.strerror or exc}"))
            stems = set()
        missing = 0
        for rec in images.values():
            if rec.split == split and rec.image_id not in stems:
                rec.file_exists = False
                missing += 1
        if missing:
            problems.append(Problem(image_dir, f"{missing} annotated image(s) have no file", severity="warning"))
        unlisted = stems - {r.image_id for r in images.values() if r.split == split}
        if unlisted:
            problems.append(
                Problem(image_dir, f"{len(unlisted)} file(s) not in annotations/{split}.csv", severity="warning")
            )


def check_boxes_against_sizes(index: VinDrIndex, sizes: dict[str, tuple[int, int]]) -> list[Problem]:
    """Boxes beyond the image (given image_id -> (rows, cols), e.g. from the cache): warnings."""
    found = []
    for image_id, (rows, cols) in sizes.items():
        rec = index.images.get(image_id)
        if rec is None:
            continue
        for b in rec.boxes:
            if b.xmax > cols + 0.5 or b.ymax > rows + 0.5:
                found.append(
                    Problem(
                        rec.path,
                        f"{b.lesion_type} box by {b.rad_id} ({b.xmin:g}, {b.ymin:g}, {b.xmax:g}, {b.ymax:g}) "
                        f"extends past the {cols}x{rows} image",
                        severity="warning",
                    )
                )
    return found
