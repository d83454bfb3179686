"""An experiment's run folder, read: the one reader of the "spinegui-experiment-1" format that
`spinegui experiment` writes (results.json, results.csv, manifest.csv, compute.json, predictions/,
config.toml, status.json).

No Qt and no torch (numpy only): the Results tab, the command line and the report read results the
same way. Everything the tab shows is computed here; the tab only draws it.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinegui.core.errors import InputError
from spinegui.core.limits import read_toml
from spinegui.core.results.metrics import binary_auroc, roc_curve, row_normalise

FORMAT = "spinegui-experiment-1"   # results.json's "format"; the writer (train/experiment.py) imports it
FOLDS = ("val", "test")            # the held-out folds: predictions exist for these only
FOLD_NAMES = {"val": "validation", "test": "test"}
# Compute ledger stages and their names, in the order a strategy pays for them (tab, report, figures).
PHASES = {"gan_train": "GAN training", "generate": "GAN sampling", "augment": "geometric copies",
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
    compute: dict                              # compute.json (the live ledger), else results.json's copy
    doc: dict = field(default_factory=dict)    # results.json as written
    config: dict = field(default_factory=dict)  # config.toml ({} when absent or unreadable)
    status: dict = field(default_factory=dict)  # status.json ({} when absent or unreadable)
    predictions: dict[tuple[str, str], Predictions] = field(default_factory=dict)  # (key, fold)
    origins: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)  # (protocol, strategy, fold)
    problems: list[str] = field(default_factory=list)  # files that could not be read (said, not fatal)
    studies: dict[str, str] = field(default_factory=dict)  # item_id -> study_id (manifest.csv)
    # The statistics (core/results/summary.py): results.json's when it has them, else computed on load.
    summary: list[dict] = field(default_factory=list)   # per protocol x strategy x model, over seeds
    leakage: list[dict] = field(default_factory=list)   # per strategy x model: the three gaps with CIs
    stats: dict = field(default_factory=dict)           # how they were computed (unit, resamples, bins)

    def run_for(self, protocol: str, strategy: str, model: str, seed: int | None = None) -> dict | None:
        """The run of that protocol x strategy x model: of `seed` when given, else the first (seed 0's
        when several seeds ran, since the writer lists seed 0 first)."""
        return next((r for r in self.runs.values() if (r.get("protocol"), r.get("strategy"), r.get("model"))
                     == (protocol, strategy, model) and (seed is None or int(r.get("seed") or 0) == seed)), None)

    def summary_for(self, protocol: str, strategy: str, model: str) -> dict | None:
        return next((e for e in self.summary if (e.get("protocol"), e.get("strategy"), e.get("model"))
                     == (protocol, strategy, model)), None)

    def leakage_for(self, strategy: str, model: str) -> dict | None:
        return next((e for e in self.leakage if (e.get("strategy"), e.get("model")) == (strategy, model)), None)


# --- reading ---------------------------------------------------------------------------------------
def read_results(folder: str | Path) -> dict:
    """results.json of an experiment folder, checked: an InputError naming the file when the folder or
    the file is missing, unreadable, not JSON, of another format, or without its lists."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise InputError(folder, "experiment folder not found")
    if not folder.is_dir():
        raise InputError(folder, "not a folder")
    path = folder / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "not found; is this an experiment folder (spinegui experiment --out), "
                               "or has no run finished yet?") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise InputError(path, f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(path, f"not experiment results (format {found!r}, expected {FORMAT!r})")
    runs = doc.get("runs", [])
    if not isinstance(doc.get("classes"), list) or not isinstance(runs, list):
        raise InputError(path, "malformed results: 'classes' and 'runs' must be lists")
    if not all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in runs):
        raise InputError(path, "malformed results: every run must be an object with a 'key'")
    return doc


def read_config(folder: str | Path) -> dict:
    """config.toml of a run folder; {} when absent or unreadable (it is a nicety for readers)."""
    try:
        return read_toml(Path(folder).expanduser() / "config.toml")
    except (OSError, InputError):
        return {}


def _optional_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def load_experiment(folder: str | Path, predictions: bool = True, recompute: bool = False,
                    statistics: bool = True, doc: dict | None = None) -> Experiment:
    """Read a run folder's results, config, status and compute ledger (and, by default, every
    predictions CSV and the val/test part of the manifest). A missing or foreign results.json is an
    InputError (read_results); a missing predictions file is not (the run may still be writing): it is
    listed in `problems`. Every other file is optional, so that an unfinished or partly copied run reads.

    The statistics (summary, leakage gaps, study-level CIs, calibration: core/results/summary.py) are
    results.json's when it has a "summary"; otherwise, or with `recompute`, they are computed from the
    predictions and the manifest (older folders), when the predictions are read. `statistics=False`
    reads neither (summarise's own reading). `doc`: the results document in memory instead of
    results.json (the writer, before it writes the file)."""
    folder = Path(folder).expanduser()
    doc = read_results(folder) if doc is None else doc
    compute = _optional_json(folder / "compute.json") or dict(doc.get("compute") or {})
    exp = Experiment(folder, list(doc["classes"]), list(doc.get("protocols") or []),
                     list(doc.get("strategies") or []), list(doc.get("models") or []),
                     {r["key"]: r for r in doc.get("runs", [])}, compute, doc, read_config(folder),
                     _optional_json(folder / "status.json"))
    if predictions:
        for key, run in exp.runs.items():
            for fold, rel in (run.get("predictions") or {}).items():
                try:
                    exp.predictions[(key, fold)] = read_predictions(folder / rel, exp.classes)
                except InputError as exc:
                    exp.problems.append(str(exc))
        if (folder / "manifest.csv").is_file():
            exp.origins = read_origins(folder / "manifest.csv")
            exp.studies = read_studies(folder / "manifest.csv")
    if not statistics:
        return exp
    if "summary" in doc and not recompute:
        exp.summary, exp.leakage = list(doc.get("summary") or []), list(doc.get("leakage") or [])
        exp.stats = dict(doc.get("stats") or {})
    elif predictions:
        from spinegui.core.results.summary import apply_summary, summarise  # summary reads this module

        apply_summary(exp, summarise(exp))
    return exp


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


