"""Is a GAN any good, and does it copy? FID, KID, nearest real image per sample, and the
sample-to-train distance distribution beside train-to-train (memorisation shows as samples much
closer to a training image than training images are to each other).

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
from spinegui.gan.checkpoint import model_slug
from spinegui.gan.data import load_gan_data
from spinegui.gan.feature_net import FeatureNet, inception_from_file, trained_here
from spinegui.gan.sampler import generate, run_models
from spinegui.gan.spec import SIZES

MAX_SAMPLES = 5_000   # per class: features and distances of every sample are held at once


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(cross, 0, None)).sum())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 20, size: int = 100, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel, mean and std over subsets."""
    rng = np.random.default_rng(seed)
    m = min(size, len(a), len(b))
    if m < 2:
        return float("nan"), float("nan")
    d = a.shape[1]
    vals = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = ~np.eye(m, dtype=bool)
        vals.append(kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean())
    return float(np.mean(vals)), float(np.std(vals))


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
    root, size, crops, workspace = _run_config(run_dir)
    models = run_models(run_dir)   # checked (metadata, finite weights) before any work
    index = load_index(root)
    ws = Workspace.for_dataset(index.root, workspace)
    net = feature_network(index, ws, size, crops, inception)
    out_dir = run_dir / "quality"
    out_dir.mkdir(exist_ok=True)
    report: dict = {"feature_net": net.description, "n_samples": n, "seed": seed, "classes": {}}
    for model in models:
        for label, cls in enumerate(model.classes):
            real = load_gan_data(index, [cls], size, crops=crops, workspace=ws)
            samples = generate(model.full, model.meta, n, label if model.meta["n_classes"] > 1 else 0, seed)
            samples01 = samples / 4095.0
            real01 = real.images / 65535.0
            f_real, f_fake = net.features(real01), net.features(samples01)
            idx, d_st, d_tt = nearest(f_fake, f_real)
            threshold = float(np.percentile(d_tt, 5)) if len(d_tt) > 1 else 0.0
            kid_mean, kid_std = kid(f_real, f_fake, seed=seed)
            slug = model_slug(cls)
            np.save(out_dir / f"{slug}_samples.npy", samples)
            report["classes"][cls] = {
                "model": model.name, "epoch": int(model.meta["epoch"]), "n_real": len(real01),
                "fid": fid(f_real, f_fake) if len(real01) > 2 else None,
                "kid": None if np.isnan(kid_mean) else kid_mean, "kid_std": None if np.isnan(kid_std) else kid_std,
                "samples_file": f"quality/{slug}_samples.npy",
                "nearest_real": [real.sources[i] for i in idx],
                "nearest_real_index": idx.tolist(),
                "sample_to_train": d_st.round(5).tolist(),
                "train_to_train": d_tt.round(5).tolist(),
                "memorised_share": float(np.mean(d_st < threshold)),
                "memorisation_threshold": threshold,
                "median_sample_to_train": float(np.median(d_st)),
                "median_train_to_train": float(np.median(d_tt)) if len(d_tt) else None,
            }
    atomic_write_bytes(run_dir / "quality.json", json.dumps(report, indent=1).encode())
    return report


def _run_config(run_dir: Path) -> tuple[str, int, bool, str | None]:
    """(dataset root, image size, crops, workspace) from the run's config.toml, checked."""
    path = run_dir / "config.toml"
    try:
        config = read_toml(path, what="run config")
    except FileNotFoundError:
        raise InputError(run_dir, "not a GAN run folder (no config.toml)") from None
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
    return root, size, crops, workspace


def run_job(ctx) -> None:
    """The "gan-quality" job: evaluate() out of the GUI process; the report is quality.json."""
    c = ctx.config
    ctx.set_device("cpu")
    report = evaluate(c["run"], n=int(c.get("n", 200)), inception=c.get("inception") or None,
                      seed=int(c.get("seed", 0)))
    ctx.emit(E.RESULT, path=str(Path(c["run"]) / "quality.json"), feature_net=report["feature_net"])
