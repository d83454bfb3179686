"""The "experiment" job: a case study over protocols x strategies x models, end to end.

1. select the case's images, fill the workspace cache, plan every protocol x strategy (refusing a
   class with no image in a fold), write plan.json and the fold manifest (manifest.csv);
2. per protocol: train the GANs the plans need (on that protocol's images), make the synthetic
   images, train and evaluate every model; a finished run is kept in runs/<key>.json and skipped on
   resume, an unfinished one goes on from its last checkpoint;
3. results.json (every metric, confusion matrices, CIs, history, compute), results.csv (one row per
   protocol x strategy x model), predictions/<key>.csv, compute.json.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.results.experiment_folder import FORMAT
from spinegui.core.results.report import write_report
from spinegui.train.experiment_config import CSV_COLUMNS, DEFAULT_SIZE, csv_row, experiment_config

MANIFEST_COLUMNS = ("protocol", "strategy", "fold", "item_id", "class", "origin", "source_image_id", "study_id")


def _write_csv(path: Path, columns, rows) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def write_manifest(run_dir: Path, plans) -> None:
    _write_csv(run_dir / "manifest.csv", MANIFEST_COLUMNS, (
        {"protocol": p.protocol, "strategy": p.strategy, "fold": s.fold, "item_id": s.item_id,
         "class": p.classes[s.label], "origin": s.origin, "source_image_id": s.source_id, "study_id": s.study_id}
        for p in plans for s in p.specs))


def write_results(run_dir: Path, cfg: dict, plans, results: list[dict], ledger) -> None:
    doc = {"format": FORMAT, "classes": cfg["classes"], "case": cfg["case"] or None,
           "protocols": cfg["protocols"], "strategies": cfg["strategies"], "models": cfg["models"],
           "plan": [p.as_dict() for p in plans], "runs": results, "compute": ledger.summary()}
    atomic_write_bytes(run_dir / "results.json", json.dumps(doc, indent=1).encode("utf-8"))
    _write_csv(run_dir / "results.csv", CSV_COLUMNS, (csv_row(r) for r in results))


def _predictions(path: Path, classes, data, prob) -> None:
    rows = ({"item_id": i, "true": classes[t], "pred": classes[int(p.argmax())],
             **{f"p_{c}": round(float(v), 6) for c, v in zip(classes, p)}}
            for i, t, p in zip(data.ids, data.labels, prob))
    _write_csv(path, ["item_id", "true", "pred", *[f"p_{c}" for c in classes]], rows)


def run(ctx) -> None:
    import torch

    from spinegui.core.dataset.cache import ImageCache
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dataset.workspace import Workspace
    from spinegui.core.results.metrics import bootstrap, scores
    from spinegui.gan.job import pick_device
    from spinegui.train import experiment_data as X
    from spinegui.train.classifier_train import ClassifierTrainer
    from spinegui.train.compute import Ledger, flops_per_image
    from spinegui.train.planner import format_table, plan_case
    from spinegui.train.splits import select

    cfg = experiment_config(ctx.config)
    device = pick_device(cfg["device"])
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    if cfg["threads"]:      # on a busy CPU, one thread per job is often far faster than two that spin
        torch.set_num_threads(cfg["threads"])
    ctx.set_device(str(device))
    run_dir = Path(ctx.run_dir)
    ledger = Ledger(device, run_dir / "compute.json", resume=ctx.resume)
    index = load_index(cfg["root"])
    ws = Workspace.for_dataset(index.root, cfg["workspace"] or None)
    classes, seed = cfg["classes"], cfg["seed"]
    sizes = {m: cfg["size"] or DEFAULT_SIZE[m] for m in cfg["models"]}
    selection = select(index, classes, max_real=cfg["max_real"], seed=seed)

    # 1. cache, plan, manifest
    cache = ImageCache(ws.cache_dir)
    ids = [i.image_id for i in selection.pool + selection.test]
    with ledger.stage("cache", images=len(ids)) as rec:
        for size in sorted({X.cache_size(s) for s in sizes.values()}):
            report = cache.build([(i, index.images[i].path) for i in ids], train_size=size,
                                 workers=cfg["workers"] or None, should_stop=ctx.should_stop,
                                 progress=lambda d, t, _: ctx.emit("progress", stage="cache", step=d, total=t))
            rec["images"] = report.decoded
            if report.cancelled:
                return
    failed = set(cache.failures()) & set(ids)
    if failed:
        ctx.log(f"{len(failed)} images could not be decoded and are left out")
        selection = select(index, classes, max_real=cfg["max_real"], seed=seed, skip=failed)
    for reason, n in selection.left_out.items():
        ctx.log(f"left out {n} images: {reason}")
    plans = plan_case(selection, cfg["protocols"], cfg["strategies"], cfg["per_class"],
                      val_fraction=cfg["val_fraction"], seed=seed, gan_share=cfg["gan_share"])
    atomic_write_bytes(run_dir / "plan.json", json.dumps([p.as_dict() for p in plans], indent=1).encode())
    write_manifest(run_dir, plans)
    ctx.log("plan (images per class):\n" + format_table(plans))
    ids = [i.image_id for i in selection.pool + selection.test]
    with ledger.stage("load", images=len(ids) * len(set(sizes.values()))):
        reals = {s: X.real_store(run_dir, cache, ids, s) for s in sorted(set(sizes.values()))}

    # 2. per protocol: GANs, synthetic images, classifiers
    results = []
    units, done_units = len(plans) * len(cfg["models"]) * cfg["epochs"], 0
    flops: dict = {}
    for protocol in cfg["protocols"]:
        pplans = [p for p in plans if p.protocol == protocol]
        gan_strategies = [p.strategy for p in pplans if any(c.gan for c in p.counts)]
        need = {name: sorted({s.source_id for p in pplans for s in p.specs if s.origin == "real" and s.label == k
                              and s.fold != "test" and (protocol == "paper" or s.fold == "train")})
                for k, name in enumerate(classes) if any(p.counts[k].gan for p in pplans)}
        gans = X.fit_gans(ctx, cfg, index, ws, protocol, need, device, ledger, gan_strategies) if need else {}
        if gans is None:
            return
        for plan in pplans:
            synth = {}
            for size in sorted(set(sizes.values())):
                store, made, secs = X.synthetic_store(run_dir, plan, reals[size], size, gans, seed, device,
                                                      cfg["on_the_fly"])
                synth[size] = store
                tags = {"protocol": protocol, "strategy": plan.strategy, "size": size}
                if made.get("geometric"):
                    ledger.add("augment", secs["geometric"], made["geometric"], **tags)
                if made.get("gan"):
                    ledger.add("generate", secs["gan"], made["gan"], **tags)
            for model in cfg["models"]:
                key, size = f"{plan.key}-{model}", sizes[model]
                out = run_dir / "runs" / f"{key}.json"
                if out.exists():
                    results.append(json.loads(out.read_text(encoding="utf-8")))
                    done_units += cfg["epochs"]
                    continue
                folds = {f: X.fold_data(plan, f, reals[size], synth[size], cfg["on_the_fly"])
                         for f in ("train", "val", "test")}
                trainer = ClassifierTrainer(
                    model, classes, size, {k: cfg[k] for k in ("optimizer", "lr", "weight_decay", "epochs", "batch",
                                                               "patience", "seed", "flip")},
                    device, run_dir / "checkpoints", key, ctx, weights=cfg["weights"].get(model) or None,
                    augment=X.on_the_fly_augmenter(plan.strategy) if cfg["on_the_fly"] else None)
                if ctx.resume and trainer.restore():
                    ctx.log(f"{key}: resumed at epoch {trainer.state['epoch']}")
                if (model, size) not in flops:
                    flops[(model, size)] = flops_per_image(trainer.model, size, device)

                def progress(epoch, step, steps, img_s, base=done_units, key=key):
                    ctx.emit("progress", stage="train", run=key, step=base + epoch, total=units, epoch=epoch + 1,
                             batch=step, batches=steps, img_s=round(img_s, 1))

                seen = _seen(trainer.state)
                with ledger.stage("train", protocol=protocol, strategy=plan.strategy, model=model, size=size) as rec:
                    finished = trainer.fit(folds["train"], folds["val"], progress)
                    rec["images"] = _seen(trainer.state) - seen
                    rec["flops_per_image"] = flops[(model, size)]["train"]
                if not finished:
                    return
                done_units += cfg["epochs"]
                trainer.load_best()
                with ledger.stage("eval", protocol=protocol, strategy=plan.strategy, model=model, size=size) as rec:
                    prob = {f: trainer.predict(folds[f]) for f in ("val", "test")}
                    rec["images"] = len(folds["val"]) + len(folds["test"])
                result = _result(plan, model, size, trainer, folds, prob, classes, cfg, ledger, flops[(model, size)],
                                 scores, bootstrap)
                (run_dir / "predictions").mkdir(exist_ok=True)
                for f in ("val", "test"):
                    _predictions(run_dir / "predictions" / f"{key}-{f}.csv", classes, folds[f], prob[f])
                for f in ("val", "test"):
                    for name in ("accuracy", "macro_f1", "auroc"):
                        ctx.emit("metric", run=key, split=f, name=name, value=result[f][name])
                atomic_write_bytes(out, json.dumps(result, indent=1).encode("utf-8"))
                results.append(result)
                write_results(run_dir, cfg, plans, results, ledger)
    write_results(run_dir, cfg, plans, results, ledger)
    try:    # report.html only views results.json: failing to draw it must not fail a finished experiment
        write_report(run_dir)
    except Exception as exc:
        ctx.log(f"report.html not written: {exc}")
    ctx.emit("progress", stage="done", step=units, total=units)


def _seen(state: dict) -> int:
    return sum(h["images"] for h in state["history"]) + state["sums"]["seen"]


def _result(plan, model, size, trainer, folds, prob, classes, cfg, ledger, flops, scores, bootstrap) -> dict:
    st = trainer.state
    best = st["history"][st["best_epoch"] - 1] if st["best_epoch"] else {}
    counts = {}
    for f in ("train", "val", "test"):
        specs = plan.fold(f)
        counts[f"{f}_images"] = len(specs)
        counts[f"{f}_synthetic"] = sum(1 for s in specs if s.origin != "real")
    cost = ledger.cost(plan.protocol, plan.strategy, model)
    train_recs = [r for r in ledger.records if r["stage"] == "train" and r.get("protocol") == plan.protocol
                  and r.get("strategy") == plan.strategy and r.get("model") == model]
    cost["train_img_s"] = train_recs[-1]["img_s"] if train_recs else None
    split_seed = {"val": 1, "test": 2}
    return {
        "key": f"{plan.key}-{model}", "protocol": plan.protocol, "strategy": plan.strategy, "model": model,
        "size": size, "counts": counts, "epochs_run": len(st["history"]), "best_epoch": st["best_epoch"],
        "stopped_early": len(st["history"]) < cfg["epochs"],
        "train_accuracy": best.get("train_accuracy"),
        **{f: scores(folds[f].labels, prob[f], classes) for f in ("val", "test")},
        "ci": {f: bootstrap(folds[f].labels, prob[f], len(classes), cfg["bootstrap"], cfg["seed"] + split_seed[f])
               for f in ("val", "test")},
        "history": st["history"], "flops_per_image": flops, "compute": cost,
        "predictions": {f: f"predictions/{plan.key}-{model}-{f}.csv" for f in ("val", "test")},
        "checkpoint": f"checkpoints/{plan.key}-{model}_best.safetensors",
    }
