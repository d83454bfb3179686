"""core/results/summary.py: the experiment's statistics from its folder alone (results.json runs,
predictions and manifest.csv), as results.json's keys; load_experiment reads or computes them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinegui.core.results import stats
from spinegui.core.results import summary as sm
from spinegui.core.results.experiment_folder import load_experiment
from stats_factory import write_folder

N = 200  # resamples: enough for these checks, quick


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path / "exp")
    return tmp_path / "exp"


def entry(found: dict, protocol: str, strategy: str) -> dict:
    return next(e for e in found["summary"] if (e["protocol"], e["strategy"], e["model"]) == (protocol, strategy, "m"))


def test_every_run_gets_its_seed_study_cis_calibration_and_operating_point(folder):
    found = sm.summarise(folder, n=N)
    exp = load_experiment(folder, statistics=False)
    assert [r["seed"] for r in found["runs"]] == [0, 1] * 4
    for run in found["runs"]:
        p = exp.predictions[(run["key"], "test")]
        studies = [f"t-study{int(i[1:]) // 2}" for i in p.ids]
        assert run["ci_unit"] == "study"
        assert run["ci"]["test"] == stats.cluster_bootstrap(p.true, p.prob, studies, 2, N,
                                                            sm._rng_seed(0, run["key"], "test"))
        assert run["calibration"]["test"] == stats.calibration(p.true, p.prob)
        assert run["test"]["sens_at_90_spec"] == stats.sensitivity_at_specificity(p.true, p.prob)["sensitivity"]
        assert run["test"]["auroc"] is not None   # beside the AUROC
    json.dumps(found, allow_nan=False)   # results.json-ready
    assert found["stats"]["ci_unit"] == "study" and found["stats"]["resamples"] == N


def test_summary_over_seeds_with_the_paired_difference_against_none(folder):
    found = sm.summarise(folder, n=N)
    runs = {r["key"]: r for r in found["runs"]}
    gan = entry(found, "safe", "gan")
    accuracies = [runs["safe-gan-m"]["test"]["accuracy"], runs["safe-gan-m-s1"]["test"]["accuracy"]]
    assert gan["n_seeds"] == 2 and gan["seeds"] == [0, 1] and gan["keys"] == ["safe-gan-m", "safe-gan-m-s1"]
    assert gan["test_accuracy"] == stats.mean_sd(accuracies)
    f1 = [runs[k]["test"]["macro_f1"] for k in ("safe-gan-m", "safe-gan-m-s1")]
    assert gan["test_macro_f1"]["sd"] == pytest.approx(np.std(f1, ddof=1))
    # gan is right on every image none gets wrong (half of them): pooled over both seeds' 40 images
    v = gan["vs_none_accuracy"]
    assert v["diff"] == pytest.approx(0.5) and v["ci"][0] > 0 and v["p"] < 0.01
    assert (v["n_images"], v["n_studies"]) == (80, 20)   # one study's images of both seeds move together
    assert gan["vs_none"]["metric"] == "macro_f1" and gan["vs_none"]["diff"] > 0 and gan["vs_none"]["p"] < 0.01
    assert entry(found, "safe", "none")["vs_none"] is None


def test_one_seed_has_no_sd_and_old_keys(tmp_path):
    write_folder(tmp_path / "one", seeds=(0,))
    gan = entry(sm.summarise(tmp_path / "one", n=N), "paper", "gan")
    assert gan["n_seeds"] == 1 and gan["test_accuracy"]["sd"] is None and gan["keys"] == ["paper-gan-m"]


def test_leakage_gaps_pool_the_seeds_and_add_up(folder):
    found = sm.summarise(folder, n=N)
    runs = {r["key"]: r for r in found["runs"]}
    gaps = {(g["strategy"], g["model"]): g for g in found["leakage"]}
    assert set(gaps) == {("none", "m"), ("gan", "m")}
    g = gaps[("gan", "m")]
    paper_val = np.mean([runs[k]["val"]["accuracy"] for k in ("paper-gan-m", "paper-gan-m-s1")])  # equal sizes
    assert g["folds"]["paper_val"] == pytest.approx(paper_val)
    assert g["paper_val_minus_safe_val"]["value"] == pytest.approx(g["folds"]["paper_val"] - g["folds"]["safe_val"])
    assert g["paper_val_minus_safe_val"]["value"] + g["safe_val_minus_safe_test"]["value"] == pytest.approx(
        g["paper_val_minus_paper_test"]["value"] + g["folds"]["paper_test"] - g["folds"]["safe_test"])
    assert all(len(g[name]["ci"]) == 2 for name, _, _ in stats.GAPS)


def test_a_run_whose_gan_failed_the_gate_is_excluded(tmp_path):
    write_folder(tmp_path / "a", gate=("safe", "gan"))
    found = sm.summarise(tmp_path / "a", n=N)
    assert entry(found, "safe", "gan")["excluded"] == "failed quality gate"
    assert "test_accuracy" not in entry(found, "safe", "gan")
    assert "excluded" not in entry(found, "paper", "gan")
    assert [g["strategy"] for g in found["leakage"]] == ["none"]
    write_folder(tmp_path / "b", gans=[{"protocol": "paper", "gan_class": "Abnormal", "gate": "fail"},
                                       {"protocol": "safe", "gate": "pass"}])
    found = sm.summarise(tmp_path / "b", n=N)
    assert entry(found, "paper", "gan")["excluded"] == "failed quality gate"
    assert "excluded" not in entry(found, "safe", "gan") and "excluded" not in entry(found, "paper", "none")


def test_load_experiment_computes_for_old_folders_and_reads_written_ones(folder):
    old = load_experiment(folder)
    assert old.summary and old.leakage and old.stats["ci_unit"] == "study"
    assert old.runs["safe-gan-m"]["ci_unit"] == "study" and old.runs["safe-gan-m"]["ci"]["test"]["accuracy"] != [.1, .2]
    assert old.summary_for("safe", "gan", "m")["n_seeds"] == 2 and old.leakage_for("gan", "m") is not None
    assert old.run_for("safe", "gan", "m", seed=1)["key"] == "safe-gan-m-s1"
    # the job's hook: results.update(summarise(run_dir)) before writing results.json
    doc = json.loads((folder / "results.json").read_text())
    doc.update(sm.summarise(folder, n=N))
    doc["summary"][0]["marker"] = "read, not recomputed"
    (folder / "results.json").write_text(json.dumps(doc))
    new = load_experiment(folder)
    assert new.summary[0]["marker"] == "read, not recomputed" and new.stats["resamples"] == N
    assert "marker" not in load_experiment(folder, recompute=True).summary[0]


def test_the_writer_can_summarise_before_results_json_exists(folder):
    doc = json.loads((folder / "results.json").read_text())
    expected = sm.summarise(folder, n=N)
    (folder / "results.json").unlink()
    doc.update(sm.summarise(folder, n=N, doc=doc))   # the experiment job's hook
    assert doc["summary"] == expected["summary"] and doc["leakage"] == expected["leakage"]
    assert doc["runs"] == expected["runs"]
