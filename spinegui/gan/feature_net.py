"""Feature networks for FID/KID and nearest-neighbour search, available offline.

- Inception v3 (torchvision's architecture) from a local weights file the user has: safetensors, or a
  .pth read with ``weights_only=True`` (never unpickling code). 2048-d pool features at 299 px.
  Its FID is not comparable with published figures, which use the TF-Inception weights.
- Otherwise a small CNN trained here on the real training images (image-level lesion labels,
  multi-label), cached in the workspace so the next report reuses it. 128-d features.
Every result names the network it used (``FeatureNet.description``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spinegui.core.errors import InputError

SMALL_SIZE = 64


@dataclass
class FeatureNet:
    model: nn.Module
    input_size: int
    description: str
    three_channels: bool

    @torch.no_grad()
    def features(self, images01: np.ndarray, batch: int = 64) -> np.ndarray:
        """(N, H, W) float images in [0, 1] -> (N, D) float64 features."""
        self.model.eval()
        out = []
        for start in range(0, len(images01), batch):
            x = torch.from_numpy(np.asarray(images01[start:start + batch], np.float32)).unsqueeze(1)
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
            if self.three_channels:
                mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
                std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
                x = (x.repeat(1, 3, 1, 1) - mean) / std
            else:
                x = x * 2 - 1
            out.append(self.model(x).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1))


class SmallNet(nn.Module):
    def __init__(self, n_labels: int, dim: int = 128):
        super().__init__()
        chans = [1, 32, 64, 128, 128]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(True), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, dim))
        self.head = nn.Linear(dim, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # the embedding; the head only trains it
        return self.body(x)


def inception_from_file(path: str | Path) -> FeatureNet:
    from torchvision.models import inception_v3

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "Inception v3 weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is the user's input problem
        raise InputError(path, f"cannot read Inception v3 weights: {str(exc).splitlines()[0][:200]}") from None
    # transform_input: torchvision's weights expect its own re-normalisation of ImageNet input
    model = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(path, f"not torchvision Inception v3 weights: {str(exc).splitlines()[0][:200]}") from None
    model.fc = nn.Identity()
    return FeatureNet(model, 299, f"Inception v3, weights from {path.name} (2048-d pool features; "
                                  f"not comparable with published FID)", True)


def trained_here(images01: np.ndarray, labels: np.ndarray, cache_dir: Path, *, epochs: int = 12,
                 seed: int = 0) -> FeatureNet:
    """A SmallNet trained on these real images (multi-hot labels), cached by content hash."""
    labels = np.asarray(labels, np.float32)
    digest = hashlib.sha1(np.ascontiguousarray(images01[:, ::4, ::4]).tobytes() + labels.tobytes()
                          + f"{epochs},{seed}".encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"feature_net_{digest}.safetensors"
    model = SmallNet(labels.shape[1])
    desc = (f"spinegui small CNN trained here on {len(images01)} real training images "
            f"({labels.shape[1]} labels, {epochs} epochs; 128-d features)")
    if path.exists():
        from safetensors.torch import load_file
        model.load_state_dict(load_file(str(path)))
        return FeatureNet(model, SMALL_SIZE, desc, False)
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(images01, np.float32)).unsqueeze(1)
    x = F.interpolate(x, size=(SMALL_SIZE, SMALL_SIZE), mode="bilinear", align_corners=False) * 2 - 1
    y = torch.from_numpy(labels)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(32):
            xb = x[idx]
            xb = torch.where(torch.rand(len(idx), 1, 1, 1, generator=gen) < 0.5, xb, xb.flip(-1))
            loss = F.binary_cross_entropy_with_logits(model.head(model(xb)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    from safetensors.torch import save_file
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps({"description": desc}))
    return FeatureNet(model, SMALL_SIZE, desc, False)
