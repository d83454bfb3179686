"""The GAN loop's budget: a step budget ends the run at that generator step, done and resumable; the
time spent is kept across resumes."""

from __future__ import annotations

import numpy as np
import torch

from spinegui.gan import checkpoint as ck
from spinegui.gan.settings import gan_settings
from spinegui.gan.train import GanTrainer


class Ctx:
    def __init__(self, run_dir, stop_after: int | None = None):
        self.run_dir, self.stop_after, self.calls = run_dir, stop_after, 0

    def emit(self, *a, **k):
        pass

    def log(self, *a, **k):
        pass

    def should_stop(self) -> bool:
        self.calls += 1
        return self.stop_after is not None and self.calls > self.stop_after


def _trainer(run_dir, ctx=None, **budget):
    torch.set_num_threads(1)
    settings = gan_settings({"size": 64, "width": 8, "batch": 4, "n_critic": 2, "epochs": 1000, "keep_last": 1,
                             "device": "cpu", **budget})
    images = (np.random.default_rng(0).random((12, 64, 64)) * 65535).astype(np.uint16)
    return GanTrainer(settings, images, np.zeros(12, np.int64), ["x"], "x", torch.device("cpu"),
                      ctx or Ctx(run_dir))


def test_a_step_budget_ends_the_run_at_that_generator_step_and_a_resume_keeps_it(tmp_path):
    t = _trainer(tmp_path, steps=5)
    assert t.train() and t.done and t.g_steps == 5 and t.epoch < 1000
    meta = ck.read(tmp_path / "checkpoints" / "x_full.safetensors")[1]
    assert meta["done"] and meta["budget_spent"] and meta["g_steps"] == 5 and meta["seconds"] > 0
    again = _trainer(tmp_path, steps=5)
    assert again.restore() and again.done and again.g_steps == 5 and again.seconds >= meta["seconds"]


def test_a_cancelled_budget_run_resumes_to_the_same_step(tmp_path):
    t = _trainer(tmp_path, Ctx(tmp_path, stop_after=3), steps=7)
    assert not t.train() and not t.done and t.g_steps < 7
    resumed = _trainer(tmp_path, steps=7)
    assert resumed.restore() and resumed.train() and resumed.g_steps == 7


def test_a_time_budget_ends_the_run(tmp_path):
    t = _trainer(tmp_path, minutes=0.002)   # 0.12 s
    assert t.train() and t.done and t.budget_spent and t.seconds >= 0.12


class Recorder(Ctx):
    def __init__(self, run_dir):
        super().__init__(run_dir)
        self.totals: list[int] = []

    def emit(self, kind, **fields):
        if kind == "progress":
            self.totals.append(fields["total"])


def test_under_a_time_budget_the_progress_total_is_the_steps_the_time_allows_not_the_epoch_cap(tmp_path):
    ctx = Recorder(tmp_path)
    t = _trainer(tmp_path, ctx, minutes=0.04)   # 2.4 s; the epoch cap would be 3,000 critic steps
    assert t.train() and t.budget_spent
    cap = 1000 * t.steps_per_epoch
    assert ctx.totals and ctx.totals[-1] < cap / 4
    assert ctx.totals[-1] <= 2 * t.critic_steps   # the last estimate is close to where the run ended
