"""Reading an experiment folder for the report: results.json (required), and what else is there
(config.toml, status.json, compute.json, manifest.csv, predictions/*.csv), each optional, so that a
report can be drawn of an unfinished or partly copied run.
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

FORMAT = "spinegui-experiment-1"
# Compute stages per phase, in the order a strategy pays for them.
PHASES = (("gan_train", "GAN training"), ("generate", "GAN sampling"), ("augment", "geometric copies"),
          ("train", "classifier training"), ("eval", "evaluation"))
HELD_OUT = ("val", "test")


@dataclass
class RunData:
    dir: Path
    doc: dict
    config: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    compute: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.doc.get("classes") or [])

    @property
    def runs(self) -> list[dict]:
        return list(self.doc.get("runs") or [])


def _optional_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def load_run(run_dir: str | Path) -> RunData:
    """The run's files; an InputError naming the file when results.json is missing or unusable."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise InputError(run_dir, "experiment folder not found")
    path = run_dir / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "not found; is this an experiment folder (spinegui experiment --out)?") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise InputError(path, f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(path, f"not experiment results (format {found!r}, expected {FORMAT!r})")
    if not isinstance(doc.get("classes"), list) or not isinstance(doc.get("runs", []), list):
        raise InputError(path, "malformed results: 'classes' and 'runs' must be lists")
    try:
        config = read_toml(run_dir / "config.toml")
    except (OSError, InputError):
        config = {}
    compute = _optional_json(run_dir / "compute.json") or dict(doc.get("compute") or {})
    return RunData(run_dir, doc, config, _optional_json(run_dir / "status.json"), compute)


# --- predictions and ROC ----------------------------------------------------------------------------
def read_predictions(path: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """(true labels, probabilities N x K) from a predictions CSV; None when absent or unreadable."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        index = {c: k for k, c in enumerate(classes)}
        labels = np.array([index[r["true"]] for r in rows], np.int64)
        prob = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows], np.float64).reshape(-1, len(classes))
    except (OSError, KeyError, ValueError):
        return None
    return labels, prob


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(false-positive rates, true-positive rates, area) over the distinct thresholds; the area is
    None when there is no positive or no negative (ROC undefined)."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return np.zeros(0), np.zeros(0), None
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    s, hit = np.asarray(scores, np.float64)[order], positive[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]   # one point per distinct threshold
    tps, fps = np.cumsum(hit)[last_of_tie], np.cumsum(~hit)[last_of_tie]
    tpr, fpr = np.r_[0.0, tps / n_pos], np.r_[0.0, fps / n_neg]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


# --- the fold manifest --------------------------------------------------------------------------------
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


def manifest_summary(path: Path) -> ManifestSummary | None:
    """Counts by fold x origin per protocol x strategy, and the safe protocol's leakage checks."""
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
                if r["fold"] in HELD_OUT:
                    synthetic[r["strategy"]] += r["origin"] != "real"
                    seen["held"].append(r["study_id"])
                elif r["study_id"]:
                    seen["train"].add(r["study_id"])
    except (OSError, KeyError, ValueError, csv.Error):
        return None
    shared = {s: sum(1 for st in v["held"] if st and st in v["train"]) for s, v in studies.items()}
    return ManifestSummary(counts, dict(synthetic), shared)


# --- compute --------------------------------------------------------------------------------------------
def phase_seconds(compute: dict) -> dict[str, dict[str, float]]:
    """'protocol-strategy' -> phase name -> wall seconds, from compute.json's stage records. A GAN
    trained once for several strategies (gan and hybrid) counts in full for each, as in the ledger."""
    out: dict[str, dict[str, float]] = {}
    names = dict(PHASES)
    for rec in compute.get("stages") or []:
        stage, protocol = rec.get("stage"), rec.get("protocol")
        if stage not in names or not protocol:
            continue
        for strategy in rec.get("strategies") or [rec.get("strategy")]:
            if strategy:
                phases = out.setdefault(f"{protocol}-{strategy}", {n: 0.0 for _, n in PHASES})
                phases[names[stage]] += float(rec.get("wall_s") or 0.0)
    return out
