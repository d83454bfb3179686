"""Read one DICOM image (one frame) into modality values plus its default display window.

    img = read_image("x.dicom")          # DicomImage; raises InputError only
    rgb01 = img.display()                # float32 [0, 1], VOI + MONOCHROME1 inversion applied
    u8 = img.display_u8(Window(2000, 4000, "user"))
    info = read_header("x.dicom")        # {"SOP class": ..., "Patient name": "(hidden)", ...}

What ``pixels`` holds:
- grey images: *modality values* (Modality LUT Sequence, else RescaleSlope/Intercept, applied); dtype
  uint16 where that is lossless (VinDr: the decoder's own array, no copy), int32 for signed or negative
  integer results, float32 otherwise (fractional rescale, float pixel data);
- colour images (RGB, YBR_*; and PALETTE COLOR after its palette): luminance
  Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, the weights DICOM's YBR_FULL uses), rounded to uint16.
  No Modality LUT or VOI applies to colour; their window is a percentile window.

Default window: WindowCenter/WindowWidth (first value; also from Enhanced-IOD functional groups) >
VOI LUT Sequence (kept in ``voi_lut``; ``display()`` applies it) > ``percentile_window``.

Frames larger than the pixel cap (``SPINEGUI_MAX_PIXELS``, see ``core.limits``) are refused from the
header, before any decoding. Only the requested frame is decoded (see ``dicom_decode`` for backends,
speed and threads). pydicom's "Invalid value for VR UI" warnings (VinDr's UIDs are hex) and any other
library warning are silenced inside the reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinegui.core.dicom.decode import (
    DecodeError,
    decode_frame,
    get_decode_threads,
    pixel_tag,
    set_decode_threads,
    transfer_syntax,
)
from spinegui.core.dicom.display import (
    VoiLut,
    Window,
    apply_window,
    percentile_window,
    to_uint8,
    voi_lut_window,
)
from spinegui.core.dicom.header import (
    check_frame_size,
    first_float,
    functional_value,
    header_summary,
    open_dataset,
    quiet_reader,
    short_message,
    sop_class_name,
)
from spinegui.core.errors import InputError

__all__ = [
    "DicomImage",
    "get_decode_threads",
    "read_header",
    "read_image",
    "set_decode_threads",
]

_NOT_IMAGES = ("SR", "Plan", "Structure Set", "Waveform", "Presentation State", "Directory", "Report",
               "Key Object", "Registration", "Record", "Encapsulated", "Treatment", "Raw Data")


@dataclass(eq=False)
class DicomImage:
    path: Path
    pixels: np.ndarray
    window: Window
    invert: bool
    pixel_spacing: tuple[float, float] | None
    bits_stored: int
    photometric: str
    transfer_syntax: str
    n_frames: int
    frame: int
    converted_from_colour: bool
    voi_lut: VoiLut | None = None       # VOI LUT Sequence (first item), whether or not it is the default
    windows: tuple[Window, ...] = ()     # every window preset in the file (the first is ``window``)
    decoder: str = ""                    # backend that decoded it (for diagnostics and benchmarks)
    sop_class: str = ""
    synthetic: bool = False              # the file says it is synthetic/derived: shown with a badge

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape  # type: ignore[return-value]

    def display(self, window: Window | None = None) -> np.ndarray:
        """float32 [0, 1]: ``window`` (or the default VOI: window tags or VOI LUT), then inversion."""
        if window is None:
            if self.window.source == "voi-lut" and self.voi_lut is not None:
                return self.voi_lut.apply(self.pixels, invert=self.invert)
            window = self.window
        return apply_window(self.pixels, window, invert=self.invert)

    def display_u8(self, window: Window | None = None) -> np.ndarray:
        return to_uint8(self.display(window))


def read_image(path: str | Path, frame: int = 0) -> DicomImage:
    """Decode frame ``frame`` of the DICOM file at ``path``. Raises ``InputError`` and nothing else."""
    p = Path(path)
    try:
        with quiet_reader():
            return _read_image(p, frame)
    except InputError:
        raise
    except MemoryError:
        raise InputError(p, "not enough memory to decode this image") from None
    except RecursionError:
        raise InputError(p, "malformed DICOM file (nesting too deep)") from None
    except Exception as exc:  # the boundary: nothing else may escape
        raise InputError(p, f"cannot read this file: {type(exc).__name__}: {short_message(exc)}") from None


def read_header(path: str | Path, show_identifying: bool = False) -> dict[str, str]:
    """A human-readable summary of the header; patient-identifying values read "(hidden)" unless asked.

    Works for any DICOM object (images, reports, plans). Raises ``InputError`` and nothing else.
    """
    p = Path(path)
    try:
        with quiet_reader():
            ds = open_dataset(p, pixels=False)
            return header_summary(p, ds, show_identifying)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(p, f"cannot read this header: {type(exc).__name__}: {short_message(exc)}") from None


# ------------------------------------------------------------------------------------------ internals
def _read_image(path: Path, frame: int) -> DicomImage:
    ds = open_dataset(path, pixels=True)
    if pixel_tag(ds) is None:
        name = sop_class_name(ds)
        if name and any(word in name for word in _NOT_IMAGES):
            raise InputError(path, f"not an image: a {name} object has no pixel data")
        raise InputError(path, "no pixel data in this DICOM file" + (f" ({name})" if name else ""))
    rows, cols = _get_int(ds, "Rows"), _get_int(ds, "Columns")
    if not rows or not cols:
        raise InputError(path, "incomplete image header: Rows/Columns missing or zero")
    check_frame_size(path, ds)  # before any decoder sizes a buffer from these numbers
    n_frames = _frames(ds, path)
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
        raise InputError(path, f"frame must be an integer, got {frame!r}")
    if not 0 <= frame < n_frames:
        raise InputError(path, f"frame {frame} is out of range: the file has {n_frames} frame(s)")
    frame = int(frame)
    ts = transfer_syntax(ds)
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    try:
        dec = decode_frame(path, ds, frame, n_frames)
    except DecodeError as exc:
        raise InputError(path, str(exc)) from None
    arr = dec.array
    colour = False
    if photometric == "PALETTE COLOR" and arr.ndim == 2 and not dec.modality_applied:
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
    if arr.ndim == 3:
        arr, colour = _luminance(arr), True
    if arr.ndim != 2 or arr.shape != (rows, cols):
        raise InputError(path, f"decoded pixel array has shape {arr.shape}, header says {rows}x{cols}")
    if not colour and not dec.modality_applied:
        arr = _modality(arr, ds, frame)
    arr = _normalise_dtype(arr)

    windows: tuple[Window, ...] = () if colour else _tag_windows(ds, frame)
    voi = None if colour else _voi_lut(ds)
    if windows:
        window = windows[0]
    elif voi is not None:
        window = voi_lut_window(voi.table, voi.first_mapped)
    else:
        window = percentile_window(arr)
    return DicomImage(
        path=path,
        pixels=arr,
        window=window,
        invert=photometric == "MONOCHROME1",
        pixel_spacing=_spacing(ds, frame),
        bits_stored=_get_int(ds, "BitsStored") or _get_int(ds, "BitsAllocated"),
        photometric=photometric,
        transfer_syntax=str(ts) if ts else "",
        n_frames=n_frames,
        frame=frame,
        converted_from_colour=colour,
        voi_lut=voi,
        windows=windows,
        decoder=dec.backend,
        sop_class=sop_class_name(ds),
        synthetic=is_synthetic(ds),
    )


def is_synthetic(ds) -> bool:
    """True when the file declares itself synthetic (our demo, augmentation and GAN outputs all do,
    in SeriesDescription / DerivationDescription / ImageType)."""
    words = [str(ds.get(k, "") or "") for k in ("SeriesDescription", "DerivationDescription")]
    words += [str(v) for v in (ds.get("ImageType") or [])]
    return any("SYNTHETIC" in w.upper() for w in words)


def _get_int(ds, keyword: str, default: int = 0) -> int:
    try:
        value = ds.get(keyword, default)
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _frames(ds, path: Path) -> int:
    value = ds.get("NumberOfFrames", 1)
    if value in (None, ""):
        return 1
    try:
        n = int(float(str(value).strip()))
    except ValueError:
        raise InputError(path, f"invalid Number of Frames {str(value)!r}") from None
    if n < 1:
        raise InputError(path, f"the file says it has {n} frames")
    return n


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of the first three samples: rounded to uint16 for 8/16-bit input, else float32."""
    x = rgb[..., :3]
    y = x[..., 0].astype(np.float32)
    y *= np.float32(0.299)
    y += x[..., 1] * np.float32(0.587)
    y += x[..., 2] * np.float32(0.114)
    if x.dtype.kind in "ui" and x.dtype.itemsize <= 2:
        np.rint(y, out=y)
        np.clip(y, 0, 65535, out=y)
        return y.astype(np.uint16)
    return y


