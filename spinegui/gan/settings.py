"""GAN training settings: declared once (name, default, range, help) for the CLI, the panel and
config.toml. ``None`` for an optimiser setting means "the architecture's published default"."""

from __future__ import annotations

from typing import Any

from spinegui.core.params import Param, ParamSet
from spinegui.gan.spec import ARCHS, SIZES

Setting = Param


def _setting(name: str, kind: str, default: Any, low: float | None = None, high: float | None = None, *,
             choices: tuple = (), help: str = "") -> Param:
    """A GAN setting; None as the default means "the architecture's" (ARCH_DEFAULTS). The label is
    the command line's spelling, as the panel shows it."""
    return Param(name, kind, default, low, high, help=help, label=name.replace("_", "-"), choices=choices,
                 optional=default is None, shown_default="by arch" if default is None else "")


SETTINGS: tuple[Setting, ...] = (
    _setting("arch", "choice", "wgan-gp", choices=ARCHS,
             help="wgan-gp: gradient penalty (default); wgan: weight clipping, as the preprint; dcgan: "
                  "the preprint's first attempt"),
    _setting("size", "choice", 64, choices=SIZES, help="image side in pixels"),
    _setting("width", "int", 32, 8, 256, help="base feature maps of both networks (32 trains fast on a CPU)"),
    _setting("epochs", "int", 200, 1, 100000, help="passes of the critic over the class's images"),
    _setting("steps", "int", 0, 0, 10**7, help="stop after this many generator steps (0: no step budget); "
                                                "the run is then done whatever --epochs says"),
    _setting("minutes", "float", 0.0, 0.0, 10**5, help="stop after this many minutes of training, resumes "
                                                      "included (0: no time budget)"),
    _setting("batch", "int", 64, 1, 4096, help="images per step (clamped to the class's image count)"),
    _setting("crops", "bool", False, help="train on lesion-centred crops around the boxes, not whole images"),
    _setting("conditional", "bool", False, help="one class-conditional model for all classes instead of one "
                                         "model per class"),
    _setting("diffaugment", "bool", False, help="differentiable augmentation of real and fake images "
                                         "(translation, cutout, brightness): helps tiny classes"),
    _setting("n_critic", "int", None, 1, 20, help="critic steps per generator step (wgan-gp/wgan 5, dcgan 1)"),
    _setting("gp_weight", "float", 10.0, 0, 1000, help="gradient-penalty weight (wgan-gp)"),
    _setting("clip", "float", 0.01, 0.0001, 1, help="weight-clipping bound (wgan)"),
    _setting("lr_g", "float", None, 1e-6, 1e-1, help="generator learning rate (wgan-gp 1e-4, wgan 5e-5, dcgan 2e-4)"),
    _setting("lr_d", "float", None, 1e-6, 1e-1, help="critic learning rate (as lr_g by default)"),
    _setting("beta1", "float", None, 0, 0.999, help="Adam beta1 (wgan-gp 0.0, dcgan 0.5)"),
    _setting("beta2", "float", None, 0, 0.9999, help="Adam beta2 (wgan-gp 0.9, dcgan 0.999)"),
    _setting("ema", "float", 0.999, 0, 0.9999, help="samples come from a moving average of the generator's weights "
                                           "with this decay per generator step (warmed up over the first "
                                           "steps); smoother, more stable samples. 0: the generator itself"),
    _setting("sample_every", "int", 0, 0, 100000, help="epochs between sample grids (0: about 20 grids a run)"),
    _setting("keep_last", "int", 10, 1, 1000, help="generator snapshots kept from the last epochs (harvesting)"),
    _setting("cuda_graphs", "bool", False, help="on a GPU, replay each training step as one CUDA graph (bare step "
                                         "1.5x faster at 64 px on an H200; experimental: not yet checked "
                                         "in full training runs)"),
    _setting("device", "choice", "auto", choices=("auto", "cpu", "cuda"), help="auto: the GPU when there is one"),
    _setting("seed", "int", 0, 0, 2**31 - 1, help="one seed for weights, noise and data order"),
)
GAN_SETTINGS = ParamSet(SETTINGS, what="GAN setting")
BY_NAME = GAN_SETTINGS.by_name
ARCH_DEFAULTS = {
    "wgan-gp": {"n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9},
    "wgan": {"n_critic": 5, "lr_g": 5e-5, "lr_d": 5e-5, "beta1": 0.0, "beta2": 0.9},   # RMSprop: betas unused
    "dcgan": {"n_critic": 1, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
}


# Keys of a run's config.toml that are not settings: passed through as they are.
PASSED_THROUGH = ("root", "classes", "workspace", "kind", "versions", "created", "spinegui_version")


def gan_settings(values: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Checked settings with defaults and the architecture's optimiser defaults filled in."""
    extra = {k: v for k, v in values.items() if k in PASSED_THROUGH}
    given = {k: v for k, v in values.items() if k not in PASSED_THROUGH and not (v is None and k in BY_NAME)}
    out = {**GAN_SETTINGS.validate(given, source=source), **extra}
    for key, value in ARCH_DEFAULTS[out["arch"]].items():
        if out.get(key) is None:
            out[key] = value
    return out