def read_studies(path: str | Path) -> dict[str, str]:
    """item_id -> study_id of every manifest row that names a study ({} when unreadable): the unit of
    the study-level bootstrap. A synthetic image carries its source's study."""
    out: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r.get("study_id"):
                    out.setdefault(r["item_id"], r["study_id"])
    except (OSError, KeyError, csv.Error):
        return {}
    return out


@dataclass
class ManifestSummary:
    counts: dict            # (protocol, strategy) -> Counter((fold, origin) -> images)
    synthetic_held_out: dict   # strategy -> synthetic or augmented images in val/test under safe
    shared_studies: dict       # strategy -> val/test images under safe sharing a study with training

    @property
    def safe_ran(self) -> bool:
        return any(p == "safe" for p, _ in self.counts)

    @property
    def safe_ok(self) -> bool:
        return not any(self.synthetic_held_out.values())


def manifest_summary(path: str | Path) -> ManifestSummary | None:
    """Counts by fold x origin per protocol x strategy, and the safe protocol's leakage checks; None
    when the manifest is absent or unreadable."""
    counts: dict = {}
    studies: dict = {}      # strategy -> {"train": set, "held": [study ids]}
    synthetic: Counter = Counter()
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                key = (r["protocol"], r["strategy"])
                counts.setdefault(key, Counter())[(r["fold"], r["origin"])] += 1
                if r["protocol"] != "safe":
                    continue
                seen = studies.setdefault(r["strategy"], {"train": set(), "held": []})
                synthetic[r["strategy"]] += 0
                if r["fold"] in FOLDS:
                    synthetic[r["strategy"]] += r["origin"] != "real"
                    seen["held"].append(r["study_id"])
                elif r["study_id"]:
                    seen["train"].add(r["study_id"])
    except (OSError, KeyError, ValueError, csv.Error):
        return None
    shared = {s: sum(1 for st in v["held"] if st and st in v["train"]) for s, v in studies.items()}
    return ManifestSummary(counts, dict(synthetic), shared)


# --- one run ---------------------------------------------------------------------------------------
def metric(run: dict | None, fold: str, name: str) -> float | None:
    value = (run or {}).get(fold, {}).get(name)
    return None if value is None else float(value)


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


def roc_one_vs_rest(p: Predictions, classes: list[str]) -> dict[str, RocCurve | None]:
    """Per class, its scores against all others; None where a class has no positive or no negative."""
    out: dict[str, RocCurve | None] = {}
    for c, name in enumerate(classes):
        positive = p.true == c
        if not 0 < positive.sum() < len(positive):
            out[name] = None
            continue
        fpr, tpr, thr = roc_curve(positive, p.prob[:, c])
        out[name] = RocCurve(fpr, tpr, thr, binary_auroc(positive, p.prob[:, c]))
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
    leakage-safe protocol's test accuracy, for one strategy x model; None unless both runs exist.
    "gaps" holds the three leakage gaps with their study-bootstrap CIs (stats.GAPS; None when not
    computed): paper_val - safe_val, paper_val - paper_test, safe_val - safe_test."""
    paper, safe = exp.run_for("paper", strategy, model), exp.run_for("safe", strategy, model)
    if paper is None or safe is None:
        return None
    found = exp.leakage_for(strategy, model)
    return {"gaps": None if found is None else {k: found.get(k) for k in ("paper_val_minus_safe_val",
                                                                        "paper_val_minus_paper_test",
                                                                        "safe_val_minus_safe_test")},
            "paper_val": metric(paper, "val", "accuracy"), "paper_test": metric(paper, "test", "accuracy"),
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
            if strategy not in (rec.get("strategies") or [rec.get("strategy")]):
                continue
            row[rec["stage"]] += float(rec.get("wall_s") or 0.0)
            if rec["stage"] in ("generate", "augment"):
                row["synthetic_images"] += int(rec.get("images") or 0)
            row["shared_gan"] |= rec["stage"] == "gan_train" and len(rec.get("strategies", [])) > 1
        row["total"] = sum(row[p] for p in PHASES)
        if row["total"] or any(exp.run_for(protocol, strategy, m) for m in exp.models):
            out.append(row)
    return out
