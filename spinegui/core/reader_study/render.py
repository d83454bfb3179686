"""One rendering path for every reader-study item, real or synthetic, so that only the pixels' content
differs by origin.

    pixels, invert = read_source(path)          # DICOM (modality values) or PNG; nothing else is kept
    u8 = render(pixels, invert, size=512, detail=128)
    write_png(u8, items / "item-0001.png")      # 8-bit grey PNG: IHDR, IDAT, IEND and nothing else

The rule, the same for every item:
1. the image's own values, min to max, to [0, 1] (MONOCHROME1 inverted). A file's window tags are not
   used: GAN samples carry a full-range window that real files do not, which would tell them apart.
2. letterbox into ``detail`` x ``detail`` (aspect kept, centred on black), area resampling: how the GANs
   see real images (core/dataset/cache.py), and ``detail`` is the smallest long side among the study's
   images, so a full-resolution real image is not told from a 128-px sample by its sharpness alone.
3. window: the house's robust percentile window (0.5..99.5 %, plateaus at the extremes dropped) of the
   central half (rows and columns) of that square, applied to all of it. The centre, not the whole
   square: a portrait radiograph's black bars would otherwise pull the window of a real image (bars
   added here) differently from a GAN sample's (bars learnt, part of its pixels).
4. bicubic to ``size`` x ``size``, rounded to uint8.
Nothing is read from names, tags or text chunks here: the sampler's SYNTHETIC marks live only there (it
burns nothing into the pixels), and none of them reaches the output.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError

PNG_SUFFIX = ".png"
DICOM_SUFFIXES = (".dicom", ".dcm")
PERCENTILES = (0.5, 99.5)
RULE = ("own min..max to [0, 1] (MONOCHROME1 inverted); letterbox to detail x detail, area resampling; "
        "percentile window 0.5-99.5 % of the central half of that square; bicubic to size x size; "
        "8-bit grey PNG without metadata")


def read_source(path: Path) -> tuple[np.ndarray, bool]:
    """(2-D pixel values, invert) of a DICOM (frame 0, modality values) or a PNG (its grey values)."""
    path = Path(path)
    if path.suffix.lower() == PNG_SUFFIX:
        return _read_png(path), False
    from spinegui.core.dicom.reader import read_image

    img = read_image(path)
    return img.pixels, bool(img.invert)


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "I;16", "I;16B", "I", "F"):
                im = im.convert("L")   # colour or palette: grey, as a reader would see it
            return np.asarray(im)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(path, f"cannot read this PNG: {exc}") from None


def probe(path: Path) -> tuple[int, bool]:
    """(the image's longer side, whether the file says it is synthetic), from its header alone."""
    path = Path(path)
    if path.suffix.lower() == PNG_SUFFIX:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                text = " ".join(str(v) for v in (getattr(im, "text", {}) or {}).values())
                return max(im.size), "SYNTHETIC" in text.upper()
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise InputError(path, f"cannot read this PNG: {exc}") from None
    from spinegui.core.dicom.header import open_dataset, quiet_reader
    from spinegui.core.dicom.reader import is_synthetic

    with quiet_reader():
        ds = open_dataset(path, pixels=False)
    try:
        return max(int(ds.Rows), int(ds.Columns)), is_synthetic(ds)
    except (AttributeError, TypeError, ValueError):
        raise InputError(path, "no image size (Rows, Columns) in the header") from None


def unit_range(pixels: np.ndarray, invert: bool) -> np.ndarray:
    """Step 1: float32 [0, 1], the image's own min to max (a linear map: the window of step 3 comes out
    the same whatever the bit depth, 12-bit DICOM or 16-bit PNG); MONOCHROME1 inverted."""
    x = np.asarray(pixels, np.float64)
    finite = np.isfinite(x)
    lo, hi = (float(x[finite].min()), float(x[finite].max())) if finite.any() else (0.0, 1.0)
    x = np.where(finite, x, lo)
    x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return (1.0 - x if invert else x).astype(np.float32)


def render(pixels: np.ndarray, invert: bool, size: int, detail: int) -> np.ndarray:
    """The item's display pixels: uint8, size x size (steps 1-4 of the module's rule)."""
    from PIL import Image

    from spinegui.core.dataset.cache import letterbox
    from spinegui.core.dicom.display import percentile_window

    if pixels.ndim != 2 or min(pixels.shape) < 1:
        raise ValueError(f"expected a 2-D image, got shape {pixels.shape}")
    boxed, _ = letterbox(unit_range(pixels, invert), detail)      # uint16, black bars, area resampling
    square = boxed.astype(np.float32) / np.float32(65535.0)
    c0, c1 = detail // 4, detail - detail // 4
    w = percentile_window(square[c0:max(c1, c0 + 1), c0:max(c1, c0 + 1)], *PERCENTILES)
    lo, hi = float(w.lower), float(w.upper)
    shown = np.clip((square - np.float32(lo)) / np.float32(max(hi - lo, 1e-6)), 0.0, 1.0).astype(np.float32)
    up = Image.fromarray(shown).resize((size, size), Image.Resampling.BICUBIC)
    out = np.asarray(up, np.float32) * 255.0 + 0.5
    return np.clip(out, 0, 255).astype(np.uint8)


def png_bytes(u8: np.ndarray) -> bytes:
    """An 8-bit grey PNG holding the pixels and nothing else (no text, time, gamma or dpi chunk)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(u8, np.uint8)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def write_png(u8: np.ndarray, path: Path) -> None:
    atomic_write_bytes(path, png_bytes(u8))


def load_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L") if im.mode != "L" else im)
    except FileNotFoundError:
        raise InputError(path, "this item's rendered image is missing (the study folder is incomplete)") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(path, f"cannot read this item's image: {exc}") from None


def png_class(path: Path) -> str | None:
    """The class a `spinegui sample --format png` image carries in its provenance text chunk."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(path, f"cannot read this PNG: {exc}") from None
    try:
        prov = json.loads(text.get("spinegui-provenance", ""))
    except ValueError:
        return None
    cls = prov.get("class") if isinstance(prov, dict) else None
    return cls if isinstance(cls, str) else None
