"""Window/level drag speed of the viewer on a VinDr-size image (2900 x 1450, 12-bit), offscreen.

Each frame sets a new window (what a right-drag does on every mouse move) and repaints the viewport
synchronously, so every frame really renders the image (counted) and paints it. References measured
in the same run, on the same widget size:
- naive: a bare pyqtgraph ImageItem given a float image re-normalised per frame (apply_window + setImage);
- floor: a bare ImageItem with the uint16 data and setLevels only (what the viewer's path costs at best).
Run: python tests/benchmarks/bench_viewer.py [--frames N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication

from spinegui.core.dicom.display import Window, apply_window
from spinegui.ui.viewer.view import ImageViewer, ViewerImage

SIZE = (1400, 1000)  # a workstation viewport


def make_image(rows: int = 2900, cols: int = 1450) -> np.ndarray:
    """A 12-bit radiograph-like array: smooth anatomy-ish gradients plus quantum noise."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    base = 1800 + 900 * np.sin(y / 140) * np.cos(x / 90) + 0.4 * x
    return np.clip(base + rng.normal(0, 60, (rows, cols)), 0, 4095).astype(np.uint16)


def windows(n: int):
    """The windows of a drag: width and centre moving a little each frame (never repeating)."""
    return [Window(2000.0 + 3 * i, 3000.0 + 5 * i, "user") for i in range(n)]


def run(label: str, frames: int, step, viewport, count) -> float:
    """Time ``frames`` frames of ``step(i)`` + a synchronous repaint; returns redraws per second."""
    for i in range(5):  # warm up (first render builds buffers)
        step(i)
        viewport.repaint()
    before = count()
    times = []
    t0 = time.perf_counter()
    for i in range(frames):
        t = time.perf_counter()
        step(i)
        viewport.repaint()
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    rendered = count() - before
    assert rendered == frames, f"{label}: {rendered} renders for {frames} frames: paints were skipped"
    rate = frames / total
    times.sort()
    print(f"{label:<46} {rate:7.1f} redraws/s  (median {statistics.median(times) * 1000:5.1f} ms, "
          f"p95 {times[int(0.95 * len(times))] * 1000:5.1f} ms)")
    return rate


def counted(item: pg.ImageItem) -> list[int]:
    """Count the item's renders (pyqtgraph renders in paint(), only when the image or levels changed)."""
    calls = [0]
    render = item.render

    def wrapper(*a, **k):
        calls[0] += 1
        return render(*a, **k)

    item.render = wrapper
    return calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    pixels = make_image()
    wins = windows(args.frames + 5)
    print(f"image {pixels.shape[0]}x{pixels.shape[1]} uint16 (12-bit), viewport {SIZE[0]}x{SIZE[1]}, "
          f"{args.frames} frames, Qt platform {app.platformName()}")

    viewer = ImageViewer()
    viewer.resize(*SIZE)
    viewer.show()
    app.processEvents()
    viewer.set_image(ViewerImage("bench", pixels, Window(2048, 4096, "dicom"), False, pixel_spacing=(0.14, 0.14)))
    app.processEvents()
    n = counted(viewer._item)
    rate_fit = run("viewer, fit to window", args.frames, lambda i: viewer.set_window(wins[i]),
                   viewer.viewport, lambda: n[0])
    viewer.zoom_actual()
    app.processEvents()
    rate_1to1 = run("viewer, actual size (1:1)", args.frames, lambda i: viewer.set_window(wins[i]),
                    viewer.viewport, lambda: n[0])
    viewer.set_invert(True)
    viewer.zoom_fit()
    app.processEvents()
    rate_inv = run("viewer, fit, inverted (MONOCHROME1)", args.frames, lambda i: viewer.set_window(wins[i]),
                   viewer.viewport, lambda: n[0])
    viewer.close()

    def bare():
        view = pg.GraphicsView(background="k")
        view.resize(*SIZE)
        vb = pg.ViewBox(lockAspect=True, invertY=True)
        view.setCentralItem(vb)
        item = pg.ImageItem(axisOrder="row-major")
        vb.addItem(item)
        view.show()
        return view, vb, item

    view, vb, item = bare()
    item.setImage(apply_window(pixels, wins[0]), autoLevels=False, levels=(0.0, 1.0))
    vb.autoRange(padding=0.02)
    app.processEvents()
    n = counted(item)
    rate_naive = run("reference naive: float re-normalised per frame", args.frames,
                     lambda i: item.setImage(apply_window(pixels, wins[i]), autoLevels=False, levels=(0.0, 1.0)),
                     view.viewport(), lambda: n[0])
    view.close()

    view, vb, item = bare()
    item.setImage(pixels, autoLevels=False, levels=(wins[0].lower, wins[0].upper))
    vb.autoRange(padding=0.02)
    app.processEvents()
    n = counted(item)
    rate_floor = run("reference floor: bare uint16 + setLevels", args.frames,
                     lambda i: item.setLevels((wins[i].lower, wins[i].upper)), view.viewport(), lambda: n[0])
    view.close()

    print(f"viewer / floor (overhead of the viewer): {rate_fit / rate_floor:.2f}")
    print(">= 30 redraws/s required (aim 60): "
          f"viewer fit {rate_fit:.0f}, 1:1 {rate_1to1:.0f}, inverted {rate_inv:.0f} -> "
          + ("OK" if min(rate_fit, rate_1to1, rate_inv) >= 30 else "TOO SLOW"))
    print(f"ratio viewer / naive float re-normalisation: {rate_fit / rate_naive:.2f}x")


if __name__ == "__main__":
    main()
