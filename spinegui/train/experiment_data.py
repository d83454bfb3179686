"""The experiment's images: real ones from the workspace cache, geometric copies and GAN samples made
from a fold, all kept as memory-mapped uint16 stores under RUN/data/ (made once, reused on resume).

- real-<S>.npy: every real image of the case (pool and test) at S x S.
- <protocol>-<strategy>-<S>.npy: the plan's synthetic images, pre-generated in the manifest's order
  with seeds derived from (seed, protocol, strategy): the same run makes the same images. With
  on-the-fly augmentation the training fold's geometric copies are left out and drawn per epoch.
- gan/<protocol>/: one GAN per class that needs samples, trained on that protocol's images of the
  class (safe: the training fold; paper: the whole pool), checkpoints and sample grids as any GAN run;
  sources.json lists the images each GAN saw (the leakage audit reads it).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spinegui.augment.pipeline import Augmenter
from spinegui.augment.presets import load_preset
from spinegui.core import run_events as E
from spinegui.core.dataset.cache import DEFAULT_TRAIN_SIZE, ImageCache
from spinegui.core.dataset.vindr import LESION_TYPES
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.gan import checkpoint as ck
from spinegui.gan.data import load_gan_data
from spinegui.gan.sampler import BITS, generate
from spinegui.gan.settings import gan_settings
from spinegui.gan.train import GanTrainer
from spinegui.train.classifier_train import FoldData
from spinegui.train.planner import PRESETS, Plan, slug
from spinegui.train.splits import ABNORMAL

CHUNK = 64


@dataclass
class Store:
    array: np.ndarray             # (N, S, S) uint16, memory-mapped
    row: dict[str, int]           # item id -> row


def cache_size(size: int) -> int:
    return max(DEFAULT_TRAIN_SIZE, size)


def resize(image01: np.ndarray, size: int) -> np.ndarray:
    """A [0,1] float image to size x size uint16 0..65535 (area when shrinking)."""
    import cv2

    if image01.shape[-1] != size:
        smaller = size < image01.shape[-1]
        image01 = cv2.resize(np.ascontiguousarray(image01, np.float32), (size, size),
                             interpolation=cv2.INTER_AREA if smaller else cv2.INTER_LINEAR)
    return np.clip(np.rint(image01 * 65535.0), 0, 65535).astype(np.uint16)


def _open_store(path: Path, ids: list[str]) -> Store | None:
    side = path.with_suffix(".json")
    try:
        if json.loads(side.read_text(encoding="utf-8")).get("ids") == ids:
            return Store(np.load(path, mmap_mode="r"), {i: n for n, i in enumerate(ids)})
    except (OSError, ValueError):
        pass
    return None


def _write_store(path: Path, ids: list[str], size: int, fill) -> Store:
    """Make a store chunk by chunk (`fill(start, stop) -> uint16 array`) and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint16, shape=(len(ids), size, size))
    for start in range(0, len(ids), CHUNK):
        stop = min(start + CHUNK, len(ids))
        array[start:stop] = fill(start, stop)
    array.flush()
    del array
    os.replace(tmp, path)
    atomic_write_bytes(path.with_suffix(".json"), json.dumps({"ids": ids, "size": size}).encode())
    return Store(np.load(path, mmap_mode="r"), {i: n for n, i in enumerate(ids)})


def real_store(run_dir: Path, cache: ImageCache, ids: list[str], size: int) -> Store:
    path = Path(run_dir) / "data" / f"real-{size}.npy"
    found = _open_store(path, ids)
    if found is not None:
        return found
    src = cache_size(size)

    def fill(start, stop):
        return np.stack([resize(np.asarray(cache.open_train(i, src), np.float32) / 65535.0, size)
                         for i in ids[start:stop]])

    return _write_store(path, ids, size, fill)


def seed_of(seed: int, *parts) -> int:
    return (seed * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**31 - 1)


def synthetic_store(run_dir: Path, plan: Plan, real: Store, size: int, gans: dict, seed: int,
                    device: torch.device, on_the_fly: bool) -> tuple[Store | None, dict, dict]:
    """The plan's synthetic images (pre-generated); images made and seconds spent, per origin
    (both zero when the store was already there)."""
    specs = [s for s in plan.specs if s.origin == "gan" or
             (s.origin == "geometric" and not (on_the_fly and s.fold == "train"))]
    made = {"geometric": sum(s.origin == "geometric" for s in specs), "gan": sum(s.origin == "gan" for s in specs)}
    seconds = {"geometric": 0.0, "gan": 0.0}
    if not specs:
        return None, {}, seconds
    ids = [s.item_id for s in specs]
    path = Path(run_dir) / "data" / f"{plan.key}-{size}.npy"
    found = _open_store(path, ids)
    if found is not None:
        return found, {}, seconds
    t0 = time.perf_counter()
    augmenter = Augmenter(load_preset(PRESETS[plan.strategy])) if plan.strategy in PRESETS else None
    gan_images = {}
    for label, name in enumerate(plan.classes):
        n = sum(1 for s in specs if s.origin == "gan" and s.label == label)
        if n:
            path_, meta = gans[name]
            raw = generate(path_, meta, n, 0, seed_of(seed, plan.key, "gan", name))
            gan_images[label] = iter(raw.astype(np.float32) / (2**BITS - 1))
    seconds["gan"] += time.perf_counter() - t0

    def fill(start, stop):
        chunk = specs[start:stop]
        out = np.empty((len(chunk), size, size), np.uint16)
        geo = [n for n, s in enumerate(chunk) if s.origin == "geometric"]
        t = time.perf_counter()
        if geo:
            rows = [real.row[chunk[n].source_id] for n in geo]
            x = torch.from_numpy(real.array[rows].astype(np.float32) / 65535.0).unsqueeze(1).to(device)
            y = augmenter.batch(x, seed=seed_of(seed, plan.key, "geometric", start), value_range=(0.0, 1.0))
            out[geo] = np.clip(np.rint(y[:, 0].cpu().numpy() * 65535.0), 0, 65535).astype(np.uint16)
        t1 = time.perf_counter()
        for n, s in enumerate(chunk):
            if s.origin == "gan":
                out[n] = resize(next(gan_images[s.label]), size)
        seconds["geometric"] += t1 - t
        seconds["gan"] += time.perf_counter() - t1
        return out

    return _write_store(path, ids, size, fill), made, seconds


