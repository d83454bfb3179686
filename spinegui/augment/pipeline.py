"""The augmentation pipeline: one image with its boxes (preview, export) or a batch (trainers).

Both paths draw their parameters with params.draw and build the same matrices, so an image warped
alone on the CPU and inside a batch on the GPU gets the same geometry for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spinegui.augment import params as P
from spinegui.augment.knobs import validate


@dataclass
class Augmented:
    image: np.ndarray          # the input's dtype; (H', W') with 90/270 swapping them
    boxes: np.ndarray          # (m, 4) float32 XYXY of the kept boxes, clipped to the image
    kept: np.ndarray           # (k,) bool over the input boxes
    visibility: np.ndarray     # (k,) share of each transformed box inside the image
    params: dict = field(default_factory=dict)   # the drawn parameters, JSON-able

    @property
    def dropped(self) -> int:
        return int(np.count_nonzero(~self.kept))


def default_value_range(image: np.ndarray) -> tuple[float, float]:
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return float(info.min), float(info.max)
    return float(np.min(image)), float(np.max(image))


def _rng(seed: int | None, rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng(seed)


class Augmenter:
    """``Augmenter(config)(image, boxes, seed=...)``; ``config`` is checked (ConfigError names the key)."""

    def __init__(self, config: dict):
        self.config = validate(config)

    def draw(self, n: int, seed: int | None = None, rng: np.random.Generator | None = None) -> P.Params:
        return P.draw(self.config, n, _rng(seed, rng))

    def __call__(self, image: np.ndarray, boxes=None, *, seed: int | None = None,
                 rng: np.random.Generator | None = None, value_range=None) -> Augmented:
        return self.apply(image, boxes, self.draw(1, seed, rng), 0, value_range=value_range)

    def apply(self, image: np.ndarray, boxes, p: P.Params, i: int = 0, *, value_range=None) -> Augmented:
        from spinegui.augment.warp_cpu import adjust_intensity, upsample_field, warp_image

        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D single-channel image, got shape {image.shape}")
        value_range = value_range or default_value_range(image)
        one = _select(p, i)
        h, w = image.shape
        inverse = P.inverse_matrices(one, h, w)[0]
        out_hw = tuple(int(v) for v in P.output_sizes(one, h, w)[0])
        fields_ = P.elastic_fields(one, *out_hw)
        elastic = None if fields_ is None else upsample_field(fields_[0], out_hw)
        out = warp_image(image, inverse, out_hw, value_range[0], elastic)
        if one.has_intensity():
            out = adjust_intensity(out, value_range, brightness=float(one.brightness[0]),
                                   contrast=float(one.contrast[0]), gamma=float(one.gamma[0]),
                                   noise=float(one.noise[0]), noise_seed=int(one.noise_seed[0]),
                                   blur=float(one.blur[0]))
        box_result = self._boxes(boxes, inverse, (h, w), out_hw, elastic)
        return Augmented(out, *box_result, params=one.record(0))

    def _boxes(self, boxes, inverse, in_hw, out_hw, elastic):
        boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, bool), np.zeros(0)
        import torch

        from spinegui.augment.boxes import transform_boxes

        result = transform_boxes(boxes, inverse, in_hw, out_hw, elastic,
                                 min_visibility=self.config["min_visibility"],
                                 min_size=self.config["min_box_size"])
        kept_boxes = result.boxes.as_subclass(torch.Tensor).numpy()[result.kept]
        return kept_boxes.astype(np.float32), result.kept, result.visibility

    def batch(self, images, *, seed: int | None = None, rng: np.random.Generator | None = None,
              value_range=(0.0, 1.0)):
        """(N, C, H, W) or (N, H, W) float tensor -> same, each image with its own draw.

        On CUDA one grid_sample warps the batch; on the CPU each image goes through OpenCV (twice
        torch's speed there). Right angles need square images here, so the batch keeps one shape.
        """
        import torch

        from spinegui.augment.warp_torch import adjust_intensity_batch, warp_batch

        squeeze = images.ndim == 3
        x = images[:, None] if squeeze else images
        n, _, h, w = x.shape
        p = self.draw(n, seed, rng)
        sizes = P.output_sizes(p, h, w)
        if np.any(sizes != (h, w)):
            raise ValueError("90/270 rotations of non-square images change their shape; use square images")
        inverse = P.inverse_matrices(p, h, w)
        elastic = P.elastic_fields(p, h, w)
        fill = float(value_range[0])
        if x.device.type == "cpu":
            out = _warp_batch_cpu(x, inverse, (h, w), fill, elastic)
        else:
            out = warp_batch(x.float(), inverse, (h, w), fill, elastic)
        if p.has_intensity():
            out = adjust_intensity_batch(out, p, value_range, int(p.noise_seed[0]))
        out = out.to(images.dtype) if torch.is_floating_point(images) else out
        return out[:, 0] if squeeze else out


def _warp_batch_cpu(x, inverse, out_hw, fill, elastic):
    import torch

    from spinegui.augment.warp_cpu import upsample_field, warp_image

    src = x.float().contiguous().numpy()
    out = np.empty((x.shape[0], x.shape[1], *out_hw), np.float32)
    for i in range(x.shape[0]):
        field_i = None if elastic is None else upsample_field(elastic[i], out_hw)
        for c in range(x.shape[1]):
            warp_image(src[i, c], inverse[i], out_hw, fill, field_i, out=out[i, c])
    return torch.from_numpy(out)


def _select(p: P.Params, i: int) -> P.Params:
    values = {name: value[i:i + 1] if isinstance(value, np.ndarray) else value
              for name, value in vars(p).items()}
    return P.Params(**values)
