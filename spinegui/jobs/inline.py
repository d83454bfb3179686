"""Jobs under torchrun: every rank runs the target in its own process (torchrun made them);
rank 0 writes the run folder exactly as a spawned job would, the other ranks write nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spinegui.jobs import runfolder as rf
from spinegui.jobs.child import child_main
from spinegui.jobs.registry import job_target, resolve_target
from spinegui.jobs.runner import prepare


class FollowerContext:
    """What ranks other than 0 see: the same config, no writes; cancel is read from the run folder."""

    def __init__(self, run_dir: Path, config: dict[str, Any], resume: bool):
        self.run_dir, self.config, self.resume = Path(run_dir), config, resume
        self._stop = False

    def emit(self, kind: str, **fields: Any) -> None:
        pass

    def log(self, message: str, **fields: Any) -> None:
        pass

    def should_stop(self) -> bool:
        self._stop = self._stop or rf.cancel_requested(self.run_dir)
        return self._stop

    def set_device(self, device: str) -> None:
        pass


def run_inline(kind: str, config: dict[str, Any] | None, run_dir: str | Path, resume: bool = False, *,
               overwrite: bool = False, sync: Callable[[], None] | None = None) -> int:
    """Exit code like run_foreground: 0 done, 1 failed, 130 cancelled (rank 0's view).

    `sync`: a barrier of the ranks (their process group, joined before this call). Rank 0 reaches it
    once the run folder is ready, the others wait there before they read its config.toml; without it
    they wait for config.toml to appear, which an earlier run's (--overwrite, --resume) would fool."""
    run_dir = Path(run_dir)
    target = job_target(kind)
    if int(os.environ.get("RANK", "0")) == 0:
        prepare(kind, config, run_dir, resume=resume, overwrite=overwrite)
        if sync is not None:
            sync()
        child_main(str(run_dir), target, resume, in_process=True)
        state = rf.read_status(run_dir).get("state")
        return {"done": 0, "cancelled": 130}.get(state, 1)
    if sync is not None:
        sync()
    deadline = time.monotonic() + 60     # rank 0 writes config.toml first
    while not (run_dir / rf.CONFIG).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    resolve_target(target)(FollowerContext(run_dir, rf.read_config(run_dir), resume))
    return 0
