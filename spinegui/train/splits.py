"""Which images a case study uses, and how they are split into folds.

An image belongs to a class when that class is the only one of the study's classes among its labels
(an image showing two of the chosen lesions is ambiguous and left out; one showing a chosen lesion
and an unchosen one counts for the chosen one). "No finding" means no box at all. The pseudo-class
"Abnormal" (with "No finding": the binary normal/abnormal task) is any image with a box.

- `split_by_study`: the leakage-safe split of the official train split into a training and a
  validation fold. Whole studies go to one fold; the split is stratified by image label, rarest class
  first, and every class with two or more studies gets at least one in each fold.
- `split_by_image`: the preprint's procedure, a stratified random split of images (real and
  synthetic alike) that ignores studies. Used only by the `paper` protocol, for the leakage audit.
The official test split is always kept apart.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from spinegui.core.dataset.vindr import LABELS, NO_FINDING, VinDrIndex
from spinegui.core.errors import InputError

ABNORMAL = "Abnormal"
# Case 1 is the preprint's. Cases 2 and 3 are ours; why, in spinegui.cli.experiment.CASES_TEXT (--help) and the README.
CASES: dict[str, list[str]] = {
    "1": [NO_FINDING, "Disc space narrowing", "Vertebral collapse"],
    "2": [NO_FINDING, "Spondylolysthesis", "Foraminal stenosis"],
    "3": [NO_FINDING, "Osteophytes", "Surgical implant"],
    "binary": [NO_FINDING, ABNORMAL],
}
FOLDS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    image_id: str
    study_id: str
    label: int


@dataclass
class Selection:
    classes: list[str]
    pool: list[Item]                      # official train split: training + validation folds
    test: list[Item]                      # official test split
    left_out: dict[str, int] = field(default_factory=dict)   # reason -> images


def resolve_classes(case: str | None = None, classes: list[str] | None = None) -> list[str]:
    """The class names of a case (1, 2, 3, binary) or a list; unknown names refused by name."""
    if case is not None:
        if str(case) not in CASES:
            raise InputError(None, f"unknown case '{case}' (cases: {', '.join(CASES)})")
        return list(CASES[str(case)])
    names = [c.strip() for c in (classes or []) if c.strip()]
    known = list(LABELS) + [ABNORMAL]
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise InputError(None, f"unknown class '{name}'{hint}; classes: {', '.join(known)}")
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError(None, "give two or more different classes")
    if ABNORMAL in names and set(names) != {NO_FINDING, ABNORMAL}:
        raise InputError(None, f"'{ABNORMAL}' goes with '{NO_FINDING}' only (the binary task)")
    return names


def image_class(labels: set[str], classes: list[str]) -> str | None:
    """The one class of `classes` an image belongs to; None when none or several."""
    if ABNORMAL in classes:
        return NO_FINDING if labels == {NO_FINDING} else ABNORMAL
    hits = [c for c in classes if c in labels]
    return hits[0] if len(hits) == 1 else None


def select(index: VinDrIndex, classes: list[str], *, max_real: int = 0, seed: int = 0,
           skip: set[str] | frozenset = frozenset()) -> Selection:
    """The pool (official train split) and test items of a case. `max_real` caps each class's pool
    images (a random choice, as the preprint's 1,000 No finding images); `skip`: unusable image ids."""
    out = Selection(list(classes), [], [])
    left = Counter()
    test_studies = {r.study_id for r in index.in_split("test")}
    for split in ("train", "test"):
        for r in sorted(index.in_split(split), key=lambda r: r.image_id):
            name = image_class(r.labels, classes)
            if not r.file_exists or r.image_id in skip:
                left["missing or undecodable file"] += 1
            elif name is None:
                if sum(c in r.labels for c in classes) > 1:
                    left["shows two of the classes"] += 1
            elif split == "train" and r.study_id in test_studies:
                left["study also in the official test split"] += 1
            else:
                (out.pool if split == "train" else out.test).append(Item(r.image_id, r.study_id,
                                                                         classes.index(name)))
    if max_real > 0:
        rng = np.random.default_rng(seed)
        keep = []
        for k in range(len(classes)):
            items = [i for i in out.pool if i.label == k]
            if len(items) > max_real:
                left[f"over the cap of {max_real} per class"] += len(items) - max_real
                items = [items[j] for j in sorted(rng.choice(len(items), max_real, replace=False))]
            keep += items
        out.pool = sorted(keep, key=lambda i: i.image_id)
    out.left_out = dict(left)
    return out


def split_by_study(items: list, val_fraction: float, seed: int) -> tuple[list, list]:
    """(train, val): whole studies per fold, stratified by label (items need .study_id and .label)."""
    if not 0 < val_fraction < 1:
        raise InputError(None, f"the validation fraction must be between 0 and 1, got {val_fraction}")
    rng = np.random.default_rng(seed)
    per_study: dict[str, Counter] = defaultdict(Counter)
    for it in items:
        per_study[it.study_id][it.label] += 1
    totals = Counter(it.label for it in items)
    assigned: dict[str, str] = {}
    fold_n = {"train": Counter(), "val": Counter()}
    for label in sorted(totals, key=lambda c: (totals[c], c)):          # rarest class first
        studies = sorted(s for s, c in per_study.items() if label in c)
        target = val_fraction * totals[label]
        todo = [studies[i] for i in rng.permutation(len(studies)) if studies[i] not in assigned]
        for n, study in enumerate(todo):
            count = per_study[study][label]
            last_for_train = fold_n["train"][label] == 0 and n == len(todo) - 1
            closer = abs(fold_n["val"][label] + count - target) < abs(fold_n["val"][label] - target)
            to_val = not last_for_train and (fold_n["val"][label] == 0 or closer)
            if len(studies) < 2:
                to_val = False
            assigned[study] = "val" if to_val else "train"
            fold_n[assigned[study]].update(per_study[study])
    train = [it for it in items if assigned[it.study_id] == "train"]
    val = [it for it in items if assigned[it.study_id] == "val"]
    return train, val


def split_by_image(labels: list[int], val_fraction: float, seed: int) -> np.ndarray:
    """A stratified random split of images, studies ignored (the preprint's): True where validation."""
    if not 0 < val_fraction < 1:
        raise InputError(None, f"the validation fraction must be between 0 and 1, got {val_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        n_val = int(round(val_fraction * len(where)))
        if len(where) >= 2:
            n_val = min(max(n_val, 1), len(where) - 1)
        is_val[rng.permutation(where)[:n_val]] = True
    return is_val


def check_folds(folds: dict[str, list[int]], classes: list[str], protocol: str) -> None:
    """Refuse, before any training, a class with no image in a fold (named, with the fold)."""
    for fold in FOLDS:
        present = set(folds.get(fold, []))
        for k, name in enumerate(classes):
            if k not in present:
                raise InputError(None, f"class '{name}' has no image in the {fold} fold ({protocol} protocol); "
                                       f"choose other classes or a dataset with more images of it")
