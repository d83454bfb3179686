"""Size caps, checked before the work that would allocate: pixels a DICOM declares, bytes of a config
file or sidecar, counts asked for on the command line.

A file's header can declare any size (a 1 KB JPEG 2000 file can say 65535 x 65535); the decoders
believe it and reserve the memory first. The caps refuse such files with one line, before any decoder,
buffer or parser runs.

- Pixels: ``SPINEGUI_MAX_PIXELS`` (environment variable; default 100 million values per frame, about
  6 times the most any VinDr image can have, see docs/VINDR.md) raises or lowers the cap.
  Rows x Columns x Samples per pixel count.
- Text files a user can point at (TOML configs, JSON sidecars): at most ``MAX_TEXT_BYTES``, regular
  files only (``/dev/zero`` or a FIFO would be read forever), nesting bounded.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from spinegui.core.errors import InputError

MAX_PIXELS_ENV = "SPINEGUI_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000
MAX_TEXT_BYTES = 1 << 20  # configs and sidecars are a few KB; 1 MiB leaves room for long comments


# --- pixels ------------------------------------------------------------------------------------------
def max_pixels() -> int:
    """The cap on values per decoded frame: ``SPINEGUI_MAX_PIXELS`` or the default (read each time, so
    worker processes and tests see the current setting)."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(None, f"{MAX_PIXELS_ENV} must be a whole number of pixels (at least 1), got {raw!r}")
    return value


def check_pixels(path: str | Path | None, rows: int, cols: int, samples: int = 1, frames: int = 1) -> None:
    """Refuse a frame (or ``frames`` frames decoded together) larger than the cap, from header numbers."""
    limit = max_pixels()
    samples, frames = max(1, samples), max(1, frames)
    total = rows * cols * samples * frames
    if total <= limit:
        return
    what = f"{cols} x {rows}" + (f" x {samples} samples" if samples > 1 else "") + (
        f" x {frames} frames" if frames > 1 else "")
    raise InputError(path, f"image too large: {what} = {total:,} pixels, above the limit of {limit:,} "
                           f"(set {MAX_PIXELS_ENV} to raise it)")


# --- small text files ------------------------------------------------------------------------------
def read_small_text(path: str | Path, max_bytes: int = MAX_TEXT_BYTES, what: str = "file") -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``.

    Raises InputError for a non-regular or oversized file; OSError (FileNotFoundError included) and
    UnicodeDecodeError pass through for the caller to word.
    """
    path = Path(path)
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, f"is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, f"not a regular file; a {what} must be one")
    # O_NONBLOCK: a FIFO swapped in after the stat must not block the open.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(path, f"not a regular file; a {what} must be one")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(path, f"{what} too large: over {max_bytes // 1024:,} KiB (a real one is a few KB)")
    return data.decode("utf-8")


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file through ``read_small_text``; syntax errors and deep nesting become InputError.

    FileNotFoundError passes through (callers say what was missing); other OSErrors become InputError.
    """
    return _read_parsed(path, what, tomllib.loads, "not valid TOML")


def read_json(path: str | Path, what: str = "file") -> Any:
    """A JSON file through ``read_small_text``; as ``read_toml`` for errors."""
    return _read_parsed(path, what, json.loads, f"{what} is not valid JSON")


def _read_parsed(path: str | Path, what: str, parse, syntax: str) -> Any:
    path = Path(path)
    try:
        return parse(read_small_text(path, what=what))
    except FileNotFoundError:
        raise
    except UnicodeDecodeError:   # (a ValueError too: before the syntax errors)
        raise InputError(path, f"{what} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(path, f"cannot read this {what}: {exc.strerror or exc}") from None
    except ValueError as exc:    # tomllib.TOMLDecodeError and json.JSONDecodeError
        raise InputError(path, f"{syntax}: {exc}") from None
    except RecursionError:
        raise InputError(path, f"{what} nested too deeply to be a real one") from None


# --- counts ------------------------------------------------------------------------------------------
def check_count(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in low..high, else an InputError stating the range."""
    if isinstance(value, bool) or not hasattr(value, "__index__") or not low <= int(value) <= high:
        raise InputError(None, f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return int(value)
