"""The report's statistics (core/results/summary.py): mean ± sd over seeds with the paired difference
against `none`, the three leakage gaps with their intervals, and calibration per run."""

from __future__ import annotations

from spinegui.core.results.experiment_folder import Experiment
from spinegui.core.results.report.svg import esc
from spinegui.core.results.report.tables import pct, table

SEEDS_HEAD = ["protocol", "strategy", "model", "seeds", "test acc % (mean ± sd)", "macro-F1 % (mean ± sd)",
              "Δ macro-F1 vs none (points) [95% CI]", "p", "Δ acc vs none (points) [95% CI]", "p"]
GAPS_HEAD = ["strategy", "model", "paper val − safe val (leak)", "safe val − safe test (shift)",
             "paper val − paper test", "paper val − safe test (old single gap)"]
CALIBRATION_HEAD = ["run", "seed", "ECE test", "ECE val", "AUROC test", "sensitivity at 90% specificity (test)"]


def mean_sd(v: dict | None) -> str:
    if not v or v.get("mean") is None:
        return "–"
    return pct(v["mean"]) + ("" if v.get("sd") is None else f" ± {pct(v['sd'])}")


def points(value, ci=None) -> str:
    """A difference in percentage points, '+4.2 [+1.0, +7.5]'."""
    if value is None:
        return "–"
    text = f"{100 * value:+.1f}"
    return text + (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci and None not in ci else "")


def p_value(p) -> str:
    return "–" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def seeds_row(e: dict) -> list:
    head = [e.get("protocol"), e.get("strategy"), e.get("model"), e.get("n_seeds", "–")]
    if e.get("excluded"):
        return [*head, f"excluded: {e['excluded']}", "", "", "", "", ""]
    f1, acc = e.get("vs_none") or {}, e.get("vs_none_accuracy") or {}
    baseline = e.get("strategy") == "none"
    return [*head, mean_sd(e.get("test_accuracy")), mean_sd(e.get("test_macro_f1")),
            "baseline" if baseline else points(f1.get("diff"), f1.get("ci")), "" if baseline else p_value(f1.get("p")),
            "baseline" if baseline else points(acc.get("diff"), acc.get("ci")),
            "" if baseline else p_value(acc.get("p"))]


def seeds_section(run: Experiment) -> str:
    if not run.summary:
        return "<p>No statistics: no run with predictions has finished yet.</p>"
    unit = run.stats.get("ci_unit", "study")
    rows = [seeds_row(e) for e in run.summary]
    ids = [f"seeds-{e.get('protocol')}-{e.get('strategy')}-{e.get('model')}" for e in run.summary]
    return (table(SEEDS_HEAD, rows, "seeds", ids)
            + "<p class=\"note\">" + esc(
                f"Test metrics as mean ± sample sd over seeds (no sd for one seed). Δ vs none: the strategy's "
                f"metric minus none's on the same test images (same protocol, model and seed; the seeds' "
                f"predictions pooled), with a paired {unit}-level bootstrap ({run.stats.get('resamples', '?')} "
                "resamples): 95% percentile interval and two-sided p = 2 × min(share of differences ≤ 0, "
                "share ≥ 0). Runs whose GAN failed its quality gate are excluded, not summarised.") + "</p>")


def gaps_rows(run: Experiment) -> list[tuple[str, list]]:
    """(row id, row) per strategy x model with both protocols: the three gaps, then the old single one."""
    out = []
    for g in run.leakage:
        folds = g.get("folds") or {}
        old = (folds["paper_val"] - folds["safe_test"]) if {"paper_val", "safe_test"} <= set(folds) else None
        out.append((f"gaps-{g.get('strategy')}-{g.get('model')}", [
            g.get("strategy"), g.get("model"),
            *(points((g.get(k) or {}).get("value"), (g.get(k) or {}).get("ci"))
              for k in ("paper_val_minus_safe_val", "safe_val_minus_safe_test", "paper_val_minus_paper_test")),
            points(old)]))
    return out


def gaps_section(run: Experiment) -> str:
    found = gaps_rows(run)
    if not found:
        return ""
    ids, rows = [i for i, _ in found], [r for _, r in found]
    return ("<h3>The gap, split: leakage and the shift to the official test split</h3>"
            + table(GAPS_HEAD, rows, "gaps", ids)
            + "<p class=\"note\">Accuracy differences in points with 95% intervals from bootstrapping each "
              "fold's studies independently (the folds are different images). paper val − safe val is what "
              "leakage adds on the same kind of fold; safe val − safe test is the shift from the pooled "
              "validation fold to the official test split; (paper val − safe val) + (safe val − safe test) "
              "is the old single gap paper val − safe test.</p>")


def calibration_section(run: Experiment) -> str:
    rows = []
    binary = len(run.classes) == 2
    for r in run.runs.values():
        cal = r.get("calibration") or {}
        test = r.get("test") or {}
        ece = [None if (cal.get(f) or {}).get("ece") is None else f"{cal[f]['ece']:.3f}" for f in ("test", "val")]
        auc = test.get("auroc")
        rows.append([r.get("key"), r.get("seed", 0), ece[0] or "–", ece[1] or "–",
                     "–" if auc is None else f"{auc:.3f}",
                     pct(test.get("sens_at_90_spec")) + "%" if binary and test.get("sens_at_90_spec") is not None
                     else "–"])
    if not rows:
        return "<p>No run has finished yet.</p>"
    return (table(CALIBRATION_HEAD, rows, "calibration")
            + "<p class=\"note\">Expected calibration error of the top-class confidence over 15 equal-width "
              "bins (0 is perfectly calibrated); each run's reliability diagram is in its section below. "
              "Sensitivity at 90% specificity (two classes only; positive = the second, abnormal class): the "
              "best sensitivity of a threshold whose specificity is at least 90%, no interpolation.</p>")
