"""The "experiment" job: a case study over protocols x strategies x models, end to end.

1. select the case's images, fill the workspace cache, plan every protocol x strategy (refusing a
   class with no image in a fold), write plan.json and the fold manifest (manifest.csv);
2. per protocol: train the GANs the plans need (on that protocol's images, once: every seed samples
   the same GANs), then per seed (--seeds N: seed, seed+1, ...) make the synthetic images, train and
   evaluate every model; a finished run is kept in runs/<key>.json and skipped on resume, an
   unfinished one goes on from its last checkpoint. Keys are protocol-strategy-model for the first
   seed and protocol-strategy-model-s<i> for seed index i (runs, predictions, checkpoints alike);
   the split and the manifest come from the base seed and are the same for every seed;
3. the origin probe (origin_probe.py) on each plan's training fold (first seed);
4. results.json (every metric, confusion matrices, CIs, history, compute, origin_probe), results.csv
   (one row per protocol x strategy x model x seed), predictions/<key>.csv, compute.json.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spinegui.core import run_events as E
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


def write_results(run_dir: Path, cfg: dict, plans, results: list[dict], ledger, probes: dict | None = None) -> None:
    import os

    if int(os.environ.get("RANK", "0")) != 0:   # under torchrun rank 0 alone writes
        return
    doc = {"format": FORMAT, "classes": cfg["classes"], "case": cfg["case"] or None,
           "protocols": cfg["protocols"], "strategies": cfg["strategies"], "models": cfg["models"],
           "seeds": [cfg["seed"] + i for i in range(cfg.get("seeds", 1))], "symmetric": cfg.get("symmetric", False),
           "plan": [p.as_dict() for p in plans], "runs": results, "origin_probe": probes or {},
           "compute": ledger.summary()}
    from spinegui.gan.gate import experiment_gans, mark_runs

    doc["gans"], doc["gan_gate"] = experiment_gans(run_dir, cfg["protocols"]), cfg.get("gan_gate", "on")
    mark_runs(results, plans, cfg["classes"], doc["gans"])   # rows that used a failed GAN: gate "fail"
    from spinegui.core.results.summary import summarise

    # study-level CIs, mean +- sd over seeds, paired tests against none, leakage gaps, calibration
    doc.update(summarise(run_dir, n=cfg["bootstrap"], seed=cfg["seed"], doc=doc))
    atomic_write_bytes(run_dir / "results.json", json.dumps(doc, indent=1).encode("utf-8"))
    _write_csv(run_dir / "results.csv", CSV_COLUMNS, (csv_row(r) for r in results))


def _predictions(path: Path, classes, data, prob) -> None:
    rows = ({"item_id": i, "true": classes[t], "pred": classes[int(p.argmax())],
             **{f"p_{c}": round(float(v), 6) for c, v in zip(classes, p)}}
            for i, t, p in zip(data.ids, data.labels, prob))
    _write_csv(path, ["item_id", "true", "pred", *[f"p_{c}" for c in classes]], rows)


def run(ctx) -> None:
    """The job's entry (jobs/registry.py names it): set up, plan, then each protocol in turn; returns
    early, leaving what is finished on disk, when the job is cancelled.

    A part of an experiment spread over jobs (train/experiment_parts.py: config "part" and
    "experiment_dir") does only its share into the experiment's folder: "prepare" the cache, plan and
    stores, "gans" one protocol's GANs, "cell" one run; "finish" trains nothing and writes the results."""
    r = _start(ctx)
    if not _plan(r) or r.part.get("name") == "prepare":
        return
    if not r.part and not _spread_locally(r):
        return
    # 2. per protocol: GANs, synthetic images, classifiers
    for protocol in r.cfg["protocols"]:
        if r.part.get("protocol") not in (None, protocol):
            continue
        if not _run_protocol(r, protocol):
            return
    if not r.dist.is_main:    # under torchrun rank 0 alone writes the results and the report
        return
    if r.part.get("name") in ("gans", "cell"):
        ctx.emit(E.PROGRESS, stage="done", step=r.units, total=r.units)
        return
    if r.part.get("name") == "finish":   # a part saw only its own stages: the GANs' cost is in the merged ledger
        for res in r.results:
            res["compute"].update(r.ledger.cost(res["protocol"], res["strategy"], res["model"], seed=res["seed"]))
    write_results(r.run_dir, r.cfg, r.plans, r.results, r.ledger, r.probes)
    try:    # report.html only views results.json: failing to draw it must not fail a finished experiment
        write_report(r.run_dir)
    except Exception as exc:
        ctx.log(f"report.html not written: {exc}")
    if r.part.get("name") == "finish":
        from spinegui.train.experiment_parts import settle_parts

        settle_parts(r.run_dir)
    if r.missing:   # "finish" of a spread experiment: say which runs are missing, keep what is there
        raise RuntimeError(f"{len(r.missing)} runs did not finish ({', '.join(r.missing[:4])}"
                           f"{', ...' if len(r.missing) > 4 else ''}); --resume submits them again")
    ctx.emit(E.PROGRESS, stage="done", step=r.units, total=r.units)


