"""Ids are data, not paths (issue 14, defect 2). An image id such as ``../../outside/x``, an absolute
path, or one with a NUL, a control character or a backslash, is a malformed row that `info` reports
with its file and line; `export` (every format) never reads a file outside the dataset nor writes one
outside --out because of it; importing an export whose lists name such ids is refused in one line."""

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest

from hostile_util import run_cli, tree_digest
from spinegui.core.annotations.exports import export_annotations, image_sizes, import_annotations
from spinegui.core.annotations.overlay import current_annotations
from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import load_index
from spinegui.core.errors import InputError
from spinegui.core.ids import id_problem, safe_id

_OPENED: list | None = None  # paths opened while a test records them (see `opened`)


def _audit(event, args):
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)  # cannot be removed: it records nothing outside `opened`


class opened:
    """Every file opened in the block (by open(), os.open(), pydicom, ...)."""

    def __enter__(self):
        global _OPENED
        _OPENED = []
        return _OPENED

    def __exit__(self, *exc):
        global _OPENED
        _OPENED = None


def hostile_ids(tmp_path):
    """(image id, what it is): each one would name a file outside the dataset or outside --out."""
    return [
        ("../../outside/x", "relative escape to a sibling of the dataset"),
        ("../../../outside/y", "relative escape to a sibling of its parent"),
        (str(tmp_path / "box" / "outside" / "abs"), "absolute"),
        ("..\\..\\outside\\w", "backslashes"),
        ("nul\x00byte", "NUL"),
        ("ctl\x1b[31mred", "control character"),
        ("..", "dot-dot"),
        (".", "dot"),
    ]


@pytest.fixture
def box(demo_root, tmp_path):
    """tmp_path/box/data: the demo dataset with one hostile row per id appended to train.csv; beside
    it decoy DICOMs (real ones, so that reading them would work) where the ids point."""
    data = tmp_path / "box" / "data"
    shutil.copytree(demo_root, data)
    sample = next((data / "train_images").iterdir())
    for decoy in (tmp_path / "box" / "outside" / "x.dicom", tmp_path / "outside" / "y.dicom",
                  tmp_path / "box" / "outside" / "abs.dicom", tmp_path / "box" / "outside" / "w.dicom"):
        decoy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, decoy)
    csv_path = data / "annotations" / "train.csv"
    first = len(csv_path.read_text(encoding="utf-8").splitlines()) + 1
    lines = {}
    with open(csv_path, "a", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        for n, (image_id, _) in enumerate(hostile_ids(tmp_path)):
            w.writerow([f"study{n}", f"series{n}", image_id, "rad1", "Osteophytes", "10", "10", "50", "50"])
            lines[image_id] = first + n
    return data, csv_path, lines


def test_info_reports_each_hostile_id_as_a_malformed_row_with_file_and_line(box, tmp_path, capsys):
    data, csv_path, lines = box
    before = tree_digest(tmp_path)
    rc, out, err = run_cli(["info", data, "--json"], capsys)
    assert rc == 0 and "Traceback" not in err
    problems = json.loads(out)["problems"]
    for image_id, what in hostile_ids(tmp_path):
        found = [p for p in problems if p["line"] == lines[image_id]]
        assert len(found) == 1, f"{what}: {image_id!r} not reported ({problems})"
        assert found[0]["path"] == str(csv_path) and found[0]["severity"] == "error"
        assert "not a plain file name" in found[0]["reason"] or "control character" in found[0]["reason"]
        assert "row skipped" in found[0]["reason"]
    assert json.loads(out)["images"] == 24  # the good rows all load
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("fmt", ["voc", "yolo", "coco", "vindr"])
def test_export_neither_reads_outside_the_dataset_nor_writes_outside_out(box, tmp_path, capsys, fmt):
    data, _, _ = box
    out = tmp_path / "box" / fmt
    before = tree_digest(tmp_path)
    with opened() as paths:
        rc, stdout, err = run_cli(["export", data, "--format", fmt, "--out", out], capsys)
    assert rc == 0, err
    assert "Traceback" not in err
    after = tree_digest(tmp_path)
    made = {k for k in after if Path(tmp_path / k).is_relative_to(out)}
    assert {k: v for k, v in after.items() if k not in made} == before  # nothing changed outside --out
    assert any(Path(p).name == "train.csv" for p in paths)  # the recorder sees the reads
    outside = [p for p in paths if "outside" in Path(p).resolve().parts]
    assert outside == [], f"read outside the dataset: {outside}"
    written = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file())
    for image_id, what in hostile_ids(tmp_path):
        if len(image_id) > 2:  # "." and ".." appear in any text
            assert image_id not in written, f"{what}: {image_id!r} exported"
    assert "exported 24 images" in stdout


