"""Reader study budgets: `score` on 10 readers x 500 items <= 1 s; the next item from the render cache
(512 x 512 PNG to pixels) <= 50 ms.

Reference in the same run: reading the ten answers files with csv.reader alone (the floor any scorer
pays). Run: python tests/benchmarks/bench_reader_study.py
"""

import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from spinegui.core.reader_study import new_study, open_study, score_study  # noqa: E402

READERS, ITEMS, CLASSES = 10, 500, ("Osteophytes", "Disc space narrowing", "Vertebral collapse", "No finding")


def make_scoring_study(folder: Path, seed: int = 0) -> None:
    """A 500-item study folder with ten complete answers files (the items' pixels are not needed)."""
    rng = np.random.default_rng(seed)
    items = [f"item-{k:04d}" for k in range(1, ITEMS + 1)]
    origins = rng.permutation(["real"] * (ITEMS // 2) + ["synthetic"] * (ITEMS - ITEMS // 2))
    (folder / "items").mkdir(parents=True)
    meta = {"format": 1, "kind": "spinegui reader study", "seed": seed, "size": 512, "detail": 128,
            "render": "bench", "classes": list(CLASSES), "items": items}
    (folder / "study.json").write_text(json.dumps(meta))
    with open(folder / "key.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "origin", "class", "source"])
        for k, item in enumerate(items):
            w.writerow([item, origins[k], CLASSES[k % len(CLASSES)], f"/data/{item}.dicom"])
    (folder / "answers").mkdir()
    for r in range(READERS):
        skill = 0.5 + 0.04 * r
        with open(folder / "answers" / f"reader{r:02d}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["item", "answer", "confidence", "seconds", "lesion_class", "quality", "answered_at"])
            for k in rng.permutation(ITEMS):
                right = rng.random() < skill
                truth = origins[k]
                answer = truth if right else ("real" if truth == "synthetic" else "synthetic")
                w.writerow([items[k], answer, int(rng.integers(1, 6)), f"{rng.uniform(1, 20):.3f}",
                            "", "", "2026-01-01T00:00:00+00:00"])


def bare_read(folder: Path) -> None:
    for path in sorted((folder / "answers").glob("*.csv")):
        with open(path, newline="") as fh:
            list(csv.reader(fh))


def timed(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_times(tmp: Path) -> list[float]:
    """Per-item load of a rendered 512-px study (items from make_real_root / make_samples)."""
    from test_reader_study import arrays, make_real_root, make_samples

    real = make_real_root(tmp, arrays(10, (1024, 512), 0))
    syn = make_samples(tmp, arrays(10, (256, 256), 100))
    study = new_study(real, syn, tmp / "render-study", size=512)
    study = open_study(study.folder)
    times = []
    for item in study.items:
        t = time.perf_counter()
        pixels = study.load_item(item)
        times.append(time.perf_counter() - t)
        assert pixels.shape == (512, 512)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "study"
        make_scoring_study(folder)
        t_score = timed(lambda: score_study(folder))
        t_bare = timed(lambda: bare_read(folder))
        print(f"score_study, {READERS} readers x {ITEMS} items: {t_score * 1000:.0f} ms (budget 1000 ms)")
        print(f"bare csv.reader of the answers reference: {t_bare * 1000:.1f} ms")
        print(f"ratio score / budget: {t_score / 1.0:.3f} (<= 1.0 required)")
        times = load_times(Path(tmp))
        print(f"next item from the render cache (512x512 PNG -> array), {len(times)} items: median "
              f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms (budget 50 ms)")


if __name__ == "__main__":
    main()