def _spread_locally(r: _Run) -> bool:
    """With several local workers (--parallel, or several GPUs), the GANs and the runs go to job
    processes of their own (train/experiment_parts.py) and this job then only collects. False if cancelled."""
    from spinegui.train import experiment_parts as parts

    workers = parts.local_workers(r.cfg, r.device.type)
    if workers < 2 or r.cfg.get("executor", "local") != "local" or r.dist.active:   # torchrun: the ranks share each run
        return True
    import torch

    gpus = torch.cuda.device_count() if r.device.type == "cuda" else 0
    r.ctx.log(f"{workers} runs at once" + (f" on {gpus} GPUs" if gpus else ""))
    if not parts.run_parallel(r.ctx, r.cfg, r.plans, r.run_dir, workers, gpus):
        return False
    r.part = {"name": "finish"}
    r.cfg = {**r.cfg, "part": r.part}      # fit_gans reads the GANs the parts trained
    r.ledger.merge([d / "compute.json" for d in parts.part_folders(r.run_dir)])
    return True


def finish(ctx) -> None:
    """The last job of an experiment spread over jobs: results from the runs the parts wrote."""
    ctx.config = {**ctx.config, "part": {"name": "finish"}}
    run(ctx)


@dataclass
class _Run:
    """What the steps of one experiment share."""
    ctx: Any
    cfg: dict
    device: Any                     # torch.device
    run_dir: Path
    ledger: Any                     # compute.Ledger
    index: Any                      # the dataset's index
    ws: Any                         # its workspace
    sizes: dict                     # model -> image size
    selection: Any = None
    cache: Any = None
    plans: list = field(default_factory=list)
    reals: dict = field(default_factory=dict)       # size -> the real images' store
    results: list = field(default_factory=list)
    flops: dict = field(default_factory=dict)       # (model, size) -> flops per image
    boxes: dict = field(default_factory=dict)       # size -> {image id: boxes its copies must keep}
    plan_reals: dict = field(default_factory=dict)  # (plan key, size) -> the real store the plan reads
    probes: dict = field(default_factory=dict)      # plan key -> the origin probe's result (or None)
    units: int = 0                  # epochs to train in all (the progress total)
    done_units: int = 0
    part: dict = field(default_factory=dict)        # a spread experiment's share (empty: all of it)
    missing: list = field(default_factory=list)     # "finish": runs no part wrote
    dist: Any = None                # torchkit.distributed.Dist: under torchrun, rank 0 alone writes


def _start(ctx) -> _Run:
    """Settings, device, compute ledger, dataset index and workspace."""
    import torch

    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dataset.workspace import Workspace
    from spinegui.gan.job import pick_device
    from spinegui.torchkit import distributed as D
    from spinegui.train.compute import Ledger

    cfg = experiment_config(ctx.config)
    device = pick_device(cfg["device"], D.local_rank())
    dist = D.setup(device)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    if cfg["threads"]:      # on a busy CPU, one thread per job is often far faster than two that spin
        torch.set_num_threads(cfg["threads"])
    ctx.set_device(str(device))
    run_dir = Path(cfg.get("experiment_dir") or ctx.run_dir)
    part = dict(cfg.get("part") or {})
    ledger = Ledger(device, Path(ctx.run_dir) / "compute.json" if dist.is_main else None, resume=ctx.resume)
    if part.get("name") == "finish":
        ledger.merge(sorted(run_dir.glob("parts/*/compute.json")))
    index = load_index(cfg["root"])
    ws = D.main_first(dist, lambda: Workspace.for_dataset(index.root, cfg["workspace"] or None))   # one creates
    sizes = {m: cfg["size"] or DEFAULT_SIZE[m] for m in cfg["models"]}
    return _Run(ctx, cfg, device, run_dir, ledger, index, ws, sizes, part=part, dist=dist)


