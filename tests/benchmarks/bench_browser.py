"""The study browser on a full-size index: 10,466 images in ~5,000 studies, offscreen.

Times building the panel (model + view, all studies expanded, first paint), applying a filter,
sorting by a column, and scrolling through the whole view (a page per step, each step painted), with
and without thumbnails from a synthetic cache. Reference in the same run: a plain QStandardItemModel
holding the same rows as text (items made up front), in a QTreeView of the same size, row height and
scroll mode, filtered by a recursive QSortFilterProxyModel and sorted by it. Ratio = browser / reference
(lower is better).

Run: python tests/benchmarks/bench_browser.py [--images 10466] [--no-thumbnails]
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QSize, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QApplication, QTreeView

from spinegui.core.dataset.browse import FilterSpec
from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import LESION_TYPES, Box, ImageRecord, VinDrIndex
from spinegui.ui.browser.model import BOX_COL
from spinegui.ui.browser.panel import StudyBrowser
from spinegui.ui.browser.thumbnails import THUMB_SIZE

W, H = 1000, 800
ROW_HEIGHT = THUMB_SIZE + 6  # the browser's row height


def synthetic_index(n_images: int, seed: int = 0) -> VinDrIndex:
    """docs/VINDR.md's shape: ~2 images a study, about half normal, 1-4 boxes on abnormal ones, 3 readers."""
    rng = np.random.default_rng(seed)
    hexid = lambda: rng.bytes(16).hex()  # noqa: E731
    images, study = {}, hexid()
    for k in range(n_images):
        if k % 2 == 0 or rng.random() < 0.05:
            study = hexid()
        image_id = hexid()
        split = "train" if k < n_images * 0.8 else "test"
        boxes = []
        if rng.random() < 0.49:
            for _ in range(rng.integers(1, 5)):
                x, y = rng.uniform(0, 1500, 2)
                boxes.append(Box(LESION_TYPES[rng.integers(0, 7)], x, y, x + 80, y + 60, f"rad{rng.integers(1, 4)}"))
        images[image_id] = ImageRecord(image_id, study, hexid(), split, Path(f"/nonexistent/{image_id}.dicom"),
                                       boxes, set() if boxes else {f"rad{rng.integers(1, 4)}"})
    return VinDrIndex(Path("/nonexistent"), images, [])


def synthetic_cache(index: VinDrIndex, folder: Path, size: int = 64) -> ImageCache:
    """Training arrays for every image (a gradient per image), and a manifest saying they are ok."""
    cache = ImageCache(folder)
    (folder / f"train_{size}").mkdir(parents=True)
    ramp = (np.linspace(0, 65535, size)[None, :] * np.ones((size, 1))).astype(np.uint16)
    for k, image_id in enumerate(index.images):
        np.save(folder / f"train_{size}" / f"{image_id}.npy", np.roll(ramp, k % size, axis=0))
        cache.entries[image_id] = {"state": "ok", "train": {str(size): {}}}
    return cache


def settle(app, seconds=0.0):
    end = time.perf_counter() + seconds
    app.processEvents()
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def scroll_through(app, view: QTreeView) -> list[float]:
    """A page per step from top to bottom, each step painted; returns each step's seconds."""
    bar = view.verticalScrollBar()
    steps = []
    bar.setValue(0)
    settle(app)
    value = 0
    while True:
        t = time.perf_counter()
        bar.setValue(value)
        view.viewport().repaint()
        app.processEvents()
        steps.append(time.perf_counter() - t)
        if value >= bar.maximum():
            return steps
        value = min(bar.maximum(), value + bar.pageStep())


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_browser(app, index, cache):
    t = time.perf_counter()
    b = StudyBrowser(index, None, cache)
    b.resize(W, H)
    b.show()
    b.view.viewport().repaint()
    app.processEvents()
    build = time.perf_counter() - t
    scroll = scroll_through(app, b.view)
    t = time.perf_counter()
    b.set_filter(FilterSpec(lesion="Osteophytes"))
    b.view.viewport().repaint()
    app.processEvents()
    filt = time.perf_counter() - t
    shown = b.visible_count()[0]
    t = time.perf_counter()
    b.set_filter(FilterSpec())
    app.processEvents()
    unfilt = time.perf_counter() - t
    t = time.perf_counter()
    b.view.header().setSortIndicator(BOX_COL, Qt.SortOrder.DescendingOrder)  # what a header click does
    b.view.viewport().repaint()
    app.processEvents()
    sort = time.perf_counter() - t
    t = time.perf_counter()
    while b.next_image() is not None:
        pass
    walk = time.perf_counter() - t
    loaded = sum(1 for i in index.images if b.thumbnails.is_loaded(i)) if cache else 0
    b.thumbnails.wait_idle()
    b.close()
    return dict(build=build, filter=filt, unfilter=unfilt, sort=sort, scroll=scroll, shown=shown,
                walk=walk, loaded=loaded, facts=len(b.model._facts))


def browser_view_size(app, index):
    """The size of the browser's tree view in a W x H panel: the reference view gets the same."""
    small = VinDrIndex(index.root, dict(list(index.images.items())[:10]), [])
    b = StudyBrowser(small)
    b.resize(W, H)
    b.show()
    app.processEvents()
    size = b.view.size()
    b.close()
    return size


