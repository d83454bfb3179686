"""The GAN training loop (WGAN-GP, WGAN with clipping, DCGAN), resumable to the exact trajectory.

Every random draw comes from generators whose state is in the checkpoint, and the data order of an
epoch is a function of (seed, epoch): a run cancelled mid-epoch and resumed gives the same losses
as one never interrupted (on the CPU; GPUs add their own non-determinism).
One "image" in img/s is one real image through a critic step. Samples come from a moving average
of the generator's weights (setting ``ema``): on the demo set it gives smoother samples with less
step-to-step noise than the last generator, at the cost of one foreach-lerp per generator step.

On CUDA (single process) each critic and generator step is captured once as a CUDA graph and
replayed (step_graph.py); losses stay on the device and are read in batches, a few times a second,
so that no step waits for the host (the graphs are opt-in, setting cuda_graphs). An epoch of a small
class takes milliseconds there, less than writing a checkpoint, so each epoch's generator is kept in
a ring on the device (the last ``keep_last``, for harvesting) and the checkpoint files are written
by a background thread every CHECKPOINT_SECONDS, at the end and on cancel. On the CPU and under DDP
every epoch is written.

A budget (settings ``steps``: generator steps, ``minutes``: training time, 0: none) ends a run early,
whichever comes first, at a generator step: the epoch is closed there and written with a sample grid;
``done`` then holds. Training time is summed over resumes (in the checkpoint), so a resumed run spends
what was left of it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spinegui.core import run_events as E
from spinegui.gan import checkpoint as ck
from spinegui.gan.diffaugment import diff_augment
from spinegui.gan.models import NOISE_DIM, build
from spinegui.gan.step_graph import StepGraph, graphs_supported
from spinegui.torchkit import distributed as D
from spinegui.torchkit.ckpt_writer import CheckpointWriter, host_copy

GRID = 8     # the sample grid is GRID x GRID images from fixed noise
LOG_ROWS = 256      # steps whose losses wait on the device before one read
FLUSH_SECONDS = 0.25
CHECKPOINT_SECONDS = 2.0


class Diverged(RuntimeError):
    """A loss went NaN or infinite; the job fails with this message and keeps its last checkpoint."""


class GanTrainer:
    def __init__(self, settings: dict, images: np.ndarray, labels: np.ndarray, classes: list[str],
                 model: str, device: torch.device, ctx, dist: D.Dist | None = None):
        self.s, self.ctx, self.device, self.model = settings, ctx, device, model
        self.dist = dist or D.Dist()
        self.classes = classes
        self.n_classes = len(classes) if settings["conditional"] else 1
        self.n = len(images)
        self.batch = min(settings["batch"], self.n)
        if self.batch < settings["batch"]:
            ctx.log(f"batch clamped to {self.batch}: the class has only {self.n} images", model=model)
        self.local_batch = max(1, self.batch // self.dist.world)
        x = torch.from_numpy(images.astype(np.float32) / 32767.5 - 1.0).unsqueeze(1)
        self.x = x.to(device)
        self.y = torch.from_numpy(labels if self.n_classes > 1 else np.zeros_like(labels)).to(device)
        seed = settings["seed"]
        torch.manual_seed(seed)
        g, d = build(settings["arch"], settings["size"], settings["width"], self.n_classes)
        cuda = device.type == "cuda"
        self.graphed = settings["cuda_graphs"] and graphs_supported(device) and not self.dist.active
        # No channels_last: with one input channel it gains nothing, and fused Adam needs the
        # optimiser state in the parameters' own layout after a resume.
        self.G = D.wrap(g.to(device), self.dist, device)
        self.D = D.wrap(d.to(device), self.dist, device)
        if settings["arch"] == "wgan":
            kw = {"capturable": True} if self.graphed else {}
            self.opt_g = torch.optim.RMSprop(self.G.parameters(), lr=settings["lr_g"], **kw)
            self.opt_d = torch.optim.RMSprop(self.D.parameters(), lr=settings["lr_d"], **kw)
        else:
            betas = (settings["beta1"], settings["beta2"])
            kw = {"fused": cuda or None, "capturable": self.graphed}
            self.opt_g = torch.optim.Adam(self.G.parameters(), lr=settings["lr_g"], betas=betas, **kw)
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=settings["lr_d"], betas=betas, **kw)
        # no autocast weight cache: cached casts would outlive a graph capture (CUDA graphs guide)
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False) if cuda
                         else torch.autocast("cpu", enabled=False))
        # Draws come from generators on the training device (no host-device copy, no sync per step).
        self.noise = torch.Generator(device=device).manual_seed(seed * 7 + 1 + 7919 * self.dist.rank)
        self.aug_gen = torch.Generator(device=device).manual_seed(seed * 7 + 2 + 7919 * self.dist.rank)
        fixed = torch.Generator().manual_seed(seed * 7 + 3)
        self.fixed_z = torch.randn(GRID * GRID, NOISE_DIM, generator=fixed).to(device)
        self.fixed_y = (torch.arange(GRID * GRID) // GRID % self.n_classes).to(device)
        self.epoch, self.step_in_epoch, self.critic_steps, self.g_steps = 0, 0, 0, 0
        self.budget_spent, self.seconds_before = False, 0.0   # training seconds of earlier sessions
        self._session_start = time.perf_counter()
        self.sums = {"critic": 0.0, "generator": 0.0, "wasserstein": 0.0, "n_d": 0, "n_g": 0}
        self.ckpt_dir = Path(ctx.run_dir) / "checkpoints"
        self.writer = CheckpointWriter()
        critic = lambda idx: self.critic_step(self.x[idx], self.y[idx])  # noqa: E731
        self.critic_update, self.generator_update = critic, self.generator_step
        if self.graphed:
            gens = [self.noise, self.aug_gen]
            self.critic_update = StepGraph(critic, gens, before_capture=self.writer.drain,
                                           on_fail=self._graphs_failed)
            self.generator_update = StepGraph(self.generator_step, gens, before_capture=self.writer.drain,
                                              on_fail=self._graphs_failed)
        self._eager_critic = critic
        # The moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019):
        # samples, sample grids and snapshots come from it; it trains nothing.
        self.G_avg = (copy.deepcopy(D.unwrap(self.G)).eval().requires_grad_(False)
                      if settings.get("ema", 0) > 0 else None)
        self.lazy_checkpoints = cuda and not self.dist.active
        self.read_every_step = not cuda   # a read costs nothing on the CPU; on a GPU it is a sync
        self._ring: dict[int, list[torch.Tensor]] = {}   # epoch -> the generator's tensors, on the device
        self._ended: list[dict] = []     # epochs ended whose losses are not read yet
        self._last_checkpoint = time.perf_counter()
        # losses of steps not yet read: (critic loss, Wasserstein estimate, generator loss or NaN)
        self._log = torch.full((LOG_ROWS, 3), float("nan"), device=device)
        self._log_meta: list[tuple[int, bool, int]] = []   # (critic step, generator stepped, epoch) per row
        self._last_flush = time.perf_counter()
        self._last_g = float("nan")

    # --- budget ------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.budget_spent or self.epoch >= self.s["epochs"]

    @property
    def seconds(self) -> float:
        """Training time of this run, earlier sessions included."""
        return self.seconds_before + time.perf_counter() - self._session_start

    def _budget_reached(self) -> bool:
        steps, minutes = self.s.get("steps") or 0, self.s.get("minutes") or 0
        reached = bool((steps and self.g_steps >= steps) or (minutes and self.seconds >= 60 * minutes))
        # every rank must agree (a clock differs between processes)
        return D.any_rank(reached, self.dist, self.device) if self.dist.active else reached

    def _total_steps(self) -> int:
        """Critic steps to the end, as far as known: a step budget, else a time budget extrapolated from
        the rate so far (so that a progress bar's end is minutes away, not the epoch cap), else the epochs."""
        by_epochs = self.s["epochs"] * self.steps_per_epoch
        steps, minutes = self.s.get("steps") or 0, self.s.get("minutes") or 0
        total = min(by_epochs, steps * self.s["n_critic"]) if steps else by_epochs
        if minutes and self.critic_steps and self.seconds > 1:
            by_time = int(self.critic_steps * 60 * minutes / self.seconds)
            total = min(total, max(by_time, self.critic_steps))
        return total

    # --- data and noise --------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch)

    def _order(self, epoch: int) -> torch.Tensor:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.s["seed"] * 100003 + epoch))
        # wrap round: every batch is full; non_blocking: no wait for the steps already queued
        return torch.cat([order, order[: self.batch]]).to(self.device, non_blocking=True)

    def _batch_indices(self, order: torch.Tensor, step: int) -> torch.Tensor:
        start = step * self.batch + self.dist.rank * self.local_batch
        return order[start: start + self.local_batch]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, NOISE_DIM, generator=self.noise, device=self.device)

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.aug_gen) if self.s["diffaugment"] else x

    def _graphs_failed(self, why: str, states: list[torch.Tensor]) -> None:
        """A capture failed: go on eagerly, with fresh generators at the states before the capture
        (a generator registered with a failed capture cannot be used again)."""
        self.ctx.log(f"{self.model}: {why}", model=self.model)
        self.noise = torch.Generator(device=self.device)
        self.noise.set_state(states[0])
        self.aug_gen = torch.Generator(device=self.device)
        self.aug_gen.set_state(states[1])
        self.graphed = False
        self.critic_update, self.generator_update = self._eager_critic, self.generator_step

    # --- steps -------------------------------------------------------------------------------------
    def critic_step(self, real: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One critic update; returns (loss, Wasserstein estimate) on the device, without a sync."""
        arch, n = self.s["arch"], len(real)
        with torch.no_grad(), self.autocast:
            fake = self.G(self._z(n), y).float()
        with self.autocast:
            real, fake = self._aug(real), self._aug(fake)
            if arch == "wgan-gp":
                # the penalty is taken between the images the critic actually sees (augmented ones)
                eps = torch.rand(n, 1, 1, 1, generator=self.noise, device=self.device)
                mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
                out = self.D(torch.cat([real, fake, mix]), torch.cat([y, y, y])).float()
                d_real, d_fake, d_mix = out.split(n)
                (grad,) = torch.autograd.grad(d_mix.sum(), mix, create_graph=True)
                penalty = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
                loss = d_fake.mean() - d_real.mean() + self.s["gp_weight"] * penalty
            elif arch == "dcgan" and not self.dist.active:
                # batch norm sees real and fake batches apart, as in DCGAN (under DDP one call
                # per backward is required, so there they share a batch)
                d_real, d_fake = self.D(real, y).float(), self.D(fake, y).float()
            else:
                out = self.D(torch.cat([real, fake]), torch.cat([y, y])).float()
                d_real, d_fake = out.split(n)
            if arch == "wgan":
                loss = d_fake.mean() - d_real.mean()
            elif arch == "dcgan":
                loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if arch == "wgan":
            with torch.no_grad():
                params = list(self.D.parameters())
                torch._foreach_clamp_min_(params, -self.s["clip"])
                torch._foreach_clamp_max_(params, self.s["clip"])
        return torch.stack([loss.detach(), (d_real.mean() - d_fake.mean()).detach()]).float()

    def generator_step(self, y: torch.Tensor) -> torch.Tensor:
        """One generator update; returns its loss as a one-element tensor on the device."""
        with self.autocast:
            out = self.D(self._aug(self.G(self._z(len(y)), y).float()), y).float()
            if self.s["arch"] == "dcgan":
                loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            else:
                loss = -out.mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.G.parameters()))   # no critic gradients: they are not used
        self.opt_g.step()
        return loss.detach().float().reshape(1)

    # --- the loop ----------------------------------------------------------------------------------
    def train(self) -> bool:
        """Train to the last epoch; False when stopped (a checkpoint was written first)."""
        # whatever ends training (the end, a cancel, Diverged, out of memory), the checkpoints
        # already handed over reach the disk before the job process ends
        try:
            finished = self._train()
        except BaseException:
            with contextlib.suppress(Exception):   # the first error is the one to report
                self.writer.close()
            raise
        self.writer.close()
        return finished

    def _train(self) -> bool:
        n_critic = self.s["n_critic"]
        self._session_start = time.perf_counter()
        while not self.done:
            order = self._order(self.epoch)
            started, images = time.perf_counter(), 0
            while self.step_in_epoch < self.steps_per_epoch:
                if D.any_rank(self.ctx.should_stop(), self.dist, self.device):
                    self._checkpoint(started, images)
                    return False
                idx = self._batch_indices(order, self.step_in_epoch)
                self._log[len(self._log_meta), :2].copy_(self.critic_update(idx))
                self.critic_steps += 1
                self.step_in_epoch += 1
                images += self.batch
                stepped_g = self.critic_steps % n_critic == 0
                if stepped_g:
                    self._log[len(self._log_meta), 2:].copy_(self.generator_update(self.y[idx]))
                    self.g_steps += 1
                    self._update_average()
                self._log_meta.append((self.critic_steps, stepped_g, self.epoch))
                # under DDP every rank must read at the same step (the check is collective)
                due = (len(self._log_meta) == LOG_ROWS or self.read_every_step
                       or (not self.dist.active and time.perf_counter() - self._last_flush > FLUSH_SECONDS))
                if due:
                    self._flush(started, images)
                if stepped_g and self._budget_reached():
                    self.budget_spent = True
                    break
            self._end_epoch(started, images)
        if self.dist.is_main:
            self._report_average()
        return True

    def _report_average(self) -> None:
        """The finished model's last progress: its speed over all of its training, earlier sessions
        included (images / training seconds), not the last window's rate; its step is its last."""
        # the seconds of the final checkpoint (same steps): what a reader of the checkpoint computes too
        seconds = getattr(self, "_saved_seconds", None) or self.seconds
        rate = self.critic_steps * self.batch / max(seconds, 1e-9)
        self.ctx.emit(E.PROGRESS, model=self.model, epoch=max(1, min(self.epoch, self.s["epochs"])),
                      epochs=self.s["epochs"], step=self.critic_steps, total=self.critic_steps,
                      img_s=round(rate, 1), **_memory(self.device))

    def _flush(self, started: float, images: int) -> None:
        """Read the losses of the steps since the last read (one sync), add them to the epoch's sums,
        stop at the first non-finite one, and report."""
        rows = self._log[: len(self._log_meta)].tolist() if self._log_meta else []
        meta, self._log_meta = self._log_meta, []
        self._last_flush = time.perf_counter()
        bad_step = None
        for (loss_d, w, loss_g), (step, stepped_g, epoch) in zip(rows, meta):
            while self._ended and self._ended[0]["epoch"] < epoch:   # a row of a later epoch: close the earlier
                self._close_epoch(self._ended.pop(0))
            if not math.isfinite(loss_d) or (stepped_g and not math.isfinite(loss_g)):
                bad_step, bad = step, (loss_d, loss_g)
                break
            if stepped_g:
                self._last_g = loss_g
                self.sums["generator"] += loss_g
                self.sums["n_g"] += 1
            self.sums["critic"] += loss_d
            self.sums["wasserstein"] += w
            self.sums["n_d"] += 1
            if self.dist.is_main:
                self.ctx.emit(E.LOSS, model=self.model, step=step, critic=loss_d,
                              generator=None if math.isnan(self._last_g) else self._last_g, wasserstein=w)
        if rows:
            self._log[:, 2].fill_(float("nan"))   # rows without a generator step read NaN there
        if D.any_rank(bad_step is not None, self.dist, self.device):   # every rank stops together
            where = f"step {bad_step} (critic loss {bad[0]}, generator loss {bad[1]})" if bad_step else "another rank"
            raise Diverged(f"diverged at {where}; the last good checkpoint is kept")
        while self._ended:
            self._close_epoch(self._ended.pop(0))
        if rows and self.dist.is_main:
            total = self._total_steps()
            rate = images / max(time.perf_counter() - started, 1e-9)
            self.ctx.emit(E.PROGRESS, model=self.model, epoch=min(self.epoch + 1, self.s["epochs"]),
                          epochs=self.s["epochs"], step=min(self.critic_steps, total), total=total,
                          img_s=round(rate, 1), **_memory(self.device))

    def _end_epoch(self, started: float, images: int) -> None:
        seconds = time.perf_counter() - started
        self.epoch += 1
        self.step_in_epoch = 0
        # epoch numbers in self._ended are 0-based like the rows' (the epoch that just ran)
        self._ended.append({"epoch": self.epoch - 1, "seconds": seconds, "images": images,
                            "spread": D.weight_spread([self.G, self.D], self.dist)})
        every = self.s["sample_every"] or max(1, self.s["epochs"] // 20)
        sample = self.epoch % every == 0 or self.done
        if self.lazy_checkpoints:
            self._keep_generator(self.epoch)
            due = time.perf_counter() - self._last_checkpoint > CHECKPOINT_SECONDS
            if due or sample:
                self._checkpoint(started, images, sample=sample)
        else:
            self._checkpoint(started, images, sample=sample)

    def _close_epoch(self, ended: dict) -> None:
        """The epoch's losses are all read: report its means and start the next epoch's sums."""
        sums = self.sums
        means = {k: sums[k] / max(sums["n_d"], 1) for k in ("critic", "wasserstein")}
        means["generator"] = sums["generator"] / sums["n_g"] if sums["n_g"] else None
        self.sums = {"critic": 0.0, "generator": 0.0, "wasserstein": 0.0, "n_d": 0, "n_g": 0}
        if self.dist.is_main:
            seconds, images = ended["seconds"], ended["images"]
            self.ctx.emit(E.EPOCH, model=self.model, epoch=ended["epoch"] + 1, seconds=round(seconds, 3),
                          img_s=round(images / max(seconds, 1e-9), 1), **means,
                          **({"rank_weight_spread": ended["spread"]} if self.dist.active else {}))

    def _update_average(self) -> None:
        """Move the average toward the generator (no sync; a Python-float decay, warmed up so that the
        first, poor generators fade fast)."""
        if self.G_avg is None:
            return
        decay = min(self.s["ema"], (1 + self.g_steps) / (10 + self.g_steps))
        g = D.unwrap(self.G)
        with torch.no_grad():
            torch._foreach_lerp_(list(self.G_avg.parameters()), list(g.parameters()), 1.0 - decay)
            torch._foreach_copy_(list(self.G_avg.buffers()), list(g.buffers()))   # batch-norm statistics

    def sampler(self) -> torch.nn.Module:
        """The generator that samples are drawn from: the average when there is one."""
        return self.G_avg if self.G_avg is not None else D.unwrap(self.G)

    def _keep_generator(self, epoch: int) -> None:
        """This epoch's generator into the ring on the device (one copy kernel per tensor, no sync)."""
        tensors = list(self.sampler().state_dict().values())
        slot = self._ring.pop(min(self._ring), None) if len(self._ring) >= self.s["keep_last"] else None
        slot = slot or [t.detach().clone() for t in tensors]
        torch._foreach_copy_(slot, tensors)
        self._ring[epoch] = slot

    def _checkpoint(self, started: float, images: int, sample: bool = False) -> None:
        """Read the pending losses (stopping if one is not finite), then hand the full checkpoint and
        the generator snapshots to the writer; the sample grid when one is due."""
        self._flush(started, images)
        self._last_checkpoint = time.perf_counter()
        if not self.dist.is_main:
            return
        if sample:
            self.ctx.emit(E.SAMPLE, model=self.model, epoch=self.epoch, path=self.sample_grid())
        self.save()
        names = [f"G.{k}" for k in self.sampler().state_dict()]
        ring = self._ring or ({self.epoch: list(self.sampler().state_dict().values())}
                              if self.step_in_epoch == 0 and self.epoch > 0 else {})
        copies = {epoch: host_copy(dict(zip(names, tensors))) for epoch, tensors in sorted(ring.items())}
        if not copies:
            return
        ready = list(copies.values())[-1][1]
        meta, keep, ckpt_dir, model = self._meta(), self.s["keep_last"], self.ckpt_dir, self.model

        def write():   # captures no self: the writer must not keep the trainer (and its GPU memory) alive
            for epoch, (tensors, _) in copies.items():
                if not ck.snapshot_path(ckpt_dir, model, epoch).exists():
                    ck.save_snapshot(ckpt_dir, model, epoch, tensors, meta | {"epoch": epoch}, keep)

        # the ring's write holds every kept epoch, so a newer one may replace it; a per-epoch write
        # holds one epoch and must not be replaced
        self.writer.submit(write, ready, key="snapshots" if self.lazy_checkpoints else None)

    # --- outputs -----------------------------------------------------------------------------------
    def sample_grid(self) -> str:
        from PIL import Image

        g = self.sampler()
        was_training = g.training
        g.eval()
        with torch.no_grad():
            imgs = g(self.fixed_z, self.fixed_y).float().cpu()[:, 0]
        g.train(was_training)
        size = imgs.shape[-1]
        tiles = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
        grid = tiles.reshape(GRID, GRID, size, size).transpose(0, 2, 1, 3).reshape(GRID * size, GRID * size)
        rel = f"samples/{self.model}_epoch_{self.epoch:05d}.png"
        path = Path(self.ctx.run_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        Image.fromarray(grid).save(tmp, format="PNG", compress_level=1)  # quick to write
        tmp.replace(path)
        return rel

    def _meta(self) -> dict:
        return {"arch": self.s["arch"], "size": self.s["size"], "width": self.s["width"], "ema": self.s.get("ema", 0),
                "n_classes": self.n_classes, "classes": self.classes, "model": self.model,
                "seed": self.s["seed"], "epoch": self.epoch, "device_type": self.device.type}

    def save(self) -> None:
        if not self.dist.is_main:
            return
        tensors = {f"G.{k}": v for k, v in D.unwrap(self.G).state_dict().items()}
        tensors |= {f"D.{k}": v for k, v in D.unwrap(self.D).state_dict().items()}
        if self.G_avg is not None:
            tensors |= {f"E.{k}": v for k, v in self.G_avg.state_dict().items()}
        tensors |= ck.optimizer_tensors("optG", self.opt_g) | ck.optimizer_tensors("optD", self.opt_d)
        tensors |= {"rng.noise": self.noise.get_state(), "rng.aug": self.aug_gen.get_state()}
        meta = self._meta() | {"step_in_epoch": self.step_in_epoch, "critic_steps": self.critic_steps,
                               "g_steps": self.g_steps, "sums": dict(self.sums), "done": self.done,
                               "budget_spent": self.budget_spent, "seconds": round(self.seconds, 3)}
        self._saved_seconds = meta["seconds"]   # the final average uses these, as the checkpoint says
        tensors, ready = host_copy(tensors)
        ckpt_dir, model = self.ckpt_dir, self.model
        self.writer.submit(lambda: ck.save_full(ckpt_dir, model, tensors, meta), ready, key="full")

    def restore(self) -> bool:
        """Load this model's full checkpoint when there is one; True when loaded."""
        path = self.ckpt_dir / f"{self.model}_full.safetensors"
        if not path.exists():
            return False
        tensors, meta = ck.read(path)
        ck.check_matches(path, meta, self.s, self.n_classes)
        ck.load_module(D.unwrap(self.G), tensors, "G", path)
        ck.load_module(D.unwrap(self.D), tensors, "D", path)
        if self.G_avg is not None:   # a checkpoint without an average (ema was 0) starts it from G
            has_avg = any(k.startswith("E.") for k in tensors)
            ck.load_module(self.G_avg, tensors, "E" if has_avg else "G", path)
        ck.load_optimizer("optG", self.opt_g, tensors)
        ck.load_optimizer("optD", self.opt_d, tensors)
        # Exact only for rank 0 on the same kind of device: other ranks, or a run moved between CPU and
        # GPU, continue from their seeded streams (the weights and optimiser state are exact).
        if self.dist.is_main and meta.get("device_type", "cpu") == self.device.type:
            self.noise.set_state(tensors["rng.noise"])
            self.aug_gen.set_state(tensors["rng.aug"])
        elif self.dist.is_main:
            self.ctx.log(f"{self.model}: checkpoint from a {meta.get('device_type')} run resumed on "
                         f"{self.device.type}; random streams restart, so the trajectory is not identical")
        self.epoch, self.step_in_epoch = meta["epoch"], meta["step_in_epoch"]
        self.critic_steps, self.g_steps, self.sums = meta["critic_steps"], meta["g_steps"], meta["sums"]
        self.budget_spent = bool(meta.get("budget_spent", False))
        seconds = meta.get("seconds", 0.0)
        self.seconds_before = float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else 0.0
        return True


def _memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {"gpu_mem_mb": round(torch.cuda.max_memory_allocated(device) / 2**20)}
    import resource
    return {"rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
