"""The Results tab shows the statistics (core/results/summary.py): ECE and sensitivity at 90 %
specificity beside the per-class table, the three gaps in the leakage line, mean ± sd and the paired
difference against none in the grid's tooltips and the seeds table, the reliability diagram, and
runs excluded by a failed quality gate. SPINEGUI_STATS_SHOTS=DIR keeps screenshots in DIR to look at."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from spinegui.core.results.summary import summarise
from spinegui.ui.results.panel import ResultsPanel
from spinegui.ui.results.tables import difference

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from stats_factory import write_folder  # noqa: E402


def open_panel(qtbot, folder: Path) -> ResultsPanel:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    with qtbot.waitSignal(panel.loaded, timeout=20000) as sig:
        panel.open_folder(folder)
    assert sig.args[0] is not None, panel.message.text()
    return panel


def shot(panel, name: str) -> None:
    if os.environ.get("SPINEGUI_STATS_SHOTS"):   # only where the person running the tests asks
        shots = Path(os.environ["SPINEGUI_STATS_SHOTS"])
        shots.mkdir(parents=True, exist_ok=True)
        panel.grab().save(str(shots / f"{name}.png"))


@pytest.fixture
def folder(tmp_path):
    """A folder whose results.json carries the statistics, as the experiment job will write it."""
    folder = tmp_path / "runs" / "exp-stats"
    write_folder(folder, gate=("paper", "gan"))
    doc = json.loads((folder / "results.json").read_text())
    doc.update(summarise(folder, n=300))
    (folder / "results.json").write_text(json.dumps(doc))
    return folder


@pytest.fixture
def panel(qtbot, folder):
    p = open_panel(qtbot, folder)
    yield p
    p.shutdown()


def test_per_class_head_says_ece_sensitivity_and_the_study_unit(qtbot, panel):
    panel.select_run("safe-none-m-s1")
    run = panel.exp.runs["safe-none-m-s1"]
    head = panel.detail.per_class_head.text()
    assert f"ECE {run['calibration']['test']['ece']:.3f}" in head
    assert f"sensitivity at 90% specificity {run['test']['sens_at_90_spec']:.3f}" in head
    assert f"AUROC {run['test']['auroc']:.3f}" in head and "resampling studys" not in head and "studies" in head
    panel.detail.tabs.setCurrentIndex(1)
    shot(panel, "per_class")


def test_the_leakage_line_shows_the_three_gaps(qtbot, panel):
    panel.select_run("safe-none-m")
    text = panel.audit.text()
    g = panel.exp.leakage_for("none", "m")
    for key in ("paper_val_minus_safe_val", "safe_val_minus_safe_test", "paper_val_minus_paper_test"):
        assert f"{g[key]['value']:+.3f}" in text and f"{g[key]['ci'][0]:+.3f}" in text
    assert "leak (paper val − safe val)" in text
    panel.select_run("safe-gan-m")   # paper-gan failed its gate: no gaps, and the line says why
    assert "failed its GAN quality gate" in panel.audit.text() and "leak (" not in panel.audit.text()
    shot(panel, "leakage_line")


def test_grid_tooltips_and_seeds_table_show_mean_sd_and_vs_none(qtbot, panel):
    grid = panel.grid
    row, col = panel.exp.strategies.index("gan"), 0   # safe x m
    entry = panel.exp.summary_for("safe", "gan", "m")
    tip = grid.item(row, col).toolTip()
    assert "over 2 seed(s)" in tip and "±" in tip and difference(entry["vs_none"]) in tip
    excluded = grid.item(row, 1)                       # paper x m: its GAN failed the gate
    assert "excluded" in excluded.text() and "failed quality gate" in excluded.toolTip()
    panel.detail.tabs.setCurrentIndex(6)
    assert panel.detail.current_tab() == "seeds"
    rows = panel.detail.csv_rows()
    assert rows[0][0] == "Protocol" and len(rows) == 1 + len(panel.exp.summary)
    gan = next(r for r in rows if r[:3] == ["safe", "gan", "m"])
    assert gan[3] == "2" and gan[6] == difference(entry["vs_none"]) and gan[7].startswith("+0.500")
    assert next(r for r in rows if r[:3] == ["paper", "gan", "m"])[4] == "excluded: failed quality gate"
    shot(panel, "seeds_table")


def test_the_calibration_tab_draws_the_reliability_bins(qtbot, panel):
    panel.select_run("safe-gan-m")
    panel.detail.tabs.setCurrentIndex(5)
    assert panel.detail.current_tab() == "calibration"
    bins = [b for b in panel.exp.runs["safe-gan-m"]["calibration"]["test"]["bins"] if b["count"]]
    assert panel.detail.reliability.bins == bins
    rows = panel.detail.csv_rows()
    assert len(rows) == 1 + len(bins) and rows[1][2] == str(bins[0]["count"])
    assert "ECE" in panel.detail.calibration_head.text()
    shot(panel, "calibration")
