"""Run configs as TOML, written by tomli-w (tomllib only reads).

tomli-w writes plain TOML types; a run config also holds values it does not know, so they are made
plain first: None has no TOML spelling (keys whose value is None are left out, a reader gets the
default back), paths and dates become strings, numpy/torch scalars their Python value.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import tomli_w


def dumps(data: dict[str, Any]) -> str:
    return tomli_w.dumps(_plain(data))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v if x is not None]
    if isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, PurePath):
        return str(v)
    if isinstance(v, (datetime, date)):   # as text, as before: readers compare strings
        return v.isoformat()
    if hasattr(v, "item"):  # numpy / torch scalars
        return _plain(v.item())
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
