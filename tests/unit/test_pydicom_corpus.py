"""Every file pydicom ships as test data either displays or gives one clear InputError line.

The files are listed straight from pydicom's data folder: ``pydicom.data.get_testdata_files()`` would
also try to download ~80 more files from GitHub, and nothing in this suite may touch the network.

What the 193 entries are (pydicom 3.0.2): 17 directories, 12 non-DICOM files (READMEs, JSON, dumps,
an ICC profile, a .gz), ~50 DICOMDIR fixture records and private-tag stubs with no pixel data,
~17 non-image objects (DICOMDIRs, SRs, RT plans/structure sets, an ECG), 5 deliberately broken
images -- and ~90 real images, which must all decode. So the floor below is ~90, not 120+: an image
count above that does not exist in this corpus.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.data import data_manager

from spinegui.core.dicom.reader import DicomImage, read_header, read_image
from spinegui.core.errors import InputError

BASE = Path(pydicom.data.DATA_ROOT) / "test_files"
ENTRIES = sorted(p for p in BASE.glob("**/*") if not p.name.endswith(".py"))
IDS = [p.relative_to(BASE).as_posix() for p in ENTRIES]

# Images in the corpus that are broken on purpose, and the words their reason must contain.
KNOWN_BROKEN = {
    "MR_truncated.dcm": "truncated",
    "JPEG2000-embedded-sequence-delimiter.dcm": "corrupt JPEG 2000",  # stream bytes overwritten
    "badVR.dcm": "Number of Frames",  # NumberOfFrames = '1A'
    "meta_missing_tsyntax.dcm": "Rows/Columns",  # 2 bytes of pixel data, no image header
    "nested_priv_SQ.dcm": "Rows/Columns",
}
MIN_DECODED = 88


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download pydicom test data")

    monkeypatch.setattr(data_manager, "data_path_with_download", refuse)
    monkeypatch.setattr(data_manager, "download_with_progress", refuse, raising=False)


def check(path: Path):
    """read_image's contract on one file: a sane 2-D image or a one-line InputError; nothing else."""
    try:
        img = read_image(path)
    except InputError as err:
        assert err.path == path and err.reason and "\n" not in str(err) and len(err.reason) < 300
        return err
    assert isinstance(img, DicomImage)
    assert img.pixels.ndim == 2 and min(img.pixels.shape) >= 1
    assert img.pixels.dtype in (np.uint16, np.int32, np.float32)
    assert img.window.is_sane() and img.window.source in ("dicom", "voi-lut", "percentile")
    assert 0 <= img.frame < img.n_frames
    shown = img.display()
    assert shown.dtype == np.float32 and shown.shape == img.pixels.shape
    assert np.isfinite(shown).all() and shown.min() >= 0.0 and shown.max() <= 1.0
    return img