def bench_reference(app, index, view_size):
    t = time.perf_counter()
    model = QStandardItemModel()
    model.setHorizontalHeaderLabels(["Study / image", "Split", "Lesions", "Boxes", "Readers", "State"])
    studies: dict[str, QStandardItem] = {}
    for rec in index.images.values():
        parent = studies.get(rec.study_id)
        if parent is None:
            parent = studies[rec.study_id] = QStandardItem(rec.study_id[:10])
            parent.setSizeHint(QSize(-1, ROW_HEIGHT))  # uniform rows take the first row's height
            model.appendRow([parent] + [QStandardItem("") for _ in range(5)])
        labels = sorted({b.lesion_type for b in rec.boxes}) or ["No finding"]
        box_item = QStandardItem()
        box_item.setData(len(rec.boxes), Qt.ItemDataRole.DisplayRole)
        parent.appendRow([QStandardItem(rec.image_id[:10]), QStandardItem(rec.split),
                          QStandardItem(", ".join(labels)), box_item,
                          QStandardItem(", ".join(sorted(rec.readers))), QStandardItem("")])
    proxy = QSortFilterProxyModel()
    proxy.setRecursiveFilteringEnabled(True)
    proxy.setFilterKeyColumn(2)
    proxy.setSourceModel(model)
    view = QTreeView()
    view.setUniformRowHeights(True)
    view.setVerticalScrollMode(QTreeView.ScrollMode.ScrollPerPixel)  # as the browser: same pages
    view.setModel(proxy)
    view.resize(view_size)
    view.expandAll()
    view.show()
    view.viewport().repaint()
    app.processEvents()
    build = time.perf_counter() - t
    scroll = scroll_through(app, view)
    t = time.perf_counter()
    proxy.setFilterFixedString("Osteophytes")
    view.expandAll()
    view.viewport().repaint()
    app.processEvents()
    filt = time.perf_counter() - t
    t = time.perf_counter()
    proxy.setFilterFixedString("")
    view.expandAll()
    app.processEvents()
    unfilt = time.perf_counter() - t
    view.setSortingEnabled(True)  # sorts by the default indicator: not timed
    app.processEvents()
    t = time.perf_counter()
    view.header().setSortIndicator(3, Qt.SortOrder.DescendingOrder)
    view.viewport().repaint()
    app.processEvents()
    sort = time.perf_counter() - t
    view.close()
    return dict(build=build, filter=filt, unfilter=unfilt, sort=sort, scroll=scroll)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10466)
    ap.add_argument("--no-thumbnails", action="store_true")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    index = synthetic_index(args.images)
    n_studies = len({r.study_id for r in index.images.values()})
    print(f"index: {len(index.images):,} images, {n_studies:,} studies; window {W}x{H}; "
          f"Qt platform {app.platformName()}")
    rss0 = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        cache = None
        if not args.no_thumbnails:
            t = time.perf_counter()
            cache = synthetic_cache(index, Path(tmp) / "cache")
            print(f"synthetic cache: {len(cache.entries):,} arrays in {time.perf_counter() - t:.1f} s (setup)")
        ref = bench_reference(app, index, browser_view_size(app, index))
        rss_ref = rss_mb()
        ours = bench_browser(app, index, None)
        thumbs = bench_browser(app, index, cache) if cache else None
    rss1 = rss_mb()

    def ms(x):
        return f"{x * 1000:8.1f} ms"

    rows = [("build + first paint", "build"), ("filter (Osteophytes)", "filter"), ("clear filter", "unfilter"),
            ("sort by boxes", "sort")]
    print(f"\n{'step':<28}{'browser':>12}{'+thumbs':>12}{'reference':>12}{'ratio':>8}")
    for name, key in rows:
        th = ms(thumbs[key]) if thumbs else "      -"
        print(f"{name:<28}{ms(ours[key]):>12}{th:>12}{ms(ref[key]):>12}{ours[key] / ref[key]:>8.2f}")
    for label, res in (("browser", ours), ("+thumbs", thumbs), ("reference", ref)):
        if res is None:
            continue
        s = res["scroll"]
        print(f"scroll {label:<10} {len(s):4d} pages: total {sum(s):6.2f} s, "
              f"per page mean {statistics.mean(s) * 1000:6.1f} ms, "
              f"p95 {sorted(s)[int(len(s) * 0.95)] * 1000:6.1f} ms, max {max(s) * 1000:6.1f} ms")
    print(f"filter kept {ours['shown']:,} images; walking them all with next_image: {ours['walk']:.2f} s")
    print(f"facts made while browsing (scroll + filter + sort): {ours['facts']:,}")
    if thumbs:
        print(f"thumbnails loaded while scrolling at full speed: {thumbs['loaded']:,} (LRU, rows on screen only)")
    print(f"max RSS: {rss0:.0f} MB at start, {rss_ref:.0f} MB after reference, {rss1:.0f} MB at end")
    s_ours, s_ref = statistics.mean(ours["scroll"]), statistics.mean(ref["scroll"])
    print(f"\nratio browser/reference: build {ours['build'] / ref['build']:.2f}, "
          f"filter {ours['filter'] / ref['filter']:.2f}, "
          f"sort {ours['sort'] / ref['sort']:.2f}, scroll per page {s_ours / s_ref:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
