"""Display transforms for grey-scale images: VOI windows, VOI LUTs, inversion, 8-bit conversion.

Pure numpy. Inputs are *modality values* (after the Modality LUT / rescale), as ``DicomImage.pixels``
holds them; outputs are float32 in [0, 1] (``apply_window``, ``apply_voi_lut``) or uint8 (``to_uint8``).

The linear window follows DICOM PS3.3 C.11.2.1.2.1 exactly (centre ``c``, width ``w``)::

    x <= c - 0.5 - (w - 1) / 2   ->  0
    x >  c - 0.5 + (w - 1) / 2   ->  1
    else                          ->  ((x - (c - 0.5)) / (w - 1) + 0.5)

``LINEAR_EXACT`` and ``SIGMOID`` (VOI LUT Function, C.11.2.1.3) are supported through
``Window.function``; everything else is treated as ``LINEAR``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "WINDOW_PRESETS",
    "VoiLut",
    "Window",
    "apply_voi_lut",
    "apply_window",
    "levels_and_lut",
    "percentile_window",
    "preset_window",
    "to_uint8",
    "value_range",
    "voi_lut_window",
    "window_lut",
]

# How many pixels percentile_window looks at, at most (a strided subsample of the image).
_PERCENTILE_SAMPLES = 1 << 18


@dataclass(frozen=True)
class Window:
    """A VOI window over modality values.

    ``source`` says where it came from: ``"dicom"`` (WindowCenter/WindowWidth tags), ``"voi-lut"`` (a
    linear stand-in for a VOI LUT Sequence; the image's own ``display()`` applies the LUT itself),
    ``"percentile"`` (computed from the pixels), ``"preset"`` (``preset_window``) or ``"user"``.
    ``function`` is the DICOM VOI LUT Function: ``"LINEAR"`` (default), ``"LINEAR_EXACT"`` or ``"SIGMOID"``.
    """

    center: float
    width: float
    source: str = "user"
    function: str = "LINEAR"

    @property
    def lower(self) -> float:
        """The value shown black (before inversion)."""
        if self.function == "LINEAR":
            return self.center - 0.5 - (max(self.width, 1.0) - 1.0) / 2.0
        return self.center - self.width / 2.0

    @property
    def upper(self) -> float:
        """The value shown white (before inversion)."""
        if self.function == "LINEAR":
            return self.center - 0.5 + (max(self.width, 1.0) - 1.0) / 2.0
        return self.center + self.width / 2.0

    @classmethod
    def from_range(cls, lo: float, hi: float, source: str = "user") -> Window:
        """The linear window that maps ``lo`` to 0 and ``hi`` to 1 (``hi`` > ``lo``)."""
        lo, hi = float(lo), float(hi)
        if not hi > lo:
            hi = lo + 1.0
        # PS3.3 linear: lower = c - 0.5 - (w-1)/2, upper = c - 0.5 + (w-1)/2
        width = hi - lo + 1.0
        return cls(center=lo + 0.5 + (width - 1.0) / 2.0, width=width, source=source)

    def is_sane(self) -> bool:
        return math.isfinite(self.center) and math.isfinite(self.width) and self.width > 0


def _sample(pixels: np.ndarray, max_samples: int = _PERCENTILE_SAMPLES) -> np.ndarray:
    """A strided (not random: deterministic and cache-friendly) subsample, flattened."""
    a = np.asarray(pixels)
    if a.ndim == 2 and a.size > max_samples:
        step = int(math.ceil(math.sqrt(a.size / max_samples)))
        a = a[::step, ::step]
    elif a.size > max_samples:
        a = a.reshape(-1)[:: int(math.ceil(a.size / max_samples))]
    return a.reshape(-1)


def percentile_window(pixels: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> Window:
    """A robust window from the ``lo``..``hi`` percentiles of the pixel values.

    Looks at a strided subsample (at most ~262k pixels, so a 2874x1443 image costs a few ms). Before
    taking percentiles it drops the values sitting exactly at the image minimum and maximum when they
    are a plateau (padding outside the collimator, burnt-out background, saturated metal or markers),
    which would otherwise pull the window towards an extreme; NaN and inf are ignored. Always returns a
    usable window (width >= 1) with ``source="percentile"``.
    """
    s = _sample(pixels)
    if s.dtype.kind == "f":
        s = s[np.isfinite(s)]
    if s.size == 0:
        return Window.from_range(0.0, 1.0, source="percentile")
    vmin, vmax = s.min(), s.max()
    if vmin == vmax:
        return Window.from_range(float(vmin), float(vmin) + 1.0, source="percentile")
    # A plateau at an extreme = more than 0.5% of pixels at exactly the min (or max) value.
    inner = s
    plateau = max(1, s.size // 200)
    for extreme in (vmin, vmax):
        mask = inner != extreme
        if inner.size - int(np.count_nonzero(mask)) > plateau and np.count_nonzero(mask) > plateau:
            inner = inner[mask]
    p_lo, p_hi = np.percentile(inner, [lo, hi])
    if not p_hi > p_lo:
        p_lo, p_hi = float(inner.min()), float(inner.max())
    if not p_hi > p_lo:
        p_lo, p_hi = float(vmin), float(vmax)
    return Window.from_range(float(p_lo), float(p_hi), source="percentile")


def apply_window(pixels: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Map modality values through ``window`` to float32 in [0, 1]; ``invert`` flips it (MONOCHROME1).

    One float32 pass plus in-place arithmetic: no float64 temporaries.
    """
    x = np.asarray(pixels)
    width = float(window.width)
    center = float(window.center)
    fn = window.function
    if fn == "SIGMOID":
        width = width if width > 0 else 1.0
        out = np.subtract(x, center, dtype=np.float32)
        out *= np.float32(-4.0 / width)
        np.exp(out, out=out)
        out += np.float32(1.0)
        np.reciprocal(out, out=out)
    else:
        if fn == "LINEAR_EXACT":
            width = width if width > 0 else 1.0
            offset, scale = center - width / 2.0, 1.0 / width
        else:  # PS3.3 C.11.2.1.2.1
            width = max(width, 1.0)
            if width == 1.0:  # a threshold at c - 0.5
                out = np.greater(x, center - 0.5).astype(np.float32)
                return 1.0 - out if invert else out
            offset, scale = (center - 0.5) - (width - 1.0) / 2.0, 1.0 / (width - 1.0)
        out = np.subtract(x, offset, dtype=np.float32)
        out *= np.float32(scale)
        np.clip(out, 0.0, 1.0, out=out)
    if invert:
        np.subtract(np.float32(1.0), out, out=out)
    return out


def voi_lut_window(lut: np.ndarray, first_mapped: float) -> Window:
    """The linear window spanning a VOI LUT's input range (a stand-in a viewer can start from)."""
    return Window.from_range(float(first_mapped), float(first_mapped) + max(len(lut) - 1, 1), "voi-lut")


def voi_lut_scale(lut: np.ndarray, bits: int) -> float:
    """The LUT output value shown white.

    PS3.3 says ``2**bits - 1`` (third LUT Descriptor value), but real files often declare 16 bits for a
    12-bit LUT, which would show a near-black image; when the LUT never reaches the upper half of the
    declared range its own bit depth is used instead.
    """
    top = float(np.max(lut)) if len(lut) else 1.0
    declared = float((1 << int(bits)) - 1) if 0 < int(bits) <= 32 else top
    if top > declared:
        return top
    if top <= declared / 2.0:
        return float((1 << max(1, int(math.ceil(math.log2(top + 1.0))))) - 1) if top > 0 else 1.0
    return declared


def apply_voi_lut(
    pixels: np.ndarray, lut: np.ndarray, first_mapped: float, bits: int, invert: bool = False
) -> np.ndarray:
    """Map modality values through a VOI LUT (PS3.3 C.11.2.1.1) to float32 in [0, 1].

    Values below ``first_mapped`` take the first entry, values past the end the last.
    """
    lut01 = np.asarray(lut, dtype=np.float32) / np.float32(voi_lut_scale(lut, bits))
    np.clip(lut01, 0.0, 1.0, out=lut01)
    if invert:
        lut01 = np.float32(1.0) - lut01
    x = np.asarray(pixels)
    if x.dtype.kind in "ui" and float(first_mapped).is_integer():
        idx = np.subtract(x, int(first_mapped), dtype=np.int64 if x.dtype.itemsize >= 4 else np.int32)
    else:
        idx = np.floor(np.subtract(x, first_mapped, dtype=np.float64)).astype(np.int64)
    np.clip(idx, 0, len(lut01) - 1, out=idx)
    return lut01[idx]


@dataclass(frozen=True, eq=False)
class VoiLut:
    """A VOI LUT (VOI LUT Sequence item): ``table[v - first_mapped]`` for modality value ``v``."""

    table: np.ndarray
    first_mapped: int
    bits: int
    explanation: str = ""

    def apply(self, pixels: np.ndarray, invert: bool = False) -> np.ndarray:
        return apply_voi_lut(pixels, self.table, self.first_mapped, self.bits, invert=invert)

    def window(self) -> Window:
        return voi_lut_window(self.table, self.first_mapped)


def to_uint8(pixels01: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 0..255, rounded; out-of-range values are clipped, NaN becomes 0."""
    x = np.asarray(pixels01, dtype=np.float32)
    out = np.multiply(x, np.float32(255.0))
    out += np.float32(0.5)
    np.clip(out, 0.0, 255.0, out=out)
    np.nan_to_num(out, copy=False, nan=0.0)
    return out.astype(np.uint8)


def window_lut(window: Window, invert: bool, lo_value: int, hi_value: int) -> np.ndarray:
    """A uint8 lookup table for integer values ``lo_value..hi_value``: ``lut[v - lo_value]``.

    For viewers that keep uint16 data and map it through a LUT (e.g. pyqtgraph ImageItem):
    ``lut[np.clip(pixels, lo, hi) - lo]`` equals ``to_uint8(apply_window(pixels, window, invert))``.
    """
    lo_value, hi_value = int(lo_value), int(hi_value)
    if hi_value < lo_value:
        raise ValueError(f"hi_value {hi_value} < lo_value {lo_value}")
    values = np.arange(lo_value, hi_value + 1, dtype=np.float64)
    return to_uint8(apply_window(values, window, invert=invert))


# --- viewer helpers -----------------------------------------------------------------------------
WINDOW_PRESETS = ("Default (DICOM)", "Auto (percentiles)", "Bone", "Soft tissue", "Full range")
# (centre, width) as fractions of the robust (percentile) value range. Radiograph values are not
# Hounsfield units, so CT presets (W 2000 L 500, ...) mean nothing here. Dense bone sits at the high
# end of a MONOCHROME2 image and soft tissue lower; MONOCHROME1 stores the opposite, so it is mirrored.
_RANGE_PRESETS = {"Bone": (0.65, 0.55), "Soft tissue": (0.3, 0.5)}


def value_range(pixels: np.ndarray) -> tuple[float, float]:
    """The finite minimum and maximum of ``pixels`` (NaN and inf ignored; (0, 1) when none)."""
    a = np.asarray(pixels)
    if a.dtype.kind == "f":
        a = a[np.isfinite(a)]
    if a.size == 0:
        return 0.0, 1.0
    return float(a.min()), float(a.max())


def preset_window(name: str, pixels: np.ndarray, default: Window, monochrome1: bool = False,
                  robust: Window | None = None) -> Window:
    """The window of one of ``WINDOW_PRESETS`` for this image.

    ``default`` is the file's own window; ``monochrome1`` says whether high values are dark (it mirrors
    Bone and Soft tissue); ``robust`` is ``percentile_window(pixels)`` when the caller already has it.
    """
    if name == "Default (DICOM)":
        return default
    if name not in WINDOW_PRESETS:
        raise ValueError(f"unknown window preset {name!r}; expected one of: " + ", ".join(WINDOW_PRESETS))
    if name == "Full range":
        return Window.from_range(*value_range(pixels), source="preset")
    robust = robust if robust is not None else percentile_window(pixels)
    if name == "Auto (percentiles)":
        return robust
    fc, fw = _RANGE_PRESETS[name]
    if monochrome1:
        fc = 1.0 - fc
    lo, span = robust.lower, robust.upper - robust.lower
    return Window.from_range(lo + (fc - fw / 2) * span, lo + (fc + fw / 2) * span, source="preset")


def levels_and_lut(window: Window, invert: bool = False, n: int = 256) -> tuple[tuple[float, float], np.ndarray]:
    """``(levels, lut)`` for viewers that bin values linearly between two levels and colour each bin
    through an ``n``-entry uint8 LUT, as pyqtgraph's ImageItem does on its fast path for uint16 data:
    value ``v`` falls in bin ``clip(floor((v - lo) * n / (hi - lo)), 0, n - 1)``.

    The LUT holds the window (any VOI LUT Function) and the inversion evaluated at the bin centres, so
    changing the window costs a 256-entry table, never a pass over the image. Within one grey level of
    ``to_uint8(apply_window(v, window, invert))`` for linear windows, a few levels for SIGMOID.
    """
    if window.function == "SIGMOID":
        w = window.width if window.width > 0 else 1.0
        lo, hi = window.center - 2.0 * w, window.center + 2.0 * w  # the sigmoid is 0/255 beyond +-2w
    else:
        lo, hi = window.lower, window.upper
        if not hi > lo:  # width 1: a threshold at lo
            lo, hi = lo - 0.5, lo + 0.5
    centres = lo + (np.arange(n, dtype=np.float64) + 0.5) * ((hi - lo) / n)
    return (float(lo), float(hi)), to_uint8(apply_window(centres, window, invert=invert))