@pytest.mark.parametrize("path", ENTRIES, ids=IDS)
def test_corpus_file(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = check(path)
        try:
            info = read_header(path)
            assert all(isinstance(k, str) and isinstance(v, str) and "\n" not in v for k, v in info.items())
        except InputError as err:
            assert isinstance(result, InputError), f"header failed but the image read: {err}"
    assert [str(w.message) for w in caught] == []
    name = path.relative_to(BASE).as_posix()
    if name in KNOWN_BROKEN:
        assert isinstance(result, InputError) and KNOWN_BROKEN[name].lower() in result.reason.lower()


def test_corpus_decodes_every_real_image():
    """Everything with pixel data decodes except the known-broken files; and the count is healthy."""
    decoded, rejected = [], {}
    for path in ENTRIES:
        result = check(path)
        name = path.relative_to(BASE).as_posix()
        if isinstance(result, InputError):
            rejected[name] = result.reason
        else:
            decoded.append(name)
    assert len(decoded) >= MIN_DECODED, f"only {len(decoded)} decoded"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, reason in rejected.items():
            path = BASE / name
            if path.is_dir() or name in KNOWN_BROKEN:
                continue
            try:
                ds = pydicom.dcmread(path, force=True)
                has_pixels = "PixelData" in ds and "Rows" in ds
            except Exception:
                has_pixels = False
            assert not has_pixels or name == "no_meta.dcm", f"{name} has pixels but: {reason}"


def corpus(name: str) -> Path:
    return BASE / name


def test_monochrome1_cr_is_inverted_and_uses_its_window():
    img = read_image(corpus("dicomdirtests/77654033/CR1/6154"))
    assert img.photometric == "MONOCHROME1" and img.invert is True
    ds = pydicom.dcmread(corpus("dicomdirtests/77654033/CR1/6154"))
    assert img.window.source == "dicom"
    assert img.window.center == float(ds.WindowCenter) and img.window.width == float(ds.WindowWidth)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(img.pixels, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "name",
    ["MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
     "MR_small_implicit.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm"],
)
def test_mr_small_in_every_encoding_equals_the_reference(name):
    ref = read_image(corpus("MR_small.dcm"))
    img = read_image(corpus(name))
    np.testing.assert_array_equal(img.pixels, ref.pixels)
    assert img.window == ref.window and img.window.source == "dicom"
    assert (img.window.center, img.window.width) == (600.0, 1600.0)


def test_spot_checks_by_transfer_syntax():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, ts in [("image_dfl.dcm", "1.2.840.10008.1.2.1.99"),
                         ("JPEGLSNearLossless_16.dcm", "1.2.840.10008.1.2.4.81"),
                         ("JPGExtended.dcm", "1.2.840.10008.1.2.4.51"),
                         ("693_J2KI.dcm", "1.2.840.10008.1.2.4.91"),
                         ("rtdose_rle.dcm", "1.2.840.10008.1.2.5"),
                         ("liver_expb_1frame.dcm", "1.2.840.10008.1.2.2")]:
            img = read_image(corpus(name))
            assert img.transfer_syntax == ts
            ds = pydicom.dcmread(corpus(name))
            raw = pydicom.pixels.pixel_array(ds, index=0)
            if "RescaleSlope" not in ds:
                np.testing.assert_array_equal(img.pixels, raw, err_msg=name)
            else:
                np.testing.assert_allclose(
                    img.pixels, raw * float(ds.RescaleSlope) + float(ds.RescaleIntercept), err_msg=name)


def test_colour_and_palette_files_become_luminance():
    for name in ["SC_rgb_jpeg_dcmtk.dcm", "SC_ybr_full_422_uncompressed.dcm", "examples_palette.dcm",
                 "ExplVR_BigEnd.dcm", "examples_jpeg2k.dcm"]:
        img = read_image(corpus(name))
        assert img.converted_from_colour and img.pixels.ndim == 2, name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(corpus("examples_palette.dcm"))
        rgb = pydicom.pixels.apply_color_lut(ds.pixel_array, ds).astype(np.float64)
    y = np.rint(rgb @ [0.299, 0.587, 0.114])
    np.testing.assert_allclose(read_image(corpus("examples_palette.dcm")).pixels, y, atol=1)


def test_multi_frame_colour_file_reads_any_frame_and_refuses_past_the_end():
    path = corpus("examples_ybr_color.dcm")
    last = read_image(path, frame=29)
    assert last.n_frames == 30 and last.frame == 29
    with pytest.raises(InputError) as exc_info:
        read_image(path, frame=30)
    assert "frame 30" in exc_info.value.reason


@pytest.mark.parametrize(
    "name,words",
    [("reportsi.dcm", "not an image"), ("rtplan.dcm", "not an image"),
     ("waveform_ecg.dcm", "not an image"), ("dicomdirtests/DICOMDIR", "not an image"),
     ("zipMR.gz", "not a DICOM file"), ("test1.json", "not a DICOM file"),
     ("dicomdirtests", "directory"), ("MR_truncated.dcm", "truncated")],
)
def test_rejections_have_clear_reasons(name, words):
    with pytest.raises(InputError) as exc_info:
        read_image(corpus(name))
    assert words.lower() in exc_info.value.reason.lower()
    assert str(corpus(name)) in str(exc_info.value)
