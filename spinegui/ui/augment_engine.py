"""The Augment tab's client of the augmentation worker process (``augment_worker``).

Why a process: importing torch (~0.4 s holding the GIL in its C extension) in a thread of the app
stalled the event loop, and the app would carry torch's memory just to preview augmentations. The
worker is spawned (safe beside Qt's threads, and in a frozen app) when the Augment tab is first shown;
spawning is a fork/exec and a pipe, cheap for the UI thread. The app never imports torch.

Scheduling (all on the UI thread; replies come from a reader thread through a queued signal):
- one request in flight at a time, so the worker is always at most one request behind;
- per kind only the newest submission waits ("preview" and "full": one request; "grid": a list of
  one-draw requests, so a preview never waits behind more than one grid draw); submitting a kind
  replaces what of that kind still waits (a dragged slider keeps only its latest position);
- next to go: a waiting preview, then full resolution, then the grid draws;
- requests submitted while the worker starts (torch import, a few seconds) wait for its "ready".
Which replies are still wanted (generations) is the panel's business; every reply is delivered.

If the worker dies it is restarted once, with a one-line message, and the request it died on is tried
again; a second death in a row (before any reply) switches the engine off until ``start()`` is called
again (the panel does so when it is shown). The worker goes away with the engine (its QObject is
destroyed), when the app quits, and with the app whatever the way it ends (``exit_with_parent``).
"""

from __future__ import annotations

import functools
import itertools
import mmap
import os
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Signal

from spinegui.ui.augment_worker import worker_main

PRIORITY = ("preview", "full", "grid")
STOP_GRACE_S = 3.0   # after "stop", a worker still alive this long is killed
WORKER_NICE = 5      # the worker's lower CPU priority: on a busy machine the event loop wins the cores


@dataclass
class AugmentResult:
    """One draw as the worker returns it (the fields of ``spinegui.augment.pipeline.Augmented``)."""
    image: np.ndarray
    boxes: np.ndarray          # (m, 4) float32 XYXY of the kept boxes, in ``image`` pixels
    kept: np.ndarray           # (k,) bool over the request's boxes
    visibility: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return int(np.count_nonzero(~self.kept))


@dataclass
class Request:
    kind: str                  # "preview", "full" or "grid"
    generation: int            # the caller's; replies carry their request back
    source: dict               # from AugmentEngine.source()
    chain: tuple[int, ...]     # long-side reductions of the source before augmenting
    boxes: np.ndarray          # (k, 4) XYXY in source-array pixels
    config: dict
    seeds: list[int]
    tag: object = None         # the caller's, never sent
    id: int = 0
    sent: float = 0.0          # perf_counter() when it went to the worker

    def wire(self) -> dict:
        return {"id": self.id, "source": self.source, "chain": tuple(self.chain),
                "boxes": np.asarray(self.boxes, np.float64).reshape(-1, 4), "config": self.config,
                "seeds": [int(s) for s in self.seeds]}


@dataclass
class Reply:
    request: Request
    results: list[AugmentResult]
    scale: float = 1.0                          # result pixels per source-array pixel
    value_range: tuple[float, float] = (0.0, 1.0)
    worker_ms: float = 0.0                      # the augmentation itself, in the worker
    round_trip_ms: float = 0.0                  # send to delivery, as the UI sees it
    error: str | None = None


