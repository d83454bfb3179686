"""Heatmap overlays (Grad-CAM): a jet-like colour map and its blend over a grey image. numpy only,
so the viewer can draw an overlay without torch, and the CLI writes the same picture."""

from __future__ import annotations

import numpy as np


def jet(values: np.ndarray) -> np.ndarray:
    """[0, 1] -> uint8 RGB (..., 3): dark blue, blue, cyan, yellow, red, dark red (MATLAB's jet)."""
    v = np.clip(np.nan_to_num(np.asarray(values, np.float32)), 0.0, 1.0)[..., None]
    centres = np.array([0.75, 0.5, 0.25], np.float32)       # where R, G and B peak
    rgb = np.clip(1.5 - np.abs(4.0 * (v - centres)), 0.0, 1.0)
    return np.rint(rgb * 255.0).astype(np.uint8)


def overlay(image01: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """uint8 H x W x 3: the grey image with jet(heat) blended over it. `alpha` is the colour's weight
    where heat is 1; it falls to half of that where heat is 0, so the anatomy stays readable under
    cold regions instead of sinking under uniform dark blue."""
    image01 = np.asarray(image01, np.float32)
    heat = np.asarray(heat, np.float32)
    if image01.shape != heat.shape:
        raise ValueError(f"image {image01.shape} and heatmap {heat.shape} differ in size")
    grey = np.repeat(np.clip(image01, 0.0, 1.0)[..., None] * 255.0, 3, axis=-1)
    weight = (alpha * (0.5 + 0.5 * np.clip(heat, 0.0, 1.0)))[..., None]
    return np.rint(grey * (1.0 - weight) + jet(heat).astype(np.float32) * weight).astype(np.uint8)
