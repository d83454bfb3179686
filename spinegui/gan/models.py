"""GAN generators and critics for 64, 128 and 256 px single-channel X-rays.

- ``dcgan``: the preprint's first attempt (Radford et al.): transposed convolutions with batch norm
  in both networks, a sigmoid discriminator trained with binary cross-entropy.
- ``wgan-gp`` / ``wgan``: the same generator; the critic has no batch norm (the gradient penalty is
  per sample, Gulrajani et al.) and outputs a score, not a probability.
Class-conditional models take a class index: the generator adds a learned class embedding to the
noise, the critic uses a projection head (Miyato & Koyama), so one model serves several classes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spinegui.gan.spec import ARCHS, MAX_CLASSES, NOISE_DIM, SIZES, WIDTHS  # (also re-exported)


def _channels(size: int, width: int) -> list[int]:
    """Feature maps at 4x4, 8x8, ... up to size/2: width*8 at 4x4, halving each step (min 16)."""
    steps = int(math.log2(size // 4))
    return [max(16, width * 8 // 2 ** i) for i in range(steps)]


class Generator(nn.Module):
    def __init__(self, size: int = 64, width: int = 32, n_classes: int = 1):
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size}")
        ch = _channels(size, width)
        self.size, self.n_classes = size, n_classes
        self.embed = nn.Embedding(n_classes, NOISE_DIM) if n_classes > 1 else None
        self.stem = nn.Sequential(nn.Linear(NOISE_DIM, ch[0] * 16, bias=False),
                                  nn.Unflatten(1, (ch[0], 4, 4)), nn.BatchNorm2d(ch[0]), nn.ReLU(True))
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            blocks += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(True)]
        self.body = nn.Sequential(*blocks, nn.ConvTranspose2d(ch[-1], 1, 4, 2, 1), nn.Tanh())
        _init(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = z + self.embed(labels)
        return self.body(self.stem(z))


class Critic(nn.Module):
    """DCGAN discriminator (batch norm) or WGAN critic (no normalisation); one logit/score each."""

    def __init__(self, size: int = 64, width: int = 32, n_classes: int = 1, batch_norm: bool = False):
        super().__init__()
        ch = list(reversed(_channels(size, width)))   # ch[0] at size/2 ... ch[-1] at 4x4
        layers: list[nn.Module] = [nn.Conv2d(1, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
        self.features = nn.Sequential(*layers, nn.Flatten())
        feat = ch[-1] * 16
        self.head = nn.Linear(feat, 1)
        self.project = nn.Embedding(n_classes, feat) if n_classes > 1 else None
        _init(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(h).squeeze(1)
        if self.project is not None:
            out = out + (self.project(labels) * h).sum(1)
        return out


def build(arch: str, size: int, width: int, n_classes: int) -> tuple[Generator, Critic]:
    # checked here too, before any layer is allocated: a width of 100000 would ask for gigabytes
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if isinstance(size, bool) or size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    for name, value, (low, high) in (("width", width, WIDTHS), ("n_classes", n_classes, (1, MAX_CLASSES))):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return (Generator(size, width, n_classes),
            Critic(size, width, n_classes, batch_norm=(arch == "dcgan")))


def _init(module: nn.Module) -> None:
    # DCGAN's initialisation: N(0, 0.02) weights, batch-norm scales N(1, 0.02).
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
