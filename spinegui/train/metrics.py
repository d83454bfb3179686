"""Classification metrics from true labels and predicted probabilities, with bootstrap 95 % CIs.

Counts-based metrics come from the confusion matrix (numpy): accuracy, balanced accuracy (mean
recall over the classes present), per-class precision/recall/F1 (0 where undefined, as
scikit-learn's zero_division=0) and macro-F1 over all classes. AUROC is one-vs-rest per class
(torchmetrics when installed, else an exact rank formula); its macro value averages the classes
that have positives and negatives; with two classes it is the binary AUROC.
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


def _auroc_numpy(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney U with mid-ranks for ties: exactly the area under the ROC curve."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), np.float64)
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty_like(ranks)
    r[order] = ranks
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((r[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _binary_auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    try:
        import torch
        from torchmetrics.functional.classification import binary_auroc
    except ImportError:
        return _auroc_numpy(scores, positive)
    return float(binary_auroc(torch.as_tensor(scores, dtype=torch.float64),
                              torch.as_tensor(positive.astype(np.int64)), validate_args=False))


def auroc(y_true, prob) -> tuple[float | None, list[float | None]]:
    """(macro one-vs-rest AUROC, per class); None where a class has no positive or no negative."""
    y_true, prob = np.asarray(y_true), np.asarray(prob, np.float64)
    per = []
    for c in range(prob.shape[1]):
        positive = y_true == c
        per.append(_binary_auroc(prob[:, c], positive) if 0 < positive.sum() < len(y_true) else None)
    if prob.shape[1] == 2:
        return per[1], per
    valid = [a for a in per if a is not None]
    return (float(np.mean(valid)) if valid else None), per


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
        "confusion_normalised": np.round(_safe_div(cm, cm.sum(1, keepdims=True)), 4).tolist(),
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
