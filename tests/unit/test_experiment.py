"""The case-study experiment: the planner's counts, a tiny end-to-end run of both protocols (job
process, CLI), the leakage audit from its manifest, and bad input refused before training."""

import csv
import json

import pytest

from case_factory import make_case_root
from spinegui.cli.entry import main
from spinegui.train.planner import class_counts, format_table, plan_case
from spinegui.train.splits import CASES, Item, Selection


def test_planner_counts_balance_a_fixed_target_and_hybrid_halves():
    names = ["No finding", "Disc space narrowing", "Vertebral collapse"]
    real = [100, 14, 5]
    assert [c.total for c in class_counts("none", names, real, "balance")] == real
    basic = class_counts("basic", names, real, "balance")
    assert [(c.real, c.geometric, c.gan) for c in basic] == [(100, 0, 0), (14, 86, 0), (5, 95, 0)]
    gan = class_counts("gan", names, real, 4000)
    assert [(c.geometric, c.gan, c.total) for c in gan] == [(0, 3900, 4000), (0, 3986, 4000), (0, 3995, 4000)]
    hybrid = class_counts("hybrid", names, real, 50)
    assert [(c.geometric, c.gan) for c in hybrid] == [(0, 0), (18, 18), (22, 23)]
    assert [c.total for c in class_counts("basic", names, real, 10)] == [100, 14, 10]   # never fewer real


def test_plans_keep_synthetic_images_in_the_training_fold_under_safe_only():
    pool = [Item(f"{c}-{s}-{k}", f"st-{c}-{s}", c) for c, n in ((0, 30), (1, 6), (2, 4)) for s in range(n)
            for k in range(2)]
    test = [Item(f"t{c}", f"tst{c}", c) for c in range(3)]
    plans = plan_case(Selection(CASES["1"], pool, test), ["safe", "paper"], ["none", "basic", "hybrid"], 40)
    safe = {p.strategy: p for p in plans if p.protocol == "safe"}
    paper = {p.strategy: p for p in plans if p.protocol == "paper"}
    train_studies = {s.study_id for s in safe["basic"].fold("train")}
    for s in safe["basic"].specs + safe["hybrid"].specs:
        if s.fold != "train":
            assert s.origin == "real" and s.study_id not in train_studies
    geo = [s for s in safe["hybrid"].fold("train") if s.origin == "geometric"]
    assert geo and all(s.study_id in train_studies for s in geo)
    counts = {c.name: (c.real, c.geometric, c.gan) for c in safe["hybrid"].counts}
    assert counts["Vertebral collapse"][0] + counts["Vertebral collapse"][1] + counts["Vertebral collapse"][2] == 40
    assert sum(s.origin != "real" for s in paper["basic"].fold("val")) > 0           # the preprint's leak
    assert safe["basic"].leaks() == {"synthetic_held_out": 0, "held_out_sharing_a_study_with_train": 0}
    assert all(n > 0 for n in paper["basic"].leaks().values())
    assert paper["none"].fold_counts()["test"] == [1, 1, 1]
    table = format_table(plans)
    assert "safe protocol" in table and "paper protocol (leaky" in table and "(+" in table


@pytest.fixture(scope="module")
def case_root(demo_root, tmp_path_factory):
    """The demo dataset (every class in three studies, no test split) with one study of each of case 1's
    classes moved to the test split; the DICOM files are linked, not copied."""
    return make_case_root(demo_root, tmp_path_factory.mktemp("case") / "vindr-case")


