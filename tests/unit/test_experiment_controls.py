"""Shortcut controls, seeds and compute of the experiment (issue 16, part 2): the oversample strategy,
--symmetric origin mixes and resolution path, crops that keep the lesion box, the origin probe,
--seeds (keys, seed fields, resume) and the compute ledger (device timer, per-seed costs, GAN FLOPs,
the machine)."""

import csv
import json
from collections import Counter

import numpy as np
import pytest
import torch

from case_factory import make_case_root
from spinegui.augment.pipeline import Augmenter
from spinegui.augment.presets import load_preset
from spinegui.cli.entry import main
from spinegui.train import experiment_data as X
from spinegui.train.compute import Ledger, gan_flops
from spinegui.train.origin_probe import probe
from spinegui.train.planner import class_counts, plan_case
from spinegui.train.splits import CASES, Item, Selection


def _selection():
    pool = [Item(f"{c}-{s}-{k}", f"st-{c}-{s}", c) for c, n in ((0, 30), (1, 6), (2, 4)) for s in range(n)
            for k in range(2)]
    return Selection(CASES["1"], pool, [Item(f"t{c}", f"tst{c}", c) for c in range(3)])


def _mix(plan, fold="train"):
    """class -> {origin: share} of a fold."""
    counts = Counter((s.label, s.origin) for s in plan.fold(fold))
    totals = Counter(s.label for s in plan.fold(fold))
    return {k: {o: counts[k, o] / totals[k] for o in ("real", "geometric", "gan", "oversample")} for k in totals}


# --- planner -------------------------------------------------------------------------------------
def test_oversample_repeats_real_images_to_the_other_strategies_counts():
    plans = {p.strategy: p for p in plan_case(_selection(), ["safe"], ["basic", "oversample"], 40)}
    over, basic = plans["oversample"], plans["basic"]
    assert [c.total for c in over.counts] == [c.total for c in basic.counts]
    assert [c.oversample for c in over.counts] == [c.geometric for c in basic.counts] and over.counts[2].oversample
    train = over.fold("train")
    real_ids = {s.source_id for s in train if s.origin == "real"}
    repeats = [s for s in train if s.origin == "oversample"]
    assert repeats and all(s.source_id in real_ids and s.item_id.startswith("rep-") for s in repeats)
    assert len({s.item_id for s in train}) == len(train)
    assert all(s.origin == "real" for s in over.fold("val") + over.fold("test"))
    assert over.as_dict()["classes"][2]["oversample"] == over.counts[2].oversample
    # a repeat reads its source's row of the real store: the same pixels
    real = X.Store(np.arange(len(real_ids) * 4, dtype=np.uint16).reshape(-1, 2, 2),
                   {i: n for n, i in enumerate(sorted(real_ids))})
    data = X.fold_data(over, "train", real, None, on_the_fly=False)
    n = next(k for k, s in enumerate(train) if s.origin == "oversample")
    assert (data.images(np.array([n]))[0] == real.array[real.row[train[n].source_id]]).all()


@pytest.mark.parametrize("strategy", ["basic", "gan", "hybrid", "oversample"])
def test_symmetric_gives_every_class_the_same_origin_mix(strategy):
    sel = _selection()
    for protocol in ("safe", "paper"):
        plan = plan_case(sel, [protocol], [strategy], "balance", symmetric=True)[0]
        counts = plan.counts
        for c in counts:      # the augmented set: every class the same shares, within rounding
            for name in ("geometric", "gan", "oversample"):
                assert abs(getattr(c, name) / c.total - getattr(counts[0], name) / counts[0].total) <= 1 / c.total
        assert counts[0].total > counts[0].real          # No finding gets synthetic images too
        if protocol == "safe":    # and in the manifest's training fold
            mix = _mix(plan)
            for k in mix:
                for origin, share in mix[k].items():
                    assert abs(share - mix[0][origin]) <= 1.5 / sum(1 for s in plan.fold("train") if s.label == k)
    # without --symmetric only the small classes get them: the tell-tale the setting removes
    plain = plan_case(sel, ["safe"], [strategy], "balance")[0]
    assert _mix(plain)[0]["real"] == 1.0 and _mix(plain)[2]["real"] < 0.5


def test_symmetric_share_is_the_one_the_smallest_class_needs():
    counts = class_counts("hybrid", ["a", "b", "c"], [100, 20, 10], "balance", symmetric=True)
    assert [c.total for c in counts] == [1000, 200, 100]
    assert [(c.geometric + c.gan) / c.total for c in counts] == [0.9, 0.9, 0.9]
    assert [c.total for c in class_counts("none", ["a", "b"], [10, 2], "balance", symmetric=True)] == [10, 2]


