"""The experiment's statistics beyond one split's metrics: study-level (cluster) bootstrap intervals,
paired comparisons against a baseline, calibration, sensitivity at a fixed specificity, mean and sd
over seeds, and the three leakage gaps.

Numpy only (core/ imports no torch). Why study-level: a study (one patient visit) holds several
views, whose predictions are correlated; resampling images as if independent gives intervals that
are too narrow. Every bootstrap here resamples STUDIES with replacement and takes all of a chosen
study's images along. An image without a study id is its own study.

Every bootstrap is deterministic for its `seed` (numpy's default_rng) and draws all its replicates
at once (`draw_studies`: row r = replicate r's study indices, studies in order of first appearance);
a replicate is then a weight per image (how often its study was drawn), so that the metrics of all
replicates are computed together (weighted_metrics), not image list by image list.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 1000          # bootstrap replicates by default
ECE_BINS = 15             # equal-width bins of the top-class confidence on [0, 1]
SPECIFICITY = 0.9         # the operating point of `sensitivity_at_specificity`
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")
GAPS = (("paper_val_minus_safe_val", "paper_val", "safe_val"),     # what leakage adds on the same kind of fold
        ("paper_val_minus_paper_test", "paper_val", "paper_test"),  # the preprint's figure against its own test
        ("safe_val_minus_safe_test", "safe_val", "safe_test"))      # the shift to the official test split


# --- clusters -----------------------------------------------------------------------------------------
def study_groups(studies) -> list[np.ndarray]:
    """Image indices per study, studies in order of first appearance; an empty id is its own study."""
    groups: dict[object, list[int]] = {}
    for i, s in enumerate(studies):
        groups.setdefault(s if s not in (None, "") else ("image", i), []).append(i)
    return [np.asarray(g, np.int64) for g in groups.values()]


def draw_studies(n_studies: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """The whole random stream of one bootstrap: row r holds replicate r's study indices, drawn as ONE
    call `rng.integers(0, n_studies, (n, n_studies))` (a test can replay it)."""
    return rng.integers(0, n_studies, (n, n_studies))


def image_weights(groups: list[np.ndarray], picks: np.ndarray, n_images: int) -> np.ndarray:
    """Replicates x images: how many times each image is in each replicate (its study's draws)."""
    rows = np.repeat(np.arange(len(picks)) * len(groups), picks.shape[1])
    counts = np.bincount(rows + picks.ravel(), minlength=len(picks) * len(groups)).reshape(len(picks), len(groups))
    study_of = np.empty(n_images, np.int64)
    for g, members in enumerate(groups):
        study_of[members] = g
    return counts[:, study_of]


def _chunks(n: int, size: int = 64):   # replicates at a time: small arrays stay in cache
    return ((a, min(a + size, n)) for a in range(0, n, size))


def _percentile_ci(values) -> list[float] | None:
    v = np.asarray([x for x in values if x is not None], np.float64)
    v = v[np.isfinite(v)]
    return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if len(v) else None


# --- metrics of weighted image sets (one row of weights = one resample) --------------------------------
def _div(a, b):
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _weighted_auroc(w: np.ndarray, y_true: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Macro one-vs-rest AUROC per row of weights (NaN where no class has positives and negatives), as
    metrics.auroc: the Mann-Whitney statistic with ties counting half equals the ROC's trapezoid area."""
    k = prob.shape[1]
    per = np.full((len(w), k), np.nan)
    for c in (range(1, 2) if k == 2 else range(k)):
        order = np.argsort(prob[:, c], kind="mergesort")
        s, pos = prob[order, c], y_true[order] == c
        # each image's tie group [start, end) among the sorted scores; the negatives' weight strictly
        # below it and tied with it come from one prefix sum (ties count half, as metrics.roc_curve)
        new_group = np.r_[True, np.diff(s) != 0]
        start = np.maximum.accumulate(np.where(new_group, np.arange(len(s)), 0))
        end = np.r_[np.flatnonzero(new_group)[1:], len(s)][np.cumsum(new_group) - 1]
        ws = w[:, order]
        pos_w = ws * pos
        prefix = np.concatenate([np.zeros((len(w), 1)), np.cumsum(ws * ~pos, axis=1)], axis=1)
        below, tied = prefix[:, start], prefix[:, end] - prefix[:, start]
        n_pos, n_neg = pos_w.sum(1), prefix[:, -1]
        ok = (n_pos > 0) & (n_neg > 0)
        area = (pos_w * (below + 0.5 * tied)).sum(1)
        per[ok, c] = area[ok] / (n_pos[ok] * n_neg[ok])
    defined = np.isfinite(per)
    return np.where(defined.any(1), _div(np.where(defined, per, 0.0).sum(1), defined.sum(1).astype(np.float64)),
                    np.nan)


def weighted_metrics(w: np.ndarray, y_true, prob, n_classes: int, names=HEADLINE) -> dict[str, np.ndarray]:
    """HEADLINE metrics for each row of image weights (replicates x images), as metrics.scores defines
    them (balanced accuracy over the classes present; macro-F1 over all classes; 0 where undefined)."""
    y_true, prob = np.asarray(y_true, np.int64), np.asarray(prob, np.float64)
    k = n_classes
    cell = np.zeros((len(y_true), k * k))
    cell[np.arange(len(y_true)), y_true * k + prob.argmax(1)] = 1.0
    cm = (w @ cell).reshape(len(w), k, k)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support, predicted = cm.sum(2), cm.sum(1)
    precision, recall = _div(tp, predicted), _div(tp, support)
    f1 = _div(2 * precision * recall, precision + recall)
    present = support > 0
    out = {"accuracy": _div(tp.sum(1), cm.sum((1, 2))),
           "balanced_accuracy": _div((recall * present).sum(1), present.sum(1).astype(np.float64)),
           "macro_f1": f1.mean(1)}
    if "auroc" in names:
        out["auroc"] = _weighted_auroc(w, y_true, prob)
    return {n: out[n] for n in names}


def headline(y_true, prob, n_classes: int, names=HEADLINE) -> dict[str, float | None]:
    """The HEADLINE metrics of one set of images (None where undefined)."""
    if len(y_true) == 0:
        return {n: None for n in names}
    m = weighted_metrics(np.ones((1, len(y_true))), y_true, prob, n_classes, names)
    return {n: None if not np.isfinite(v[0]) else float(v[0]) for n, v in m.items()}


# --- study-level bootstrap -------------------------------------------------------------------------
def cluster_bootstrap(y_true, prob, studies, n_classes: int, n: int = RESAMPLES, seed: int = 0) -> dict:
    """95 % percentile intervals {metric: [lo, hi] or None} of HEADLINE over `n` study resamples
    (draw_studies with default_rng(seed)); a replicate where AUROC is undefined (a class absent) is
    left out of AUROC's interval only."""
    y_true, prob = np.asarray(y_true, np.int64), np.asarray(prob, np.float64)
    if len(y_true) == 0 or n <= 0:
        return {}
    groups = study_groups(studies)
    picks = draw_studies(len(groups), n, np.random.default_rng(seed))
    values = {name: [] for name in HEADLINE}
    for a, b in _chunks(n):
        w = image_weights(groups, picks[a:b], len(y_true))
        for name, v in weighted_metrics(w, y_true, prob, n_classes).items():
            values[name] += v.tolist()
    return {name: _percentile_ci(v) for name, v in values.items()}


def paired_bootstrap(y_true, prob, prob_base, studies, n_classes: int, name: str = "macro_f1",
                     n: int = RESAMPLES, seed: int = 0) -> dict | None:
    """metric(prob) - metric(prob_base) on the SAME images (one row each, aligned), with a study-level
    bootstrap: each replicate resamples the studies once and scores both on that resample.

    Returns {"metric", "diff" (on all images), "ci" (95 % percentile), "p", "n_images", "n_studies"};
    None without images. p is the two-sided bootstrap p-value 2 * min(share of replicate differences
    <= 0, share >= 0), clipped to [0, 1]: identical predictions give p = 1."""
    y_true = np.asarray(y_true, np.int64)
    prob, prob_base = np.asarray(prob, np.float64), np.asarray(prob_base, np.float64)
    if len(y_true) == 0:
        return None
    a = headline(y_true, prob, n_classes, (name,))[name]
    b = headline(y_true, prob_base, n_classes, (name,))[name]
    groups = study_groups(studies)
    picks = draw_studies(len(groups), n, np.random.default_rng(seed))
    diffs = []
    for lo, hi in _chunks(n):
        w = image_weights(groups, picks[lo:hi], len(y_true))
        x = weighted_metrics(w, y_true, prob, n_classes, (name,))[name]
        y = weighted_metrics(w, y_true, prob_base, n_classes, (name,))[name]
        diffs += (x - y).tolist()
    d = np.asarray(diffs, np.float64)
    d = d[np.isfinite(d)]
    p = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))) if len(d) else None
    return {"metric": name, "diff": None if a is None or b is None else float(a - b), "ci": _percentile_ci(d),
            "p": None if p is None else float(p), "n_images": int(len(y_true)), "n_studies": len(groups)}


