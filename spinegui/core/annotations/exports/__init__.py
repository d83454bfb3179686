"""Export and import annotations: VinDr CSV, COCO JSON, Pascal VOC XML, YOLO txt (no Qt).

    images = store.snapshot()                       # or overlay.current_annotations(index, ws)
    sizes, failures = image_sizes(index, ws.cache_dir)
    report = export_annotations(images, "coco", out_dir, sizes)
    again = import_annotations("coco", out_dir)    # the same images, boxes, labels, readers

Each format round-trips: ids, boxes (label, xyxy to well under 1e-3 px, reader, editor), "No finding"
readers and verification come back; box uids are renumbered (d0, d1, ... per image, in file order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from spinegui.core import outdir
from spinegui.core.annotations.exports import coco, vindr_csv, voc, yolo
from spinegui.core.annotations.exports.common import by_split, require_sizes
from spinegui.core.annotations.exports.sizes import header_size, image_sizes
from spinegui.core.annotations.model import AnnotatedImage
from spinegui.core.annotations.overlay import current_annotations
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dataset.workspace import default_workspace_dir
from spinegui.core.errors import InputError

__all__ = ["FORMATS", "ExportReport", "export_annotations", "export_workspace", "header_size",
           "image_sizes", "import_annotations", "needs_sizes", "prepare_out_dir"]

FORMATS = ("vindr", "coco", "voc", "yolo")
_MODULES = {"vindr": vindr_csv, "coco": coco, "voc": voc, "yolo": yolo}
OUTPUT_KIND = "export"      # what core/outdir.py's list in the output folder names


@dataclass
class ExportReport:
    format: str
    out_dir: Path
    images: int
    boxes: int
    no_finding_images: int  # images without boxes
    files: int


def needs_sizes(fmt: str) -> bool:
    return _check_format(fmt) != "vindr"


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(None, f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return fmt


def prepare_out_dir(out_dir: str | Path, dataset_root: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Create `out_dir` (or accept it empty; with `overwrite`, replace an earlier export there) by the
    rule of spinegui/core/outdir.py. InputError when it is unusable: not a folder, not empty, not
    writable, inside the dataset (which the program never writes), the home folder..."""
    return outdir.prepare(out_dir, OUTPUT_KIND, overwrite=overwrite, dataset=dataset_root)


def export_annotations(images: Iterable[AnnotatedImage], fmt: str, out_dir: str | Path,
                       sizes: dict[str, tuple[int, int]] | None = None, *,
                       provenance: bool = False, overwrite: bool = False,
                       dataset_root: str | Path | None = None) -> ExportReport:
    """Write `images` in `fmt` into a new or empty `out_dir` (with `overwrite`: in place of an
    earlier export). COCO, VOC and YOLO need every image's (rows, cols) in `sizes`. `provenance` adds
    editor/verification columns to a VinDr CSV (the other formats always carry them)."""
    _check_format(fmt)
    images = list(images)
    if fmt != "vindr":
        require_sizes(images, sizes, fmt)
    by_split(images)   # an id or split that is no plain file name is refused before the folder is made
    out = prepare_out_dir(out_dir, dataset_root, overwrite=overwrite)
    try:
        if fmt == "vindr":
            files = vindr_csv.write(images, out, provenance)
        else:
            files = _MODULES[fmt].write(images, out, sizes)
    except OSError as exc:
        raise InputError(getattr(exc, "filename", None) or out, f"cannot write: {exc.strerror or exc}") from None
    finally:
        outdir.seal(out, OUTPUT_KIND)   # even after a failure: what was written is listed, for --overwrite
    return ExportReport(fmt, out, len(images), sum(len(im.ann.boxes) for im in images),
                        sum(1 for im in images if not im.ann.boxes), len(files))


def import_annotations(fmt: str, folder: str | Path) -> list[AnnotatedImage]:
    """Read back an export (in file order). InputError names the file and line that is unusable."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    return _MODULES[_check_format(fmt)].read(folder)


def export_workspace(root: str | Path, fmt: str, out_dir: str | Path, workspace_dir: str | Path | None = None,
                     *, provenance: bool = False, overwrite: bool = False,
                     progress: Callable[[int, int, str], None] | None = None) -> ExportReport:
    """The `spinegui export` command: the workspace's current annotations (the dataset's own where
    nothing was edited). Image sizes come from the workspace cache, else from the DICOM headers."""
    _check_format(fmt)
    index = load_index(root)
    outdir.check(out_dir, OUTPUT_KIND, overwrite=overwrite, dataset=index.root)  # fail before any slow work
    images = current_annotations(index, workspace_dir)
    sizes = None
    if needs_sizes(fmt):
        ws_dir = Path(workspace_dir).expanduser() if workspace_dir else default_workspace_dir(index.root)
        sizes, failures = image_sizes(index, ws_dir / "cache", progress=progress)
        if failures:
            image_id, reason = next(iter(failures.items()))
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise InputError(index.images[image_id].path, f"cannot read the image size: {reason}{more}; "
                                                          f"{fmt} needs it")
    return export_annotations(images, fmt, out_dir, sizes, provenance=provenance, overwrite=overwrite,
                              dataset_root=index.root)
