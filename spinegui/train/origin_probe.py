"""The origin probe: can a small classifier tell synthetic training images from real ones?

If it can, a classifier of lesions can too, and "odd-looking image" may stand in for "lesion" (the
shortcut the --symmetric setting removes). The probe is L2-regularised logistic regression on
features that carry the usual tell-tales: the image at 8 x 8 (fill corners of rotations, crops),
its radial power spectrum (upsampling blur, GAN texture), the share of fill pixels, intensity and
gradient statistics. It trains on part of a plan's training fold (real against geometric copies
and GAN samples, at most `cap` of each, the two sides weighted equally) and reports the AUROC on the rest: about 0.5
means indistinguishable; WARN_AUROC and above adds a warning. CPU only, a second or two.

The probe measures how visible the origin is, not whether it goes with the class: --symmetric makes
the origin mix the same in every class, so a high AUROC no longer points at one class, but it stays
high as long as copies show their fill corners or GAN samples their texture.
"""

from __future__ import annotations

import numpy as np
import torch

WARN_AUROC = 0.8
SPECTRUM_BINS = 8


def features(images: np.ndarray) -> np.ndarray:
    """(N, S, S) uint16 or [0,1] float -> (N, F) float32."""
    x = torch.from_numpy(np.asarray(images, np.float32))
    if np.issubdtype(np.asarray(images).dtype, np.integer):
        x = x / 65535.0
    n, size = x.shape[0], x.shape[-1]
    small = torch.nn.functional.adaptive_avg_pool2d(x[:, None], 8).reshape(n, -1)
    power = torch.fft.fftshift(torch.fft.fft2(x - x.mean((1, 2), keepdim=True)).abs() ** 2, dim=(-2, -1))
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius = torch.sqrt((yy - size // 2) ** 2 + (xx - size // 2) ** 2.0) / (size / 2)
    bins = torch.clamp((radius * SPECTRUM_BINS).long(), max=SPECTRUM_BINS - 1).reshape(-1)
    spectrum = torch.zeros(n, SPECTRUM_BINS).index_add_(1, bins, power.reshape(n, -1))
    spectrum = torch.log1p(spectrum / torch.bincount(bins, minlength=SPECTRUM_BINS).clamp(min=1))
    gx, gy = x.diff(dim=2).abs(), x.diff(dim=1).abs()
    stats = torch.stack([x.mean((1, 2)), x.std((1, 2)), (x <= 1e-4).float().mean((1, 2)),
                         gx.mean((1, 2)), gy.mean((1, 2)), gx.std((1, 2))], 1)
    return torch.cat([small, spectrum, stats], 1).numpy()


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUROC (ties count half)."""
    pos, neg = score[y == 1], score[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1e-2
         ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Class-weighted (each side half the loss) L2 logistic regression on standardised features."""
    mean, sd = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy((x - mean) / sd).double()
    yt = torch.from_numpy(y).double()
    wt = torch.from_numpy(weight).double()
    w = torch.zeros(xt.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(xt @ w[:-1] + w[-1], yt, weight=wt)
                + l2 * (w[:-1] ** 2).sum())
        loss.backward()
        return loss

    opt.step(closure)
    return mean, sd, w.detach()


def probe(images, synthetic: np.ndarray, seed: int = 0, cap: int = 400, held_out: float = 0.3) -> dict | None:
    """{"auroc", "n", "n_real", "n_synthetic", "held_out", ["warning"]}, or None with fewer than 3 of
    either. `images`: an (N, S, S) array or a function of an index array that reads those images."""
    synthetic = np.asarray(synthetic, bool)
    rng = np.random.default_rng(seed)
    # each side up to `cap`, held out in proportion: AUROC does not depend on the two sides' sizes
    picked = [rng.permutation(np.flatnonzero(synthetic == v))[:cap] for v in (False, True)]
    if min(len(p) for p in picked) < 3:    # two to fit, one to hold out: fewer says nothing
        return None
    cuts = [max(1, round(len(p) * held_out)) for p in picked]
    train = np.concatenate([p[c:] for p, c in zip(picked, cuts)])
    test = np.concatenate([p[:c] for p, c in zip(picked, cuts)])
    read = images if callable(images) else images.__getitem__
    x = features(read(np.concatenate([train, test])))
    y = synthetic[np.concatenate([train, test])].astype(np.float64)
    weight = np.where(y[:len(train)] == 1, 0.5 / y[:len(train)].mean(), 0.5 / (1 - y[:len(train)].mean()))
    mean, sd, w = _fit(x[:len(train)], y[:len(train)], weight)
    xt = torch.from_numpy((x[len(train):] - mean) / sd).double()
    score = (xt @ w[:-1] + w[-1]).numpy()
    value = auroc(y[len(train):], score)
    out = {"auroc": round(value, 4), "n": int(len(y)), "n_real": len(picked[0]), "n_synthetic": len(picked[1]),
           "held_out": int(sum(cuts))}
    if value >= WARN_AUROC:
        out["warning"] = (f"a simple classifier tells synthetic from real training images (AUROC {value:.2f}): "
                          "how an image was made may signal its class; see --symmetric")
    return out
