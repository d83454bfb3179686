"""Pixel decoding backends behind ``reader.read_image``: one frame, fastest decoder per syntax.

Which backend decodes what (measured on the 2-core dev machine with a VinDr-like 2874x1443 12-bit
frame; ``tests/benchmarks/bench_decode.py`` reproduces the figures):

- JPEG 2000 (.4.90 / .4.91), one unsigned sample: Pillow's OpenJPEG, called directly, multithreaded
  through ``OPJ_NUM_THREADS`` (~0.30 s on 2 cores). pylibjpeg-openjpeg's wheel is built without
  thread support, so it stays single-threaded (~0.56 s); SimpleITK/GDCM threads too (~0.31 s). All
  three spend ~0.56 CPU-seconds in OpenJPEG's code-block decoding: on 2 cores ~0.3 s is the floor, and
  read_image only wins by having less around it. Pillow returns samples scaled up to 8 or 16 bits; they
  are shifted back, losslessly. Anything unusual (signed, several samples, size mismatch) -> pydicom.
- JPEG Lossless (.4.57 / .4.70), large grey single frames: SimpleITK/GDCM (~0.07 s vs ~0.17 s).
- JPEG Baseline (.4.50): pydicom with its Pillow plugin first (~0.01 s vs ~0.045 s for libjpeg).
- Everything else: pydicom (+ pylibjpeg plugins), which decodes only the requested frame.
- SimpleITK is also the fallback where pydicom has no decoder (or its decoder rejects a compressed
  stream: GDCM reads e.g. pydicom's JPEG-lossy.dcm that libjpeg refuses, and still refuses truncated
  JPEG 2000); its result is checked against the header (shape, frame count, dtype) before it is
  trusted. GDCM applies RescaleSlope/Intercept itself and returns MONOCHROME1 inverted (undone here).
  GDCM prints its own codec warnings to the process's stderr; SimpleITK cannot switch them off.

Before any backend runs, the size the header declares and the size the frame's own JPEG / JPEG 2000
stream declares (a decoder believes the stream) are checked against the pixel cap (``core.limits``).

Thread count: ``set_decode_threads(n)``; the default is every CPU this process may use (or the
``OPJ_NUM_THREADS`` already in the environment). A worker pool should call ``set_decode_threads(1)``
in each worker. The setting is carried to OpenJPEG through the process environment, so child processes
inherit it.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import uid as U
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame

from spinegui.core.dicom.header import check_frame_size
from spinegui.core.errors import InputError
from spinegui.core.limits import check_pixels

__all__ = ["Decoded", "DecodeError", "decode_frame", "get_decode_threads", "set_decode_threads"]

PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float, Double Float
J2K_PILLOW = frozenset({U.JPEG2000Lossless, U.JPEG2000})
JPEG_LOSSLESS = frozenset({U.JPEGLossless, U.JPEGLosslessSV1})
SITK_MIN_PIXELS = 512 * 512  # below this GDCM's ~20 ms call overhead loses to pydicom

# pip package that adds a decoder, by transfer syntax
_J2K_ALL = {U.JPEG2000Lossless, U.JPEG2000, U.HTJ2KLossless, U.HTJ2KLosslessRPCL, U.HTJ2K}
_LIBJPEG = {U.JPEGBaseline8Bit, U.JPEGExtended12Bit, U.JPEGLossless, U.JPEGLosslessSV1,
            U.JPEGLSLossless, U.JPEGLSNearLossless}
_SIZED = _J2K_ALL | _LIBJPEG  # syntaxes whose streams declare their own size (checked before decoding)


def package_for(ts: str) -> str | None:
    """The pip package whose pylibjpeg plugin decodes ``ts`` (None: no pip package does)."""
    if ts in _J2K_ALL:
        return "pylibjpeg-openjpeg"
    if ts in _LIBJPEG:
        return "pylibjpeg-libjpeg"
    if ts == U.RLELossless:
        return "pylibjpeg-rle"
    return None


class DecodeError(Exception):
    """A one-line reason the frame cannot be decoded (reader wraps it in InputError)."""


@dataclass
class Decoded:
    array: np.ndarray        # (rows, cols) or (rows, cols, samples)
    backend: str             # "pillow-openjpeg" | "pydicom" | "pydicom-pillow" | "simpleitk"
    rgb: bool = False        # samples are RGB (pydicom converts YBR_* to RGB)
    modality_applied: bool = False  # GDCM already applied RescaleSlope/Intercept


# ----------------------------------------------------------------------------------------- threads
_lock = threading.Lock()
_threads: int | None = None
_env_at_import = os.environ.get("OPJ_NUM_THREADS")


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def set_decode_threads(n: int | None) -> None:
    """Threads per decode (OpenJPEG and SimpleITK/GDCM). ``None`` or 0: every available CPU."""
    global _threads
    with _lock:
        _threads = None if not n else max(1, int(n))
        _apply_threads()


def get_decode_threads() -> int:
    if _threads is not None:
        return _threads
    if _env_at_import and _env_at_import.strip():
        if _env_at_import.strip().upper() == "ALL_CPUS":
            return _cpus()
        try:
            return max(1, int(_env_at_import))
        except ValueError:
            pass
    return _cpus()


def _apply_threads() -> None:
    n = get_decode_threads()
    # Read by OpenJPEG when each decoder is created. "0" = decode in the calling thread: with "1"
    # OpenJPEG still starts one pool thread and hands it every job, which is ~10% slower.
    value = "0" if n == 1 else str(n)
    if os.environ.get("OPJ_NUM_THREADS") != value:
        os.environ["OPJ_NUM_THREADS"] = value
    sitk = _sitk_if_loaded()
    if sitk is not None and sitk.ProcessObject_GetGlobalDefaultNumberOfThreads() != n:
        sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(n)


_sitk_module = None


def _sitk_if_loaded():
    return _sitk_module


def _sitk():
    global _sitk_module
    if _sitk_module is None:
        import SimpleITK as sitk  # ~0.1 s to import: only when needed

        sitk.ProcessObject_SetGlobalWarningDisplay(False)
        _sitk_module = sitk
        sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(get_decode_threads())
    return _sitk_module


# ----------------------------------------------------------------------------------------- helpers
def transfer_syntax(ds: Dataset) -> U.UID | None:
    """The dataset's transfer syntax; for files without File Meta, the encoding they were read in."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return U.UID(str(ts).strip())
    enc = getattr(ds, "original_encoding", (None, None))
    return {(True, True): U.ImplicitVRLittleEndian, (False, True): U.ExplicitVRLittleEndian,
            (False, False): U.ExplicitVRBigEndian}.get(tuple(enc))


