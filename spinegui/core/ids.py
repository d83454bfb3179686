"""Ids are data, not paths: an id read from a file becomes part of a file name only if it is a plain one.

    problem = id_problem(row["image_id"])        # None, or why it is no plain file name
    path = folder / f"{safe_id(image_id)}.xml"   # InputError instead of a path outside `folder`

Every place that builds a path from an id (index, exports, cache, augment, GAN samples) goes through
``safe_id``, so an id that slipped past the loaders still cannot reach outside its folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from spinegui.core.errors import InputError

# Names Windows maps to devices whatever the folder or extension ("NUL.dicom" is the null device).
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
# Room for the longest suffix added to an id ("aug-<id>-<k>.dicom") under the usual 255-byte limit.
MAX_BYTES = 200
# Most ids (VinDr's are 32 hex digits) are plainly fine: letters, digits, - and _, too long to be a
# device name. One regex answers for them (the index checks every CSV row).
_PLAINLY_FINE = re.compile(rf"[0-9A-Za-z_-]{{5,{MAX_BYTES}}}")


def id_problem(value: object) -> str | None:
    """Why `value` cannot be used as a file name on its own (None when it can)."""
    if isinstance(value, str) and _PLAINLY_FINE.fullmatch(value):
        return None
    if not isinstance(value, str):
        return "not text"
    if not value:
        return "empty"
    if not value.isprintable():
        return "contains a control character"
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if not value.strip("."):
        return "only dots"
    if ":" in value:  # a drive ("C:x") or an alternate data stream on Windows
        return "contains ':'"
    if value[-1] in ". " or value[0] == " ":  # Windows drops a trailing dot or space: two ids, one file
        return "starts or ends with a space, or ends with a dot"
    if value.split(".")[0].upper() in _DEVICES:
        return "a reserved device name on Windows"
    if len(value.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return f"longer than {MAX_BYTES} bytes"
    return None


def shown(value: object, limit: int = 60) -> str:
    """`value` for a one-line message: repr (control characters escaped), long ones cut."""
    return repr(value[:limit] + "..." if isinstance(value, str) and len(value) > limit else value)


def safe_id(value: object, what: str = "image id", where: str | Path | None = None) -> str:
    """`value` when it is a plain file name; InputError naming `where` otherwise."""
    problem = id_problem(value)
    if problem:
        raise InputError(where, f"{what} {shown(value)} is not a plain file name ({problem})")
    return value  # type: ignore[return-value]