# --- resolution path and boxes -------------------------------------------------------------------
def test_symmetric_real_images_pass_the_gan_side(tmp_path):
    rng = np.random.default_rng(0)
    array = (rng.random((3, 64, 64)) * 65535).astype(np.uint16)
    real = X.Store(array, {"a": 0, "b": 1, "c": 2})
    via = X.via_gan_size(tmp_path, real, 64, 16)
    expected = X.resize(X.resize(array[1].astype(np.float32) / 65535, 16).astype(np.float32) / 65535, 64)
    assert (via.array[via.row["b"]] == expected).all()
    assert np.abs(np.diff(via.array[0].astype(float), axis=1)).mean() < 0.5 * np.abs(
        np.diff(array[0].astype(float), axis=1)).mean()       # the detail a 16-px GAN sample lacks is gone
    assert X.via_gan_size(tmp_path, real, 16, 16) is real       # nothing to match at or below the GAN's side


def test_geometric_copies_are_redrawn_until_the_lesion_box_survives():
    augmenter = Augmenter(load_preset("basic"))
    size, box = 64, np.array([[1.0, 1.0, 9.0, 9.0]])    # a lesion in the corner: rotations and crops lose it
    lost_first, redrawn = 0, 0
    for k in range(40):
        item = f"aug-x-{k}"
        first = X.seed_of(7, "geometric", item, 0)
        lost_first += not X.keeps_a_box(augmenter, box, size, first)
        seed, tries, lost = X.geometric_seed(augmenter, box, size, 7, item)
        redrawn += tries > 0
        assert lost or X.keeps_a_box(augmenter, box, size, seed)
        assert tries == 0 or seed != first
    assert lost_first > 0 and redrawn == lost_first       # the rule was needed, and applied
    # a copy without boxes (No finding) takes its first draw
    assert X.geometric_seed(augmenter, np.zeros((0, 4)), size, 7, "aug-y-0")[1] == 0


# --- origin probe --------------------------------------------------------------------------------
def test_origin_probe_tells_upsampled_images_and_not_twins():
    rng = np.random.default_rng(1)
    images = (rng.random((160, 32, 32)) * 65535).astype(np.uint16)
    flags = np.arange(160) % 2 == 1
    same = probe(images, flags, seed=0)
    assert 0.3 < same["auroc"] < 0.7 and "warning" not in same and same["n"] == 160
    blurred = images.copy()
    for n in np.flatnonzero(flags):    # a 64-px GAN sample upsampled: no fine detail
        small = X.resize(images[n].astype(np.float32) / 65535, 8).astype(np.float32) / 65535
        blurred[n] = X.resize(small, 32)
    told = probe(blurred, flags, seed=0)
    assert told["auroc"] >= 0.8 and "warning" in told
    assert probe(images[:4], flags[:4]) is None      # too few to say


# --- compute -------------------------------------------------------------------------------------
def test_ledger_costs_per_seed_and_names_the_machine(tmp_path):
    ledger = Ledger(torch.device("cpu"), tmp_path / "compute.json")
    ledger.add("gan_train", 10.0, 5, protocol="safe", strategies=["gan"])   # shared by every seed
    for seed, secs in ((3, 1.0), (4, 3.0)):
        ledger.add("generate", secs, 4, protocol="safe", strategy="gan", seed=seed)
        with ledger.stage("train", protocol="safe", strategy="gan", model="m", seed=seed) as rec:
            rec["images"] = 1
    assert ledger.cost("safe", "gan", seed=3)["prep_s"] == 11.0
    assert ledger.cost("safe", "gan", seed=4)["prep_s"] == 13.0
    doc = json.loads((tmp_path / "compute.json").read_text())
    per = doc["per_seed"]["safe-gan"]
    assert per["seeds"] == [3, 4] and len(per["total_s"]) == 2 and per["sd_s"] > 0
    assert per["mean_s"] == pytest.approx(sum(per["total_s"]) / 2, abs=1e-3)
    assert {"cpu", "cores", "gpu", "torch"} <= set(doc["machine"]) and doc["machine"]["torch"] == torch.__version__
    assert all("device_s" in r for r in doc["stages"])


def test_gan_flops_count_sampling_and_training():
    f = gan_flops("wgan-gp", 64, 8, 5, 4, torch.device("cpu"))
    plain = gan_flops("wgan", 64, 8, 5, 4, torch.device("cpu"))
    assert 0 < f["generate_per_image"] < f["generator_step"]
    assert f["critic_step"] > plain["critic_step"] > 0      # the gradient penalty's double backward
    assert f["train_per_image"] == int((f["critic_step"] + f["generator_step"] / 5) / 4)


# --- end to end: seeds, symmetric, probe, resume -------------------------------------------------
TINY = ["--models", "resnet18", "--size", "32", "--epochs", "1", "--per-class", "3", "--gan-epochs", "1",
        "--gan-width", "8", "--gan-gate", "off", "--device", "cpu", "--threads", "1", "--workers", "1",
        "--bootstrap", "10"]


