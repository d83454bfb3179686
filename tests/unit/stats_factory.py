"""An experiment folder with several seeds, two classes and study ids, written by hand (no training),
for the statistics (core/results/summary.py): gan is right on every test image, none wrong on every
second one; 40 test images, two per study, shared by both protocols."""

from __future__ import annotations

import csv
import json

import numpy as np

from spinegui.core.results.experiment_folder import FORMAT
from spinegui.core.results.metrics import scores

CLASSES = ["No finding", "Abnormal"]


def _images(prefix: str, n: int):
    ids = [f"{prefix}{i}" for i in range(n)]
    return ids, np.array([(i // 2) % 2 for i in range(n)]), [f"{prefix}-study{i // 2}" for i in range(n)]


def _prob(true, wrong_every: int, shift: int):
    """Right except on every `wrong_every`-th image (from `shift`); confidences vary so ROCs have corners."""
    p1 = np.where(true == 1, 0.6, 0.4) + 0.3 * np.sin(np.arange(len(true)) + shift) ** 2 * (2 * true - 1)
    if wrong_every:
        flip = (np.arange(len(true)) + shift) % wrong_every == 0
        p1 = np.where(flip, 1 - p1, p1)
    return np.c_[1 - p1, p1]


def write_folder(folder, seeds=(0, 1), gate=None, gans=None):
    """safe and paper x none and gan x model m x seeds: gan right everywhere, none wrong on every
    second image; the test images are the same for both protocols (40 images, 2 per study)."""
    (folder / "predictions").mkdir(parents=True)
    test = _images("t", 40)
    folds = {("safe", "val"): _images("sv", 30), ("paper", "val"): _images("pv", 30), ("safe", "test"): test,
             ("paper", "test"): test}
    runs, manifest = [], []
    for protocol in ("safe", "paper"):
        for strategy in ("none", "gan"):
            for seed in seeds:
                key = f"{protocol}-{strategy}-m" + (f"-s{seed}" if seed else "")
                run = {"key": key, "protocol": protocol, "strategy": strategy, "model": "m", "seed": seed,
                       "predictions": {}, "ci": {}}
                if gate and (protocol, strategy) == gate:
                    run["gate"] = "fail"
                for fold in ("val", "test"):
                    ids, true, studies = folds[(protocol, fold)]
                    wrong = {"none": 2, "gan": 0}[strategy] if fold == "test" else {"paper": 10, "safe": 4}[protocol]
                    prob = _prob(true, wrong, seed)
                    rel = f"predictions/{key}-{fold}.csv"
                    with open(folder / rel, "w", newline="") as fh:
                        w = csv.writer(fh)
                        w.writerow(["item_id", "true", "pred", *(f"p_{c}" for c in CLASSES)])
                        w.writerows([i, CLASSES[t], CLASSES[int(p.argmax())], *p] for i, t, p in zip(ids, true, prob))
                    run["predictions"][fold] = rel
                    run[fold] = scores(true, prob, CLASSES)
                    run["ci"][fold] = {"accuracy": [0.1, 0.2]}    # image-level, to be replaced
                    if seed == seeds[0]:
                        manifest += [[protocol, strategy, fold, i, CLASSES[t], "real", i, s]
                                     for i, t, s in zip(ids, true, studies)]
                runs.append(run)
    doc = {"format": FORMAT, "classes": CLASSES, "protocols": ["safe", "paper"], "strategies": ["none", "gan"],
           "models": ["m"], "runs": runs, **({"gans": gans} if gans else {})}
    (folder / "results.json").write_text(json.dumps(doc))
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protocol", "strategy", "fold", "item_id", "class", "origin", "source_image_id", "study_id"])
        w.writerows(manifest)
    return doc
