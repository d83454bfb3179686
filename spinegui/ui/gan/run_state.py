"""What the GAN panel knows of one run, folded from its events.jsonl (no Qt here).

`poll_run` runs in a worker thread: it reads only the bytes appended since the last offset and folds
the events into a `Digest` (numpy arrays per model and quantity, the last progress, the newest sample
grid per model), so the UI thread never loops over events one by one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spinegui.cli.jobs import shown_state
from spinegui.core import run_events as E
from spinegui.core.errors import InputError
from spinegui.jobs import read_events, refresh_status

QUANTITIES = ("critic", "generator", "wasserstein")
KEEP_LOGS = 5


@dataclass
class Digest:
    losses: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)      # in order of first appearance
    progress: dict[str, Any] | None = None               # the newest "progress" event
    model_progress: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> its newest one
    train_images: dict[str, int] = field(default_factory=dict)   # model -> its training images (log)
    epochs: dict[str, dict[str, Any]] = field(default_factory=dict)   # model -> newest "epoch" event
    samples: dict[str, tuple[int, str]] = field(default_factory=dict)  # model -> (epoch, path in run)
    logs: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)       # "result" events (sample/quality jobs)
    last_t: float | None = None
    count: int = 0


def digest(events: list[dict[str, Any]]) -> Digest:
    d = Digest(count=len(events))
    cols: dict[str, dict[str, tuple[list, list]]] = {}
    for ev in events:
        kind, model = ev.get("kind"), ev.get("model")
        if isinstance(ev.get("t"), (int, float)):
            d.last_t = float(ev["t"])
        if model and model not in d.models and kind in (E.LOSS, E.PROGRESS, E.EPOCH, E.SAMPLE):
            d.models.append(model)
        if kind == E.LOSS and isinstance(ev.get("step"), (int, float)):
            per = cols.setdefault(model or "", {q: ([], []) for q in QUANTITIES})
            for q in QUANTITIES:
                v = ev.get(q)
                if isinstance(v, (int, float)) and np.isfinite(v):  # generator is null between its steps
                    per[q][0].append(ev["step"])
                    per[q][1].append(v)
        elif kind == E.PROGRESS:
            d.progress = ev
            if model:
                d.model_progress[model] = ev
        elif kind == E.EPOCH and model:
            d.epochs[model] = ev
        elif kind == E.SAMPLE and model and ev.get("path"):
            d.samples[model] = (int(ev.get("epoch") or 0), str(ev["path"]))
        elif kind == E.LOG and ev.get("message"):
            d.logs = (d.logs + [str(ev["message"])])[-KEEP_LOGS:]
            if model and isinstance(ev.get("images"), int):
                d.train_images[model] = ev["images"]
        elif kind == E.RESULT:
            d.results.append(ev)
    for model, per in cols.items():
        d.losses[model] = {q: (np.asarray(x, np.float64), np.asarray(y, np.float64)) for q, (x, y) in per.items()}
    return d


@dataclass
class Poll:
    run_dir: Path
    digest: Digest
    offset: int
    status: dict[str, Any] | None
    error: str | None
    seen: float  # time.monotonic() when read
    state: str | None = None  # as shown: the status's, or "cancelling" while a stop is asked for


def poll_run(run_dir: Path, offset: int) -> Poll:
    """New events since `offset` and the current status (a stale running run becomes failed)."""
    try:
        status = refresh_status(run_dir)
        events, offset = read_events(run_dir, offset)
    except InputError as exc:
        return Poll(run_dir, Digest(), offset, None, str(exc), time.monotonic())
    return Poll(run_dir, digest(events), offset, status, None, time.monotonic(),
                shown_state(status, run_dir))


def average_img_s(model_progress: dict[str, dict[str, Any]], train_images: dict[str, int],
                  batch: int | None) -> float | None:
    """A finished run's speed over the whole run: all its images over all its training seconds.

    Each model's last progress holds that model's own average (gan/train.py) and its last critic step;
    its seconds are its images (steps x its batch, the batch clamped to its training images as in
    training) over that rate. One model: its figure as it is."""
    rates = {m: p for m, p in model_progress.items()
             if isinstance(p.get("img_s"), (int, float)) and p["img_s"] > 0 and isinstance(p.get("step"), int)}
    if not rates:
        return None
    if len(rates) == 1:
        return float(next(iter(rates.values()))["img_s"])
    images = {}
    for m, p in rates.items():
        known = [b for b in (batch, train_images.get(m)) if isinstance(b, int) and b > 0]
        images[m] = p["step"] * (min(known) if known else 1)
    seconds = sum(images[m] / p["img_s"] for m, p in rates.items())
    return sum(images.values()) / seconds if seconds > 0 else None


def decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: means of equal runs of consecutive points (the trend of a noisy
    loss), the newest point kept as it is."""
    n = len(x)
    if n <= max_points:
        return x, y
    k = -(-n // max_points)   # points per bucket
    m = (n // k) * k
    xs = x[:m].reshape(-1, k).mean(1)
    ys = y[:m].reshape(-1, k).mean(1)
    return np.append(xs, x[-1]), np.append(ys, y[-1])
