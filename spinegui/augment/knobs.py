"""Every augmentation knob, declared once (a ``spinegui.core.params.ParamSet``).

The GUI panel builds its widgets from ``KNOBS``, the TOML config file is read and written from it,
and the run record (DICOM tags, report, copy-as-command) lists it; nothing else names a knob.
A config is a plain ``dict[str, value]`` holding every knob (``defaults()`` fills the gaps).
All defaults are the identity: an all-default config changes nothing.
"""

from __future__ import annotations

from typing import Any

from spinegui.core.params import Param, ParamError, ParamSet

Knob = Param
ConfigError = ParamError   # the name callers catch


def _knob(name: str, label: str, group: str, kind: str, default: Any, low: float = 0.0, high: float = 1.0,
          step: float = 0.01, unit: str = "", help: str = "", choices: tuple = ()) -> Param:
    """A knob in the short positional form of the table below."""
    return Param(name, kind, default, low, high, step, unit, help, group, label, choices)


GROUPS = ("Pipeline", "Geometry", "Deformation", "Crop", "Intensity", "Boxes")

KNOBS: tuple[Knob, ...] = (
    _knob("mode", "Mode", "Pipeline", "choice", "all", choices=("all", "one-of"),
          help="all: every enabled transform on each image. one-of: one enabled transform, picked at "
               "random for each image (each right angle counts as its own transform), which is how the "
               "preprint applied its single transforms."),
    _knob("rotation", "Rotation", "Geometry", "range", (0.0, 0.0), -180, 180, 1, "°",
          "Rotation angle drawn uniformly from this range, about the image centre (interpolated)."),
    _knob("rotation_fixed", "Right angles", "Geometry", "subset", (), choices=(90, 180, 270), unit="°",
          help="Rotate by one of the ticked right angles, picked at random: exact, no interpolation. "
               "90 and 270 swap width and height."),
    _knob("hflip", "Mirror left-right", "Geometry", "float", 0.0, 0, 1, 0.05, "chance",
          "Chance (0 to 1) that an image is mirrored left to right: 0.5 = every other image."),
    _knob("vflip", "Flip upside down", "Geometry", "float", 0.0, 0, 1, 0.05, "chance",
          "Chance (0 to 1) that an image is flipped top to bottom."),
    _knob("scale", "Zoom", "Geometry", "range", (1.0, 1.0), 0.5, 2.0, 0.01, "×",
          "Zoom factor, picked at random between the two values, about the image centre: 1.2 = 20 % "
          "larger, 0.8 = 20 % smaller."),
    _knob("translate", "Shift", "Geometry", "float", 0.0, 0, 0.5, 0.01, "× size",
          "Largest shift sideways and up or down, as a fraction of the image's width and height: "
          "0.1 = up to a tenth of the width sideways and a tenth of the height up or down."),
    _knob("shear", "Slant", "Geometry", "range", (0.0, 0.0), -45, 45, 1, "°",
          "Shear: the image is slanted sideways by an angle picked between the two values, in degrees."),
    _knob("perspective", "Perspective tilt", "Geometry", "float", 0.0, 0, 0.6, 0.01, "× half size",
          "As if the image were tilted towards the viewer: each corner moves inwards by up to this "
          "fraction of half the image's size (0 = off)."),
    _knob("elastic_alpha", "Warp strength", "Deformation", "float", 0.0, 0, 64, 0.5, "px per 512 px",
          "Elastic warp: how far, at most, a smooth random field moves the pixels. In pixels per 512 "
          "pixels of image size (an image 2048 pixels across moves 4 times as many pixels), so a "
          "preview and the full image warp alike; 0 = off."),
    _knob("elastic_sigma", "Warp smoothness", "Deformation", "float", 32.0, 8, 128, 1, "px per 512 px",
          "How wide the warp's bends are: the width of the Gaussian that smooths the random field, in "
          "pixels per 512 pixels of image size. Larger is smoother and gentler."),
    _knob("crop", "Crop size", "Crop", "range", (1.0, 1.0), 0.1, 1.0, 0.01, "× area",
          "A random crop covering this fraction of the image's area (picked between the two values), "
          "resized back to the full size: 0.8 = 80 % of the area; 1 = no crop."),
    _knob("crop_ratio", "Crop shape", "Crop", "range", (0.75, 4 / 3), 0.5, 2.0, 0.01, "× image's width/height",
          "How much wider (above 1) or taller (below 1) the crop is than the image's own shape (its "
          "width / height), picked between the two values."),
    _knob("brightness", "Brightness", "Intensity", "float", 0.0, 0, 0.5, 0.01, "× value range",
          "Every pixel is made brighter or darker by up to this fraction of the full range of pixel "
          "values: 0.1 = up to 10 % of the range."),
    _knob("contrast", "Contrast", "Intensity", "float", 0.0, 0, 0.9, 0.01, "± factor",
          "Contrast is stretched or flattened about mid-grey by a factor picked between 1 - this and "
          "1 + this: 0.2 = between 0.8 and 1.2 times."),
    _knob("gamma", "Gamma", "Intensity", "range", (1.0, 1.0), 0.3, 3.0, 0.01, "",
          "Gamma curve, picked between the two values, on pixel values scaled to 0..1: below 1 "
          "brightens the dark parts, above 1 darkens them."),
    _knob("noise", "Noise", "Intensity", "float", 0.0, 0, 0.2, 0.005, "× value range",
          "Random grain: Gaussian noise whose standard deviation is this fraction of the full range of "
          "pixel values (0.02 = 2 %)."),
    _knob("blur", "Blur", "Intensity", "range", (0.0, 0.0), 0, 8, 0.1, "px per 512 px",
          "Gaussian blur radius (sigma), picked between the two values, in pixels per 512 pixels of "
          "image size (0 = sharp)."),
    _knob("min_visibility", "Drop boxes mostly outside", "Boxes", "float", 0.3, 0, 1, 0.05, "× box area",
          "A lesion box is dropped when less than this fraction of its area is left inside the image "
          "after the transform (0.3 = keep it while 30 % or more is still in the picture); kept "
          "boxes are cut at the image edge."),
    _knob("min_box_size", "Drop boxes smaller than", "Boxes", "float", 2.0, 0, 64, 1, "px",
          "A box narrower or shorter than this many pixels, once cut at the image edge, is dropped."),
)

