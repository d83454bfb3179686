"""The reader study (spinegui.core.reader_study): one render path for both origins, neutral items, the
truth kept apart, per-reader orders that survive a pause, and scores checked against hand computations."""

from __future__ import annotations

import csv
import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from dicom_factory import make_dataset, vindr_like_array, write_dataset
from spinegui.core.errors import InputError
from spinegui.core.reader_study import ReaderSession, new_study, open_study, score_study, session
from spinegui.core.reader_study.scoring import auroc, binomial_tail, cohen_kappa, fleiss_kappa

CLASSES = ("Osteophytes", "Vertebral collapse")
HEADER = "study_id,series_id,image_id,rad_id,lesion_type,xmin,ymin,xmax,ymax"


# --- fabricating the inputs -------------------------------------------------------------------------
def make_real_root(folder: Path, arrays: list[tuple[str, np.ndarray]], photometric: str = "MONOCHROME2") -> Path:
    """A VinDr-layout dataset of real-looking DICOMs: one image per (class, 12-bit array)."""
    root = folder / "real"
    (root / "annotations").mkdir(parents=True)
    (root / "train_images").mkdir()
    (root / "test_images").mkdir()
    rows = [HEADER]
    for k, (cls, arr) in enumerate(arrays):
        image_id = f"real{k:04d}abcdef"
        ds = make_dataset(arr.astype(np.uint16), photometric=photometric, seed=k)
        write_dataset(ds, root / "train_images" / f"{image_id}.dicom")
        rows.append(f"st{k:05d},se{k:05d},{image_id},rad1,{cls},1,1,5,5")
    (root / "annotations" / "train.csv").write_text("\n".join(rows) + "\n")
    (root / "annotations" / "test.csv").write_text(HEADER + "\n")
    return root


def make_samples(folder: Path, arrays: list[tuple[str, np.ndarray]], fmt: str = "dicom") -> Path:
    """What `spinegui sample` writes, through the sampler's own writers (no GAN trained)."""
    from spinegui.core import outdir
    from spinegui.gan import sampler

    out = folder / f"samples-{fmt}"
    outdir.prepare(out, sampler.OUTPUT_KIND, subdirs=("annotations", "train_images", "test_images")
                   if fmt == "dicom" else ())
    rows: list = []
    for k, (cls, arr) in enumerate(arrays):
        prov = {"synthetic": True, "generator": "spinegui GAN", "run": "run1", "model": "m", "class": cls,
                "epoch": 3, "seed": 1, "index": k, "arch": "dcgan", "spinegui_version": "test"}
        sampler._write(out, fmt, f"syn-gan-m-e00003-{k:05d}", arr.astype(np.uint16), prov, rows, cls)
    if fmt == "dicom":
        sampler._write_csvs(out, rows)
    outdir.seal(out, sampler.OUTPUT_KIND)
    return out


