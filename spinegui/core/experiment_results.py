"""An experiment's run folder, read for people: results.json, the predictions CSVs, the fold manifest
and the compute ledger ("spinegui-experiment-1", written by `spinegui experiment`).

No Qt and no torch (numpy only): the Results panel, the command line and the report read results the
same way. Everything the panel shows is computed here; the panel only draws it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinegui.core.errors import InputError

FORMAT = "spinegui-experiment-1"
FOLDS = ("val", "test")
FOLD_NAMES = {"val": "validation", "test": "test"}
# Compute ledger stages, in the order a strategy pays for them.
PHASES = {"gan_train": "GAN training", "generate": "generation", "augment": "augmentation",
          "train": "classifier training", "eval": "evaluation"}
CI_LEVEL = "95% CI"


@dataclass
class Predictions:
    """One run's per-image predictions on one fold (rows of predictions/<key>-<fold>.csv)."""
    ids: list[str]
    true: np.ndarray   # class index per image
    pred: np.ndarray   # class index per image (the arg-max of prob)
    prob: np.ndarray   # images x classes

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class CellItem:
    item_id: str
    true: str
    pred: str
    confidence: float  # the probability of the predicted class
    origin: str        # real / geometric / gan ("" when the manifest does not say)


@dataclass
class RocCurve:
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


@dataclass
class Experiment:
    folder: Path
    classes: list[str]
    protocols: list[str]
    strategies: list[str]
    models: list[str]
    runs: dict[str, dict]                      # key (protocol-strategy-model) -> run, in file order
    compute: dict
    predictions: dict[tuple[str, str], Predictions] = field(default_factory=dict)  # (key, fold)
    origins: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)  # (protocol, strategy, fold)
    problems: list[str] = field(default_factory=list)  # files that could not be read (said, not fatal)

    def run_for(self, protocol: str, strategy: str, model: str) -> dict | None:
        return next((r for r in self.runs.values() if (r["protocol"], r["strategy"], r["model"])
                     == (protocol, strategy, model)), None)


# --- reading ---------------------------------------------------------------------------------------
def load_experiment(folder: str | Path, predictions: bool = True) -> Experiment:
    """Read a run folder's results (and, by default, every predictions CSV and the val/test part of the
    manifest). A missing or foreign results.json is an InputError; a missing predictions file is not
    (the run may still be writing): it is listed in `problems`."""
    folder = Path(folder)
    path = folder / "results.json"
    if not folder.is_dir():
        raise InputError(folder, "not a folder")
    if not path.is_file():
        raise InputError(folder, "no results.json here (not an experiment folder, or no run has finished yet)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(path, f"not a {FORMAT} results file")
    compute = doc.get("compute") or _read_json(folder / "compute.json") or {}
    exp = Experiment(folder, list(doc["classes"]), list(doc.get("protocols", [])), list(doc.get("strategies", [])),
                     list(doc.get("models", [])), {r["key"]: r for r in doc.get("runs", [])}, compute)
    if predictions:
        for key, run in exp.runs.items():
            for fold, rel in run.get("predictions", {}).items():
                try:
                    exp.predictions[(key, fold)] = read_predictions(folder / rel, exp.classes)
                except InputError as exc:
                    exp.problems.append(str(exc))
        if (folder / "manifest.csv").is_file():
            exp.origins = read_origins(folder / "manifest.csv")
    return exp


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_predictions(path: str | Path, classes: list[str]) -> Predictions:
    """item_id,true,pred,p_<class>... -> arrays; a class outside `classes` is an InputError."""
    path = Path(path)
    index = {c: i for i, c in enumerate(classes)}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"item_id", "true", "pred", *(f"p_{c}" for c in classes)} - set(reader.fieldnames or [])
            if missing:
                raise InputError(path, f"missing column(s) {', '.join(sorted(missing))}")
            rows = list(reader)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        true = np.array([index[r["true"]] for r in rows], np.int64)
        pred = np.array([index[r["pred"]] for r in rows], np.int64)
        prob = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows], np.float64).reshape(len(rows),
                                                                                                  len(classes))
    except KeyError as exc:
        raise InputError(path, f"class {exc} is not one of the experiment's classes") from None
    except ValueError as exc:
        raise InputError(path, f"bad probability: {exc}") from None
    return Predictions([r["item_id"] for r in rows], true, pred, prob)


def read_origins(path: str | Path) -> dict[tuple[str, str, str], dict[str, str]]:
    """Where each val/test item came from (real, geometric, gan), per protocol x strategy x fold. Train
    rows are skipped: predictions exist only for val and test."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r.get("fold") in FOLDS:
                    out.setdefault((r["protocol"], r["strategy"], r["fold"]), {})[r["item_id"]] = r.get("origin", "")
    except (OSError, KeyError):
        return {}  # origins are a nicety: without them the items simply show no origin
    return out


# --- one run ---------------------------------------------------------------------------------------
def metric(run: dict | None, fold: str, name: str) -> float | None:
    value = (run or {}).get(fold, {}).get(name)
    return None if value is None else float(value)


def row_normalise(counts) -> np.ndarray:
    """Each row divided by its sum (the share of each true class given each prediction); empty rows stay 0."""
    m = np.asarray(counts, np.float64)
    sums = m.sum(1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)


def confusion(run: dict, fold: str, normalised: bool = False) -> np.ndarray:
    """Rows true class, columns predicted class: counts, or row-normalised."""
    counts = np.asarray(run[fold]["confusion"], np.float64)
    return row_normalise(counts) if normalised else counts


def cell_items(exp: Experiment, key: str, fold: str, true: int, pred: int) -> list[CellItem]:
    """The images of one confusion cell, most confident first."""
    p = exp.predictions.get((key, fold))
    if p is None:
        return []
    run = exp.runs[key]
    origins = exp.origins.get((run["protocol"], run["strategy"], fold), {})
    rows = np.flatnonzero((p.true == true) & (p.pred == pred))
    items = [CellItem(p.ids[i], exp.classes[true], exp.classes[pred], float(p.prob[i, pred]),
                      origins.get(p.ids[i], "")) for i in rows]
    return sorted(items, key=lambda it: (-it.confidence, it.item_id))


def caption(item: CellItem) -> str:
    return f"predicted {item.pred} ({item.confidence:.2f}), true {item.true}"


@dataclass
class ResultImage:
    """An image opened from a run's results, with what explaining its prediction needs (Grad-CAM)."""
    item_id: str
    run_dir: Path
    key: str
    model: str
    checkpoint: Path | None  # the run's best classifier (results.json "checkpoint"); None where it names none
    true: str
    pred: str
    confidence: float


