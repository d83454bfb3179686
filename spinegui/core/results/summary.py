"""The experiment's statistics, computed from its folder alone (results.json's runs, predictions/ and
manifest.csv for each image's study): the keys `summarise` returns are the ones results.json carries.

    runs[i]      + "seed" (0 when the entry has none), "ci_unit" ("study", or "image" when the manifest
                   names no study), "ci" {fold: ...} recomputed by the study-level bootstrap,
                   "calibration" {fold: {"ece", "bins"}}, and for two classes fold["sens_at_90_spec"]
    summary      per protocol x strategy x model: "n_seeds", "seeds", "keys", "test_accuracy" and
                   "test_macro_f1" {"mean", "sd", "n"}, "vs_none" (macro-F1) and "vs_none_accuracy"
                   {"metric", "diff", "ci", "p", "n_images", "n_studies"} or None; a run whose GAN failed
                   its quality gate is {"excluded": "failed quality gate"} instead of figures
    leakage      per strategy x model (both protocols ran): the three gaps of stats.GAPS {"value", "ci"},
                   the four fold accuracies ("folds") and "n_seeds"
    stats        {"ci_unit", "resamples", "seed", "ece_bins", "specificity", "pooling"}

Several seeds: runs are grouped by their fields (protocol, strategy, model, seed), never by their keys.
Pooling for vs_none and leakage: the seeds' predictions are CONCATENATED (seed s of a strategy paired
with seed s of none) and resampled by study, so one study's images of every seed move together; the
difference is thus of the pooled metric, its interval covering both image and seed-to-seed spread
as far as the pooled images show it. Pairing uses the images both runs predicted (under the paper
protocol the test folds of two strategies differ; their common images are compared).

No Qt, no torch.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from spinegui.core.results import stats
from spinegui.core.results.experiment_folder import FOLDS, Experiment, Predictions, load_experiment

GAN_STRATEGIES = ("gan", "hybrid")   # the strategies a protocol's GANs serve (a gate failure excludes them)
EXCLUDED = "failed quality gate"
BASELINE = "none"


def _seed(run: dict) -> int:
    try:
        return int(run.get("seed") or 0)
    except (TypeError, ValueError):
        return 0


def _rng_seed(base: int, *parts) -> int:
    """A bootstrap seed per quantity: stable across runs and machines (not Python's salted hash)."""
    return (base * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % 2**32


def gate_failed(doc: dict, run: dict) -> bool:
    """The run's entry says its GAN failed the quality gate, or a top-level `gans` entry of its protocol
    (and seed, when the entry names one) does for a strategy the run has."""
    if run.get("gate") == "fail":
        return True
    for g in doc.get("gans") or []:
        if not isinstance(g, dict) or g.get("gate") != "fail" or g.get("protocol") != run.get("protocol"):
            continue
        if g.get("seed") is not None and _seed(g) != _seed(run):
            continue
        if run.get("strategy") in (g.get("strategies") or GAN_STRATEGIES):
            return True
    return False


def _studies(exp: Experiment, ids: list[str]) -> list[str]:
    return [exp.studies.get(i, "") for i in ids]


def _run_stats(exp: Experiment, run: dict, n: int, seed: int) -> dict:
    """A copy of the run entry with its seed, study-level CIs, calibration and (two classes)
    sensitivity at 90 % specificity."""
    out = {**run, "seed": _seed(run), "ci": dict(run.get("ci") or {}), "calibration": {}}
    unit = "image"
    for fold in FOLDS:
        p = exp.predictions.get((run["key"], fold))
        if p is None or not len(p):
            continue
        studies = _studies(exp, p.ids)
        unit = "study" if any(studies) or unit == "study" else unit
        out["ci"][fold] = stats.cluster_bootstrap(p.true, p.prob, studies, len(exp.classes), n,
                                                  _rng_seed(seed, run["key"], fold))
        out["calibration"][fold] = stats.calibration(p.true, p.prob)
        if len(exp.classes) == 2 and isinstance(run.get(fold), dict):
            op = stats.sensitivity_at_specificity(p.true, p.prob)
            out[fold] = {**run[fold], "sens_at_90_spec": None if op is None else op["sensitivity"]}
    out["ci_unit"] = unit
    return out


def _paired(exp: Experiment, runs: list[dict], base: dict[int, dict], n: int, seed: int) -> dict[str, dict | None]:
    """vs_none on the concatenated test predictions of every seed that has a baseline run."""
    t, pa, pb, st = [], [], [], []
    for run in runs:
        none = base.get(_seed(run))
        a = exp.predictions.get((run["key"], "test"))
        b = exp.predictions.get((none["key"], "test")) if none else None
        if a is None or b is None:
            continue
        where = {item: i for i, item in enumerate(b.ids)}
        common = [(i, where[item]) for i, item in enumerate(a.ids)   # the same image, with the same label
                  if item in where and a.true[i] == b.true[where[item]]]
        ia, ib = (np.asarray(x, np.int64) for x in zip(*common)) if common else ([], [])
        t.append(a.true[ia])
        pa.append(a.prob[ia])
        pb.append(b.prob[ib])
        st += _studies(exp, [a.ids[i] for i in ia])
    if not t:
        return {"vs_none": None, "vs_none_accuracy": None}
    y, prob, prob_base = np.concatenate(t), np.concatenate(pa), np.concatenate(pb)
    label = (runs[0]["protocol"], runs[0]["strategy"], runs[0]["model"])
    return {key: stats.paired_bootstrap(y, prob, prob_base, st, len(exp.classes), name, n,
                                        _rng_seed(seed, "paired", name, *label))
            for key, name in (("vs_none", "macro_f1"), ("vs_none_accuracy", "accuracy"))}


def _group_entry(exp: Experiment, label: tuple, runs: list[dict], groups: dict, n: int, seed: int) -> dict:
    protocol, strategy, model = label
    entry = {"protocol": protocol, "strategy": strategy, "model": model,
             "seeds": sorted(_seed(r) for r in runs), "keys": [r["key"] for r in runs], "n_seeds": len(runs)}
    if any(gate_failed(exp.doc, r) for r in runs):
        return {**entry, "excluded": EXCLUDED}
    for name in ("accuracy", "macro_f1"):
        entry[f"test_{name}"] = stats.mean_sd([(r.get("test") or {}).get(name) for r in runs])
    if strategy == BASELINE:
        return {**entry, "vs_none": None, "vs_none_accuracy": None}
    base = {_seed(r): r for r in groups.get((protocol, BASELINE, model), [])}
    return {**entry, **_paired(exp, runs, base, n, seed)}


def _pooled(exp: Experiment, runs: list[dict], fold: str) -> tuple | None:
    found = [exp.predictions.get((r["key"], fold)) for r in runs]
    found = [p for p in found if p is not None and len(p)]
    if not found:
        return None
    merged = Predictions([i for p in found for i in p.ids], np.concatenate([p.true for p in found]),
                         np.concatenate([p.pred for p in found]), np.concatenate([p.prob for p in found]))
    return merged.true, merged.prob, _studies(exp, merged.ids)


def _leakage(exp: Experiment, groups: dict, n: int, seed: int) -> list[dict]:
    out = []
    for (protocol, strategy, model), paper in groups.items():
        safe = groups.get(("safe", strategy, model))
        if protocol != "paper" or not safe or any(gate_failed(exp.doc, r) for r in paper + safe):
            continue
        folds = {f"{name}_{fold}": _pooled(exp, runs, fold) for name, runs in (("paper", paper), ("safe", safe))
                 for fold in FOLDS}
        gaps = stats.leakage_gaps(folds, len(exp.classes), n, _rng_seed(seed, "leakage", strategy, model))
        if gaps is not None:
            out.append({"strategy": strategy, "model": model, "n_seeds": min(len(paper), len(safe)), **gaps})
    return out


def summarise(source: str | Path | Experiment, n: int = stats.RESAMPLES, seed: int = 0,
              doc: dict | None = None) -> dict:
    """The statistics of an experiment folder (or an Experiment read with its predictions), as the keys
    results.json carries: {"runs", "summary", "leakage", "stats"} (see the module's docstring).
    `doc`: the results document in memory, when results.json is not (yet) written; the writer's hook is
    `results.update(summarise(run_dir, doc=results))` once predictions/ and manifest.csv are written."""
    exp = source if isinstance(source, Experiment) else load_experiment(source, statistics=False, doc=doc)
    runs = [_run_stats(exp, r, n, seed) for r in exp.runs.values()]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r.get("protocol"), r.get("strategy"), r.get("model")), []).append(r)
    summary = [_group_entry(exp, label, group, groups, n, seed) for label, group in groups.items()]
    unit = "study" if any(r["ci_unit"] == "study" for r in runs) else "image"
    return {"runs": runs, "summary": summary, "leakage": _leakage(exp, groups, n, seed),
            "stats": {"ci_unit": unit, "resamples": n, "seed": seed, "ece_bins": stats.ECE_BINS,
                      "specificity": stats.SPECIFICITY, "ci_level": 0.95,
                      "pooling": "seeds' predictions concatenated, resampled by study"}}


def apply_summary(exp: Experiment, computed: dict) -> None:
    """Put `summarise`'s result into an Experiment read without it (the reader of older folders)."""
    exp.runs = {r["key"]: r for r in computed["runs"]}
    exp.summary, exp.leakage, exp.stats = computed["summary"], computed["leakage"], computed["stats"]
