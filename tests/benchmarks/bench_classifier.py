"""Classifier training speed: end to end against the bare model step, measured in the same run.

- bare: the model's training step (bf16 autocast + channels_last + fused optimiser on CUDA) on one
  random batch already on the device -- the reference the issue names;
- end to end: ClassifierTrainer.fit on a memory-mapped uint16 store of demo images (the experiment's
  cache format), every image augmented on the device per epoch (the basic geometric preset, as
  on-the-fly training does) plus random flips; img/s over the last epoch's training steps.
Budget: end-to-end >= 0.9 x bare. References on an H200 (the issue): VGG-16 224 px 3.4k img/s,
Inception v3 299 px 2.1k img/s.
Run: python tests/benchmarks/bench_classifier.py [--models vgg16 inception_v3 resnet18] [--seconds 8]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spinegui.train import classifier as C
from spinegui.train.classifier_train import ClassifierTrainer, FoldData
from spinegui.train.experiment_data import cache_size, on_the_fly_augmenter, resize

SIZES = {"vgg16": 224, "inception_v3": 299, "resnet18": 224}


class QuietCtx:
    def emit(self, kind, **fields):
        pass

    def log(self, message, **fields):
        pass

    def should_stop(self):
        return False


def settings(batch, epochs):
    return {"seed": 0, "lr": None, "optimizer": "adamw", "weight_decay": 1e-4, "batch": batch,
            "epochs": epochs, "patience": 0, "flip": True}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_rate(name, size, batch, device, seconds, tmp):
    t = ClassifierTrainer(name, ["a", "b", "c"], size, settings(batch, 1), device, Path(tmp), f"bare-{name}",
                          QuietCtx())
    x = t._prepare(torch.rand(batch, 1, size, size, device=device))
    y = torch.randint(0, 3, (batch,), device=device)

    def step():
        with t.autocast:
            main, aux = C.logits(t.model(x))
            loss = F.cross_entropy(main.float(), y)
            if aux is not None:
                loss = loss + C.AUX_WEIGHT * F.cross_entropy(aux.float(), y)
        t.opt.zero_grad(set_to_none=True)
        loss.backward()
        t.opt.step()

    for _ in range(3):
        step()
    _sync(device)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        done += batch
    _sync(device)
    return done / (time.perf_counter() - start)


def demo_store(size, rows, tmp):
    """A (rows, size, size) uint16 .npy memory map of demo images, as the experiment's data/ stores."""
    from spinegui.core.dataset.cache import ImageCache
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dataset.workspace import Workspace
    from spinegui.core.demo.dataset import generate_demo_dataset

    root = Path(tmp) / "demo"
    if not root.exists():
        generate_demo_dataset(root, n_images=48, seed=5)
    index = load_index(root)
    cache = ImageCache(Workspace.for_dataset(root, Path(tmp) / "ws").cache_dir)
    ids = sorted(index.images)[:48]
    src = cache_size(size)
    cache.build([(i, index.images[i].path) for i in ids], train_size=src)
    base = np.stack([resize(np.asarray(cache.open_train(i, src), np.float32) / 65535.0, size) for i in ids])
    path = Path(tmp) / f"store-{size}.npy"
    store = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(rows, size, size))
    for start in range(0, rows, len(base)):
        store[start:start + len(base)] = base[: rows - start]
    store.flush()
    del store
    return np.load(path, mmap_mode="r")


def end_to_end_rate(name, size, batch, device, tmp, rows, epochs=2):
    store = demo_store(size, rows, tmp)
    labels = np.arange(rows) % 3
    train = FoldData([store], np.stack([np.zeros(rows), np.arange(rows)], 1), labels,
                     [f"i{k}" for k in range(rows)], on_the_fly=np.ones(rows, bool))
    val = FoldData([store], np.stack([np.zeros(batch), np.arange(batch)], 1), labels[:batch],
                   [f"v{k}" for k in range(batch)])
    t = ClassifierTrainer(name, ["a", "b", "c"], size, settings(batch, epochs), device, Path(tmp) / name,
                          f"e2e-{name}", QuietCtx(), augment=on_the_fly_augmenter("basic"))
    t.fit(train, val)
    return t.state["history"][-1]["img_s"]   # the last epoch: warm cuDNN plans, training steps only


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=None)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--size", type=int, default=None, help="one size for every model (default per model)")
    ap.add_argument("--rows", type=int, default=None, help="images in the end-to-end store")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    models = args.models or (["vgg16", "inception_v3", "resnet18"] if cuda else ["resnet18"])
    batch = args.batch or (64 if cuda else 16)
    rows = args.rows or (2048 if cuda else 64)
    print(f"device: {name}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            size = args.size or (SIZES[model] if cuda else 64)
            bare = bare_rate(model, size, batch, device, args.seconds, tmp)
            e2e = end_to_end_rate(model, size, batch, device, tmp, rows)
            print(f"{model:>12} {size} px batch {batch}: bare step {bare:8.1f} img/s | end to end (memory-mapped "
                  f"store of {rows}, GPU-side geometric augmentation + flips) {e2e:8.1f} img/s "
                  f"({e2e / bare:.2f}x bare)", flush=True)
    print("budget: end-to-end >= 0.9x bare; H200 references: VGG-16 224 px 3.4k img/s, Inception v3 299 px 2.1k")


if __name__ == "__main__":
    main()
