"""A batch on the GPU: every image with its own parameters, one grid_sample for the whole batch.

Matrices come from params.py (the same draws as the CPU path); only the per-pixel noise differs by
device. Pure affine batches use affine_grid; perspective or elastic ones build the grid here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spinegui.augment.params import REFERENCE_SIZE, Params


def _normalised(inverse: np.ndarray, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Output->input matrices in grid_sample's [-1, 1] units (align_corners=False)."""
    (ih, iw), (oh, ow) = in_hw, out_hw
    to_cont = np.array([[ow / 2, 0, ow / 2], [0, oh / 2, oh / 2], [0, 0, 1]])
    to_norm = np.array([[2 / iw, 0, -1], [0, 2 / ih, -1], [0, 0, 1]])
    return to_norm @ inverse @ to_cont


def sampling_grid(inverse: np.ndarray, in_hw, out_hw, device, elastic: np.ndarray | None) -> torch.Tensor:
    n = len(inverse)
    theta = torch.from_numpy(_normalised(inverse, in_hw, out_hw).astype(np.float32)).to(device, non_blocking=True)
    oh, ow = out_hw
    if elastic is None and not np.any(inverse[:, 2, :2]):
        return F.affine_grid(theta[:, :2], [n, 1, oh, ow], align_corners=False)
    xs = (torch.arange(ow, device=device, dtype=torch.float32) * 2 + 1) / ow - 1
    ys = (torch.arange(oh, device=device, dtype=torch.float32) * 2 + 1) / oh - 1
    gx, gy = xs.view(1, 1, ow).expand(n, oh, ow), ys.view(1, oh, 1).expand(n, oh, ow)
    if elastic is not None:
        field = torch.from_numpy(elastic).to(device, non_blocking=True)
        field = F.interpolate(field, size=(oh, ow), mode="bilinear", align_corners=False)
        gx = gx + field[:, 0] * (2 / ow)
        gy = gy + field[:, 1] * (2 / oh)
    t = theta.view(n, 3, 3, 1, 1)
    den = t[:, 2, 0] * gx + t[:, 2, 1] * gy + t[:, 2, 2]
    return torch.stack([(t[:, 0, 0] * gx + t[:, 0, 1] * gy + t[:, 0, 2]) / den,
                        (t[:, 1, 0] * gx + t[:, 1, 1] * gy + t[:, 1, 2]) / den], -1)


def warp_batch(x: torch.Tensor, inverse: np.ndarray, out_hw, fill: float, elastic=None) -> torch.Tensor:
    grid = sampling_grid(inverse, tuple(x.shape[-2:]), tuple(out_hw), x.device, elastic)
    if fill:
        return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _column(values: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values, np.float32)).to(x.device, non_blocking=True).view(-1, 1, 1, 1)


def adjust_intensity_batch(x: torch.Tensor, p: Params, value_range, generator_seed: int) -> torch.Tensor:
    lo, hi = float(value_range[0]), float(value_range[1])
    span = (hi - lo) or 1.0
    y = (x - lo) / span
    if np.any(p.blur):
        y = _blur(y, p.blur * max(x.shape[-2:]) / REFERENCE_SIZE)
    if np.any(p.contrast != 1):
        y = (y - 0.5) * _column(p.contrast, y) + 0.5
    if np.any(p.brightness):
        y = y + _column(p.brightness, y)
    if np.any(p.gamma != 1):
        y = y.clamp(0, 1).pow(_column(p.gamma, y))
    if np.any(p.noise):
        gen = torch.Generator(device=y.device).manual_seed(generator_seed)
        y = y + torch.randn(y.shape, generator=gen, device=y.device, dtype=y.dtype) * _column(p.noise, y)
    return y.clamp(0, 1) * span + lo


def _blur(y: torch.Tensor, sigma: np.ndarray) -> torch.Tensor:
    """Separable Gaussian with a per-image sigma: one grouped convolution per axis."""
    n, c, h, w = y.shape
    radius = max(1, int(np.ceil(3 * sigma.max())))
    offsets = torch.arange(-radius, radius + 1, device=y.device, dtype=y.dtype)
    s = torch.from_numpy(np.maximum(sigma, 1e-3).astype(np.float32)).to(y.device).view(-1, 1)
    k = torch.exp(-0.5 * (offsets[None] / s) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)          # (n*c, taps)
    flat = y.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), k.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), k.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, h, w)
