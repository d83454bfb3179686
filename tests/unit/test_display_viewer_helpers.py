"""The viewer's Qt-free helpers in core/dicom/display.py: levels + LUT, presets, value range."""

from __future__ import annotations

import numpy as np
import pytest

from spinegui.core.dicom.display import (
    WINDOW_PRESETS,
    Window,
    apply_window,
    levels_and_lut,
    percentile_window,
    preset_window,
    to_uint8,
    value_range,
)


def binned(x, levels, lut):
    """What pyqtgraph's ImageItem does with (levels, lut): linear binning, then the table."""
    lo, hi = levels
    n = len(lut)
    idx = np.clip(np.floor((x.astype(np.float64) - lo) * n / (hi - lo)), 0, n - 1).astype(int)
    return lut[idx]


@pytest.mark.parametrize("window,tol", [
    (Window(2047.5, 4095.0, "dicom"), 1),
    (Window(1200.0, 300.0), 1),
    (Window(900.0, 17.0), 1),
    (Window(1000.0, 800.0, "dicom", "LINEAR_EXACT"), 1),
    (Window(1000.0, 800.0, "dicom", "SIGMOID"), 4),
])
@pytest.mark.parametrize("invert", [False, True])
def test_levels_and_lut_match_apply_window(window, tol, invert):
    x = np.arange(0, 4096, dtype=np.uint16)
    levels, lut = levels_and_lut(window, invert)
    assert lut.dtype == np.uint8 and lut.shape == (256,) and levels[1] > levels[0]
    want = to_uint8(apply_window(x, window, invert=invert)).astype(int)
    got = binned(x, levels, lut).astype(int)
    assert np.abs(got - want).max() <= tol


def test_width_one_threshold_has_usable_levels():
    levels, lut = levels_and_lut(Window(100.5, 1.0))
    assert levels[1] > levels[0]
    got = binned(np.array([90, 110]), levels, lut)
    assert list(got) == [0, 255]


def test_presets():
    rng = np.random.default_rng(0)
    px = rng.integers(100, 4000, size=(64, 64)).astype(np.uint16)
    px[0, 0], px[0, 1] = 3, 4090
    default = Window(2000, 1000, "dicom")
    robust = percentile_window(px)
    assert preset_window("Default (DICOM)", px, default) == default
    assert preset_window("Auto (percentiles)", px, default) == robust
    full = preset_window("Full range", px, default)
    assert full.lower == 3 and full.upper == 4090
    bone, soft = preset_window("Bone", px, default), preset_window("Soft tissue", px, default)
    assert bone.center > soft.center  # MONOCHROME2: dense bone is bright = high values
    bone1, soft1 = (preset_window(n, px, default, monochrome1=True, robust=robust) for n in ("Bone", "Soft tissue"))
    assert bone1.center < soft1.center  # MONOCHROME1 stores the opposite
    for w in (bone, soft, bone1, soft1):
        assert w.is_sane() and robust.lower <= w.center <= robust.upper and w.width < robust.width
    assert set(WINDOW_PRESETS) == {"Default (DICOM)", "Auto (percentiles)", "Bone", "Soft tissue", "Full range"}
    with pytest.raises(ValueError, match="unknown window preset"):
        preset_window("Lung", px, default)


def test_value_range_ignores_non_finite():
    a = np.array([[np.nan, 2.0], [np.inf, -1.5]], dtype=np.float32)
    assert value_range(a) == (-1.5, 2.0)
    assert value_range(np.full((2, 2), np.nan)) == (0.0, 1.0)
    assert value_range(np.array([[7, 9]], dtype=np.uint16)) == (7.0, 9.0)
