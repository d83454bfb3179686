"""The app's side of a torch-side worker process (its loop: ``spinegui.workers.loop``).

Why a process: importing torch (~0.4 s holding the GIL in its C extension) in a thread of the app
stalled the event loop, and the app would carry torch's memory just for a preview or a heatmap. The
worker is spawned (safe beside Qt's threads, and in a frozen app); spawning is a fork/exec and a pipe,
cheap for the UI thread. The app never imports torch.

``WorkerEngine`` holds what every such client does, all on the UI thread: spawn the worker at a lower
CPU priority, read its replies in a thread and hand them over through a queued signal, send one
request at a time (ids, send times), restart a worker that died once, with a one-line message, and try
again the request it died on; a second death in a row (before any reply) gives the worker up until
``start()`` is called again. The worker goes away with the engine (its QObject is destroyed), when
the app quits, and with the app whatever the way it ends (``exit_with_parent`` in the worker).
A subclass says which worker it runs, how its requests wait, and what its replies and messages are.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal

STOP_GRACE_S = 3.0   # after "stop", a worker still alive this long is killed
WORKER_NICE = 5      # the worker's lower CPU priority: on a busy machine the event loop wins the cores


@dataclass(frozen=True)
class WorkerSpec:
    """Which worker an engine runs, and how its messages name it."""
    target: Callable          # the worker module's ``worker_main(conn)`` (spawned: a module-level function)
    name: str                 # the process is "spinegui-<name>", its threads "<name>-replies", "<name>-reap"
    what: str                 # "the <what> process stopped ..."
    off_until: str            # ends the message of a second death: "<what> is off until ..."


class _Worker:
    """One worker process, its pipe and the thread that reads its replies (no Qt here)."""

    def __init__(self, token: int, deliver, target, name: str):
        ctx = get_context("spawn")
        self.token, self._deliver, self._name = token, deliver, name
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=target, args=(child,), name=f"spinegui-{name}", daemon=True)
        self.process.start()
        child.close()
        if hasattr(os, "setpriority"):  # POSIX: from its first instruction on, the UI thread comes first
            try:
                os.setpriority(os.PRIO_PROCESS, self.process.pid, WORKER_NICE)
            except OSError:
                pass
        self.stopping = False
        self._reader = threading.Thread(target=self._read, name=f"{name}-replies", daemon=True)
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
        threading.Thread(target=self._reap, name=f"{self._name}-reap", daemon=True).start()

    def _reap(self) -> None:
        # Only the reader waits for the process (after its end of the pipe closed), so a process
        # still unreaped here still owns its pid: killing it can hit nothing else.
        self._reader.join(STOP_GRACE_S)
        if self._reader.is_alive():
            self.process.kill()


class _Resources:
    """What must go when the engine goes (also reachable from its ``destroyed`` signal): the worker,
    and a scratch folder for files handed to it."""

    def __init__(self):
        self.worker: _Worker | None = None
        self.tmp_dir: Path | None = None

    def scratch(self, prefix: str) -> Path:
        if self.tmp_dir is None:
            self.tmp_dir = Path(tempfile.mkdtemp(prefix=prefix))
            # also at exit when the engine was never deleted (rmtree of a removed folder: no-op)
            weakref.finalize(self, shutil.rmtree, str(self.tmp_dir), True)
        return self.tmp_dir

    def release_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def release(self, *_args) -> None:
        self.release_worker()
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None


class WorkerEngine(QObject):
    """Base of the clients of a worker process; a subclass declares ``worker`` and ``message`` and fills
    in the hooks."""

    ready = Signal()                 # the worker has imported what it needs
    finished = Signal(object)        # the subclass's reply
    _incoming = Signal(int, object)  # worker token, message (emitted by the reader thread)

    worker: WorkerSpec  # set by each subclass

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._res = _Resources()
        self._state = "idle"         # idle, starting, ready, failed
        self._token = 0
        self._ids = itertools.count(1)
        self._in_flight = None
        self._restart_allowed = True
        self.started_at: float | None = None
        self.ready_after_s: float | None = None   # start() to "ready", as the UI saw it
        self._incoming.connect(self._on_incoming)
        self.destroyed.connect(functools.partial(_Resources.release, self._res))
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    # --- what a subclass fills in ------------------------------------------------------------------
    def _say(self, line: str) -> None:
        """One line for the user about the worker (a failure, a restart)."""
        raise NotImplementedError

    def _next_request(self):
        """Take the next waiting request (None: none waits)."""
        raise NotImplementedError

    def _take_waiting(self) -> list:
        """Forget every waiting request; return them."""
        raise NotImplementedError

    def _requeue(self, lost) -> None:
        """The request the worker died on waits again, unless newer work replaced it."""
        raise NotImplementedError

    def _reply(self, request, payload: dict):
        """The worker's payload for ``request`` as the reply ``finished`` carries."""
        raise NotImplementedError

    def _unanswered(self, requests: list, line: str) -> None:
        """The worker was given up (``line`` said why): these requests will not be answered."""

    def _on_garbled(self, detail: str) -> None:
        """A reply could not be unpickled (the worker lives on); by default only said."""
        self._say(f"a reply of the {self.worker.what} process could not be read: {detail}")

    def _could_not_start(self, line: str) -> None:
        """No process could be spawned; by default as if it had failed to load."""
        self._give_up(line)

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
            self._res.worker = _Worker(self._token, self._deliver, self.worker.target, self.worker.name)
        except Exception as exc:  # no process could be started (resources, a broken install)
            self._res.worker = None
            self._state = "failed"
            self._could_not_start(f"the {self.worker.what} process could not start: {type(exc).__name__}: {exc}")

    def _deliver(self, token: int, msg) -> bool:
        """From the reader thread: hand a message to the UI thread. False: the engine is gone."""
        try:
            self._incoming.emit(token, msg)
            return True
        except RuntimeError:  # the engine's C++ object was deleted
            return False

    def stop(self) -> None:
        """End the worker (it exits on "stop"; killed if it does not) and forget waiting requests."""
        self._take_waiting()
        self._in_flight = None
        self._res.release()
        self._state = "idle"

    def _give_up(self, line: str) -> None:
        """No worker until ``start()``: say why; what waited or was in flight is not answered."""
        lost = [r for r in (self._in_flight, *self._take_waiting()) if r is not None]
        self._in_flight = None
        self._res.release_worker()
        self._state = "failed"
        self._say(line)
        self._unanswered(lost, line)

    # --- requests -------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        if self._state != "ready" or self._in_flight is not None:
            return
        req = self._next_request()
        if req is None:
            return
        req.id, req.sent = next(self._ids), time.perf_counter()
        self._in_flight = req
        self._res.worker.send(("run", req.wire()))  # small: images go by file name or as arrays

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
            self._give_up(msg[1])
        elif what == "died":
            self._on_died(msg[1])
        elif what == "garbled":
            self._on_garbled(msg[1])

    def _on_result(self, rid: int, payload: dict) -> None:
        req = self._in_flight
        if req is None or req.id != rid:
            return
        self._in_flight = None
        self._restart_allowed = True  # it works: a later death may restart it again
        reply = self._reply(req, payload)
        try:
            self.finished.emit(reply)
        finally:
            self._dispatch()

    def _on_died(self, exitcode) -> None:
        lost, self._in_flight = self._in_flight, None
        self._res.worker = None
        if lost is not None:
            self._requeue(lost)
        if not self._restart_allowed:
            self._give_up(f"the {self.worker.what} process stopped again (exit code {exitcode}); "
                          f"{self.worker.off_until}")
            return
        self._restart_allowed = False
        self._say(f"the {self.worker.what} process stopped (exit code {exitcode}); restarting it")
        self._spawn()
