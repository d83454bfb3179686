"""One run's section of the report (protocol x strategy x model): confusion matrices, per-class
metrics, training curves and ROC curves."""

from __future__ import annotations

from spinegui.core.results.experiment_folder import FOLD_NAMES, Experiment, roc_one_vs_rest
from spinegui.core.results.report.charts import confusion_svg, line_chart_svg, reliability_svg, roc_svg
from spinegui.core.results.report.svg import Svg, esc
from spinegui.core.results.report.tables import number, pct, table


def confusion_figure(run: Experiment, r: dict, split: str) -> Svg | None:
    m = r.get(split) or {}
    if not m.get("confusion"):
        return None
    title = f"{r.get('key', '')}: {FOLD_NAMES[split]} (n={m.get('n', sum(map(sum, m['confusion'])))})"
    return confusion_svg(m["confusion"], run.classes, title, m.get("confusion_normalised"))


def per_class_table(classes: list[str], m: dict) -> str:
    per = m.get("per_class") or {}
    rows = [[c, pct(per[c].get("precision")), pct(per[c].get("recall")), pct(per[c].get("f1")),
             per[c].get("support", "–"), "–" if per[c].get("auroc") is None else f"{per[c]['auroc']:.2f}"]
            for c in classes if c in per]
    return table(["class", "precision %", "recall %", "F1 %", "support", "AUROC"], rows, "per-class")


def curves(r: dict) -> list[Svg]:
    history = r.get("history") or []
    if not history:
        return []
    epochs = [h.get("epoch") for h in history]
    best = r.get("best_epoch")
    marker = (best, f"best (epoch {best})") if best else None
    scores = line_chart_svg([(name, epochs, [h.get(key) for h in history]) for name, key in (
        ("train accuracy", "train_accuracy"), ("val accuracy", "val_accuracy"), ("val macro-F1", "val_macro_f1"))],
        "accuracy and macro-F1", y_label="score", y_range=(0.0, 1.0), marker=marker)
    loss = line_chart_svg([("train loss", epochs, [h.get("train_loss") for h in history])], "training loss",
                          y_label="cross-entropy", marker=marker)
    return [scores, loss]


def roc_figure(run: Experiment, r: dict, split: str = "test") -> Svg | None:
    found = run.predictions.get((r.get("key"), split))
    if found is None:
        return None
    lines = [(name, [], [], None) if c is None else (name, c.fpr.tolist(), c.tpr.tolist(), c.auc)
             for name, c in roc_one_vs_rest(found, run.classes).items()]
    return roc_svg(lines, f"{r.get('key', '')}: ROC one-vs-rest, {FOLD_NAMES[split]}")


def anchor(r: dict) -> str:
    return "run-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(r.get("key", "run")))


def run_section(run: Experiment, r: dict) -> str:
    counts = r.get("counts") or {}
    facts = [f"input {r.get('size')} px" if r.get("size") else "",
             f"{r.get('epochs_run')} epochs" + (" (stopped early)" if r.get("stopped_early") else "")
             if r.get("epochs_run") is not None else "",
             f"best epoch {r['best_epoch']}" if r.get("best_epoch") else "",
             "images " + ", ".join(f"{f} {counts[f + '_images']}" + (
                 f" ({counts[f + '_synthetic']} synthetic)" if counts.get(f + "_synthetic") else "")
                 for f in ("train", "val", "test") if f + "_images" in counts),
             f"train accuracy {pct(r.get('train_accuracy'))}%" if r.get("train_accuracy") is not None else "",
             f"training {number((r.get('compute') or {}).get('train_s'))} s" if r.get("compute") else "",
             f"checkpoint {r['checkpoint']}" if r.get("checkpoint") else "",
             f"seed {r['seed']}" if r.get("seed") else "",
             f"CIs by {r['ci_unit']}" if r.get("ci_unit") else ""]
    out = [f"<section class=\"run\" id=\"{anchor(r)}\"><h3>{esc(r.get('key', '?'))}</h3>",
           f"<p class=\"facts\">{esc('; '.join(f for f in facts if f))}</p>", "<div class=\"row\">"]
    for split in ("val", "test"):
        fig = confusion_figure(run, r, split)
        if fig is not None:
            out.append(f"<figure>{fig.markup()}{per_class_table(run.classes, r[split])}</figure>")
    out.append("</div><div class=\"row\">")
    out += [f"<figure>{svg.markup()}</figure>" for svg in curves(r)]
    roc = roc_figure(run, r)
    if roc is not None:
        out.append(f"<figure>{roc.markup()}</figure>")
    cal = (r.get("calibration") or {}).get("test")
    if cal and cal.get("bins"):
        fig = reliability_svg(cal["bins"], cal.get("ece"), f"{r.get('key', '')}: reliability, test")
        out.append(f"<figure>{fig.markup()}</figure>")
    out.append("</div></section>")
    return "".join(out)
