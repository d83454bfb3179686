"""read_image / read_header on files the tests make (VinDr-like and its variants) and broken files."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    RLELossless,
)

from dicom_factory import (
    BASIC_TEXT_SR,
    IDENTIFYING,
    make_dataset,
    vindr_like_array,
    vindr_like_file,
    write_dataset,
)
from spinegui.core.dicom import decode as dicom_decode
from spinegui.core.dicom.display import Window, apply_window
from spinegui.core.dicom.reader import DicomImage, read_header, read_image, set_decode_threads
from spinegui.core.errors import InputError


def small(rows=256, cols=160, seed=3, bits=12):
    return vindr_like_array(rows, cols, seed=seed, bits_stored=bits)


def write(tmp_path, name, arr, ts=ExplicitVRLittleEndian, **header):
    return write_dataset(make_dataset(arr, **header), tmp_path / name, transfer_syntax=ts)


def assert_input_error(exc_info, path, *words):
    err = exc_info.value
    assert type(err) is InputError
    text = str(err)
    assert str(Path(path)) in text and "\n" not in text and err.reason
    for word in words:
        assert word.lower() in err.reason.lower(), err.reason


@pytest.fixture(scope="module")
def vindr(tmp_path_factory):
    """A full-size VinDr-like JPEG 2000 lossless file and the array it holds."""
    return vindr_like_file(tmp_path_factory.mktemp("vindr") / "img.dicom")


# ------------------------------------------------------------------------------------- VinDr path
def test_vindr_like_round_trip_is_lossless_and_quiet(vindr, caplog):
    path, arr = vindr
    caplog.set_level("DEBUG")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = read_image(path)
    assert [str(w.message) for w in caught] == []  # "Invalid value for VR UI" never escapes
    assert [r.getMessage() for r in caplog.records] == []  # nor reaches the log
    assert isinstance(img, DicomImage)
    assert img.pixels.dtype == np.uint16 and img.pixels.shape == (2874, 1443)
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.window == Window(2047.5, 4095.0, "dicom")
    assert img.invert is False and img.photometric == "MONOCHROME2"
    assert img.pixel_spacing == (0.14, 0.14) and img.bits_stored == 12
    assert img.transfer_syntax == JPEG2000Lossless and img.n_frames == 1 and img.frame == 0
    assert img.converted_from_colour is False
    assert img.decoder == "pillow-openjpeg"
    d = img.display()
    assert d.dtype == np.float32 and d.shape == arr.shape and 0 <= d.min() and d.max() <= 1
    assert img.display_u8().dtype == np.uint8


@pytest.mark.parametrize("bits", [8, 10, 12, 14, 16])
def test_j2k_fast_path_equals_pydicom_for_each_precision(tmp_path, bits):
    arr = small(bits=bits)
    path = write(tmp_path, f"b{bits}.dcm", arr, JPEG2000Lossless, bits_stored=bits, window=None)
    img = read_image(path)
    assert img.decoder == "pillow-openjpeg"
    np.testing.assert_array_equal(img.pixels, arr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(img.pixels, ref)


def test_signed_j2k_goes_through_pydicom(tmp_path):
    arr = small().astype(np.int16) - 2048
    path = write(tmp_path, "signed.dcm", arr, JPEG2000Lossless, pixel_representation=1, window=(0, 4096))
    img = read_image(path)
    assert img.decoder == "pydicom" and img.pixels.dtype == np.int32
    np.testing.assert_array_equal(img.pixels, arr)


def test_decode_threads_setting(vindr):
    path, arr = vindr
    try:
        set_decode_threads(1)
        assert dicom_decode.get_decode_threads() == 1
        np.testing.assert_array_equal(read_image(path).pixels, arr)
        assert os.environ["OPJ_NUM_THREADS"] == "0"  # OpenJPEG: decode in the calling thread
        set_decode_threads(2)
        np.testing.assert_array_equal(read_image(path).pixels, arr)
        assert os.environ["OPJ_NUM_THREADS"] == "2"
    finally:
        set_decode_threads(None)
    assert dicom_decode.get_decode_threads() >= 1


# ------------------------------------------------------------------------- photometric and values
def test_monochrome1_is_inverted_for_display(tmp_path):
    arr = small()
    img = read_image(write(tmp_path, "m1.dcm", arr, photometric="MONOCHROME1"))
    assert img.invert is True and img.photometric == "MONOCHROME1"
    d = img.display()
    np.testing.assert_allclose(d, 1.0 - apply_window(arr, img.window), atol=1e-6)
    lo, hi = np.unravel_index(arr.argmin(), arr.shape), np.unravel_index(arr.argmax(), arr.shape)
    assert d[lo] > d[hi]  # low values (bone in MONOCHROME1) are bright


def test_rescale_integer_and_fractional(tmp_path):
    arr = small()
    img = read_image(write(tmp_path, "ct.dcm", arr, rescale=(2.0, -1024.0), window=(40, 400)))
    assert img.pixels.dtype == np.int32
    np.testing.assert_array_equal(img.pixels, arr.astype(np.int32) * 2 - 1024)
    img = read_image(write(tmp_path, "frac.dcm", arr, rescale=(0.5, 10.0)))
    assert img.pixels.dtype == np.float32
    np.testing.assert_allclose(img.pixels, arr * 0.5 + 10.0)
    img = read_image(write(tmp_path, "pos.dcm", arr, rescale=(1.0, 100.0)))
    assert img.pixels.dtype == np.uint16  # still non-negative and < 65536: stays compact
    np.testing.assert_array_equal(img.pixels, arr + 100)


def test_voi_lut_sequence_is_the_default_when_no_window_tags(tmp_path):
    arr = small()
    table = (np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16)  # a gamma-like LUT
    img = read_image(write(tmp_path, "lut.dcm", arr, window=None, voi_lut=(table, 0)))
    assert img.window.source == "voi-lut" and img.voi_lut is not None
    np.testing.assert_array_equal(img.voi_lut.table, table)
    np.testing.assert_allclose(img.display(), table[arr] / 65535.0, atol=1e-6)
    # an explicit window still wins when asked for
    np.testing.assert_allclose(img.display(Window(2047.5, 4095)), apply_window(arr, Window(2047.5, 4095)))
    # window tags take precedence over the LUT; the LUT is kept for the viewer
    img = read_image(write(tmp_path, "both.dcm", arr, window=(1000, 500), voi_lut=(table, 0)))
    assert img.window == Window(1000, 500, "dicom") and img.voi_lut is not None


def test_percentile_window_without_tags_and_multi_valued_windows(tmp_path):
    arr = small()
    img = read_image(write(tmp_path, "now.dcm", arr, window=None))
    assert img.window.source == "percentile" and img.window.is_sane()
    assert arr.min() <= img.window.lower < img.window.upper <= arr.max()
    img = read_image(write(tmp_path, "multi.dcm", arr, window=([2116, 1000], [4017, 500])))
    assert img.window == Window(2116, 4017, "dicom")
    assert [w.center for w in img.windows] == [2116, 1000]


def test_pixel_spacing_sources(tmp_path):
    arr = small(64, 48)
    assert read_image(write(tmp_path, "a.dcm", arr, pixel_spacing=(0.15, 0.13))).pixel_spacing == (0.15, 0.13)
    img = read_image(write(tmp_path, "b.dcm", arr, pixel_spacing=None, imager_pixel_spacing=(0.2, 0.2)))
    assert img.pixel_spacing == (0.2, 0.2)
    assert read_image(write(tmp_path, "c.dcm", arr, pixel_spacing=None)).pixel_spacing is None


def test_rgb_is_converted_to_luminance(tmp_path):
    rgb = np.zeros((32, 48, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red
    rgb[16:, :, :] = 200  # grey
    path = write(tmp_path, "rgb.dcm", rgb, photometric="RGB", bits_stored=8, window=None)
    img = read_image(path)
    assert img.converted_from_colour and img.pixels.shape == (32, 48) and img.pixels.dtype == np.uint16
    assert img.pixels[0, 0] == round(0.299 * 255) and img.pixels[20, 0] == 200


def test_big_endian_and_rle(tmp_path):
    arr = small()
    for ts in (ExplicitVRBigEndian, RLELossless):
        img = read_image(write(tmp_path, f"{UID(ts).keyword}.dcm", arr, ts))
        np.testing.assert_array_equal(img.pixels, arr)


# ----------------------------------------------------------------------------------- multi-frame
@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless])
def test_multi_frame_decodes_only_the_requested_frame(tmp_path, monkeypatch, ts):
    frames = np.stack([small(96, 64, seed=s) for s in range(4)])
    path = write(tmp_path, "mf.dcm", frames, ts)
    seen = []
    real_pixel_array = pydicom.pixels.pixel_array
    real_open = dicom_decode.get_frame

    def spy_pixel_array(src, **kw):
        seen.append(("pydicom", kw.get("index")))
        return real_pixel_array(src, **kw)

    def spy_get_frame(buf, index, **kw):
        seen.append(("get_frame", index))
        return real_open(buf, index, **kw)

    monkeypatch.setattr(pydicom.pixels, "pixel_array", spy_pixel_array)
    monkeypatch.setattr(dicom_decode, "get_frame", spy_get_frame)
    img = read_image(path, frame=2)
    np.testing.assert_array_equal(img.pixels, frames[2])
    assert img.n_frames == 4 and img.frame == 2
    assert seen and all(index == 2 for _, index in seen), seen
    with pytest.raises(InputError) as exc_info:
        read_image(path, frame=4)
    assert_input_error(exc_info, path, "frame 4", "4 frame")
    with pytest.raises(InputError):
        read_image(path, frame=-1)


# ----------------------------------------------------------------------------------- broken input
def test_truncated_jpeg2000_stream(tmp_path, vindr):
    src, _ = vindr
    ds = pydicom.dcmread(src)
    stream = get_frame(ds.PixelData, 0, number_of_frames=1)
    ds.PixelData = encapsulate([stream[: len(stream) // 2]])
    path = tmp_path / "trunc_stream.dicom"
    ds.save_as(path)
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path, "JPEG 2000")


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.01])
def test_truncated_file(tmp_path, vindr, keep):
    src, _ = vindr
    data = Path(src).read_bytes()
    path = tmp_path / "cut.dicom"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path)


def test_truncated_native_pixel_data(tmp_path):
    path = write(tmp_path, "native.dcm", small())
    data = path.read_bytes()
    path.write_bytes(data[:-1000])
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path)


def test_header_without_pixel_data(tmp_path):
    ds = make_dataset(small(16, 16))
    del ds.PixelData
    path = tmp_path / "nopix.dcm"
    ds.__dict__.pop("_factory_pixels", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path, "no pixel data")
    assert read_header(path)["Image size"].startswith("16 × 16")


def test_non_image_sop(tmp_path):
    sr = Path(pydicom.data.get_testdata_file("reportsi.dcm"))
    with pytest.raises(InputError) as exc_info:
        read_image(sr)
    assert_input_error(exc_info, sr, "not an image", "SR")
    assert "SR" in read_header(sr)["SOP class"]
    # an SR made here, to be sure it is the SOP class (not the corpus file) that is recognised
    ds = make_dataset(small(8, 8), sop_class=BASIC_TEXT_SR)
    ds.__dict__.pop("_factory_pixels", None)
    for kw in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
               "PhotometricInterpretation", "SamplesPerPixel", "PixelRepresentation"):
        delattr(ds, kw)
    path = tmp_path / "sr.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path, "not an image", "Basic Text SR")


def test_random_bytes_empty_missing_and_directory(tmp_path):
    rnd = tmp_path / "random.dicom"
    rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.dicom"
    empty.write_bytes(b"")
    cases = [(rnd, "not a DICOM"), (empty, "empty"), (tmp_path / "missing.dicom", "no such file"),
             (tmp_path, "directory")]
    for path, word in cases:
        for fn in (read_image, read_header):
            with pytest.raises(InputError) as exc_info:
                fn(path)
            assert_input_error(exc_info, path, word)


def test_preamble_with_garbage(tmp_path):
    path = tmp_path / "fake.dicom"
    path.write_bytes(b"\0" * 128 + b"DICM" + os.urandom(5000))
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path)


def test_missing_codec_names_the_package(tmp_path, monkeypatch):
    path = write(tmp_path, "j2k.dcm", small(), JPEG2000Lossless)

    class NoPlugins:
        is_available = False

    monkeypatch.setattr(dicom_decode, "_decode_j2k_pillow", lambda *a: None)
    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda ts: NoPlugins())

    def no_sitk(*a):
        raise dicom_decode.DecodeError("SimpleITK could not decode it")

    monkeypatch.setattr(dicom_decode, "_decode_sitk", no_sitk)
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path, "JPEG 2000", "pip package pylibjpeg-openjpeg")


def test_unsupported_syntax(tmp_path):
    ds = make_dataset(small(16, 16))
    ds.__dict__.pop("_factory_pixels", None)
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x11" * 64])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2 video
    path = tmp_path / "video.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InputError) as exc_info:
        read_image(path)
    assert_input_error(exc_info, path, "MPEG2")


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_simpleitk_fallback_when_pydicom_has_no_decoder(tmp_path, monkeypatch, photometric):
    arr = small(200, 120)
    path = write(tmp_path, "j2k.dcm", arr, JPEG2000Lossless, photometric=photometric)

    def no_decoder(ts):
        raise NotImplementedError(ts)

    monkeypatch.setattr(dicom_decode, "_decode_j2k_pillow", lambda *a: None)
    monkeypatch.setattr(pydicom.pixels, "get_decoder", no_decoder)
    img = read_image(path)
    assert img.decoder == "simpleitk"
    np.testing.assert_array_equal(img.pixels, arr)  # GDCM's MONOCHROME1 inversion is undone
    assert img.window == Window(2047.5, 4095.0, "dicom") and img.invert == (photometric == "MONOCHROME1")


def test_simpleitk_fallback_applies_rescale_once(tmp_path, monkeypatch):
    arr = small(64, 48)
    path = write(tmp_path, "ct.dcm", arr, RLELossless, rescale=(1.0, -1024.0))
    def no_decoder(ts):
        raise NotImplementedError(ts)

    monkeypatch.setattr(pydicom.pixels, "get_decoder", no_decoder)
    img = read_image(path)
    assert img.decoder == "simpleitk"
    np.testing.assert_array_equal(img.pixels, arr.astype(np.int32) - 1024)


def test_streams_one_frame_of_a_huge_native_file(tmp_path, monkeypatch):
    """Pixel data above DEFER_BYTES stays on disk; the frame is read from the file (also deflated)."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from spinegui.core.dicom import header as dicom_header

    frames = np.stack([small(96, 64, seed=s) for s in range(3)])
    native = write(tmp_path, "native.dcm", frames)
    deflated = write(tmp_path, "deflated.dcm", frames, DeflatedExplicitVRLittleEndian)
    monkeypatch.setattr(dicom_header, "DEFER_BYTES", 1024)
    for path in (native, deflated):
        img = read_image(path, frame=1)
        np.testing.assert_array_equal(img.pixels, frames[1])


