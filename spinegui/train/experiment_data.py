"""The experiment's images: real ones from the workspace cache, geometric copies and GAN samples made
from a fold, all kept as memory-mapped uint16 stores under RUN/data/ (made once, reused on resume).

- real-<S>.npy: every real image of the case (pool and test) at S x S.
- <protocol>-<strategy>-<S>.npy: the plan's synthetic images, pre-generated in the manifest's order
  with seeds derived from (seed, protocol, strategy): the same run makes the same images. With
  on-the-fly augmentation the training fold's geometric copies are left out and drawn per epoch.
  Each geometric copy has a draw of its own (seeded by its item id), checked with the augmentation
  pipeline's box rules (min_visibility, min_box_size): a draw that loses every box of the copy's class
  is drawn again, as augment export does (MAX_DRAWS tries). Repeats (oversample) are rows of the real store.
- real-<S>-via<G>.npy (--symmetric with GAN samples): every real image taken down to the GAN's side
  G and back up to S through the same resize as the GAN samples, so resolution cannot tell a GAN
  sample from a real image (the classifier sees all images at G-pixel detail).
- gan/<protocol>/: one GAN per class that needs samples, trained on that protocol's images of the
  class (safe: the training fold; paper: the whole pool) less the part held out for the quality gate,
  checkpoints and sample grids as any GAN run; sources.json lists the images each GAN saw (the leakage
  audit reads it); gate.json holds each GAN's gate result, gate/<class>.png a grid of its samples.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
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
from spinegui.core.dataset.workspace import atomic_write_bytes, honour_umask
from spinegui.gan import checkpoint as ck
from spinegui.gan.data import load_gan_data
from spinegui.gan.gate import (
    GRID_SAMPLES,
    N_SAMPLES,
    check_class_sizes,
    grid_png,
    holdout_split,
    read_entries,
    score,
    write_entries,
)
from spinegui.gan.sampler import BITS, generate
from spinegui.gan.settings import gan_settings
from spinegui.gan.spec import MAX_EPOCHS
from spinegui.gan.train import GanTrainer
from spinegui.torchkit import distributed as D
from spinegui.train.classifier_train import FoldData
from spinegui.train.experiment_config import gan_budget
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
    # Parts on other nodes may make the same store at once: each its own temp file, the first one kept.
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint16, shape=(len(ids), size, size))
    for start in range(0, len(ids), CHUNK):
        stop = min(start + CHUNK, len(ids))
        array[start:stop] = fill(start, stop)
    array.flush()
    del array
    honour_umask(tmp)
    found = _open_store(path, ids)
    if found is not None:       # another part finished the same store first: keep theirs
        tmp.unlink(missing_ok=True)
        return found
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


def via_gan_size(run_dir: Path, real: Store, size: int, gan_size: int) -> Store:
    """The real store with every image resized to the GAN's side and back (see the module); under
    torchrun made by rank 0, then read by the others."""
    return D.main_first(D.current(), functools.partial(_via_gan_size, run_dir, real, size, gan_size))


def _via_gan_size(run_dir: Path, real: Store, size: int, gan_size: int) -> Store:
    path = Path(run_dir) / "data" / f"real-{size}-via{gan_size}.npy"
    ids = sorted(real.row, key=real.row.get)
    found = _open_store(path, ids)
    if found is not None or size <= gan_size:
        return found or real

    def fill(start, stop):
        small = [resize(real.array[n].astype(np.float32) / 65535.0, gan_size) for n in range(start, stop)]
        return np.stack([resize(x.astype(np.float32) / 65535.0, size) for x in small])

    return _write_store(path, ids, size, fill)


def source_boxes(index, cache: ImageCache, ids, classes: list[str], labels: dict[str, int], size: int) -> dict:
    """image id -> (m, 4) boxes of its class in store pixels (the cache's letterbox, then size/cache size)."""
    out = {}
    src = cache_size(size)
    for image_id in ids:
        name = classes[labels[image_id]]
        geometry = (cache.entries.get(image_id, {}).get("train") or {}).get(str(src))
        rec = index.images.get(image_id)
        if not geometry or rec is None:
            continue
        scale, (ox, oy) = geometry["scale"], geometry["offset"]
        k = size / src
        out[image_id] = np.array([[(b.xmin * scale + ox) * k, (b.ymin * scale + oy) * k, (b.xmax * scale + ox) * k,
                                   (b.ymax * scale + oy) * k] for b in rec.boxes
                                  if b.lesion_type == name or (name == ABNORMAL and b.lesion_type in LESION_TYPES)],
                                 np.float64).reshape(-1, 4)
    return out


def keeps_a_box(augmenter: Augmenter, boxes: np.ndarray, size: int, seed: int) -> bool:
    """Whether the draw of `seed` keeps one of `boxes` under the pipeline's rules (True with none to keep)."""
    from spinegui.augment import params as P
    from spinegui.augment.boxes import transform_boxes
    from spinegui.augment.warp_cpu import upsample_field

    cfg = augmenter.config
    big = boxes[np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= cfg["min_box_size"]]
    if len(big) == 0:    # nothing the rules could keep even unchanged (too small at this size)
        return True
    p = augmenter.draw(1, seed)
    inverse = P.inverse_matrices(p, size, size)[0]
    out_hw = tuple(int(v) for v in P.output_sizes(p, size, size)[0])
    fields_ = P.elastic_fields(p, *out_hw)
    elastic = None if fields_ is None else upsample_field(fields_[0], out_hw)
    res = transform_boxes(big, inverse, (size, size), out_hw, elastic, min_visibility=cfg["min_visibility"],
                          min_size=cfg["min_box_size"])
    return bool(np.any(res.kept))


def geometric_seed(augmenter: Augmenter, boxes: np.ndarray | None, size: int, seed: int, item_id: str
                   ) -> tuple[int, int, bool]:
    """The copy's draw seed, how many draws were refused for losing every box of its class, and
    whether every draw lost them (the last one is used then, and counted as box_lost)."""
    from spinegui.augment.export import MAX_DRAWS

    for attempt in range(MAX_DRAWS):
        s = seed_of(seed, "geometric", item_id, attempt)
        if boxes is None or len(boxes) == 0 or keeps_a_box(augmenter, boxes, size, s):
            return s, attempt, False
    return s, MAX_DRAWS - 1, True


def seed_of(seed: int, *parts) -> int:
    return (seed * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**31 - 1)


def synthetic_store(run_dir: Path, plan: Plan, real: Store, size: int, gans: dict, seed: int,
                    device: torch.device, on_the_fly: bool, boxes: dict | None = None, tag: str = "",
                    timer=None) -> tuple[Store | None, dict, dict]:
    """The plan's synthetic images (pre-generated); images made and seconds spent, per origin, host
    clock ("geometric", "gan") and device timer ("geometric_device", "gan_device": `timer()` starts
    one, compute.Ledger.timer) (all zero when the store was already there). `boxes`: source id ->
    boxes its copies must keep; `tag`: the store's name suffix (a seed's own store). Under torchrun
    rank 0 makes the store; the other ranks wait, then read it (and count nothing made)."""
    return D.main_first(D.current(), lambda: _synthetic_store(run_dir, plan, real, size, gans, seed, device,
                                                              on_the_fly, boxes, tag, timer))


def _synthetic_store(run_dir: Path, plan: Plan, real: Store, size: int, gans: dict, seed: int,
                     device: torch.device, on_the_fly: bool, boxes: dict | None, tag: str,
                     timer) -> tuple[Store | None, dict, dict]:
    from spinegui.train.compute import DeviceTimer

    timer = timer or (lambda: DeviceTimer(device))
    specs = [s for s in plan.specs if s.origin == "gan" or
             (s.origin == "geometric" and not (on_the_fly and s.fold == "train"))]
    made = {"geometric": sum(s.origin == "geometric" for s in specs), "gan": sum(s.origin == "gan" for s in specs)}
    seconds = {"geometric": 0.0, "gan": 0.0, "geometric_device": 0.0, "gan_device": 0.0}
    if not specs:
        return None, {}, seconds
    ids = [s.item_id for s in specs]
    path = Path(run_dir) / "data" / f"{plan.key}-{size}{tag}.npy"
    found = _open_store(path, ids)
    if found is not None:
        return found, {}, seconds
    t0, d0 = time.perf_counter(), timer()
    augmenter = Augmenter(load_preset(PRESETS[plan.strategy])) if plan.strategy in PRESETS else None
    gan_images = {}
    for label, name in enumerate(plan.classes):
        n = sum(1 for s in specs if s.origin == "gan" and s.label == label)
        if n:
            path_, meta = gans[name]
            raw = generate(path_, meta, n, 0, seed_of(seed, plan.key, "gan", name), device=device)
            gan_images[label] = iter(raw.astype(np.float32) / (2**BITS - 1))
    seconds["gan"] += time.perf_counter() - t0
    seconds["gan_device"] += d0.stop()

    def fill(start, stop):
        chunk = specs[start:stop]
        out = np.empty((len(chunk), size, size), np.uint16)
        geo = [n for n, s in enumerate(chunk) if s.origin == "geometric"]
        t, d = time.perf_counter(), timer()
        if geo:
            rows = [real.row[chunk[n].source_id] for n in geo]
            x = torch.from_numpy(real.array[rows].astype(np.float32) / 65535.0).unsqueeze(1).to(device)
            ys = []
            for j, n in enumerate(geo):   # a draw per copy: one that loses its class's boxes is redrawn
                s, tries, lost = geometric_seed(augmenter, (boxes or {}).get(chunk[n].source_id), size,
                                                seed_of(seed, plan.key), chunk[n].item_id)
                made["redraws"] = made.get("redraws", 0) + tries
                made["box_lost"] = made.get("box_lost", 0) + lost
                ys.append(augmenter.batch(x[j:j + 1], seed=s, value_range=(0.0, 1.0)))
            y = torch.cat(ys)
            out[geo] = np.clip(np.rint(y[:, 0].cpu().numpy() * 65535.0), 0, 65535).astype(np.uint16)
        t1 = time.perf_counter()
        seconds["geometric_device"] += d.stop()
        d = timer()
        for n, s in enumerate(chunk):
            if s.origin == "gan":
                out[n] = resize(next(gan_images[s.label]), size)
        seconds["geometric"] += t1 - t
        seconds["gan"] += time.perf_counter() - t1
        seconds["gan_device"] += d.stop()
        return out

    return _write_store(path, ids, size, fill), made, seconds


def fold_data(plan: Plan, fold: str, real: Store, synth: Store | None, on_the_fly: bool) -> FoldData:
    stores = [real.array] + ([synth.array] if synth is not None else [])
    where, labels, ids, otf = [], [], [], []
    for s in plan.fold(fold):
        live = s.origin == "geometric" and on_the_fly and fold == "train"
        if s.origin in ("real", "oversample") or live:
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


def _gan_settings(cfg: dict, device) -> dict:
    """The experiment's GAN: its architecture, the budget for the device; wgan-gp with the GAN tab's best
    CPU recipe (README, "GAN synthesis"), the others with their published optimiser settings."""
    recipe = {"n_critic": 2, "lr_g": 2e-4, "lr_d": 2e-4} if cfg["gan_arch"] == "wgan-gp" else {}
    return gan_settings({"arch": cfg["gan_arch"], "size": cfg["gan_size"], "width": cfg["gan_width"],
                         "epochs": cfg["gan_epochs"] or MAX_EPOCHS, "batch": 8, "ema": 0.999,
                         **gan_budget(cfg, torch.device(device).type), **recipe,
                         "device": cfg["device"], "seed": cfg["seed"], "keep_last": 1})


def gans_finished(run_dir: Path, protocol: str, classes) -> bool:
    """Every class's GAN of the protocol trained and scored (its gate entry written)."""
    return set(classes) <= set(read_entries(Path(run_dir) / "gan" / protocol))


def fit_gans(ctx, cfg: dict, index, ws, protocol: str, ids_by_class: dict[str, list[str]], device,
             ledger, strategies: list[str]) -> dict | None:
    """Train (or, on resume, finish) one GAN per class, then score it (the quality gate, unless off) on
    images of the class held out from its training; {class: (checkpoint, meta)}; None if cancelled.
    Each GAN's entry (results.json "gans") goes to gan/<protocol>/gate.json. Under torchrun every rank
    trains each GAN (GanTrainer's DDP); rank 0 alone fills the cache, writes and scores the GANs."""
    run_dir = Path(cfg.get("experiment_dir") or ctx.run_dir) / "gan" / protocol   # a part: the experiment's
    dist = D.current()
    sub = _GanContext(ctx, run_dir, protocol)
    settings = _gan_settings(cfg, device)
    gated = cfg.get("gan_gate", "on") == "on"
    if gated:
        check_class_sizes({name: len(ids) for name, ids in ids_by_class.items()}, protocol)
    else:
        ctx.log(f"GAN ({protocol}): quality gate off: the samples are not checked")
    out, sources, entries = {}, {}, read_entries(run_dir)
    for name, ids in ids_by_class.items():
        split_seed = seed_of(cfg["seed"], protocol, "holdout", name)
        train_ids, held_ids = holdout_split(ids, split_seed) if gated else (ids, [])
        images, used = D.main_first(dist, functools.partial(gan_images, index, name, train_ids, settings["size"], ws))
        sources[name] = sorted(used)
        if dist.is_main:
            atomic_write_bytes(run_dir / "sources.json", json.dumps(sources, indent=1).encode())
        model = slug(name)
        trainer = GanTrainer(settings, images, np.zeros(len(images), np.int64), [name], model, device, sub, dist)
        if ctx.resume or cfg.get("part"):   # a part (and "finish") reads the GAN its GAN part trained
            trainer.restore()
        finished = trainer.done
        if not finished:
            with ledger.stage("gan_train", protocol=protocol, strategies=strategies, gan_class=name) as rec:
                first = trainer.critic_steps
                finished = trainer.train()
                rec["images"] = (trainer.critic_steps - first) * trainer.batch
        if not finished:
            return None
        D.barrier(dist)   # rank 0's checkpoint is on disk (train() waited for its writer)
        path = run_dir / "checkpoints" / f"{model}_full.safetensors"
        out[name] = (path, ck.read(path)[1])
        if not dist.is_main:
            continue
        ctx.log(f"GAN ({protocol}) for {name}: {len(images)} training images, {trainer.g_steps} generator steps "
                f"in {trainer.seconds / 60:.1f} min")
        if name not in entries:
            gate = _score_gan(ctx, cfg, index, ws, out[name], images, (name, held_ids), settings["size"]) \
                if gated else {"gate": "off", "reasons": []}
            entries[name] = {"protocol": protocol, "class": name, "steps": trainer.g_steps,
                             "seconds": round(trainer.seconds, 1), **_grid(run_dir, protocol, model, out[name], cfg),
                             **gate}
            write_entries(run_dir, entries)
        _say_gate(ctx, entries[name], strategies)
    return out


def _score_gan(ctx, cfg, index, ws, gan, train_images, held, size) -> dict:
    """The gate of one GAN: N_SAMPLES samples against the held-out real images of its class."""
    from spinegui.gan.quality import feature_network

    name, held_ids = held
    held_images, _ = gan_images(index, name, held_ids, size, ws)
    net = feature_network(index, ws, size, False, None)   # trained once per workspace, then cached
    samples = generate(gan[0], gan[1], N_SAMPLES, 0, seed_of(cfg["seed"], "gate", name)) / (2**BITS - 1)
    return score(samples, train_images / 65535.0, held_images / 65535.0, net.features, seed=cfg["seed"])


def _grid(run_dir: Path, protocol: str, model: str, gan, cfg) -> dict:
    rel = Path("gan") / protocol / "gate" / f"{model}.png"
    samples = generate(gan[0], gan[1], GRID_SAMPLES, 0, seed_of(cfg["seed"], "grid", model)) / (2**BITS - 1)
    grid_png(samples, run_dir.parent.parent / rel)
    return {"samples": rel.as_posix()}


def _say_gate(ctx, entry: dict, strategies: list[str]) -> None:
    where = f"GAN ({entry['protocol']}) for {entry['class']}"
    if entry["gate"] == "fail":
        ctx.log(f"{where} FAILED the quality gate ({'; '.join(entry['reasons'])}); the rows of "
                f"{', '.join(strategies)} that use it are marked gate: fail and not summarised as results")
    elif entry["gate"] == "pass":
        ctx.log(f"{where} passed the quality gate (KID {entry['kid']} vs real-vs-real {entry['kid_real_ref']})")
