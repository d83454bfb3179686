"""DiffAugment (Zhao et al., 2020) for single-channel images in [-1, 1]: brightness, contrast,
translation and cutout, differentiable, applied to real and fake images alike so the critic cannot
memorise a tiny class. Randomness comes from the caller's generator (resumable, deterministic)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def diff_augment(x: torch.Tensor, gen: torch.Generator, translation: float = 0.125,
                 cutout: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=gen, device=gen.device).to(dev)   # gen lives on dev: no copy

    x = x + (rand(n, 1, 1, 1) - 0.5)                                     # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (rand(n, 1, 1, 1) + 0.5) + mean                     # contrast
    # translation by up to 1/8 of the size, zero padded
    sx, sy = int(w * translation + 0.5), int(h * translation + 0.5)
    tx = (rand(n) * (2 * sx + 1)).long() - sx
    ty = (rand(n) * (2 * sy + 1)).long() - sy
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    src_y = (gy[None] - ty.view(-1, 1, 1)).clamp(-1, h)
    src_x = (gx[None] - tx.view(-1, 1, 1)).clamp(-1, w)
    padded = F.pad(x, (1, 1, 1, 1))
    idx = (src_y + 1) * (w + 2) + (src_x + 1)
    x = padded.flatten(2).gather(2, idx.view(n, 1, -1)).view(n, 1, h, w)
    # cutout: one square of half the size, anywhere
    ch, cw = int(h * cutout + 0.5), int(w * cutout + 0.5)
    cy = (rand(n) * (h + 1 - ch % 2)).long()
    cx = (rand(n) * (w + 1 - cw % 2)).long()
    inside = ((gy[None] - cy.view(-1, 1, 1)).abs() < ch // 2) & ((gx[None] - cx.view(-1, 1, 1)).abs() < cw // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)