def fold_data(plan: Plan, fold: str, real: Store, synth: Store | None, on_the_fly: bool) -> FoldData:
    stores = [real.array] + ([synth.array] if synth is not None else [])
    where, labels, ids, otf = [], [], [], []
    for s in plan.fold(fold):
        live = s.origin == "geometric" and on_the_fly and fold == "train"
        if s.origin == "real" or live:
            where.append((0, real.row[s.source_id]))
        else:
            where.append((1, synth.row[s.item_id]))
        labels.append(s.label)
        ids.append(s.item_id)
        otf.append(live)
    return FoldData(stores, np.array(where, np.int64), labels, ids, otf)


def on_the_fly_augmenter(strategy: str):
    """The per-epoch geometric draw for on-the-fly training, or None."""
    if strategy not in PRESETS:
        return None
    augmenter = Augmenter(load_preset(PRESETS[strategy]))
    return lambda x, seed: augmenter.batch(x, seed=seed, value_range=(0.0, 1.0))


# --- GANs -------------------------------------------------------------------------------------------
class _GanContext:
    """What GanTrainer sees: its own run folder; its events go to the experiment's, marked stage=gan."""

    def __init__(self, ctx, run_dir: Path, protocol: str):
        self.ctx, self.run_dir, self.protocol = ctx, run_dir, protocol

    def emit(self, kind: str, **fields) -> None:
        if kind == E.SAMPLE:
            fields["path"] = str(Path("gan") / self.protocol / fields["path"])
        if kind in (E.PROGRESS, E.SAMPLE, E.LOG, E.EPOCH):   # the GAN's losses stay out of the experiment's
            self.ctx.emit(E.GAN_EPOCH if kind == E.EPOCH else kind, stage="gan", protocol=self.protocol, **fields)

    def log(self, message: str, **fields) -> None:
        self.emit(E.LOG, message=f"GAN ({self.protocol}): {message}", **fields)

    def should_stop(self) -> bool:
        return self.ctx.should_stop()


def gan_images(index, name: str, ids: list[str], size: int, ws) -> tuple[np.ndarray, list[str]]:
    """The class's images among `ids` at the GAN's size ("Abnormal": any lesion, each image once)."""
    allowed = set(ids)
    images, sources = [], []
    for lesion in (LESION_TYPES if name == ABNORMAL else [name]):
        if not any(lesion in index.images[i].labels for i in allowed):
            continue
        data = load_gan_data(index, [lesion], size, workspace=ws, image_ids=allowed, workers=1)
        for image, src in zip(data.images, data.sources):
            if src not in sources:
                images.append(image)
                sources.append(src)
    return np.stack(images), sources


def fit_gans(ctx, cfg: dict, index, ws, protocol: str, ids_by_class: dict[str, list[str]], device,
             ledger, strategies: list[str]) -> dict | None:
    """Train (or, on resume, finish) one GAN per class; {class: (checkpoint, meta)}; None if cancelled."""
    run_dir = Path(ctx.run_dir) / "gan" / protocol
    sub = _GanContext(ctx, run_dir, protocol)
    settings = gan_settings({"arch": cfg["gan_arch"], "size": cfg["gan_size"], "width": cfg["gan_width"],
                             "epochs": cfg["gan_epochs"], "device": cfg["device"], "seed": cfg["seed"],
                             "keep_last": 1})
    out, sources = {}, {}
    for name, ids in ids_by_class.items():
        images, used = gan_images(index, name, ids, settings["size"], ws)
        sources[name] = sorted(used)
        atomic_write_bytes(run_dir / "sources.json", json.dumps(sources, indent=1).encode())
        model = slug(name)
        trainer = GanTrainer(settings, images, np.zeros(len(images), np.int64), [name], model, device, sub)
        if ctx.resume:
            trainer.restore()
        with ledger.stage("gan_train", protocol=protocol, strategies=strategies, gan_class=name) as rec:
            first = trainer.critic_steps
            finished = trainer.epoch >= settings["epochs"] or trainer.train()
            rec["images"] = (trainer.critic_steps - first) * trainer.batch
        if not finished:
            return None
        path = run_dir / "checkpoints" / f"{model}_full.safetensors"
        out[name] = (path, ck.read(path)[1])
        ctx.log(f"GAN ({protocol}) for {name}: {len(images)} training images, {settings['epochs']} epochs")
    return out
