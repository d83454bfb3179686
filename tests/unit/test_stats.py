"""core/results/stats.py: study-level bootstrap, paired bootstrap, calibration, sensitivity at 90 %
specificity, mean and sd over seeds, the three leakage gaps."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from spinegui.core.results import stats
from spinegui.core.results.metrics import scores


def one_hot_prob(pred, k=3, conf=0.8):
    prob = np.full((len(pred), k), (1 - conf) / (k - 1))
    prob[np.arange(len(pred)), pred] = conf
    return prob


# Three studies: A holds images 0-1, B image 2, C images 3-5 (a study's views travel together).
STUDIES = ["A", "A", "B", "C", "C", "C"]
TRUE = np.array([0, 1, 1, 2, 2, 0])
PROB = np.array([[.7, .2, .1], [.6, .3, .1], [.1, .8, .1], [.2, .2, .6], [.5, .1, .4], [.3, .3, .4]])


def test_study_bootstrap_equals_the_hand_replayed_resamples():
    n, seed = 50, 7
    got = stats.cluster_bootstrap(TRUE, PROB, STUDIES, 3, n=n, seed=seed)
    # Replay the documented stream: one call rng.integers(0, 3, (n, 3)); row r = studies of replicate r.
    members = {0: [0, 1], 1: [2], 2: [3, 4, 5]}
    picks = np.random.default_rng(seed).integers(0, 3, (n, 3))
    by_hand = {name: [] for name in stats.HEADLINE}
    for row in picks:
        idx = [i for study in row for i in members[study]]
        accuracy = np.mean(PROB[idx].argmax(1) == TRUE[idx])   # by hand
        m = scores(TRUE[idx], PROB[idx], ["a", "b", "c"])        # the experiment's one implementation
        assert m["accuracy"] == pytest.approx(accuracy)
        for name in stats.HEADLINE:
            if m[name] is not None:
                by_hand[name].append(m[name])
    for name in stats.HEADLINE:
        lo, hi = np.percentile(by_hand[name], [2.5, 97.5])
        assert got[name] == pytest.approx([lo, hi]), name


def test_study_bootstrap_is_deterministic_and_resamples_studies_not_images():
    a = stats.cluster_bootstrap(TRUE, PROB, STUDIES, 3, seed=3)
    assert a == stats.cluster_bootstrap(TRUE, PROB, STUDIES, 3, seed=3)
    assert stats.cluster_bootstrap(TRUE, PROB, STUDIES, 3, n=20, seed=3) != stats.cluster_bootstrap(
        TRUE, PROB, STUDIES, 3, n=20, seed=4)
    # One study holding every image: every replicate is the whole set, so the interval is the point.
    one = stats.cluster_bootstrap(TRUE, PROB, ["s"] * 6, 3, n=100)
    assert one["accuracy"] == pytest.approx([0.5, 0.5])   # images 0, 2, 3 right
    # The same images as six studies vary.
    six = stats.cluster_bootstrap(TRUE, PROB, list("abcdef"), 3, n=100)
    assert six["accuracy"][0] < 0.5 < six["accuracy"][1]
    assert stats.RESAMPLES >= 1000


def test_paired_bootstrap_of_identical_predictions_is_zero_with_p_one():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 60)
    prob = rng.dirichlet(np.ones(3), 60)
    studies = [f"s{i // 2}" for i in range(60)]
    r = stats.paired_bootstrap(true, prob, prob, studies, 3, "macro_f1", n=300)
    assert r["diff"] == 0 and r["ci"] == [0, 0] and r["p"] == 1
    assert (r["n_images"], r["n_studies"]) == (60, 30)


def test_paired_bootstrap_finds_a_strategy_right_where_none_is_wrong():
    true = np.tile([0, 1, 2], 20)
    base_pred = true.copy()
    base_pred[::2] = (true[::2] + 1) % 3                  # none: wrong on half the images
    studies = [f"s{i // 3}" for i in range(60)]
    for name in ("accuracy", "macro_f1"):
        r = stats.paired_bootstrap(true, one_hot_prob(true), one_hot_prob(base_pred), studies, 3, name, n=500)
        assert r["diff"] > 0.3 and r["ci"][0] > 0 and r["p"] < 0.01
        worse = stats.paired_bootstrap(true, one_hot_prob(base_pred), one_hot_prob(true), studies, 3, name, n=500)
        assert worse["diff"] == pytest.approx(-r["diff"]) and worse["p"] < 0.01


def test_expected_calibration_error_over_fifteen_equal_bins():
    true = np.array([0, 1, 0, 1])
    prob = np.array([[.95, .05], [.95, .05], [.45, .55], [.45, .55]])   # confidences .95 .95 .55 .55
    c = stats.calibration(true, prob)
    assert len(c["bins"]) == 15 and c["bins"][0]["lo"] == 0 and c["bins"][-1]["hi"] == 1
    full = {k: b for k, b in enumerate(c["bins"]) if b["count"]}
    # .95 lies in bin 14 (14/15, 1], .55 in bin 8 (8/15, 9/15]; accuracies 1/2 and 1/2
    assert set(full) == {8, 14}
    assert full[14]["confidence"] == pytest.approx(.95) and full[14]["accuracy"] == .5
    assert full[8]["confidence"] == pytest.approx(.55) and full[8]["accuracy"] == .5
    assert c["ece"] == pytest.approx(.5 * abs(.5 - .95) + .5 * abs(.5 - .55))
    # Perfect confidence on right answers: ECE 0; a bin edge goes to the lower bin.
    assert stats.calibration([0, 1], [[1.0, 0.0], [0.0, 1.0]])["ece"] == 0
    edge = stats.calibration([0], [[9 / 15, 6 / 15]])
    assert edge["bins"][8]["count"] == 1


def test_sensitivity_at_90_specificity_is_the_best_achievable_roc_point():
    negatives = np.round(np.arange(10) / 10, 2)           # 0.0 ... 0.9
    positives = np.array([.95, .85, .5, .05])
    true = np.r_[np.zeros(10, int), np.ones(4, int)]
    p1 = np.r_[negatives, positives]
    prob = np.c_[1 - p1, p1]
    r = stats.sensitivity_at_specificity(true, prob)
    # threshold .85: one false positive (.9) of ten (specificity .9), two of four positives found
    assert r == {"sensitivity": .5, "specificity": .9, "threshold": .85}
    fpr, tpr, _ = roc_curve(true, p1, drop_intermediate=False)
    assert r["sensitivity"] == tpr[fpr <= 0.1 + 1e-12].max()
    assert stats.sensitivity_at_specificity(np.zeros(4, int), prob[:4]) is None   # no positive
    assert stats.sensitivity_at_specificity(true, np.c_[prob, prob[:, :1]]) is None  # not binary


def test_mean_and_sample_sd_over_seeds():
    assert stats.mean_sd([0.5, 0.7]) == {"mean": pytest.approx(0.6), "sd": pytest.approx(np.sqrt(0.02)), "n": 2}
    assert stats.mean_sd([0.5]) == {"mean": 0.5, "sd": None, "n": 1}
    assert stats.mean_sd([None]) == {"mean": None, "sd": None, "n": 0}


def _fold(rng, n, accuracy):
    true = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < accuracy, true, 1 - true)
    return true, one_hot_prob(pred, 2), [f"st{i // 2}" for i in range(n)]


def test_the_three_leakage_gaps_add_up_and_carry_intervals():
    rng = np.random.default_rng(1)
    folds = {"paper_val": _fold(rng, 80, .95), "paper_test": _fold(rng, 60, .85),
             "safe_val": _fold(rng, 40, .75), "safe_test": _fold(rng, 70, .7)}
    g = stats.leakage_gaps(folds, 2, n=400, seed=5)
    acc = {f: float(np.mean(p.argmax(1) == t)) for f, (t, p, _) in folds.items()}
    assert g["folds"] == pytest.approx(acc)
    assert g["paper_val_minus_safe_val"]["value"] == pytest.approx(acc["paper_val"] - acc["safe_val"])
    # (paper_val - safe_val) + (safe_val - safe_test) = (paper_val - paper_test) + (paper_test - safe_test):
    # both sides are paper_val - safe_test, the old audit's single gap, now split into leak and shift.
    lhs = g["paper_val_minus_safe_val"]["value"] + g["safe_val_minus_safe_test"]["value"]
    rhs = g["paper_val_minus_paper_test"]["value"] + (g["folds"]["paper_test"] - g["folds"]["safe_test"])
    assert lhs == pytest.approx(rhs, abs=1e-12)
    for name, _, _ in stats.GAPS:
        lo, hi = g[name]["ci"]
        assert lo <= g[name]["value"] <= hi and lo < hi
    assert g == stats.leakage_gaps(folds, 2, n=400, seed=5)
    assert stats.leakage_gaps({**folds, "safe_val": None}, 2) is None
