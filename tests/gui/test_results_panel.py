"""The Results tab on experiment folders the factory writes (no training): the heatmap's numbers, a
cell's images, the normalised toggle, ROC points against scikit-learn, the strategy x model grid,
exports, the runs list, opening an image in the main window's viewer, and no torch in the process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from sklearn.metrics import roc_curve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from results_factory import CLASSES, KNOWN, make_experiment
from spinegui.ui.results.export import SVG_AVAILABLE
from spinegui.ui.results.panel import ResultsPanel

KEY = "safe-none-resnet18"


def open_panel(qtbot, folder: Path, runs_root: Path | None = None) -> ResultsPanel:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(1300, 850)
    panel.show()
    if runs_root is not None:
        panel.set_runs_root(runs_root)
    with qtbot.waitSignal(panel.loaded, timeout=10000) as sig:
        panel.open_folder(folder)
    assert sig.args[0] is not None, panel.message.text()
    return panel


@pytest.fixture
def made(tmp_path):
    return make_experiment(tmp_path / "runs" / "exp-1")


@pytest.fixture
def panel(qtbot, made, tmp_path):
    p = open_panel(qtbot, tmp_path / "runs" / "exp-1")
    yield p
    p.shutdown()


def click_cell(qtbot, panel, true: int, pred: int) -> None:
    heatmap = panel.detail.heatmap
    qtbot.mouseClick(heatmap, Qt.MouseButton.LeftButton, pos=heatmap.cell_rect(true, pred).center().toPoint())


def click_button(qtbot, group, key: str) -> None:
    qtbot.mouseClick(next(b for b in group.buttons() if b.property("key") == key), Qt.MouseButton.LeftButton)


def shown_ids(panel) -> list[str]:
    return [panel.detail.items.item(r, 0).text() for r in range(panel.detail.items.rowCount())]


def matrix_text(heatmap) -> list[list[str]]:
    n = len(heatmap.classes)
    return [[heatmap.cell_text(r, c) for c in range(n)] for r in range(n)]


def test_the_heatmap_shows_the_known_confusion_matrix_and_its_row_normalised_form(qtbot, panel):
    assert panel.key == KEY and panel.detail.fold == "test"  # the first run, test fold
    known = np.array(KNOWN[(KEY, "test")])
    heatmap = panel.detail.heatmap
    assert heatmap.classes == CLASSES
    assert matrix_text(heatmap) == [[str(v) for v in row] for row in known]
    assert not heatmap.grab().isNull()  # it paints
    click_button(qtbot, panel.detail.norm_group, "normalised")
    share = known / known.sum(1, keepdims=True)
    assert heatmap.normalised and matrix_text(heatmap) == [[f"{v:.2f}" for v in row] for row in share]
    assert np.allclose(heatmap.values.sum(1), 1)
    click_button(qtbot, panel.detail.norm_group, "counts")
    assert heatmap.cell_text(1, 0) == "3"


def test_a_cell_click_lists_exactly_its_images_and_follows_the_fold(qtbot, panel, made):
    click_cell(qtbot, panel, 1, 0)  # true Disc space narrowing, predicted No finding
    expected = sorted(made["cells"][(KEY, "test")][(1, 0)], key=lambda x: -x[1])
    assert shown_ids(panel) == [i for i, _ in expected] and len(expected) == 3
    assert [panel.detail.items.item(r, 2).text() for r in range(3)] == [f"{c:.2f}" for _, c in expected]
    assert "true Disc space narrowing → predicted No finding" in panel.detail.cell_head.text()
    click_cell(qtbot, panel, 0, 0)
    assert shown_ids(panel) == [i for i, _ in sorted(made["cells"][(KEY, "test")][(0, 0)], key=lambda x: -x[1])]
    click_button(qtbot, panel.detail.fold_group, "val")
    assert panel.detail.fold == "val" and panel.detail.heatmap.cell_text(0, 0) == "4"
    assert shown_ids(panel) == [i for i, _ in sorted(made["cells"][(KEY, "val")][(0, 0)], key=lambda x: -x[1])]


def test_double_clicking_an_image_asks_to_open_it_with_its_caption(qtbot, panel, made):
    click_cell(qtbot, panel, 0, 1)  # true No finding, predicted Disc space narrowing
    top_id, top_conf = max(made["cells"][(KEY, "test")][(0, 1)], key=lambda x: x[1])
    rect = panel.detail.items.visualItemRect(panel.detail.items.item(0, 0))
    with qtbot.waitSignal(panel.open_image, timeout=2000) as sig:  # (an item view wants the press first)
        qtbot.mouseClick(panel.detail.items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(panel.detail.items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sig.args[0] == top_id
    assert sig.args[1].startswith(f"predicted Disc space narrowing ({top_conf:.2f}), true No finding")


def test_selecting_a_grid_cell_switches_the_run(qtbot, panel, made):
    grid = panel.grid
    assert grid.rowCount() == 2 and grid.columnCount() == 2
    assert grid.horizontalHeaderItem(1).text() == "paper\nresnet18" and grid.verticalHeaderItem(1).text() == "gan"
    run = made["doc"]["runs"][3]
    assert grid.item(1, 1).text().startswith(f"{run['test']['accuracy']:.3f} · {run['test']['macro_f1']:.3f}")
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.visualItemRect(grid.item(1, 1)).center())
    assert panel.key == "paper-gan-resnet18"
    known = KNOWN[("paper-gan-resnet18", "test")]
    assert matrix_text(panel.detail.heatmap) == [[str(v) for v in row] for row in known]
    paper_val = made["doc"]["runs"][3]["val"]["accuracy"]
    safe_test = made["doc"]["runs"][1]["test"]["accuracy"]
    assert f"{paper_val:.3f}" in panel.audit.text() and f"{safe_test:.3f}" in panel.audit.text()
    assert "paper-gan-resnet18" in panel.detail.per_class_head.text()
    panel.select_run(KEY)
    assert (grid.currentRow(), grid.currentColumn()) == (0, 0)


def test_roc_curves_are_scikit_learns_on_the_predictions_file(panel, made):
    panel.detail.tabs.setCurrentIndex(2)
    rows = made["rows"][(KEY, "test")]
    true = np.array([CLASSES.index(r["true"]) for r in rows])
    drawn = {c.name(): c.getData() for c in panel.detail.roc.plot.getPlotItem().listDataItems() if c.name()}
    assert len(drawn) == 3
    for k, name in enumerate(CLASSES):
        fpr, tpr, _ = roc_curve(true == k, [r[f"p_{name}"] for r in rows])
        x, y = next(v for label, v in drawn.items() if label.startswith(name))
        assert np.allclose(x, fpr) and np.allclose(y, tpr)


def test_training_curves_and_compute_bars_show_the_run(panel, made):
    scores = panel.detail.training.scores.getPlotItem()
    curves = {c.name(): c.getData() for c in scores.listDataItems() if c.name()}
    assert np.allclose(curves["val macro-F1"][1], [0.4, 0.5, 0.6])
    stacked = {p: list(b.opts["height"]) for p, b in panel.detail.compute_bars.bars.items()}
    assert stacked == {"gan_train": [0.0, 60.0], "generate": [0.0, 2.0], "train": [10.0, 12.0], "eval": [1.0, 1.5]}
    table = panel.detail.compute_table
    assert table.item(1, 0).text() == "gan" and table.item(1, 6).text() == "75.5"
    assert table.item(1, 7).text() == f"{75.5 / 11:.1f}×"


def test_exports_write_the_figure_and_the_numbers_shown(qtbot, panel, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert panel.detail.export("png", out / "cm.png") and panel.detail.export("csv", out / "cm.csv")
    image = QImage(str(out / "cm.png"))
    assert not image.isNull() and image.width() == panel.detail.heatmap.width()
    with open(out / "cm.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["true \\ predicted", *CLASSES]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == KNOWN[(KEY, "test")]
    panel.detail.tabs.setCurrentIndex(1)  # per class: the table
    assert panel.detail.export("png", out / "pc.png") and panel.detail.export("csv", out / "pc.csv")
    with open(out / "pc.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Class", "Precision", "Recall", "F1", "Support", "AUROC"] and len(rows) == 5
    assert rows[2][:5] == ["Disc space narrowing", "0.571", "0.500", "0.533", "8"]
    ci = panel.detail.run["ci"]["test"]["macro_f1"]   # an older folder: recomputed by study on load
    assert panel.detail.run["ci_unit"] == "study" and ci != [0.3, 0.7]
    assert rows[4][3] == f"{panel.detail.run['test']['macro_f1']:.3f} ({ci[0]:.3f}–{ci[1]:.3f})"
    assert (out / "pc.png").stat().st_size > 1000
    if SVG_AVAILABLE:
        panel.detail.tabs.setCurrentIndex(2)
        assert panel.detail.export("svg", out / "roc.svg")
        assert "<svg" in (out / "roc.svg").read_text()[:2000]
    assert not panel.detail.export("png", tmp_path / "missing-dir" / "x.png")  # a failure is said, not raised
    assert "PNG" in panel.message.text()


def test_the_runs_list_shows_the_workspace_experiments_only(qtbot, tmp_path):
    runs = tmp_path / "ws-runs"
    make_experiment(runs / "exp-a")
    make_experiment(runs / "exp-b", strategies=("none",), seed=1)
    gan = runs / "gan-x"
    gan.mkdir()
    (gan / "config.toml").write_text('kind = "gan"\n')
    (gan / "status.json").write_text(json.dumps({"state": "done", "kind": "gan"}))
    panel = open_panel(qtbot, runs / "exp-a", runs_root=runs)
    qtbot.waitUntil(lambda: panel.runs.topLevelItemCount() == 2, timeout=5000)
    assert {panel.runs.topLevelItem(i).text(0) for i in range(2)} == {"exp-a", "exp-b"}
    with qtbot.waitSignal(panel.loaded, timeout=5000):
        panel.runs.choose((runs / "exp-b").resolve())
    assert panel.exp.strategies == ["none"] and panel.grid.rowCount() == 1
    with qtbot.waitSignal(panel.loaded, timeout=5000) as sig:
        panel.open_folder(gan)
    assert sig.args[0] is None and "results.json: not found" in panel.message.text()
    panel.shutdown()


def test_an_image_opens_in_the_viewer_with_its_caption(qtbot, demo_root, tmp_path):
    from spinegui.core.dataset.vindr import load_index
    from spinegui.ui.main_window import MainWindow

    ids = sorted(load_index(demo_root).images)
    win = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), tmp_path / "ws")
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.image_shown, timeout=20000):
        assert win.open_dataset(demo_root)
    assert win.tabs.tabText(3) == "Results" and win.actions["results"].shortcut().toString() == "Ctrl+R"
    win.actions["results"].trigger()
    assert win.tabs.currentWidget() is win.results_panel and not win.browser_dock.isVisible()
    wanted = next(i for i in ids if i != win.current)
    caption = "predicted Vertebral collapse (0.91), true No finding — safe-gan-resnet18, test"
    win.results_panel.open_image.emit(wanted, caption)
    assert win.tabs.currentWidget() is win.viewer and win.current == wanted
    qtbot.waitUntil(lambda: win.viewer_image_id() == wanted, timeout=20000)
    assert win.viewer._title.text() == caption and win.viewer._title.isVisible()
    win.results_panel.open_image.emit("gan-synthetic-0001", caption)
    assert "not in the open dataset" in win.statusBar().currentMessage() and win.current == wanted
    win.next_image()  # the caption belongs to that image only
    qtbot.waitUntil(lambda: win.viewer_image_id() not in (None, wanted), timeout=20000)
    assert win.viewer._title.text() == ""
    win.close()


def test_the_panel_process_never_imports_torch(made, tmp_path):
    code = (
        "import os, sys\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
        "from spinegui.ui.main_window import MainWindow\nfrom spinegui.ui.results.panel import ResultsPanel\n"
        "from spinegui.core.results.experiment_folder import load_experiment\n"
        f"p = ResultsPanel()\np.show_experiment(load_experiment({str(tmp_path / 'runs' / 'exp-1')!r}))\n"
        "p.detail.tabs.setCurrentIndex(2)\np.detail.show_cell(1, 0)\np.grab()\n"
        "print('RESULT', p.key, sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert f"RESULT {KEY} []" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]


def test_a_live_read_of_a_running_experiment_redraws_only_what_changed(panel, monkeypatch):
    """While an experiment runs its folder is read again at each finished run: the grid's other cells
    stay as they are, and the detail is drawn again only when its own run changed (the tab shown now,
    the others when they are shown), so that the window's event loop stays within its budget."""
    import copy

    grid, detail = panel.grid, panel.detail
    unchanged = grid.item(0, 0)
    drawn = []
    draw = detail._draw
    monkeypatch.setattr(detail, "_draw", lambda tab: (drawn.append(tab), draw(tab)))

    def read_again(key: str, **changes):
        exp = copy.copy(panel.exp)
        exp.runs = {**exp.runs, key: {**exp.runs[key], **changes}}
        panel.show_experiment(exp, live=True)

    other = "paper-gan-resnet18"
    read_again(other, test={**panel.exp.runs[other]["test"], "accuracy": 0.123})
    assert grid.item(1, 1).text().startswith("0.123 · ") and grid.item(0, 0) is unchanged
    assert panel.key == KEY and drawn == []      # the run shown did not change: nothing drawn again
    read_again(KEY, best_epoch=3)
    assert drawn == ["confusion"]                # the tab shown; the others wait until shown
    detail.tabs.setCurrentIndex(3)
    assert drawn == ["confusion", "training"] and detail.training._best["scores"].value() == 3
    detail.tabs.setCurrentIndex(0)
    assert drawn == ["confusion", "training"]    # drawn already
