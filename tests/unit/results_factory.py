"""A small experiment folder as `spinegui experiment` writes it ("spinegui-experiment-1"), built
without training: every confusion cell is made from images the factory names, so a test knows exactly
which images each cell holds and with what confidence."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

CLASSES = ["No finding", "Disc space narrowing", "Vertebral collapse"]
KNOWN = {  # (key, fold) -> counts (rows true, columns predicted); other runs get random matrices
    ("safe-none-resnet18", "test"): [[5, 2, 0], [3, 4, 1], [0, 1, 2]],
    ("safe-none-resnet18", "val"): [[4, 1, 0], [1, 2, 0], [0, 0, 0]],  # no Vertebral collapse in val
    ("paper-gan-resnet18", "test"): [[6, 1, 0], [1, 5, 0], [1, 0, 2]],
}
STAGES = [  # the compute ledger's stages (seconds) for protocol "safe"; the GANs serve gan and hybrid
    {"stage": "cache", "images": 50, "wall_s": 5.0},
    {"stage": "gan_train", "protocol": "safe", "strategies": ["gan", "hybrid"], "gan_class": "Disc space narrowing",
     "images": 100, "wall_s": 40.0},
    {"stage": "gan_train", "protocol": "safe", "strategies": ["gan", "hybrid"], "gan_class": "Vertebral collapse",
     "images": 100, "wall_s": 20.0},
    {"stage": "generate", "protocol": "safe", "strategy": "gan", "size": 64, "images": 30, "wall_s": 2.0},
    {"stage": "generate", "protocol": "safe", "strategy": "hybrid", "size": 64, "images": 15, "wall_s": 1.0},
    {"stage": "augment", "protocol": "safe", "strategy": "hybrid", "size": 64, "images": 15, "wall_s": 0.5},
    *({"stage": s, "protocol": "safe", "strategy": st, "model": "resnet18", "images": 10, "wall_s": w}
      for st, s, w in (("none", "train", 10.0), ("none", "eval", 1.0), ("gan", "train", 12.0), ("gan", "eval", 1.5),
                       ("hybrid", "train", 11.0), ("hybrid", "eval", 1.0))),
    {"stage": "train", "protocol": "paper", "strategy": "none", "model": "resnet18", "images": 10, "wall_s": 99.0},
]


def _counts_metrics(cm: np.ndarray) -> dict:
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros(len(tp)), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(len(tp)), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(tp)), where=precision + recall > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def make_experiment(folder: Path, ids: list[str] | None = None, protocols=("safe", "paper"),
                    strategies=("none", "gan"), models=("resnet18",), seed: int = 0) -> dict:
    """Write the folder; returns {"cells": {(key, fold): {(true, pred): [(item_id, confidence)...]}},
    "rows": {(key, fold): [csv rows]}, "doc": results.json}. `ids` (when given) name each fold's images,
    from the first again in the next fold (and again within a fold when there are too few)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predictions").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    counter = iter(range(10**6))
    cells, rows_out, runs, manifest = {}, {}, [], []
    k = len(CLASSES)
    for p in protocols:
        for s in strategies:
            for m in models:
                key = f"{p}-{s}-{m}"
                run = {"key": key, "protocol": p, "strategy": s, "model": m, "size": 64,
                       "counts": {"train_images": 40, "train_synthetic": 10 if s != "none" else 0},
                       "epochs_run": 3, "best_epoch": 2, "stopped_early": False,
                       "predictions": {}, "ci": {}, "compute": {}}
                for fold in ("val", "test"):
                    cm = np.array(KNOWN.get((key, fold), rng.integers(0, 4, (k, k)) + np.eye(k, dtype=int) * 3))
                    rows, per_cell, n = [], {}, 0
                    for t in range(k):
                        for q in range(k):
                            for j in range(int(cm[t, q])):
                                item = ids[n % len(ids)] if ids else f"img{next(counter):04d}"  # ids: reused per fold
                                n += 1
                                conf = round(0.45 + 0.5 * (j + 1) / (cm[t, q] + 1), 6)
                                prob = np.full(k, (1 - conf) / (k - 1))
                                prob[q] = conf
                                rows.append({"item_id": item, "true": CLASSES[t], "pred": CLASSES[q],
                                             **{f"p_{c}": round(float(v), 6) for c, v in zip(CLASSES, prob)}})
                                per_cell.setdefault((t, q), []).append((item, conf))
                                synthetic = p == "paper" and fold == "val" and s != "none" and j == 0
                                manifest.append([p, s, fold, item, CLASSES[t], "gan" if synthetic else "real",
                                                 item, f"study-{item}"])
                    rel = f"predictions/{key}-{fold}.csv"
                    with open(folder / rel, "w", newline="") as fh:
                        w = csv.DictWriter(fh, ["item_id", "true", "pred", *(f"p_{c}" for c in CLASSES)])
                        w.writeheader()
                        w.writerows(rows)
                    cells[(key, fold)], rows_out[(key, fold)] = per_cell, rows
                    mt = _counts_metrics(cm)
                    run["predictions"][fold] = rel
                    run["counts"][f"{fold}_images"] = int(cm.sum())
                    run["counts"][f"{fold}_synthetic"] = sum(1 for r in manifest if r[0] == p and r[1] == s
                                                             and r[2] == fold and r[5] != "real")
                    run[fold] = {
                        "n": int(cm.sum()), "accuracy": float(np.trace(cm) / cm.sum()),
                        "balanced_accuracy": float(mt["recall"][mt["support"] > 0].mean()),
                        "macro_f1": float(mt["f1"].mean()), "auroc": 0.7,
                        "per_class": {c: {"precision": float(mt["precision"][i]), "recall": float(mt["recall"][i]),
                                          "f1": float(mt["f1"][i]), "support": int(mt["support"][i]),
                                          "auroc": 0.7} for i, c in enumerate(CLASSES)},
                        "confusion": cm.tolist()}
                    run["ci"][fold] = {"accuracy": [0.5, 0.9], "balanced_accuracy": [0.4, 0.8],
                                       "macro_f1": [0.3, 0.7], "auroc": [0.6, 0.8]}
                run["history"] = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + 0.1 * e,
                                   "val_accuracy": 0.4 + 0.1 * e, "val_macro_f1": 0.3 + 0.1 * e} for e in (1, 2, 3)]
                runs.append(run)
    doc = {"format": "spinegui-experiment-1", "classes": CLASSES, "case": "1", "protocols": list(protocols),
           "strategies": list(strategies), "models": list(models), "plan": [], "runs": runs,
           "compute": {"wall_s": 100.0, "device": "cpu", "peak_rss_bytes": 2**30, "stages": STAGES}}
    (folder / "results.json").write_text(json.dumps(doc, indent=1))
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protocol", "strategy", "fold", "item_id", "class", "origin", "source_image_id", "study_id"])
        w.writerows(manifest)
    (folder / "config.toml").write_text('kind = "experiment"\nseed = 0\n')
    (folder / "status.json").write_text(json.dumps({"state": "done", "kind": "experiment", "started": None,
                                                    "ended": None, "message": None, "pid": None}))
    return {"cells": cells, "rows": rows_out, "doc": doc}
