"""GAN training settings: declared once (name, default, range, help) for the CLI, the panel and
config.toml. ``None`` for an optimiser setting means "the architecture's published default"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spinegui.core.errors import InputError
from spinegui.gan.spec import ARCHS, SIZES


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    help: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("arch", "wgan-gp", choices=ARCHS,
            help="wgan-gp: gradient penalty (default); wgan: weight clipping, as the preprint; dcgan: "
                 "the preprint's first attempt"),
    Setting("size", 64, choices=SIZES, help="image side in pixels"),
    Setting("width", 32, 8, 256, help="base feature maps of both networks (32 trains fast on a CPU)"),
    Setting("epochs", 200, 1, 100000, help="passes of the critic over the class's images"),
    Setting("batch", 64, 1, 4096, help="images per step (clamped to the class's image count)"),
    Setting("crops", False, help="train on lesion-centred crops around the boxes, not whole images"),
    Setting("conditional", False, help="one class-conditional model for all classes instead of one "
                                        "model per class"),
    Setting("diffaugment", False, help="differentiable augmentation of real and fake images "
                                        "(translation, cutout, brightness): helps tiny classes"),
    Setting("n_critic", None, 1, 20, help="critic steps per generator step (wgan-gp/wgan 5, dcgan 1)"),
    Setting("gp_weight", 10.0, 0, 1000, help="gradient-penalty weight (wgan-gp)"),
    Setting("clip", 0.01, 0.0001, 1, help="weight-clipping bound (wgan)"),
    Setting("lr_g", None, 1e-6, 1e-1, help="generator learning rate (wgan-gp 1e-4, wgan 5e-5, dcgan 2e-4)"),
    Setting("lr_d", None, 1e-6, 1e-1, help="critic learning rate (as lr_g by default)"),
    Setting("beta1", None, 0, 0.999, help="Adam beta1 (wgan-gp 0.0, dcgan 0.5)"),
    Setting("beta2", None, 0, 0.9999, help="Adam beta2 (wgan-gp 0.9, dcgan 0.999)"),
    Setting("ema", 0.999, 0, 0.9999, help="samples come from a moving average of the generator's weights "
                                          "with this decay per generator step (warmed up over the first "
                                          "steps); smoother, more stable samples. 0: the generator itself"),
    Setting("sample_every", 0, 0, 100000, help="epochs between sample grids (0: about 20 grids a run)"),
    Setting("keep_last", 10, 1, 1000, help="generator snapshots kept from the last epochs (harvesting)"),
    Setting("cuda_graphs", False, help="on a GPU, replay each training step as one CUDA graph (bare step "
                                        "1.5x faster at 64 px on an H200; experimental: not yet checked "
                                        "in full training runs)"),
    Setting("device", "auto", choices=("auto", "cpu", "cuda"), help="auto: the GPU when there is one"),
    Setting("seed", 0, 0, 2**31 - 1, help="one seed for weights, noise and data order"),
)
BY_NAME = {s.name: s for s in SETTINGS}
ARCH_DEFAULTS = {
    "wgan-gp": {"n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9},
    "wgan": {"n_critic": 5, "lr_g": 5e-5, "lr_d": 5e-5, "beta1": 0.0, "beta2": 0.9},   # RMSprop: betas unused
    "dcgan": {"n_critic": 1, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
}


def gan_settings(values: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Checked settings with defaults and the architecture's optimiser defaults filled in."""
    out = {s.name: s.default for s in SETTINGS}
    for key, value in values.items():
        if key in ("root", "classes", "workspace", "kind", "versions", "created", "spinegui_version"):
            out[key] = value
            continue
        setting = BY_NAME.get(key)
        if setting is None:
            raise InputError(source, f"unknown GAN setting '{key}'")
        out[key] = None if value is None else _check(setting, value, source)
    for key, value in ARCH_DEFAULTS[out["arch"]].items():
        if out.get(key) is None:
            out[key] = value
    return out


def _check(s: Setting, value: Any, source) -> Any:
    if s.choices:
        if value not in s.choices:
            raise InputError(source, f"{s.name}: {value!r} is not one of {', '.join(map(str, s.choices))}")
        return value
    if isinstance(s.default, bool):
        if not isinstance(value, bool):
            raise InputError(source, f"{s.name}: expected true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(source, f"{s.name}: expected a number, got {value!r}")
    if not (s.low <= value <= s.high):   # (NaN fails every comparison: refused here too)
        raise InputError(source, f"{s.name}: {value:g} is outside the allowed range {s.low:g}..{s.high:g}")
    whole = isinstance(s.default, int) or s.name in ("n_critic",)
    if whole and value != int(value):   # int() would cut 2.5 epochs to 2 without a word
        raise InputError(source, f"{s.name}: expected a whole number, got {value:g}")
    return int(value) if whole else float(value)