def test_concurrent_readers_leave_warning_filters_as_they_were(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = [write(tmp_path, f"{i}.dcm", small(64, 48, seed=i), JPEG2000Lossless) for i in range(4)]
    before = list(warnings.filters)
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(read_image, paths * 6))
    assert warnings.filters == before
    assert all(img.pixels.shape == (64, 48) for img in images)
    with pytest.warns(UserWarning, match="VR UI"):  # outside the reader pydicom warns as usual
        _ = pydicom.dcmread(paths[0], stop_before_pixels=True).SOPInstanceUID  # reading the element warns


def test_large_jpeg_lossless_goes_to_simpleitk(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    arr = small(768, 512)
    raw = write(tmp_path, "raw.dcm", arr)
    out = tmp_path / "jpll.dcm"
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("GDCMImageIO")
    writer.SetFileName(str(out))
    writer.SetUseCompression(True)
    writer.SetCompressor("JPEG")
    writer.Execute(sitk.ReadImage(str(raw)))
    assert pydicom.dcmread(out, stop_before_pixels=True).file_meta.TransferSyntaxUID == JPEGLosslessSV1
    img = read_image(out)
    assert img.decoder == "simpleitk"
    np.testing.assert_array_equal(img.pixels, arr)


# ------------------------------------------------------------------------------------- header
def test_header_hides_identifying_values(vindr):
    path, _ = vindr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hidden = read_header(path)
    assert caught == []
    assert all(isinstance(k, str) and isinstance(v, str) and "\n" not in v for k, v in hidden.items())
    assert hidden["Patient name"] == "(hidden)" and hidden["Patient ID"] == "(hidden)"
    assert hidden["Birth date"] == "(hidden)" and hidden["Institution"] == "(hidden)"
    assert hidden["Study date"] == "(hidden)" and hidden["Accession number"] == "(hidden)"
    joined = " ".join(hidden.values())
    for value in IDENTIFYING.values():
        assert len(value) < 3 or value not in joined
    assert "JPEG 2000" in hidden["Transfer syntax"] and "1.2.840.10008.1.2.4.90" in hidden["Transfer syntax"]
    assert hidden["Image size"].startswith("1443 × 2874")
    assert hidden["Photometric"] == "MONOCHROME2" and "12 stored / 16 allocated" in hidden["Bits"]
    assert "Digital X-Ray" in hidden["SOP class"] and "0.14" in hidden["Pixel spacing"]
    assert hidden["Window"].startswith("center 2047.5, width 4095")
    assert len(hidden["SOP instance UID"]) == 32 and hidden["Manufacturer"] == "SyntheticCo"
    shown = read_header(path, show_identifying=True)
    assert shown["Patient name"] == "DOE^JANE" and shown["Patient ID"] == "PID-12345"
    assert shown.keys() == hidden.keys()


def test_header_of_file_without_identifying_tags(tmp_path):
    path = write(tmp_path, "anon.dcm", small(16, 16), identifying=False)
    info = read_header(path)
    assert "Patient name" not in info and info["Frames"] == "1"


def test_dataset_without_preamble_or_file_meta(tmp_path):
    arr = small(40, 30)
    ds = make_dataset(arr)
    ds.__dict__.pop("_factory_pixels", None)
    del ds.file_meta
    path = tmp_path / "bare.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    img = read_image(path)
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.transfer_syntax == "1.2.840.10008.1.2"  # implicit VR little endian, as read
    assert read_header(path)["Transfer syntax"].startswith("-")


def test_synthetic_flag_follows_the_files_own_marking(tmp_path):
    from dicom_factory import vindr_like_file

    real, _ = vindr_like_file(tmp_path / "real.dicom", rows=64, cols=32)
    assert read_image(real).synthetic is False
    ds = pydicom.dcmread(real)
    ds.SeriesDescription = "SYNTHETIC DEMO"
    ds.save_as(tmp_path / "synthetic.dicom")
    assert read_image(tmp_path / "synthetic.dicom").synthetic is True
