"""A queue of jobs: GPU jobs one (or `max_gpu_jobs`) at a time, CPU jobs side by side.

Qt-free: the GUI calls `poll()` from a QTimer to learn which jobs ended; the next job also starts
by itself when one ends (from the job's monitor thread), so a busy UI never delays the queue.
A job's slot comes from its config's `device`: "cpu" -> a CPU slot, anything else ("auto", "cuda",
"cuda:1", "mps") -> a GPU slot.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinegui.core import run_events as E
from spinegui.core.errors import InputError
from spinegui.jobs import runfolder as rf
from spinegui.jobs.runner import DEFAULT_GRACE_S, JobHandle, launch, prepare


def device_class(config: dict[str, Any]) -> str:
    return "cpu" if str(config.get("device", "auto")).strip().lower() == "cpu" else "gpu"


@dataclass
class _Pending:
    kind: str
    run_dir: Path
    resume: bool
    slot: str


class JobQueue:
    def __init__(self, max_gpu_jobs: int = 1, max_cpu_jobs: int | None = None, background: bool = False):
        """`background`: jobs run at lower CPU priority, so a window that owns the queue stays responsive."""
        self.background = background
        self.max_gpu_jobs = max(1, int(max_gpu_jobs))
        self.max_cpu_jobs = max(1, int(max_cpu_jobs if max_cpu_jobs is not None else min(4, os.cpu_count() or 1)))
        self._lock = threading.RLock()
        self._pending: list[_Pending] = []
        self._running: dict[Path, tuple[JobHandle, str]] = {}
        self._ended: list[JobHandle] = []
        self._closed = False

    # --- adding and removing -------------------------------------------------------------------
    def submit(self, kind: str | None, config: dict[str, Any] | None, run_dir: str | Path, *,
               resume: bool = False) -> Path:
        """Queue a job (status "queued" is on disk when this returns); it starts when a slot is free."""
        kind, run_dir = prepare(kind, config, run_dir, resume=resume)
        run_dir = Path(run_dir).resolve()
        slot = device_class(rf.read_config(run_dir))
        with self._lock:
            if self._closed:
                raise InputError(run_dir, "the job queue is shut down")
            self._pending.append(_Pending(kind, run_dir, resume, slot))
            self._schedule()
        return run_dir

    def cancel(self, run_dir: str | Path, grace: float = DEFAULT_GRACE_S) -> None:
        run_dir = Path(run_dir).resolve()
        with self._lock:
            for p in self._pending:
                if p.run_dir == run_dir:
                    self._pending.remove(p)
                    self._mark_cancelled(p.run_dir)
                    return
            entry = self._running.get(run_dir)
        if entry is not None:
            entry[0].cancel(grace)

    def shutdown(self, grace: float = DEFAULT_GRACE_S, wait: bool = True) -> None:
        """Cancel everything queued and running (jobs checkpoint); no new submissions."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, []
            running = [h for h, _ in self._running.values()]
        for p in pending:
            self._mark_cancelled(p.run_dir)
        for h in running:
            h.cancel(grace)
        if wait:
            for h in running:
                h.wait(grace + 5.0)

    # --- looking -------------------------------------------------------------------------------
    def poll(self) -> list[JobHandle]:
        """Start what can start; return the jobs that ended since the last poll."""
        with self._lock:
            self._schedule()
            ended, self._ended = self._ended, []
        return ended

    @property
    def pending(self) -> list[Path]:
        with self._lock:
            return [p.run_dir for p in self._pending]

    @property
    def running(self) -> list[JobHandle]:
        with self._lock:
            return [h for h, _ in self._running.values()]

    def handle(self, run_dir: str | Path) -> JobHandle | None:
        with self._lock:
            entry = self._running.get(Path(run_dir).resolve())
        return entry[0] if entry else None

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._pending and not self._running

    def wait_all(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self.idle:
            if end is not None and time.monotonic() >= end:
                return False
            self._schedule()  # (ended jobs stay for poll() to report)
            time.sleep(0.05)
        return True

    # --- inside --------------------------------------------------------------------------------
    def _schedule(self) -> None:
        with self._lock:
            if self._closed:
                return
            used = {"cpu": 0, "gpu": 0}
            for _, slot in self._running.values():
                used[slot] += 1
            limit = {"cpu": self.max_cpu_jobs, "gpu": self.max_gpu_jobs}
            for p in list(self._pending):
                if rf.cancel_requested(p.run_dir):  # `spinegui cancel` from another process
                    self._pending.remove(p)
                    self._mark_cancelled(p.run_dir)
                    continue
                if used[p.slot] >= limit[p.slot]:
                    continue
                self._pending.remove(p)
                try:
                    handle = launch(p.kind, p.run_dir, resume=p.resume, on_exit=self._job_ended,
                                    background=self.background)
                except InputError:
                    continue  # launch wrote status failed
                self._running[p.run_dir] = (handle, p.slot)
                used[p.slot] += 1

    def _job_ended(self, handle: JobHandle) -> None:
        with self._lock:
            self._running.pop(handle.run_dir.resolve(), None)
            self._ended.append(handle)
            self._schedule()

    @staticmethod
    def _mark_cancelled(run_dir: Path) -> None:
        try:
            status = rf.read_status(run_dir)
            if status["state"] in rf.FINAL_STATES:
                rf.clear_cancel(run_dir)
                return
            rf.write_status(run_dir, {**status, "state": "cancelled", "ended": rf.utc_now(),
                                      "message": "cancelled before it started"})
            rf.append_event(run_dir, {"kind": E.STATE, "state": "cancelled", "message": "cancelled before it started"})
            rf.clear_cancel(run_dir)
        except (InputError, OSError):
            pass
