"""Small SVG building blocks: escaped elements, colour scales, axis ticks.

Styling is done with presentation attributes, not CSS, so that a figure looks the same inline in the
report, as a standalone file on GitHub, and in Qt's SVG renderer (SVG Tiny, which ignores most CSS).
"""

from __future__ import annotations

import html
import math

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
TEXT = "#222222"
MUTED = "#666666"
GRID = "#e3e3e3"
AXIS = "#888888"
# The one palette of spinegui's result figures (the report, README figures and the Results tab).
# Okabe-Ito, without its yellow (unreadable on white): distinguishable by colour-blind readers.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#999999")
# Compute phases, keyed as experiment_results.PHASES and in its order: neighbours in a stacked bar must
# differ at a glance, so not PALETTE's order (its orange and vermillion sit side by side).
PHASE_COLOURS = {"gan_train": "#0072B2", "generate": "#56B4E9", "augment": "#009E73", "train": "#D55E00",
                 "eval": "#CC79A7"}
# A sequential blue scale (ColorBrewer "Blues") for confusion-matrix shares: 0 white, 1 dark.
BLUES = ((0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)),
         (0.75, (33, 113, 181)), (1.0, (8, 48, 107)))


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def num(v: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros (smaller files, stable output)."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _attrs(attrs: dict) -> str:
    out = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")     # class_ -> class, font_size -> font-size
        out.append(f' {name}="{num(value) if isinstance(value, float) else esc(value)}"')
    return "".join(out)


class Svg:
    """An SVG document built element by element; `markup()` is the <svg> element, `document()` a file."""

    def __init__(self, width: float, height: float, label: str = ""):
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []

    def el(self, tag: str, text: str | None = None, **attrs) -> None:
        self.parts.append(f"<{tag}{_attrs(attrs)}/>" if text is None else f"<{tag}{_attrs(attrs)}>{esc(text)}</{tag}>")

    def open(self, tag: str, **attrs) -> None:
        self.parts.append(f"<{tag}{_attrs(attrs)}>")

    def close(self, tag: str) -> None:
        self.parts.append(f"</{tag}>")

    def text(self, x: float, y: float, s, size: float = 12, anchor: str = "start", fill: str = TEXT,
             weight: str | None = None, **attrs) -> None:
        self.el("text", str(s), x=float(x), y=float(y), font_size=float(size), text_anchor=anchor, fill=fill,
                font_weight=weight, **attrs)

    def rect(self, x, y, w, h, fill: str, **attrs) -> None:
        self.el("rect", x=float(x), y=float(y), width=float(max(w, 0)), height=float(max(h, 0)), fill=fill, **attrs)

    def line(self, x1, y1, x2, y2, stroke: str = AXIS, width: float = 1, **attrs) -> None:
        self.el("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), stroke=stroke,
                stroke_width=float(width), **attrs)

    def polyline(self, xs, ys, stroke: str, width: float = 2, **attrs) -> None:
        points = " ".join(f"{num(float(x))},{num(float(y))}" for x, y in zip(xs, ys))
        self.el("polyline", points=points, fill="none", stroke=stroke, stroke_width=float(width),
                stroke_linejoin="round", **attrs)

    def markup(self) -> str:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(self.width)}" height="{num(self.height)}" '
                f'viewBox="0 0 {num(self.width)} {num(self.height)}" font-family="{FONT}" role="img"'
                f'{_attrs({"aria_label": self.label}) if self.label else ""}>')
        title = f"<title>{esc(self.label)}</title>" if self.label else ""
        return head + title + "".join(self.parts) + "</svg>"

    def document(self) -> str:
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + self.markup() + "\n"


def scale_colour(v: float, stops=BLUES) -> str:
    """The colour of v in [0, 1] on a piecewise-linear scale."""
    v = min(max(float(v), 0.0), 1.0) if math.isfinite(v) else 0.0
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if v <= b:
            t = (v - a) / (b - a)
            return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))
    return "#" + "".join(f"{c:02x}" for c in stops[-1][1])


def ink_on(v: float) -> str:
    """Text colour readable on scale_colour(v)."""
    return "#ffffff" if v > 0.55 else TEXT


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-6:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks


def tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:g}"


def wrap(text: str, width: int) -> list[str]:
    """Words of `text` in lines of at most `width` characters (a long word keeps its own line)."""
    lines: list[str] = []
    for word in str(text).split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def text_width(s: str, size: float = 12) -> float:
    """A rough width for layout (no font metrics here): 0.6 em a character."""
    return len(str(s)) * size * 0.6
