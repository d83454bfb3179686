"""The experiment report (spinegui.core.results.report, `spinegui report`): built from a small results folder
written here, it must show the right numbers in the right places, parse as XML, stay self-contained,
catch a synthetic image planted in a safe validation fold, and refuse bad input in one line."""

import csv
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from spinegui.cli.entry import main
from spinegui.core.errors import InputError
from spinegui.core.results.report import render_report, write_figures, write_report

SVG = "{http://www.w3.org/2000/svg}"
CLASSES = ["No finding", "Disc space narrowing", "Vertebral collapse"]
# (protocol, strategy) -> (val accuracy, test accuracy, test confusion)
RUNS = {("safe", "none"): (0.80, 0.70, [[20, 3, 2], [5, 6, 1], [1, 2, 4]]),
        ("safe", "basic"): (0.75, 0.60, [[18, 5, 2], [4, 7, 1], [0, 2, 5]]),
        ("paper", "none"): (0.85, 0.66, [[19, 4, 2], [5, 6, 1], [2, 1, 4]]),
        ("paper", "basic"): (0.9412, 0.55, [[16, 6, 3], [5, 6, 1], [1, 2, 4]])}


def _scores(acc, cm):
    cm = np.array(cm)
    norm = (cm / cm.sum(1, keepdims=True)).round(4).tolist()
    per = {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": int(cm[k].sum()), "auroc": 0.7}
           for k, c in enumerate(CLASSES)}
    return {"n": int(cm.sum()), "accuracy": acc, "balanced_accuracy": 0.5, "macro_f1": 0.45, "auroc": 0.71,
            "per_class": per, "confusion": cm.tolist(), "confusion_normalised": norm}


def _run(protocol, strategy):
    val_acc, test_acc, cm = RUNS[(protocol, strategy)]
    key = f"{protocol}-{strategy}-resnet18"
    ci = {"accuracy": [test_acc - 0.1, test_acc + 0.1], "balanced_accuracy": [0.4, 0.6], "macro_f1": [0.35, 0.55],
          "auroc": [0.6, 0.8]}
    return {"key": key, "protocol": protocol, "strategy": strategy, "model": "resnet18", "size": 64,
            "counts": {"train_images": 90, "train_synthetic": 0 if strategy == "none" else 30, "val_images": 22,
                       "val_synthetic": 0, "test_images": 44, "test_synthetic": 0},
            "epochs_run": 3, "best_epoch": 2, "stopped_early": False, "train_accuracy": 0.9,
            "val": _scores(val_acc, cm), "test": _scores(test_acc, cm), "ci": {"val": ci, "test": ci},
            "history": [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + 0.1 * e, "val_accuracy": 0.6,
                         "val_macro_f1": 0.4 + 0.01 * e, "img_s": 10.0, "seconds": 3.0, "images": 90}
                        for e in (1, 2, 3)],
            "flops_per_image": {"forward": 2.8e8, "train": 8.4e8},
            "compute": {"prep_s": 1.0, "train_s": 12.0, "eval_s": 0.5, "total_s": 13.5, "train_img_s": 7.5},
            "predictions": {f: f"predictions/{key}-{f}.csv" for f in ("val", "test")},
            "checkpoint": f"checkpoints/{key}_best.safetensors"}


def _manifest_rows():
    rows = []
    for protocol, strategy in RUNS:
        for fold, origin, n in (("train", "real", 6), ("train", "geometric", 3 if strategy == "basic" else 0),
                                ("val", "real", 2), ("test", "real", 2)):
            for k in range(n):
                rows.append({"protocol": protocol, "strategy": strategy, "fold": fold,
                             "item_id": f"{fold}-{origin}-{k}", "class": CLASSES[k % 3], "origin": origin,
                             "source_image_id": f"{fold}-{k}", "study_id": f"st-{fold}-{k}"})
    return rows


