"""GAN training speed, each figure against its reference measured in the same run.

For each size (64, 128; 256 on a GPU), WGAN-GP, n_critic 5, gradient penalty, batch 64:
- plain: a textbook eager WGAN-GP step (separate critic calls for real, fake and the penalty, fp32,
  unfused Adam) on random in-memory tensors -- the reference the issue names;
- ours bare: GanTrainer's critic/generator steps on the same random tensors (on CUDA: bf16 autocast,
  channels_last, fused Adam, one critic call on real+fake+mix);
- ours end to end: GanTrainer.train() on images from a class of the demo dataset read from the cache,
  with DiffAugment, sample grids and checkpoints included.
"img/s" counts real images through critic steps. Budgets: end-to-end >= 0.8 x bare; on a GPU bare >=
3 x plain; CPU 64 px >= 50 img/s. Also prints the preprint's setting (WGAN, 200 epochs, 200 images,
128 px) projected from the measured rate.
Run: python tests/benchmarks/bench_gan.py [--sizes 64 128] [--seconds 8]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spinegui.augment.gan_models import build
from spinegui.train.gan_settings import gan_settings
from spinegui.train.gan_train import GanTrainer


class QuietCtx:
    def __init__(self, run_dir, seconds=None):
        self.run_dir, self.events = Path(run_dir), []
        self.deadline = None if seconds is None else time.perf_counter() + seconds

    def emit(self, kind, **fields):
        self.events.append({"kind": kind, **fields})

    def log(self, message, **fields):
        pass

    def should_stop(self):
        return self.deadline is not None and time.perf_counter() > self.deadline


def plain_rate(size, batch, device, seconds):
    """Textbook eager WGAN-GP (Gulrajani et al. / pytorch examples style)."""
    g, d = build("wgan-gp", size, 32, 1)
    g, d = g.to(device), d.to(device)
    og = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.0, 0.9))
    od = torch.optim.Adam(d.parameters(), 1e-4, betas=(0.0, 0.9))
    real = torch.rand(batch, 1, size, size, device=device) * 2 - 1

    def step():
        for _ in range(5):
            fake = g(torch.randn(batch, 128, device=device)).detach()
            eps = torch.rand(batch, 1, 1, 1, device=device)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(d(mix).sum(), mix, create_graph=True)
            gp = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
            loss = d(fake).mean() - d(real).mean() + 10 * gp
            od.zero_grad()
            loss.backward()
            od.step()
        loss = -d(g(torch.randn(batch, 128, device=device))).mean()
        og.zero_grad()
        loss.backward()
        og.step()
        return 5 * batch

    return _rate(step, device, seconds)


def ours_bare_rate(size, batch, device, seconds, tmp):
    s = gan_settings({"size": size, "batch": batch, "epochs": 1, "device": device.type})
    data = (np.random.default_rng(0).random((batch, size, size)) * 65535).astype(np.uint16)
    t = GanTrainer(s, data, np.zeros(batch, np.int64), ["x"], "bench", device, QuietCtx(tmp))
    real = torch.rand(batch, 1, size, size, device=device) * 2 - 1
    y = torch.zeros(batch, dtype=torch.long, device=device)

    def step():
        for _ in range(5):
            t.critic_step(real, y)
        t.generator_step(y)
        return 5 * batch

    return _rate(step, device, seconds)


def _rate(step, device, seconds):
    step()
    _sync(device)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    _sync(device)
    return done / (time.perf_counter() - start)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def end_to_end_rate(size, batch, device, seconds, tmp, images):
    s = gan_settings({"size": size, "batch": batch, "epochs": 100000, "device": device.type, "diffaugment": True,
                      "sample_every": 5})
    ctx = QuietCtx(tmp, seconds)
    t = GanTrainer(s, images, np.zeros(len(images), np.int64), ["x"], f"e2e{size}", device, ctx)
    start = time.perf_counter()
    t.train()
    _sync(device)
    return t.critic_steps * t.batch / (time.perf_counter() - start)


def demo_images(size, tmp):
    from spinegui.core.demo.dataset import generate_demo_dataset
    from spinegui.core.vindr import load_index
    from spinegui.core.workspace import Workspace
    from spinegui.train.gan_data import load_gan_data

    root = Path(tmp) / "demo"
    if not root.exists():
        generate_demo_dataset(root, n_images=120, seed=3)
    index = load_index(root)
    data = load_gan_data(index, ["No finding"], size, workspace=Workspace.for_dataset(root, Path(tmp) / "ws"))
    return data.images


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    sizes = args.sizes or ([64, 128, 256] if device.type == "cuda" else [64, 128])
    print(f"device: {name}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            images = demo_images(size, tmp)
            plain = plain_rate(size, args.batch, device, args.seconds)
            bare = ours_bare_rate(size, args.batch, device, args.seconds, tmp)
            e2e = end_to_end_rate(size, args.batch, device, args.seconds, tmp, images)
            print(f"{size:>3} px batch {args.batch}: plain eager {plain:8.1f} img/s | ours bare {bare:8.1f} img/s "
                  f"({bare / plain:.2f}x plain) | ours end-to-end ({len(images)} cached images, DiffAugment, "
                  f"samples, checkpoints) {e2e:8.1f} img/s ({e2e / bare:.2f}x bare)")
            if size == 128:
                print(f"    preprint setting (200 epochs x 200 images at 128 px) projected: "
                      f"{200 * 200 / e2e:.0f} s per class on this device")
    print("budgets: end-to-end >= 0.8x bare; GPU bare >= 3x plain; CPU 64 px >= 50 img/s")


if __name__ == "__main__":
    main()
