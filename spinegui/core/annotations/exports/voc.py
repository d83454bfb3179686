"""Pascal VOC XML: ``Annotations/<image_id>.xml`` per image, ``ImageSets/Main/<split>.txt`` per split.

Coordinates are written as they are in VinDr (float pixels, 0-based, xyxy) with 4 decimals; VOC's own
images used 1-based integer pixel indices, so a tool that subtracts 1 on reading will shift boxes by
one pixel. Extra elements carry what VOC has no place for: ``<source>`` holds the study/series ids and
split, each ``<object>`` its ``<rad_id>`` (and ``<edited_by>``/``<edited_at>``), and the annotation
its ``<no_finding>`` readers and ``<verified_by>``/``<verified_at>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from spinegui.core.annotations.exports.common import box_meta, by_split, image_meta, make_box, make_image, num
from spinegui.core.annotations.model import AnnotatedImage
from spinegui.core.dataset.vindr import IMAGE_SUFFIX, SPLITS
from spinegui.core.errors import InputError
from spinegui.core.ids import id_problem, safe_id, shown


def _sub(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def write(images: list[AnnotatedImage], out: Path, sizes: dict[str, tuple[int, int]]) -> list[Path]:
    groups = by_split(images)  # checks every id before the first folder is made
    ann_dir, sets_dir = out / "Annotations", out / "ImageSets" / "Main"
    ann_dir.mkdir(parents=True, exist_ok=True)
    sets_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split, ims in groups.items():
        for im in ims:
            path = ann_dir / f"{safe_id(im.image_id)}.xml"
            ET.ElementTree(_element(im, sizes[im.image_id])).write(path, encoding="utf-8", xml_declaration=True)
            written.append(path)
        ids = sets_dir / f"{split}.txt"
        ids.write_text("".join(f"{im.image_id}\n" for im in ims), encoding="utf-8")
        written.append(ids)
    return written


def _element(im: AnnotatedImage, size: tuple[int, int]) -> ET.Element:
    meta = image_meta(im)
    root = ET.Element("annotation")
    _sub(root, "folder", f"{im.split}_images")
    _sub(root, "filename", f"{im.image_id}{IMAGE_SUFFIX}")
    source = _sub(root, "source")
    _sub(source, "database", "VinDr-SpineXR")
    for key in ("study_id", "series_id", "split"):
        _sub(source, key, meta[key])
    el = _sub(root, "size")
    _sub(el, "width", size[1])
    _sub(el, "height", size[0])
    _sub(el, "depth", 1)
    _sub(root, "segmented", 0)
    for reader in meta["no_finding"]:
        _sub(root, "no_finding", reader)
    for key in ("verified_by", "verified_at"):
        if key in meta:
            _sub(root, key, meta[key])
    for b in im.ann.boxes:
        obj = _sub(root, "object")
        _sub(obj, "name", b.lesion_type)
        _sub(obj, "pose", "Unspecified")
        _sub(obj, "truncated", 0)
        _sub(obj, "difficult", 0)
        bb = _sub(obj, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), b.xyxy):
            _sub(bb, tag, num(v))
        for key, value in box_meta(b).items():
            _sub(obj, key, value)
    ET.indent(root)
    return root


def read(folder: Path) -> list[AnnotatedImage]:
    ann_dir = folder / "Annotations"
    if not ann_dir.is_dir():
        raise InputError(folder, "no Annotations/ folder here (Pascal VOC)")
    order: list[Path] = []
    for split in SPLITS:  # the split lists give the export's order
        ids = folder / "ImageSets" / "Main" / f"{split}.txt"
        if ids.exists():
            order += [ann_dir / f"{_listed_id(ids, n, line)}.xml"
                      for n, line in enumerate(ids.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    listed = set(order)
    order += [p for p in sorted(ann_dir.glob("*.xml")) if p not in listed]
    return [_read_xml(p) for p in order]


def _listed_id(ids: Path, line_no: int, line: str) -> str:
    """An id from a split list: read as a file name in Annotations/, so it must be a plain one."""
    image_id = line.strip()
    problem = id_problem(image_id)
    if problem:
        raise InputError(ids, f"line {line_no}: image id {shown(image_id)} is not a plain file name ({problem})")
    return image_id


def _read_xml(path: Path) -> AnnotatedImage:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(path, f"not a usable VOC file: {exc}") from None
    text = lambda el, tag: (el.findtext(tag) or "").strip()  # noqa: E731
    source = root.find("source")
    meta = {k: text(source, k) for k in ("study_id", "series_id", "split")} if source is not None else {}
    meta["no_finding"] = [(el.text or "").strip() for el in root.findall("no_finding")]
    meta["verified_by"], meta["verified_at"] = text(root, "verified_by"), text(root, "verified_at")
    boxes = []
    for obj in root.findall("object"):
        bb = obj.find("bndbox")
        coords = [text(bb, t) for t in ("xmin", "ymin", "xmax", "ymax")] if bb is not None else None
        box_info = {k: text(obj, k) for k in ("rad_id", "edited_by", "edited_at")}
        boxes.append(make_box(path, text(obj, "name"), coords, box_info))
    filename = text(root, "filename")
    if filename:
        safe_id(filename, "filename", where=path)  # a file beside the others, never a path
    return make_image(Path(filename).stem or path.stem, meta, boxes, where=path)
