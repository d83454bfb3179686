"""The app's side of the Grad-CAM worker (``gradcam_worker``): a spawned process that imports torch, so
that the app never does, and answers one heatmap request at a time.

The worker starts with the first request (torch takes a few seconds to import) and then stays, with
the last checkpoint loaded, until the engine goes, the app quits, or the app dies (``exit_with_parent``).
Replies come from a reader thread through a queued signal; the event loop never waits for the worker.
One request is in flight at most; a request submitted meanwhile replaces the one still waiting (the
user toggled on another image: only the newest matters). If the worker dies it is restarted once and
the request it died on is tried again; a second death in a row switches Grad-CAM off until ``start()``.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Signal

from spinegui.core.display import Window
from spinegui.ui.gradcam_worker import worker_main

STOP_GRACE_S = 3.0   # after "stop", a worker still alive this long is killed
WORKER_NICE = 5      # the worker's lower CPU priority: on a busy machine the event loop wins the cores


@dataclass
class GradCamRequest:
    image_id: str
    checkpoint: str
    source: dict               # {"path": .npy file} or {"pixels": array}
    window: Window             # the image's default window (what the experiment's cache applied)
    invert: bool
    target: str | None = None  # the class to explain, by name; None: the model's own prediction
    tag: object = None         # the caller's, never sent
    id: int = 0
    sent: float = 0.0

    def wire(self) -> dict:
        return {"id": self.id, "checkpoint": self.checkpoint, "source": self.source, "window": self.window,
                "invert": bool(self.invert), "target": self.target}


@dataclass
class GradCamReply:
    request: GradCamRequest
    heatmap: np.ndarray | None = None   # float32 in [0, 1], the source image's H x W
    predicted: int = -1
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    target: int = -1
    classes: list[str] = field(default_factory=list)
    model: str = ""
    worker_ms: float = 0.0
    error: str | None = None

    @property
    def target_probability(self) -> float:
        return float(self.probabilities[self.target]) if 0 <= self.target < len(self.probabilities) else float("nan")


class _Worker:
    """One worker process, its pipe and the thread that reads its replies (no Qt here)."""

    def __init__(self, token: int, deliver):
        ctx = get_context("spawn")
        self.token, self._deliver = token, deliver
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child,), name="spinegui-gradcam", daemon=True)
        self.process.start()
        child.close()
        if hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, self.process.pid, WORKER_NICE)
            except OSError:
                pass
        self.stopping = False
        self._reader = threading.Thread(target=self._read, name="gradcam-replies", daemon=True)
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
        threading.Thread(target=self._reap, name="gradcam-reap", daemon=True).start()

    def _reap(self) -> None:
        # Only the reader waits for the process, so a process still unreaped here still owns its pid.
        self._reader.join(STOP_GRACE_S)
        if self._reader.is_alive():
            self.process.kill()


class _Resources:
    """What must go when the engine goes (also reachable from its ``destroyed`` signal)."""

    def __init__(self):
        self.worker: _Worker | None = None

    def release(self, *_args) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


class GradCamEngine(QObject):
    ready = Signal()                 # the worker has imported torch and Grad-CAM
    finished = Signal(object)        # GradCamReply (also for errors: reply.error)
    message = Signal(str)            # one line for the user: the worker failed or died
    _incoming = Signal(int, object)  # worker token, message (emitted by the reader thread)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._res = _Resources()
        self._state = "idle"         # idle, starting, ready, failed
        self._token = 0
        self._ids = itertools.count(1)
        self._waiting: GradCamRequest | None = None
        self._in_flight: GradCamRequest | None = None
        self._restart_allowed = True
        self.ready_after_s: float | None = None
        self._started_at = 0.0
        self._incoming.connect(self._on_incoming)
        self.destroyed.connect(functools.partial(_Resources.release, self._res))
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    @property
    def state(self) -> str:
        return self._state

    @property
    def pid(self) -> int | None:
        w = self._res.worker
        return w.process.pid if w is not None else None

    @property
    def busy(self) -> bool:
        return self._in_flight is not None or self._waiting is not None

    def start(self) -> None:
        """Start the worker unless it runs or starts already (again after it was given up)."""
        if self._state in ("starting", "ready"):
            return
        self._restart_allowed = True
        self._spawn()

    def _spawn(self) -> None:
        self._token += 1
        self._state = "starting"
        self._started_at = time.perf_counter()
        try:
            self._res.worker = _Worker(self._token, self._deliver)
        except Exception as exc:  # no process could be started (resources, a broken install)
            self._res.worker = None
            self._fail(f"the Grad-CAM process could not start: {type(exc).__name__}: {exc}")

    def _deliver(self, token: int, msg) -> bool:
        try:
            self._incoming.emit(token, msg)
            return True
        except RuntimeError:  # the engine's C++ object was deleted
            return False

    def stop(self) -> None:
        self._waiting = self._in_flight = None
        self._res.release()
        self._state = "idle"

    def submit(self, request: GradCamRequest) -> None:
        """Ask for one heatmap; it replaces a request still waiting. The worker starts if it must."""
        self._waiting = request
        if self._state in ("idle", "failed"):
            self.start()
        self._dispatch()

    def cancel(self) -> None:
        """Forget the waiting request (one in flight still answers; the caller drops what it no longer wants)."""
        self._waiting = None

    def _dispatch(self) -> None:
        if self._state != "ready" or self._in_flight is not None or self._waiting is None:
            return
        req, self._waiting = self._waiting, None
        req.id, req.sent = next(self._ids), time.perf_counter()
        self._in_flight = req
        self._res.worker.send(("run", req.wire()))

    def _fail(self, line: str) -> None:
        lost = [r for r in (self._in_flight, self._waiting) if r is not None]
        self._res.release()
        self._state = "failed"
        self._waiting = self._in_flight = None
        self.message.emit(line)
        for req in lost:  # the caller learns that its request will not be answered
            self.finished.emit(GradCamReply(req, error=line))

    def _on_incoming(self, token: int, msg) -> None:
        if token != self._token or self._res.worker is None:
            return  # a worker we have let go
        what = msg[0]
        if what == "ready":
            self._state = "ready"
            self.ready_after_s = time.perf_counter() - self._started_at
            self.ready.emit()
            self._dispatch()
        elif what == "result":
            self._on_result(msg[1], msg[2])
        elif what == "failed":
            self._fail(msg[1])
        elif what == "died":
            self._on_died(msg[1])
        elif what == "garbled":
            req, self._in_flight = self._in_flight, None
            if req is not None:
                self.finished.emit(GradCamReply(req, error=f"a Grad-CAM reply could not be read: {msg[1]}"))
            self._dispatch()

    def _on_result(self, rid: int, payload: dict) -> None:
        req = self._in_flight
        if req is None or req.id != rid:
            return
        self._in_flight = None
        self._restart_allowed = True
        if "error" in payload:
            reply = GradCamReply(req, error=str(payload["error"]))
        else:
            reply = GradCamReply(req, np.asarray(payload["heatmap"], np.float32), int(payload["predicted"]),
                                 np.asarray(payload["probabilities"], np.float32), int(payload["target"]),
                                 list(payload["classes"]), str(payload["model"]), float(payload["ms"]))
        try:
            self.finished.emit(reply)
        finally:
            self._dispatch()

    def _on_died(self, exitcode) -> None:
        lost, self._in_flight = self._in_flight, None
        self._res.worker = None
        if not self._restart_allowed:
            if lost is not None and self._waiting is None:
                self._waiting = lost
            self._fail(f"the Grad-CAM process stopped again (exit code {exitcode}); Grad-CAM is off until "
                       "it is asked for again")
            return
        self._restart_allowed = False
        if lost is not None and self._waiting is None:  # try it once more, unless a newer one replaced it
            self._waiting = lost
        self.message.emit(f"the Grad-CAM process stopped (exit code {exitcode}); restarting it")
        self._spawn()