def _plan(r: _Run) -> bool:
    """1. cache, plan, manifest; then the real images in memory. False if cancelled."""
    from spinegui.torchkit import distributed as D
    from spinegui.train import experiment_data as X
    from spinegui.train.planner import format_table, plan_case
    from spinegui.train.splits import select

    cfg, ctx, index, seed = r.cfg, r.ctx, r.index, r.cfg["seed"]
    r.selection = select(index, cfg["classes"], max_real=cfg["max_real"], seed=seed)
    if not _fill_cache(r):
        return False
    ids = [i.image_id for i in r.selection.pool + r.selection.test]
    failed = set(r.cache.failures()) & set(ids)
    if failed:
        ctx.log(f"{len(failed)} images could not be decoded and are left out")
        r.selection = select(index, cfg["classes"], max_real=cfg["max_real"], seed=seed, skip=failed)
    for reason, n in r.selection.left_out.items():
        ctx.log(f"left out {n} images: {reason}")
    plans = plan_case(r.selection, cfg["protocols"], cfg["strategies"], cfg["per_class"],
                      val_fraction=cfg["val_fraction"], seed=seed, gan_share=cfg["gan_share"],
                      symmetric=cfg["symmetric"])
    if r.dist.is_main:
        atomic_write_bytes(r.run_dir / "plan.json", json.dumps([p.as_dict() for p in plans], indent=1).encode())
        write_manifest(r.run_dir, plans)
    ctx.log("plan (images per class):\n" + format_table(plans))
    ids = [i.image_id for i in r.selection.pool + r.selection.test]
    sizes = sorted(set(r.sizes.values()))
    with r.ledger.stage("load", images=len(ids) * len(sizes)):
        # under torchrun rank 0 writes the stores, the other ranks then read them
        r.reals = D.main_first(r.dist, lambda: {s: X.real_store(r.run_dir, r.cache, ids, s) for s in sizes})
    labels = {i.image_id: i.label for i in r.selection.pool}
    r.boxes = {s: X.source_boxes(index, r.cache, list(labels), cfg["classes"], labels, s) for s in sizes}
    r.plans = plans
    per_run = cfg["epochs"]
    r.units = per_run if r.part.get("name") == "cell" else len(plans) * len(cfg["models"]) * per_run * cfg["seeds"]
    return True


def _fill_cache(r: _Run) -> bool:
    """Decode the selected images into the workspace cache at every training size. False if cancelled.
    Under torchrun rank 0 fills it; the other ranks wait, then read it."""
    from spinegui.core.dataset.cache import ImageCache
    from spinegui.torchkit import distributed as D
    from spinegui.train import experiment_data as X

    ctx, index = r.ctx, r.index
    if not r.dist.is_main:
        D.barrier(r.dist)
        r.cache = ImageCache(r.ws.cache_dir)
        return not D.any_rank(False, r.dist, r.device)
    r.cache = ImageCache(r.ws.cache_dir)
    ids = [i.image_id for i in r.selection.pool + r.selection.test]
    with r.ledger.stage("cache", images=len(ids)) as rec:
        for size in sorted({X.cache_size(s) for s in r.sizes.values()}):
            report = r.cache.build([(i, index.images[i].path) for i in ids], train_size=size,
                                   workers=r.cfg["workers"] or None, should_stop=ctx.should_stop,
                                   progress=lambda d, t, _: ctx.emit(E.PROGRESS, stage="cache", step=d, total=t))
            rec["images"] = report.decoded
            if report.cancelled:
                break
    D.barrier(r.dist)
    return not D.any_rank(report.cancelled, r.dist, r.device)


