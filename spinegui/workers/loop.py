"""The loop of a worker process spawned by the app (``spinegui.ui.common.worker_engine`` is the app's side).

A worker imports what the app must never import (torch) once, then answers one request at a time.
Protocol over one duplex ``multiprocessing.Pipe`` (pickled tuples):
  app -> worker   ("run", request)   request: a dict with an "id", the rest the worker's own
                  ("stop",)          the worker exits (so does it when the pipe closes or the app dies)
  worker -> app   ("ready", {"pid", "seconds"})        after ``load()`` returned
                  ("failed", line)                     ``load()`` raised; the worker exits
                  ("result", id, payload)              what the handler returned for request ``id``
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

Handler = Callable[[dict], dict]  # one request -> its payload; never raises (errors are {"error": line})


def serve(conn, load: Callable[[], Handler], *, failed: str) -> None:
    """Run a worker: ``load()`` once (the slow imports), then answer requests until told to stop.

    ``failed`` starts the one line the app shows when ``load()`` raises."""
    from spinegui.core.procs import exit_with_parent

    exit_with_parent()
    t0 = time.perf_counter()
    try:
        handle = load()
    except BaseException as exc:  # e.g. torch missing or broken: the app says so in one line
        send(conn, ("failed", f"{failed}: {type(exc).__name__}: {exc}"))
        return
    if not send(conn, ("ready", {"pid": os.getpid(), "seconds": time.perf_counter() - t0})):
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the app closed the pipe or is gone
            return
        if not isinstance(msg, tuple) or not msg or msg[0] == "stop":
            return
        if msg[0] == "run":
            request = msg[1]
            if not send(conn, ("result", request["id"], handle(request))):
                return


def send(conn, msg) -> bool:
    try:
        conn.send(msg)
        return True
    except (OSError, ValueError):  # the app is gone
        return False
