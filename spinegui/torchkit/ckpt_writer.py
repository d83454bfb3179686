"""Checkpoints written by a background thread, so training does not wait for the disk.

On a GPU an epoch of a small class takes milliseconds while writing and fsyncing a checkpoint takes
tens of milliseconds. The trainer copies its tensors off the device (in order, on its own thread),
then hands the write to this thread. Writes keep their order; at most ``depth`` wait, after which
``submit`` blocks, so a slow disk slows training instead of piling up memory. A full checkpoint
still waiting when the next one comes is replaced by it (the generator snapshots, which harvesting
reads, are all written). A failed write (a full
disk) is raised on the trainer's thread at the next ``submit`` or ``drain``, and the previous
checkpoint stays, as every write is atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch


def host_copy(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.cuda.Event | None]:
    """Copies of ``tensors`` on the CPU, made now; on CUDA the copies are queued and the returned event
    says when they are complete."""
    # copy=True: a CPU tensor would otherwise be shared with training, which goes on changing it
    out = {k: v.detach().to("cpu", non_blocking=True, copy=True) for k, v in tensors.items()}
    event = None
    if any(v.is_cuda for v in tensors.values()):
        event = torch.cuda.Event(blocking=True)   # the writer sleeps on it instead of spinning a core
        event.record()
    return out, event


class CheckpointWriter:
    def __init__(self, depth: int = 2):
        self.depth = depth
        self._pending: list[tuple[str | None, Callable[[], None], object]] = []
        self._busy = False
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.superseded = 0   # writes skipped because a newer one of the same key came first

    def submit(self, write: Callable[[], None], event=None, key: str | None = None) -> None:
        """Queue ``write`` (after ``event`` completes). A write with a ``key`` replaces a queued,
        not yet started write of the same key: only the newest full checkpoint matters."""
        self._raise()
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="checkpoint-writer", daemon=True)
                self._thread.start()
            for i, (k, _, _) in enumerate(self._pending):
                if key is not None and k == key:
                    self._pending[i] = (key, write, event)
                    self.superseded += 1
                    return
            while len(self._pending) >= self.depth:
                self._cond.wait()
            self._pending.append((key, write, event))
            self._cond.notify_all()

    def close(self) -> None:
        """Write what is queued, then stop the thread; a later submit starts a new one."""
        with self._cond:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._pending.append((None, None, None))   # the stop sign, after every queued write
                self._cond.notify_all()
        if thread is not None:
            thread.join()
        self._raise()

    def drain(self) -> None:
        """Wait until every submitted write is on disk; raise the first write error."""
        with self._cond:
            while self._pending or self._busy:
                self._cond.wait()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                _, write, event = self._pending.pop(0)
                self._busy = write is not None
                self._cond.notify_all()
            if write is None:
                return
            try:
                if self._error is None:   # after a failure, later writes are dropped until it is raised
                    if event is not None:
                        event.synchronize()
                    write()
            except BaseException as exc:   # handed to the trainer's thread
                self._error = exc
            finally:
                write = event = None   # drop the tensors now, not when the next write arrives
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
