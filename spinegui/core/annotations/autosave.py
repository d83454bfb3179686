"""A debounced background saver (a plain thread, no Qt) for state that must reach disk quickly.

The owner calls ``changed()`` after every change; the thread calls ``write()`` 0.5 s after the last
change, and at most 1 s after the first unsaved one when changes never pause, so every change is on
disk within about 1 s. A failed write (OSError / InputError) sets ``last_error``, keeps the state dirty
and is retried every 2 s. ``write`` must produce the owner's state as of the call (or newer).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from spinegui.core.errors import InputError

log = logging.getLogger(__name__)

SAVE_QUIET_S = 0.5
SAVE_MAX_S = 1.0
RETRY_S = 2.0


class Autosaver:
    def __init__(self, write: Callable[[], None], *, start: bool = True,
                 quiet_s: float = SAVE_QUIET_S, max_s: float = SAVE_MAX_S, retry_s: float = RETRY_S):
        self._write = write
        self.quiet_s, self.max_s, self.retry_s = quiet_s, max_s, retry_s
        self._cond = threading.Condition(threading.Lock())
        self._write_lock = threading.Lock()  # one writer at a time (an explicit save vs the thread)
        self._version = self._saved_version = 0
        self._first_unsaved = self._last_change = self._last_failure = 0.0
        self._last_error: str | None = None
        self._stop = False
        # Called with the error line after a save fails, and with None once saving works again; from
        # whichever thread saved (usually the autosave thread: a Qt UI must re-post to its own).
        self.listeners: list[Callable[[str | None], None]] = []
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._loop, name="autosave", daemon=True)
            self._thread.start()

    @property
    def dirty(self) -> bool:
        with self._cond:
            return self._version != self._saved_version

    @property
    def last_error(self) -> str | None:
        with self._cond:
            return self._last_error

    def changed(self) -> None:
        with self._cond:
            now = time.monotonic()
            if self._version == self._saved_version:
                self._first_unsaved = now
            self._version += 1
            self._last_change = now
            self._cond.notify_all()

    def save(self) -> None:
        """Write now if dirty. Raises InputError when the write fails (the state stays dirty)."""
        with self._write_lock:
            with self._cond:
                if self._version == self._saved_version:
                    return
                version, started = self._version, time.monotonic()
            try:
                self._write()  # outside our lock: it takes the owner's lock, which calls changed()
            except (OSError, InputError) as exc:
                msg = str(exc) if isinstance(exc, InputError) else f"cannot save: {exc.strerror or exc}"
                with self._cond:
                    fresh = self._last_error != msg
                    self._last_error, self._last_failure = msg, time.monotonic()
                if fresh:
                    self._notify(msg)
                raise exc if isinstance(exc, InputError) else InputError(None, msg) from None
            with self._cond:
                self._saved_version = version
                self._first_unsaved = started  # changes made while writing are due soon
                recovered, self._last_error = self._last_error is not None, None
        if recovered:
            self._notify(None)

    def flush(self) -> bool:
        """save() that never raises: True when everything is on disk."""
        try:
            self.save()
        except InputError:
            return False
        return not self.dirty

    def stop(self) -> None:
        """Stop the thread (after any write in progress); does not save."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _notify(self, error: str | None) -> None:
        for cb in list(self.listeners):
            try:
                cb(error)
            except Exception:
                log.exception("save listener failed")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    if self._version != self._saved_version:
                        due = min(self._last_change + self.quiet_s, self._first_unsaved + self.max_s)
                        if self._last_error is not None:
                            due = max(due, self._last_failure + self.retry_s)
                        wait = due - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stop:
                    return
            try:
                self.save()
            except InputError:
                pass  # kept in last_error; retried after retry_s
            except Exception as exc:  # never let the thread die: later changes would go unsaved
                log.exception("autosave failed")
                with self._cond:
                    self._last_error, self._last_failure = f"cannot save: {exc}", time.monotonic()
