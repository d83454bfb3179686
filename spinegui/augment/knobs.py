"""Every augmentation knob, declared once.

The GUI panel builds its widgets from ``KNOBS``, the TOML config file is read and written from it,
and the run record (DICOM tags, report, copy-as-command) lists it; nothing else names a knob.
A config is a plain ``dict[str, value]`` holding every knob (``defaults()`` fills the gaps).
All defaults are the identity: an all-default config changes nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

# kinds: "float" (one number), "range" ((low, high), drawn uniformly per image),
# "choice" (one of ``choices``), "angles" (a subset of ``choices``; one is drawn per image)
KINDS = ("float", "range", "choice", "angles")


@dataclass(frozen=True)
class Knob:
    name: str
    label: str
    group: str
    kind: str
    default: Any
    low: float = 0.0
    high: float = 1.0
    step: float = 0.01
    unit: str = ""
    help: str = ""
    choices: tuple = ()

    def allowed(self) -> str:
        if self.kind in ("choice", "angles"):
            return ", ".join(str(c) for c in self.choices)
        unit = f" {self.unit}" if self.unit else ""
        return f"{_fmt(self.low)}..{_fmt(self.high)}{unit}"


def _fmt(x: float) -> str:
    return f"{x:g}"


GROUPS = ("Pipeline", "Geometry", "Deformation", "Crop", "Intensity", "Boxes")

KNOBS: tuple[Knob, ...] = (
    Knob("mode", "Mode", "Pipeline", "choice", "all", choices=("all", "one-of"),
         help="all: every enabled transform on each image. one-of: one enabled transform, picked at "
              "random for each image (each right angle counts as its own transform), which is how the "
              "preprint applied its single transforms."),
    Knob("rotation", "Rotation", "Geometry", "range", (0.0, 0.0), -180, 180, 1, "°",
         "Rotation angle drawn uniformly from this range, about the image centre (interpolated)."),
    Knob("rotation_fixed", "Right angles", "Geometry", "angles", (), choices=(90, 180, 270), unit="°",
         help="Rotate by one of the ticked right angles, picked at random: exact, no interpolation. "
              "90 and 270 swap width and height."),
    Knob("hflip", "Horizontal flip", "Geometry", "float", 0.0, 0, 1, 0.05, "",
         "Probability of a left-right flip."),
    Knob("vflip", "Vertical flip", "Geometry", "float", 0.0, 0, 1, 0.05, "",
         "Probability of a top-bottom flip."),
    Knob("scale", "Scale", "Geometry", "range", (1.0, 1.0), 0.5, 2.0, 0.01, "×",
         "Zoom factor drawn from this range, about the image centre."),
    Knob("translate", "Translate", "Geometry", "float", 0.0, 0, 0.5, 0.01, "of size",
         "Largest shift, as a share of the width (x) and of the height (y)."),
    Knob("shear", "Shear", "Geometry", "range", (0.0, 0.0), -45, 45, 1, "°",
         "Horizontal shear angle drawn from this range."),
    Knob("perspective", "Perspective", "Geometry", "float", 0.0, 0, 0.6, 0.01, "",
         "Perspective distortion: each corner moves inwards by up to this share of half the size."),
    Knob("elastic_alpha", "Elastic strength", "Deformation", "float", 0.0, 0, 64, 0.5, "px @512",
         "Largest displacement of the smooth random elastic field, in pixels of a 512-pixel image "
         "(scaled with the image, so a preview and the full image deform alike; 0 = off)."),
    Knob("elastic_sigma", "Elastic smoothness", "Deformation", "float", 32.0, 8, 128, 1, "px @512",
         "Width of the Gaussian that smooths the elastic field, in pixels of a 512-pixel image: "
         "larger is smoother."),
    Knob("crop", "Crop area", "Crop", "range", (1.0, 1.0), 0.1, 1.0, 0.01, "of area",
         "A random crop covering this share of the image area, resized back to the full size "
         "(1 = no crop)."),
    Knob("crop_ratio", "Crop aspect", "Crop", "range", (0.75, 4 / 3), 0.5, 2.0, 0.01, "w/h",
         "Aspect ratio of the crop relative to the image's own, drawn log-uniformly from this range."),
    Knob("brightness", "Brightness", "Intensity", "float", 0.0, 0, 0.5, 0.01, "of range",
         "Shift every pixel by up to this share of the full value range, up or down."),
    Knob("contrast", "Contrast", "Intensity", "float", 0.0, 0, 0.9, 0.01, "",
         "Stretch about mid-grey by a factor drawn from 1 ± this."),
    Knob("gamma", "Gamma", "Intensity", "range", (1.0, 1.0), 0.3, 3.0, 0.01, "",
         "Gamma drawn from this range, applied to values scaled to 0..1."),
    Knob("noise", "Noise", "Intensity", "float", 0.0, 0, 0.2, 0.005, "of range",
         "Standard deviation of added Gaussian noise, as a share of the full value range."),
    Knob("blur", "Blur", "Intensity", "range", (0.0, 0.0), 0, 8, 0.1, "px @512",
         "Gaussian blur sigma drawn from this range, in pixels of a 512-pixel image (0 = sharp)."),
    Knob("min_visibility", "Keep boxes above", "Boxes", "float", 0.3, 0, 1, 0.05, "visible",
         "A box is dropped when less than this share of its transformed area stays inside the "
         "image; kept boxes are clipped to the image."),
    Knob("min_box_size", "Smallest box", "Boxes", "float", 2.0, 0, 64, 1, "px",
         "A clipped box narrower or shorter than this is dropped."),
)

BY_NAME: dict[str, Knob] = {k.name: k for k in KNOBS}

# Knobs that are a transform of their own for "one-of" mode, and the value that switches each off.
TRANSFORM_KNOBS = ("rotation", "rotation_fixed", "hflip", "vflip", "scale", "translate", "shear",
                   "perspective", "elastic_alpha", "crop", "brightness", "contrast", "gamma", "noise",
                   "blur")


class ConfigError(ValueError):
    """A config value that is unknown, of the wrong type or out of range; the message names the key."""


def defaults() -> dict[str, Any]:
    return {k.name: k.default for k in KNOBS}


def validate(values: dict[str, Any], *, partial_ok: bool = True) -> dict[str, Any]:
    """Checked, normalised copy of ``values`` with defaults filled in. Raises ConfigError naming the
    key and the allowed range."""
    out = defaults()
    for key, value in values.items():
        knob = BY_NAME.get(key)
        if knob is None:
            near = difflib.get_close_matches(key, list(BY_NAME), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(f"unknown augmentation setting '{key}'{hint}")
        out[key] = _check(knob, value)
    if not partial_ok and set(values) != set(BY_NAME):
        missing = sorted(set(BY_NAME) - set(values))
        raise ConfigError(f"missing settings: {', '.join(missing)}")
    return out


def _number(knob: Knob, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{knob.name}: expected a number, got {value!r}")
    value = float(value)
    if not (knob.low <= value <= knob.high):
        raise ConfigError(f"{knob.name}: {value:g} is outside the allowed range {knob.allowed()}")
    return value


def _check(knob: Knob, value: Any) -> Any:
    if knob.kind == "float":
        return _number(knob, value)
    if knob.kind == "range":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value, value)
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{knob.name}: expected [low, high], got {value!r}")
        lo, hi = (_number(knob, v) for v in value)
        if lo > hi:
            raise ConfigError(f"{knob.name}: low {lo:g} is above high {hi:g}")
        return (lo, hi)
    if knob.kind == "choice":
        if value not in knob.choices:
            raise ConfigError(f"{knob.name}: {value!r} is not one of {knob.allowed()}")
        return value
    if knob.kind == "angles":
        if not isinstance(value, (list, tuple)):
            value = [value]
        angles = []
        for v in value:
            if isinstance(v, bool) or v not in knob.choices:
                raise ConfigError(f"{knob.name}: {v!r} is not one of {knob.allowed()}")
            angles.append(int(v))
        return tuple(sorted(set(angles)))
    raise AssertionError(knob.kind)


def is_enabled(config: dict[str, Any], name: str) -> bool:
    """Whether a transform knob changes anything at its current value."""
    value = config[name]
    if name == "crop":
        return value[0] < 1.0
    knob = BY_NAME[name]
    if knob.kind == "angles":
        return bool(value)
    if knob.kind == "range":
        identity = 1.0 if name in ("scale", "gamma") else 0.0
        return value != (identity, identity)
    return value != 0.0


def changed(config: dict[str, Any]) -> dict[str, Any]:
    """Only the settings that differ from the defaults (what a command line or a summary shows)."""
    base = defaults()
    return {k: v for k, v in config.items() if v != base[k]}
