"""The image the Augmentation panel augments, as the worker knows it, and pure helpers for showing results.

Split out of the Augment panel; nothing here touches a widget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinegui.ui.viewer.view import ViewerImage


@dataclass
class AugmentSource:
    """The image being augmented (the display-cache image) with its boxes, as the worker knows it."""
    image: ViewerImage
    boxes: tuple                        # AnnBox, source pixels
    root: str
    worker_source: dict                 # AugmentEngine.source(): the file the worker memory-maps

    def xyxy(self) -> np.ndarray:
        """(k, 4) boxes in the pixels of the image's array."""
        return np.array([b.xyxy for b in self.boxes], np.float64).reshape(-1, 4) * self.image.scale


def source_extent(image: ViewerImage) -> tuple[int, int]:
    """The image's (width, height) in source pixels."""
    rows, cols = image.pixels.shape
    return round(cols / image.scale), round(rows / image.scale)


def aspect(image: ViewerImage) -> float:
    rows, cols = image.pixels.shape
    return cols / rows


def params_text(params: dict) -> str:
    """The drawn parameters of one augmentation, on one line."""
    if not params:
        return "nothing (identity)"
    parts = []
    for k, v in params.items():
        if isinstance(v, float):
            v = f"{v:.3g}"
        elif isinstance(v, list):
            v = "…"
        parts.append(f"{k} {v}")
    return ", ".join(parts)
