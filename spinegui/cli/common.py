"""What every `spinegui` command line shares: exit codes, the one-line error contract, the parser that
keeps argparse's own errors to that line, and the progress bar on stderr.

It lives in core (no Qt, no torch) so that `spinegui.cli.entry`, the `cli_*` modules and `spinegui.cli.jobs`
can all import it without importing upward. tqdm is imported only when a bar first draws.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from spinegui.core.errors import InputError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130

TTY_INTERVAL_S = 0.25   # on a terminal: a few redraws a second, not one per item
LOG_INTERVAL_S = 5.0    # in a log (stderr not a terminal): a plain line every few seconds is plenty


class Parser(argparse.ArgumentParser):
    """argparse's own errors keep the one-line shape (no usage block), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"spinegui: error: {message} (see: {self.prog} --help)\n")


def run_handler(args: argparse.Namespace, handler: Callable[[argparse.Namespace], int | None] | None = None) -> int:
    """Call the command's handler (`set_defaults(handler=...)`, or the one given): bad input is one
    line `spinegui: error: <file>: <reason>` and exit 2 (--debug raises instead); Ctrl+C exits 130."""
    try:
        return (handler or args.handler)(args) or EXIT_OK
    except InputError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"spinegui: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("spinegui: cancelled", file=sys.stderr)
        return EXIT_CANCELLED


class ProgressBar:
    """One progress line on a stream (stderr by default). On a terminal a tqdm bar, redrawn at most a
    few times a second; elsewhere (a log file, a pipe, a test's capture) tqdm's \\r redraws would make
    one endless line, so the same text goes out as a plain line every few seconds, never twice for an
    unchanged state. `say` prints a line of its own without breaking the bar."""

    def __init__(self, label: str, stream: TextIO | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self.last = 0.0
        self.state: tuple = ()
        self.printed: tuple | None = None
        self.initial: int | float | None = None
        self.closed = False
        self._bar = None   # the tqdm bar, made at the first draw (a bar that never updates prints nothing)

    def update(self, n: int | float | None, total: int | float | None, postfix: str = "",
               final: bool = False) -> None:
        total = total if isinstance(total, (int, float)) and total > 0 else None
        n = n if isinstance(n, (int, float)) else None
        if self.initial is None and n is not None:
            self.initial = n   # a resumed job starts at its step: the rate counts from there
        self.state = (n, total, postfix)
        now = time.monotonic()
        if self.closed or (not final and now - self.last < (TTY_INTERVAL_S if self.tty else LOG_INTERVAL_S)):
            return
        self.last = now
        if self.tty:
            self._draw()
            if final:
                self.close()
        elif self.state != self.printed:
            self.printed = self.state
            print(self.text(now), file=self.stream, flush=True)

    def text(self, now: float | None = None) -> str:
        from tqdm import tqdm

        n, total, postfix = self.state
        elapsed = (now or time.monotonic()) - self.t0
        if n is None:   # no count yet (only losses, say)
            return " ".join(p for p in (self.label, postfix, f"{elapsed:5.1f}s") if p)
        return tqdm.format_meter(min(n, total) if total else n, total, elapsed, ncols=100, prefix=self.label,
                                 ascii=True, postfix=postfix or None, initial=self.initial or 0)

    def say(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)   # clears the bar, prints, redraws it
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar: on a terminal its last state stays on screen and the line ends."""
        self.closed = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _draw(self) -> None:
        n, total, postfix = self.state
        if self._bar is None:
            from tqdm import tqdm

            # mininterval 0: this class throttles (tqdm's own check could drop the final redraw); made
            # with the state it shows, so its first draw is not an empty bar
            # a terminal that reports no size (0x0: a bare pty, some CI consoles) would make tqdm draw
            # nothing at all (it hides bars below the last row): assume 80x24 there
            cols, rows = _screen(self.stream)
            self._bar = tqdm(desc=self.label, total=total, initial=n or 0, postfix=postfix or None,
                             file=self.stream, mininterval=0, leave=True, dynamic_ncols=cols > 0,
                             ncols=None if cols > 0 else 80, nrows=None if rows > 0 else 24)
            self._bar.start_t = self._bar.last_print_t = time.time() - (time.monotonic() - self.t0)
            return
        self._bar.total = total
        self._bar.n = n or 0
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()


def _screen(stream: TextIO) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):   # not a real file (a test's stream)
        return 0, 0
    return size.columns, size.lines


class CountBar:
    """The `progress(done, total, item)` callback the core functions take, as a ProgressBar."""

    def __init__(self, label: str, stream: TextIO | None = None):
        self.bar = ProgressBar(label, stream)

    def __call__(self, done: int, total: int, _item: Any = "") -> None:
        self.bar.update(done, total, final=done >= total)
