"""Display transforms: PS3.3 windows, VOI LUTs, percentile windows, uint8 conversion."""

from __future__ import annotations

import numpy as np
import pytest

from spinegui.core.dicom.display import (
    VoiLut,
    Window,
    apply_voi_lut,
    apply_window,
    percentile_window,
    to_uint8,
    window_lut,
)


def ps33_linear(x, c, w):
    """PS3.3 C.11.2.1.2.1, written out literally, output range [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5)
    y = np.where(x <= c - 0.5 - (w - 1) / 2, 0.0, y)
    y = np.where(x > c - 0.5 + (w - 1) / 2, 1.0, y)
    return y


@pytest.mark.parametrize("c,w", [(2047.5, 4095.0), (2116, 4017), (40, 400), (-600, 1500), (100, 2)])
def test_linear_window_matches_ps33(c, w):
    x = np.arange(-2000, 6000, 7, dtype=np.int32)
    got = apply_window(x, Window(c, w, "dicom"))
    assert got.dtype == np.float32
    assert got.min() >= 0.0 and got.max() <= 1.0
    np.testing.assert_allclose(got, ps33_linear(x, c, w), atol=1e-5)


def test_window_on_uint16_keeps_float32_and_inverts():
    x = np.array([[0, 2048, 4095]], dtype=np.uint16)
    w = Window(2047.5, 4095.0, "dicom")
    y = apply_window(x, w)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert y[0, 0] == 0.0 and y[0, 2] == 1.0
    np.testing.assert_allclose(apply_window(x, w, invert=True), 1.0 - y)


def test_width_one_is_a_threshold():
    y = apply_window(np.array([9, 10, 11]), Window(10.5, 1.0))
    np.testing.assert_array_equal(y, [0.0, 0.0, 1.0])


def test_linear_exact_and_sigmoid():
    x = np.array([0.0, 50.0, 100.0])
    exact = apply_window(x, Window(50.0, 100.0, "dicom", "LINEAR_EXACT"))
    np.testing.assert_allclose(exact, [0.0, 0.5, 1.0], atol=1e-6)
    sig = apply_window(x, Window(50.0, 100.0, "dicom", "SIGMOID"))
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-4 * (x - 50) / 100)), atol=1e-6)


def test_from_range_maps_ends_exactly():
    for lo, hi in [(0, 4095), (-1024, 3071), (0.0, 0.01), (5, 6)]:
        w = Window.from_range(lo, hi)
        y = apply_window(np.array([lo, hi], dtype=np.float64), w)
        np.testing.assert_allclose(y, [0.0, 1.0], atol=1e-5)
        assert w.lower == pytest.approx(lo) and w.upper == pytest.approx(hi)


def test_percentile_window_ignores_padding_and_saturation():
    rng = np.random.default_rng(1)
    img = rng.normal(2000, 200, size=(2874, 1443)).clip(0, 4095).astype(np.uint16)
    img[:, :150] = 0        # padding outside the collimator (10%)
    img[:100, :] = 4095     # a saturated strip (3.5%)
    w = percentile_window(img)
    assert w.source == "percentile" and w.is_sane()
    assert 1300 < w.lower < 1700 and 2300 < w.upper < 2700


def test_percentile_window_degenerate_inputs():
    assert percentile_window(np.full((50, 50), 7, np.uint16)).is_sane()
    assert percentile_window(np.zeros((0, 0), np.float32)).is_sane()
    f = np.linspace(0, 1, 10000, dtype=np.float32).reshape(100, 100)
    f[0, :5] = [np.nan, np.inf, -np.inf, np.nan, np.nan]
    w = percentile_window(f)
    assert w.is_sane() and 0.0 <= w.lower < w.upper <= 1.0
    two = np.array([[0, 1], [1, 0]], dtype=np.uint8)  # binary mask: both values are "plateaus"
    w = percentile_window(two)
    assert w.lower == pytest.approx(0) and w.upper == pytest.approx(1)


def test_to_uint8_rounds_clips_and_handles_nan():
    x = np.array([-0.5, 0.0, 0.5, 1.0, 2.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 128, 255, 255, 0])
    assert to_uint8(x).dtype == np.uint8


@pytest.mark.parametrize("invert", [False, True])
def test_window_lut_equals_direct_path(invert):
    w = Window(2116, 4017, "dicom")
    lut = window_lut(w, invert, 0, 4095)
    x = np.arange(0, 4096, dtype=np.uint16).reshape(64, 64)
    np.testing.assert_array_equal(lut[x], to_uint8(apply_window(x, w, invert)))
    assert lut.shape == (4096,) and lut.dtype == np.uint8


def test_voi_lut_clamps_and_scales():
    table = np.linspace(0, 4095, 1000).astype(np.uint16)   # a 12-bit LUT declared as 16-bit
    lut = VoiLut(table, first_mapped=100, bits=16)
    x = np.array([0, 100, 600, 1099, 5000], dtype=np.uint16)
    y = lut.apply(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0.0, 0.0, table[500] / 4095, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(lut.apply(x, invert=True), 1.0 - y, atol=1e-6)
    # a LUT that really uses its declared 16 bits is scaled by 65535
    full = np.array([0, 40000, 65535], dtype=np.uint16)
    np.testing.assert_allclose(apply_voi_lut(np.array([0, 1, 2]), full, 0, 16), full / 65535, atol=1e-6)
    assert lut.window().source == "voi-lut"
