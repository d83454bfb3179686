"""The report's figures as SVG: confusion matrix, stacked cost bars, line chart, ROC curves.

Each builder returns an `Svg`; `.markup()` inlines it in HTML, `.document()` writes a file. Every
mark carries a <title> so a browser shows the exact value on hover, without any script.
"""

from __future__ import annotations

from spinegui.core.results.report.svg import (
    AXIS,
    GRID,
    MUTED,
    PALETTE,
    PHASE_COLOURS,
    Svg,
    ink_on,
    nice_ticks,
    num,
    scale_colour,
    text_width,
    tick_label,
    wrap,
)

LEGEND_ROW = 18


def confusion_svg(counts: list[list[int]], classes: list[str], title: str = "",
                  normalised: list[list[float]] | None = None) -> Svg:
    """Rows are the true class, columns the predicted one; colour is the row share (recall on the
    diagonal), each cell shows its count and that share."""
    k = len(classes)
    if normalised is None:
        normalised = [[c / sum(row) if sum(row) else 0.0 for c in row] for row in counts]
    cell = 76 if k <= 4 else 64 if k <= 6 else max(40, 384 // k)
    row_lines = [wrap(c, 18) for c in classes]
    col_lines = [wrap(c, max(6, int(cell / 6.6))) for c in classes]
    label_w = max(text_width(line, 12) for lines in row_lines for line in lines)
    top = 30 if title else 8
    x0 = 30 + label_w + 8
    y0 = top
    grid = k * cell
    col_h = 14 * max(len(lines) for lines in col_lines)
    bar_x = x0 + grid + 18
    svg = Svg(bar_x + 12 + 44, y0 + grid + col_h + 40, title or "confusion matrix")
    if title:
        svg.text(8, 19, title, size=13, weight="bold")
    svg.text(14, y0 + grid / 2, "true class", size=12, anchor="middle", fill=MUTED,
             transform=f"rotate(-90 14 {num(y0 + grid / 2)})")
    for i, lines in enumerate(row_lines):
        cy = y0 + i * cell + cell / 2 - (len(lines) - 1) * 7 + 4
        for j, line in enumerate(lines):
            svg.text(x0 - 8, cy + j * 14, line, anchor="end")
    for j, lines in enumerate(col_lines):
        for n, line in enumerate(lines):
            svg.text(x0 + j * cell + cell / 2, y0 + grid + 16 + n * 14, line, size=11, anchor="middle")
    svg.text(x0 + grid / 2, y0 + grid + col_h + 26, "predicted class", anchor="middle", fill=MUTED)
    for i in range(k):
        support = sum(counts[i])
        for j in range(k):
            share = float(normalised[i][j]) if support else 0.0
            x, y = x0 + j * cell, y0 + i * cell
            svg.open("g", class_="cell", data_true=i, data_pred=j)
            svg.el("title", f"true {classes[i]}, predicted {classes[j]}: {counts[i][j]} of {support}"
                            + (f" ({100 * share:.1f}% of the row)" if support else ""))
            svg.rect(x, y, cell, cell, scale_colour(share), stroke="#ffffff", stroke_width=1.0)
            ink = ink_on(share)
            svg.text(x + cell / 2, y + cell / 2 + 1, counts[i][j], size=15, anchor="middle", fill=ink,
                     weight="bold" if i == j else None, class_="count")
            svg.text(x + cell / 2, y + cell / 2 + 17, f"{100 * share:.0f}%" if support else "-", size=10.5,
                     anchor="middle", fill=ink, class_="share")
            svg.close("g")
    steps = 24     # the colour bar as rectangles: no gradient ids to collide when many SVGs share a page
    for s in range(steps):
        svg.rect(bar_x, y0 + grid - (s + 1) * grid / steps, 12, grid / steps + 0.5, scale_colour((s + 0.5) / steps))
    svg.el("rect", x=float(bar_x), y=float(y0), width=12.0, height=float(grid), fill="none", stroke=AXIS,
           stroke_width=0.5)
    for v in (0.0, 0.5, 1.0):
        y = y0 + grid - v * grid
        svg.line(bar_x + 12, y, bar_x + 15, y)
        svg.text(bar_x + 17, y + 4, f"{100 * v:.0f}%", size=10, fill=MUTED)
    svg.text(bar_x + 6, y0 - 4 if not title else y0 - 6, "of row", size=10, anchor="middle", fill=MUTED)
    return svg


def stacked_bars_svg(rows: list[tuple[str, str, list[float]]], segments: list[str], title: str = "",
                     unit: str = "s", axis_label: str = "seconds (wall clock)", colours=None) -> Svg:
    """Horizontal bars, one per (group, label), each split into `segments` (coloured in order from
    `colours`, by default the compute phases'); rows of a group together under the group's name."""
    colours = colours or tuple(PHASE_COLOURS.values())
    label_w = max([text_width(label, 12) for _, label, _ in rows] + [40]) + 16
    plot_w, bar_h, row_h = 440, 14, 22
    width = label_w + plot_w + 70
    legend_rows, x, legend = 1, 0.0, []
    for name in segments:          # lay the legend out in lines that fit the width
        w = 16 + text_width(name, 11) + 18
        if x + w > width - 16 and x > 0:
            legend_rows, x = legend_rows + 1, 0.0
        legend.append((8 + x, legend_rows, name))
        x += w
    top = (26 if title else 6) + legend_rows * LEGEND_ROW + 6
    groups = list(dict.fromkeys(g for g, _, _ in rows))
    height = top + len(rows) * row_h + len(groups) * 20 + 40
    svg = Svg(width, height, title or "stacked bars")
    if title:
        svg.text(8, 18, title, size=13, weight="bold")
    for n, (lx, line, name) in enumerate(legend):
        ly = (26 if title else 6) + (line - 1) * LEGEND_ROW
        svg.rect(lx, ly, 12, 12, colours[n % len(colours)])
        svg.text(lx + 16, ly + 10, name, size=11)
    vmax = max([sum(v) for _, _, v in rows] + [1e-9])
    ticks = nice_ticks(0.0, vmax, 5)
    scale = plot_w / ticks[-1]
    x0, y = label_w, top
    bottom = top + len(rows) * row_h + len(groups) * 20
    for t in ticks:
        svg.line(x0 + t * scale, top, x0 + t * scale, bottom, stroke=GRID)
        svg.text(x0 + t * scale, bottom + 14, tick_label(t), size=10, anchor="middle", fill=MUTED)
    svg.text(x0 + plot_w / 2, bottom + 30, axis_label, size=11, anchor="middle", fill=MUTED)
    for group in groups:
        svg.text(8, y + 14, group, weight="bold")
        y += 20
        for g, label, values in rows:
            if g != group:
                continue
            svg.text(x0 - 8, y + bar_h - 2, label, anchor="end")
            x = x0
            for n, (name, v) in enumerate(zip(segments, values)):
                if v > 0:
                    svg.open("g")
                    svg.el("title", f"{group} {label}, {name}: {v:,.1f} {unit}")
                    svg.rect(x, y + 2, v * scale, bar_h, colours[n % len(colours)])
                    svg.close("g")
                    x += v * scale
            svg.text(x + 4, y + bar_h - 2, f"{sum(values):,.0f} {unit}", size=11, fill=MUTED)
            y += row_h
    svg.line(x0, top, x0, bottom, stroke=AXIS)
    return svg


def _axes(svg: Svg, box, xr, yr, x_label, y_label, integer_x=False):
    """Grid, ticks and labels of a plot in box (x, y, w, h) over ranges xr, yr; returns the mappers."""
    bx, by, bw, bh = box
    fx = lambda v: bx + (v - xr[0]) / (xr[1] - xr[0]) * bw   # noqa: E731
    fy = lambda v: by + bh - (v - yr[0]) / (yr[1] - yr[0]) * bh   # noqa: E731
    for t in nice_ticks(*yr, 5):
        if yr[0] - 1e-9 <= t <= yr[1] + 1e-9:
            svg.line(bx, fy(t), bx + bw, fy(t), stroke=GRID)
            svg.text(bx - 5, fy(t) + 4, tick_label(t), size=10, anchor="end", fill=MUTED)
    for t in nice_ticks(*xr, 6):
        if xr[0] - 1e-9 <= t <= xr[1] + 1e-9 and (not integer_x or t == int(t)):
            svg.line(fx(t), by + bh, fx(t), by + bh + 4)
            svg.text(fx(t), by + bh + 16, tick_label(t), size=10, anchor="middle", fill=MUTED)
    svg.el("rect", x=float(bx), y=float(by), width=float(bw), height=float(bh), fill="none", stroke=AXIS)
    svg.text(bx + bw / 2, by + bh + 32, x_label, size=11, anchor="middle", fill=MUTED)
    svg.text(bx - 38, by + bh / 2, y_label, size=11, anchor="middle", fill=MUTED,
             transform=f"rotate(-90 {num(bx - 38)} {num(by + bh / 2)})")
    return fx, fy


def _legend(svg: Svg, x: float, y: float, names: list[str], dashed: set[int] = frozenset()) -> None:
    for n, name in enumerate(names):
        ly = y + n * LEGEND_ROW
        svg.line(x, ly, x + 18, ly, stroke=PALETTE[n % len(PALETTE)], width=2.5,
                 stroke_dasharray="5 3" if n in dashed else None)
        svg.text(x + 24, ly + 4, name, size=11)


def line_chart_svg(series: list[tuple[str, list, list]], title: str = "", x_label: str = "epoch",
                   y_label: str = "", y_range: tuple[float, float] | None = None,
                   marker: tuple[float, str] | None = None, integer_x: bool = True) -> Svg:
    """Lines with points (None values are gaps); `marker` draws a dashed vertical line at x with a label."""
    xs = [x for _, sx, sy in series for x, y in zip(sx, sy) if y is not None]
    ys = [y for _, sx, sy in series for y in sy if y is not None]
    xr = (min(xs, default=0), max(xs, default=1))
    xr = xr if xr[1] > xr[0] else (xr[0] - 0.5, xr[0] + 0.5)
    if y_range is None:
        lo, hi = min(ys, default=0.0), max(ys, default=1.0)
        ticks = nice_ticks(min(lo, 0.0), hi if hi > min(lo, 0.0) else 1.0, 4)
        y_range = (ticks[0], ticks[-1])
    legend_w = max([text_width(n, 11) for n, _, _ in series] + [40]) + 36
    box = (52, 30 if title else 10, 300, 170)
    svg = Svg(box[0] + box[2] + 16 + legend_w, box[1] + box[3] + 42, title or "line chart")
    if title:
        svg.text(8, 18, title, size=13, weight="bold")
    fx, fy = _axes(svg, box, xr, y_range, x_label, y_label, integer_x)
    if marker is not None and xr[0] <= marker[0] <= xr[1]:
        svg.line(fx(marker[0]), box[1], fx(marker[0]), box[1] + box[3], stroke=MUTED, stroke_dasharray="4 3")
        svg.text(fx(marker[0]) + 3, box[1] + 11, marker[1], size=10, fill=MUTED)
    for n, (name, sx, sy) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        run: list[tuple[float, float]] = []
        for x, y in [*zip(sx, sy), (None, None)]:
            if y is None:
                if len(run) > 1:
                    svg.polyline([fx(a) for a, _ in run], [fy(b) for _, b in run], colour)
                run = []
                continue
            run.append((x, y))
            svg.open("g")
            svg.el("title", f"{name}, {x_label} {x:g}: {y:.4g}")
            svg.el("circle", cx=float(fx(x)), cy=float(fy(y)), r=3.0, fill=colour)
            svg.close("g")
    _legend(svg, box[0] + box[2] + 14, box[1] + 8, [n for n, _, _ in series])
    return svg


def roc_svg(curves: list[tuple[str, list[float], list[float], float | None]], title: str = "") -> Svg:
    """One-vs-rest ROC curves: (class, false-positive rates, true-positive rates, AUROC or None)."""
    names = [f"{n} (AUC {a:.2f})" if a is not None else f"{n} (no positives)" for n, _, _, a in curves]
    legend_w = max([text_width(n, 11) for n in names] + [40]) + 36
    box = (52, 30 if title else 10, 220, 220)
    svg = Svg(box[0] + box[2] + 16 + legend_w, box[1] + box[3] + 42, title or "ROC curves")
    if title:
        svg.text(8, 18, title, size=13, weight="bold")
    fx, fy = _axes(svg, box, (0.0, 1.0), (0.0, 1.0), "false-positive rate", "true-positive rate")
    svg.line(fx(0), fy(0), fx(1), fy(1), stroke=AXIS, stroke_dasharray="4 4")
    for n, (_name, fpr, tpr, auc) in enumerate(curves):
        if auc is None or len(fpr) < 2:
            continue
        svg.open("g")
        svg.el("title", names[n])
        svg.polyline([fx(v) for v in fpr], [fy(v) for v in tpr], PALETTE[n % len(PALETTE)], width=2)
        svg.close("g")
    _legend(svg, box[0] + box[2] + 14, box[1] + 8, names)
    return svg


def reliability_svg(bins: list[dict], ece: float | None, title: str = "") -> Svg:
    """Reliability diagram: per confidence bin (stats.calibration), the accuracy as a bar from the bin's
    lower edge to its upper edge, the mean confidence as a tick; the diagonal is perfect calibration."""
    box = (52, 30 if title else 10, 220, 220)
    svg = Svg(box[0] + box[2] + 150, box[1] + box[3] + 42, title or "reliability diagram")
    if title:
        svg.text(8, 18, title, size=13, weight="bold")
    fx, fy = _axes(svg, box, (0.0, 1.0), (0.0, 1.0), "confidence (top class)", "accuracy")
    svg.line(fx(0), fy(0), fx(1), fy(1), stroke=AXIS, stroke_dasharray="4 4")
    for b in bins:
        if not b.get("count"):
            continue
        svg.open("g")
        svg.el("title", f"confidence {b['lo']:.2f}–{b['hi']:.2f}: {b['count']} images, accuracy "
                        f"{b['accuracy']:.3f}, mean confidence {b['confidence']:.3f}")
        svg.rect(fx(b["lo"]) + 1, fy(b["accuracy"]), fx(b["hi"]) - fx(b["lo"]) - 2, fy(0) - fy(b["accuracy"]),
                 PALETTE[0], fill_opacity=0.75)
        svg.line(fx(b["lo"]) + 1, fy(b["confidence"]), fx(b["hi"]) - 1, fy(b["confidence"]), stroke=PALETTE[3],
                 width=2)
        svg.close("g")
    x = box[0] + box[2] + 14
    for n, (name, colour) in enumerate((("accuracy (bar)", PALETTE[0]), ("mean confidence", PALETTE[3]))):
        ly = box[1] + 8 + n * LEGEND_ROW
        svg.line(x, ly, x + 18, ly, stroke=colour, width=2.5)
        svg.text(x + 24, ly + 4, name, size=11)
    if ece is not None:
        svg.text(x, box[1] + 8 + 2 * LEGEND_ROW + 8, f"ECE {ece:.3f}", size=12, weight="bold")
    n = sum(b.get("count") or 0 for b in bins)
    svg.text(x, box[1] + 8 + 3 * LEGEND_ROW + 8, f"{n} images, {len(bins)} bins", size=11, fill=MUTED)
    return svg