KNOB_SET = ParamSet(KNOBS, what="augmentation setting", groups=GROUPS)
BY_NAME: dict[str, Knob] = KNOB_SET.by_name

# Knobs that are a transform of their own for "one-of" mode, and the value that switches each off.
TRANSFORM_KNOBS = ("rotation", "rotation_fixed", "hflip", "vflip", "scale", "translate", "shear",
                   "perspective", "elastic_alpha", "crop", "brightness", "contrast", "gamma", "noise",
                   "blur")


def defaults() -> dict[str, Any]:
    return KNOB_SET.defaults()


def validate(values: dict[str, Any], *, partial_ok: bool = True) -> dict[str, Any]:
    """Checked, normalised copy of ``values`` with defaults filled in. Raises ConfigError naming the
    key and the allowed range."""
    return KNOB_SET.validate(values, partial_ok=partial_ok)


def is_enabled(config: dict[str, Any], name: str) -> bool:
    """Whether a transform knob changes anything at its current value."""
    value = config[name]
    if name == "crop":
        return value[0] < 1.0
    knob = BY_NAME[name]
    if knob.kind == "subset":
        return bool(value)
    if knob.kind == "range":
        identity = 1.0 if name in ("scale", "gamma") else 0.0
        return value != (identity, identity)
    return value != 0.0


def changed(config: dict[str, Any]) -> dict[str, Any]:
    """Only the settings that differ from the defaults (what a command line or a summary shows)."""
    return KNOB_SET.changed(config)
