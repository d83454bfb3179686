"""The "gan" job: read the class images from the cache and train one model per class (as the
preprint) or one class-conditional model, writing checkpoints, sample grids and compute.json."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from spinegui.core.dataset.vindr import load_index
from spinegui.core.dataset.workspace import Workspace, atomic_write_bytes
from spinegui.gan.checkpoint import model_slug
from spinegui.gan.data import load_gan_data
from spinegui.gan.settings import gan_settings
from spinegui.gan.train import GanTrainer
from spinegui.torchkit import distributed as D


def pick_device(name: str, dist_local_rank: int = 0) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no CUDA GPU here; use --device cpu or auto")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", dist_local_rank)
    return torch.device("cpu")


def models_of(settings: dict, classes: list[str]) -> list[tuple[str, list[str]]]:
    if settings["conditional"] and len(classes) > 1:
        return [("conditional", classes)]
    return [(model_slug(c), [c]) for c in classes]


def run(ctx) -> None:
    settings = gan_settings(ctx.config)
    if settings["device"] == "cpu" or not torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(settings["device"], local_rank)
    dist = D.setup(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    ctx.set_device(str(device))
    index = load_index(settings["root"])
    ws = Workspace.for_dataset(index.root, settings.get("workspace"))
    classes = list(settings["classes"])
    started = time.perf_counter()
    totals = {"images": 0, "seconds": 0.0}
    try:
        for model, model_classes in models_of(settings, classes):
            # Rank 0 fills the cache; the other ranks wait, then read it (no two writers).
            if not dist.is_main:
                D.barrier(dist)
            try:
                data = load_gan_data(index, model_classes, settings["size"], crops=settings["crops"],
                                     workspace=ws, should_stop=ctx.should_stop)
            finally:
                if dist.is_main:   # even on failure, or the other ranks would wait for ever
                    D.barrier(dist)
            if D.any_rank(ctx.should_stop(), dist, device):
                return
            if dist.is_main:
                ctx.log(f"{model}: {len(data.images)} training images "
                        f"({'lesion crops' if settings['crops'] else 'whole images'}) of "
                        f"{', '.join(model_classes)}", model=model, images=len(data.images))
                for image_id, reason in data.skipped.items():
                    ctx.log(f"skipped {image_id}: {reason}", model=model)
            trainer = GanTrainer(settings, data.images, data.labels, data.classes, model, device, ctx, dist)
            if ctx.resume and trainer.restore() and dist.is_main:
                ctx.log(f"{model}: resumed at epoch {trainer.epoch}, step {trainer.step_in_epoch}", model=model)
            if trainer.epoch >= settings["epochs"]:
                continue
            t = time.perf_counter()
            first_step = trainer.critic_steps
            finished = trainer.train()
            totals["seconds"] += time.perf_counter() - t
            totals["images"] += (trainer.critic_steps - first_step) * trainer.batch
            if not finished:
                return
        if dist.is_main:
            _write_compute(Path(ctx.run_dir), device, started, totals, dist)
        D.barrier(dist)   # leave together: a rank tearing the group down while a peer still works aborts gloo
    finally:
        D.shutdown(dist)


def _write_compute(run_dir: Path, device: torch.device, started: float, totals: dict, dist: D.Dist) -> None:
    info = {"wall_s": round(time.perf_counter() - started, 3), "train_s": round(totals["seconds"], 3),
            "device": str(device), "world_size": dist.world,
            "images_per_s": round(totals["images"] / max(totals["seconds"], 1e-9), 1)}
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["peak_gpu_memory_bytes"] = torch.cuda.max_memory_allocated(device)
    else:
        import resource
        info["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    atomic_write_bytes(run_dir / "compute.json", json.dumps(info, indent=1).encode())
