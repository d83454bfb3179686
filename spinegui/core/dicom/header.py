"""Opening DICOM files safely and summarising their headers (used by ``reader``).

``open_dataset`` turns every way a file can be unusable (missing, a directory, empty, not DICOM,
truncated header) into ``InputError`` with one line. ``header_summary`` is the human-readable header
that ``read_header`` returns; values of patient-identifying attributes (after the DICOM PS3.15 Basic
Application Level Confidentiality Profile, Table E.1-1: names, ids, dates and times, ages, sex,
institution, physicians, operators, descriptions, station and device serial) read "(hidden)".
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from spinegui.core.errors import InputError
from spinegui.core.limits import check_pixels

HIDDEN = "(hidden)"
DEFER_BYTES = 64 * 1024 * 1024  # element values above this stay on disk until asked for

# Tags a real DICOM dataset has at least one of (used to accept files without the "DICM" preamble).
_PLAUSIBLE = (0x00080016, 0x00080018, 0x00080060, 0x00280010, 0x7FE00010, 0x00100010, 0x0020000D,
              0x0020000E, 0x00080005, 0x00080020, 0x00041220, 0x300A0002, 0x30060002)

IDENTIFYING: tuple[tuple[str, str], ...] = (
    ("Patient name", "PatientName"),
    ("Patient ID", "PatientID"),
    ("Other patient IDs", "OtherPatientIDs"),
    ("Other patient names", "OtherPatientNames"),
    ("Birth date", "PatientBirthDate"),
    ("Birth time", "PatientBirthTime"),
    ("Sex", "PatientSex"),
    ("Age", "PatientAge"),
    ("Patient size", "PatientSize"),
    ("Patient weight", "PatientWeight"),
    ("Patient address", "PatientAddress"),
    ("Patient comments", "PatientComments"),
    ("Ethnic group", "EthnicGroup"),
    ("Institution", "InstitutionName"),
    ("Institution address", "InstitutionAddress"),
    ("Department", "InstitutionalDepartmentName"),
    ("Referring physician", "ReferringPhysicianName"),
    ("Performing physician", "PerformingPhysicianName"),
    ("Physicians of record", "PhysiciansOfRecord"),
    ("Requesting physician", "RequestingPhysician"),
    ("Operators", "OperatorsName"),
    ("Accession number", "AccessionNumber"),
    ("Study ID", "StudyID"),
    ("Study date", "StudyDate"),
    ("Study time", "StudyTime"),
    ("Series date", "SeriesDate"),
    ("Series time", "SeriesTime"),
    ("Acquisition date", "AcquisitionDate"),
    ("Acquisition time", "AcquisitionTime"),
    ("Acquisition date-time", "AcquisitionDateTime"),
    ("Content date", "ContentDate"),
    ("Content time", "ContentTime"),
    ("Study description", "StudyDescription"),
    ("Series description", "SeriesDescription"),
    ("Station name", "StationName"),
    ("Device serial number", "DeviceSerialNumber"),
)


class _ReaderLog(logging.Filter):
    """Inside ``quiet_reader`` (per thread): drop pydicom's log records, keeping their text."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self.local, "depth", 0):
            self.local.messages.append(record.getMessage())
            return False
        return True


_LOG_FILTER = _ReaderLog()
for _name in ("pydicom", "pydicom.pixels.utils", "pydicom.pixels.decoders.base"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)

_warn_lock = threading.Lock()
_warn_depth = 0
_warn_ctx: warnings.catch_warnings | None = None


@contextmanager
def quiet_reader():
    """Silence warnings (VinDr's "Invalid value for VR UI" on every file) and pydicom's log.

    ``warnings.catch_warnings`` is process-global and not thread-safe when nested across threads, so
    one shared context is entered by the first reader and left by the last (reference counted).
    pydicom's log records are dropped only for the threads that are inside a reader.
    """
    global _warn_depth, _warn_ctx
    local = _ReaderLog.local
    if not getattr(local, "depth", 0):
        local.depth, local.messages = 0, []
    local.depth += 1
    with _warn_lock:
        if _warn_depth == 0:
            ctx = warnings.catch_warnings()
            ctx.__enter__()
            warnings.simplefilter("ignore")
            _warn_ctx = ctx
        _warn_depth += 1
    try:
        yield
    finally:
        with _warn_lock:
            _warn_depth -= 1
            if _warn_depth == 0 and _warn_ctx is not None:
                _warn_ctx.__exit__(None, None, None)
                _warn_ctx = None
        local.depth -= 1


