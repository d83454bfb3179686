"""A blinded real-vs-synthetic reader study ("visual Turing test"): the study folder and how it is made.

    study = new_study("vindr/", "samples/", "study/", classes=["Osteophytes"], seed=0, size=512)
    study = open_study("study/")
    pixels = study.load_item(study.items[0])     # uint8 size x size, for display

The folder (the app's "Reader study" mode and `spinegui reader-study` read and write the same):

    study.json          seed, size, render rule, classes, the item ids; nothing about any item's origin
    key.csv             the truth: item, origin (real|synthetic), class, source file. Never shown to readers
    items/item-0001.png the render cache: the only unmarked copies (sources are never modified)
    readers/NAME.json   each reader's own random order (session.py)
    answers/NAME.csv    each reader's answers, one fsynced row per item (session.py)
    scores.json         written by score_study (scoring.py)

Item ids are neutral (item-0001...) in a random order, and the items are written in id order, so
neither an id nor a file's time says anything about its origin. Every item goes through render.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinegui import __version__
from spinegui.core import outdir
from spinegui.core.dataset.vindr import LABELS, load_index
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.limits import check_count
from spinegui.core.reader_study import render as R

KIND = "reader-study"          # the output-folder list's kind (core/outdir.py)
FORMAT = 1
STUDY_FILE, KEY_FILE, ITEMS_DIR = "study.json", "key.csv", "items"
KEY_COLUMNS = ("item", "origin", "class", "source")
ORIGINS = ("real", "synthetic")
ITEM_ID = re.compile(r"item-\d{4,}")
MIN_SIZE, MAX_SIZE = 32, 4096
MAX_ITEMS = 100_000   # per origin: ten times VinDr-SpineXR


@dataclass(frozen=True)
class Source:
    origin: str
    classes: tuple[str, ...]   # the wanted classes the image carries, in LABELS order
    path: Path

    @property
    def class_text(self) -> str:
        return ";".join(self.classes)


@dataclass
class Study:
    folder: Path
    items: list[str]
    classes: list[str]
    seed: int = 0
    size: int = 512
    detail: int = 512
    meta: dict = field(default_factory=dict)

    def item_path(self, item_id: str) -> Path:
        if item_id not in self.items:
            raise InputError(self.folder / STUDY_FILE, f"no item {item_id!r} in this study")
        return self.folder / ITEMS_DIR / f"{item_id}{R.PNG_SUFFIX}"

    def load_item(self, item_id: str) -> np.ndarray:
        """The rendered pixels (uint8, size x size) from the render cache."""
        return R.load_png(self.item_path(item_id))

    @property
    def readers(self) -> list[str]:
        """The readers who have started (each has an order file)."""
        return sorted(p.stem for p in (self.folder / "readers").glob("*.json"))


# --- making a study ---------------------------------------------------------------------------------
def new_study(real_root, synthetic_dir, out, *, classes=None, n_real=None, n_synthetic=None, seed=0, size=512,
              overwrite: bool = False, progress: Callable[[int, int], None] | None = None) -> Study:
    """Pick, render and write a study (see the module doc). Everything is checked before the first
    file is written; a failure while rendering removes what this call wrote."""
    real_root, synthetic_dir = Path(real_root).expanduser(), Path(synthetic_dir).expanduser()
    seed = check_count("--seed", seed, 0, 2**31 - 1)
    size = check_count("--size", size, MIN_SIZE, MAX_SIZE)
    wanted = _wanted_classes(classes)
    real = _real_pool(real_root, wanted)
    synthetic = _synthetic_pool(synthetic_dir, wanted)
    n_real, n_synthetic = _counts(real_root, len(real), synthetic_dir, len(synthetic), n_real, n_synthetic)
    rng = np.random.default_rng(seed)
    chosen = [real[i] for i in sorted(rng.choice(len(real), n_real, replace=False))]
    chosen += [synthetic[i] for i in sorted(rng.choice(len(synthetic), n_synthetic, replace=False))]
    shuffled = [chosen[i] for i in rng.permutation(len(chosen))]
    width = max(4, len(str(len(shuffled))))
    items = {f"item-{k + 1:0{width}d}": src for k, src in enumerate(shuffled)}
    detail = _detail(shuffled, size)
    out = Path(out).expanduser()
    if synthetic_dir.resolve() in out.resolve().parents:
        raise InputError(out, "is inside the synthetic images' folder, which this command never writes; choose another")
    existed = out.exists()
    out = outdir.prepare(out, KIND, overwrite=overwrite, dataset=real_root,
                         keep=[(synthetic_dir, "the synthetic images")], subdirs=(ITEMS_DIR,))
    present = [c for c in LABELS if any(c in s.classes for s in shuffled)]
    meta = {"format": FORMAT, "kind": "spinegui reader study", "seed": seed, "size": size, "detail": detail,
            "render": R.RULE, "classes": present, "items": list(items), "spinegui_version": __version__}
    try:
        _write_study(out, items, meta, size, detail, progress)
    except BaseException:
        _undo(out, list(items), existed)
        raise
    outdir.seal(out, KIND)
    return Study(out, list(items), present, seed, size, detail, meta)


def _wanted_classes(classes) -> list[str]:
    if classes is None:
        return list(LABELS)
    names = [c.strip() for c in (classes.split(",") if isinstance(classes, str) else classes) if c and c.strip()]
    unknown = [c for c in names if c not in LABELS]
    if unknown:
        raise InputError(None, f"unknown class {unknown[0]!r} (classes: {', '.join(LABELS)})")
    if not names:
        raise InputError(None, "no class given")
    return [c for c in LABELS if c in names]


def _real_pool(root: Path, wanted: list[str]) -> list[Source]:
    index = load_index(root)
    out = []
    for image_id in sorted(index.images):
        rec = index.images[image_id]
        cls = tuple(c for c in wanted if c in rec.labels)
        if rec.file_exists and cls:
            out.append(Source("real", cls, rec.path))
    if not out:
        raise InputError(root, f"no real images of {_what(wanted)} in this dataset")
    return out


def _synthetic_pool(folder: Path, wanted: list[str]) -> list[Source]:
    """`spinegui sample` output: a VinDr-layout dataset of DICOMs (class from its CSV), or PNGs (class
    from their provenance text)."""
    if not folder.is_dir():
        raise InputError(folder, "no such folder (expected the output of `spinegui sample`)")
    found: list[tuple[tuple[str, ...], Path]] = []
    if (folder / "annotations" / "train.csv").is_file():
        index = load_index(folder)
        found = [(tuple(index.images[k].labels), index.images[k].path) for k in sorted(index.images)
                 if index.images[k].file_exists]
    else:
        for path in sorted(folder.glob(f"*{R.PNG_SUFFIX}")):
            cls = R.png_class(path)
            if cls is None:
                raise InputError(path, "carries no class in its spinegui-provenance text; not written by "
                                       "`spinegui sample --format png`?")
            found.append(((cls,), path))
    out = [Source("synthetic", tuple(c for c in wanted if c in labels), path) for labels, path in found]
    out = [s for s in out if s.classes]
    if not out:
        raise InputError(folder, f"no synthetic images of {_what(wanted)} in this folder")
    return out


def _what(wanted: list[str]) -> str:
    return "any class" if len(wanted) == len(LABELS) else "class " + ", ".join(wanted)


def _counts(real_root: Path, have_real: int, syn_dir: Path, have_syn: int, n_real, n_syn) -> tuple[int, int]:
    """Default: as many as possible, the same number of each origin."""
    if n_real is not None:
        n_real = check_count("--n-real", n_real, 1, MAX_ITEMS)
    if n_syn is not None:
        n_syn = check_count("--n-synthetic", n_syn, 1, MAX_ITEMS)
    if n_real is None and n_syn is None:
        n_real = n_syn = min(have_real, have_syn)
    n_real = n_syn if n_real is None else n_real
    n_syn = n_real if n_syn is None else n_syn
    if n_real > have_real:
        raise InputError(real_root, f"holds {have_real} real images of the chosen classes; {n_real} asked for")
    if n_syn > have_syn:
        raise InputError(syn_dir, f"holds {have_syn} synthetic images of the chosen classes; {n_syn} asked for")
    return n_real, n_syn


def _detail(sources: list[Source], size: int) -> int:
    """The smallest long side among the images (at most ``size``); a synthetic source must say it is
    one, so that swapped --real and --synthetic folders are caught before anything is written."""
    sides = []
    for src in sources:
        side, marked = R.probe(src.path)
        if src.origin == "synthetic" and not marked:
            raise InputError(src.path, "is not marked SYNTHETIC (DICOM ImageType/SeriesDescription or PNG text); "
                                       "the synthetic folder must be the output of `spinegui sample`")
        sides.append(side)
    return min([size] + sides)


def _write_study(out: Path, items: dict[str, Source], meta: dict, size: int, detail: int, progress) -> None:
    for k, (item_id, src) in enumerate(items.items()):   # id order: file times say nothing either
        pixels, invert = R.read_source(src.path)
        R.write_png(R.render(pixels, invert, size, detail), out / ITEMS_DIR / f"{item_id}{R.PNG_SUFFIX}")
        if progress is not None:
            progress(k + 1, len(items))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(KEY_COLUMNS)
    for item_id, src in items.items():
        writer.writerow([item_id, src.origin, src.class_text, str(src.path.resolve())])
    atomic_write_bytes(out / KEY_FILE, buf.getvalue().encode("utf-8"))
    atomic_write_bytes(out / STUDY_FILE, (json.dumps(meta, indent=1) + "\n").encode("utf-8"))


def _undo(out: Path, item_ids: list[str], existed: bool) -> None:
    """Remove exactly what _write_study may have written (and the folder, when this call made it)."""
    for name in [f"{ITEMS_DIR}/{i}{R.PNG_SUFFIX}" for i in item_ids] + [KEY_FILE, STUDY_FILE]:
        (out / name).unlink(missing_ok=True)
    for folder in [out / ITEMS_DIR] + ([] if existed else [out]):
        try:
            folder.rmdir()
        except OSError:
            pass


# --- opening a study --------------------------------------------------------------------------------
def open_study(folder) -> Study:
    folder = Path(folder).expanduser()
    path = folder / STUDY_FILE
    try:
        meta = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(folder, f"not a reader study (no {STUDY_FILE})") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(path, f"not a reader study of format {FORMAT}")
    items, classes = meta.get("items"), meta.get("classes")
    if not (isinstance(items, list) and items and all(isinstance(i, str) and ITEM_ID.fullmatch(i) for i in items)
            and len(set(items)) == len(items)):
        raise InputError(path, "'items' must be a list of distinct ids like item-0001")
    if not (isinstance(classes, list) and all(c in LABELS for c in classes)):
        raise InputError(path, "'classes' must list VinDr-SpineXR classes")
    numbers = {k: meta.get(k) for k in ("seed", "size", "detail")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers.values()):
        raise InputError(path, "'seed', 'size' and 'detail' must be whole numbers")
    return Study(folder, list(items), list(classes), numbers["seed"], numbers["size"], numbers["detail"], meta)


@dataclass(frozen=True)
class KeyRow:
    origin: str
    classes: tuple[str, ...]
    source: str

    @property
    def class_text(self) -> str:
        return ";".join(self.classes)


def read_key(study: Study) -> dict[str, KeyRow]:
    """The truth, checked against the study: every item exactly once, origins and classes known."""
    path = study.folder / KEY_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "the study's key is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"unreadable: {exc}") from None
    rows = csv.reader(io.StringIO(text))
    if next(rows, None) != list(KEY_COLUMNS):
        raise InputError(path, f"line 1: the header must be {','.join(KEY_COLUMNS)}")
    key: dict[str, KeyRow] = {}
    items = set(study.items)
    for row in rows:
        line = rows.line_num
        if len(row) != len(KEY_COLUMNS) or row[0] not in items or row[0] in key or row[1] not in ORIGINS:
            raise InputError(path, f"line {line}: not an item of this study with origin real or synthetic")
        classes = tuple(c for c in row[2].split(";") if c)
        if not classes or any(c not in LABELS for c in classes):
            raise InputError(path, f"line {line}: unknown class {row[2]!r}")
        key[row[0]] = KeyRow(row[1], classes, row[3])
    if len(key) != len(items):
        raise InputError(path, f"{len(items) - len(key)} of the study's items are missing from the key")
    return key
