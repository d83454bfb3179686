"""Figures for a README (no PNG, no plotting library): standalone SVG files and a markdown table."""

from __future__ import annotations

from pathlib import Path

from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.results.experiment_folder import Experiment, load_experiment
from spinegui.core.results.report.charts import stacked_bars_svg
from spinegui.core.results.report.runs import confusion_figure
from spinegui.core.results.report.sections import compute_rows
from spinegui.core.results.report.stats_tables import GAPS_HEAD, SEEDS_HEAD, gaps_rows, seeds_row
from spinegui.core.results.report.tables import (
    LEAK_HEAD,
    LEAK_SENTENCE,
    RESULT_HEAD,
    leakage_rows,
    markdown_table,
    result_row,
)


def results_markdown(run_dir: str | Path | Experiment) -> str:
    run = run_dir if isinstance(run_dir, Experiment) else load_experiment(run_dir)
    parts = [f"Classes: {' vs '.join(run.classes)}.", "",
             markdown_table(RESULT_HEAD, [result_row(r) for r in run.runs.values()])]
    leaks = leakage_rows(run)
    gaps = gaps_rows(run)
    if leaks and not gaps:   # the split table below carries the single gap too
        parts += ["", "Leakage audit. " + LEAK_SENTENCE, "", markdown_table(LEAK_HEAD, [row for _, row in leaks], 2)]
    if run.summary:
        parts += ["", "Over seeds (mean ± sd), and the paired difference against none (study bootstrap).", "",
                  markdown_table(SEEDS_HEAD, [seeds_row(e) for e in run.summary])]
    if gaps:
        parts += ["", "The leakage gap split (accuracy points, 95% CI).", "",
                  markdown_table(GAPS_HEAD, [row for _, row in gaps], 2)]
    return "\n".join(parts) + "\n"


def write_figures(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write confusion_<key>.svg (the test split) for every run, compute.svg (cost per strategy by
    phase) and results.md (the results table, and the leakage audit where both protocols ran) into
    out_dir; return the paths written."""
    run = load_experiment(run_dir)
    out_dir = Path(out_dir).expanduser()
    files: dict[Path, str] = {}
    for r in run.runs.values():
        fig = confusion_figure(run, r, "test")
        if fig is not None:
            files[out_dir / f"confusion_{r.get('key', 'run')}.svg"] = fig.document()
    names, rows = compute_rows(run)
    if rows:
        files[out_dir / "compute.svg"] = stacked_bars_svg(rows, names, "compute cost per strategy, by phase").document()
    files[out_dir / "results.md"] = results_markdown(run)   # read once: older folders compute statistics
    for path, text in files.items():
        try:
            atomic_write_bytes(path, text.encode("utf-8"))
        except OSError as exc:
            raise InputError(path, f"cannot write: {exc.strerror or exc}") from None
    return list(files)
