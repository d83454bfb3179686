"""The report's experiment-wide sections: header, plan, results, leakage audit, fold manifest, compute."""

from __future__ import annotations

from spinegui.core.results.experiment_folder import PHASES, Experiment, compute_phases, manifest_summary
from spinegui.core.results.report.charts import stacked_bars_svg
from spinegui.core.results.report.svg import esc
from spinegui.core.results.report.tables import (
    LEAK_HEAD,
    LEAK_SENTENCE,
    RESULT_HEAD,
    leakage_rows,
    number,
    result_row,
    seconds,
    table,
)

SETTINGS = ("size", "epochs", "patience", "batch", "optimizer", "lr", "flip", "per_class", "max_real", "val_fraction",
            "on_the_fly", "symmetric", "gan_arch", "gan_steps", "gan_minutes", "gan_epochs", "gan_size", "gan_gate",
            "bootstrap", "seed", "seeds")


def _setting(key: str, value) -> str:
    """0 or None stands for "chosen for you" in these settings (experiment_config says how)."""
    if not value and key in ("lr", "gan_steps", "gan_minutes", "size"):
        return "default"
    if not value and key == "gan_epochs":
        return "no limit"
    return str(value)


def _dl(items: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items if v not in (None, "")) + "</dl>"


def header(run: Experiment) -> str:
    doc, cfg, status, compute = run.doc, run.config, run.status, run.compute
    versions = cfg.get("versions") or {}
    machine = ", ".join(x for x in (
        str(compute.get("device_name") or status.get("device") or compute.get("device") or ""),
        f"host {status['host']}" if status.get("host") else "", versions.get("platform", ""),
        f"Python {versions['python']}" if versions.get("python") else "",
        f"torch {versions['torch']}" if versions.get("torch") else "",
        f"spinegui {versions['spinegui']}" if versions.get("spinegui") else "") if x)
    expected = len(doc.get("protocols") or []) * len(doc.get("strategies") or []) * len(doc.get("models") or [])
    state = status.get("state", "")
    finished = f"{len(run.runs)} of {expected}" if expected else str(len(run.runs))
    when = " to ".join(x for x in (status.get("started"), status.get("ended")) if x)
    settings = ", ".join(f"{k.replace('_', ' ')} {_setting(k, cfg[k])}" for k in SETTINGS if k in cfg)
    case = doc.get("case") or cfg.get("case")
    items = [("case", f"{case}" if case else "custom classes"), ("classes", " vs ".join(run.classes)),
             ("protocols", ", ".join(doc.get("protocols") or [])),
             ("strategies", ", ".join(doc.get("strategies") or [])),
             ("models", ", ".join(doc.get("models") or [])), ("dataset", cfg.get("root", "")),
             ("settings", settings), ("machine", machine),
             ("state", f"{state}; {finished} runs finished" if state else f"{finished} runs finished"),
             ("time", when + (f" (wall {seconds(compute.get('wall_s'))})" if compute.get("wall_s") else ""))]
    return f"<h1>Experiment report: {esc(run.folder.name)}</h1>" + _dl(items)


def plan_section(run: Experiment) -> str:
    """Images per class per strategy, one table per protocol (the preprint's table, with both folds)."""
    plans = [p for p in run.doc.get("plan") or [] if isinstance(p, dict)]
    if not plans:
        return "<p>No plan recorded.</p>"
    out = []
    for protocol in dict.fromkeys(p.get("protocol") for p in plans):
        group = [p for p in plans if p.get("protocol") == protocol]
        folds = group[0].get("folds") or {}
        safe = protocol == "safe"
        head = ["class", "real (train fold)" if safe else "real (pool)", *(["val"] if safe else []), "test"]
        head += [f"{p.get('strategy')}" for p in group]
        rows = []
        for k, c0 in enumerate(group[0].get("classes") or []):
            row = [c0.get("name"), c0.get("real")]
            row += [(folds.get("val") or [None] * (k + 1))[k]] if safe else []
            row.append((folds.get("test") or [None] * (k + 1))[k])
            for p in group:
                c = p["classes"][k]
                extra = " ".join(s for s in (f"+{c['gan']} GAN" if c.get("gan") else "",
                                             f"+{c['geometric']} geo" if c.get("geometric") else "") if s)
                row.append(f"{c.get('total')}" + (f" ({extra})" if extra else ""))
            rows.append(row)
        title = ("safe protocol: split by study first; synthetic images made from, and added to, the training "
                 "fold only" if safe else "paper protocol (leaky, the preprint's): the whole pool augmented, "
                                          "then images split at random")
        out.append(f"<h3>{esc(title)}</h3>" + table(head, rows, "plan"))
        leaks = []
        for p in group:
            lk = p.get("leaks") or {}
            held = lk.get("synthetic_held_out", p.get("synthetic_outside_train"))
            if held is not None:
                shared = lk.get("held_out_sharing_a_study_with_train")
                leaks.append(f"{p.get('strategy')}: {held} synthetic"
                             + (f", {shared} sharing a study with training" if shared is not None else ""))
        if leaks:
            out.append(f"<p class=\"note\">Held-out (validation and test) images: {esc('; '.join(leaks))}.</p>")
    return "".join(out)


