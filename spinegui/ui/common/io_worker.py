"""Small file work off the UI thread: read a run's new events, list runs, open images.

`submit(fn, callback, *args)` runs `fn(*args)` in a thread pool and calls `callback(result, error)`
in the UI thread (one queued signal per task, never per item); `error` is the one-line reason when
`fn` raised. The UI thread itself only draws what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

from spinegui.core.errors import InputError


class IoWorker(QObject):
    _done = Signal(object, object, object)  # callback, result, error line

    def __init__(self, parent: QObject | None = None, threads: int = 2):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="spinegui-io")
        self._done.connect(self._deliver)
        self.pending = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], callback: Callable[[Any, str | None], None], *args: Any) -> None:
        if self._closed:
            return
        self.pending += 1
        self._pool.submit(fn, *args).add_done_callback(lambda f: self._finished(callback, f))

    def _finished(self, callback, future: Future) -> None:  # in the pool's thread
        result, error = None, None
        try:
            result = future.result()
        except InputError as exc:
            error = str(exc)
        except Exception as exc:  # shown as one line, never a traceback
            error = " ".join(f"{type(exc).__name__}: {exc}".split())
        try:
            self._done.emit(callback, result, error)
        except RuntimeError:
            pass  # the panel is gone

    def _deliver(self, callback, result, error) -> None:
        self.pending -= 1
        if not self._closed:
            callback(result, error)

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
