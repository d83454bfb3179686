"""The VinDr index: exact schema, literal labels, several readers, and malformed rows reported and skipped."""

import json

import pytest

from spinegui.core.dataset.vindr import COLUMNS, LESION_TYPES, load_index
from spinegui.core.errors import InputError

HEADER = ",".join(COLUMNS)
S1, S2 = "a" * 32, "b" * 32
SE1, SE2 = "c" * 32, "d" * 32
I1, I2, I3 = "1" * 32, "2" * 32, "3" * 32


def make_root(tmp_path, train_rows, test_rows=(), header=HEADER, files=None, newline="\n", bom=False):
    root = tmp_path / "vindr"
    (root / "annotations").mkdir(parents=True)
    for split, rows in (("train", train_rows), ("test", test_rows)):
        text = newline.join([header, *rows]) + newline
        (root / "annotations" / f"{split}.csv").write_bytes(("\ufeff" if bom else "").encode() + text.encode())
        (root / f"{split}_images").mkdir()
    for split, image_id in files if files is not None else [("train", I1), ("train", I2), ("test", I3)]:
        (root / f"{split}_images" / f"{image_id}.dicom").write_bytes(b"")
    return root


GOOD_TRAIN = [
    f"{S1},{SE1},{I1},rad1,Osteophytes,10.5,20,110.25,220",
    f"{S1},{SE1},{I1},rad1,Spondylolysthesis,30,40,130,240",
    f"{S1},{SE1},{I1},rad2,Osteophytes,11,21,111,221",
    f"{S1},{SE2},{I2},rad1,No finding,,,,",
]
GOOD_TEST = [f"{S2},{SE2},{I3},rad3,Vertebral collapse,1,2,3,4"]


def test_good_dataset_loads_exactly(tmp_path):
    idx = load_index(make_root(tmp_path, GOOD_TRAIN, GOOD_TEST))
    assert idx.problems == []
    assert set(idx.images) == {I1, I2, I3}
    r1 = idx.images[I1]
    assert (r1.split, r1.study_id, r1.series_id) == ("train", S1, SE1)
    assert r1.boxes[0].xyxy == (10.5, 20.0, 110.25, 220.0)
    assert r1.readers == {"rad1", "rad2"}
    assert r1.labels == {"Osteophytes", "Spondylolysthesis"}
    assert idx.images[I2].labels == {"No finding"} and not idx.images[I2].is_abnormal
    assert list(idx.studies()) == [S1, S2]
    assert set(idx.studies()[S1]) == {SE1, SE2}
    c = idx.counts()
    tr = c["splits"]["train"]
    assert (tr["images"], tr["normal"], tr["abnormal"], tr["boxes"]) == (2, 1, 1, 3)
    assert tr["classes"]["Osteophytes"] == {"boxes": 2, "images": 1}
    assert c["splits"]["test"]["classes"]["Vertebral collapse"] == {"boxes": 1, "images": 1}
    assert c["readers"] == ["rad1", "rad2", "rad3"]
    json.dumps(c)  # counts are plain JSON


def test_bom_and_crlf(tmp_path):
    idx = load_index(make_root(tmp_path, GOOD_TRAIN, GOOD_TEST, newline="\r\n", bom=True))
    assert idx.problems == []
    assert len(idx.images) == 3 and idx.images[I1].boxes[0].lesion_type == "Osteophytes"


def test_columns_in_another_order_still_load(tmp_path):
    header = "image_id,study_id,series_id,rad_id,lesion_type,xmin,ymin,xmax,ymax"
    rows = [f"{I1},{S1},{SE1},rad1,Osteophytes,1,2,3,4"]
    idx = load_index(make_root(tmp_path, rows, header=header, files=[("train", I1)]))
    assert idx.images[I1].study_id == S1 and idx.images[I1].boxes[0].xyxy == (1, 2, 3, 4)