def result_image(exp: Experiment, key: str, item: CellItem) -> ResultImage:
    run = exp.runs.get(key) or {}
    rel = run.get("checkpoint")
    return ResultImage(item.item_id, exp.folder, key, str(run.get("model") or ""),
                       exp.folder / rel if isinstance(rel, str) and rel else None,
                       item.true, item.pred, item.confidence)


def roc_curve(positive, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at each distinct score, as scikit-learn's roc_curve (collinear
    points dropped, a first point at threshold +inf)."""
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


def roc_one_vs_rest(p: Predictions, classes: list[str]) -> dict[str, RocCurve | None]:
    """Per class, its scores against all others; None where a class has no positive or no negative."""
    out: dict[str, RocCurve | None] = {}
    for c, name in enumerate(classes):
        positive = p.true == c
        if not 0 < positive.sum() < len(positive):
            out[name] = None
            continue
        fpr, tpr, thr = roc_curve(positive, p.prob[:, c])
        out[name] = RocCurve(fpr, tpr, thr, float(np.trapezoid(tpr, fpr)))
    return out


def per_class_rows(run: dict, fold: str, classes: list[str]) -> list[dict]:
    """Precision, recall, F1, support, AUROC per class, then the macro row with the bootstrap 95% CIs
    results.json has (macro recall over present classes is the balanced accuracy)."""
    split = run[fold]
    rows = [{"name": c, **{k: split["per_class"][c].get(k) for k in ("precision", "recall", "f1", "support", "auroc")},
             "ci": {}} for c in classes]
    ci = run.get("ci", {}).get(fold) or {}
    rows.append({"name": "macro", "precision": float(np.mean([r["precision"] for r in rows])),
                 "recall": split.get("balanced_accuracy"), "f1": split.get("macro_f1"), "support": split.get("n"),
                 "auroc": split.get("auroc"),
                 "ci": {k: ci[m] for k, m in (("recall", "balanced_accuracy"), ("f1", "macro_f1"), ("auroc", "auroc"))
                        if ci.get(m)}})
    return rows


def history(run: dict) -> dict[str, np.ndarray]:
    """Per-epoch series: epoch, train_loss, val_accuracy, val_macro_f1 (NaN where an epoch lacks one)."""
    h = run.get("history") or []
    names = ("epoch", "train_loss", "train_accuracy", "val_accuracy", "val_macro_f1")
    return {n: np.array([np.nan if e.get(n) is None else float(e[n]) for e in h], np.float64) for n in names}


# --- across runs -----------------------------------------------------------------------------------
def metric_grid(exp: Experiment, protocol: str, fold: str, name: str) -> list[list[float | None]]:
    """Rows strategies, columns models: one metric (None where that run is missing)."""
    return [[metric(exp.run_for(protocol, s, m), fold, name) for m in exp.models] for s in exp.strategies]


def leakage_audit(exp: Experiment, strategy: str, model: str) -> dict | None:
    """The paper protocol's validation accuracy (synthetic images may sit in validation) beside the
    leakage-safe protocol's test accuracy, for one strategy x model; None unless both runs exist."""
    paper, safe = exp.run_for("paper", strategy, model), exp.run_for("safe", strategy, model)
    if paper is None or safe is None:
        return None
    return {"paper_val": metric(paper, "val", "accuracy"), "paper_test": metric(paper, "test", "accuracy"),
            "safe_val": metric(safe, "val", "accuracy"), "safe_test": metric(safe, "test", "accuracy"),
            "paper_val_synthetic": paper.get("counts", {}).get("val_synthetic", 0),
            "paper_val_images": paper.get("counts", {}).get("val_images", 0)}


def compute_phases(exp: Experiment, protocol: str) -> list[dict]:
    """Seconds per phase (PHASES) for each strategy of `protocol`, from the ledger's stages. A GAN is
    trained once per protocol for every strategy that uses it, so each such strategy carries its cost,
    as the ledger's own per-strategy totals do."""
    stages = exp.compute.get("stages", [])
    out = []
    for strategy in exp.strategies:
        row = {"strategy": strategy, **{p: 0.0 for p in PHASES}, "synthetic_images": 0, "shared_gan": False}
        for rec in stages:
            if rec.get("protocol") != protocol or rec.get("stage") not in PHASES:
                continue
            if strategy not in rec.get("strategies", [rec.get("strategy")]):
                continue
            row[rec["stage"]] += float(rec.get("wall_s") or 0.0)
            if rec["stage"] in ("generate", "augment"):
                row["synthetic_images"] += int(rec.get("images") or 0)
            row["shared_gan"] |= rec["stage"] == "gan_train" and len(rec.get("strategies", [])) > 1
        row["total"] = sum(row[p] for p in PHASES)
        if row["total"] or any(exp.run_for(protocol, strategy, m) for m in exp.models):
            out.append(row)
    return out
