"""The workspace's annotation overlay: ``<workspace>/annotations/edits.json``.

It holds only the images whose annotations differ from the dataset's, each as its whole current state
(boxes with uids, "No finding" readers, verification), so saving stays small and fast on the full
dataset. Written atomically (temp file in the same folder, fsync, rename): a crash leaves the previous
file whole, and leftover ``.edits.json.*.tmp`` files are never read.

    {"format": "spinegui-annotation-edits", "version": 1, "saved": "2026-12-01T10:00:03.120Z",
     "images": {"<image_id>": {"boxes": [{"uid": "d0", "lesion_type": "Osteophytes",
                                          "xyxy": [1.5, 2.0, 30.25, 40.0], "rad_id": "rad1",
                                          "edited_by": "rad4", "edited_at": "..."}],
                               "no_finding": ["rad2"], "verified_by": "rad4", "verified_at": "..."}}}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from spinegui.core.annotations.model import (
    AnnotatedImage,
    ImageAnnotations,
    ann_from_json,
    ann_to_json,
    original_annotations,
    utc_now,
)
from spinegui.core.dataset.vindr import VinDrIndex
from spinegui.core.dataset.workspace import WORKSPACE_FILE, Workspace, atomic_write_bytes, default_workspace_dir
from spinegui.core.errors import InputError

EDITS_FORMAT = "spinegui-annotation-edits"
EDITS_VERSION = 1


class CorruptEditsError(InputError):
    """The overlay exists but cannot be parsed (as opposed to: written by a newer version)."""


def edits_path(workspace_dir: str | Path) -> Path:
    return Path(workspace_dir) / "annotations" / "edits.json"


def encode_edits(edits: dict[str, ImageAnnotations]) -> bytes:
    doc = {"format": EDITS_FORMAT, "version": EDITS_VERSION, "saved": utc_now(),
           "images": {k: ann_to_json(v) for k, v in edits.items()}}
    # One image per line: small diffs, and a human can still read a damaged file.
    # allow_nan=False: a NaN would be written as bare `NaN`, which no other JSON reader accepts.
    lines = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'), allow_nan=False)}"
             for k, v in doc["images"].items()]
    head = json.dumps({k: doc[k] for k in ("format", "version", "saved")})[:-1]
    body = ",\n".join(lines)
    return f'{head}, "images": {{\n{body}\n}}}}\n'.encode()


def write_edits(path: Path, edits: dict[str, ImageAnnotations]) -> None:
    atomic_write_bytes(path, encode_edits(edits))


def read_edits(path: Path) -> dict[str, ImageAnnotations]:
    """The overlay's images; {} when there is none. Raises CorruptEditsError / InputError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(path, f"cannot read annotation edits: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != EDITS_FORMAT:
            raise ValueError("not a spinegui annotation edits file")
        version = doc.get("version")
        if not isinstance(version, int):
            raise ValueError("no format version")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise CorruptEditsError(path, f"corrupt annotation edits file: {reason}") from None
    if version > EDITS_VERSION:
        raise InputError(path, f"annotation edits written by a newer spinegui (format {version}, "
                               f"this one reads {EDITS_VERSION}); upgrade spinegui")
    try:
        images = doc["images"]
        if not isinstance(images, dict):
            raise ValueError("'images' is not an object")
        return {str(k): ann_from_json(v) for k, v in images.items()}
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError, InputError) as exc:
        reason = exc.reason if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        raise CorruptEditsError(path, f"corrupt annotation edits file: {reason}") from None


def move_aside(path: Path) -> Path:
    """Rename a corrupt overlay to ``edits.json.corrupt-<timestamp>`` so that nothing overwrites it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        path.rename(target)
    except OSError as exc:
        raise InputError(path, f"corrupt annotation edits file, and it cannot be moved aside "
                               f"({exc.strerror or exc}); move or delete it by hand") from None
    return target


def current_annotations(index: VinDrIndex, workspace_dir: str | Path | None = None) -> list[AnnotatedImage]:
    """Every image's current annotations (the workspace's edits over the dataset's), read-only.

    Creates nothing: a workspace that does not exist yet simply has no edits. Used by `export`.
    """
    ws_dir = Path(workspace_dir).expanduser() if workspace_dir else default_workspace_dir(index.root)
    if workspace_dir and not ws_dir.is_dir():
        raise InputError(ws_dir, "no such workspace folder")
    if (ws_dir / WORKSPACE_FILE).exists():
        Workspace.for_dataset(index.root, ws_dir)  # only reads: checks it belongs to this dataset
    edits = read_edits(edits_path(ws_dir)) if ws_dir.is_dir() else {}
    return [
        AnnotatedImage(r.image_id, r.study_id, r.series_id, r.split,
                       edits.get(r.image_id) or original_annotations(r))
        for r in index.images.values()
    ]
