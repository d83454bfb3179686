"""Compute accounting: what each stage of an experiment cost, and per strategy in total.

A stage (GAN training, sample generation, augmentation, classifier training, evaluation, cache)
records wall seconds, device-seconds (on CUDA timed by CUDA events on the device's stream, not the
host clock; on the CPU the wall seconds), process CPU
seconds, images and images/s, peak host memory (getrusage, for the whole process so far) and peak
device memory (CUDA, reset at each stage), and energy where NVML tells (pynvml; left out otherwise).
FLOPs per image come from torch.utils.flop_counter on one forward, and one forward+backward, of a
copy of the model; a GAN's per generated image and per critic / generator step (gan_flops) with the
same counter. A stage tagged with a `seed` belongs to one seed's repeat (--seeds): cost() can take one
seed, and compute.json's per_seed gives each protocol x strategy's seconds per seed with mean and sd.
compute.json names the machine (CPU model, cores, GPU or "none", torch). Records are written as they
come, and kept across a resume.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from spinegui.core.dataset.workspace import atomic_write_bytes

PREP_STAGES = ("gan_train", "generate", "augment")


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class _Energy:
    """NVML's energy counter (millijoules since the driver loaded), when pynvml and a GPU are there."""

    def __init__(self, device: torch.device):
        self.handle = None
        if device.type != "cuda":
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
            self.read()
        except Exception:  # no pynvml, no driver support: energy is simply not reported
            self.handle = None

    def read(self) -> float | None:
        if self.handle is None:
            return None
        try:
            return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1000.0
        except Exception:
            return None


def machine() -> dict:
    """The machine the timings come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": torch.cuda.get_device_name(0)
            if torch.cuda.is_available() else "none", "torch": torch.__version__, "platform": platform.platform()}


class DeviceTimer:
    """Seconds between start and stop on the device: CUDA events on CUDA, the host clock elsewhere."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            self.events[0].record()
        self.t0 = time.perf_counter()

    def stop(self) -> float:
        if self.cuda:
            self.events[1].record()
            self.events[1].synchronize()
            return self.events[0].elapsed_time(self.events[1]) / 1000.0
        return time.perf_counter() - self.t0


class Ledger:
    def __init__(self, device: torch.device, path: Path | None = None, resume: bool = False):
        self.device, self.path = device, path
        self.records: list[dict] = []
        self.gan_flops: dict = {}     # set once the GANs are built (experiment._count_gan_flops)
        self.energy = _Energy(device)
        self.started = time.perf_counter()
        self.previous_wall = 0.0
        if resume and path is not None and path.is_file():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
                self.records = list(old.get("stages", []))
                self.previous_wall = float(old.get("wall_s", 0.0))
            except (OSError, ValueError):
                pass

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, stage: str, images: int = 0, **tags):
        """`with ledger.stage("train", protocol=..., strategy=..., model=...) as rec: rec["images"] = n`."""
        rec = {"stage": stage, **tags, "images": images}
        self._sync()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        e0, t0, c0 = self.energy.read(), time.perf_counter(), time.process_time()
        timer = DeviceTimer(self.device)
        try:
            yield rec
        finally:
            device_s = timer.stop()
            self._sync()
            wall = time.perf_counter() - t0
            rec.update(wall_s=round(wall, 3), device_s=round(device_s, 3), cpu_s=round(time.process_time() - c0, 3),
                       device=str(self.device), peak_rss_bytes=peak_rss_bytes())
            rec["img_s"] = round(rec["images"] / wall, 2) if rec["images"] and wall > 0 else None
            if self.device.type == "cuda":
                rec["peak_device_memory_bytes"] = int(torch.cuda.max_memory_allocated(self.device))
            e1 = self.energy.read()
            if e0 is not None and e1 is not None:
                rec["energy_j"] = round(e1 - e0, 1)
            self.records.append(rec)
            self.save()

    def timer(self) -> DeviceTimer:
        """A device timer for callers that time parts of one loop themselves (then `add`)."""
        return DeviceTimer(self.device)

    def add(self, stage: str, seconds: float, images: int = 0, device_s: float | None = None, **tags) -> None:
        """A stage timed by its caller (parts of one loop: augmentation and GAN sampling)."""
        self.records.append({"stage": stage, **tags, "images": images, "wall_s": round(seconds, 3),
                             "device_s": round(seconds if device_s is None else device_s, 3),
                             "device": str(self.device),
                             "img_s": round(images / seconds, 2) if images and seconds > 0 else None})
        self.save()

    def merge(self, paths) -> None:
        """Take in the records of other ledgers (the parts of a spread experiment), each tagged with
        its part's folder name; merging the same part again replaces its records."""
        for path in paths:
            try:
                records = json.loads(Path(path).read_text(encoding="utf-8")).get("stages", [])
            except (OSError, ValueError):
                continue
            part = Path(path).parent.name
            self.records = [r for r in self.records if r.get("part") != part] + [{**r, "part": part}
                                                                                  for r in records]
        self.save()

    def cost(self, protocol: str, strategy: str, model: str | None = None, seed: int | None = None) -> dict:
        """Seconds a protocol x strategy cost, preparation (GAN, samples, augmentation) and training;
        with `seed`, that seed's stages and the stages every seed shares (GAN training)."""
        out = {"prep_s": 0.0, "train_s": 0.0, "eval_s": 0.0}
        for r in self.records:
            if r.get("protocol") != protocol or strategy not in r.get("strategies", [r.get("strategy")]):
                continue
            if seed is not None and r.get("seed", seed) != seed:
                continue
            if r["stage"] in PREP_STAGES:
                out["prep_s"] += r["wall_s"]
            elif r["stage"] in ("train", "eval") and (model is None or r.get("model") == model):
                out[f"{r['stage']}_s"] += r["wall_s"]
        out["total_s"] = out["prep_s"] + out["train_s"] + out["eval_s"]
        return {k: round(v, 3) for k, v in out.items()}

    def summary(self) -> dict:
        keys = sorted({(r["protocol"], s) for r in self.records if "protocol" in r
                       for s in r.get("strategies", [r.get("strategy")]) if s})
        per = {f"{p}-{s}": self.cost(p, s) for p, s in keys}
        energy = [r["energy_j"] for r in self.records if "energy_j" in r]
        out = {"wall_s": round(self.previous_wall + time.perf_counter() - self.started, 3),
               "device": str(self.device), "machine": machine(), "peak_rss_bytes": peak_rss_bytes(),
               "per_strategy": per, "per_seed": self.per_seed(keys), "stages": self.records}
        if self.device.type == "cuda":
            out["device_name"] = torch.cuda.get_device_name(self.device)
            out["peak_device_memory_bytes"] = max((r.get("peak_device_memory_bytes", 0) for r in self.records),
                                                  default=0)
        if energy:
            out["energy_j"] = round(sum(energy), 1)
        return out

    def per_seed(self, keys) -> dict:
        """{"<protocol>-<strategy>": {"seeds": [...], "total_s": [...], "mean_s", "sd_s"}} for the
        seeds with stages of their own (the shared GAN training counts in each)."""
        seeds = sorted({r["seed"] for r in self.records if "seed" in r})
        out = {}
        for p, s in keys:
            totals = [self.cost(p, s, seed=k)["total_s"] for k in seeds]
            if totals:
                sd = float(np.std(totals, ddof=1)) if len(totals) > 1 else 0.0
                out[f"{p}-{s}"] = {"seeds": seeds, "total_s": totals, "mean_s": round(float(np.mean(totals)), 3),
                                   "sd_s": round(sd, 3)}
        return out

    def save(self) -> None:
        if self.path is not None:
            atomic_write_bytes(self.path, json.dumps(self.summary(), indent=1).encode("utf-8"))