def _run_protocol(r: _Run, protocol: str) -> bool:
    """One protocol: the GANs its plans need (on its own images), then every plan's synthetic images
    and models. False if cancelled."""
    from spinegui.train import experiment_data as X

    cfg, classes = r.cfg, r.cfg["classes"]
    pplans = [p for p in r.plans if p.protocol == protocol]
    gan_strategies = [p.strategy for p in pplans if any(c.gan for c in p.counts)]
    need = {name: sorted({s.source_id for p in pplans for s in p.specs if s.origin == "real" and s.label == k
                          and s.fold != "test" and (protocol == "paper" or s.fold == "train")})
            for k, name in enumerate(classes) if any(p.counts[k].gan for p in pplans)}
    if r.part.get("name") == "finish" and need and not X.gans_finished(r.run_dir, protocol, need):
        r.missing += [k for k, *_ in _cells(r, pplans)]     # its GAN part failed: nothing to collect
        return True
    gans = X.fit_gans(r.ctx, cfg, r.index, r.ws, protocol, need, r.device, r.ledger, gan_strategies) if need else {}
    if gans is None:
        return False
    if gans:
        _count_gan_flops(r, protocol)
    if r.part.get("name") == "gans":
        return True
    synth = {}
    for _key, plan, model, index in _cells(r, pplans):   # the GANs are shared: each seed draws its own samples
        if r.part.get("name") == "finish" and index:       # "finish" trains nothing: only the probe reads images
            synth[plan.key, index] = None
        if (plan.key, index) not in synth:
            synth = {(plan.key, index): _synthetic(r, plan, gans, index)}   # one plan's images in memory
            if index == 0 and r.part.get("name") in (None, "finish"):   # not in a one-run part
                _probe(r, plan, synth[plan.key, index])
        if not _run_model(r, plan, model, synth[plan.key, index], index):
            return False
    return True


def cell_key(plan_key: str, model: str, index: int) -> str:
    """A run's key: protocol-strategy-model, and -s<i> for seed index i > 0."""
    return f"{plan_key}-{model}" + (f"-s{index}" if index else "")


def _cells(r: _Run, pplans) -> list[tuple]:
    """(key, plan, model, seed index) of the runs this job does, in the experiment's order."""
    cells = [(cell_key(plan.key, model, index), plan, model, index)
             for index in range(r.cfg["seeds"]) for plan in pplans for model in r.cfg["models"]]
    if r.part.get("name") == "cell":
        cells = [c for c in cells if c[0] == r.part["cell"]]
    return cells


def _count_gan_flops(r: _Run, protocol: str) -> None:
    """The GANs' FLOPs (per generated image, per training image and step) on their ledger records."""
    from spinegui.gan.settings import gan_settings
    from spinegui.train.compute import gan_flops

    cfg = r.cfg
    s = gan_settings({"arch": cfg["gan_arch"], "size": cfg["gan_size"], "width": cfg["gan_width"]})
    flops = gan_flops(s["arch"], s["size"], s["width"], s["n_critic"], s["batch"], r.device)
    r.ledger.gan_flops = flops
    for rec in r.ledger.records:
        if rec["stage"] == "gan_train" and rec.get("protocol") == protocol:
            rec["flops_per_image"] = flops["train_per_image"]
            rec["flops"] = flops
    r.ledger.save()


def _real_for(r: _Run, plan, size: int):
    """The real store a plan reads: under --symmetric with GAN samples, through the GAN's side."""
    from spinegui.train import experiment_data as X

    if (plan.key, size) not in r.plan_reals:
        uses_gan = any(c.gan for c in plan.counts)
        r.plan_reals[plan.key, size] = (X.via_gan_size(r.run_dir, r.reals[size], size, r.cfg["gan_size"])
                                        if r.cfg["symmetric"] and uses_gan else r.reals[size])
    return r.plan_reals[plan.key, size]


def _synthetic(r: _Run, plan, gans: dict, index: int = 0) -> dict:
    """The plan's synthetic images of seed `index` at every size (made, or read back), their cost in
    the ledger (images made, boxes redrawn or lost)."""
    from spinegui.train import experiment_data as X

    synth, seed = {}, r.cfg["seed"] + index
    for size in sorted(set(r.sizes.values())):
        store, made, secs = X.synthetic_store(r.run_dir, plan, _real_for(r, plan, size), size, gans, seed, r.device,
                                              r.cfg["on_the_fly"], boxes=r.boxes.get(size),
                                              tag=f"-s{index}" if index else "", timer=r.ledger.timer)
        synth[size] = store
        tags = {"protocol": plan.protocol, "strategy": plan.strategy, "size": size, "seed": seed}
        if made.get("geometric"):
            r.ledger.add("augment", secs["geometric"], made["geometric"], device_s=secs["geometric_device"],
                         redraws=made.get("redraws", 0),
                         box_lost=made.get("box_lost", 0), **tags)
        if made.get("gan"):
            flops = r.ledger.gan_flops.get("generate_per_image")
            r.ledger.add("generate", secs["gan"], made["gan"], device_s=secs["gan_device"], flops_per_image=flops,
                         **tags)
    return synth