# --- calibration ----------------------------------------------------------------------------------
def calibration(y_true, prob, bins: int = ECE_BINS) -> dict:
    """Expected calibration error of the top-class confidence, and the reliability diagram's bins.

    The confidence of an image is its largest class probability, correct when that class is the true
    one. `bins` equal-width bins split [0, 1]; bin k holds confidences in (k/bins, (k+1)/bins], the
    first also 0. ECE = sum over bins of (images in bin / images) * |accuracy - mean confidence|.
    Bins: {"lo", "hi", "count", "confidence", "accuracy"} (the last two None when empty)."""
    y_true, prob = np.asarray(y_true, np.int64), np.asarray(prob, np.float64)
    conf = prob.max(1) if len(prob) else np.zeros(0)
    correct = (prob.argmax(1) == y_true) if len(prob) else np.zeros(0, bool)
    which = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    out, ece = [], 0.0
    for k in range(bins):
        inside = which == k
        count = int(inside.sum())
        c = float(conf[inside].mean()) if count else None
        a = float(correct[inside].mean()) if count else None
        if count:
            ece += count / len(y_true) * abs(a - c)
        out.append({"lo": k / bins, "hi": (k + 1) / bins, "count": count, "confidence": c, "accuracy": a})
    return {"ece": float(ece) if len(y_true) else None, "bins": out}