@pytest.fixture(scope="module")
def seeded(demo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seeded")
    root = make_case_root(demo_root, tmp / "vindr-case")
    run = tmp / "run"
    rc = main(["experiment", str(root), "--case", "1", "--strategies", "none,oversample,basic,gan", "--protocol",
               "safe", "--seeds", "2", "--seed", "5", "--symmetric", "--workspace", str(tmp / "ws"), "--out", str(run),
               *TINY])
    assert rc == 0, (run / "job.log").read_text() if (run / "job.log").exists() else rc
    return root, run


def test_seeds_repeat_every_run_with_their_own_key_and_seed(seeded):
    _, run = seeded
    doc = json.loads((run / "results.json").read_text())
    keys = {r["key"]: r for r in doc["runs"]}
    for strategy in ("none", "oversample", "basic", "gan"):
        first, second = keys[f"safe-{strategy}-resnet18"], keys[f"safe-{strategy}-resnet18-s1"]
        assert (first["seed"], first["seed_index"], second["seed"], second["seed_index"]) == (5, 0, 6, 1)
        assert (run / second["predictions"]["test"]).is_file() and "-s1-test" in second["predictions"]["test"]
    assert doc["seeds"] == [5, 6] and doc["symmetric"] is True
    assert (run / "data" / "safe-basic-32-s1.npy").is_file()      # each seed draws its own copies
    first, second = (np.load(run / "data" / f"safe-basic-32{tag}.npy") for tag in ("", "-s1"))
    assert not np.array_equal(first, second)
    with open(run / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["seed"] for r in rows) == ["5"] * 4 + ["6"] * 4
    compute = json.loads((run / "compute.json").read_text())
    assert compute["per_seed"]["safe-gan"]["seeds"] == [5, 6]
    gan_train = [s for s in compute["stages"] if s["stage"] == "gan_train"]
    assert gan_train and all(s["flops_per_image"] > 0 for s in gan_train)
    assert all(s["flops_per_image"] > 0 for s in compute["stages"] if s["stage"] == "generate")
    assert len(gan_train) == 3        # one GAN per class, trained once for both seeds


def test_symmetric_manifest_and_origin_probe(seeded):
    _, run = seeded
    with open(run / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["fold"] == "train"]
    for strategy in ("oversample", "basic", "gan"):
        mine = [r for r in rows if r["strategy"] == strategy]
        by_class = Counter(r["class"] for r in mine)
        shares = {c: Counter(r["origin"] for r in mine if r["class"] == c) for c in by_class}
        for origin in ("real", "oversample", "geometric", "gan"):
            values = [shares[c][origin] / by_class[c] for c in by_class]
            assert max(values) - min(values) <= 1.5 / min(by_class.values()), (strategy, origin, values)
        assert shares["No finding"]["real"] < by_class["No finding"]
    probes = json.loads((run / "results.json").read_text())["origin_probe"]
    assert probes["safe-none"] is None and probes["safe-oversample"] is None
    for key in ("safe-basic", "safe-gan"):
        assert 0.0 <= probes[key]["auroc"] <= 1.0 and probes[key]["n"] >= 6
    assert "origin probe safe-basic" in (run / "events.jsonl").read_text()


def test_a_stopped_multi_seed_experiment_resumes_where_it_stopped(seeded, capsys):
    root, run = seeded
    kept = (run / "runs" / "safe-basic-resnet18.json").read_text()
    # as if cancelled during the second seed's gan run: its result and checkpoints not written yet
    (run / "runs" / "safe-gan-resnet18-s1.json").unlink()
    for f in (run / "checkpoints").glob("safe-gan-resnet18-s1_*"):
        f.unlink()
    (run / "results.json").unlink()
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps(status | {"state": "cancelled", "exit_code": 130}))
    assert main(["experiment", str(root), "--case", "1", "--out", str(run), "--resume"]) == 0
    doc = json.loads((run / "results.json").read_text())
    assert len(doc["runs"]) == 8 and (run / "runs" / "safe-gan-resnet18-s1.json").is_file()
    assert (run / "runs" / "safe-basic-resnet18.json").read_text() == kept       # finished runs kept
    redone = next(r for r in doc["runs"] if r["key"] == "safe-gan-resnet18-s1")
    assert redone["seed"] == 6
    table = capsys.readouterr().out.splitlines()     # the table printed at the end: a row per run, its seed
    rows = [line.split() for line in table if line.startswith("safe ")]
    assert len(rows) == 8 and sorted(r[3] for r in rows if r[1] == "gan") == ["5", "6"]


def test_zero_seeds_is_refused_in_one_line(demo_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:      # argparse's refusal: exit status 2
        main(["experiment", str(demo_root), "--case", "1", "--seeds", "0", "--out", str(tmp_path / "x")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seeds" in err
    assert not (tmp_path / "x").exists()