@pytest.mark.parametrize(
    "bad_row, expected",
    [
        (f"{S1},{SE1},{I1},rad1,Spondylolisthesis,1,2,3,4", "did you mean 'Spondylolysthesis'"),
        (f"{S1},{SE1},{I1},rad1,osteophyte,1,2,3,4", "unknown lesion_type 'osteophyte'"),
        (f"{S1},{SE1},{I1},rad1,Osteophytes,50,2,3,4", "inverted box: xmin=50 xmax=3"),
        (f"{S1},{SE1},{I1},rad1,Osteophytes,1,abc,3,4", "non-numeric coordinate"),
        (f"{S1},{SE1},{I1},rad1,Osteophytes,-90,-80,-10,-5", "outside the image"),
        (f"{S1},{SE1},{I1},rad1,Osteophytes,1,2,3", "8 fields, expected 9"),
        (f"{S1},{SE1},{I1},rad1,Osteophytes,1,2,nan,4", "non-finite"),
        (f",{SE1},{I1},rad1,Osteophytes,1,2,3,4", "empty study_id"),
    ],
)
def test_malformed_row_is_reported_and_good_rows_load(tmp_path, bad_row, expected):
    rows = [GOOD_TRAIN[0], bad_row, *GOOD_TRAIN[1:]]
    idx = load_index(make_root(tmp_path, rows, GOOD_TEST))
    errors = [p for p in idx.problems if p.severity == "error"]
    assert len(errors) == 1, idx.problems
    assert errors[0].line == 3 and errors[0].path.name == "train.csv"
    assert expected in errors[0].reason and "skipped" in errors[0].reason
    assert "\n" not in str(errors[0])
    # Every good row still loads.
    assert len(idx.images[I1].boxes) == 3 and I2 in idx.images and I3 in idx.images


def test_duplicate_row_reported_once_and_not_double_counted(tmp_path):
    rows = [GOOD_TRAIN[0], GOOD_TRAIN[0], *GOOD_TRAIN[1:]]
    idx = load_index(make_root(tmp_path, rows, GOOD_TEST))
    assert [(p.line, "duplicate" in p.reason) for p in idx.problems] == [(3, True)]
    assert len(idx.images[I1].boxes) == 3


def test_box_partly_past_edge_is_clipped_with_warning(tmp_path):
    rows = [f"{S1},{SE1},{I1},rad1,Osteophytes,-5,10,30,40"]
    idx = load_index(make_root(tmp_path, rows, files=[("train", I1)]))
    assert idx.images[I1].boxes[0].xyxy == (0, 10, 30, 40)
    assert [p.severity for p in idx.problems] == ["warning"]


def test_missing_column_rejects_file_with_clear_report(tmp_path):
    header = ",".join(c for c in COLUMNS if c != "rad_id")
    rows = [f"{S1},{SE1},{I1},Osteophytes,1,2,3,4"]
    root = make_root(tmp_path, rows, files=[("train", I1)], header=header)
    (root / "annotations" / "test.csv").write_text(HEADER + "\n" + GOOD_TEST[0] + "\n")
    (root / "test_images" / f"{I3}.dicom").write_bytes(b"")
    idx = load_index(root)
    assert any("missing column(s): rad_id" in p.reason and p.line == 1 for p in idx.problems)
    assert set(idx.images) == {I3}  # the other CSV still loads


def test_missing_and_unlisted_files_are_reported(tmp_path):
    idx = load_index(make_root(tmp_path, GOOD_TRAIN, GOOD_TEST, files=[("train", I1), ("train", "f" * 32)]))
    reasons = " | ".join(p.reason for p in idx.problems)
    assert "1 annotated image(s) have no file" in reasons  # I2 in train
    assert "1 file(s) not in annotations/train.csv" in reasons
    assert idx.images[I2].file_exists is False and idx.images[I1].file_exists


@pytest.mark.parametrize("missing", ["annotations/train.csv", "annotations/test.csv", "train_images", "test_images"])
def test_not_a_vindr_root_says_what_is_missing(tmp_path, missing):
    root = make_root(tmp_path, GOOD_TRAIN, GOOD_TEST)
    target = root / missing
    if target.is_dir():
        for f in target.iterdir():
            f.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(InputError, match=f"missing {missing}$"):
        load_index(root)


def test_no_such_root(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        load_index(tmp_path / "nope")


def test_labels_are_vindr_literal_strings():
    assert "Spondylolysthesis" in LESION_TYPES and len(LESION_TYPES) == 7
