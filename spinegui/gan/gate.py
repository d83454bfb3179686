"""The quality gate of a GAN: does it make images like its class's, or noise, or one image?

Two kinds of evidence, both against real images of the class:
- KID(samples, held-out real) beside a real-vs-real reference, KID(train part, held-out part): a GAN
  whose samples are further from unseen real images than the class's own images are from each other,
  by more than KID_MARGIN, fails. FID is reported too, but at a few dozen images it is strongly biased
  (upwards, by roughly the feature dimension over n), so it decides nothing.
- cheap pixel statistics that catch what KID on a small set can miss: noise and collapse make samples
  far more alike than real images are (mean pairwise distance), often brighter or darker on average
  (mean intensity), and noise has far more high-frequency energy.

The thresholds were set from measurements on the 300-image demo at 64 px (figures below): a 10-step
GAN fails three checks, the default-budget one passes all four. The gate tells noise and collapse
from a GAN that has learnt the class's coarse look; it does not certify realism.
numpy only: the features come from the caller (a gan.feature_net.FeatureNet's ``features``).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spinegui.core.errors import InputError

HOLDOUT_FRACTION = 0.2     # of a class's GAN images, held out from GAN training for the gate
MIN_HELD_OUT = 4           # fewer held-out images make the KID reference meaningless
MIN_GAN_TRAIN = 8          # and fewer training images make no GAN
MIN_CLASS_IMAGES = MIN_HELD_OUT + MIN_GAN_TRAIN
N_SAMPLES = 128            # samples scored per GAN
GRID_SAMPLES = 32          # samples in the gate's PNG grid (8 x 4)

# Thresholds, set from measurements at 64 px with the experiment's recipe on a busy 2-core CPU, GANs of
# the 300-image demo's Osteophytes (88 training images, 22 held out) at 10, 59 and 393 generator steps
# (393 = the 3-minute CPU default there), its No finding (99/25) at 321 steps (3 minutes), and an
# 80-image demo's Osteophytes (18/4) at 10 steps:
#   KID(samples, held-out), standardised features: 195, 165, 12.4 | 63.9 | 119 (real-vs-real
#     reference -0.36 | -1.05 | 6.7): noisy at these sizes, so only a wide margin decides
#   mean pairwise distance, samples / real: 0.11, 0.19, 0.68 | 0.72 | 0.06
#   |mean intensity gap|: 0.26, 0.06, 0.03 | 0.04 | 0.29
#   high-frequency energy, samples / real: 0.60, 0.40, 0.31 | 0.32 | 0.05 (the moving average smooths;
#     a coarse check against blank or pure-noise output only)
KID_MARGIN = 100.0         # KID(samples, held-out) may exceed the real-vs-real reference by this much
SPREAD_RANGE = (0.4, 1.6)  # mean pairwise distance of samples / of real images
MEAN_GAP = 0.08            # |mean intensity of samples - of real images|, images in [0, 1]
HF_RANGE = (0.1, 4.0)      # high-frequency energy of samples / of real images


def holdout_split(ids: list[str], seed: int, fraction: float = HOLDOUT_FRACTION) -> tuple[list[str], list[str]]:
    """(GAN training ids, held-out ids): a seeded share of the class, at least MIN_HELD_OUT."""
    ordered = sorted(ids)
    random.Random(seed).shuffle(ordered)
    n_held = max(MIN_HELD_OUT, round(fraction * len(ordered)))
    return sorted(ordered[n_held:]), sorted(ordered[:n_held])


def check_class_sizes(counts: dict[str, int], where: str) -> None:
    """Refuse, in one line naming the class and its count, a class too small to hold images out."""
    for name, n in counts.items():
        if n < MIN_CLASS_IMAGES:
            raise InputError(None, f"class '{name}' has {n} GAN training images under the {where} protocol; "
                                   f"the GAN quality gate needs at least {MIN_CLASS_IMAGES} ({MIN_HELD_OUT} "
                                   f"held out, {MIN_GAN_TRAIN} to train on): add images or pass --gan-gate off")


def gan_classes(plans, protocol: str, classes: list[str]) -> dict[str, list[str]]:
    """{class: the real image ids its GAN may learn from} for the classes the protocol's plans give GAN
    samples to: the training fold under safe, the whole pool (no test) under paper."""
    mine = [p for p in plans if p.protocol == protocol]
    return {name: sorted({s.source_id for p in mine for s in p.specs if s.origin == "real" and s.label == k
                          and s.fold != "test" and (protocol == "paper" or s.fold == "train")})
            for k, name in enumerate(classes) if any(p.counts[k].gan for p in mine)}


# --- distances -------------------------------------------------------------------------------------
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


def pixel_stats(images01: np.ndarray, seed: int = 0, pairs: int = 2000) -> dict:
    """Mean pairwise L2 distance (sampled pairs), mean intensity, high-frequency energy (mean squared
    difference between neighbouring pixels) of (N, H, W) images in [0, 1]."""
    x = np.asarray(images01, np.float64)
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(x), pairs), rng.integers(0, len(x), pairs)
    keep = i != j
    flat = x.reshape(len(x), -1)
    spread = float(np.linalg.norm(flat[i[keep]] - flat[j[keep]], axis=1).mean()) if keep.any() else 0.0
    hf = float((np.diff(x, axis=1) ** 2).mean() + (np.diff(x, axis=2) ** 2).mean())
    return {"spread": spread, "mean": float(x.mean()), "hf": hf}


def judge(kid_value: float | None, kid_ref: float | None, fake: dict, real: dict) -> list[str]:
    """The reasons a GAN fails (none: it passes)."""
    reasons = []
    if kid_value is None or kid_ref is None:
        reasons.append("KID could not be computed (too few images)")
    elif kid_value > kid_ref + KID_MARGIN:
        reasons.append(f"KID to held-out real images {kid_value:.3f} exceeds the real-vs-real reference "
                       f"{kid_ref:.3f} by more than {KID_MARGIN}")
    spread = fake["spread"] / max(real["spread"], 1e-12)
    if not SPREAD_RANGE[0] <= spread <= SPREAD_RANGE[1]:
        what = "alike (noise or collapse)" if spread < SPREAD_RANGE[0] else "different"
        reasons.append(f"samples are too {what}: mean pairwise distance {fake['spread']:.2f} vs {real['spread']:.2f} "
                       f"between real images")
    if abs(fake["mean"] - real["mean"]) > MEAN_GAP:
        reasons.append(f"mean intensity {fake['mean']:.2f} vs {real['mean']:.2f} in real images")
    hf = fake["hf"] / max(real["hf"], 1e-12)
    if not HF_RANGE[0] <= hf <= HF_RANGE[1]:
        reasons.append(f"high-frequency energy {hf:.2f} times the real images' ({'noise' if hf > 1 else 'blur'})")
    return reasons


def _finite(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 5)


def score(samples01: np.ndarray, train01: np.ndarray, held01: np.ndarray,
          features: Callable[[np.ndarray], np.ndarray], seed: int = 0) -> dict:
    """The gate for one GAN: samples against held-out real images, the train part as the reference."""
    f_fake, f_train, f_held = features(samples01), features(train01), features(held01)
    # standardised by the real training part: KID's scale is then the same whatever the network
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    f_fake, f_train, f_held = (f_fake - mu) / sd, (f_train - mu) / sd, (f_held - mu) / sd
    kid_fake, _ = kid(f_fake, f_held, seed=seed)
    kid_ref, _ = kid(f_train, f_held, seed=seed)
    real01 = np.concatenate([train01, held01])
    fake, real = pixel_stats(samples01, seed), pixel_stats(real01, seed)
    kid_fake, kid_ref = _finite(kid_fake), _finite(kid_ref)
    reasons = judge(kid_fake, kid_ref, fake, real)
    return {"kid": kid_fake, "kid_real_ref": kid_ref,
            "fid": _finite(fid(f_fake, f_held)) if len(f_held) > 2 else None,
            "fid_note": f"biased upwards at {len(f_held)} held-out images; not a decision",
            "n_samples": len(samples01), "n_train": len(train01), "n_held_out": len(held01),
            "pixels": {"samples": {k: round(v, 5) for k, v in fake.items()},
                       "real": {k: round(v, 5) for k, v in real.items()}},
            "gate": "fail" if reasons else "pass", "reasons": reasons}


def grid_png(samples01: np.ndarray, path, columns: int = 8) -> None:
    """The first GRID_SAMPLES samples as one 8-bit PNG grid."""
    from PIL import Image

    tiles = np.clip(np.rint(np.asarray(samples01[:GRID_SAMPLES]) * 255), 0, 255).astype(np.uint8)
    n, h, w = tiles.shape
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * h, columns * w), np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(canvas).save(tmp, format="PNG")
    tmp.replace(path)


# --- an experiment's entries -------------------------------------------------------------------------
GATE_FILE = "gate.json"   # in an experiment's gan/<protocol>/ folder: {class: entry}


def read_entries(protocol_dir) -> dict[str, dict]:
    try:
        doc = json.loads((Path(protocol_dir) / GATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def write_entries(protocol_dir, entries: dict[str, dict]) -> None:
    from spinegui.core.dataset.workspace import atomic_write_bytes

    atomic_write_bytes(Path(protocol_dir) / GATE_FILE, json.dumps(entries, indent=1).encode("utf-8"))


def experiment_gans(run_dir, protocols: list[str]) -> list[dict]:
    """results.json's "gans": every GAN of the experiment, in protocol order."""
    return [e for p in protocols for e in read_entries(Path(run_dir) / "gan" / p).values()]


def mark_runs(runs: list[dict], plans, classes: list[str], gans: list[dict]) -> None:
    """gate: "fail" on every run whose plan took samples from a GAN that failed the gate."""
    failed = {(g["protocol"], g["class"]) for g in gans if g.get("gate") == "fail"}
    uses = {(p.protocol, p.strategy): {classes[k] for k, c in enumerate(p.counts) if c.gan} for p in plans}
    for run in runs:
        bad = sorted(name for name in uses.get((run["protocol"], run["strategy"]), ())
                     if (run["protocol"], name) in failed)
        if bad:
            run["gate"] = "fail"
            run["gate_failed_gans"] = bad
