"""`spinegui augment`: an augmented train set written as a VinDr root, marked synthetic, reproducible."""

import json
import shutil
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.datadict import tag_for_keyword

from spinegui.augment.dicom_out import IDENTIFYING_TAGS
from spinegui.augment.export import REPORT_NAME, candidates, export_augmented
from spinegui.augment.knobs import KNOBS, changed
from spinegui.augment.presets import load_preset
from spinegui.cli.entry import main
from spinegui.core.dataset.vindr import NO_FINDING, load_index
from spinegui.core.dicom.reader import is_synthetic, read_image
from spinegui.core.errors import InputError

CLASS = "Vertebral collapse"


def dcm(path):
    with warnings.catch_warnings():  # the hex UIDs, as in VinDr
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def files_of(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != REPORT_NAME}


@pytest.fixture(scope="module")
def exported(demo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("aug") / "out"
    config = load_preset("basic")
    report = export_augmented(demo_root, config, [CLASS], 20, 3, out, workers=1)
    return out, config, report


def test_the_export_loads_as_a_vindr_root_of_train_images(exported, demo_root, capsys):
    out, _, report = exported
    assert report.images == {CLASS: 20} and report.skipped == []
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["problems"] == []
    train, test = info["splits"]["train"], info["splits"]["test"]
    assert (train["images"], test["images"]) == (20, 0)
    assert train["classes"][CLASS]["images"] == 20
    index, source = load_index(out), load_index(demo_root)
    for rec in index.images.values():
        ds = dcm(rec.path)
        assert rec.image_id.startswith("aug-") and rec.image_id == ds.SOPInstanceUID
        src = source.images[json.loads(ds.ImageComments)["source_image_id"]]
        assert src.split == "train" and rec.study_id == src.study_id == ds.StudyInstanceUID
        assert rec.series_id == ds.SeriesInstanceUID
        assert any(b.lesion_type == CLASS for b in rec.boxes)
        assert {b.rad_id for b in rec.boxes} <= src.readers
        for b in rec.boxes:
            assert 0 <= b.xmin < b.xmax <= ds.Columns and 0 <= b.ymin < b.ymax <= ds.Rows


def test_files_are_synthetic_with_provenance_and_no_patient_data(exported, tmp_path):
    out, config, _ = exported
    for path in sorted((out / "train_images").iterdir()):
        ds = dcm(path)
        img = read_image(path)
        assert is_synthetic(ds) and img.synthetic and "SYNTHETIC AUGMENTED" in ds.SeriesDescription
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "SYNTHETIC"]
        assert img.pixels.dtype == np.uint16 and img.pixels.max() <= 4095 and ds.BitsStored == 12
        assert img.pixels.shape == (ds.Rows, ds.Columns)
        prov = json.loads(ds.ImageComments)
        assert prov["knobs"] == json.loads(json.dumps(changed(config)))
        assert isinstance(prov["params"], dict) and isinstance(prov["seed"], int) and prov["spinegui"]
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == prov["source_image_id"]
        assert ds.PatientIdentityRemoved == "YES"
        assert not any(ds.get(k) for k in IDENTIFYING_TAGS if k != "ImageComments")
    assert all(tag_for_keyword(k) for k in IDENTIFYING_TAGS)  # every listed tag is a real keyword
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["images"] == {CLASS: 20} and report["seed"] == 3 and report["config"]["mode"] == "one-of"


def test_same_seed_gives_the_same_bytes_whatever_the_workers(demo_root, tmp_path):
    config = load_preset("basic")
    one = export_augmented(demo_root, config, [CLASS, NO_FINDING], 3, 3, tmp_path / "one", workers=1)
    two = export_augmented(demo_root, config, [CLASS, NO_FINDING], 3, 3, tmp_path / "two", workers=2)
    assert one.images == two.images == {CLASS: 3, NO_FINDING: 3}
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")