def _probe(r: _Run, plan, synth: dict) -> None:
    """The origin probe on the plan's training fold (smallest size); a warning line when it tells."""
    import torch

    from spinegui.train import experiment_data as X
    from spinegui.train.origin_probe import probe

    size = min(synth)
    data = X.fold_data(plan, "train", _real_for(r, plan, size), synth[size], r.cfg["on_the_fly"])
    specs = plan.fold("train")
    keep = [n for n, s in enumerate(specs) if s.origin != "oversample"]   # repeats: real pixels
    if not any(specs[n].origin != "real" for n in keep):
        r.probes[plan.key] = None
        return
    augment = X.on_the_fly_augmenter(plan.strategy) if r.cfg["on_the_fly"] else None

    def read(idx):
        rows = np.asarray(keep)[idx]
        images = data.images(rows)
        live = np.flatnonzero(data.on_the_fly[rows])
        if augment is not None and len(live):   # on-the-fly copies: one draw, as an epoch would make
            x = torch.from_numpy(images[live].astype(np.float32) / 65535.0)[:, None]
            images[live] = np.rint(augment(x, r.cfg["seed"])[:, 0].numpy() * 65535.0).clip(0, 65535)
        return images

    flags = np.array([specs[n].origin != "real" for n in keep])
    result = probe(read, flags, seed=r.cfg["seed"])
    r.probes[plan.key] = result
    if result:
        r.ctx.log(f"origin probe {plan.key}: synthetic vs real training images AUROC {result['auroc']:.2f} "
                  f"(n={result['n']}; 0.5: indistinguishable)" + ("  WARNING: a shortcut is likely"
                                                                 if "warning" in result else ""))


def _run_model(r: _Run, plan, model: str, synth: dict, index: int = 0) -> bool:
    """Train and evaluate one model on one plan with seed index `index`; one finished before
    (runs/<key>.json) is kept as it is, an unfinished one goes on from its checkpoint. False if cancelled."""
    from spinegui.train import experiment_data as X

    cfg = r.cfg
    key, size = cell_key(plan.key, model, index), r.sizes[model]
    out = r.run_dir / "runs" / f"{key}.json"
    if out.exists():
        r.results.append(json.loads(out.read_text(encoding="utf-8")))
        r.done_units += cfg["epochs"]
        return True
    if r.part.get("name") == "finish":     # "finish" collects; a run no part wrote is reported missing
        r.missing.append(key)
        return True
    real = _real_for(r, plan, size)
    folds = {f: X.fold_data(plan, f, real, synth[size], cfg["on_the_fly"]) for f in ("train", "val", "test")}
    trainer = _trainer(r, plan, model, key, size, cfg["seed"] + index)
    if not _fit(r, plan, model, key, size, trainer, folds):
        return False
    r.done_units += cfg["epochs"]
    trainer.load_best()
    _evaluate(r, plan, model, key, size, trainer, folds, out)
    return True


def _trainer(r: _Run, plan, model: str, key: str, size: int, seed: int):
    """The model's trainer, restored from its checkpoint on resume; its flops counted once per size."""
    from spinegui.train import experiment_data as X
    from spinegui.train.classifier_train import ClassifierTrainer
    from spinegui.train.compute import flops_per_image

    cfg = r.cfg
    trainer = ClassifierTrainer(
        model, cfg["classes"], size, {**{k: cfg[k] for k in ("optimizer", "lr", "weight_decay", "epochs", "batch",
                                                             "patience", "flip")}, "seed": seed},
        r.device, r.run_dir / "checkpoints", key, r.ctx, weights=cfg["weights"].get(model) or None,
        augment=X.on_the_fly_augmenter(plan.strategy) if cfg["on_the_fly"] else None, dist=r.dist)
    if r.ctx.resume and trainer.restore():
        r.ctx.log(f"{key}: resumed at epoch {trainer.state['epoch']}")
    if (model, size) not in r.flops:   # on its own RNG: a run's dropout stream must not depend on the run order
        import torch

        with torch.random.fork_rng(devices=[r.device] if r.device.type == "cuda" else []):
            r.flops[(model, size)] = flops_per_image(trainer.model, size, r.device)
    return trainer


