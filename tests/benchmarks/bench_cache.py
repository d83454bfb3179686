"""The decoded-image cache on VinDr-like full-size images (JPEG 2000 lossless, 12-bit, ~2900 px tall).

Prints, each against its reference measured in the same run:
- reopening a cached display image (memory map) vs decoding the DICOM: <= 20 ms and >= 20x faster;
- cache build rate with 2 worker processes vs 1: >= 1.7x.
Run: python tests/benchmarks/bench_cache.py [--images N]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import load_index
from spinegui.core.demo.dataset import generate_demo_dataset
from spinegui.core.dicom.reader import read_image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=32)  # enough to amortise starting the workers
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        generate_demo_dataset(tmp / "data", n_images=args.images, seed=1, full_size=True)
        print(f"made {args.images} full-size demo images in {time.perf_counter() - t:.1f} s")
        items = [(r.image_id, r.path) for r in load_index(tmp / "data").images.values()]
        shapes = [read_image(p).pixels.shape for _, p in items[:3]]
        print(f"image sizes (first 3): {shapes}")

        rates = {}
        for workers in (1, 2):
            cache = ImageCache(tmp / f"cache{workers}")
            report = cache.build(items, train_size=256, workers=workers)
            assert report.failed == 0
            rates[workers] = report.decoded / report.seconds
            print(f"cache build, {workers} worker(s): {report.decoded} images in {report.seconds:.2f} s "
                  f"= {rates[workers]:.2f} images/s")

        cache = ImageCache(tmp / "cache2")
        decode_s, reopen_s = [], []
        for image_id, path in items[:8]:
            t = time.perf_counter()
            read_image(path)
            decode_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            arr = cache.open_display(image_id)
            np.array(arr).sum()  # read every pixel, as drawing it does
            reopen_s.append(time.perf_counter() - t)
        d, r = statistics.median(decode_s), statistics.median(reopen_s)
        print(f"decode (read_image) median: {d * 1000:.0f} ms; reopen cached display median: {r * 1000:.2f} ms")
        print(f"ratio decode / reopen: {d / r:.0f}x (>= 20x required; reopen <= 20 ms required)")
        print(f"ratio build 2 workers / 1 worker: {rates[2] / rates[1]:.2f} (>= 1.7 required)")


if __name__ == "__main__":
    main()
