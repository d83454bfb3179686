"""Export formats (VinDr CSV, COCO, Pascal VOC, YOLO): each round-trips; sizes; errors; the CLI."""

import csv
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from spinegui.cli.entry import main
from spinegui.core.annotations.exports import (
    FORMATS,
    export_annotations,
    export_workspace,
    header_size,
    image_sizes,
    import_annotations,
)
from spinegui.core.annotations.overlay import current_annotations
from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.cache import source_key
from spinegui.core.dataset.vindr import COLUMNS, LESION_TYPES, load_index
from spinegui.core.dataset.workspace import Workspace, default_workspace_dir
from spinegui.core.dicom.reader import read_image
from spinegui.core.errors import InputError


@pytest.fixture(scope="module")
def index(demo_root):
    return load_index(demo_root)


@pytest.fixture(scope="module")
def sizes(index):
    found, failures = image_sizes(index)
    assert not failures and len(found) == len(index.images)
    return found


def make_edits(index, sizes, ws_dir):
    """A store with every kind of edit; returns it closed (saved)."""
    store = AnnotationStore(index, Workspace.for_dataset(index.root, ws_dir), reader="Dr Ana Pérez",
                            sizes=sizes, autosave=False)
    abnormal = [r.image_id for r in index.images.values() if r.boxes]
    normal = [r.image_id for r in index.images.values() if not r.boxes]
    a, b, c, d = abnormal[:4]
    rows, cols = sizes[a]
    store.add_box(a, "Spondylolysthesis", (10.123456789, 20.987654321, 30.5, 40.25))
    store.add_box(a, "Surgical implant", (-3, -3, cols + 5, rows + 5))  # clipped to the whole image
    store.move_box(a, "d0", (11.1111, 12.2222, 133.3333, 144.4444))   # another reader's box, edited
    store.set_lesion_type(b, "d0", "Other lesions")
    for box in store.boxes(c):                                        # all boxes deleted: no reader left
        store.delete_box(c, box.uid)
    store.reader = index.images[d].boxes[0].rad_id
    store.mark_no_finding(d)                                          # that reader's boxes go
    store.reader = "rad7"
    store.mark_no_finding(b)                                          # "No finding" beside rad boxes
    store.set_verified(a)
    store.set_verified(normal[0])
    store.add_box(normal[1], "Osteophytes", (5, 6, 7.5, 8.5))
    store.close()
    return store


@pytest.fixture(scope="module")
def edited(index, sizes, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    store = make_edits(index, sizes, ws)
    return ws, store.snapshot()


def assert_same(expected, got, provenance=True):
    exp = {im.image_id: im for im in expected}
    back = {im.image_id: im for im in got}
    assert list(back) == list(exp)
    for image_id, e in exp.items():
        g = back[image_id]
        assert (g.study_id, g.series_id, g.split) == (e.study_id, e.series_id, e.split), image_id
        assert g.ann.no_finding == e.ann.no_finding, image_id
        assert len(g.ann.boxes) == len(e.ann.boxes), image_id
        for gb, eb in zip(g.ann.boxes, e.ann.boxes):
            assert (gb.lesion_type, gb.rad_id) == (eb.lesion_type, eb.rad_id), image_id
            assert np.allclose(gb.xyxy, eb.xyxy, rtol=0, atol=1e-3), (image_id, gb.xyxy, eb.xyxy)
            if provenance:
                assert (gb.edited_by, gb.edited_at) == (eb.edited_by, eb.edited_at), image_id
        if provenance:
            assert (g.ann.verified_by, g.ann.verified_at) == (e.ann.verified_by, e.ann.verified_at), image_id


# --- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, provenance", [("vindr", False), ("vindr", True), ("coco", False),
                                             ("voc", False), ("yolo", False)])
def test_each_format_round_trips(edited, sizes, tmp_path, fmt, provenance):
    _, images = edited
    assert any(not im.ann.boxes and not im.ann.no_finding for im in images)  # the edits cover the edge cases
    report = export_annotations(images, fmt, tmp_path / "out", sizes, provenance=provenance)
    assert (report.images, report.boxes) == (len(images), sum(len(im.ann.boxes) for im in images))
    back = import_annotations(fmt, tmp_path / "out")
    assert_same(images, back, provenance=fmt != "vindr" or provenance)
    assert [b.uid for b in back[0].ann.boxes] == [f"d{i}" for i in range(len(back[0].ann.boxes))]


def test_dataset_annotations_round_trip_unedited(index, sizes, tmp_path):
    images = current_annotations(index)
    for fmt in FORMATS:
        export_annotations(images, fmt, tmp_path / fmt, sizes)
        assert_same(images, import_annotations(fmt, tmp_path / fmt))