# --- binary operating point --------------------------------------------------------------------------
def sensitivity_at_specificity(y_true, prob, specificity: float = SPECIFICITY) -> dict | None:
    """Two classes, positive = class 1 (the abnormal class): the best sensitivity among the ROC's
    thresholds whose specificity is at least `specificity`, with that threshold (no interpolation:
    every figure is one a threshold on p(class 1) achieves). None where a class is absent."""
    y_true, prob = np.asarray(y_true, np.int64), np.asarray(prob, np.float64)
    positive = y_true == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if prob.ndim != 2 or prob.shape[1] != 2 or not n_pos or not n_neg:
        return None
    scores = prob[:, 1]
    order = np.argsort(-scores, kind="mergesort")
    s, pos = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]   # every distinct threshold, ties together
    tpr = np.cumsum(pos)[last] / n_pos
    spec = 1 - np.cumsum(~pos)[last] / n_neg
    ok = spec >= specificity - 1e-12
    if not ok.any():   # even the strictest threshold passes a negative: call nothing positive
        return {"sensitivity": 0.0, "specificity": 1.0, "threshold": None}
    best = np.flatnonzero(ok)[np.argmax(tpr[ok])]
    return {"sensitivity": float(tpr[best]), "specificity": float(spec[best]), "threshold": float(s[last][best])}


# --- seeds ---------------------------------------------------------------------------------------
def mean_sd(values) -> dict:
    """{"mean", "sd" (sample sd, ddof=1; None for fewer than two), "n"} of the non-None values."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    return {"mean": float(v.mean()) if len(v) else None, "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
            "n": int(len(v))}


# --- leakage gaps ------------------------------------------------------------------------------------
def leakage_gaps(folds: dict, n_classes: int, n: int = RESAMPLES, seed: int = 0) -> dict | None:
    """The three accuracy gaps of GAPS, each {"value", "ci"}, and the four fold accuracies ("folds").

    `folds` maps paper_val, paper_test, safe_val, safe_test to (y_true, prob, studies). The folds are
    different images, so each replicate resamples each fold's studies independently; a gap's interval
    is the 95 % percentile interval of its replicate differences. None when a fold is missing or empty."""
    if any(f not in folds or folds[f] is None or len(folds[f][0]) == 0 for f in ("paper_val", "paper_test",
                                                                                  "safe_val", "safe_test")):
        return None
    data = {f: (np.asarray(t, np.int64), np.asarray(p, np.float64), study_groups(s)) for f, (t, p, s) in folds.items()
            if f in ("paper_val", "paper_test", "safe_val", "safe_test")}

    point = {f: float(np.mean(p.argmax(1) == t)) for f, (t, p, _) in data.items()}
    rng = np.random.default_rng(seed)
    reps = {}
    for f, (t, p, g) in sorted(data.items()):   # each fold its own draws, in name order from one stream
        w = image_weights(g, draw_studies(len(g), n, rng), len(t))
        reps[f] = (w @ (p.argmax(1) == t).astype(np.float64)) / w.sum(1)
    reps = {name: reps[a] - reps[b] for name, a, b in GAPS}
    out = {name: {"value": point[a] - point[b], "ci": _percentile_ci(reps[name])} for name, a, b in GAPS}
    out["folds"] = point
    return out
