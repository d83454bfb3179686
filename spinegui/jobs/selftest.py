"""The "selftest" job: exercises the job machinery without torch (tests, and the packaged app's check
that processes start, report, cancel, crash cleanly and resume).

Config (all optional):
    steps = 20              steps to count
    sleep = 0.02            seconds per step
    checkpoint_every = 5    write checkpoints/selftest.json every N steps (and when cancelled)
    steps_per_epoch = 10    an "epoch" and a "metric" event every N steps
    fail_at = 0             raise RuntimeError at this step (0: never)
    abort_at = 0            os.abort() at this step: a hard crash, no Python exception
    nan_at = 0              the loss turns NaN at this step -> JobDiverged("diverged at step N")
    ignore_cancel = false   never look at ctx.should_stop() (to test the kill after the grace period)
"""

from __future__ import annotations

import json
import math
import os
import random
import time

from spinegui.core import run_events as E
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.jobs.context import JobContext, JobDiverged

CHECKPOINT = "selftest.json"


def run(ctx: JobContext) -> None:
    cfg = ctx.config
    steps = int(cfg.get("steps", 20))
    pause = float(cfg.get("sleep", 0.02))
    every = max(1, int(cfg.get("checkpoint_every", 5)))
    per_epoch = max(1, int(cfg.get("steps_per_epoch", 10)))
    fail_at, abort_at, nan_at = (int(cfg.get(k, 0) or 0) for k in ("fail_at", "abort_at", "nan_at"))
    ignore_cancel = bool(cfg.get("ignore_cancel", False))
    ctx.set_device("cpu")

    path = ctx.checkpoint_dir / CHECKPOINT
    step = 0
    if ctx.resume and path.exists():
        step = int(json.loads(path.read_text(encoding="utf-8"))["step"])
        ctx.log(f"resuming from step {step}", step=step)

    def save(at: int) -> None:
        atomic_write_bytes(path, json.dumps({"step": at, "steps": steps}).encode("utf-8"))
        ctx.emit(E.CHECKPOINT, step=at, path=f"checkpoints/{CHECKPOINT}")

    rng = random.Random(int(cfg.get("seed", 0)))
    while step < steps:
        if not ignore_cancel and ctx.should_stop():
            save(step)
            return
        step += 1
        if pause > 0:
            time.sleep(pause)
        if step == fail_at:
            raise RuntimeError(f"selftest failure at step {step}")
        if step == abort_at:
            os.abort()
        loss = 1.0 / (1.0 + 0.1 * step) + 0.01 * rng.random()
        if step == nan_at:
            loss = float("nan")
        if not math.isfinite(loss):
            raise JobDiverged(f"diverged at step {step}")
        epoch = (step - 1) // per_epoch + 1
        ctx.emit(E.PROGRESS, epoch=epoch, step=step, total=steps)
        ctx.emit(E.LOSS, step=step, loss=round(loss, 6))
        if step % every == 0:
            save(step)
        if step % per_epoch == 0 or step == steps:
            ctx.emit(E.EPOCH, epoch=epoch, step=step)
            ctx.emit(E.METRIC, split="val", name="selftest_score", value=round(1.0 - loss, 6), epoch=epoch)
    if step % every:
        save(step)
