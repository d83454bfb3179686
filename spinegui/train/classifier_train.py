"""Training one classifier: AdamW or SGD, cosine learning rate, class-weighted cross-entropy, early
stopping on validation macro-F1, a checkpoint every epoch (and on cancel), exact resume.

Batches are gathered from memory-mapped uint16 stores, sent to the device and augmented there:
items marked on-the-fly get a geometric draw per epoch (the `augment` callable), and `flip` adds
random horizontal flips. bf16 autocast and channels_last on CUDA. The data order of an epoch is a
function of (seed, epoch), so a run resumed mid-epoch sees the batches it would have seen.
On CUDA no step waits for the host: losses and hit counts stay on the device and are read a few
times a second (a non-finite loss is found there and named by its step).

Under torchrun (`dist`) the model is wrapped in DistributedDataParallel: each rank trains on its
shard of the epoch (DistributedSampler, seeded like the single-process order, set_epoch each epoch)
with batch // world images a step (at least 2, for batch norm), so a step still sees `batch` images.
The epoch's sums are summed over the ranks; at the end of an epoch every rank takes rank 0's batch-norm
statistics (the ranks' models are then identical), rank 0 alone scores validation (the others get its
result) and writes checkpoints; a cancel stops every rank at the same step.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spinegui.core import run_events as E
from spinegui.core.results.metrics import scores
from spinegui.gan.checkpoint import load_optimizer, optimizer_tensors
from spinegui.torchkit import distributed as D
from spinegui.train import classifier as C

FLUSH_STEPS, FLUSH_SECONDS = 32, 0.25


def _batch_indices(order: np.ndarray, batch: int, k: int) -> np.ndarray:
    """The item indices of step `k` of an epoch whose data order is `order`."""
    return order[k * batch:(k + 1) * batch]


class FoldData:
    """The images of one fold: row `where[i, 1]` of store `where[i, 0]` (uint16, N x S x S)."""

    def __init__(self, stores: list[np.ndarray], where: np.ndarray, labels, ids: list[str], on_the_fly=None):
        self.stores, self.where = stores, np.asarray(where, np.int64).reshape(-1, 2)
        self.labels = np.asarray(labels, np.int64)
        self.ids = list(ids)
        self.on_the_fly = np.zeros(len(self.ids), bool) if on_the_fly is None else np.asarray(on_the_fly, bool)

    def __len__(self) -> int:
        return len(self.ids)

    def images(self, idx: np.ndarray) -> np.ndarray:
        size = self.stores[0].shape[-1]
        out = np.empty((len(idx), size, size), np.uint16)
        where = self.where[idx]
        for s in np.unique(where[:, 0]):
            m = where[:, 0] == s
            out[m] = self.stores[s][where[m, 1]]
        return out


class ClassifierTrainer:
    def __init__(self, name: str, classes: list[str], size: int, settings: dict, device: torch.device,
                 ckpt_dir: Path, key: str, ctx, weights: str | None = None,
                 augment: Callable[[torch.Tensor, int], torch.Tensor] | None = None, dist: D.Dist | None = None):
        self.name, self.classes, self.size, self.s = name, classes, size, settings
        self.device, self.ctx, self.key, self.augment = device, ctx, key, augment
        self.cuda = device.type == "cuda"
        self.dist = dist or D.Dist()
        torch.manual_seed(settings["seed"])
        self.model = C.build(name, len(classes), size, weights)
        self.model.to(device, memory_format=torch.channels_last if self.cuda else torch.contiguous_format)
        self.net = D.wrap(self.model, self.dist, device)   # trains; self.model (the same weights) predicts
        lr = settings["lr"] or ((1e-4 if weights else 1e-3) if settings["optimizer"] == "adamw"
                                else (1e-3 if weights else 1e-2))
        self.lr = lr
        if settings["optimizer"] == "sgd":
            self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                                       weight_decay=settings["weight_decay"], fused=self.cuda or None)
        else:
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=settings["weight_decay"],
                                         fused=self.cuda or None)
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda
                         else torch.autocast("cpu", enabled=False))
        self.last = Path(ckpt_dir) / f"{key}_last.safetensors"
        self.best = Path(ckpt_dir) / f"{key}_best.safetensors"
        self.state = {"epoch": 0, "step_in_epoch": 0, "steps_done": 0, "best_f1": -1.0, "best_epoch": 0,
                      "bad_epochs": 0, "history": [], "done": False,
                      "sums": {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}}

    # --- checkpoints -----------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {"model": self.name, "n_classes": len(self.classes), "classes": self.classes, "size": self.size,
                "aux": C.has_aux(self.name, self.size), "seed": self.s["seed"], **self.state}

    def save_last(self) -> None:
        if not self.dist.is_main:
            return
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        C.save_checkpoint(self.last, tensors | optimizer_tensors("opt", self.opt), self._meta())

    def restore(self) -> bool:
        """Continue from the last checkpoint when there is one (True when loaded)."""
        if not self.last.exists():
            return False
        tensors, meta = C.read_checkpoint(self.last, self.name, len(self.classes), self.size)
        C.load_module(self.model, tensors, "model", self.last)
        load_optimizer("opt", self.opt, tensors)
        self.state = {k: meta[k] for k in self.state}
        return True

    def load_best(self) -> None:
        if self.best.exists():
            tensors, _ = C.read_checkpoint(self.best, self.name, len(self.classes), self.size)
            C.load_module(self.model, tensors, "model", self.best)

    # --- batches ---------------------------------------------------------------------------------
    def _to_device(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(images)
        if self.cuda:
            x = x.pin_memory().to(self.device, non_blocking=True)
        return (x.to(torch.float32) / 65535.0).unsqueeze(1)

    def _prepare(self, x01: torch.Tensor) -> torch.Tensor:
        x = C.normalise(x01)
        return x.contiguous(memory_format=torch.channels_last) if self.cuda else x

    def _host_batch(self, data: FoldData, idx: np.ndarray) -> torch.Tensor:
        """The batch's uint16 pixels on the host (pinned on CUDA, so the copy overlaps compute)."""
        x = torch.from_numpy(data.images(idx))
        return x.pin_memory() if self.cuda else x

    def _train_batch(self, data: FoldData, idx: np.ndarray, epoch: int, step: int, weight: torch.Tensor,
                     host: torch.Tensor | None = None):
        # each rank draws its own flips and copies (the same as one process's when there is one)
        seed = (self.s["seed"] * 1_000_003 + epoch * 10_007 + step) * self.dist.world + self.dist.rank
        host = self._host_batch(data, idx) if host is None else host
        x = (host.to(self.device, non_blocking=True).to(torch.float32) / 65535.0).unsqueeze(1)
        flagged = np.flatnonzero(data.on_the_fly[idx])
        if self.augment is not None and len(flagged):
            sel = torch.from_numpy(flagged).to(self.device, non_blocking=True)   # indices, not a mask: no sync
            x[sel] = self.augment(x[sel], seed)
        if self.s["flip"]:
            g = torch.Generator().manual_seed(seed)
            flip = (torch.rand(len(idx), generator=g) < 0.5).to(self.device, non_blocking=True).view(-1, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        # non_blocking: a blocking host-to-device copy waits for the whole stream (a sync per step)
        y = torch.from_numpy(data.labels[idx]).to(self.device, non_blocking=True)
        with self.autocast:
            main, aux = C.logits(self.net(self._prepare(x)))
            loss = F.cross_entropy(main.float(), y, weight=weight)
            if aux is not None:
                loss = loss + C.AUX_WEIGHT * F.cross_entropy(aux.float(), y, weight=weight)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach().float(), (main.argmax(1) == y).sum()

    @torch.no_grad()
    def predict(self, data: FoldData, batch: int = 64) -> np.ndarray:
        self.model.eval()
        out = []
        for start in range(0, len(data), batch):
            idx = np.arange(start, min(start + batch, len(data)))
            with self.autocast:
                main, _ = C.logits(self.model(self._prepare(self._to_device(data.images(idx)))))
            out.append(torch.softmax(main.float(), 1).cpu().numpy())
        self.model.train()
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    # --- the loop ----------------------------------------------------------------------------------
    def fit(self, train: FoldData, val: FoldData, progress=None) -> bool:
        """Train until the last epoch or early stop; False when cancelled (a checkpoint was written)."""
        st, s, k = self.state, self.s, len(self.classes)
        n = len(train)
        batch, steps = self._shape(n)
        total = s["epochs"] * steps
        counts = np.bincount(train.labels, minlength=k).astype(np.float64)
        weight = torch.tensor(n / (k * np.maximum(counts, 1)), dtype=torch.float32, device=self.device)
        self.model.train()
        while not st["done"] and st["epoch"] < s["epochs"]:
            epoch = st["epoch"]
            order = self._order(n, batch, epoch)
            pending: list = []
            self._since = time.perf_counter()
            # on CUDA a thread reads the next batch from the store while this one trains
            prefetch = ThreadPoolExecutor(1) if self.cuda else None
            batch_of = functools.partial(_batch_indices, order, batch)  # bound to this epoch's order
            ahead = prefetch.submit(self._host_batch, train, batch_of(st["step_in_epoch"])) if prefetch else None
            try:
                stopped = self._epoch_steps(train, batch, steps, total, weight, epoch, pending, prefetch,
                                            ahead, batch_of, progress)
            finally:
                if prefetch:
                    prefetch.shutdown()
            if stopped:
                D.barrier(self.dist)   # every rank leaves with rank 0's checkpoint on disk
                return False
            self._flush(pending, batch, epoch)
            self._end_epoch(val)
        st["done"] = True
        self.save_last()
        D.barrier(self.dist)
        return True

    def _shape(self, n: int) -> tuple[int, int]:
        """Images a step on this rank, and steps an epoch (the same on every rank)."""
        batch = min(self.s["batch"], n)
        if not self.dist.active:
            return batch, math.ceil(n / batch)
        local = max(batch // self.dist.world, min(batch, 2))   # batch norm needs two images a step
        return local, math.ceil(math.ceil(n / self.dist.world) / local)

    def _order(self, n: int, batch: int, epoch: int) -> np.ndarray:
        """This rank's items of `epoch` in order, a function of (seed, epoch), wrapped round so that
        every batch is full; under torchrun its shard (DistributedSampler: n / world items each)."""
        seed = self.s["seed"] * 100_003
        if self.dist.active:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(range(n), num_replicas=self.dist.world, rank=self.dist.rank,
                                         shuffle=True, seed=seed)
            sampler.set_epoch(epoch)
            order = np.fromiter(iter(sampler), np.int64)
        else:
            order = np.random.default_rng(seed + epoch).permutation(n)
        return np.concatenate([order, order[:batch]])

    def _stop_asked(self, pending: list) -> bool:
        if not self.dist.active:
            return self.ctx.should_stop()
        # a collective, so every rank asks at the same steps: after a flush (on the CPU, every step)
        return not pending and D.any_rank(self.ctx.should_stop(), self.dist, self.device)

    def _epoch_steps(self, train, batch, steps, total, weight, epoch, pending, prefetch, ahead, batch_of,
                     progress) -> bool:
        """The rest of one epoch's steps; True when cancelled (a checkpoint was written)."""
        st = self.state
        while st["step_in_epoch"] < steps:
            if self._stop_asked(pending):
                self._flush(pending, batch, epoch)
                self.save_last()
                return True
            step = st["step_in_epoch"]
            for group in self.opt.param_groups:
                group["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * st["steps_done"] / max(total, 1)))
            host = ahead.result() if ahead else None
            if prefetch and step + 1 < steps:
                ahead = prefetch.submit(self._host_batch, train, batch_of(step + 1))
            loss, correct = self._train_batch(train, batch_of(step), epoch, step, weight, host)
            pending.append((step, loss, correct))
            st["step_in_epoch"] += 1
            st["steps_done"] += 1
            if (not self.cuda or len(pending) >= FLUSH_STEPS   # under DDP a flush is collective: not timed
                    or (not self.dist.active and time.perf_counter() - self._since > FLUSH_SECONDS)):
                self._flush(pending, batch, epoch)
                if progress:
                    sums = st["sums"]
                    progress(epoch, st["step_in_epoch"], steps, sums["seen"] / max(sums["seconds"], 1e-9))
        return False

    def _flush(self, pending: list, batch: int, epoch: int) -> None:
        """Read the pending steps' losses and hits (one sync) into the epoch's sums, in step order;
        under DDP summed over the ranks (`batch` is one rank's), so every rank holds the same sums."""
        if not pending:
            return
        values = torch.stack([torch.stack([loss, correct.float()]) for _, loss, correct in pending])
        values = D.sum_ranks(values, self.dist).tolist()
        sums = self.state["sums"]
        for (step, _, _), (loss, correct) in zip(pending, values):
            if not math.isfinite(loss):
                raise FloatingPointError(f"{self.key}: the loss diverged at epoch {epoch + 1}, step {step + 1}")
            sums["loss"] += loss * batch
            sums["correct"] += int(correct)
            sums["seen"] += batch * self.dist.world
        now = time.perf_counter()   # after the sync: the steps' real time
        sums["seconds"] += now - self._since
        self._since = now
        pending.clear()

    def _end_epoch(self, val: FoldData) -> None:
        st = self.state
        D.sync_buffers(self.model, self.dist)   # the ranks' models are then identical, buffers included
        val_scores = scores(val.labels, self.predict(val), self.classes) if self.dist.is_main else None
        val_scores = D.from_main(val_scores, self.dist)
        sums = st["sums"]
        st["epoch"] += 1
        entry = {"epoch": st["epoch"], "train_loss": sums["loss"] / max(sums["seen"], 1),
                 "train_accuracy": sums["correct"] / max(sums["seen"], 1), "val_accuracy": val_scores["accuracy"],
                 "val_macro_f1": val_scores["macro_f1"], "img_s": round(sums["seen"] / max(sums["seconds"], 1e-9), 2),
                 "seconds": round(sums["seconds"], 3), "images": sums["seen"]}
        entry = D.from_main(entry, self.dist)   # rank 0's clock: the same history on every rank
        st["history"].append(entry)
        st["step_in_epoch"] = 0
        st["sums"] = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        if entry["val_macro_f1"] > st["best_f1"]:
            st["best_f1"], st["best_epoch"], st["bad_epochs"] = entry["val_macro_f1"], st["epoch"], 0
            if self.dist.is_main:
                C.save_checkpoint(self.best, {f"model.{k}": v for k, v in self.model.state_dict().items()},
                                  self._meta())
        else:
            st["bad_epochs"] += 1
        patience = self.s["patience"]
        if patience and st["bad_epochs"] >= patience:
            st["done"] = True
            self.ctx.log(f"{self.key}: early stop after epoch {st['epoch']} (best validation macro-F1 "
                         f"{st['best_f1']:.3f} at epoch {st['best_epoch']})")
        self.ctx.emit(E.EPOCH, run=self.key, **entry)
        self.ctx.emit(E.METRIC, run=self.key, split="val", name="macro_f1", value=entry["val_macro_f1"],
                      epoch=st["epoch"])
        self.save_last()
