"""Is a GAN any good, and does it copy? FID, KID, nearest real image per sample, and the
sample-to-train distance distribution beside train-to-train (memorisation shows as samples much
closer to a training image than training images are to each other).

Each class also gets the quality gate (gate.py): its samples against a held-out part of the real
images. A GAN tab run trained on all of them, so there the "held-out" part is one it saw (said in
``gate_note``); an experiment's GAN (RUN/gan/<protocol>/, no config.toml: the experiment's settings and
the checkpoint's sidecar say what it is) is compared with the images it trained on (sources.json), and
its gate.json, scored on truly held-out images when it trained, is reported beside.

Writes ``quality.json`` and ``quality/<class>_samples.npy`` in the run folder; the panel and
``spinegui gan-quality`` read the same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spinegui.core import run_events as E
from spinegui.core.dataset.vindr import LESION_TYPES, NO_FINDING, load_index
from spinegui.core.dataset.workspace import Workspace, atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.limits import check_count, read_toml
from spinegui.gan.checkpoint import model_slug, read_meta
from spinegui.gan.data import load_gan_data
from spinegui.gan.feature_net import FeatureNet, inception_from_file, trained_here
from spinegui.gan.gate import MIN_CLASS_IMAGES, fid, holdout_split, kid, read_entries, score
from spinegui.gan.sampler import generate, run_models
from spinegui.gan.spec import SIZES

__all__ = ["evaluate", "fid", "kid", "nearest", "run_job"]   # fid and kid live in gate.py

MAX_SAMPLES = 5_000   # per class: features and distances of every sample are held at once


def nearest(samples: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index of the nearest train image per sample, its distance, each train image's distance to
    its nearest other train image)."""
    d_st = _distances(samples, train)
    d_tt = _distances(train, train)
    np.fill_diagonal(d_tt, np.inf)
    return d_st.argmin(1), d_st.min(1), d_tt.min(1)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.clip(sq, 0, None))


def _multi_hot(index, image_ids: list[str]) -> np.ndarray:
    names = list(LESION_TYPES) + [NO_FINDING]
    out = np.zeros((len(image_ids), len(names)), np.float32)
    for i, image_id in enumerate(image_ids):
        for label in index.images[image_id].labels:
            out[i, names.index(label)] = 1
    return out


def feature_network(index, ws: Workspace, size: int, crops: bool, inception: str | None) -> FeatureNet:
    if inception:
        return inception_from_file(inception)
    every = [name for name in list(LESION_TYPES) + [NO_FINDING]
             if any(name in r.labels for r in index.in_split("train"))]
    data = load_gan_data(index, every, size, crops=False, workspace=ws)
    ids = list(dict.fromkeys(data.sources))
    first = {image_id: data.sources.index(image_id) for image_id in ids}
    images = data.images[[first[i] for i in ids]] / 65535.0
    return trained_here(images, _multi_hot(index, ids), ws.path / "feature_nets")


def evaluate(run_dir, *, n: int = 200, inception: str | None = None, seed: int = 0) -> dict:
    """Quality of every class of a GAN run against its own real training images."""
    run_dir = Path(run_dir)
    n = check_count("--n", n, 2, MAX_SAMPLES)
    root, size, crops, workspace, sources = _run_config(run_dir)
    models = run_models(run_dir)   # checked (metadata, finite weights) before any work
    index = load_index(root)
    ws = Workspace.for_dataset(index.root, workspace)
    net = feature_network(index, ws, size, crops, inception)
    out_dir = run_dir / "quality"
    out_dir.mkdir(exist_ok=True)
    report: dict = {"feature_net": net.description, "n_samples": n, "seed": seed, "classes": {}}
    stored = read_entries(run_dir)
    for model in models:
        for label, cls in enumerate(model.classes):
            real = load_gan_data(index, [cls], size, crops=crops, workspace=ws,
                                 image_ids=sources.get(cls) if sources is not None else None)
            samples = generate(model.full, model.meta, n, label if model.meta["n_classes"] > 1 else 0, seed)
            np.save(out_dir / f"{model_slug(cls)}_samples.npy", samples)
            entry = _class_report(net, real, samples / 4095.0, seed)
            entry.update({"model": model.name, "epoch": int(model.meta["epoch"]),
                          "samples_file": f"quality/{model_slug(cls)}_samples.npy"})
            if cls in stored:
                entry["experiment_gate"] = stored[cls]
            report["classes"][cls] = entry
    atomic_write_bytes(run_dir / "quality.json", json.dumps(report, indent=1).encode())
    return report