def arrays(n: int, shape: tuple[int, int], seed: int) -> list[tuple[str, np.ndarray]]:
    return [(CLASSES[k % 2], vindr_like_array(*shape, seed=seed + k)) for k in range(n)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rs-inputs")
    return make_real_root(tmp, arrays(6, (160, 80), 10)), make_samples(tmp, arrays(6, (64, 64), 50))


@pytest.fixture
def study(inputs, tmp_path):
    real, syn = inputs
    return new_study(real, syn, tmp_path / "study", n_real=4, n_synthetic=4, seed=3, size=96)


def png_chunks(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, names = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        names.append(data[pos + 4:pos + 8].decode("ascii"))
        pos += 12 + length
    return names


def key_rows(study) -> dict[str, dict]:
    with open(study.folder / "key.csv", newline="") as fh:
        return {r["item"]: r for r in csv.DictReader(fh)}


# --- making a study ---------------------------------------------------------------------------------
def test_items_render_identically_for_both_origins(study):
    key = key_rows(study)
    assert sorted(r["origin"] for r in key.values()) == ["real"] * 4 + ["synthetic"] * 4
    assert study.size == 96 and study.detail == 64   # the samples' side: real images lose their extra detail
    for item in study.items:
        path = study.item_path(item)
        assert path.name == f"{item}.png" and path.parent.name == "items"
        assert png_chunks(path) == ["IHDR", "IDAT", "IEND"]   # no text, time, gamma or dpi: nothing to tell
        ihdr = path.read_bytes()[16:29]
        assert ihdr[:8] == (96).to_bytes(4, "big") * 2 and ihdr[8:10] == b"\x08\x00"   # 8-bit grey, always
        pixels = study.load_item(item)
        assert pixels.dtype == np.uint8 and pixels.shape == (96, 96)
        assert pixels.max() >= 250   # the same percentile window stretches every item to full range
    real = [study.load_item(i) for i in study.items if key[i]["origin"] == "real"]
    # letterboxed, aspect kept: a 2:1 portrait gets black side bars (as the GAN's training images do)
    assert all(r[:, :22].max() == 0 and r[:, 26:70].max() >= 250 for r in real)


def test_render_depends_on_the_pixels_alone(tmp_path):
    """The same 12-bit array as a real DICOM and as a GAN sample (DICOM with every SYNTHETIC tag, or PNG
    with its text chunks): the rendered files are the same bytes, so no tag, name or marker gets through."""
    same = [("Osteophytes", vindr_like_array(64, 64, seed=99))]
    real = make_real_root(tmp_path, same)
    out = []
    for fmt in ("dicom", "png"):
        s = new_study(real, make_samples(tmp_path, same, fmt), tmp_path / f"st-{fmt}", seed=0, size=64)
        origin = {r["item"]: r["origin"] for r in key_rows(s).values()}
        files = {origin[i]: s.item_path(i).read_bytes() for i in s.items}
        assert files["real"] == files["synthetic"], fmt
        out.append(files["synthetic"])
    assert out[0] == out[1]
    assert b"SYNTHETIC" not in out[0] and b"tEXt" not in out[0] and b"iTXt" not in out[0]


def test_monochrome1_is_inverted_like_monochrome2(tmp_path):
    arr = vindr_like_array(64, 64, seed=5)
    a = make_real_root(tmp_path / "a", [("Osteophytes", arr)])
    b = make_real_root(tmp_path / "b", [("Osteophytes", 4095 - arr)], photometric="MONOCHROME1")
    syn = make_samples(tmp_path, [("Osteophytes", arr)])
    sa = new_study(a, syn, tmp_path / "sa", size=64)
    sb = new_study(b, syn, tmp_path / "sb", size=64)
    real_a = next(sa.load_item(i) for i, r in key_rows(sa).items() if r["origin"] == "real")
    real_b = next(sb.load_item(i) for i, r in key_rows(sb).items() if r["origin"] == "real")
    assert np.abs(real_a.astype(int) - real_b.astype(int)).max() <= 1


def test_ids_are_neutral_and_the_truth_stays_in_the_key(study, inputs):
    assert study.items == [f"item-{k:04d}" for k in range(1, 9)]
    meta = json.loads((study.folder / "study.json").read_text())
    assert set(meta) == {"format", "kind", "seed", "size", "detail", "render", "classes", "items", "spinegui_version"}
    text = json.dumps(meta).lower()
    assert "synthetic" not in text and "syn-gan" not in text and str(inputs[0]).lower() not in text
    key = key_rows(study)
    assert set(key) == set(study.items)
    assert {r["class"] for r in key.values()} <= set(CLASSES)
    for r in key.values():
        assert Path(r["source"]).is_file() and (("syn-gan" in r["source"]) == (r["origin"] == "synthetic"))
    # the order of ids is shuffled: the origins are not in two blocks
    origins = [key[i]["origin"] for i in study.items]
    assert origins != sorted(origins) and origins != sorted(origins, reverse=True)
    # items were written in id order, so their times say nothing either
    times = [study.item_path(i).stat().st_mtime_ns for i in study.items]
    assert times == sorted(times)


def test_sources_are_never_modified(inputs, tmp_path):
    real, syn = inputs
    before = {p: p.read_bytes() for p in sorted(syn.rglob("*")) if p.is_file()}
    new_study(real, syn, tmp_path / "s", seed=1, size=64)
    assert {p: p.read_bytes() for p in sorted(syn.rglob("*")) if p.is_file()} == before


def test_defaults_balance_the_origins_and_classes_restrict(inputs, tmp_path):
    real, syn = inputs
    s = new_study(real, syn, tmp_path / "all", size=64)
    key = key_rows(s)
    assert [r["origin"] for r in key.values()].count("real") == 6 == len(s.items) // 2
    one = new_study(real, syn, tmp_path / "one", classes=["Vertebral collapse"], n_real=2, size=64)
    assert one.classes == ["Vertebral collapse"] and len(one.items) == 4
    assert {r["class"] for r in key_rows(one).values()} == {"Vertebral collapse"}
    again = new_study(real, syn, tmp_path / "again", classes=["Vertebral collapse"], n_real=2, size=64)
    assert key_rows(again) == key_rows(one)   # the seed decides the picks and the order


@pytest.mark.parametrize("kwargs, where", [
    ({"n_real": 7, "n_synthetic": 2}, "real"),
    ({"n_real": 2, "n_synthetic": 7}, "synthetic"),
    ({"classes": ["Surgical implant"]}, "real"),
])
def test_too_few_or_no_images_names_the_folder_and_writes_nothing(inputs, tmp_path, kwargs, where):
    real, syn = inputs
    with pytest.raises(InputError) as err:
        new_study(real, syn, tmp_path / "s", **kwargs)
    assert err.value.path == (real if where == "real" else syn)
    assert not (tmp_path / "s").exists()


def test_empty_synthetic_folder_and_unknown_class_are_refused(inputs, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no synthetic images") as err:
        new_study(inputs[0], tmp_path / "empty", tmp_path / "s")
    assert err.value.path == tmp_path / "empty"
    with pytest.raises(InputError, match="unknown class"):
        new_study(*inputs, tmp_path / "s", classes=["Osteophyte"])
    assert not (tmp_path / "s").exists()


def test_swapped_folders_are_caught_before_anything_is_written(inputs, tmp_path):
    real, _ = inputs
    with pytest.raises(InputError, match="not marked SYNTHETIC") as err:
        new_study(real, real, tmp_path / "s")
    assert err.value.path.parent == real / "train_images"
    assert not (tmp_path / "s").exists()


def test_output_folder_rule(study, inputs, tmp_path):
    with pytest.raises(InputError, match="not empty"):
        new_study(*inputs, study.folder, seed=3, size=96)
    again = new_study(*inputs, study.folder, n_real=4, seed=3, size=96, overwrite=True)
    assert again.items == study.items
    session(again, "rad1").record(again.items[0], "real", 3, 1.0)
    with pytest.raises(InputError, match="answers"):   # answers are not this command's output: kept
        new_study(*inputs, study.folder, seed=3, size=96, overwrite=True)
    assert (study.folder / "answers" / "rad1.csv").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError):
        new_study(*inputs, other, overwrite=True)
    with pytest.raises(InputError, match="dataset"):
        new_study(*inputs, inputs[0] / "study")
    for inside in (inputs[1], inputs[1] / "study"):
        with pytest.raises(InputError, match="synthetic"):
            new_study(*inputs, inside)
    assert not (inputs[1] / "study").exists()


def test_a_failed_render_leaves_nothing(inputs, tmp_path, monkeypatch):
    from spinegui.core.reader_study import render

    calls = []
    real_render = render.render

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise InputError(tmp_path / "x.dicom", "cannot decode")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(render, "render", failing)
    with pytest.raises(InputError, match="cannot decode"):
        new_study(*inputs, tmp_path / "s", size=64)
    assert len(calls) == 3 and not (tmp_path / "s").exists()
    (tmp_path / "kept").mkdir()   # a folder that was there (empty) before stays, empty
    calls.clear()
    with pytest.raises(InputError):
        new_study(*inputs, tmp_path / "kept", size=64)
    assert list((tmp_path / "kept").iterdir()) == []


def test_the_sampler_burns_no_marker_into_the_pixels(tmp_path):
    """The render masks nothing because the sampler marks files, never pixels: if that ever changes,
    this fails, and the render must then crop or mask the same region of every item."""
    from spinegui.core.reader_study.render import read_source

    arr = vindr_like_array(64, 64, seed=4)
    for fmt, shift in (("dicom", 0), ("png", 4)):
        out = make_samples(tmp_path / fmt, [("Osteophytes", arr)], fmt)
        path = next(p for p in out.rglob("syn-gan-*"))
        pixels, invert = read_source(path)
        assert not invert and np.array_equal(pixels.astype(np.int64) >> shift, arr.astype(np.int64))


def test_open_study_refuses_a_tampered_study_json(study):
    (study.folder / "study.json").write_text(json.dumps({"format": 1, "items": ["../x"], "classes": []}))
    with pytest.raises(InputError, match="items"):
        open_study(study.folder)
    with pytest.raises(InputError, match="not a reader study"):
        open_study(study.folder / "items")


# --- sessions ---------------------------------------------------------------------------------------
def test_each_reader_gets_an_own_order_that_resume_keeps(study):
    a, b = ReaderSession(study, "rad1"), session(study.folder, "rad2")
    assert sorted(a.order) == sorted(study.items) == sorted(b.order) and a.order != b.order
    assert a.progress == (0, 8) and a.next_item() == a.order[0]
    for k in range(3):
        a.record(a.next_item(), "synthetic" if k % 2 else "real", k + 1, 2.5 + k, lesion_class="Osteophytes",
                 quality=k + 2)
    resumed = ReaderSession(open_study(study.folder), "rad1")
    assert resumed.order == a.order and resumed.answered == a.answered
    assert resumed.progress == (3, 8) and resumed.next_item() == a.order[3]
    assert resumed.answered[a.order[1]].answer == "synthetic" and resumed.answered[a.order[2]].quality == 4
    header = (study.folder / "answers" / "rad1.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["item", "answer", "confidence", "seconds", "lesion_class", "quality"]
    for item in resumed.order[3:]:
        resumed.record(item, "real", 5, 1)
    assert resumed.next_item() is None and resumed.progress == (8, 8)
    # the same name on another study gives another order (the study's seed is part of it)
    assert json.loads((study.folder / "readers" / "rad1.json").read_text())["order"] == a.order


def test_record_refuses_bad_answers(study):
    s = session(study, "rad1")
    item = s.next_item()
    for args, what in [(("item-9999", "real", 3, 1.0), "unknown item"), ((item, "maybe", 3, 1.0), "answer"),
                       ((item, "real", 6, 1.0), "confidence"), ((item, "real", 0, 1.0), "confidence"),
                       ((item, "real", 3, -1.0), "seconds"), ((item, "real", 3, math.nan), "seconds")]:
        with pytest.raises(InputError, match=what):
            s.record(*args)
    with pytest.raises(InputError, match="lesion_class"):
        s.record(item, "real", 3, 1.0, lesion_class="Osteophyte")
    s.record(item, "real", 3, 1.0)
    with pytest.raises(InputError, match="already answered"):
        s.record(item, "synthetic", 3, 1.0)
    assert s.progress == (1, 8) and not (study.folder / "scores.json").exists()


@pytest.mark.parametrize("name", ["../x", "a/b", "", "..", ".hidden", "CON", "x\ny", "a:b"])
def test_reader_names_are_data_not_paths(study, name):
    with pytest.raises(InputError):
        session(study, name)
    assert not (study.folder / "readers").exists() or not list((study.folder / "readers").iterdir())


def test_reader_names_differing_only_in_case_are_refused(study):
    session(study, "Alice")
    with pytest.raises(InputError, match="only in case"):
        session(study, "alice")


def test_two_windows_of_one_reader_do_not_answer_an_item_twice(study):
    one, two = session(study, "rad1"), session(study, "rad1")
    item = one.next_item()
    one.record(item, "real", 2, 1.0)
    with pytest.raises(InputError, match="already answered"):
        two.record(item, "synthetic", 5, 1.0)
    assert two.next_item() == one.order[1] and two.progress == (1, 8)


def test_a_row_cut_short_by_a_crash_is_asked_again(study):
    s = session(study, "rad1")
    first, second = s.order[:2]
    s.record(first, "real", 2, 1.0)
    path = study.folder / "answers" / "rad1.csv"
    with open(path, "a") as fh:
        fh.write(f"{second},synth")   # the process died mid-row
    resumed = session(study, "rad1")
    assert list(resumed.answered) == [first] and resumed.next_item() == second
    resumed.record(second, "synthetic", 4, 2.0)
    assert list(session(study, "rad1").answered) == [first, second]


# --- scores -----------------------------------------------------------------------------------------
def write_answers(study, reader: str, rows: list[tuple[str, str, int]]) -> Path:
    path = study.folder / "answers" / f"{reader}.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("item,answer,confidence,seconds\n" + "".join(f"{i},{a},{c},2.0\n" for i, a, c in rows))
    return path


def truth(study) -> tuple[list[str], list[str]]:
    key = key_rows(study)
    return ([i for i in study.items if key[i]["origin"] == "real"],
            [i for i in study.items if key[i]["origin"] == "synthetic"])


def test_scores_equal_hand_computed_ones(study):
    real, syn = truth(study)   # four of each
    # reader a: all synthetic right, two real right -> 6/8; reader b: 5/8; reader c: 4/8
    a = [(i, "synthetic", 5) for i in syn] + [(real[0], "real", 4), (real[1], "real", 2),
                                             (real[2], "synthetic", 1), (real[3], "synthetic", 3)]
    b = [(syn[0], "synthetic", 3), (syn[1], "synthetic", 3), (syn[2], "real", 2), (syn[3], "synthetic", 1),
         (real[0], "real", 5), (real[1], "synthetic", 2), (real[2], "real", 1), (real[3], "synthetic", 4)]
    write_answers(study, "a", a)
    write_answers(study, "b", b)
    sc = score_study(study.folder)
    assert json.loads((study.folder / "scores.json").read_text()) == sc
    ra, rb = sc["readers"]["a"], sc["readers"]["b"]
    assert (ra["n"], ra["accuracy"], ra["sensitivity"], ra["specificity"]) == (8, 6 / 8, 1.0, 0.5)
    assert (rb["n"], rb["accuracy"], rb["sensitivity"], rb["specificity"]) == (8, 5 / 8, 0.75, 0.5)
    assert ra["p_value"] == pytest.approx((math.comb(8, 6) + math.comb(8, 7) + math.comb(8, 8)) / 2**8)
    assert rb["p_value"] == pytest.approx(sum(math.comb(8, k) for k in range(5, 9)) / 256)
    # AUROC by hand, reader a: synthetic scores 5,5,5,5; real -4,-2,-1,-3 -> every pair ordered right
    assert ra["auroc"] == 1.0
    # reader b: synthetic 3,3,-2,1; real -5,2,-1,4: pairs (s > r) counted one by one
    pos, neg = [3, 3, -2, 1], [-5, 2, -1, 4]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    assert rb["auroc"] == pytest.approx(wins / 16) and wins == 9
    # Cohen's kappa by hand: a says S S S S R R S S, b says S S R S R S R S (same item order)
    order = syn + real
    said_a = {i: x for i, x, _ in a}
    said_b = {i: x for i, x, _ in b}
    agree = sum(said_a[i] == said_b[i] for i in order)            # 5 of 8
    pa, pb = sum(said_a[i] == "synthetic" for i in order) / 8, sum(said_b[i] == "synthetic" for i in order) / 8
    pe = pa * pb + (1 - pa) * (1 - pb)                              # 6/8*5/8 + 2/8*3/8 = 36/64
    assert agree == 5 and pe == 36 / 64
    assert sc["kappa"]["method"] == "cohen" and sc["kappa"]["n_items"] == 8
    assert sc["kappa"]["value"] == pytest.approx((5 / 8 - 36 / 64) / (1 - 36 / 64))


def test_fleiss_kappa_for_three_readers_and_the_most_mistaken_items(study):
    real, syn = truth(study)
    items = syn + real
    said = {"a": "SSSSRRRR", "b": "SSRSRRSR", "c": "SRRSRSSR"}
    for name, letters in said.items():
        write_answers(study, name, [(i, "synthetic" if x == "S" else "real", 3) for i, x in zip(items, letters)])
    sc = score_study(study.folder)
    # Fleiss by hand: per item the counts (synthetic, real) over 3 readers
    counts = [(sum(said[r][k] == "S" for r in said), sum(said[r][k] == "R" for r in said)) for k in range(8)]
    p_i = [(s * s + r * r - 3) / (3 * 2) for s, r in counts]
    p_bar = sum(p_i) / 8
    ps, pr = sum(s for s, _ in counts) / 24, sum(r for _, r in counts) / 24
    pe = ps * ps + pr * pr
    assert sc["kappa"]["method"] == "fleiss"
    assert sc["kappa"]["value"] == pytest.approx((p_bar - pe) / (1 - pe))
    assert sc["kappa"]["pairwise"]["a / b"] == pytest.approx(cohen_kappa(list(said["a"]), list(said["b"])))
    # wrong per item: syn[2] by b and c (2), real[2] by b and c (2), syn[1] by c, real[1] by c, ...
    wrong = {i: sum((said[r][k] == "S") != (k < 4) for r in said) for k, i in enumerate(items)}
    top = sc["most_mistaken"]
    assert [m["wrong"] for m in top] == sorted((w for w in wrong.values() if w), reverse=True)
    assert top[0]["wrong"] == 2 and top[0]["n"] == 3 and wrong[top[0]["item"]] == 2
    assert top[0]["origin"] == key_rows(study)[top[0]["item"]]["origin"]
    per = sc["per_class"]
    assert set(per) <= set(CLASSES) and sum(c["n"] for c in per.values()) == 24
    for cls, c in per.items():
        mine = [k for k, i in enumerate(items) if key_rows(study)[i]["class"] == cls]
        right = sum((said[r][k] == "S") == (k < 4) for r in said for k in mine)
        assert c["accuracy"] == pytest.approx(right / (3 * len(mine)))


def test_statistics_helpers_by_hand():
    assert binomial_tail(0, 5) == 1.0 and binomial_tail(6, 5) == 0.0
    assert binomial_tail(5, 5) == 1 / 32 and binomial_tail(4, 5) == 6 / 32
    assert binomial_tail(300, 500) == pytest.approx(sum(math.comb(500, k) for k in range(300, 501)) / 2**500)
    assert auroc([1, 2], [0]) == 1.0 and auroc([0], [0]) == 0.5 and auroc([], [1]) is None
    assert cohen_kappa(list("SSRR"), list("SSRR")) == 1.0 and cohen_kappa(list("SS"), list("SS")) is None
    from collections import Counter

    # Fleiss' own example size: perfect agreement is 1
    assert fleiss_kappa([Counter({"S": 3}), Counter({"R": 3})], 3) == 1.0


@pytest.mark.parametrize("row, what", [
    ("item-9999,real,3,1.0", "line 3: unknown item"),
    ("item-0002,maybe,3,1.0", "line 3: answer"),
    ("item-0002,real,7,1.0", "line 3: confidence"),
    ("item-0002,real,0,1.0", "line 3: confidence"),
    ("item-0002,real,2.5,1.0", "line 3: confidence"),
    ("item-0001,real,3,1.0", "line 3: item-0001 answered twice"),
])
def test_bad_answers_files_are_refused_naming_file_and_row(study, row, what):
    path = study.folder / "answers" / "rad1.csv"
    path.parent.mkdir()
    path.write_text(f"item,answer,confidence,seconds\nitem-0001,real,3,1.0\n{row}\nitem-0003,real,3,1.0\n")
    with pytest.raises(InputError, match=what) as err:
        score_study(study.folder)
    assert err.value.path == path
    assert not (study.folder / "scores.json").exists()


def test_score_without_answers_is_refused(study):
    with pytest.raises(InputError, match="no reader has answered"):
        score_study(study.folder)
    assert not (study.folder / "scores.json").exists()


def test_zlib_png_payload_is_the_pixels(study):
    """The rendered file holds the pixels and nothing else: its IDAT inflates to exactly the scanlines."""
    path = study.item_path(study.items[0])
    data = path.read_bytes()
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4:idat], "big")
    raw = zlib.decompress(data[idat + 4:idat + 4 + length])
    assert len(raw) == 96 * (96 + 1)
