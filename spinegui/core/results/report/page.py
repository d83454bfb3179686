"""report.html: the whole experiment on one self-contained page (inline SVG and CSS, no script, no
external file), readable offline and printable. The markup is well-formed XML as well as HTML, so
tests (and any tool) can parse it with xml.etree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from spinegui import __version__
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.results.experiment_folder import load_experiment
from spinegui.core.results.report import sections, stats_tables
from spinegui.core.results.report.runs import anchor, run_section
from spinegui.core.results.report.svg import esc

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#222;margin:24px auto;max-width:1280px;
padding:0 16px;line-height:1.4;font-size:14px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0}dt{color:#666}dd{margin:0}
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f4f6f8;font-weight:600}th:first-child,td:first-child{text-align:left}
table.results td:nth-child(-n+3),table.results th:nth-child(-n+3),table.leakage td:nth-child(-n+2),
table.compute td:nth-child(-n+2),table.plan td:first-child,table.seeds td:nth-child(-n+3),
table.gaps td:nth-child(-n+2){text-align:left}
tr:nth-child(even) td{background:#fafbfc}
td.paper-val{color:#b35900;font-weight:600}td.safe-test{color:#006b3c;font-weight:600}
nav a{margin-right:12px}.note{color:#555;font-size:13px;max-width:960px}.facts{color:#444}
.check{font-size:15px;padding:6px 10px;border-radius:4px;display:inline-block;margin:4px 0}
.check.ok{background:#e6f4ea;color:#0b5b27}.check.violated{background:#fde8e8;color:#9b1c1c}
.check.unknown{background:#f1f1f1;color:#555}
.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}figure{margin:6px 0}
section.run{border-top:1px solid #eee;padding-top:4px}
@media print{section.run{page-break-inside:avoid}}
"""

CONTENTS = (("plan", "Plan"), ("results", "Results"), ("seeds", "Seeds and vs none"), ("leakage", "Leakage audit"),
            ("calibration", "Calibration"), ("manifest", "Fold manifest"), ("compute", "Compute cost"),
            ("runs", "Runs"))


def render_report(run_dir: str | Path, recompute: bool = False) -> str:
    """The report page of an experiment folder, as text. The statistics are results.json's, computed
    from the predictions where it has none (older folders) or with `recompute`."""
    run = load_experiment(run_dir, recompute=recompute)
    nav = "".join(f"<a href=\"#{k}\">{esc(v)}</a>" for k, v in CONTENTS)
    run_links = " ".join(f"<a href=\"#{anchor(r)}\">{esc(r.get('key', '?'))}</a>" for r in run.runs.values())
    body = [
        sections.header(run), f"<nav>{nav}</nav>",
        "<h2 id=\"plan\">Plan: images per class</h2>", sections.plan_section(run),
        "<h2 id=\"results\">Results</h2>", sections.results_section(run),
        "<h2 id=\"seeds\">Over seeds, and against none</h2>", stats_tables.seeds_section(run),
        "<h2 id=\"leakage\">Leakage audit</h2>", sections.leakage_section(run), stats_tables.gaps_section(run),
        "<h2 id=\"calibration\">Calibration</h2>", stats_tables.calibration_section(run),
        "<h2 id=\"manifest\">Fold manifest</h2>", sections.manifest_section(run),
        "<h2 id=\"compute\">Compute cost</h2>", sections.compute_section(run),
        "<h2 id=\"runs\">Runs</h2>", f"<p>{run_links}</p>" if run_links else "<p>No run has finished yet.</p>",
        *(run_section(run, r) for r in run.runs.values()),
        f"<p class=\"note\">Written by spinegui {esc(__version__)} on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} from {esc(run.folder)}.</p>",
    ]
    title = f"Experiment report: {run.folder.name}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None, recompute: bool = False) -> Path:
    """Write the experiment's report (default RUN/report.html) and return its path. Bad input (no
    folder, no or malformed results.json, an unwritable target) is an InputError naming the file."""
    text = render_report(run_dir, recompute)
    path = Path(out).expanduser() if out is not None else Path(run_dir).expanduser() / "report.html"
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None
    return path
