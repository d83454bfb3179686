"""The GAN training loop (WGAN-GP, WGAN with clipping, DCGAN), resumable to the exact trajectory.

Every random draw comes from generators whose state is in the checkpoint, and the data order of an
epoch is a function of (seed, epoch): a run cancelled mid-epoch and resumed gives the same losses
as one never interrupted (on the CPU; GPUs add their own non-determinism).
One "image" in img/s is one real image through a critic step.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spinegui.augment.gan_models import NOISE_DIM, build
from spinegui.train import distributed as D
from spinegui.augment import gan_checkpoint as ck
from spinegui.train.diffaugment import diff_augment

GRID = 8     # the sample grid is GRID x GRID images from fixed noise


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
        # No channels_last: with one input channel it gains nothing, and fused Adam needs the
        # optimiser state in the parameters' own layout after a resume.
        self.G = D.wrap(g.to(device), self.dist, device)
        self.D = D.wrap(d.to(device), self.dist, device)
        if settings["arch"] == "wgan":
            self.opt_g = torch.optim.RMSprop(self.G.parameters(), lr=settings["lr_g"])
            self.opt_d = torch.optim.RMSprop(self.D.parameters(), lr=settings["lr_d"])
        else:
            betas = (settings["beta1"], settings["beta2"])
            self.opt_g = torch.optim.Adam(self.G.parameters(), lr=settings["lr_g"], betas=betas, fused=cuda or None)
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=settings["lr_d"], betas=betas, fused=cuda or None)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
        # Draws come from generators on the training device (no host-device copy, no sync per step).
        self.noise = torch.Generator(device=device).manual_seed(seed * 7 + 1 + 7919 * self.dist.rank)
        self.aug_gen = torch.Generator(device=device).manual_seed(seed * 7 + 2 + 7919 * self.dist.rank)
        fixed = torch.Generator().manual_seed(seed * 7 + 3)
        self.fixed_z = torch.randn(GRID * GRID, NOISE_DIM, generator=fixed).to(device)
        self.fixed_y = (torch.arange(GRID * GRID) // GRID % self.n_classes).to(device)
        self.epoch, self.step_in_epoch, self.critic_steps, self.g_steps = 0, 0, 0, 0
        self.sums = {"critic": 0.0, "generator": 0.0, "wasserstein": 0.0, "n_d": 0, "n_g": 0}
        self.ckpt_dir = Path(ctx.run_dir) / "checkpoints"

    # --- data and noise --------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch)

    def _order(self, epoch: int) -> torch.Tensor:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.s["seed"] * 100003 + epoch))
        return torch.cat([order, order[: self.batch]]).to(self.device)   # wrap round: every batch is full

    def _real(self, order: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = step * self.batch + self.dist.rank * self.local_batch
        idx = order[start: start + self.local_batch]
        return self.x[idx], self.y[idx]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, NOISE_DIM, generator=self.noise, device=self.device)

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.aug_gen) if self.s["diffaugment"] else x

    # --- steps -------------------------------------------------------------------------------------
    def critic_step(self, real: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
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
                for p in self.D.parameters():
                    p.clamp_(-self.s["clip"], self.s["clip"])
        return float(loss.detach()), float((d_real.mean() - d_fake.mean()).detach())

    def generator_step(self, y: torch.Tensor) -> float:
        with self.autocast:
            out = self.D(self._aug(self.G(self._z(len(y)), y).float()), y).float()
            if self.s["arch"] == "dcgan":
                loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            else:
                loss = -out.mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.G.parameters()))   # no critic gradients: they are not used
        self.opt_g.step()
        return float(loss.detach())

    # --- the loop ----------------------------------------------------------------------------------
    def train(self) -> bool:
        """Train to the last epoch; False when stopped (a checkpoint was written first)."""
        epochs, total = self.s["epochs"], self.s["epochs"] * self.steps_per_epoch
        n_critic = self.s["n_critic"]
        last_g = float("nan")
        while self.epoch < epochs:
            order = self._order(self.epoch)
            started, images = time.perf_counter(), 0
            while self.step_in_epoch < self.steps_per_epoch:
                if D.any_rank(self.ctx.should_stop(), self.dist, self.device):
                    self.save()
                    return False
                real, y = self._real(order, self.step_in_epoch)
                loss_d, w = self.critic_step(real, y)
                self.critic_steps += 1
                self.step_in_epoch += 1
                images += self.batch
                stepped_g = self.critic_steps % n_critic == 0
                if stepped_g:
                    last_g = self.generator_step(y)
                    self.g_steps += 1
                    self.sums["generator"] += last_g
                    self.sums["n_g"] += 1
                bad = not math.isfinite(loss_d) or (stepped_g and not math.isfinite(last_g))
                if D.any_rank(bad, self.dist, self.device):   # every rank stops at the same step
                    raise Diverged(f"diverged at step {self.critic_steps} (critic loss {loss_d}, "
                                      f"generator loss {last_g}); the last good checkpoint is kept")
                self.sums["critic"] += loss_d
                self.sums["wasserstein"] += w
                self.sums["n_d"] += 1
                self._report(loss_d, last_g, w, total, images / max(time.perf_counter() - started, 1e-9))
            self._end_epoch(time.perf_counter() - started, images)
        return True

    def _report(self, loss_d, loss_g, w, total, rate) -> None:
        if not self.dist.is_main:
            return
        self.ctx.emit("loss", model=self.model, step=self.critic_steps, critic=loss_d,
                      generator=None if math.isnan(loss_g) else loss_g, wasserstein=w)
        self.ctx.emit("progress", model=self.model, epoch=self.epoch + 1, epochs=self.s["epochs"],
                      step=self.epoch * self.steps_per_epoch + self.step_in_epoch, total=total,
                      img_s=round(rate, 1), **_memory(self.device))

    def _end_epoch(self, seconds: float, images: int) -> None:
        sums = self.sums
        means = {k: sums[k] / max(sums["n_d"], 1) for k in ("critic", "wasserstein")}
        means["generator"] = sums["generator"] / sums["n_g"] if sums["n_g"] else None
        self.epoch += 1
        self.step_in_epoch = 0
        self.sums = {"critic": 0.0, "generator": 0.0, "wasserstein": 0.0, "n_d": 0, "n_g": 0}
        spread = D.weight_spread([self.G, self.D], self.dist)
        if not self.dist.is_main:
            return
        self.ctx.emit("epoch", model=self.model, epoch=self.epoch, seconds=round(seconds, 3),
                      img_s=round(images / max(seconds, 1e-9), 1), **means,
                      **({"rank_weight_spread": spread} if self.dist.active else {}))
        every = self.s["sample_every"] or max(1, self.s["epochs"] // 20)
        if self.epoch % every == 0 or self.epoch == self.s["epochs"]:
            self.ctx.emit("sample", model=self.model, epoch=self.epoch, path=self.sample_grid())
        self.save()
        ck.save_snapshot(self.ckpt_dir, self.model, self.epoch,
                         {f"G.{k}": v for k, v in D.unwrap(self.G).state_dict().items()},
                         self._meta(), self.s["keep_last"])

    # --- outputs -----------------------------------------------------------------------------------
    def sample_grid(self) -> str:
        from PIL import Image

        g = D.unwrap(self.G)
        g.eval()
        with torch.no_grad():
            imgs = g(self.fixed_z, self.fixed_y).float().cpu()[:, 0]
        g.train()
        size = imgs.shape[-1]
        tiles = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
        grid = tiles.reshape(GRID, GRID, size, size).transpose(0, 2, 1, 3).reshape(GRID * size, GRID * size)
        rel = f"samples/{self.model}_epoch_{self.epoch:05d}.png"
        path = Path(self.ctx.run_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        Image.fromarray(grid).save(tmp, format="PNG")
        tmp.replace(path)
        return rel

    def _meta(self) -> dict:
        return {"arch": self.s["arch"], "size": self.s["size"], "width": self.s["width"],
                "n_classes": self.n_classes, "classes": self.classes, "model": self.model,
                "seed": self.s["seed"], "epoch": self.epoch, "device_type": self.device.type}

    def save(self) -> None:
        if not self.dist.is_main:
            return
        tensors = {f"G.{k}": v for k, v in D.unwrap(self.G).state_dict().items()}
        tensors |= {f"D.{k}": v for k, v in D.unwrap(self.D).state_dict().items()}
        tensors |= ck.optimizer_tensors("optG", self.opt_g) | ck.optimizer_tensors("optD", self.opt_d)
        tensors |= {"rng.noise": self.noise.get_state(), "rng.aug": self.aug_gen.get_state()}
        meta = self._meta() | {"step_in_epoch": self.step_in_epoch, "critic_steps": self.critic_steps,
                               "g_steps": self.g_steps, "sums": self.sums,
                               "done": self.epoch >= self.s["epochs"]}
        ck.save_full(self.ckpt_dir, self.model, tensors, meta)

    def restore(self) -> bool:
        """Load this model's full checkpoint when there is one; True when loaded."""
        path = self.ckpt_dir / f"{self.model}_full.safetensors"
        if not path.exists():
            return False
        tensors, meta = ck.read(path)
        ck.check_matches(path, meta, self.s, self.n_classes)
        ck.load_module(D.unwrap(self.G), tensors, "G", path)
        ck.load_module(D.unwrap(self.D), tensors, "D", path)
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
        return True


def _memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {"gpu_mem_mb": round(torch.cuda.max_memory_allocated(device) / 2**20)}
    import resource
    return {"rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
