"""What a job target sees: `def run(ctx: JobContext) -> None`.

    ctx.run_dir        the run folder (Path); checkpoints go under ctx.checkpoint_dir
    ctx.config         config.toml as a dict (kind, seed, device, versions, the job's own settings)
    ctx.resume         True when restarted on an existing run: load the last checkpoint
    ctx.emit(kind, **fields)   one event -> events.jsonl (progress/loss throttled to a few a second;
                               sample, metric, epoch, log... never dropped); the kinds and their
                               fields: spinegui/core/run_events.py (an unknown kind raises ValueError)
    ctx.should_stop()  a cancel was requested: write a checkpoint and return promptly
    ctx.set_device(s)  the device actually used ("cuda:0", "cpu"), shown in status.json

Return normally: done (or cancelled if should_stop() said True). Raise: failed, with the message
"ExceptionType: text". Raise JobDiverged for a loss that went NaN/inf.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from spinegui.core import run_events as E
from spinegui.jobs import runfolder as rf


class JobDiverged(RuntimeError):
    """Training diverged (NaN/inf loss); the run fails with this message, checkpoints are kept."""


# High-rate kinds and their minimum spacing in seconds; every other kind is written at once.
THROTTLE_S = {E.PROGRESS: 0.25, E.LOSS: 0.25}
STATUS_PROGRESS_EVERY_S = 1.0
CANCEL_CHECK_EVERY_S = 0.05


class StatusFile:
    """The job process's own status.json: one dict, rewritten atomically under a lock (the main
    thread and the parent-watch thread both write)."""

    def __init__(self, run_dir: Path, status: dict[str, Any]):
        self.run_dir = run_dir
        self.data = status
        self.lock = threading.RLock()
        self.final = False

    def update(self, **fields: Any) -> None:
        with self.lock:
            if self.final:
                return
            self.data.update(fields)
            if self.data.get("state") in rf.FINAL_STATES:
                self.final = True
            rf.write_status(self.run_dir, self.data)


class JobContext:
    def __init__(self, run_dir: Path, config: dict[str, Any], resume: bool, status: StatusFile,
                 events_fh, t_offset: float = 0.0):
        self.run_dir = Path(run_dir)
        self.config = config
        self.resume = resume
        self._status = status
        self._events = events_fh
        self._t0 = time.monotonic() - t_offset
        self._lock = threading.Lock()
        self._last_written: dict[str, float] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._last_status_progress = 0.0
        self._progress: dict[str, Any] | None = None
        self._stop_reason: str | None = None
        self._stop_seen = False
        self._next_cancel_check = 0.0

    # --- for the target ------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        d = self.run_dir / rf.CHECKPOINTS
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def device(self) -> str | None:
        return self._status.data.get("device")

    def emit(self, kind: str, **fields: Any) -> None:
        if kind not in E.KINDS:   # a misspelt kind would be written and never read
            raise ValueError(f"unknown event kind {kind!r} (spinegui/core/run_events.py lists them)")
        now = time.monotonic()
        event = {"t": round(now - self._t0, 3), "kind": kind, **fields}
        with self._lock:
            interval = THROTTLE_S.get(kind)
            if interval is None:
                self._flush_pending(now, everything=True)  # older high-rate events first
                self._write(event)
            else:
                if now - self._last_written.get(kind, -math.inf) >= interval:
                    self._pending.pop(kind, None)
                    self._write(event)
                    self._last_written[kind] = now
                else:
                    self._pending[kind] = event  # the newest one survives the throttle
                self._flush_pending(now)
        if kind == E.PROGRESS:
            self._progress = {k: v for k, v in fields.items() if isinstance(v, (int, float, str))}
            if now - self._last_status_progress >= STATUS_PROGRESS_EVERY_S:
                self._last_status_progress = now
                self._status.update(progress=self._progress)

    def log(self, message: str, **fields: Any) -> None:
        self.emit(E.LOG, message=str(message), **fields)

    def should_stop(self) -> bool:
        if self._stop_reason is None:
            now = time.monotonic()
            if now >= self._next_cancel_check:
                self._next_cancel_check = now + CANCEL_CHECK_EVERY_S
                if rf.cancel_requested(self.run_dir):
                    self.request_stop("cancelled on request")
        if self._stop_reason is not None:
            self._stop_seen = True
            return True
        return False

    def set_device(self, device: str) -> None:
        self._status.update(device=str(device))
        self.emit(E.DEVICE, device=str(device))

    # --- for the runner ------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stop_seen(self) -> bool:
        return self._stop_seen

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    @property
    def last_progress(self) -> dict[str, Any] | None:
        return self._progress

    def close(self) -> None:
        """Write what the throttle still holds (the last progress of a burst is never lost)."""
        with self._lock:
            self._flush_pending(time.monotonic(), everything=True)

    def _flush_pending(self, now: float, everything: bool = False) -> None:
        for kind in list(self._pending):
            if everything or now - self._last_written.get(kind, -math.inf) >= THROTTLE_S[kind]:
                self._write(self._pending.pop(kind))
                self._last_written[kind] = now

    def _write(self, event: dict[str, Any]) -> None:
        self._events.write(rf.event_line(event))
        self._events.flush()


def open_events(run_dir: Path):
    """Open events.jsonl for appending; a partial line left by a killed writer is ended first."""
    path = Path(run_dir) / rf.EVENTS
    fh = open(path, "ab", buffering=0)
    if fh.tell() > 0:
        with open(path, "rb") as r:
            r.seek(-1, os.SEEK_END)
            if r.read(1) != b"\n":
                fh.write(b"\n")
    return fh
