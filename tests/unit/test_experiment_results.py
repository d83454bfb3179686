"""Reading an experiment folder (spinegui.core.results.experiment_folder) on folders the factory writes:
confusion matrices, the images of a cell, ROC points against scikit-learn, the grid, the leakage audit,
per-class rows and compute phases. No Qt, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from results_factory import CLASSES, KNOWN, make_experiment
from spinegui.core.errors import InputError
from spinegui.core.results import experiment_folder as er


@pytest.fixture
def folder(tmp_path):
    made = make_experiment(tmp_path / "exp")
    return tmp_path / "exp", made


def test_load_reads_runs_predictions_and_origins(folder):
    path, made = folder
    exp = er.load_experiment(path)
    assert list(exp.runs) == ["safe-none-resnet18", "safe-gan-resnet18", "paper-none-resnet18", "paper-gan-resnet18"]
    assert exp.classes == CLASSES and exp.protocols == ["safe", "paper"] and exp.problems == []
    p = exp.predictions[("safe-none-resnet18", "test")]
    rows = made["rows"][("safe-none-resnet18", "test")]
    assert p.ids == [r["item_id"] for r in rows] and p.prob.shape == (len(rows), 3)
    assert [CLASSES[i] for i in p.true] == [r["true"] for r in rows]
    assert np.allclose(p.prob[:, 1], [r["p_Disc space narrowing"] for r in rows])
    origins = exp.origins[("paper", "gan", "val")]
    assert "gan" in origins.values() and set(exp.origins[("safe", "gan", "val")].values()) == {"real"}
    assert exp.run_for("paper", "gan", "resnet18")["key"] == "paper-gan-resnet18"
    assert exp.run_for("paper", "gan", "vgg16") is None


def test_unreadable_folders_say_why(tmp_path, folder):
    with pytest.raises(InputError, match="experiment folder not found"):
        er.load_experiment(tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        er.load_experiment(tmp_path / "a-file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="results.json: not found"):
        er.load_experiment(tmp_path / "empty")
    (tmp_path / "empty" / "results.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputError, match="not experiment results .*'spinegui-experiment-1'"):
        er.load_experiment(tmp_path / "empty")
    (tmp_path / "empty" / "results.json").write_text(json.dumps({"format": er.FORMAT, "classes": ["a"],
                                                                 "runs": [{"protocol": "safe"}]}))
    with pytest.raises(InputError, match="every run must be an object with a 'key'"):
        er.load_experiment(tmp_path / "empty")
    path, _ = folder
    (path / "predictions" / "safe-gan-resnet18-val.csv").unlink()  # a run still writing: said, not fatal
    exp = er.load_experiment(path)
    assert ("safe-gan-resnet18", "val") not in exp.predictions and len(exp.problems) == 1
    assert "safe-gan-resnet18-val.csv" in exp.problems[0]


def test_predictions_with_a_foreign_class_or_missing_column_are_refused(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("item_id,true,pred,p_A,p_B\nx,A,C,0.5,0.5\n")
    with pytest.raises(InputError, match="'C' is not one of"):
        er.read_predictions(bad, ["A", "B"])
    with pytest.raises(InputError, match="missing column"):
        er.read_predictions(bad, ["A", "B", "C"])


def test_confusion_counts_and_row_normalised(folder):
    exp = er.load_experiment(folder[0], predictions=False)
    run = exp.runs["safe-none-resnet18"]
    known = np.array(KNOWN[("safe-none-resnet18", "test")], float)
    assert np.array_equal(er.confusion(run, "test"), known)
    norm = er.confusion(run, "test", normalised=True)
    assert np.allclose(norm, known / known.sum(1, keepdims=True)) and np.allclose(norm.sum(1), 1)
    val = er.confusion(run, "val", normalised=True)  # a class absent from the fold: its row stays 0
    assert np.allclose(val[2], 0) and np.allclose(val[:2].sum(1), 1)


def test_a_cell_lists_exactly_its_images_most_confident_first(folder):
    path, made = folder
    exp = er.load_experiment(path)
    for key in ("safe-none-resnet18", "paper-gan-resnet18"):
        cells = made["cells"][(key, "test")]
        for t in range(3):
            for p in range(3):
                items = er.cell_items(exp, key, "test", t, p)
                expected = sorted(cells.get((t, p), []), key=lambda x: -x[1])
                assert [i.item_id for i in items] == [x[0] for x in expected]
                assert [i.confidence for i in items] == pytest.approx([x[1] for x in expected])
                assert all(i.true == CLASSES[t] and i.pred == CLASSES[p] for i in items)
    first = er.cell_items(exp, "safe-none-resnet18", "test", 1, 0)[0]
    assert er.caption(first) == f"predicted No finding ({first.confidence:.2f}), true Disc space narrowing"
    origins = {i.origin for t in range(3) for i in er.cell_items(exp, "paper-gan-resnet18", "val", t, t)}
    assert origins == {"gan", "real"}


def test_roc_one_vs_rest_matches_scikit_learn_on_random_predictions():
    rng = np.random.default_rng(3)
    true = rng.integers(0, 3, 200)
    prob = np.round(rng.dirichlet([1, 1, 1], 200), 2)  # rounded: plenty of tied scores
    p = er.Predictions([str(i) for i in range(200)], true, prob.argmax(1), prob)
    curves = er.roc_one_vs_rest(p, CLASSES)
    for c, name in enumerate(CLASSES):
        sk_fpr, sk_tpr, _ = sk_roc_curve(true == c, prob[:, c])
        assert np.allclose(curves[name].fpr, sk_fpr) and np.allclose(curves[name].tpr, sk_tpr)
        assert curves[name].auc == pytest.approx(roc_auc_score(true == c, prob[:, c]))
    one_sided = er.Predictions(["a", "b"], np.array([0, 0]), np.array([0, 1]), np.array([[0.6, 0.4, 0], [0.2, 0.8, 0]]))
    assert all(v is None for v in er.roc_one_vs_rest(one_sided, CLASSES).values())


def test_metric_grid_and_leakage_audit(folder):
    exp = er.load_experiment(folder[0], predictions=False)
    grid = er.metric_grid(exp, "paper", "test", "accuracy")
    assert len(grid) == 2 and len(grid[0]) == 1
    assert grid[1][0] == pytest.approx(13 / 16)  # KNOWN paper-gan test: 13 of 16 on the diagonal
    a = er.leakage_audit(exp, "gan", "resnet18")
    assert a["paper_val"] == exp.runs["paper-gan-resnet18"]["val"]["accuracy"]
    assert a["safe_test"] == exp.runs["safe-gan-resnet18"]["test"]["accuracy"]
    assert a["paper_val_synthetic"] > 0
    make_experiment(folder[0].parent / "safe_only", protocols=("safe",))
    assert er.leakage_audit(er.load_experiment(folder[0].parent / "safe_only"), "gan", "resnet18") is None


def test_per_class_rows_carry_the_macro_cis(folder):
    exp = er.load_experiment(folder[0], predictions=False)
    rows = er.per_class_rows(exp.runs["safe-none-resnet18"], "test", CLASSES)
    assert [r["name"] for r in rows] == [*CLASSES, "macro"]
    assert rows[1]["support"] == 8 and rows[1]["recall"] == pytest.approx(4 / 8)
    assert rows[1]["precision"] == pytest.approx(4 / 7) and rows[1]["ci"] == {}
    macro = rows[-1]
    assert macro["f1"] == exp.runs["safe-none-resnet18"]["test"]["macro_f1"] and macro["support"] == 18
    assert macro["ci"] == {"recall": [0.4, 0.8], "f1": [0.3, 0.7], "auroc": [0.6, 0.8]}


def test_compute_phases_per_strategy_count_a_shared_gan_in_each(tmp_path):
    make_experiment(tmp_path / "exp", strategies=("none", "gan", "hybrid"))
    exp = er.load_experiment(tmp_path / "exp", predictions=False)
    rows = {r["strategy"]: r for r in er.compute_phases(exp, "safe")}
    assert rows["none"] == {"strategy": "none", "gan_train": 0.0, "generate": 0.0, "augment": 0.0, "train": 10.0,
                            "eval": 1.0, "synthetic_images": 0, "shared_gan": False, "total": 11.0}
    assert rows["gan"]["gan_train"] == rows["hybrid"]["gan_train"] == 60.0
    assert rows["gan"]["shared_gan"] and rows["gan"]["total"] == pytest.approx(60 + 2 + 12 + 1.5)
    assert rows["hybrid"]["synthetic_images"] == 30 and rows["hybrid"]["augment"] == 0.5
    assert {r["strategy"]: r["train"] for r in er.compute_phases(exp, "paper")}["none"] == 99.0


def test_history_series(folder):
    exp = er.load_experiment(folder[0], predictions=False)
    h = er.history(exp.runs["safe-gan-resnet18"])
    assert np.array_equal(h["epoch"], [1, 2, 3]) and np.allclose(h["val_macro_f1"], [0.4, 0.5, 0.6])


def test_reading_results_loads_neither_qt_nor_torch(folder):
    code = ("import sys\nfrom spinegui.core.results.experiment_folder import load_experiment\n"
            f"load_experiment({str(folder[0])!r})\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