def _fit(r: _Run, plan, model: str, key: str, size: int, trainer, folds: dict) -> bool:
    """Train (the rest of) the model's epochs, its cost in the ledger. False if cancelled."""
    ctx, units = r.ctx, r.units

    def progress(epoch, step, steps, img_s, base=r.done_units, key=key):
        ctx.emit(E.PROGRESS, stage="train", run=key, step=base + epoch, total=units, epoch=epoch + 1,
                 batch=step, batches=steps, img_s=round(img_s, 1))

    seen = _seen(trainer.state)
    with r.ledger.stage("train", protocol=plan.protocol, strategy=plan.strategy, model=model, size=size,
                        seed=trainer.s["seed"]) as rec:
        finished = trainer.fit(folds["train"], folds["val"], progress)
        rec["images"] = _seen(trainer.state) - seen
        rec["flops_per_image"] = r.flops[(model, size)]["train"]
    return finished


def _evaluate(r: _Run, plan, model: str, key: str, size: int, trainer, folds: dict, out: Path) -> None:
    """The best epoch's model on validation and test: predictions, metrics, runs/<key>.json, and
    results.json rewritten with it. Under torchrun rank 0 alone (the others go on to the next run)."""
    from spinegui.core.results.metrics import bootstrap, scores

    if not r.dist.is_main:
        return
    cfg, classes, run_dir = r.cfg, r.cfg["classes"], r.run_dir
    with r.ledger.stage("eval", protocol=plan.protocol, strategy=plan.strategy, model=model, size=size,
                        seed=trainer.s["seed"]) as rec:
        prob = {f: trainer.predict(folds[f]) for f in ("val", "test")}
        rec["images"] = len(folds["val"]) + len(folds["test"])
    result = _result(plan, model, size, trainer, folds, prob, classes, cfg, r.ledger, r.flops[(model, size)],
                     scores, bootstrap) | {"key": key, "seed": trainer.s["seed"],
                                           "seed_index": trainer.s["seed"] - cfg["seed"], "world_size": r.dist.world}
    result["predictions"] = {f: f"predictions/{key}-{f}.csv" for f in ("val", "test")}
    result["checkpoint"] = f"checkpoints/{key}_best.safetensors"
    (run_dir / "predictions").mkdir(exist_ok=True)
    for f in ("val", "test"):
        _predictions(run_dir / "predictions" / f"{key}-{f}.csv", classes, folds[f], prob[f])
    for f in ("val", "test"):
        for name in ("accuracy", "macro_f1", "auroc"):
            r.ctx.emit(E.METRIC, run=key, split=f, name=name, value=result[f][name])
    atomic_write_bytes(out, json.dumps(result, indent=1).encode("utf-8"))
    r.results.append(result)
    if not r.part:     # parts run side by side: only "finish" writes the results
        write_results(run_dir, cfg, r.plans, r.results, r.ledger, r.probes)


def _seen(state: dict) -> int:
    return sum(h["images"] for h in state["history"]) + state["sums"]["seen"]


def _result(plan, model, size, trainer, folds, prob, classes, cfg, ledger, flops, scores, bootstrap) -> dict:
    st = trainer.state
    best = st["history"][st["best_epoch"] - 1] if st["best_epoch"] else {}
    counts = {}
    for f in ("train", "val", "test"):
        specs = plan.fold(f)
        counts[f"{f}_images"] = len(specs)
        counts[f"{f}_synthetic"] = sum(1 for s in specs if s.origin in ("geometric", "gan"))   # not repeats
    seed = trainer.s["seed"]
    cost = ledger.cost(plan.protocol, plan.strategy, model, seed=seed)
    train_recs = [r for r in ledger.records if r["stage"] == "train" and r.get("protocol") == plan.protocol
                  and r.get("strategy") == plan.strategy and r.get("model") == model
                  and r.get("seed", seed) == seed]
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
