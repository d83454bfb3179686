"""GAN training speed, each figure against its reference measured in the same run.

For each size (64, 128; 256 on a GPU), WGAN-GP, n_critic 5, gradient penalty, batch 64:
- plain: a textbook eager WGAN-GP step (separate critic calls for real, fake and the penalty, fp32,
  unfused Adam) on random in-memory tensors -- the reference the issue names;
- ours bare: GanTrainer's critic/generator steps on the same random tensors (on CUDA: bf16 autocast,
  channels_last, fused Adam, one critic call on real+fake+mix);
- ours end to end: GanTrainer.train() on images from a class of the demo dataset read from the cache,
  with DiffAugment, sample grids and checkpoints included.
"img/s" counts real images through critic steps. Budgets: end-to-end >= 0.8 x bare; on a GPU bare >=
3 x plain; CPU 64 px >= 50 img/s. On a GPU also: ours without CUDA graphs, the DCGAN step at the
issue's reference settings, and the preprint's setting (WGAN, 200 epochs, 200 images, 128 px) timed
for real.
Run: python tests/benchmarks/bench_gan.py [--sizes 64 128] [--seconds 8]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spinegui.gan.models import build
from spinegui.gan.settings import gan_settings
from spinegui.gan.train import GanTrainer


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


def ours_bare_rate(size, batch, device, seconds, tmp, arch="wgan-gp", graphs=True, fp32=False):
    s = gan_settings({"arch": arch, "size": size, "batch": batch, "epochs": 1, "device": device.type,
                      "cuda_graphs": graphs})
    data = (np.random.default_rng(0).random((batch, size, size)) * 65535).astype(np.uint16)
    t = GanTrainer(s, data, np.zeros(batch, np.int64), ["x"], "bench", device, QuietCtx(tmp))
    if fp32:   # the variant without bf16 autocast (TF32 matrix units), to choose the default
        t.autocast = torch.autocast("cuda", enabled=False)
    idx = torch.arange(batch, device=device)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    n_critic = s["n_critic"]

    def step():
        for _ in range(n_critic):
            t.critic_update(idx)
        t.generator_update(y)
        return n_critic * batch

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


def end_to_end_rate(size, batch, device, seconds, tmp, images, arch="wgan-gp", epochs=100000):
    s = gan_settings({"arch": arch, "size": size, "batch": batch, "epochs": epochs, "device": device.type,
                      "diffaugment": True, "cuda_graphs": True})
    ctx = QuietCtx(Path(tmp) / f"e2e{size}{arch}{epochs}", seconds)
    t = GanTrainer(s, images, np.zeros(len(images), np.int64), ["x"], f"e2e{size}", device, ctx)
    start = time.perf_counter()
    t.train()
    _sync(device)
    elapsed = time.perf_counter() - start
    return t.critic_steps * t.batch / elapsed, elapsed


def demo_images(size, tmp, n_images=120):
    """Every training image of a demo dataset (all classes: the class does not matter for speed)."""
    from spinegui.core.dataset.vindr import LABELS, load_index
    from spinegui.core.dataset.workspace import Workspace
    from spinegui.core.demo.dataset import generate_demo_dataset
    from spinegui.gan.data import images_of, load_gan_data

    root = Path(tmp) / f"demo{n_images}"
    if not root.exists():
        generate_demo_dataset(root, n_images=n_images, seed=3)
    index = load_index(root)
    classes = [c for c in LABELS if images_of(index, c)]
    data = load_gan_data(index, classes, size, workspace=Workspace.for_dataset(root, Path(tmp) / f"ws{n_images}"))
    return data.images


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--preprint", action="store_true", help="also time the preprint's setting for real "
                    "(WGAN, 200 epochs, ~200 images, 128 px; default on a GPU)")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    sizes = args.sizes or ([64, 128, 256] if cuda else [64, 128])
    print(f"device: {name}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            images = demo_images(size, tmp)
            plain = plain_rate(size, args.batch, device, args.seconds)
            eager = ours_bare_rate(size, args.batch, device, args.seconds, tmp, graphs=False) if cuda else None
            bare = ours_bare_rate(size, args.batch, device, args.seconds, tmp)
            if cuda:
                torch.backends.cuda.matmul.allow_tf32 = True
                fp32 = ours_bare_rate(size, args.batch, device, args.seconds, tmp, fp32=True)
                torch.backends.cuda.matmul.allow_tf32 = False
                print(f"{size:>3} px: ours bare without autocast (fp32/TF32) {fp32:8.1f} img/s", flush=True)
            e2e, _ = end_to_end_rate(size, args.batch, device, args.seconds, tmp, images)
            eager_txt = f"ours eager {eager:8.1f} ({eager / plain:.2f}x) | " if eager else ""
            print(f"{size:>3} px batch {args.batch} WGAN-GP: plain eager {plain:8.1f} img/s | {eager_txt}"
                  f"ours bare {bare:8.1f} img/s ({bare / plain:.2f}x plain) | ours end-to-end "
                  f"({len(images)} cached images, DiffAugment, samples, checkpoints) {e2e:8.1f} img/s "
                  f"({e2e / bare:.2f}x bare)", flush=True)
        if cuda:   # the DCGAN references of the issue (pytorch/examples, bf16 + channels_last)
            for size, batch in ((64, 128), (256, 64)):
                rate = ours_bare_rate(size, batch, device, args.seconds, tmp, arch="dcgan")
                print(f"DCGAN bare {size} px batch {batch}: {rate:8.1f} img/s", flush=True)
        if cuda or args.preprint:
            images = demo_images(128, tmp, n_images=300)[:200]
            rate, elapsed = end_to_end_rate(128, args.batch, device, None, tmp, images, arch="wgan", epochs=200)
            print(f"preprint setting (WGAN, 200 epochs x {len(images)} images, 128 px, samples and "
                  f"checkpoints): {elapsed:.1f} s for one class ({rate:.0f} img/s)", flush=True)
        else:
            print("preprint setting: run with --preprint to time it (about an hour on 2 CPU cores)")
    print("budgets: end-to-end >= 0.8x bare; GPU bare >= 3x plain; preprint setting <= 60 s on an H200; "
          "CPU 64 px >= 50 img/s")


if __name__ == "__main__":
    main()
