"""Build VinDr-like (and deliberately un-VinDr-like) DICOM files for tests and benchmarks.

Pure numpy + pydicom. Nothing here touches the network or the real dataset.

    arr = vindr_like_array(2874, 1443)                    # 12-bit, smooth anatomy + noise
    ds = make_dataset(arr)                                # VinDr header: DX For Presentation, MONOCHROME2,
                                                          # 16 allocated / 12 stored, window tags, hex UIDs
    path = write_dataset(ds, tmp_path / "x.dicom", transfer_syntax=JPEG2000Lossless)

Variants come from keyword arguments: ``photometric="MONOCHROME1"``, ``window=None`` (no window tags),
``voi_lut=(lut, first_mapped)``, ``rescale=(slope, intercept)``, ``pixel_spacing=None`` /
``imager_pixel_spacing=(r, c)``, ``pixel_representation=1`` (signed), ``frames`` (3-D input), etc.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
)

DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
CR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.1")
BASIC_TEXT_SR = UID("1.2.840.10008.5.1.4.1.1.88.11")

IDENTIFYING = {
    "PatientName": "DOE^JANE",
    "PatientID": "PID-12345",
    "PatientBirthDate": "19600101",
    "PatientSex": "F",
    "PatientAge": "064Y",
    "InstitutionName": "Example Hospital",
    "ReferringPhysicianName": "WHO^DR",
    "AccessionNumber": "ACC987",
    "StudyDate": "20200102",
    "StudyTime": "101112",
}


def hex_uid(rng: np.random.Generator) -> str:
    """A 32-character lowercase hex id, as VinDr uses for its UIDs (not a valid dotted UID)."""
    return "".join(f"{b:02x}" for b in rng.integers(0, 256, 16, dtype=np.uint8))


def _smooth_field(rng: np.random.Generator, rows: int, cols: int, cell: int) -> np.ndarray:
    """Unit-variance-ish random field, bilinearly upsampled from a coarse grid (cell px per knot)."""
    gr, gc = rows // cell + 2, cols // cell + 2
    grid = rng.standard_normal((gr, gc)).astype(np.float32)
    ry = np.linspace(0, gr - 1.001, rows, dtype=np.float32)
    rx = np.linspace(0, gc - 1.001, cols, dtype=np.float32)
    y0, x0 = ry.astype(np.intp), rx.astype(np.intp)
    fy, fx = (ry - y0)[:, None], (rx - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bot = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bot * fy


def vindr_like_array(
    rows: int = 2874,
    cols: int = 1443,
    *,
    seed: int = 0,
    bits_stored: int = 12,
    noise: float = 14.0,
) -> np.ndarray:
    """A lateral-spine-looking uint16 image: soft tissue, a column of vertebrae, collimation, noise.

    Not anatomy, but the statistics that matter for codecs and windows are plausible: smooth structures
    with sharp-ish edges, texture, a dark collimated border, and sensor noise (so JPEG 2000 lossless
    compresses about 2:1 rather than 50:1).
    """
    rng = np.random.default_rng(seed)
    top = (1 << bits_stored) - 1
    scale = top / 4095.0
    yy = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, cols, dtype=np.float32)[None, :]
    img = 700.0 + 1100.0 * np.exp(-(((xx - 0.5) / 0.33) ** 2)) * (0.8 + 0.2 * yy)
    img = img + 160.0 * _smooth_field(rng, rows, cols, max(8, rows // 24))
    # Vertebral bodies: rounded boxes down a lordotic curve, mottled inside, bright end plates.
    n = 7
    height = rows / (n + 1.5)
    for k in range(n):
        cy = (k + 1.0) * height
        cx = cols * (0.47 + 0.06 * np.sin(np.pi * cy / rows))
        hh, hw = 0.36 * height, 0.16 * cols
        r0, r1 = max(0, int(cy - hh - 20)), min(rows, int(cy + hh + 20))
        c0, c1 = max(0, int(cx - hw - 20)), min(cols, int(cx + hw + 20))
        sy = np.abs(np.arange(r0, r1, dtype=np.float32)[:, None] - cy) / hh
        sx = np.abs(np.arange(c0, c1, dtype=np.float32)[None, :] - cx) / hw
        d = np.maximum(sy, sx)  # 1 at the box edge
        inside = 1.0 / (1.0 + np.exp(np.minimum((d - 1.0) * 40.0, 60.0)))
        plate = np.exp(-(((sy - 0.97) / 0.03) ** 2)) * (sx < 1.0)
        tex = _smooth_field(rng, r1 - r0, c1 - c0, 12)
        img[r0:r1, c0:c1] += inside * (650.0 + 90.0 * tex) + 500.0 * plate
    img *= scale
    img += rng.normal(0.0, noise * scale, size=(rows, cols)).astype(np.float32)
    # Collimation: a dark border (with its own faint noise), as on many radiographs.
    br, bc = rows // 30, cols // 25
    border = np.ones((rows, cols), dtype=bool)
    border[br : rows - br, bc : cols - bc] = False
    img[border] = 60.0 * scale + rng.normal(0.0, 3.0 * scale, size=int(border.sum()))
    return np.clip(np.rint(img), 0, top).astype(np.uint16)


def make_dataset(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_allocated: int | None = None,
    bits_stored: int = 12,
    pixel_representation: int = 0,
    window: tuple[float, float] | tuple[list[float], list[float]] | None = (2047.5, 4095.0),
    rescale: tuple[float, float] | None = (1.0, 0.0),
    voi_lut: tuple[np.ndarray, int] | None = None,
    pixel_spacing: tuple[float, float] | None = (0.14, 0.14),
    imager_pixel_spacing: tuple[float, float] | None = None,
    sop_class: str = DX_FOR_PRESENTATION,
    identifying: bool = True,
    seed: int = 0,
) -> Dataset:
    """A dataset with VinDr's header shape around ``pixels`` (2-D, or 3-D = frames / RGB when 3 samples).

    ``voi_lut`` is ``(lut_values, first_mapped)``: a VOI LUT Sequence item with a 16-bit LUT.
    ``window`` may hold lists for multi-valued WindowCenter / WindowWidth.
    """
    rng = np.random.default_rng(seed)
    pixels = np.asarray(pixels)
    samples = 3 if photometric in ("RGB", "YBR_FULL") else 1
    if samples == 3:
        frames = pixels.shape[0] if pixels.ndim == 4 else 1
        rows, cols = pixels.shape[-3:-1]
    else:
        frames = pixels.shape[0] if pixels.ndim == 3 else 1
        rows, cols = pixels.shape[-2:]
    if bits_allocated is None:
        bits_allocated = 8 if bits_stored <= 8 else 16 if bits_stored <= 16 else 32

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    sop_uid = hex_uid(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hex UIDs are not valid dotted UIDs; VinDr ships them anyway
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = hex_uid(rng)
        ds.SeriesInstanceUID = hex_uid(rng)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = UID(sop_class)
    ds.Manufacturer = "SyntheticCo"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if identifying:
        for key, value in IDENTIFYING.items():
            setattr(ds, key, value)
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(rows), int(cols)
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = pixel_representation
    if frames > 1:
        ds.NumberOfFrames = frames
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "US"
    if voi_lut is not None:
        lut, first = voi_lut
        lut = np.asarray(lut, dtype=np.uint16)
        item = Dataset()
        item.LUTDescriptor = [len(lut) if len(lut) < 65536 else 0, int(first), 16]
        item.LUTExplanation = "TEST LUT"
        item.add_new(0x00283006, "OW", lut.astype("<u2").tobytes())  # LUT Data
        ds.VOILUTSequence = Sequence([item])
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if imager_pixel_spacing is not None:
        ds.ImagerPixelSpacing = list(imager_pixel_spacing)
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}[bits_allocated]
    if pixel_representation:
        dtype = {8: np.int8, 16: np.int16, 32: np.int32}[bits_allocated]
    ds.PixelData = np.ascontiguousarray(pixels.astype(dtype, copy=False)).tobytes()
    ds._factory_pixels = pixels  # kept for compress(); not written
    return ds


def write_dataset(ds: Dataset, path: str | Path, *, transfer_syntax: str = ExplicitVRLittleEndian) -> Path:
    """Write ``ds`` (from make_dataset) with the given transfer syntax; compresses where it is one."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = UID(transfer_syntax)
        arr = ds.__dict__.pop("_factory_pixels", None)
        if ts.is_compressed:
            if arr is None:
                arr = ds.pixel_array
            ds.compress(ts, arr, generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = ts
            if not ts.is_little_endian:  # OB/OW bytes are written as given: swap them here
                size = ds.BitsAllocated // 8
                if size > 1:
                    raw = np.frombuffer(ds.PixelData, dtype=f"<u{size}")
                    ds.PixelData = raw.astype(f">u{size}").tobytes()
                for item in ds.get("VOILUTSequence", []):
                    lut = np.frombuffer(item[0x00283006].value, dtype="<u2")
                    item[0x00283006].value = lut.astype(">u2").tobytes()
        ds.save_as(path, enforce_file_format=True)
    return path


def vindr_like_file(
    path: str | Path,
    rows: int = 2874,
    cols: int = 1443,
    *,
    seed: int = 0,
    transfer_syntax: str = JPEG2000Lossless,
    **header,
) -> tuple[Path, np.ndarray]:
    """Write a VinDr-like file (JPEG 2000 lossless by default); return (path, the stored array)."""
    arr = vindr_like_array(rows, cols, seed=seed, bits_stored=header.get("bits_stored", 12))
    ds = make_dataset(arr, seed=seed, **header)
    return write_dataset(ds, path, transfer_syntax=transfer_syntax), arr