def _check_path(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot access: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, "is a directory, not a DICOM file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, "not a regular file")
    if st.st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")


def short_message(exc: BaseException, limit: int = 160) -> str:
    """An exception as one line of at most ``limit`` characters, for a message to the user."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def open_dataset(path: Path, pixels: bool) -> Dataset:
    """Read ``path`` (the whole file if ``pixels``, else up to the pixel data). Raises InputError."""
    _check_path(path)
    opts = {"defer_size": DEFER_BYTES} if pixels else {"stop_before_pixels": True}
    log = _ReaderLog.local.__dict__.get("messages", [])
    seen = len(log)
    try:
        try:
            ds = dcmread(path, **opts)
        except InvalidDicomError:
            ds = _read_forced(path, opts)
        if any("end of file" in m.lower() for m in log[seen:]):
            raise InputError(path, "truncated file: it ends before the DICOM data does")
        if len(ds) == 0:
            raise InputError(path, "truncated or empty DICOM file: no data elements after the header")
        meta = getattr(ds, "file_meta", None)
        if pixels and meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian:
            # deferred values cannot be re-read from a deflated file: read it all
            if any(getattr(ds.get_item(t, keep_deferred=True), "value", 1) is None for t in ds.keys()):
                ds = dcmread(path)
    except InputError:
        raise
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except (EOFError, OSError) as exc:
        raise InputError(path, f"truncated or unreadable DICOM file: {short_message(exc)}") from None
    except Exception as exc:
        raise InputError(path, f"malformed DICOM file: {short_message(exc)}") from None
    return ds


def _read_forced(path: Path, opts: dict) -> Dataset:
    """Files without the 128-byte preamble + "DICM": accept them only if they parse as DICOM."""
    try:
        ds = dcmread(path, force=True, **opts)
        keys = set(ds.keys())
    except Exception:
        keys, ds = set(), None
    if ds is None or not keys or not keys.intersection(_PLAUSIBLE):
        raise InputError(path, "not a DICOM file (no DICM marker and no recognisable DICOM header)")
    return ds


# ------------------------------------------------------------------------------- value helpers
def first_float(value) -> float | None:
    """float of ``value`` (its first item if multi-valued); None when empty or not a number."""
    if value is None:
        return None
    if not isinstance(value, (str, bytes)) and hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        if len(value) == 0:
            return None
        value = value[0]
    try:
        return float(str(value).strip()) if isinstance(value, (str, bytes)) else float(value)
    except (TypeError, ValueError):
        return None


def functional_value(ds: Dataset, frame: int, sequence: str, keyword: str):
    """``keyword`` from the top level, else the frame's or the shared functional group (Enhanced IODs)."""
    if keyword in ds and ds[keyword].value not in (None, ""):
        return ds[keyword].value
    groups = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and 0 <= frame < len(per_frame):
        groups.append(per_frame[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    for group in groups:
        seq = group.get(sequence)
        if seq and keyword in seq[0] and seq[0][keyword].value not in (None, ""):
            return seq[0][keyword].value
    return None


def sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
    if not uid:
        return ""
    uid = UID(str(uid).strip())
    return uid.name if uid.name != str(uid) else str(uid)


def _fmt(value, limit: int = 200) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if hasattr(value, "__len__") and not isinstance(value, str) and hasattr(value, "__getitem__"):
        if len(value) and isinstance(value[0], Dataset):
            return f"<sequence of {len(value)} item(s)>"
        value = "\\".join(str(v) for v in value)
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value) -> str:
    f = first_float(value)
    if f is None:
        return "-"
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _header_int(ds: Dataset, keyword: str, default: int) -> int:
    try:
        value = ds.get(keyword, default)
        return default if value in (None, "") else int(float(str(value).strip()))
    except (TypeError, ValueError):
        return default


def check_frame_size(path: Path, ds: Dataset, frames: int = 1) -> None:
    """Refuse, from the header alone, a frame (``frames`` frames) over the pixel cap (core.limits).

    Decoders size their buffers from these numbers before they look at the data, so this must run
    before any of them. PALETTE COLOR counts three samples: its palette makes an RGB image.
    """
    rows, cols = _header_int(ds, "Rows", 0), _header_int(ds, "Columns", 0)
    samples = _header_int(ds, "SamplesPerPixel", 1)
    if str(ds.get("PhotometricInterpretation", "") or "").strip().upper() == "PALETTE COLOR":
        samples = max(samples, 3)
    check_pixels(path, abs(rows), abs(cols), samples, frames)


# -------------------------------------------------------------------------------------- summary
def header_summary(path: Path, ds: Dataset, show_identifying: bool = False) -> dict[str, str]:
    meta = getattr(ds, "file_meta", None) or {}
    g = ds.get
    out: dict[str, str] = {}
    out["File"] = path.name
    out["File size"] = f"{path.stat().st_size:,} bytes"
    out["SOP class"] = sop_class_name(ds) or "-"
    out["Modality"] = _fmt(g("Modality")) or "-"
    rows, cols = g("Rows"), g("Columns")
    out["Image size"] = f"{_num(cols)} × {_num(rows)} (columns × rows)" if rows and cols else "-"
    out["Frames"] = _fmt(g("NumberOfFrames")) or ("1" if rows else "-")
    if g("BitsAllocated") is not None:
        sign = "signed" if first_float(g("PixelRepresentation")) == 1 else "unsigned"
        out["Bits"] = f"{_num(g('BitsStored'))} stored / {_num(g('BitsAllocated'))} allocated, {sign}"
    else:
        out["Bits"] = "-"
    out["Photometric"] = _fmt(g("PhotometricInterpretation")) or "-"
    out["Samples per pixel"] = _fmt(g("SamplesPerPixel")) or "-"
    ts = meta.get("TransferSyntaxUID") if hasattr(meta, "get") else None
    if ts:
        ts = UID(str(ts).strip())
        out["Transfer syntax"] = f"{ts.name} ({ts})" if ts.name != str(ts) else str(ts)
    else:
        out["Transfer syntax"] = "- (no File Meta Information)"
    spacing = "-"
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        v = g(kw)
        if v is not None and _fmt(v):
            spacing = f"{_fmt(v).replace(chr(92), ' × ')} mm ({kw})"
            break
    out["Pixel spacing"] = spacing
    wc, ww = g("WindowCenter"), g("WindowWidth")
    if wc is not None and ww is not None:
        n = len(wc) if hasattr(wc, "__len__") and not isinstance(wc, str) else 1
        out["Window"] = f"center {_num(wc)}, width {_num(ww)}" + (f" (+{n - 1} more)" if n > 1 else "")
    else:
        out["Window"] = "-"
    voi = g("VOILUTSequence")
    out["VOI LUT"] = f"{len(voi)} LUT(s)" if voi else "-"
    if g("RescaleSlope") is not None or g("RescaleIntercept") is not None:
        out["Rescale"] = f"slope {_num(g('RescaleSlope'))}, intercept {_num(g('RescaleIntercept'))}"
    else:
        out["Rescale"] = "-"
    for label, kw in (("Manufacturer", "Manufacturer"), ("Model", "ManufacturerModelName"),
                      ("Body part", "BodyPartExamined"), ("View position", "ViewPosition"),
                      ("Study instance UID", "StudyInstanceUID"),
                      ("Series instance UID", "SeriesInstanceUID"),
                      ("SOP instance UID", "SOPInstanceUID")):
        out[label] = _fmt(g(kw)) or "-"
    for label, kw in IDENTIFYING:
        if kw in ds:
            value = _fmt(ds[kw].value)
            if value:
                out[label] = value if show_identifying else HIDDEN
    return out