# --gan-gate off: the demo's classes are too small to hold images out (test_gan_gate.py tests the gate)
TINY = ["--models", "resnet18", "--size", "32", "--epochs", "1", "--per-class", "3", "--gan-epochs", "1",
        "--gan-gate", "off",
        "--gan-width", "8", "--device", "cpu", "--threads", "1", "--workers", "1", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def experiment(case_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exp")
    run = tmp / "run"
    rc = main(["experiment", str(case_root), "--case", "1", "--strategies", "none,basic,gan", "--protocol", "both",
               "--workspace", str(tmp / "ws"), "--out", str(run), *TINY])
    assert rc == 0, (run / "job.log").read_text() if (run / "job.log").exists() else rc
    return run


def test_a_tiny_experiment_writes_results_for_both_protocols(experiment, capsys):
    doc = json.loads((experiment / "results.json").read_text())
    assert {(r["protocol"], r["strategy"]) for r in doc["runs"]} == {
        (p, s) for p in ("safe", "paper") for s in ("none", "basic", "gan")}
    for r in doc["runs"]:
        for split in ("val", "test"):
            assert len(r[split]["confusion"]) == 3 and len(r[split]["confusion_normalised"][0]) == 3
            assert set(r["ci"][split]) >= {"accuracy", "macro_f1"}
        assert r["flops_per_image"]["train"] > 0 and r["compute"]["train_s"] > 0
        assert (experiment / r["predictions"]["test"]).is_file()
    compute = json.loads((experiment / "compute.json").read_text())
    assert {"safe-gan", "paper-basic"} <= set(compute["per_strategy"])
    assert {"gan_train", "generate", "augment", "train", "eval"} <= {s["stage"] for s in compute["stages"]}
    with open(experiment / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {"train_accuracy", "val_accuracy", "test_macro_f1", "total_s"} <= set(rows[0])
    paper_basic = next(r for r in rows if (r["protocol"], r["strategy"]) == ("paper", "basic"))
    assert int(paper_basic["val_synthetic"]) > 0
    assert "safe-gan-resnet18: test" in (experiment / "report.html").read_text()     # the job's last step
    events = [json.loads(line) for line in (experiment / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "metric" and e["split"] == "test" for e in events)
    capsys.readouterr()
    assert main(["experiment", str(experiment.parent), "--case", "1", "--out", str(experiment), "--resume"]) == 0
    assert "done already" in capsys.readouterr().out


def test_under_safe_no_synthetic_or_augmented_image_reaches_validation_or_test(experiment):
    with open(experiment / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["protocol"] == "safe"]
    assert {r["origin"] for r in rows} == {"real", "geometric", "gan"}
    for strategy in ("none", "basic", "gan"):
        mine = [r for r in rows if r["strategy"] == strategy]
        held_out = [r for r in mine if r["fold"] != "train"]
        assert held_out and all(r["origin"] == "real" for r in held_out)
        train = [r for r in mine if r["fold"] == "train"]
        train_studies = {r["study_id"] for r in train if r["study_id"]}
        assert not train_studies & {r["study_id"] for r in held_out}
        held_images = {r["source_image_id"] for r in held_out}
        assert not held_images & {r["source_image_id"] for r in train}
    train_ids = {r["source_image_id"] for r in rows if r["fold"] == "train" and r["origin"] == "real"}
    gan_sources = json.loads((experiment / "gan" / "safe" / "sources.json").read_text())
    assert gan_sources and all(set(ids) <= train_ids for ids in gan_sources.values())


def test_bad_input_is_refused_in_one_line_before_training(experiment, demo_root, tmp_path, capsys):
    def refused(*args):
        capsys.readouterr()
        assert main(["experiment", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        return err

    out = ["--out", str(tmp_path / "new")]
    assert "class 'No finding' has no image in the test fold" in refused(str(demo_root), "--case", "1", *out)
    assert "unknown model 'resnet50'" in refused(str(demo_root), "--case", "1", "--models", "resnet50", *out)
    assert "unknown strategy 'mixup'" in refused(str(demo_root), "--case", "1", "--strategies", "none,mixup", *out)
    assert "unknown case '9'" in refused(str(demo_root), "--case", "9", *out)
    assert "already there; pass --resume" in refused(str(demo_root), "--case", "1", "--out", str(experiment))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    assert "not an empty folder" in refused(str(demo_root), "--case", "1", "--out", str(tmp_path / "other"),
                                            "--overwrite")
    assert (tmp_path / "other" / "keep.txt").exists()
    assert not (tmp_path / "new").exists()


def test_every_file_of_the_experiment_honours_the_umask(experiment):
    """results.csv/json, manifest.csv, checkpoints...: colleagues on a shared disk may read them as the
    user's umask allows (they were 0600 whatever the umask; issue 14, defect 9)."""
    import stat

    from spinegui.core.dataset.workspace import current_umask

    want = 0o666 & ~current_umask()
    modes = {str(p.relative_to(experiment)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in experiment.rglob("*") if p.is_file() and not p.is_symlink()}
    assert {"results.csv", "results.json", "manifest.csv"} <= set(modes)
    assert {name: m for name, m in modes.items() if m != oct(want)} == {}


def test_a_run_prints_its_plan_table_once_and_plan_only_prints_it_too(case_root, tmp_path, capsys):
    args = ["experiment", str(case_root), "--case", "1", "--strategies", "none", "--protocol", "safe",
            "--workspace", str(tmp_path / "ws"), *TINY]
    assert main([*args, "--out", str(tmp_path / "plan"), "--plan-only"]) == 0
    assert capsys.readouterr().out.count("safe protocol: split by study") == 1
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    shown = capsys.readouterr()   # the job's log lines go beside the progress bar, on stderr
    assert (shown.out + shown.err).count("safe protocol: split by study") == 1