def _export(demo_root, tmp_path, fmt):
    index = load_index(demo_root)
    sizes, _ = image_sizes(index)
    out = tmp_path / fmt
    export_annotations(current_annotations(index), fmt, out, sizes)
    return out


def test_importing_a_voc_list_that_names_a_path_is_refused_and_reads_nothing_outside(demo_root, tmp_path):
    out = _export(demo_root, tmp_path, "voc")
    secret = tmp_path / "secret.xml"  # a valid VOC file outside the export
    shutil.copyfile(next((out / "Annotations").iterdir()), secret)
    listing = out / "ImageSets" / "Main" / "train.txt"
    listing.write_text(listing.read_text(encoding="utf-8") + "../../secret\n", encoding="utf-8")  # -> secret.xml
    line = len(listing.read_text(encoding="utf-8").splitlines())
    with opened() as paths, pytest.raises(InputError) as err:
        import_annotations("voc", out)
    assert err.value.path == listing and f"line {line}" in err.value.reason
    assert "'../../secret' is not a plain file name" in err.value.reason
    assert secret.resolve() not in {Path(p).resolve() for p in paths}


@pytest.mark.parametrize("key", ["image", "split"])
def test_importing_a_yolo_side_file_that_names_a_path_is_refused(demo_root, tmp_path, key):
    out = _export(demo_root, tmp_path, "yolo")
    meta_path = out / "spinegui_meta.json"
    meta = json.loads(meta_path.read_text())
    image_id, entry = next(iter(meta["images"].items()))
    entry["boxes"] = [{"rad_id": "rad1"}]
    if key == "image":  # labels/train/../../../secret.txt
        secret, meta["images"] = tmp_path / "secret.txt", {"../../../secret": entry}
    else:  # labels/../../<id>.txt
        secret, meta["images"] = tmp_path / f"{image_id}.txt", {image_id: {**entry, "split": "../.."}}
    secret.write_text("0 0.5 0.5 0.1 0.1\n")  # a label file that reads well: only a refusal stops it
    meta_path.write_text(json.dumps(meta))
    with opened() as paths, pytest.raises(InputError) as err:
        import_annotations("yolo", out)
    assert err.value.path == meta_path and "is not a plain file name" in err.value.reason
    assert secret.resolve() not in {Path(p).resolve() for p in paths}


def test_importing_a_vindr_csv_with_a_path_id_is_refused_with_its_line(tmp_path):
    folder = tmp_path / "imp"
    (folder / "annotations").mkdir(parents=True)
    path = folder / "annotations" / "train.csv"
    path.write_text("study_id,series_id,image_id,rad_id,lesion_type,xmin,ymin,xmax,ymax\n"
                    "s,r,good,rad1,No finding,,,,\n"
                    "s,r,/etc/passwd,rad1,No finding,,,,\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_annotations("vindr", folder)
    assert err.value.path == path and "line 3" in err.value.reason and "not a plain file name" in err.value.reason


@pytest.mark.parametrize("image_id", ["../x", "/tmp/x", "a\\b", "a\x00b", "a\nb", "..", ".", "", "C:x",
                                      "NUL", "con.dicom", "x.", " x", "x" * 201])
def test_the_shared_validator_refuses_what_is_no_plain_file_name(image_id, tmp_path):
    assert id_problem(image_id)
    with pytest.raises(InputError, match="is not a plain file name"):
        safe_id(image_id)
    # the cache builds its paths through it: an id that slipped past the loaders cannot escape
    with pytest.raises(InputError):
        ImageCache(tmp_path / "cache").display_path(image_id)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("image_id", ["c4b03967f053590a247e1c126c28b83e", "aug-abc-3", "syn-gan-x-e00001-00002",
                                      "1.2.840.113619.2.55", "image with spaces", "ünïcode"])
def test_the_shared_validator_accepts_plain_names(image_id):
    assert id_problem(image_id) is None and safe_id(image_id) == image_id


@pytest.mark.parametrize("fmt", ["vindr", "coco", "voc", "yolo"])
def test_an_id_that_slipped_past_the_loader_leaves_no_folder_behind(fmt, tmp_path):
    """export_annotations is also called by the app: an id that is no file name is refused before
    the output folder is made (not after, leaving an empty folder)."""
    from spinegui.core.annotations.model import AnnotatedImage, ImageAnnotations

    images = [AnnotatedImage("../escape", "s1", "r1", "train", ImageAnnotations())]
    with pytest.raises(InputError, match="plain file name"):
        export_annotations(images, fmt, tmp_path / "out", {"../escape": (10, 10)})
    assert not (tmp_path / "out").exists()
