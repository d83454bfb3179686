"""De-identification by the DICOM standard (issue 14, defect 6). A source carrying every attribute of
the PS3.15 Basic Application Level Confidentiality Profile (Table E.1-1, tests/unit/phi_tags.py, taken
from the standard and not from the library) is augmented: no planted value survives in any output
file, header or bytes, UIDs only as the Retain UIDs Option declares; PatientIdentityRemoved and the
de-identification method say what was done; the SYNTHETIC/DERIVED marks and provenance remain. GAN
samples (no source) carry no profile attribute but spinegui's own marks, and say so too."""

import json
import shutil
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from hostile_util import tree_digest
from phi_tags import NOT_RETAINED_UIDS, basic_profile
from spinegui.cli.entry import main
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dicom.reader import is_synthetic

CLASS = "Osteophytes"
TABLE = basic_profile()
# Identity of the image the index and CSV rely on: left as the dataset has it (U, kept by 113110).
IDENTITY = {"00080018", "0020000D", "0020000E", "00020003"}
# What spinegui writes over the profile's removals: its marks and provenance.
MARKS = {"SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "ImageType", "SeriesDescription",
         "DerivationDescription", "SourceImageSequence", "ImageComments"}
NAMED_IN_THE_ISSUE = ("StudyDescription", "ProtocolName", "CurrentPatientLocation",
                      "PerformedProcedureStepDescription", "FillerOrderNumberImagingServiceRequest")
DATE, DATETIME, TIME, DS, IS = "19230405", "19230405060708", "060708.654321", "98765.4321", "918273645"


def dcm(path, **kw):
    with warnings.catch_warnings():  # hex UIDs, as in VinDr
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kw)


def planted(tag: int, vr: str):
    """(value, needle or None): a recognisable value for `tag`, and the bytes that betray it."""
    name = f"PHI{tag:08X}"
    if vr == "SQ":
        item = Dataset()
        item.PatientName, item.CodeMeaning = f"PHISQ{tag:08X}", f"PHICM{tag:08X}"
        return [item], f"PHISQ{tag:08X}"
    if vr in ("AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"):
        return name, name
    if vr == "UR":
        return f"http://{name}.invalid/", name
    if vr == "UI":
        return f"1.2.826.0.1.3680043.10.{tag}.99", f"1.2.826.0.1.3680043.10.{tag}.99"
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return f"{name}BYTES".encode(), f"{name}BYTES"
    return {"DA": (DATE, DATE), "DT": (DATETIME, DATETIME), "TM": (TIME, TIME), "DS": (DS, DS),
            "IS": (IS, IS), "AS": ("077Y", None), "AT": (0x00100010, None)}.get(vr, (4242, None))


def plant_every_profile_attribute(ds) -> dict[int, tuple]:
    """Table E.1-1 in `ds`: tag -> (keyword, action, value, needle)."""
    out = {}
    for hexed, action in TABLE.items():
        if "X" in hexed or hexed in IDENTITY or hexed.startswith("0000"):  # commands: never in a file
            continue
        tag = int(hexed, 16)
        vr = dictionary_VR(tag).split(" or ")[0]
        value, needle = planted(tag, vr)
        ds.add_new(tag, vr, value)
        out[tag] = (keyword_for_tag(tag), action, value, needle)
    for tag, vr in ((0x50003000, "OB"), (0x60003000, "OB"), (0x60024000, "LT")):  # the repeating groups
        value, needle = planted(tag, vr)
        ds.add_new(tag, vr, value)
        out[tag] = ("", "X", value, needle)
    block = ds.private_block(0x0009, "PHI CREATOR", create=True)  # private attributes: X
    block.add_new(0x10, "LO", "PHIPRIVATE0009")
    out[block.get_tag(0x10)] = ("", "X", "PHIPRIVATE0009", "PHIPRIVATE0009")
    return out


def test_the_table_is_the_standards():
    assert len(TABLE) >= 450 and all(keyword_for_tag(int(t, 16)) for t in TABLE if "X" not in t)
    keywords = {keyword_for_tag(int(t, 16)) for t in TABLE if "X" not in t}
    assert set(NAMED_IN_THE_ISSUE) <= keywords
    assert {TABLE["00100010"], TABLE["00081030"], TABLE["0020000D"], TABLE["00080080"]} == {"Z", "X", "U", "X/Z/D"}


@pytest.fixture(scope="module")
def augmented(demo_root, tmp_path_factory):
    """Every train source of CLASS carries every profile attribute; 4 outputs of CLASS."""
    tmp = tmp_path_factory.mktemp("phi")
    data = tmp / "data"
    shutil.copytree(demo_root, data)
    plants = {}
    for rec in load_index(data).in_split("train"):
        ds = dcm(rec.path)
        plants = plant_every_profile_attribute(ds)
        ds.save_as(rec.path)
    before = tree_digest(data)
    out = tmp / "out"
    assert main(["augment", str(data), "--classes", CLASS, "--per-class", "4", "--seed", "1",
                 "--workers", "1", "--out", str(out)]) == 0
    assert tree_digest(data) == before  # the source is only read
    return data, out, plants


