"""The `spinegui augment` command line equivalent to a config (the panel's "copy as command")."""

from __future__ import annotations

import shlex
from typing import Any

from spinegui.augment.knobs import KNOBS, changed, validate
from spinegui.augment.presets import BUILTIN_PRESETS


def matching_preset(config: dict[str, Any]) -> str | None:
    config = validate(config)
    for name, values in BUILTIN_PRESETS.items():
        if validate(values) == config:
            return name
    return None


def set_arguments(config: dict[str, Any]) -> list[str]:
    """``--set key=value`` for every setting that differs from the defaults, in declaration order."""
    diff = changed(validate(config))
    args = []
    for knob in KNOBS:
        if knob.name in diff:
            args += ["--set", f"{knob.name}={_value(diff[knob.name])}"]
    return args


def command_line(root: str, config: dict[str, Any], *, seed: int, classes: list[str], per_class: int,
                 out: str) -> str:
    args = ["spinegui", "augment", str(root)]
    preset = matching_preset(config)
    args += ["--preset", preset] if preset else set_arguments(config)
    args += ["--classes", ",".join(classes), "--per-class", str(per_class), "--seed", str(seed),
             "--out", str(out)]
    return shlex.join(args)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_set(item: str) -> tuple[str, Any]:
    """``key=value`` from the command line; value is a number, a word or ``[a,b]``."""
    key, sep, text = item.partition("=")
    if not sep:
        raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return key.strip(), [_scalar(v) for v in inner.split(",")] if inner else []
    return key.strip(), _scalar(text)


def _scalar(text: str) -> Any:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
