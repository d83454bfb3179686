"""Settings declared once: name, kind, default, range, help. The augmentation knobs, the GAN settings
and the experiment settings are each a ``ParamSet``; from it come the checks of a config (TOML, panel,
job), the command-line options, the copy-as-command arguments and the GUI forms (``ui/common``).

Kinds:
    int, float  one number in [low, high] (either bound may be None); int refuses fractions
    bool        true or false (a ``--flag`` on the command line)
    choice      one of ``choices``
    range       (low, high), both within [low, high] of the param
    subset      a tuple of some of ``choices`` (in the choices' order)
    text        a string
    list        a list of words (``a,b,c`` on the command line), each one of ``choices`` if given
A param with ``optional`` also takes None: "decided elsewhere" (e.g. by the GAN architecture).
"""

from __future__ import annotations

import argparse
import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from spinegui.core.argtypes import number
from spinegui.core.errors import InputError

KINDS = ("int", "float", "bool", "choice", "range", "subset", "text", "list")


class ParamError(InputError, ValueError):
    """A setting that is unknown, of the wrong type or out of range; one line naming the setting."""

    def __init__(self, source, reason: str):
        super().__init__(source, reason)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    step: float = 0.01
    unit: str = ""
    help: str = ""
    group: str = ""
    label: str = ""
    choices: tuple = ()
    optional: bool = False
    # 0 stands for "the default" in the config (an input size picked per model): the command line
    # refuses an explicit 0, which would otherwise be replaced without a word.
    zero_is_default: bool = False
    cli: bool = True            # False: a config/panel setting with no command-line option
    shown_default: str = ""     # what "(default: ...)" says in the help, when not the default itself

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        if self.kind in ("choice", "subset", "list"):
            return ", ".join(str(c) for c in self.choices)
        if self.low is None and self.high is None:
            return "any number"
        unit = f" {self.unit}" if self.unit else ""
        return f"{_fmt(self.low)}..{_fmt(self.high)}{unit}"

    # --- checks --------------------------------------------------------------------------------
    def check(self, value: Any, source=None) -> Any:
        """``value`` checked and normalised (int, float, tuple...); ParamError naming the setting."""
        if value is None and self.optional:
            return None
        return getattr(self, f"_check_{self.kind}")(value, source)

    def _fail(self, source, reason: str) -> ParamError:
        return ParamError(source, f"{self.name}: {reason}")

    def _number(self, value: Any, source) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(source, f"expected a number, got {value!r}")
        if math.isnan(value):
            raise self._fail(source, "expected a number, got nan")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self._fail(source, f"{value:g} is outside the allowed range {self.allowed()}")
        return value

    def _check_float(self, value, source):
        return float(self._number(value, source))

    def _check_int(self, value, source):
        value = self._number(value, source)
        if value != int(value):   # int() would cut 2.5 epochs to 2 without a word
            raise self._fail(source, f"expected a whole number, got {value:g}")
        return int(value)

    def _check_bool(self, value, source):
        if not isinstance(value, bool):
            raise self._fail(source, f"expected true or false, got {value!r}")
        return value

    def _check_choice(self, value, source):
        if isinstance(value, bool) or value not in self.choices:
            raise self._fail(source, f"{value!r} is not one of {self.allowed()}")
        return value

    def _check_range(self, value, source):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value, value)
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self._fail(source, f"expected [low, high], got {value!r}")
        lo, hi = (float(self._number(v, source)) for v in value)
        if lo > hi:
            raise self._fail(source, f"low {lo:g} is above high {hi:g}")
        return (lo, hi)

    def _check_subset(self, value, source):
        if not isinstance(value, (list, tuple)):
            value = [value]
        for v in value:
            if isinstance(v, bool) or v not in self.choices:
                raise self._fail(source, f"{v!r} is not one of {self.allowed()}")
        return tuple(c for c in self.choices if c in value)

    def _check_text(self, value, source):
        if not isinstance(value, str):
            raise self._fail(source, f"expected text, got {value!r}")
        return value

    def _check_list(self, value, source):
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self._fail(source, f"expected a list of words, got {value!r}")
        words = list(dict.fromkeys(v.strip() for v in value if v.strip()))
        for v in words:
            if self.choices and v not in self.choices:
                raise self._fail(source, f"{v!r} is not one of {self.allowed()}")
        if not words:
            raise self._fail(source, "nothing given")
        return words

    # --- command line --------------------------------------------------------------------------
    def arg_type(self):
        """The argparse ``type=``: converts and range-checks while parsing (one-line errors)."""
        if self.kind in ("int", "float"):
            kind = int if self.kind == "int" else float
            if self.zero_is_default:
                return number(kind, 1, self.high) if kind is int else number(kind, high=self.high, above=0)
            return number(kind, self.low, self.high)
        if self.kind == "choice":
            return type(self.choices[0])
        if self.kind in ("range", "subset"):
            return self._parse_words
        if self.kind == "list":
            return _split
        return str

    def _parse_words(self, text: str):
        items = _split(text)
        try:
            if self.kind == "subset":
                return self.check([type(self.choices[0])(v) for v in items])
            return self.check([float(v) for v in items])
        except (ValueError, InputError) as exc:
            reason = exc.reason if isinstance(exc, InputError) else f"cannot read {text!r}"
            raise argparse.ArgumentTypeError(reason.removeprefix(f"{self.name}: ")) from None

    def arg_text(self, value: Any) -> str:
        """``value`` as this option's argument, read back by ``arg_type`` to the same value."""
        if isinstance(value, (list, tuple)):
            return ",".join(self.arg_text(v) for v in value)
        return repr(value) if isinstance(value, float) else str(value)


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _split(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


class ParamSet:
    """Ordered params; ``what`` names them in messages ("unknown GAN setting 'x'")."""

    def __init__(self, params: Iterable[Param], *, what: str = "setting", groups: Iterable[str] = ()):
        self.params: tuple[Param, ...] = tuple(params)
        self.by_name: dict[str, Param] = {p.name: p for p in self.params}
        if len(self.by_name) != len(self.params):
            raise ValueError("two params share a name")
        self.what = what
        self.groups: tuple[str, ...] = tuple(groups) or tuple(dict.fromkeys(p.group for p in self.params))

    def __iter__(self):
        return iter(self.params)

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Param:
        return self.by_name[name]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate(self, values: dict[str, Any], *, source=None, partial_ok: bool = True) -> dict[str, Any]:
        """Checked, normalised copy of ``values`` with the defaults filled in."""
        out = self.defaults()
        for key, value in values.items():
            param = self.by_name.get(key)
            if param is None:
                near = difflib.get_close_matches(str(key), list(self.by_name), n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise ParamError(source, f"unknown {self.what} '{key}'{hint}")
            out[key] = param.check(value, source)
        if not partial_ok and set(values) != set(self.by_name):
            missing = [p.name for p in self.params if p.name not in values]
            raise ParamError(source, f"missing settings: {', '.join(missing)}")
        return out

    def changed(self, config: dict[str, Any]) -> dict[str, Any]:
        """Only the settings that differ from their defaults (a command line, a summary)."""
        return {k: v for k, v in config.items() if k in self.by_name and v != self.by_name[k].default}

    def toml_table(self, config: dict[str, Any], *, only_changed: bool = False) -> dict[str, Any]:
        """For tomli-w, in declaration order: None (TOML has none) left out, tuples as lists."""
        values = self.changed(config) if only_changed else config
        return {p.name: list(values[p.name]) if isinstance(values[p.name], tuple) else values[p.name]
                for p in self.params if p.name in values and values[p.name] is not None}

    # --- command line --------------------------------------------------------------------------
    def _selected(self, only, skip) -> list[Param]:
        return [p for p in self.params if p.cli and (only is None or p.name in only) and p.name not in skip]

    def add_arguments(self, parser, only: Iterable[str] | None = None, skip: Iterable[str] = ()) -> None:
        """One option per param; every default is None, so that a value given is told from one left out
        (``from_args``). Bad values are argparse's one-line error."""
        only = None if only is None else set(only)
        for p in self._selected(only, set(skip)):
            shown = p.shown_default or (p.arg_text(p.default) if p.default not in (None, ()) else "none")
            text = " ".join(filter(None, (p.help, f"(default: {shown})"))).replace("%", "%%")
            if p.kind == "bool" and p.default:
                parser.add_argument("--no-" + p.flag[2:], dest=p.name, action="store_false", default=None, help=text)
            elif p.kind == "bool":
                parser.add_argument(p.flag, dest=p.name, action="store_true", default=None,
                                    help=p.help.replace("%", "%%"))
            else:
                extra = {"choices": p.choices} if p.kind == "choice" else {}
                metavar = {"range": "LOW,HIGH", "subset": "A,B", "list": "A,B"}.get(p.kind)
                if metavar:
                    extra["metavar"] = metavar
                parser.add_argument(p.flag, dest=p.name, type=p.arg_type(), default=None, help=text, **extra)

    def from_args(self, namespace: argparse.Namespace) -> dict[str, Any]:
        """The options actually given on the command line."""
        return {p.name: getattr(namespace, p.name) for p in self.params
                if getattr(namespace, p.name, None) is not None}

    def command_args(self, config: dict[str, Any], only: Iterable[str] | None = None,
                     skip: Iterable[str] = ()) -> list[str]:
        """``--flag value`` for every setting that differs from its default (copy as command)."""
        only = None if only is None else set(only)
        args: list[str] = []
        for p in self._selected(only, set(skip)):
            value = config.get(p.name, p.default)
            if value == p.default or value is None:
                continue
            if p.kind == "bool":
                args.append(p.flag if value else "--no-" + p.flag[2:])
                continue
            text = p.arg_text(value)
            # "--rotation -10,10" would read as an option: glue a leading minus to its flag
            args += [f"{p.flag}={text}"] if text.startswith("-") else [p.flag, text]
        return args
