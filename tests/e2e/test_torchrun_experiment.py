"""`spinegui experiment` under torchrun: two gloo ranks on the CPU train each classifier (and each GAN)
data-parallel and rank 0 alone writes the experiment. Its runs record world_size 2 (one process's
record 1), it holds the same files as one process's, and its predictions are what one process gets
from its model. One experiment of each kind, strategies none and gan (one torchrun start less)."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from spinegui.cli.entry import main
from spinegui.core.dataset.vindr import load_index

CLASSES = ["No finding", "Osteophytes"]
ARGS = ["--classes", ",".join(CLASSES), "--models", "resnet18", "--strategies", "none,gan", "--protocol", "safe",
        "--size", "32", "--epochs", "1", "--device", "cpu", "--threads", "1", "--workers", "1", "--bootstrap", "20",
        "--per-class", "6", "--gan-epochs", "1", "--gan-gate", "off", "--gan-width", "8"]
KEYS = ["safe-gan-resnet18", "safe-none-resnet18"]


def _two_class_root(demo_root, root):
    """The demo dataset (no test split, three one-image studies a class) with every study listed twice
    (a second study id and image id, the same DICOM linked) and one study of each class, both times, in
    the test split: a training fold of 3 + 3 images, so that each rank's step has 3."""
    index = load_index(demo_root)
    moved = {sorted({r.study_id for r in index.in_split("train") if name in r.labels})[-1] for name in CLASSES}
    for sub in ("annotations", "train_images", "test_images"):
        (root / sub).mkdir(parents=True)
    with open(demo_root / "annotations" / "train.csv", newline="") as fh:
        head, *rows = list(csv.reader(fh))
    out = {"train": [head], "test": [head]}
    for row, copy in [(r, c) for r in rows for c in ("", "b")]:
        split = "test" if row[0] in moved else "train"
        out[split].append([row[0] + copy, row[1] + copy, row[2] + copy, *row[3:]])
        target = root / f"{split}_images" / f"{row[2]}{copy}.dicom"
        if not target.exists():
            os.symlink(demo_root / "train_images" / f"{row[2]}.dicom", target)
    for split, body in out.items():
        with open(root / "annotations" / f"{split}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(body)
    return root


@pytest.fixture(scope="module")
def experiments(demo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("torchrun")
    root = _two_class_root(demo_root, tmp / "vindr")
    common = ["experiment", str(root), *ARGS, "--workspace", str(tmp / "ws")]
    single = tmp / "single"
    assert main([*common, "--out", str(single)]) == 0
    ddp = tmp / "ddp"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "spinegui", *common, "--out", str(ddp)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return single, ddp


def _runs(run):
    return json.loads((run / "results.json").read_text())["runs"], \
        [json.loads(p.read_text()) for p in sorted((run / "runs").glob("*.json"))]


def test_every_run_records_its_world_size(experiments):
    single, ddp = experiments
    for run, world in ((single, 1), (ddp, 2)):
        assert json.loads((run / "status.json").read_text())["state"] == "done"
        results, files = _runs(run)
        assert sorted(r["key"] for r in results) == [r["key"] for r in files] == KEYS
        assert [r["world_size"] for r in results + files] == [world] * 4


def test_rank_0_alone_wrote_the_same_files_one_process_writes(experiments):
    single, ddp = experiments

    def files(run, sub):
        return sorted(p.relative_to(run).as_posix() for p in (run / sub).rglob("*") if p.is_file())

    for sub in ("runs", "predictions", "checkpoints", "data", "gan"):
        assert files(ddp, sub) == files(single, sub)
    for name in ("plan.json", "manifest.csv", "results.csv", "compute.json", "report.html"):
        assert (ddp / name).is_file()
    events = [json.loads(line) for line in (ddp / "events.jsonl").read_text().splitlines()]
    assert sum(e["kind"] == "epoch" for e in events) == 2       # one rank reported each run's one epoch
    assert (ddp / "manifest.csv").read_text() == (single / "manifest.csv").read_text()
    for a, b in zip(_runs(ddp)[1], _runs(single)[1]):
        assert [h["images"] for h in a["history"]] == [h["images"] for h in b["history"]]   # each image once


def test_the_gans_trained_data_parallel_too(experiments):
    single, ddp = experiments
    for run, spread in ((ddp, [0.0, 0.0]), (single, [None, None])):
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
        assert [e.get("rank_weight_spread") for e in events if e["kind"] == "gan_epoch"] == spread   # one a class


def test_predictions_are_what_one_process_gets_from_the_best_checkpoint(experiments):
    from spinegui.train.classifier_train import ClassifierTrainer, FoldData

    _, ddp = experiments
    with open(ddp / "predictions" / "safe-none-resnet18-test.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(ddp / "manifest.csv", newline="") as fh:
        test = [r for r in csv.DictReader(fh) if r["fold"] == "test" and r["strategy"] == "none"]
    assert sorted(r["item_id"] for r in rows) == sorted(r["item_id"] for r in test)
    store = np.load(ddp / "data" / "real-32.npy")
    row = {i: n for n, i in enumerate(json.loads((ddp / "data" / "real-32.json").read_text())["ids"])}
    source = {r["item_id"]: r["source_image_id"] for r in test}
    ids = [r["item_id"] for r in rows]
    data = FoldData([store], np.array([(0, row[source[i]]) for i in ids]), [CLASSES.index(r["true"]) for r in rows],
                    ids)
    settings = {"optimizer": "adamw", "lr": 0.0, "weight_decay": 0.0, "seed": 0}
    t = ClassifierTrainer("resnet18", CLASSES, 32, settings, torch.device("cpu"), ddp / "checkpoints",
                          "safe-none-resnet18", None)
    t.load_best()
    mine = t.predict(data)
    written = np.array([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows])
    assert np.allclose(mine, written, atol=2e-6)
