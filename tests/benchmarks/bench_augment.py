"""Augmentation speed, each figure against its reference measured in the same run.

- preview: one 512x512 12-bit image with its boxes, median ms per draw (budget 15 ms), for each
  transform alone, for everything at once and for the presets; reference: torchvision v2
  RandomAffine on the same image (image only, no boxes);
- CPU batch: 256 images 512x512, the same affine transform (rotation +-45, shear +-20, scale
  0.9-1.1, each image its own draw): Augmenter.batch vs albumentations 2.0.8 Affine per image
  collated into a batch tensor as a DataLoader does (albumentations is installed into a temporary
  folder here, never a dependency); budget ratio >= 1;
- GPU batch (only where CUDA is available): Augmenter.batch on the GPU vs a bare affine_grid +
  grid_sample with per-sample matrices already on the device; budget ratio >= 0.8.
Run: python tests/benchmarks/bench_augment.py [--batch 256] [--gpu-batch 256]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from spinegui.augment.pipeline import Augmenter
from spinegui.augment.presets import BUILTIN_PRESETS
from spinegui.core.demo.phantom import PhantomSpec, render_phantom

AFFINE = {"rotation": (-45.0, 45.0), "shear": (-20.0, 20.0), "scale": (0.9, 1.1)}
SINGLE = {
    "rotation": {"rotation": (-30.0, 30.0)}, "right angle": {"rotation_fixed": (90, 270)},
    "flips": {"hflip": 0.5, "vflip": 0.5}, "scale": {"scale": (0.8, 1.2)}, "translate": {"translate": 0.1},
    "shear": {"shear": (-20.0, 20.0)}, "perspective": {"perspective": 0.3},
    "elastic": {"elastic_alpha": 12.0}, "crop": {"crop": (0.5, 0.9)},
    "intensity": {"brightness": 0.1, "contrast": 0.2, "gamma": (0.8, 1.2)},
    "noise": {"noise": 0.02}, "blur": {"blur": (0.5, 2.0)},
}
EVERYTHING = {k: v for cfg in SINGLE.values() for k, v in cfg.items()}


def test_image(size=512, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A demo spine radiograph (12-bit) with three lesion boxes."""
    spec = PhantomSpec(size, size, "lumbar", "lateral",
                       ("Osteophytes", "Disc space narrowing", "Vertebral collapse"))
    image, boxes = render_phantom(spec, np.random.default_rng(seed))
    return image, np.array([b for _, b in boxes], float)


def median_ms(fn, repeats=60) -> float:
    fn(0)
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        fn(i + 1)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench_preview(image, boxes):
    from torchvision.transforms import v2

    print("preview, one 512x512 uint16 image + 3 boxes, median ms per draw (budget 15 ms):")
    configs = {**SINGLE, "everything": EVERYTHING, **{f"preset {k}": v for k, v in BUILTIN_PRESETS.items()}}
    worst = 0.0
    for name, cfg in configs.items():
        aug = Augmenter(cfg)
        ms = median_ms(lambda s, aug=aug: aug(image, boxes, seed=s, value_range=(0, 4095)))
        worst = max(worst, ms)
        print(f"  {name:<24} {ms:6.2f} ms")
    ours = median_ms(lambda s: Augmenter(AFFINE)(image, boxes, seed=s, value_range=(0, 4095)))
    tv = v2.RandomAffine(degrees=45, shear=(-20, 20), scale=(0.9, 1.1))
    tensor = torch.from_numpy(image.astype(np.float32))[None]
    ref = median_ms(lambda s: tv(tensor))
    print(f"  affine: ours {ours:.2f} ms (image + boxes) vs torchvision v2 RandomAffine {ref:.2f} ms (image only)")
    print(f"preview worst case {worst:.2f} ms -> {'within' if worst <= 15 else 'OVER'} the 15 ms budget")
    return ref / ours