def flops_per_image(model: torch.nn.Module, size: int, device: torch.device) -> dict:
    """FLOPs of one image: inference (forward, eval mode) and training (forward + backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    from spinegui.train.classifier import logits

    probe = copy.deepcopy(model).to(device)
    out = {}
    try:
        probe.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            probe(torch.zeros(1, 1, size, size, device=device))
        out["forward"] = int(counter.get_total_flops())
        probe.train()   # two images: batch norm needs more than one value per channel
        with FlopCounterMode(display=False) as counter:
            main, aux = logits(probe(torch.zeros(2, 1, size, size, device=device)))
            (main.sum() + (aux.sum() if aux is not None else 0)).backward()
        out["train"] = int(counter.get_total_flops()) // 2
    finally:
        del probe
    return out


def gan_flops(arch: str, size: int, width: int, n_critic: int, batch: int, device: torch.device) -> dict:
    """A GAN's FLOPs: one generated image (generator forward), one critic step on `batch` real and
    `batch` generated images (with the gradient penalty's double backward for wgan-gp), one generator
    step, and per training image: (critic step + generator step / n_critic) / batch."""
    from torch.utils.flop_counter import FlopCounterMode

    from spinegui.gan.models import NOISE_DIM, build

    g, d = build(arch, size, width, 1)
    g, d = g.to(device), d.to(device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        g(torch.zeros(1, NOISE_DIM, device=device))
    per_image = int(counter.get_total_flops())
    real = torch.zeros(batch, 1, size, size, device=device)
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            fake = g(torch.zeros(batch, NOISE_DIM, device=device))
        loss = d(fake).mean() - d(real).mean()
        if arch == "wgan-gp":
            # a non-leaf input: the flop counter's hooks refuse autograd.grad with respect to a leaf
            mix = (0.5 * real + 0.5 * fake).requires_grad_(True) * 1.0
            grad, = torch.autograd.grad(d(mix).sum(), mix, create_graph=True)
            loss = loss + ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss.backward()
    critic = int(counter.get_total_flops())
    with FlopCounterMode(display=False) as counter:
        (-d(g(torch.zeros(batch, NOISE_DIM, device=device))).mean()).backward()
    gen = int(counter.get_total_flops())
    return {"generate_per_image": per_image, "critic_step": critic, "generator_step": gen,
            "train_per_image": int((critic + gen / max(n_critic, 1)) / batch)}
