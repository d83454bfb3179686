"""Boxes follow the image through torchvision's own geometry (transforms.v2 on tv_tensors).

Each box goes in as points on its outline (its corners, or points along its edges when an elastic
field bends the edges), through ``F.perspective`` with the same coefficients as the image warp; the
new box is the points' bounds, clipped with ``F.clamp_bounding_boxes``, and dropped when less than
``min_visibility`` of its area stays inside or when it is thinner than ``min_size`` pixels.

The elastic step inverts the field here instead of with ``F.elastic``: torchvision rounds each point
down to a whole pixel and clamps it into the image first, which moves boxes by up to a pixel and
pulls a box pushed out of the image back onto its edge (so it would never be dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

EDGE_POINTS = 9   # per edge, corners included, when the field is elastic


@dataclass
class BoxResult:
    boxes: tv_tensors.BoundingBoxes   # every input box, clipped, in output pixels (XYXY)
    visibility: np.ndarray            # share of each transformed box's area inside the image
    kept: np.ndarray                  # bool: survived the visibility and size thresholds


def _outline(boxes: np.ndarray, elastic: bool) -> np.ndarray:
    x0, y0, x1, y1 = (boxes[:, i:i + 1] for i in range(4))
    if not elastic:
        return np.stack([np.hstack([x0, x1, x1, x0]), np.hstack([y0, y0, y1, y1])], -1)
    t = np.linspace(0, 1, EDGE_POINTS)[None]
    xs = np.hstack([x0 + (x1 - x0) * t, np.repeat(x1, EDGE_POINTS, 1), x0 + (x1 - x0) * t,
                    np.repeat(x0, EDGE_POINTS, 1)])
    ys = np.hstack([np.repeat(y0, EDGE_POINTS, 1), y0 + (y1 - y0) * t, np.repeat(y1, EDGE_POINTS, 1),
                    y0 + (y1 - y0) * t])
    return np.stack([xs, ys], -1)


def _lookup(field_: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear value of a (2, H, W) field at continuous points (n, 2); the lookup position (not
    the point) is clamped to the image."""
    h, w = field_.shape[1:]
    x = np.clip(pts[:, 0] - 0.5, 0, w - 1)
    y = np.clip(pts[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.minimum(x.astype(int), w - 2 if w > 1 else 0), np.minimum(y.astype(int), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    out = np.empty_like(pts)
    for c in range(2):
        f = field_[c]
        top = f[y0, x0] * (1 - fx) + f[y0, x1] * fx
        bottom = f[y1, x0] * (1 - fx) + f[y1, x1] * fx
        out[:, c] = top * (1 - fy) + bottom * fy
    return out


def invert_elastic(points: np.ndarray, field_: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Output positions r with r + d(r) = q for intermediate points q (the image samples q at r)."""
    r = points - _lookup(field_, points)
    for _ in range(iterations - 1):
        r = points - _lookup(field_, r)
    return r


def transform_boxes(boxes: np.ndarray, inverse: np.ndarray, in_hw: tuple[int, int],
                    out_hw: tuple[int, int], elastic: np.ndarray | None = None, *,
                    min_visibility: float = 0.3, min_size: float = 2.0) -> BoxResult:
    """``inverse`` maps output to input points (continuous coordinates); ``elastic`` is the field
    in output pixels, (2, out_h, out_w): output pixel p shows the un-bent image at p + elastic(p)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out_hw = (int(out_hw[0]), int(out_hw[1]))
    if len(boxes) == 0:
        empty = tv_tensors.BoundingBoxes(torch.zeros((0, 4)), format="XYXY", canvas_size=out_hw)
        return BoxResult(empty, np.zeros(0), np.zeros(0, bool))
    outline = _outline(boxes, elastic is not None)
    per_box = outline.shape[1]
    points = tv_tensors.KeyPoints(torch.from_numpy(outline.reshape(-1, 2).astype(np.float32)), canvas_size=tuple(in_hw))
    coeffs = (inverse / inverse[2, 2]).reshape(-1)[:8].tolist()
    moved = F.perspective(points, None, None, coefficients=coeffs).as_subclass(torch.Tensor)
    if elastic is not None:
        moved = torch.from_numpy(invert_elastic(moved.numpy().astype(np.float64), elastic).astype(np.float32))
    pts = moved.reshape(len(boxes), per_box, 2)
    loose = torch.cat([pts.amin(1), pts.amax(1)], 1)
    clipped = F.clamp_bounding_boxes(loose.clone(), format=tv_tensors.BoundingBoxFormat.XYXY,
                                     canvas_size=out_hw, clamping_mode="hard")
    area = lambda b: (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)  # noqa: E731
    loose_area = area(loose)
    visibility = torch.where(loose_area > 0, area(clipped) / loose_area.clamp(min=1e-9), 0.0).numpy()
    size_ok = ((clipped[:, 2] - clipped[:, 0]) >= min_size) & ((clipped[:, 3] - clipped[:, 1]) >= min_size)
    kept = (visibility >= min_visibility) & size_ok.numpy()
    result = tv_tensors.BoundingBoxes(clipped.float(), format="XYXY", canvas_size=out_hw)
    return BoxResult(result, visibility, kept)