def test_an_existing_folder_is_refused_unless_overwrite(demo_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        export_augmented(demo_root, {}, [NO_FINDING], 1, 0, out)
    with pytest.raises(InputError, match="only replaces an earlier"):  # never deletes what it did not write
        export_augmented(demo_root, {}, [NO_FINDING], 1, 0, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    export_augmented(demo_root, {}, [NO_FINDING], 3, 0, out)
    report = export_augmented(demo_root, {"hflip": 1.0}, [NO_FINDING], 2, 0, out, overwrite=True)
    index = load_index(out)
    assert report.images == {NO_FINDING: 2} and len(list((out / "train_images").iterdir())) == 2
    for rec in index.images.values():  # "No finding" images keep their readers' No finding rows
        assert not rec.boxes and rec.no_finding_readers
    with pytest.raises(InputError, match="inside the dataset folder"):
        export_augmented(demo_root, {}, [NO_FINDING], 1, 0, demo_root / "aug")
    assert not (demo_root / "aug").exists()


def test_redraws_keep_a_box_of_the_class_in_every_output(demo_root, tmp_path):
    # A 10 % crop often cuts the lesion out: those draws are made again with the next seed.
    report = export_augmented(demo_root, {"crop": [0.1, 0.1]}, [CLASS], 4, 1, tmp_path / "o")
    assert report.images == {CLASS: 4} and report.redraws > 0
    assert all(CLASS in r.labels for r in load_index(tmp_path / "o").images.values())


def test_a_corrupt_source_is_skipped_and_the_rest_exported(demo_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    sources = candidates(load_index(root), CLASS)
    assert len(sources) >= 2
    bad, *good = sources
    bad.path.write_bytes(bad.path.read_bytes()[:3000])  # truncated mid-pixels
    ds = dcm(good[0].path)  # give a source patient data, to see it go
    ds.PatientName, ds.PatientBirthDate, ds.InstitutionName = "Doe^Jane", "19500101", "St Elsewhere"
    ds.add_new(0x00091010, "LO", "private secret")
    ds.save_as(good[0].path)
    out = tmp_path / "out"
    report = export_augmented(root, {}, [CLASS], 6, 0, out)
    assert report.images == {CLASS: 6}  # the bad source's share went to the others
    assert [s["image_id"] for s in report.skipped] == [bad.image_id] and report.skipped[0]["reason"]
    assert json.loads((out / REPORT_NAME).read_text())["skipped"][0]["image_id"] == bad.image_id
    assert not any(bad.image_id in p.name for p in (out / "train_images").iterdir())
    for path in (out / "train_images").iterdir():
        ds = dcm(path)
        assert not ds.get("PatientName") and not ds.get("InstitutionName") and (0x0009, 0x1010) not in ds


@pytest.mark.parametrize("args, expected", [
    (["--classes", "Vertebral colapse"], "unknown class 'Vertebral colapse' (did you mean 'Vertebral collapse'?)"),
    (["--classes", CLASS, "--set", "rotation=[0,500]"], "rotation: 500 is outside the allowed range -180..180"),
    (["--classes", CLASS, "--set", "rotaton=5"], "unknown augmentation setting 'rotaton'"),
    (["--classes", CLASS, "--preset", "nope"], "nope: no preset of that name"),
])
def test_bad_input_is_one_line_exit_2(demo_root, tmp_path, capsys, args, expected):
    code = main(["augment", str(demo_root), "--per-class", "2", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("spinegui: error:") and expected in err[0], err
    assert not (tmp_path / "o").exists()


def test_list_knobs(capsys):
    assert main(["augment", "--list-knobs"]) == 0
    out = capsys.readouterr().out
    for knob in KNOBS:
        assert f"{knob.name} " in out and knob.allowed() in out


def test_stopping_keeps_a_consistent_dataset(demo_root, tmp_path):
    done = []
    report = export_augmented(demo_root, {}, [NO_FINDING], 12, 0, tmp_path / "o",
                              progress=lambda i, n, item: done.append(i), should_stop=lambda: bool(done))
    assert report.cancelled and 0 < report.total < 12
    index = load_index(tmp_path / "o")  # every file written is in the CSV, and nothing else
    assert len(index.images) == report.total and index.problems == []