def pixel_tag(ds: Dataset) -> int | None:
    return next((t for t in PIXEL_TAGS if t in ds), None)


def _is_deferred(ds: Dataset, tag: int) -> bool:
    elem = ds.get_item(tag, keep_deferred=True)
    return isinstance(elem, RawDataElement) and elem.value is None


def _int(ds: Dataset, keyword: str, default: int = 0) -> int:
    try:
        return int(ds.get(keyword, default))
    except (TypeError, ValueError):
        return default


def _simple_grey(ds: Dataset, n_frames: int) -> bool:
    """One frame, one sample, monochrome, identity rescale, no Modality LUT: GDCM output == raw."""
    slope, intercept = ds.get("RescaleSlope", 1), ds.get("RescaleIntercept", 0)
    try:
        identity = float(slope) == 1.0 and float(intercept) == 0.0
    except (TypeError, ValueError):
        identity = False
    return (n_frames == 1 and identity and "ModalityLUTSequence" not in ds
            and "PerFrameFunctionalGroupsSequence" not in ds
            and _int(ds, "SamplesPerPixel", 1) == 1
            and str(ds.get("PhotometricInterpretation", "")).strip() in ("MONOCHROME1", "MONOCHROME2"))


# ------------------------------------------------------------------------------ Pillow / OpenJPEG
def _j2k_siz(buf: bytes) -> tuple[int, int, int, int, bool] | None:
    """(columns, rows, components, precision, signed) from a raw J2K codestream's SIZ marker."""
    if len(buf) < 45 or buf[:4] != b"\xff\x4f\xff\x51":
        return None
    xs, ys, xo, yo = struct.unpack(">IIII", buf[8:24])
    (csiz,) = struct.unpack(">H", buf[40:42])
    ssiz = buf[42]
    return xs - xo, ys - yo, csiz, (ssiz & 0x7F) + 1, bool(ssiz & 0x80)


def _decode_j2k_pillow(ds: Dataset, src: bytes | None) -> np.ndarray | None:
    """Decode one JPEG 2000 grey frame (its codestream ``src``) with Pillow's (threaded) OpenJPEG;
    None = use pydicom."""
    from PIL import Image, features

    if src is None or not features.check_codec("jpg_2000"):
        return None  # no codestream: odd encapsulation, pydicom decides (and words the error)
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    if _int(ds, "SamplesPerPixel", 1) != 1 or _int(ds, "PixelRepresentation") != 0:
        return None
    if _int(ds, "BitsAllocated") not in (8, 16):
        return None
    siz = _j2k_siz(src)
    if siz is None or siz[:3] != (cols, rows, 1) or siz[4] or siz[3] > 16:
        return None
    precision = siz[3]
    try:
        with Image.open(io.BytesIO(src), formats=("JPEG2000",)) as im:
            im.load()
            mode = im.mode
            if im.size != (cols, rows) or mode not in ("L", "I;16"):
                return None
            view = np.asarray(im)  # read-only view of Pillow's buffer copy
    except Exception:
        return None  # let pydicom try (and word the error if it fails too)
    shift = (8 if mode == "L" else 16) - precision
    if shift > 0:
        return np.right_shift(view, shift)  # a new, writeable array; undoes Pillow's scaling
    return np.array(view)


