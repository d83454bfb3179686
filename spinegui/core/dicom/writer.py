"""Write one greyscale frame as a JPEG 2000 lossless DICOM file, as VinDr stores its images.

Shared by the demo generator and the augmented-dataset export: the caller builds the header (UIDs,
bit depth, photometric, descriptions); this sets the file meta and the pixel tags, compresses and
returns the file's bytes. Deterministic: the same dataset and pixels give the same bytes.
"""

from __future__ import annotations

import io

import numpy as np


def encode_j2k_lossless(ds, pixels: np.ndarray) -> bytes:
    """``ds`` (a pydicom Dataset with SOPClassUID and SOPInstanceUID) with ``pixels`` (2-D, uint16)
    as its only frame. Replaces ``ds.file_meta``; sets Rows, Columns, SamplesPerPixel, PixelData."""
    from pydicom.config import disable_value_validation
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, JPEG2000Lossless

    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {pixels.shape}")
    # VinDr's UIDs are 32-hex strings, not dotted numbers; we keep that on purpose.
    with disable_value_validation():
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian  # what the raw PixelData is before compress()
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
        ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