class _Worker:
    """One worker process, its pipe and the thread that reads its replies (no Qt here)."""

    def __init__(self, token: int, deliver):
        ctx = get_context("spawn")
        self.token, self._deliver = token, deliver
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child,), name="spinegui-augment", daemon=True)
        self.process.start()
        child.close()
        if hasattr(os, "setpriority"):  # POSIX: from its first instruction on, the UI thread comes first
            try:
                os.setpriority(os.PRIO_PROCESS, self.process.pid, WORKER_NICE)
            except OSError:
                pass
        self.stopping = False
        self._reader = threading.Thread(target=self._read, name="augment-replies", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # a reply that cannot be unpickled: report it, keep reading
                msg = ("garbled", repr(exc))
            if not self._deliver(self.token, msg):
                self.stop()
                break
        self.process.join(2.0)
        if not self.stopping:
            self._deliver(self.token, ("died", self.process.exitcode))
        self.conn.close()

    def send(self, msg) -> bool:
        try:
            self.conn.send(msg)
            return True
        except (OSError, ValueError):  # dead or closed: the reader reports the death
            return False

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.send(("stop",))
        threading.Thread(target=self._reap, name="augment-reap", daemon=True).start()

    def _reap(self) -> None:
        # Only the reader waits for the process (after its end of the pipe closed), so a process
        # still unreaped here still owns its pid: killing it can hit nothing else.
        self._reader.join(STOP_GRACE_S)
        if self._reader.is_alive():
            self.process.kill()


class _Resources:
    """What must go when the engine goes (also reachable from its ``destroyed`` signal)."""

    def __init__(self):
        self.worker: _Worker | None = None
        self.tmp_dir: Path | None = None

    def release(self, *_args) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None


class AugmentEngine(QObject):
    ready = Signal()                 # the worker has imported the pipeline
    finished = Signal(object)        # Reply
    message = Signal(str, bool)      # one line for the user, is it an error
    _incoming = Signal(int, object)  # worker token, message (emitted by the reader thread)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._res = _Resources()
        self._state = "idle"         # idle, starting, ready, failed
        self._token = 0
        self._ids = itertools.count(1)
        self._pending: dict[str, list[Request]] = {}
        self._in_flight: Request | None = None
        self._restart_allowed = True
        self._temp_source: tuple[np.ndarray, str] | None = None   # (the array, its temporary file)
        self.started_at: float | None = None
        self.ready_after_s: float | None = None   # start() to "ready", as the UI saw it
        self._incoming.connect(self._on_incoming)
        self.destroyed.connect(functools.partial(_Resources.release, self._res))
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    # --- life cycle -----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def is_ready(self) -> bool:
        return self._state == "ready"

    @property
    def pid(self) -> int | None:
        w = self._res.worker
        return w.process.pid if w is not None else None

    def start(self) -> None:
        """Start the worker unless it runs or starts already (again after it was given up)."""
        if self._state in ("starting", "ready"):
            return
        self._restart_allowed = True
        self._spawn()

    def _spawn(self) -> None:
        self._token += 1
        self._state = "starting"
        self.started_at = time.perf_counter()
        try:
            self._res.worker = _Worker(self._token, self._deliver)
        except Exception as exc:  # no process could be started (resources, a broken install)
            self._res.worker = None
            self._state = "failed"
            self.message.emit(f"the augmentation process could not start: {type(exc).__name__}: {exc}", True)

    def _deliver(self, token: int, msg) -> bool:
        """From the reader thread: hand a message to the UI thread. False: the engine is gone."""
        try:
            self._incoming.emit(token, msg)
            return True
        except RuntimeError:  # the engine's C++ object was deleted
            return False

    def stop(self) -> None:
        """End the worker (it exits on "stop"; killed if it does not) and forget waiting requests."""
        self._pending.clear()
        self._in_flight = None
        self._temp_source = None
        self._res.release()
        self._state = "idle"

    # --- requests -------------------------------------------------------------------------------
    def source(self, pixels: np.ndarray, *, bits_stored: int | None = None, dicom: str | None = None) -> dict:
        """The worker's name for ``pixels``: the .npy file it is memory-mapped from (the display cache),
        else a copy written once to a temporary folder."""
        desc = {"shape": tuple(int(v) for v in pixels.shape), "dtype": str(pixels.dtype),
                "bits_stored": int(bits_stored) if bits_stored else None, "dicom": str(dicom) if dicom else None}
        path = npy_path(pixels)
        if path is None:  # not from a .npy file (an image decoded in memory): written once
            if self._temp_source is not None and self._temp_source[0] is pixels:
                path = self._temp_source[1]
            else:
                if self._res.tmp_dir is None:
                    self._res.tmp_dir = Path(tempfile.mkdtemp(prefix="spinegui-augment-"))
                    # also at exit when the engine was never deleted (rmtree of a removed folder: no-op)
                    weakref.finalize(self._res, shutil.rmtree, str(self._res.tmp_dir), True)
                for old in self._res.tmp_dir.glob("*.npy"):
                    old.unlink(missing_ok=True)
                path = str(self._res.tmp_dir / f"source-{next(self._ids)}.npy")
                np.save(path, np.ascontiguousarray(pixels), allow_pickle=False)
                self._temp_source = (pixels, path)
        desc["path"] = path
        return desc

    def submit(self, kind: str, requests: list[Request]) -> None:
        """Replace what of ``kind`` still waits by ``requests`` (sent in this order)."""
        if kind not in PRIORITY:
            raise ValueError(f"unknown request kind {kind!r}")
        for r in requests:
            r.kind = kind
        self._pending[kind] = list(requests)
        self._dispatch()

    def cancel(self, kind: str | None = None) -> None:
        """Forget waiting requests (of one kind); one in flight still answers."""
        if kind is None:
            self._pending.clear()
        else:
            self._pending.pop(kind, None)

    def waiting(self, kind: str) -> int:
        """Requests of ``kind`` not answered yet (waiting or in flight)."""
        in_flight = self._in_flight is not None and self._in_flight.kind == kind
        return len(self._pending.get(kind, ())) + int(in_flight)

    @property
    def busy(self) -> bool:
        return self._in_flight is not None or any(self._pending.values())

    def _dispatch(self) -> None:
        if self._state != "ready" or self._in_flight is not None:
            return
        for kind in PRIORITY:
            queue = self._pending.get(kind)
            if queue:
                req = queue.pop(0)
                req.id, req.sent = next(self._ids), time.perf_counter()
                self._in_flight = req
                self._res.worker.send(("run", req.wire()))  # small: sources go by file name
                return

    # --- replies --------------------------------------------------------------------------------
    def _on_incoming(self, token: int, msg) -> None:
        if token != self._token or self._res.worker is None:
            return  # a worker we have let go
        what = msg[0]
        if what == "ready":
            self._state = "ready"
            self.ready_after_s = time.perf_counter() - self.started_at
            self.ready.emit()
            self._dispatch()
        elif what == "result":
            self._on_result(msg[1], msg[2])
        elif what == "failed":
            self._res.release()
            self._state = "failed"
            self._pending.clear()
            self.message.emit(msg[1], True)
        elif what == "died":
            self._on_died(msg[1])
        elif what == "garbled":
            self.message.emit(f"a reply of the augmentation process could not be read: {msg[1]}", True)

    def _on_result(self, rid: int, payload: dict) -> None:
        req = self._in_flight
        if req is None or req.id != rid:
            return
        self._in_flight = None
        self._restart_allowed = True  # it works: a later death may restart it again
        rtt = (time.perf_counter() - req.sent) * 1000
        if "error" in payload:
            reply = Reply(req, [], error=payload["error"], round_trip_ms=rtt)
        else:
            reply = Reply(req, [AugmentResult(**r) for r in payload["results"]], float(payload["scale"]),
                          tuple(payload["value_range"]), float(payload["ms"]), rtt)
        try:
            self.finished.emit(reply)
        finally:
            self._dispatch()

    def _on_died(self, exitcode) -> None:
        lost, self._in_flight = self._in_flight, None
        self._res.worker = None
        if not self._restart_allowed:
            self._state = "failed"
            self._pending.clear()
            self.message.emit(f"the augmentation process stopped again (exit code {exitcode}); "
                              "augmentation is off until the Augment tab is shown again", True)
            return
        self._restart_allowed = False
        if lost is not None:  # try it once more, unless newer work of its kind replaced it
            queue = self._pending.setdefault(lost.kind, [])
            if lost.kind == "grid" or not queue:
                queue.insert(0, lost)
        self.message.emit(f"the augmentation process stopped (exit code {exitcode}); restarting it", True)
        self._spawn()


def npy_path(pixels: np.ndarray) -> str | None:
    """The .npy file ``pixels`` is the whole memory map of (np.load(..., mmap_mode="r")), else None."""
    if not isinstance(pixels, np.memmap) or not isinstance(getattr(pixels, "base", None), mmap.mmap):
        return None
    name = getattr(pixels, "filename", None)
    return name if name and str(name).endswith(".npy") else None