# ------------------------------------------------------------------------------- declared sizes
def _frame_bytes(ds: Dataset, frame: int, n_frames: int, ts: U.UID) -> bytes | None:
    """The encapsulated bytes of one frame; None when oddly encapsulated, or left on disk (a huge
    element) and not for Pillow, which needs it in memory anyway."""
    tag = pixel_tag(ds)
    if tag != 0x7FE00010 or (_is_deferred(ds, tag) and ts not in J2K_PILLOW):
        return None
    ext = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        ext = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    try:
        return get_frame(ds.PixelData, frame, extended_offsets=ext, number_of_frames=n_frames)
    except Exception:
        return None


def _jpeg_sof(buf: bytes) -> tuple[int, int, int] | None:
    """(columns, rows, components) from a JPEG / JPEG-LS stream's frame header (SOFn / SOF55)."""
    if buf[:2] != b"\xff\xd8":
        return None
    i, end = 2, min(len(buf), 1 << 20)  # the frame header comes before any scan data
    while i + 4 <= end:
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 1 if marker == 0xFF else 2  # fill byte, or a marker without a length
            continue
        if (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7:
            if i + 10 > len(buf):
                return None
            rows, cols = struct.unpack(">HH", buf[i + 5 : i + 9])
            return cols, rows, buf[i + 9]
        if marker == 0xDA:
            return None
        i += 2 + struct.unpack(">H", buf[i + 2 : i + 4])[0]
    return None


def _stream_size(src: bytes, ts: U.UID) -> tuple[int, int, int] | None:
    """(columns, rows, components) the compressed stream itself declares (JPEG 2000 or JPEG family)."""
    if ts not in _J2K_ALL:
        return _jpeg_sof(src)
    start = src.find(b"\xff\x4f\xff\x51", 0, 1 << 20)  # raw codestream at 0; inside a JP2 box, later
    siz = _j2k_siz(src[start : start + 64]) if start >= 0 else None
    return siz[:3] if siz else None


def check_declared_size(ds: Dataset, src: bytes | None, ts: U.UID) -> None:
    """DecodeError when the header or the frame's own stream ``src`` declares more pixels than the cap.

    A stream is decoded at the size it declares, whatever the header says, so both are checked.
    """
    try:
        check_frame_size(None, ds)
    except InputError as exc:
        raise DecodeError(exc.reason) from None
    size = _stream_size(src, ts) if src is not None else None
    if size is None:
        return
    cols, rows, comps = size
    if not (0 <= cols <= 65535 and 0 <= rows <= 65535):  # no DICOM header can describe it
        raise DecodeError(f"corrupt {ts.name} data: its stream declares an impossible {cols} x {rows} image")
    try:
        check_pixels(None, rows, cols, comps)
    except InputError as exc:
        raise DecodeError(f"its compressed pixel data declares another size: {exc.reason}") from None


# --------------------------------------------------------------------------------------- pydicom
def _decode_pydicom(path: Path, ds: Dataset, frame: int, ts: U.UID, plugin: str = "") -> np.ndarray:
    from pydicom.pixels import pixel_array

    tag = pixel_tag(ds)
    if tag is not None and _is_deferred(ds, tag) and ts != U.DeflatedExplicitVRLittleEndian:
        # huge element left on disk: stream just this frame from the file
        return pixel_array(str(path), index=frame, transfer_syntax_uid=ts, decoding_plugin=plugin)
    if not getattr(ds, "file_meta", None):
        from pydicom.dataset import FileMetaDataset

        ds.file_meta = FileMetaDataset()
    if not ds.file_meta.get("TransferSyntaxUID"):
        ds.file_meta.TransferSyntaxUID = ts
    return pixel_array(ds, index=frame, decoding_plugin=plugin)


def _decode_sitk(path: Path, ds: Dataset, frame: int, n_frames: int) -> Decoded:
    """Decode with SimpleITK/GDCM (which reads every frame) and check the result against the header."""
    try:  # GDCM holds every frame at once: the cap applies to all of them together
        check_pixels(None, _int(ds, "Rows"), _int(ds, "Columns"), _int(ds, "SamplesPerPixel", 1), n_frames)
    except InputError as exc:
        raise DecodeError(f"SimpleITK would decode all {n_frames} frames at once: {exc.reason}") from None
    sitk = _sitk()
    _apply_threads()
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except Exception as exc:
        raise DecodeError(f"SimpleITK could not decode it: {_first_line(exc)}") from None
    arr = sitk.GetArrayFromImage(image)
    comps = image.GetNumberOfComponentsPerPixel()
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    shape = (rows, cols) + ((comps,) if comps > 1 else ())
    if arr.shape == (1,) + shape or arr.shape == (n_frames,) + shape:
        arr = arr[frame if arr.shape[0] == n_frames else 0]
    if arr.shape != shape or arr.dtype.kind not in "uif" or comps not in (1, 3):
        raise DecodeError(f"SimpleITK returned an implausible image {arr.shape} {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DecodeError("SimpleITK returned non-finite pixel values")
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        # GDCM hands MONOCHROME1 back inverted (as MONOCHROME2: max - v); undo it where that is exact.
        bits = _int(ds, "BitsStored")
        if arr.dtype.kind != "u" or _int(ds, "PixelRepresentation") or not _simple_grey(ds, 1) or not bits:
            raise DecodeError("SimpleITK inverts MONOCHROME1 data in a way that cannot be undone here")
        arr = np.subtract((1 << bits) - 1, arr, dtype=arr.dtype)
    return Decoded(np.ascontiguousarray(arr), "simpleitk", rgb=comps == 3, modality_applied=True)


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "exceptions were raised by all available plugins" in text and ":" in text:
        text = text.split("plugins:", 1)[-1].strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------ entry point
def decode_frame(path: Path, ds: Dataset, frame: int, n_frames: int) -> Decoded:
    """Decode frame ``frame`` of ``ds`` (read from ``path``): raw stored values, YBR converted to RGB.

    Raises DecodeError with a one-line reason.
    """
    from pydicom.pixels import get_decoder

    _apply_threads()
    ts = transfer_syntax(ds)
    if ts is None:
        raise DecodeError("no transfer syntax: the file has no File Meta Information")
    src = _frame_bytes(ds, frame, n_frames, ts) if ts in _SIZED else None
    check_declared_size(ds, src, ts)
    samples = _int(ds, "SamplesPerPixel", 1)
    if ts in J2K_PILLOW:
        arr = _decode_j2k_pillow(ds, src)
        if arr is not None:
            return Decoded(arr, "pillow-openjpeg")
    if (ts in JPEG_LOSSLESS and _simple_grey(ds, n_frames)
            and _int(ds, "Rows") * _int(ds, "Columns") >= SITK_MIN_PIXELS):
        try:
            return _decode_sitk(path, ds, frame, n_frames)
        except DecodeError:
            pass  # pydicom below words the failure

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        why = f"{ts.name} ({ts})" if ts.is_transfer_syntax else f"unknown transfer syntax {ts}"
        pkg = package_for(ts)
        try:
            return _decode_sitk(path, ds, frame, n_frames)
        except DecodeError:
            pass
        if pkg:
            raise DecodeError(f"{why} needs the pip package {pkg} (with pylibjpeg); not installed, "
                              "and SimpleITK could not decode it either")
        raise DecodeError(f"no decoder for {why} (neither pydicom nor SimpleITK can read it)")

    if ts == U.JPEGBaseline8Bit:
        try:
            return Decoded(_decode_pydicom(path, ds, frame, ts, "pillow"), "pydicom-pillow", samples == 3)
        except Exception:
            pass
    try:
        arr = _decode_pydicom(path, ds, frame, ts)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        reason = _explain(exc, ts)
        if ts.is_compressed:
            # A second opinion: GDCM tolerates some streams libjpeg rejects (and refuses truncated ones).
            try:
                return _decode_sitk(path, ds, frame, n_frames)
            except DecodeError:
                pass
        raise DecodeError(reason) from None
    return Decoded(arr, "pydicom", rgb=samples == 3)


def _explain(exc: Exception, ts: U.UID) -> str:
    msg = _first_line(exc)
    low = msg.lower()
    short = ("less than expected", "truncat", "not enough")
    if any(s in low for s in short) or ("missing" in low and "bytes" in low):
        return f"pixel data is truncated or incomplete: {msg}"
    if isinstance(exc, AttributeError) or ("required" in low and "element" in low):
        return f"incomplete image header: {msg}"
    if ts.is_compressed:
        return f"corrupt {ts.name} data: {msg}"
    return f"cannot decode the pixel data: {msg}"