def _albumentations():
    try:
        import albumentations
        return albumentations
    except ImportError:
        target = Path(tempfile.gettempdir()) / "spinegui-bench-albumentations"
        if not (target / "albumentations").is_dir():
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
                            "albumentations==2.0.8"], check=True)
        sys.path.append(str(target))   # after site-packages: our numpy stays the one in use
        import albumentations
        return albumentations


def bench_cpu_batch(n):
    A = _albumentations()
    rng = np.random.default_rng(1)
    images = np.stack([test_image(512, s)[0] for s in range(8)] * (n // 8)).astype(np.float32) / 4095
    batch = torch.from_numpy(images)
    ours = Augmenter(AFFINE)
    alb = A.Affine(rotate=(-45, 45), shear={"x": (-20, 20), "y": (0, 0)}, scale=(0.9, 1.1), p=1.0)

    def run_ours():
        ours.batch(batch, seed=int(rng.integers(1 << 30)))

    def run_alb():
        # A trainer needs the batch: collate the images into one tensor, as DataLoader does.
        torch.from_numpy(np.stack([alb(image=im)["image"] for im in images]))

    def run_alb_discard():
        for im in images:
            alb(image=im)

    rate = {}
    for name, fn in (("spinegui Augmenter.batch (CPU)", run_ours), ("albumentations 2.0.8 Affine", run_alb),
                     ("albumentations, results discarded (no batch)", run_alb_discard)):
        fn()
        best = min(_timed(fn) for _ in range(3))
        rate[name] = n / best
        print(f"CPU batch of {n} 512x512 float32, affine: {name}: {rate[name]:.0f} img/s")
    ratio = rate["spinegui Augmenter.batch (CPU)"] / rate["albumentations 2.0.8 Affine"]
    print(f"CPU batch ratio ours/albumentations (both giving a batch) = {ratio:.2f} (budget >= 1.0; "
          f"vs albumentations discarding its results: "
          f"{rate['spinegui Augmenter.batch (CPU)'] / rate['albumentations, results discarded (no batch)']:.2f}; "
          f"cv2 threads: {cv2.getNumThreads()}, torch threads: {torch.get_num_threads()})")
    return ratio


def bench_gpu_batch(n):
    import torch.nn.functional as F

    from spinegui.augment import params as P

    dev = torch.device("cuda")
    x = torch.rand(n, 1, 512, 512, device=dev)
    ours = Augmenter(AFFINE)
    p = ours.draw(n, seed=0)
    from spinegui.augment.warp_torch import _normalised
    theta = torch.from_numpy(_normalised(P.inverse_matrices(p, 512, 512), (512, 512), (512, 512))[:, :2]
                             .astype(np.float32)).to(dev)

    def bare():
        grid = F.affine_grid(theta, [n, 1, 512, 512], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    seeds = iter(range(10**6))
    rate = {}
    for name, fn in (("bare affine_grid + grid_sample", bare),
                     ("spinegui Augmenter.batch (GPU)", lambda: ours.batch(x, seed=next(seeds)))):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        reps = 20
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
        rate[name] = n * reps / (time.perf_counter() - t)
        print(f"GPU batch of {n} 512x512 on {torch.cuda.get_device_name()}: {name}: {rate[name]:.0f} img/s")
    ratio = rate["spinegui Augmenter.batch (GPU)"] / rate["bare affine_grid + grid_sample"]
    print(f"GPU batch ratio ours/bare = {ratio:.2f} (budget >= 0.8)")
    return ratio


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--gpu-batch", type=int, default=256)
    args = ap.parse_args()
    image, boxes = test_image()
    ratios = {"preview vs torchvision (speed-up)": bench_preview(image, boxes),
              "CPU batch vs albumentations": bench_cpu_batch(args.batch)}
    if torch.cuda.is_available():
        ratios["GPU batch vs bare grid_sample"] = bench_gpu_batch(args.gpu_batch)
    else:
        print("GPU batch: no CUDA device here, not measured")
    print("ratios: " + "; ".join(f"{k} {v:.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