def _modality(arr: np.ndarray, ds, frame: int) -> np.ndarray:
    """Modality LUT Sequence, else rescale; integer arithmetic where the result stays integral."""
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut

        return apply_modality_lut(arr, ds)
    slope = first_float(functional_value(ds, frame, "PixelValueTransformationSequence", "RescaleSlope"))
    intercept = first_float(
        functional_value(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept"))
    slope = 1.0 if slope is None or slope == 0.0 or not math.isfinite(slope) else slope
    intercept = 0.0 if intercept is None or not math.isfinite(intercept) else intercept
    if slope == 1.0 and intercept == 0.0:
        return arr
    if arr.dtype.kind in "ui" and slope.is_integer() and intercept.is_integer():
        lo, hi = int(arr.min()), int(arr.max())
        ends = (lo * slope + intercept, hi * slope + intercept)
        if min(ends) >= -(2**31) and max(ends) < 2**31:
            out = arr.astype(np.int64 if arr.dtype.itemsize >= 4 else np.int32)
            if slope != 1.0:
                out *= int(slope)
            out += int(intercept)
            return out.astype(np.int32, copy=False)
    out = arr.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    out += np.float32(intercept)
    return out


def _normalise_dtype(arr: np.ndarray) -> np.ndarray:
    """uint16 where lossless, int32 for signed/negative integers, float32 for the rest."""
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "b":
        return arr.astype(np.uint16)
    if kind == "u":
        if size <= 2:
            return arr if arr.dtype == np.uint16 and arr.dtype.isnative else arr.astype(np.uint16)
        top = int(arr.max()) if arr.size else 0
        if top <= 65535:
            return arr.astype(np.uint16)
        return arr.astype(np.int32) if top < 2**31 else arr.astype(np.float32)
    if kind == "i":
        lo = int(arr.min()) if arr.size else 0
        hi = int(arr.max()) if arr.size else 0
        if lo >= 0 and hi <= 65535:
            return arr.astype(np.uint16)
        if -(2**31) <= lo and hi < 2**31:
            return arr if arr.dtype == np.int32 and arr.dtype.isnative else arr.astype(np.int32)
        return arr.astype(np.float32)
    return arr if arr.dtype == np.float32 and arr.dtype.isnative else arr.astype(np.float32)


def _tag_windows(ds, frame: int) -> tuple[Window, ...]:
    centers = functional_value(ds, frame, "FrameVOILUTSequence", "WindowCenter")
    widths = functional_value(ds, frame, "FrameVOILUTSequence", "WindowWidth")
    function = functional_value(ds, frame, "FrameVOILUTSequence", "VOILUTFunction")
    function = str(function or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    cs = _floats(centers)
    ws = _floats(widths)
    out = []
    for c, w in zip(cs, ws):
        win = Window(c, w, "dicom", function)
        if win.is_sane():
            out.append(win)
    return tuple(out)


def _floats(value) -> list[float]:
    if value is None:
        return []
    items = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(
        value, (str, bytes)) else [value]
    out = []
    for v in items:
        f = first_float(v)
        if f is not None and math.isfinite(f):
            out.append(f)
    return out


def _voi_lut(ds) -> VoiLut | None:
    seq = ds.get("VOILUTSequence")
    if not seq:
        return None
    try:
        from pydicom.pixels import apply_voi_lut

        item = seq[0]
        desc = [int(v) for v in item.LUTDescriptor]
        n = desc[0] or 65536
        first, bits = desc[1], desc[2]
        if _get_int(ds, "PixelRepresentation") == 1 and first >= 2**15:
            first -= 2**16
        domain = np.arange(first, first + n, dtype=np.int64)
        table = np.asarray(apply_voi_lut(domain, ds, index=0, prefer_lut=True))
        if table.shape != (n,):
            return None
        return VoiLut(table, first, bits, str(item.get("LUTExplanation", "") or ""))
    except Exception:
        return None  # a broken VOI LUT is not worth refusing the image for: fall back to a window


def _spacing(ds, frame: int) -> tuple[float, float] | None:
    for value in (ds.get("PixelSpacing"), ds.get("ImagerPixelSpacing"),
                  functional_value(ds, frame, "PixelMeasuresSequence", "PixelSpacing")):
        vals = _floats(value)
        if len(vals) >= 2 and vals[0] > 0 and vals[1] > 0:
            return (vals[0], vals[1])
    return None
