"""Number formatting and HTML table helpers shared by the report and the README figures."""

from __future__ import annotations

from spinegui.core.results.experiment_folder import Experiment, leakage_audit
from spinegui.core.results.report.svg import esc


def pct(v, digits: int = 1) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def with_ci(value, ci, percent: bool = True) -> str:
    """'83.3 [66.7–93.3]' (percent) or '0.74 [0.61–0.85]'; the interval is left out when unknown."""
    def f(v):
        return pct(v) if percent else ("–" if v is None else f"{v:.2f}")
    if value is None:
        return "–"
    if ci and len(ci) == 2 and None not in ci:
        return f"{f(value)} [{f(ci[0])}–{f(ci[1])}]"
    return f(value)


def seconds(v) -> str:
    if v is None:
        return "–"
    v = float(v)
    if v >= 3600:
        return f"{v / 3600:.1f} h"
    if v >= 120:
        return f"{v / 60:.1f} min"
    return f"{v:.1f} s"


def gflops(v) -> str:
    return "–" if not v else f"{v / 1e9:.2f}"


def number(v, digits: int = 1) -> str:
    if v is None:
        return "–"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.{digits}f}"


def table(head: list[str], rows: list[list], cls: str = "", row_ids: list[str] | None = None,
          cell_classes: list[str] | None = None) -> str:
    """An HTML table; cells are text (escaped) unless given as ('raw', html). Columns after the
    first text ones are right-aligned by CSS when they hold numbers (class 'num')."""
    def cell(v, tag, k):
        extra = cell_classes[k] if cell_classes and k < len(cell_classes) and cell_classes[k] else ""
        attr = f' class="{extra}"' if extra else ""
        if isinstance(v, tuple) and v and v[0] == "raw":
            return f"<{tag}{attr}>{v[1]}</{tag}>"
        return f"<{tag}{attr}>{esc(v)}</{tag}>"

    out = [f'<table class="{esc(cls)}">' if cls else "<table>", "<thead><tr>"]
    out += [cell(h, "th", k) for k, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for n, row in enumerate(rows):
        rid = f' id="{esc(row_ids[n])}"' if row_ids and row_ids[n] else ""
        out.append(f"<tr{rid}>" + "".join(cell(v, "td", k) for k, v in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def markdown_table(head: list[str], rows: list[list], text_columns: int = 3) -> str:
    """A GitHub markdown table: the first `text_columns` left-aligned, the numbers right-aligned."""
    def clean(v):
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(clean(h) for h in head) + " |",
             "|" + "|".join("---" if k < text_columns else "---:" for k in range(len(head))) + "|"]
    lines += ["| " + " | ".join(clean(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- the two tables the report and README share -----------------------------------------------------
RESULT_HEAD = ["protocol", "strategy", "model", "seed", "train images (synthetic)", "val acc %", "test acc % [95% CI]",
               "balanced acc % [95% CI]", "macro-F1 % [95% CI]", "AUROC [95% CI]", "train s", "img/s",
               "GFLOPs/img (train)"]


def result_row(r: dict) -> list:
    val, test = r.get("val") or {}, r.get("test") or {}
    ci = (r.get("ci") or {}).get("test") or {}
    counts, compute = r.get("counts") or {}, r.get("compute") or {}
    return [r.get("protocol", "?"), r.get("strategy", "?"), r.get("model", "?"), r.get("seed", 0),
            f"{counts.get('train_images', '–')} ({counts.get('train_synthetic', 0)})",
            pct(val.get("accuracy")), with_ci(test.get("accuracy"), ci.get("accuracy")),
            with_ci(test.get("balanced_accuracy"), ci.get("balanced_accuracy")),
            with_ci(test.get("macro_f1"), ci.get("macro_f1")), with_ci(test.get("auroc"), ci.get("auroc"), False),
            number(compute.get("train_s"), 0), number(compute.get("train_img_s")),
            gflops((r.get("flops_per_image") or {}).get("train"))]


LEAK_HEAD = ["strategy", "model", "paper protocol: validation acc", "safe protocol: test acc", "gap (points)",
             "paper protocol: test acc"]


def leakage_rows(exp: Experiment) -> list[tuple[str, list]]:
    """(row id, row) for every strategy x model that ran under both protocols (the Results tab's audit)."""
    out = []
    for r in exp.runs.values():
        if r.get("seed_index", 0):   # one row per strategy x model: the first seed's (the split tables pool seeds)
            continue
        strategy, model = r.get("strategy"), r.get("model")
        audit = leakage_audit(exp, strategy, model) if r.get("protocol") == "paper" else None
        if audit is None:
            continue
        pv, st = audit["paper_val"], audit["safe_test"]
        gap = f"{100 * (pv - st):+.1f}" if pv is not None and st is not None else "–"
        out.append((f"leak-{strategy}-{model}",
                    [strategy, model, pct(pv) + "%", pct(st) + "%", gap, pct(audit["paper_test"]) + "%"]))
    return out


LEAK_SENTENCE = ("The paper protocol's validation accuracy is the figure the preprint reports, but its "
                 "validation fold holds geometric copies and GAN samples of training images, so it rewards "
                 "memory; the safe protocol's test accuracy, on real images of patients the model never saw, "
                 "is the honest estimate. Their gap mixes what leakage adds with the shift from a pooled "
                 "validation fold to the official test split; the split of the gap below separates the two.")
