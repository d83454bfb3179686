"""The DICOM file of one augmented image: the source's header, de-identified and marked SYNTHETIC.

    data = derived_dicom(source_ds, pixels, image_id="aug-...", series_id=..., bits_stored=12,
                         invert=False, params=result.params, provenance={...})

The header keeps what describes the acquisition (SOP class, study, window, manufacturer) and loses
what identifies a person (DICOM PS3.15 Basic Application Level Confidentiality Profile with the
Retain UIDs Option: see spinegui.core.dicom.deid) or no longer matches the pixels.
``spinegui.core.dicom.reader.is_synthetic`` is True for every file written here (ImageType,
SeriesDescription and DerivationDescription say so).
"""

from __future__ import annotations

import copy
import json

import numpy as np

from spinegui.core.dicom.deid import deidentify, mark_deidentified, profile_keywords
from spinegui.core.dicom.writer import encode_j2k_lossless

SERIES_DESCRIPTION = "SYNTHETIC AUGMENTED"

# Type-2 attributes the IODs require present: after the profile they come back empty.
EMPTY_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "ReferringPhysicianName",
               "StudyDate", "StudyTime", "AccessionNumber", "StudyID")
# What spinegui writes itself over the profile's removals: its SYNTHETIC marks and provenance.
MARKS = ("SOPInstanceUID", "SeriesInstanceUID", "ImageType", "SeriesDescription", "DerivationDescription",
         "SourceImageSequence", "ImageComments")
# The profile's attributes (PS3.15 Table E.1-1) that an output never carries with a value: those it
# removes or empties, less the marks above.
IDENTIFYING_TAGS = tuple(k for k in profile_keywords("XZ") if k not in MARKS)
# Pixel-module and frame tags that describe the source's pixels, not ours: rewritten or dropped.
PIXEL_TAGS = (
    "PixelData", "FloatPixelData", "DoubleFloatPixelData", "NumberOfFrames", "FrameIncrementPointer",
    "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence", "PlanarConfiguration",
    "LargestImagePixelValue", "SmallestImagePixelValue", "PixelPaddingValue", "PixelPaddingRangeLimit",
    "ModalityLUTSequence", "RescaleType", "IconImageSequence",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID",
)
SPACING_TAGS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing", "PixelAspectRatio")
# Drawn parameters that keep the physical size of a pixel (rigid moves, flips, intensity): only then
# is the source's pixel spacing still true.
_SPACING_KEPT_BY = {"angle", "rotation_fixed", "hflip", "vflip", "tx", "ty", "brightness", "contrast",
                    "gamma", "noise", "noise_seed", "blur"}


def derived_dicom(source, pixels: np.ndarray, *, image_id: str, series_id: str, bits_stored: int,
                  invert: bool, params: dict, provenance: dict) -> bytes:
    """JPEG 2000 lossless file bytes for ``pixels`` (2-D uint16 modality values) derived from
    ``source`` (a pydicom Dataset read without its pixels; not modified)."""
    from pydicom.config import disable_value_validation
    from pydicom.dataset import Dataset

    with disable_value_validation():  # VinDr's hex UIDs and our "aug-..." ids are not dotted UIDs
        ds = Dataset()  # a plain copy: the source's encoding (e.g. big endian) must not come along
        for elem in source:
            ds.add(copy.deepcopy(elem))
        for keyword in PIXEL_TAGS:
            if keyword in ds:
                delattr(ds, keyword)
        # PS3.15 Basic Profile, private tags included; UIDs retained: the file names its source.
        deidentify(ds, retain_uids=True)
        for keyword in EMPTY_TYPE2:
            setattr(ds, keyword, "")
        _spacing(ds, params)

        source_uid = str(source.get("SOPInstanceUID") or provenance.get("source_image_id", ""))
        ds.SOPClassUID = str(source.get("SOPClassUID") or "1.2.840.10008.5.1.4.1.1.1.1")
        ds.SOPInstanceUID = image_id
        ds.SeriesInstanceUID = series_id
        ds.ImageType = ["DERIVED", "SECONDARY", "SYNTHETIC"]
        ds.SeriesDescription = SERIES_DESCRIPTION
        ds.DerivationDescription = (f"SYNTHETIC: spinegui augmentation of {source_uid}, "
                                    f"seed {provenance.get('seed')}; not an acquired image")
        ref = Dataset()
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ref.ReferencedSOPInstanceUID = source_uid
        ds.SourceImageSequence = [ref]
        ds.ImageComments = json.dumps(provenance, sort_keys=True, separators=(",", ":"))

        # read_image gave modality values, so the rescale is now the identity.
        ds.PhotometricInterpretation = "MONOCHROME1" if invert else "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
        ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
        mark_deidentified(ds, retain_uids=True, method="spinegui augment")
    return encode_j2k_lossless(ds, pixels)


def _spacing(ds, params: dict) -> None:
    """Keep the pixel spacing where the transform kept pixel sizes (swapped by a 90/270 turn)."""
    if not set(params) <= _SPACING_KEPT_BY:
        for keyword in SPACING_TAGS:
            if keyword in ds:
                delattr(ds, keyword)
        return
    if params.get("rotation_fixed") in (90, 270):
        for keyword in SPACING_TAGS:
            value = ds.get(keyword)
            if value is not None and not isinstance(value, str) and len(value) == 2:
                setattr(ds, keyword, [value[1], value[0]])
