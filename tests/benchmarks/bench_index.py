"""Index of a full-size VinDr-SpineXR (19,550 train rows + test rows, 10,466 files): budget 2 s.

Reference in the same run: the bare cost of reading both CSVs with csv.reader and listing both image
folders, i.e. the floor any index must pay. Run: python tests/benchmarks/bench_index.py
"""

import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from spinegui.core.dataset.vindr import COLUMNS, LESION_TYPES, load_index

# docs/VINDR.md: train 8,389 images (4,260 normal), 15,290 boxes; test 2,077 images (1,070 normal).
SPLITS = {"train": (8389, 4260, 15290), "test": (2077, 1070, 3678)}


def make_full_size_root(root: Path, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    hexid = lambda: rng.bytes(16).hex()  # noqa: E731
    rows_total = 0
    for split, (n_images, n_normal, n_boxes) in SPLITS.items():
        (root / f"{split}_images").mkdir(parents=True)
        (root / "annotations").mkdir(exist_ok=True)
        images = []
        for i in range(n_images):
            study = hexid() if i % 2 == 0 else images[-1][0]  # ~2 images per study
            images.append((study, hexid(), hexid()))
        rows = []
        for k, (study, series, image) in enumerate(images):
            (root / f"{split}_images" / f"{image}.dicom").touch()
            if k < n_normal:
                rows.append([study, series, image, "rad1", "No finding", "", "", "", ""])
        abnormal = images[n_normal:]
        for b in range(n_boxes):
            study, series, image = abnormal[b % len(abnormal)]
            x, y = rng.uniform(0, 1000, 2)
            rows.append([study, series, image, f"rad{b % 3 + 1}", LESION_TYPES[b % 7],
                         f"{x:.3f}", f"{y:.3f}", f"{x + 80:.3f}", f"{y + 60:.3f}"])
        with open(root / "annotations" / f"{split}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            w.writerows(rows)
        rows_total += len(rows)
    return rows_total


def bare_read(root: Path) -> int:
    n = 0
    for split in SPLITS:
        with open(root / "annotations" / f"{split}.csv", newline="") as fh:
            n += sum(1 for _ in csv.reader(fh))
        n += len(os.listdir(root / f"{split}_images"))
    return n


def median_time(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = make_full_size_root(root)
        idx = load_index(root)
        c = idx.counts()
        print(f"dataset: {c['images']} images, {rows} CSV rows, {c['studies']} studies, problems {len(idx.problems)}")
        t_index = median_time(lambda: load_index(root).counts())
        t_bare = median_time(lambda: bare_read(root))
        print(f"load_index + counts: {t_index * 1000:.0f} ms (budget 2000 ms)")
        print(f"bare csv.reader + listdir reference: {t_bare * 1000:.0f} ms")
        print(f"ratio index / budget: {t_index / 2.0:.3f} (<= 1.0 required); "
              f"index / bare read: {t_index / t_bare:.1f}x")


if __name__ == "__main__":
    main()
