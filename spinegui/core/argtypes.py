"""argparse types for numeric options: the range is checked while parsing, so a bad value is one
`spinegui: error: argument --x: ...` line (exit 2) before any work starts. NaN and infinities are
refused; an explicit 0 is either in the range (and kept) or refused, never read as "not given"."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

SEED_MAX = 2**31 - 1   # what every seeded library here accepts (numpy refuses negatives)


def number(kind: type = int, low: float | None = None, high: float | None = None, *,
           above: float | None = None) -> Callable[[str], int | float]:
    """A type= for add_argument: `kind` (int or float) within [low, high], or > `above`."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if (low is not None and value < low) or (high is not None and value > high) or (
                above is not None and value <= above):
            raise argparse.ArgumentTypeError(f"must be {allowed(low, high, above)}, got {text}")
        return value

    parse.__name__ = kind.__name__   # argparse names the type in some of its own messages
    return parse


def allowed(low: float | None, high: float | None, above: float | None = None) -> str:
    """The range in words: "from 1 to 4096", "at least 0", "more than 0 and at most 10"."""
    lo = f"more than {_num(above)}" if above is not None else None if low is None else f"at least {_num(low)}"
    if lo and high is not None:
        return f"from {_num(low)} to {_num(high)}" if above is None else f"{lo} and at most {_num(high)}"
    return lo or (f"at most {_num(high)}" if high is not None else "a finite number")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def finite(text: str) -> float:
    return number(float)(text)


finite.__name__ = "float"