def _write_manifest(run, rows):
    with open(run / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def run(tmp_path):
    run = tmp_path / "exp"
    (run / "predictions").mkdir(parents=True)
    plan = [{"protocol": p, "strategy": s, "classes": [
        {"name": c, "real": r, "geometric": 0 if s == "none" else g, "gan": 0, "total": r + (0 if s == "none" else g)}
        for c, r, g in zip(CLASSES, (60, 20, 10), (0, 40, 50))],
        "folds": {"train": [60, 20, 10], "val": [12, 6, 4], "test": [25, 12, 7]},
        "leaks": {"synthetic_held_out": 0, "held_out_sharing_a_study_with_train": 0}} for p, s in RUNS]
    doc = {"format": "spinegui-experiment-1", "classes": CLASSES, "case": "1", "protocols": ["safe", "paper"],
           "strategies": ["none", "basic"], "models": ["resnet18"], "plan": plan,
           "runs": [_run(p, s) for p, s in RUNS], "compute": {}}
    (run / "results.json").write_text(json.dumps(doc))
    stages = [{"stage": "augment", "protocol": p, "strategy": "basic", "images": 30, "wall_s": 1.0} for p in
              ("safe", "paper")]
    stages += [{"stage": st, "protocol": p, "strategy": s, "model": "resnet18", "images": 90, "wall_s": w}
               for p, s in RUNS for st, w in (("train", 12.0), ("eval", 0.5))]
    (run / "compute.json").write_text(json.dumps({"wall_s": 60.0, "device": "cpu", "stages": stages}))
    (run / "config.toml").write_text('kind = "experiment"\nroot = "/data/vindr"\nseed = 0\n\n[versions]\n'
                                     'torch = "2.9.0"\nplatform = "linux-x86_64"\n')
    rng = np.random.default_rng(0)
    with open(run / "predictions" / "safe-basic-resnet18-test.csv", "w", newline="") as fh:
        fh.write("item_id,true,pred," + ",".join(f"p_{c}" for c in CLASSES) + "\n")
        for i in range(30):
            p = rng.dirichlet([1, 1, 1])
            fh.write(f"im{i},{CLASSES[i % 3]},{CLASSES[int(p.argmax())]}," + ",".join(f"{v:.4f}" for v in p) + "\n")
    _write_manifest(run, _manifest_rows())
    return run


def _page(run):
    return ET.fromstring(write_report(run).read_text(encoding="utf-8").split("\n", 1)[1])


def _figure(page, title_start):
    for svg in page.iter(SVG + "svg"):
        title = svg.find(SVG + "title")
        if title is not None and title.text.startswith(title_start):
            return svg
    raise AssertionError(f"no figure titled {title_start!r}")


def test_confusion_cells_show_their_count_and_row_share_at_their_row_and_column(run):
    svg = _figure(_page(run), "safe-basic-resnet18: test")
    cells = {(g.get("data-true"), g.get("data-pred")): g for g in svg.iter(SVG + "g") if g.get("class") == "cell"}
    assert len(cells) == 9
    texts = {t.get("class"): t.text for t in cells[("1", "0")].iter(SVG + "text")}
    assert texts == {"count": "4", "share": "33%"}                  # 4 of the 12 true Disc space narrowing
    assert {t.get("class"): t.text for t in cells[("2", "2")].iter(SVG + "text")} == {"count": "5", "share": "71%"}
    labels = [t.text for t in svg.iter(SVG + "text")]
    assert "No finding" in labels and "collapse" in " ".join(labels)   # class names (wrapped) on the axes


def test_leakage_row_sets_paper_validation_beside_safe_test_accuracy(run):
    page = _page(run)
    row = next(tr for tr in page.iter("tr") if tr.get("id") == "leak-basic-resnet18")
    cells = {td.get("class"): td.text for td in row.iter("td") if td.get("class")}
    assert cells["paper-val"] == "94.1%" and cells["safe-test"] == "60.0%" and cells["gap"] == "+34.1"
    assert "rewards memory" in ET.tostring(page, encoding="unicode")


def test_results_plan_compute_and_curves_carry_the_runs_numbers(run):
    text = render_report(run)
    row = re.search(r"<tr><td>paper</td><td>basic</td><td>resnet18</td>.*?</tr>", text).group(0)
    assert "<td>94.1</td>" in row and "55.0 [45.0–65.0]" in row and "0.71 [0.60–0.80]" in row
    assert "<td>60 (+50 geo)</td>" in text                  # the plan: 10 real Vertebral collapse + 50 copies
    assert "safe basic, classifier training: 12.0 s" in text   # a stacked-bar segment's value
    assert "accuracy and macro-F1" in text and "ROC one-vs-rest" in text
    assert "/data/vindr" in text and "torch 2.9.0" in text


def test_report_is_self_contained_xml(run):
    text = write_report(run).read_text(encoding="utf-8")
    page = ET.fromstring(text.split("\n", 1)[1])                # parses: every inline SVG is well-formed too
    assert len(list(page.iter(SVG + "svg"))) >= 4 * 4 + 1
    assert "<script" not in text and " src=" not in text
    assert {h for h in re.findall(r'href="([^"]*)"', text) if not h.startswith("#")} == set()
    assert set(re.findall(r"https?://[^\"' ]+", text)) == {"http://www.w3.org/2000/svg"}


def test_manifest_check_says_ok_then_violated_when_a_synthetic_image_reaches_safe_validation(run):
    check = next(p for p in _page(run).iter("p") if p.get("id") == "safe-check")
    assert "".join(check.itertext()).endswith("OK")
    rows = _manifest_rows()
    rows.append({**rows[0], "strategy": "basic", "fold": "val", "item_id": "aug-x-0", "origin": "geometric"})
    _write_manifest(run, rows)
    check = next(p for p in _page(run).iter("p") if p.get("id") == "safe-check")
    assert "VIOLATED" in "".join(check.itertext()) and "basic: 1 images" in "".join(check.itertext())
    assert "violated" in check.get("class")


def test_write_figures_gives_standalone_svgs_and_a_markdown_table(run, tmp_path):
    files = write_figures(run, tmp_path / "fig")
    assert {f.name for f in files} == {*(f"confusion_{p}-{s}-resnet18.svg" for p, s in RUNS), "compute.svg",
                                       "results.md"}
    for f in files:
        if f.suffix == ".svg":
            ET.parse(f)
    md = (tmp_path / "fig" / "results.md").read_text()
    assert "| paper | basic | resnet18 | 0 | 90 (30) | 94.1 | 55.0 [45.0–65.0] |" in md
    assert "| basic | resnet18 | 94.1% | 60.0% | +34.1 |" in md


def test_bad_input_is_one_line_exit_2(run, tmp_path, capsys):
    def refused(*args):
        capsys.readouterr()
        assert main(["report", *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("spinegui: error: ")
        return err

    assert "experiment folder not found" in refused(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert "results.json: not found" in refused(str(tmp_path / "empty"))
    (run / "results.json").write_text('{"format": "spinegui-experiment-1", "runs": [')
    assert "results.json: malformed JSON" in refused(str(run))
    (run / "results.json").write_text('{"format": "something else"}')
    assert "not experiment results" in refused(str(run))
    with pytest.raises(InputError):
        write_report(tmp_path / "missing")


def test_cli_writes_the_report_and_figures(run, tmp_path, capsys):
    assert main(["report", str(run), "--figures", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {run / 'report.html'}" in out and (run / "report.html").is_file()
    assert (tmp_path / "fig" / "compute.svg").is_file()