def test_plain_vindr_csv_drops_into_a_dataset_and_loads(edited, demo_root, tmp_path):
    _, images = edited
    export_annotations(images, "vindr", tmp_path / "out")
    for split in ("train", "test"):
        with open(tmp_path / "out" / "annotations" / f"{split}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        assert tuple(rows[0]) == COLUMNS and all(len(r) == 9 for r in rows)
    root = tmp_path / "dataset"
    shutil.copytree(demo_root, root)
    shutil.rmtree(root / "annotations")
    shutil.copytree(tmp_path / "out" / "annotations", root / "annotations")
    loaded = load_index(root)
    assert loaded.problems == []
    for im in images:
        rec = loaded.images[im.image_id]
        assert [(b.lesion_type, b.rad_id) for b in rec.boxes] == [(b.lesion_type, b.rad_id) for b in im.ann.boxes]
        assert np.allclose([b.xyxy for b in rec.boxes] or np.zeros((0, 4)),
                           [b.xyxy for b in im.ann.boxes] or np.zeros((0, 4)), atol=1e-3)
        assert rec.no_finding_readers - {""} == im.ann.no_finding
        assert rec.labels == im.ann.labels


def test_coco_loads_in_pycocotools_with_the_right_boxes(edited, sizes, tmp_path):
    from pycocotools.coco import COCO

    _, images = edited
    export_annotations(images, "coco", tmp_path / "out", sizes)
    for split in ("train", "test"):
        coco = COCO(str(tmp_path / "out" / "annotations" / f"instances_{split}.json"))
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(LESION_TYPES)
        assert coco.getCatIds(catNms=["Osteophytes"]) == [1]
        ours = [im for im in images if im.split == split]
        assert len(coco.getImgIds()) == len(ours)
        for img in coco.loadImgs(coco.getImgIds()):
            im = next(i for i in ours if i.image_id == img["vindr_image_id"])
            assert (img["height"], img["width"]) == sizes[im.image_id]
            assert img["file_name"] == f"{split}_images/{im.image_id}.dicom"
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
            assert len(anns) == len(im.ann.boxes)
            for ann, box in zip(anns, im.ann.boxes):
                x0, y0, x1, y1 = box.xyxy
                assert np.allclose(ann["bbox"], [x0, y0, x1 - x0, y1 - y0], atol=1e-3)
                assert ann["area"] == pytest.approx((x1 - x0) * (y1 - y0), abs=1e-2)
                assert coco.loadCats(ann["category_id"])[0]["name"] == box.lesion_type
                assert ann["iscrowd"] == 0 and ann["rad_id"] == box.rad_id


def test_yolo_and_voc_files_look_right(edited, sizes, tmp_path):
    _, images = edited
    export_annotations(images, "yolo", tmp_path / "yolo", sizes)
    assert (tmp_path / "yolo" / "classes.txt").read_text().splitlines() == list(LESION_TYPES)
    assert "nc: 7" in (tmp_path / "yolo" / "data.yaml").read_text()
    for im in images:
        lines = (tmp_path / "yolo" / "labels" / im.split / f"{im.image_id}.txt").read_text().splitlines()
        assert len(lines) == len(im.ann.boxes)  # an image without boxes: an empty file
        for line, box in zip(lines, im.ann.boxes):
            cls, *vals = line.split()
            assert LESION_TYPES[int(cls)] == box.lesion_type
            assert len(vals) == 4 and all(0 <= float(v) <= 1 for v in vals)
    export_annotations(images, "voc", tmp_path / "voc", sizes)
    for im in images:
        root = ET.parse(tmp_path / "voc" / "Annotations" / f"{im.image_id}.xml").getroot()
        assert (int(root.findtext("size/height")), int(root.findtext("size/width"))) == sizes[im.image_id]
        assert [o.findtext("name") for o in root.findall("object")] == [b.lesion_type for b in im.ann.boxes]
    assert (tmp_path / "voc" / "ImageSets" / "Main" / "test.txt").read_text().split() == \
           [im.image_id for im in images if im.split == "test"]


# --- image sizes --------------------------------------------------------------------------------
def test_header_size_matches_the_decoded_image(index):
    rec = next(iter(index.images.values()))
    assert header_size(rec.path) == read_image(rec.path).shape


def test_sizes_come_from_a_fresh_cache_entry_else_the_header(index, sizes, tmp_path):
    recs = list(index.images.values())[:3]
    cache = tmp_path / "cache"
    cache.mkdir()
    entries = {
        recs[0].image_id: {"state": "ok", "key": source_key(recs[0].path), "shape": [7, 9]},  # fresh: used
        recs[1].image_id: {"state": "ok", "key": [1, 2], "shape": [7, 9]},                    # stale: header
    }
    (cache / "manifest.json").write_text(json.dumps({"version": 1, "entries": entries}))
    found, failures = image_sizes(index, cache, [r.image_id for r in recs])
    assert found[recs[0].image_id] == (7, 9)
    assert found[recs[1].image_id] == sizes[recs[1].image_id] != (7, 9)
    assert found[recs[2].image_id] == sizes[recs[2].image_id] and not failures


def test_unreadable_image_size_is_reported(index, demo_root, tmp_path):
    root = tmp_path / "dataset"
    shutil.copytree(demo_root, root)
    rec = next(iter(index.images.values()))
    (root / rec.path.relative_to(demo_root)).write_bytes(b"not dicom at all" * 10)
    broken = load_index(root)
    found, failures = image_sizes(broken)
    assert rec.image_id in failures and rec.image_id not in found and len(found) == len(index.images) - 1
    with pytest.raises(InputError, match="cannot read the image size") as info:
        export_workspace(root, "coco", tmp_path / "out")
    assert rec.image_id in str(info.value)
    export_workspace(root, "vindr", tmp_path / "csv")  # the CSV needs no size


# --- bad input ----------------------------------------------------------------------------------
def test_export_refuses_bad_destinations_and_formats(edited, sizes, demo_root, tmp_path):
    _, images = edited
    with pytest.raises(InputError, match="unknown export format 'csv'"):
        export_annotations(images, "csv", tmp_path / "a")
    with pytest.raises(InputError, match="coco needs every image's size"):
        export_annotations(images, "coco", tmp_path / "b", {})
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        export_annotations(images, "vindr", full)
    assert (full / "x").read_text() == "keep me"
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        export_annotations(images, "vindr", tmp_path / "file")
    with pytest.raises(InputError, match="cannot create"):
        export_annotations(images, "vindr", tmp_path / "file" / "sub")
    with pytest.raises(InputError, match="inside the dataset"):
        export_workspace(demo_root, "vindr", demo_root / "exports")
    with pytest.raises(InputError, match="no such workspace"):
        export_workspace(demo_root, "vindr", tmp_path / "c", tmp_path / "missing-ws")
    assert not (demo_root / "exports").exists()


def test_import_errors_name_the_file(edited, sizes, tmp_path):
    _, images = edited
    export_annotations(images, "yolo", tmp_path / "yolo", sizes)
    label = next((tmp_path / "yolo" / "labels" / "train").glob("*.txt"))
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InputError, match="label lines but") as info:
        import_annotations("yolo", tmp_path / "yolo")
    assert label.name in str(info.value)
    (tmp_path / "yolo" / "spinegui_meta.json").unlink()
    with pytest.raises(InputError, match="spinegui_meta.json: missing"):
        import_annotations("yolo", tmp_path / "yolo")

    export_annotations(images, "coco", tmp_path / "coco", sizes)
    bad = tmp_path / "coco" / "annotations" / "instances_test.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="instances_test.json: not a usable COCO file"):
        import_annotations("coco", tmp_path / "coco")

    export_annotations(images, "vindr", tmp_path / "csv")
    path = tmp_path / "csv" / "annotations" / "train.csv"
    lines = path.read_text().splitlines()
    lines.append(lines[1].replace(lines[1].split(",")[4], "Bone spur"))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=f"train.csv:{len(lines)}: unknown lesion type 'Bone spur'"):
        import_annotations("vindr", tmp_path / "csv")