def test_augment_outputs_carry_no_profile_attribute_of_the_source(augmented):
    data, out, plants = augmented
    files = [p for p in out.rglob("*") if p.is_file()]
    dicoms = sorted((out / "train_images").iterdir())
    assert len(dicoms) == 4
    retained = {t for t, (_, action, _, _) in plants.items() if "U" in action and t not in NOT_RETAINED_UIDS}
    needles = {needle for t, (_, _, _, needle) in plants.items() if needle and t not in retained}
    for path in files:  # bytes: headers, CSVs, the report; nothing of the source's values anywhere
        blob = path.read_bytes()
        leaked = sorted(n for n in needles if n.encode() in blob)
        assert not leaked, f"{path.name} carries {leaked[:5]}"
    for path in dicoms:
        ds = dcm(path)
        for tag, (keyword, action, value, _) in plants.items():
            if tag in retained or keyword in MARKS:
                continue
            elem = ds.get(Tag(tag))
            assert elem is None or elem.is_empty or str(value) not in str(elem.value), (keyword, action, elem)
        for keyword in NAMED_IN_THE_ISSUE:
            assert not ds.get(keyword), keyword
        assert not any(e.tag.is_private for e in ds.iterall()) and not any(t.group == 0 for t in ds.keys())


def test_augment_outputs_say_how_they_were_deidentified_and_stay_marked(augmented):
    data, out, _ = augmented
    source = load_index(data)
    for path in sorted((out / "train_images").iterdir()):
        ds = dcm(path)
        assert ds.PatientIdentityRemoved == "YES"
        codes = {(c.CodeValue, c.CodingSchemeDesignator) for c in ds.DeidentificationMethodCodeSequence}
        assert codes == {("113100", "DCM"), ("113110", "DCM")}  # Basic Profile, Retain UIDs Option
        assert "Basic Application Confidentiality Profile" in list(ds.DeidentificationMethod)
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "SYNTHETIC"] and is_synthetic(ds)
        assert "SYNTHETIC" in ds.SeriesDescription and "SYNTHETIC" in ds.DerivationDescription
        prov = json.loads(ds.ImageComments)
        assert prov["source_image_id"] in source.images and isinstance(prov["seed"], int)
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == prov["source_image_id"]
        assert ds.StudyInstanceUID == source.images[prov["source_image_id"]].study_id  # retained: 113110
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "AccessionNumber"):
            assert keyword in ds and not ds.get(keyword)  # type 2: present, empty
        assert not ds.get("InstitutionName") and not ds.get("StudyDescription")


@pytest.fixture(scope="module")
def gan_samples(tmp_path_factory):
    import torch

    from job_ctx import Ctx
    from spinegui.gan.sampler import sample_run
    from spinegui.gan.settings import gan_settings
    from spinegui.gan.train import GanTrainer

    tmp = tmp_path_factory.mktemp("gan-phi")
    settings = gan_settings({"size": 64, "width": 8, "epochs": 1, "batch": 8, "n_critic": 1, "seed": 3,
                             "device": "cpu", "keep_last": 1})
    images = np.random.default_rng(0).integers(0, 65535, (8, 64, 64), dtype=np.uint16)
    trainer = GanTrainer(settings, images, np.zeros(8, np.int64), [CLASS], "m", torch.device("cpu"), Ctx(tmp / "run"))
    assert trainer.train()
    sample_run(tmp / "run", 3, tmp / "samples")
    return tmp / "samples"


def test_gan_samples_carry_no_profile_attribute_and_are_marked(gan_samples):
    dicoms = sorted((gan_samples / "train_images").iterdir())
    assert len(dicoms) == 3
    for path in dicoms:
        ds = dcm(path)
        present = {f"{e.tag:08X}" for e in ds.iterall() if not e.is_empty}
        profile = {t for t in TABLE if "X" not in t} & present
        assert {keyword_for_tag(int(t, 16)) for t in profile} <= MARKS, "a profile attribute beyond the marks"
        assert not any(e.tag.is_private for e in ds.iterall())
        assert ds.PatientIdentityRemoved == "YES" and not str(ds.PatientName) and not ds.PatientID
        codes = {c.CodeValue for c in ds.DeidentificationMethodCodeSequence}
        assert codes == {"113100"}  # nothing retained from a source: there is none
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "SYNTHETIC"] and is_synthetic(ds)
        prov = json.loads(ds.ImageComments)
        assert prov["synthetic"] is True and prov["class"] == CLASS and "seed" in prov


def test_a_source_with_burned_in_text_gets_no_deidentified_copy(demo_root, tmp_path, capsys):
    """Pixels are copied as they are: a source that says it has burned-in annotation is skipped with
    its reason (its outputs come from the class's other sources), never written as de-identified."""
    data = tmp_path / "data"
    shutil.copytree(demo_root, data)
    sources = [r for r in load_index(data).in_split("train") if CLASS in r.labels]
    marked = sources[0]
    ds = dcm(marked.path)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(marked.path)
    out = tmp_path / "out"
    assert main(["augment", str(data), "--classes", CLASS, "--per-class", "4", "--seed", "1",
                 "--workers", "1", "--out", str(out)]) == 0
    report = json.loads((out / "augment_report.json").read_text())
    assert [s["image_id"] for s in report["skipped"]] == [marked.image_id]
    assert "burned-in annotation" in report["skipped"][0]["reason"]
    outputs = list((out / "train_images").glob("*.dicom"))
    assert len(outputs) == 4 and not any(marked.image_id in p.name for p in outputs)
