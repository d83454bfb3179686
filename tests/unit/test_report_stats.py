"""The report's statistics: mean ± sd over seeds with the paired difference against none, the three
leakage gaps with intervals, calibration (ECE, reliability diagrams), excluded runs; recomputed by
`spinegui report` for a folder whose results.json has no statistics."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from spinegui.cli.entry import main
from spinegui.core.results.experiment_folder import load_experiment
from spinegui.core.results.report import render_report
from spinegui.core.results.report.stats_tables import mean_sd, points
from stats_factory import write_folder

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path / "exp")
    return tmp_path / "exp"


def _page(folder):
    return ET.fromstring(render_report(folder).split("\n", 1)[1])


def _row(page, row_id):
    return [td.text for td in next(tr for tr in page.iter("tr") if tr.get("id") == row_id).iter("td")]


def test_seeds_table_shows_mean_sd_and_the_paired_difference_against_none(folder):
    exp = load_experiment(folder)
    page = _page(folder)
    gan = exp.summary_for("safe", "gan", "m")
    row = _row(page, "seeds-safe-gan-m")
    assert row[:4] == ["safe", "gan", "m", "2"]
    assert row[4] == mean_sd(gan["test_accuracy"]) and "±" in row[4]
    assert row[8] == points(gan["vs_none_accuracy"]["diff"], gan["vs_none_accuracy"]["ci"])
    assert row[8].startswith("+50.0 [+") and row[9] == "< 0.001"
    assert _row(page, "seeds-safe-none-m")[6] == "baseline"


def test_the_leakage_audit_carries_the_three_gaps_with_intervals(folder):
    exp = load_experiment(folder)
    g = exp.leakage_for("gan", "m")
    row = _row(_page(folder), "gaps-gan-m")
    assert row[2] == points(g["paper_val_minus_safe_val"]["value"], g["paper_val_minus_safe_val"]["ci"])
    assert row[3] == points(g["safe_val_minus_safe_test"]["value"], g["safe_val_minus_safe_test"]["ci"])
    assert row[4] == points(g["paper_val_minus_paper_test"]["value"], g["paper_val_minus_paper_test"]["ci"])
    assert row[5] == points(g["folds"]["paper_val"] - g["folds"]["safe_test"])


def test_calibration_table_and_one_reliability_diagram_per_run(folder):
    exp = load_experiment(folder)
    page = _page(folder)
    rows = [tr for tr in page.iter("tr") if tr.find("td") is not None
            and any(td.text == "safe-gan-m-s1" for td in tr.iter("td"))]
    cells = [td.text for td in rows[0].iter("td")]
    run = exp.runs["safe-gan-m-s1"]
    assert cells[1] == "1" and cells[2] == f"{run['calibration']['test']['ece']:.3f}"
    assert cells[5] == f"{100 * run['test']['sens_at_90_spec']:.1f}%"
    titles = [s.find(SVG + "title").text for s in page.iter(SVG + "svg")]
    assert sum(t.endswith("reliability, test") for t in titles) == len(exp.runs)


def test_a_run_that_failed_the_gate_is_an_excluded_row(tmp_path):
    write_folder(tmp_path / "x", gate=("paper", "gan"))
    row = _row(_page(tmp_path / "x"), "seeds-paper-gan-m")
    assert row[4] == "excluded: failed quality gate"


def test_spinegui_report_computes_the_statistics_of_an_older_folder(folder, capsys):
    assert "summary" not in json.loads((folder / "results.json").read_text())
    assert main(["report", str(folder)]) == 0
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert 'id="seeds-safe-gan-m"' in text and 'id="gaps-gan-m"' in text and "ECE" in text
    assert "summary" not in json.loads((folder / "results.json").read_text())   # the report only


def test_readme_markdown_carries_the_seeds_and_gaps_tables(folder):
    from spinegui.core.results.report.figures import results_markdown

    text = results_markdown(folder)
    gan = load_experiment(folder).summary_for("safe", "gan", "m")
    line = next(x for x in text.splitlines() if x.startswith("| safe | gan | m | 2 |"))
    assert points(gan["vs_none"]["diff"], gan["vs_none"]["ci"]) in line
    assert "paper val − safe val (leak)" in text
