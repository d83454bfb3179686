"""Grad-CAM (Selvaraju et al., 2017): where in an image a trained classifier found the evidence for a
class. The last convolutional block's activations A_k are weighted by the mean gradient of the class
logit over each map, summed, passed through ReLU (only evidence *for* the class), upsampled to the
image and scaled to [0, 1].

The image goes through the same geometry as training (letterbox into the model's square input, aspect
kept), and the map is cut back to the image's own area before it is resized, so it lies on the image
pixel for pixel whatever the image's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spinegui.core.dataset.cache import letterbox
from spinegui.core.errors import InputError
from spinegui.train import classifier as C

# The last convolutional block of each model: the deepest maps that still have a spatial layout, and
# so the most class-specific evidence that can be localised (earlier layers localise finer but explain
# less of the decision). resnet18: layer4, the last residual stage (7x7 at 224 px). vgg16: features.29,
# the ReLU after conv5_3 and before the last max-pool (14x14), the layer of the Grad-CAM paper.
# inception_v3: Mixed_7c, the last inception block (8x8 at 299 px).
TARGET_LAYER = {"resnet18": "layer4", "vgg16": "features.29", "inception_v3": "Mixed_7c"}


@dataclass
class GradCamResult:
    heatmap: np.ndarray          # float32, the image's H x W, in [0, 1]
    predicted: int               # the model's class (argmax)
    probabilities: np.ndarray    # float32 per class (softmax)
    target: int                  # the class the heatmap explains
    classes: list[str]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.predicted])


class GradCam:
    """A classifier checkpoint loaded once (safetensors, via the classifier's own loader), for many images."""

    def __init__(self, checkpoint_path: str | Path, device: str | torch.device = "cpu"):
        self.path = Path(checkpoint_path)
        meta = C.checkpoint_meta(self.path)
        self.name, self.size = meta.get("model"), meta.get("size")
        n = meta.get("n_classes")
        if self.name not in TARGET_LAYER or not isinstance(self.size, int) or not isinstance(n, int):
            raise InputError(self.path, f"no Grad-CAM for this checkpoint (model {self.name!r}, size {self.size!r})")
        tensors, meta = C.read_checkpoint(self.path, self.name, n, self.size)
        self.classes = list(meta.get("classes") or [str(k) for k in range(n)])
        self.device = torch.device(device)
        self.model = C.build(self.name, n, self.size)
        C.load_module(self.model, tensors, "model", self.path)
        self.model.to(self.device).eval()
        for parameter in self.model.parameters():     # only the activations' gradient is needed
            parameter.requires_grad_(False)
        self.layer = self.model.get_submodule(TARGET_LAYER[self.name])

    def _input(self, image01: np.ndarray) -> tuple[torch.Tensor, dict]:
        array, geometry = letterbox(image01, self.size)
        x = torch.from_numpy(array.astype(np.float32) / 65535.0)[None, None].to(self.device)
        return C.normalise(x), geometry

    def __call__(self, image01: np.ndarray, target_class: int | None = None) -> GradCamResult:
        image01 = np.asarray(image01, np.float32)
        if image01.ndim != 2 or min(image01.shape) < 1:
            raise InputError(None, f"Grad-CAM wants one grey image (H x W), got shape {image01.shape}")
        if target_class is not None and not 0 <= int(target_class) < len(self.classes):
            raise InputError(None, f"class {target_class} is out of range (this model has {len(self.classes)})")
        x, geometry = self._input(np.clip(np.nan_to_num(image01), 0.0, 1.0))
        saved: dict[str, torch.Tensor] = {}

        def keep(_module, _inputs, output):
            saved["activation"] = output
            output.register_hook(lambda grad: saved.__setitem__("gradient", grad))

        handle = self.layer.register_forward_hook(keep)
        try:
            with torch.enable_grad():        # the caller may be inside no_grad (an inference worker)
                logit, _ = C.logits(self.model(x.requires_grad_(True)))
                probabilities = torch.softmax(logit.detach().float(), 1)[0]
                predicted = int(probabilities.argmax())
                target = predicted if target_class is None else int(target_class)
                logit[0, target].backward()
        finally:
            handle.remove()
        activation, gradient = saved["activation"].detach(), saved["gradient"].detach()
        weights = gradient.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * activation).sum(1, keepdim=True)).float()
        cam = F.interpolate(cam, size=(self.size, self.size), mode="bilinear", align_corners=False)
        (ox, oy), (w, h) = geometry["offset"], geometry["content"]
        cam = F.interpolate(cam[:, :, oy:oy + h, ox:ox + w], size=image01.shape, mode="bilinear", align_corners=False)
        cam = cam[0, 0].cpu().numpy()
        low, high = float(cam.min()), float(cam.max())
        heat = (cam - low) / (high - low) if high > low else np.zeros_like(cam)
        return GradCamResult(heat.astype(np.float32), predicted, probabilities.cpu().numpy().astype(np.float32),
                             target, self.classes)


def gradcam(checkpoint_path: str | Path, image01: np.ndarray, target_class: int | None = None) -> GradCamResult:
    """Grad-CAM of one grey [0, 1] image (any H x W) for `target_class` (default: the predicted class)."""
    return GradCam(checkpoint_path)(image01, target_class)