def results_section(run: Experiment) -> str:
    if not run.runs:
        return "<p>No run has finished yet.</p>"
    return (table(RESULT_HEAD, [result_row(r) for r in run.runs.values()], "results")
            + "<p class=\"note\">Test metrics on the official test split (real images only) with bootstrap 95% "
              f"intervals (resampling {'studies' if run.stats.get('ci_unit') == 'study' else 'images'}); validation "
              "accuracy on the "
              "protocol's validation fold; train time and img/s of the "
              "classifier's training; FLOPs of one forward and backward pass.</p>")


def leakage_section(run: Experiment) -> str:
    rows = leakage_rows(run)
    if not rows:
        return "<p>The audit needs both protocols (safe and paper) to have run for a strategy and model.</p>"
    return (f"<p>{esc(LEAK_SENTENCE)}</p>"
            + table(LEAK_HEAD, [r for _, r in rows], "leakage", [i for i, _ in rows],
                    ["", "", "paper-val", "safe-test", "gap", ""]))


def manifest_section(run: Experiment) -> str:
    summary = manifest_summary(run.folder / "manifest.csv")
    if summary is None:
        return "<p class=\"check unknown\">manifest.csv not found or unreadable: the fold checks could not be made.</p>"
    out = []
    folds, origins = ("train", "val", "test"), ("real", "geometric", "gan")
    for protocol in dict.fromkeys(p for p, _ in summary.counts):
        head = ["strategy", *[f"{f} {o}" for f in folds for o in origins]]
        rows = [[s, *[c.get((f, o), 0) for f in folds for o in origins]]
                for (p, s), c in summary.counts.items() if p == protocol]
        out.append(f"<h3>{esc(protocol)}</h3>" + table(head, rows, "manifest"))
    if not summary.safe_ran:
        out.append("<p class=\"check unknown\">no synthetic or augmented image in validation or test under safe: "
                   "not applicable (the safe protocol did not run)</p>")
        return "".join(out)
    bad = {s: n for s, n in summary.synthetic_held_out.items() if n}
    detail = "" if not bad else " (" + "; ".join(f"{s}: {n} images" for s, n in bad.items()) + ")"
    verdict = "OK" if not bad else "VIOLATED"
    out.append(f"<p class=\"check {verdict.lower()}\" id=\"safe-check\">no synthetic or augmented image in "
               f"validation or test under safe: <b>{verdict}</b>{esc(detail)}</p>")
    shared = {s: n for s, n in summary.shared_studies.items() if n}
    verdict = "OK" if not shared else "VIOLATED"
    detail = "" if not shared else " (" + "; ".join(f"{s}: {n} images" for s, n in shared.items()) + ")"
    out.append(f"<p class=\"check {verdict.lower()}\" id=\"study-check\">no validation or test image shares a "
               f"study (patient visit) with a training image under safe: <b>{verdict}</b>{esc(detail)}</p>")
    return "".join(out)


def compute_rows(run: Experiment) -> tuple[list[str], list[tuple[str, str, list[float]]]]:
    """(phase names, (protocol, strategy, seconds per phase)) in the experiment's order; a strategy
    whose runs have no cost recorded yet has no bar."""
    rows = [(p, row["strategy"], [row[k] for k in PHASES])
            for p in run.protocols for row in compute_phases(run, p) if row["total"] > 0]
    return list(PHASES.values()), rows


def compute_section(run: Experiment) -> str:
    names, rows = compute_rows(run)
    compute = run.compute
    if not rows:
        return "<p>No compute record (compute.json) found.</p>"
    head = ["protocol", "strategy", *[f"{n} (s)" for n in names], "total (s)"]
    body = [[p, s, *[number(v) for v in values], number(sum(values))] for p, s, values in rows]
    shared = {r.get("stage"): r for r in compute.get("stages") or [] if r.get("stage") in ("cache", "load")}
    facts = [f"whole experiment: {seconds(compute.get('wall_s'))} wall" if compute.get("wall_s") else "",
             f"device {compute.get('device_name') or compute.get('device')}" if compute.get("device") else "",
             f"peak host memory {number((compute.get('peak_rss_bytes') or 0) / 2**30, 2)} GiB"
             if compute.get("peak_rss_bytes") else "",
             f"peak device memory {number(compute['peak_device_memory_bytes'] / 2**30, 2)} GiB"
             if compute.get("peak_device_memory_bytes") else "",
             f"energy {number(compute['energy_j'] / 3.6e6, 3)} kWh" if compute.get("energy_j") else "",
             *(f"shared {k}: {seconds(v.get('wall_s'))}" for k, v in shared.items())]
    bars = stacked_bars_svg(rows, names, "compute cost per strategy, by phase")
    return (table(head, body, "compute")
            + f"<p class=\"note\">{esc('; '.join(f for f in facts if f))}. A GAN trained once for both gan and "
              "hybrid counts in full for each; decoding the images (shared) is not in any row.</p>"
            + f"<figure>{bars.markup()}</figure>")
