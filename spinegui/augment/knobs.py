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
    _knob("hflip", "Horizontal flip", "Geometry", "float", 0.0, 0, 1, 0.05, "",
          "Probability of a left-right flip."),
    _knob("vflip", "Vertical flip", "Geometry", "float", 0.0, 0, 1, 0.05, "",
          "Probability of a top-bottom flip."),
    _knob("scale", "Scale", "Geometry", "range", (1.0, 1.0), 0.5, 2.0, 0.01, "×",
          "Zoom factor drawn from this range, about the image centre."),
    _knob("translate", "Translate", "Geometry", "float", 0.0, 0, 0.5, 0.01, "of size",
          "Largest shift, as a share of the width (x) and of the height (y)."),
    _knob("shear", "Shear", "Geometry", "range", (0.0, 0.0), -45, 45, 1, "°",
          "Horizontal shear angle drawn from this range."),
    _knob("perspective", "Perspective", "Geometry", "float", 0.0, 0, 0.6, 0.01, "",
          "Perspective distortion: each corner moves inwards by up to this share of half the size."),
    _knob("elastic_alpha", "Elastic strength", "Deformation", "float", 0.0, 0, 64, 0.5, "px @512",
          "Largest displacement of the smooth random elastic field, in pixels of a 512-pixel image "
          "(scaled with the image, so a preview and the full image deform alike; 0 = off)."),
    _knob("elastic_sigma", "Elastic smoothness", "Deformation", "float", 32.0, 8, 128, 1, "px @512",
          "Width of the Gaussian that smooths the elastic field, in pixels of a 512-pixel image: "
          "larger is smoother."),
    _knob("crop", "Crop area", "Crop", "range", (1.0, 1.0), 0.1, 1.0, 0.01, "of area",
          "A random crop covering this share of the image area, resized back to the full size "
          "(1 = no crop)."),
    _knob("crop_ratio", "Crop aspect", "Crop", "range", (0.75, 4 / 3), 0.5, 2.0, 0.01, "w/h",
          "Aspect ratio of the crop relative to the image's own, drawn log-uniformly from this range."),
    _knob("brightness", "Brightness", "Intensity", "float", 0.0, 0, 0.5, 0.01, "of range",
          "Shift every pixel by up to this share of the full value range, up or down."),
    _knob("contrast", "Contrast", "Intensity", "float", 0.0, 0, 0.9, 0.01, "",
          "Stretch about mid-grey by a factor drawn from 1 ± this."),
    _knob("gamma", "Gamma", "Intensity", "range", (1.0, 1.0), 0.3, 3.0, 0.01, "",
          "Gamma drawn from this range, applied to values scaled to 0..1."),
    _knob("noise", "Noise", "Intensity", "float", 0.0, 0, 0.2, 0.005, "of range",
          "Standard deviation of added Gaussian noise, as a share of the full value range."),
    _knob("blur", "Blur", "Intensity", "range", (0.0, 0.0), 0, 8, 0.1, "px @512",
          "Gaussian blur sigma drawn from this range, in pixels of a 512-pixel image (0 = sharp)."),
    _knob("min_visibility", "Keep boxes above", "Boxes", "float", 0.3, 0, 1, 0.05, "visible",
          "A box is dropped when less than this share of its transformed area stays inside the "
          "image; kept boxes are clipped to the image."),
    _knob("min_box_size", "Smallest box", "Boxes", "float", 2.0, 0, 64, 1, "px",
          "A clipped box narrower or shorter than this is dropped."),
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
