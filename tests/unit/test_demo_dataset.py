"""The demo dataset has VinDr-SpineXR's exact shape: layout, DICOM format, UIDs, CSV schema, splits."""

import csv
import hashlib
import warnings

import numpy as np
import pydicom
import pytest

from spinegui.core.dataset.vindr import COLUMNS, LABELS, LESION_TYPES, load_index
from spinegui.core.demo.dataset import generate_demo_dataset, plan_dataset
from spinegui.core.dicom.reader import read_image
from spinegui.core.errors import InputError


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def test_layout_and_csv_schema(demo_root):
    assert sorted(p.name for p in demo_root.iterdir()) == ["annotations", "test_images", "train_images"]
    for split in ("train", "test"):
        with open(demo_root / "annotations" / f"{split}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        assert tuple(rows[0]) == COLUMNS
        for row in rows[1:]:
            assert row[4] in LABELS
            for uid in row[:3]:
                assert len(uid) == 32 and all(c in "0123456789abcdef" for c in uid)
            if row[4] == "No finding":
                assert row[5:] == ["", "", "", ""]
            else:
                x0, y0, x1, y1 = map(float, row[5:])
                assert x0 < x1 and y0 < y1


def test_files_are_vindr_dicoms(demo_root):
    idx = load_index(demo_root)
    assert idx.problems == []
    assert len(idx.images) == 24
    for rec in list(idx.images.values())[:6]:
        ds = read(rec.path)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"  # JPEG 2000 Lossless
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.SOPInstanceUID == rec.image_id == rec.path.stem
        assert ds.StudyInstanceUID == rec.study_id and ds.SeriesInstanceUID == rec.series_id
        assert "DERIVED" in ds.ImageType and "SYNTHETIC" in ds.SeriesDescription
        # What a viewer's header panel shows: the modality a DX For Presentation file must name.
        assert ds.Modality == "DX" and ds.PresentationIntentType == "FOR PRESENTATION"
        assert ds.ImagerPixelSpacing == ds.PixelSpacing and ds.BodyPartExamined in ("LSPINE", "CSPINE")
        assert str(ds.PatientName) == "" and ds.PatientID == ""
        assert float(ds.WindowWidth) > 0 and ds.PixelSpacing[0] > 0
        px = ds.pixel_array
        assert read_image(rec.path).synthetic
        assert px.shape == (ds.Rows, ds.Columns) and px.max() <= 4095


def test_split_is_by_study_and_every_class_present(demo_root):
    idx = load_index(demo_root)
    split_of_study = {}
    for rec in idx.images.values():
        assert split_of_study.setdefault(rec.study_id, rec.split) == rec.split
    present = {b.lesion_type for r in idx.images.values() for b in r.boxes}
    assert present == set(LESION_TYPES)


def test_boxes_lie_inside_their_images(demo_root):
    idx = load_index(demo_root)
    for rec in idx.images.values():
        ds = read(rec.path)
        for b in rec.boxes:
            assert 0 <= b.xmin < b.xmax <= ds.Columns and 0 <= b.ymin < b.ymax <= ds.Rows


def test_deterministic_by_seed(tmp_path):
    a = generate_demo_dataset(tmp_path / "a", n_images=3, seed=5, workers=1)
    b = generate_demo_dataset(tmp_path / "b", n_images=3, seed=5, workers=2)
    assert a == b
    for split in ("train", "test"):
        assert (tmp_path / "a/annotations" / f"{split}.csv").read_bytes() == (
            tmp_path / "b/annotations" / f"{split}.csv"
        ).read_bytes()
    for p in a:
        fa = (tmp_path / "a" / f"{p.split}_images" / f"{p.image_id}.dicom").read_bytes()
        fb = (tmp_path / "b" / f"{p.split}_images" / f"{p.image_id}.dicom").read_bytes()
        assert hashlib.sha1(fa).digest() == hashlib.sha1(fb).digest()
    other = plan_dataset(3, seed=6)
    assert {p.image_id for p in other}.isdisjoint({p.image_id for p in a})


def test_vindr_mix_keeps_the_imbalance():
    plans = plan_dataset(3000, seed=1)
    abnormal = [p for p in plans if p.lesions]
    share = len(abnormal) / len(plans)
    assert 0.44 < share < 0.54  # VinDr train: 4,129 / 8,389 = 0.49
    ost = sum("Osteophytes" in p.lesions for p in abnormal) / len(abnormal)
    vc = sum("Vertebral collapse" in p.lesions for p in abnormal) / len(abnormal)
    assert ost > 0.8 and 0.015 < vc < 0.07  # 0.87 and 0.038 in VinDr
    test_share = sum(p.split == "test" for p in plans) / len(plans)
    assert 0.15 < test_share < 0.25


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not an empty folder"):
        generate_demo_dataset(tmp_path / "x", n_images=1)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_lesion_is_visible_in_its_box(demo_root):
    """Mean contrast inside lesion boxes differs from the image's, i.e. something is drawn there."""
    idx = load_index(demo_root)
    checked = 0
    for rec in idx.images.values():
        if not rec.boxes:
            continue
        px = read(rec.path).pixel_array.astype(np.float32)
        for b in rec.boxes:
            patch = px[int(b.ymin) : int(b.ymax) + 1, int(b.xmin) : int(b.xmax) + 1]
            assert patch.size > 0 and patch.std() > 5, (rec.image_id, b.lesion_type)
            checked += 1
    assert checked >= 7
