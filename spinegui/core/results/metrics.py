"""Classification metrics from true labels and predicted probabilities, with bootstrap 95 % CIs.
The one implementation of ROC and AUROC: the experiment (train/), the Results tab and the report.

Numpy only (core/ imports no torch). Counts-based metrics come from the confusion matrix: accuracy,
balanced accuracy (mean recall over the classes present), per-class precision/recall/F1 (0 where
undefined, as scikit-learn's zero_division=0) and macro-F1 over all classes. AUROC is one-vs-rest per
class, the area under `roc_curve`; its macro value averages the classes that have positives and
negatives; with two classes it is the binary AUROC.

Argument order is scikit-learn's throughout: truth first, scores second.
"""

from __future__ import annotations

import numpy as np

BOOTSTRAP = 200
CI_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")


def confusion(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts: rows are the true class, columns the predicted one."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return m


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(np.shape(a), np.float64), where=np.asarray(b) > 0)


def row_normalise(counts) -> np.ndarray:
    """Each row divided by its sum (the share of each prediction given the true class); empty rows stay 0."""
    m = np.asarray(counts, np.float64)
    return _safe_div(m, m.sum(1, keepdims=True))


def _counts_metrics(cm: np.ndarray) -> dict:
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(1), cm.sum(0)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = support > 0
    return {"accuracy": float(tp.sum() / max(cm.sum(), 1)),
            "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
            "macro_f1": float(f1.mean()), "precision": precision, "recall": recall, "f1": f1,
            "support": support}


# --- ROC ------------------------------------------------------------------------------------------
def roc_curve(positive, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at each distinct score, as scikit-learn's roc_curve (collinear
    points dropped, a first point at threshold +inf). NaN rates where a class is one-sided."""
    positive = np.asarray(positive, bool)
    scores = np.asarray(scores, np.float64)
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, positive = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the last index of each distinct score
    tps = np.cumsum(positive)[last].astype(np.float64)
    fps = 1 + last - tps
    thresholds = scores[last]
    if len(fps) > 2:  # keep corners only: a straight run of points draws the same curve
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps, thresholds = np.r_[0.0, fps], np.r_[0.0, tps], np.r_[np.inf, thresholds]
    with np.errstate(invalid="ignore", divide="ignore"):
        return fps / fps[-1], tps / tps[-1], thresholds


def binary_auroc(positive, scores) -> float | None:
    """The area under `roc_curve` (ties count half, as Mann-Whitney U); None when there is no positive
    or no negative (ROC undefined)."""
    positive = np.asarray(positive, bool)
    if not 0 < positive.sum() < len(positive):
        return None
    fpr, tpr, _ = roc_curve(positive, scores)
    return float(np.trapezoid(tpr, fpr))


def auroc(y_true, prob) -> tuple[float | None, list[float | None]]:
    """(macro one-vs-rest AUROC, per class); None where a class has no positive or no negative."""
    y_true, prob = np.asarray(y_true), np.asarray(prob, np.float64)
    per = [binary_auroc(y_true == c, prob[:, c]) for c in range(prob.shape[1])]
    if prob.shape[1] == 2:
        return per[1], per
    valid = [a for a in per if a is not None]
    return (float(np.mean(valid)) if valid else None), per


# --- one split, and its intervals ---------------------------------------------------------------------
def scores(y_true, prob, classes: list[str]) -> dict:
    """Every metric of one split, JSON-ready (confusion matrices as counts and row-normalised)."""
    y_true, prob = np.asarray(y_true, np.int64), np.asarray(prob, np.float64)
    k = len(classes)
    y_pred = prob.argmax(1) if len(prob) else np.zeros(0, np.int64)
    cm = confusion(y_true, y_pred, k)
    m = _counts_metrics(cm)
    macro_auc, per_auc = auroc(y_true, prob) if len(y_true) else (None, [None] * k)
    return {
        "n": int(len(y_true)), "accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
        "macro_f1": m["macro_f1"], "auroc": macro_auc,
        "per_class": {name: {"precision": float(m["precision"][i]), "recall": float(m["recall"][i]),
                             "f1": float(m["f1"][i]), "support": int(m["support"][i]), "auroc": per_auc[i]}
                      for i, name in enumerate(classes)},
        "confusion": cm.tolist(),
        "confusion_normalised": np.round(row_normalise(cm), 4).tolist(),
    }


def bootstrap(y_true, prob, n_classes: int, n: int = BOOTSTRAP, seed: int = 0) -> dict:
    """95 % percentile intervals of the headline metrics over `n` resamples of the images."""
    y_true, prob = np.asarray(y_true, np.int64), np.asarray(prob, np.float64)
    if len(y_true) == 0 or n <= 0:
        return {}
    rng = np.random.default_rng(seed)
    y_pred = prob.argmax(1)
    values = {name: [] for name in CI_METRICS}
    for _ in range(n):
        idx = rng.integers(0, len(y_true), len(y_true))
        m = _counts_metrics(confusion(y_true[idx], y_pred[idx], n_classes))
        for name in CI_METRICS[:3]:
            values[name].append(m[name])
        a, _ = auroc(y_true[idx], prob[idx])
        if a is not None:
            values["auroc"].append(a)
    return {name: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else None
            for name, v in values.items()}
