"""A case-1 dataset from the demo dataset (which has no test split): one study of each of case 1's
classes moved to the test split, so that an experiment can be planned and run on it."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from spinegui.core.dataset.vindr import load_index
from spinegui.train.splits import CASES


def make_case_root(demo_root: Path, root: Path, *, link: bool = True) -> Path:
    """Write the dataset at `root`; its DICOMs are symlinks to `demo_root`'s (`link`) or copies."""
    index = load_index(demo_root)
    moved = {sorted({r.study_id for r in index.in_split("train") if name in r.labels})[-1] for name in CASES["1"]}
    for sub in ("annotations", "train_images", "test_images"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    with open(demo_root / "annotations" / "train.csv", newline="") as fh:
        head, *rows = list(csv.reader(fh))
    out = {"train": [head], "test": [head]}
    for row in rows:
        split = "test" if row[0] in moved else "train"
        out[split].append(row)
        target, source = root / f"{split}_images" / f"{row[2]}.dicom", demo_root / "train_images" / f"{row[2]}.dicom"
        if not target.exists():
            os.symlink(source, target) if link else shutil.copy2(source, target)
    for split, body in out.items():
        with open(root / "annotations" / f"{split}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(body)
    return root
