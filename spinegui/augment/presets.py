"""Augmentation configs on disk (TOML) and the presets: the preprint's, and the user's beside them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomli_w

from spinegui.augment.knobs import KNOB_SET, ConfigError, validate
from spinegui.core.dataset.workspace import atomic_write_bytes, data_home
from spinegui.core.errors import InputError
from spinegui.core.limits import read_toml

# The preprint (Sivakumar & Anand, 2026). "rotation 45" is read as Keras' rotation_range=45 (a random
# angle in ±45°); "rotation 90/270" are exact right angles; "shear" and "crop" give no figures, so
# ±20° and 60-90 % of the area are our choice, stated in the help text.
BUILTIN_PRESETS: dict[str, dict[str, Any]] = {
    "basic": {
        "mode": "one-of", "rotation": (-45.0, 45.0), "rotation_fixed": (270,),
        "crop": (0.6, 0.9), "shear": (-20.0, 20.0),
    },
    "hybrid-geometric": {
        "mode": "one-of", "rotation_fixed": (90, 270), "shear": (-20.0, 20.0),
    },
}
PRESET_HELP = {
    "basic": "The preprint's best single transforms, one per image: rotation ±45°, rotation 270°, "
             "crop (60-90 % of the area), shear ±20°.",
    "hybrid-geometric": "The geometric half of the preprint's hybrid: rotation 90°, rotation 270° or "
                        "shear ±20°, one per image.",
}
# The first line of a saved config: where its keys are explained (a flag of `spinegui augment`).
KNOBS_FLAG = "--list-knobs"
CONFIG_HEADER = f"# spinegui augmentation settings; every key is documented in `spinegui augment {KNOBS_FLAG}`\n"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def presets_dir() -> Path:
    return data_home() / "presets"


def preset_names() -> list[str]:
    user = sorted(p.stem for p in presets_dir().glob("*.toml")) if presets_dir().is_dir() else []
    return list(BUILTIN_PRESETS) + [n for n in user if n not in BUILTIN_PRESETS]


def load_preset(name: str) -> dict[str, Any]:
    if name in BUILTIN_PRESETS:
        return validate(BUILTIN_PRESETS[name])
    path = presets_dir() / f"{name}.toml"
    if not path.exists():   # anything else there (a folder, /dev/zero) load_config refuses by name
        raise InputError(name, f"no preset of that name (have: {', '.join(preset_names())})")
    return load_config(path)


def save_preset(name: str, config: dict[str, Any]) -> Path:
    if not _NAME.match(name):
        raise InputError(name, "a preset name uses letters, digits, '-', '_' or '.' (at most 64)")
    if name in BUILTIN_PRESETS:
        raise InputError(name, "is a built-in preset; choose another name")
    path = presets_dir() / f"{name}.toml"
    save_config(path, config)
    return path


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a config file; any problem is an InputError naming the file (and the key).

    Regular files of at most 1 MiB only (``core.limits``): ``--config /dev/zero`` would read forever.
    """
    path = Path(path)
    try:
        data = read_toml(path, what="config file")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    values = data.get("augment", data)
    if not isinstance(values, dict):
        raise InputError(path, "expected an [augment] table")
    try:
        return validate(values)
    except ConfigError as exc:
        raise InputError(path, str(exc)) from None
    except RecursionError:
        raise InputError(path, "values nested too deeply to be settings") from None


def config_to_toml(config: dict[str, Any], *, only_changed: bool = False) -> str:
    table = KNOB_SET.toml_table(config, only_changed=only_changed)   # in KNOBS' order
    return CONFIG_HEADER + tomli_w.dumps({"augment": table})


def save_config(path: str | Path, config: dict[str, Any]) -> None:
    try:
        atomic_write_bytes(Path(path), config_to_toml(validate(config)).encode("utf-8"))
    except ConfigError as exc:
        raise InputError(path, str(exc)) from None
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None