# --- the workspace and the command line ---------------------------------------------------------
def test_current_annotations_reads_without_creating(index):
    ws = default_workspace_dir(index.root)
    assert not ws.exists()
    images = current_annotations(index)  # no workspace yet: the dataset's own annotations
    assert not ws.exists()
    assert [im.ann.boxes[0].edited_by for im in images if im.ann.boxes] == [None] * sum(
        1 for im in images if im.ann.boxes)
    assert [im.image_id for im in images] == list(index.images)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "spinegui", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_export_writes_the_workspace_annotations(edited, demo_root, tmp_path, fmt):
    ws, images = edited
    out = tmp_path / "out"
    res = run_cli("export", demo_root, "--format", fmt, "--out", out, "--workspace", ws)
    assert res.returncode == 0, res.stderr
    assert f"exported {len(images)} images" in res.stdout and fmt in res.stdout
    assert_same(images, import_annotations(fmt, out), provenance=fmt != "vindr")


def test_cli_export_bad_input_is_one_line_exit_2(edited, demo_root, tmp_path, capsys):
    ws, _ = edited
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    res = run_cli("export", demo_root, "--format", "coco", "--out", full, "--workspace", ws)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"spinegui: error: {full}: exists and is not empty")
    for argv, message in [
        (["export", str(tmp_path / "nowhere"), "--format", "voc", "--out", str(tmp_path / "o1")], "no such folder"),
        (["export", str(demo_root), "--format", "voc", "--out", str(tmp_path / "o2"), "--workspace",
          str(tmp_path / "nows")], "no such workspace"),
        (["export", str(demo_root), "--format", "voc", "--out", str(demo_root / "x")], "inside the dataset"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("spinegui: error: ") and message in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["export", str(demo_root), "--format", "pdf", "--out", str(tmp_path / "o3")])
    assert info.value.code == 2
    assert not (demo_root / "x").exists()