def _class_report(net: FeatureNet, real, samples01: np.ndarray, seed: int) -> dict:
    real01 = real.images / 65535.0
    f_real, f_fake = net.features(real01), net.features(samples01)
    idx, d_st, d_tt = nearest(f_fake, f_real)
    threshold = float(np.percentile(d_tt, 5)) if len(d_tt) > 1 else 0.0
    kid_mean, kid_std = kid(f_real, f_fake, seed=seed)
    return {
        "n_real": len(real01), "fid": fid(f_real, f_fake) if len(real01) > 2 else None,
        "kid": None if np.isnan(kid_mean) else kid_mean, "kid_std": None if np.isnan(kid_std) else kid_std,
        "nearest_real": [real.sources[i] for i in idx],
        "nearest_real_index": idx.tolist(),
        "sample_to_train": d_st.round(5).tolist(),
        "train_to_train": d_tt.round(5).tolist(),
        "memorised_share": float(np.mean(d_st < threshold)),
        "memorisation_threshold": threshold,
        "median_sample_to_train": float(np.median(d_st)),
        "median_train_to_train": float(np.median(d_tt)) if len(d_tt) else None,
        **_gate(net, real, samples01, seed),
    }


def _gate(net: FeatureNet, real, samples01: np.ndarray, seed: int) -> dict:
    """The gate against a held-out share of these real images (ones the GAN saw: see the module doc)."""
    ids = list(dict.fromkeys(real.sources))
    if len(ids) < MIN_CLASS_IMAGES:
        return {"gate": {"gate": "fail", "reasons": [f"only {len(ids)} real images; the gate needs "
                                                     f"{MIN_CLASS_IMAGES}"]}}
    first = {image_id: real.sources.index(image_id) for image_id in ids}
    train_ids, held_ids = holdout_split(ids, seed)
    pick = lambda some: real.images[[first[i] for i in some]] / 65535.0   # noqa: E731
    result = score(samples01, pick(train_ids), pick(held_ids), net.features, seed=seed)
    result["gate_note"] = "held-out part of the images the GAN trained on"
    return {"gate": result}


def _run_config(run_dir: Path) -> tuple[str, int, bool, str | None, dict | None]:
    """(dataset root, image size, crops, workspace, {class: image ids} or None) from the run's
    config.toml, or for an experiment's GAN folder from the experiment's and the checkpoint's sidecar."""
    path = run_dir / "config.toml"
    if not path.exists() and (run_dir / "sources.json").exists():
        return _experiment_gan_config(run_dir)
    try:
        config = read_toml(path, what="run config")
    except FileNotFoundError:
        raise InputError(run_dir, "not a GAN run folder (no config.toml) nor an experiment's GAN folder "
                                  "(RUN/gan/safe or RUN/gan/paper)") from None
    if config.get("kind") == "experiment":
        raise InputError(run_dir, "is an experiment folder; its GANs are in gan/safe and gan/paper: pass one of those")
    root, size, crops = config.get("root"), config.get("size", 64), config.get("crops", False)
    workspace = config.get("workspace")
    if not isinstance(root, str) or not root:
        raise InputError(path, "run config has no dataset root")
    if isinstance(size, bool) or size not in SIZES:
        raise InputError(path, f"run config 'size' must be one of {', '.join(map(str, SIZES))}, got {size!r}")
    if not isinstance(crops, bool):
        raise InputError(path, f"run config 'crops' must be true or false, got {crops!r}")
    if workspace is not None and not isinstance(workspace, str):
        raise InputError(path, f"run config 'workspace' must be a folder path, got {workspace!r}")
    return root, size, crops, workspace, None


def _experiment_gan_config(run_dir: Path) -> tuple[str, int, bool, str | None, dict]:
    """An experiment's RUN/gan/<protocol>/: the root and workspace from RUN/config.toml, the size from
    a checkpoint's sidecar, the images each class's GAN saw from sources.json."""
    exp = run_dir.parent.parent / "config.toml"
    try:
        config = read_toml(exp, what="experiment config")
        sources = json.loads((run_dir / "sources.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(run_dir, f"an experiment's GAN folder without a readable experiment config or "
                                  f"sources.json ({exc})") from None
    root, workspace = config.get("root"), config.get("workspace") or None
    if not isinstance(root, str) or not root:
        raise InputError(exp, "experiment config has no dataset root")
    if not isinstance(sources, dict) or not all(isinstance(v, list) for v in sources.values()):
        raise InputError(run_dir / "sources.json", "must map each class to its image ids")
    metas = sorted((run_dir / "checkpoints").glob("*_full.json"))
    if not metas:
        raise InputError(run_dir, "this GAN folder has no checkpoint yet")
    size = read_meta(metas[0].with_suffix(".safetensors")).get("size")
    return root, size, False, workspace if isinstance(workspace, str) else None, sources


def run_job(ctx) -> None:
    """The "gan-quality" job: evaluate() out of the GUI process; the report is quality.json."""
    c = ctx.config
    ctx.set_device("cpu")
    report = evaluate(c["run"], n=int(c.get("n", 200)), inception=c.get("inception") or None,
                      seed=int(c.get("seed", 0)))
    ctx.emit(E.RESULT, path=str(Path(c["run"]) / "quality.json"), feature_net=report["feature_net"])
