"""Reports of an experiment folder: report.html (write_report) and README figures (write_figures).

No Qt, no torch, no plotting library: the figures are SVG written here (svg.py, charts.py).
"""

from spinegui.core.results.report.figures import write_figures
from spinegui.core.results.report.page import render_report, write_report

__all__ = ["render_report", "write_figures", "write_report"]
