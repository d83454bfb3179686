"""The one parameter declaration (spinegui.core.params): checks per kind, argparse, TOML."""

import argparse
import math
import tomllib

import pytest
import tomli_w

from spinegui.augment.knobs import KNOB_SET
from spinegui.core.errors import InputError
from spinegui.core.params import Param, ParamError, ParamSet
from spinegui.gan.settings import GAN_SETTINGS
from spinegui.train.experiment_config import EXPERIMENT

SET = ParamSet((
    Param("epochs", "int", 30, 1, 10000, help="epochs"),
    Param("share", "float", 0.5, 0.0, 1.0),
    Param("flip", "bool", False),
    Param("keep", "bool", True),
    Param("arch", "choice", "wgan-gp", choices=("wgan-gp", "wgan", "dcgan")),
    Param("size", "choice", 64, choices=(64, 128, 256)),
    Param("rotation", "range", (0.0, 0.0), -180, 180, unit="°"),
    Param("angles", "subset", (), choices=(90, 180, 270)),
    Param("name", "text", "balance"),
    Param("models", "list", ["resnet18"], choices=("vgg16", "resnet18")),
    Param("lr_g", "float", None, 1e-6, 1e-1, optional=True),
    Param("threads", "int", 0, 0, 1024, zero_is_default=True),
), what="test setting")


def test_defaults_validate_to_themselves_and_parameters_know_their_flag():
    assert SET.validate({}) == SET.defaults()
    assert SET["lr_g"].flag == "--lr-g" and SET["lr_g"].label == "lr_g"
    assert issubclass(ParamError, InputError)


@pytest.mark.parametrize("values, expected", [
    ({"epochs": 12.0}, {"epochs": 12}),
    ({"share": 1}, {"share": 1.0}),
    ({"rotation": 10}, {"rotation": (10.0, 10.0)}),
    ({"rotation": [-5, 7.5]}, {"rotation": (-5.0, 7.5)}),
    ({"angles": [270, 90, 90]}, {"angles": (90, 270)}),
    ({"angles": 180}, {"angles": (180,)}),
    ({"models": "vgg16, resnet18,vgg16"}, {"models": ["vgg16", "resnet18"]}),
    ({"lr_g": None}, {"lr_g": None}),
    ({"lr_g": 1e-3}, {"lr_g": 0.001}),
])
def test_values_are_normalised(values, expected):
    out = SET.validate(values)
    for key, value in expected.items():
        assert out[key] == value and type(out[key]) is type(value)


@pytest.mark.parametrize("values, words", [
    ({"epochs": 0}, ["epochs", "0 is outside the allowed range 1..10000"]),
    ({"epochs": 2.5}, ["epochs", "whole number", "2.5"]),
    ({"epochs": "3"}, ["epochs", "expected a number", "'3'"]),
    ({"epochs": True}, ["epochs", "expected a number"]),
    ({"share": math.nan}, ["share", "nan"]),
    ({"share": math.inf}, ["share", "outside", "0..1"]),
    ({"flip": 1}, ["flip", "true or false"]),
    ({"arch": "gan"}, ["arch", "'gan' is not one of wgan-gp, wgan, dcgan"]),
    ({"size": True}, ["size", "is not one of 64, 128, 256"]),
    ({"rotation": (-200, 10)}, ["rotation", "-200", "-180..180 °"]),
    ({"rotation": (5, -5)}, ["rotation", "low 5 is above high -5"]),
    ({"rotation": "wide"}, ["rotation", "[low, high]"]),
    ({"angles": [45]}, ["angles", "45", "90, 180, 270"]),
    ({"name": 4}, ["name", "expected text"]),
    ({"models": "resnet50"}, ["models", "'resnet50' is not one of vgg16, resnet18"]),
    ({"models": ""}, ["models", "nothing given"]),
    ({"epochs": None}, ["epochs", "expected a number"]),
    ({"lr_g": 5}, ["lr_g", "outside"]),
    ({"epoch": 3}, ["unknown test setting 'epoch'", "did you mean 'epochs'?"]),
])
def test_bad_values_are_one_line_naming_the_setting_and_what_is_allowed(values, words):
    with pytest.raises(ParamError) as err:
        SET.validate(values, source="config.toml")
    message = str(err.value)
    assert "\n" not in message and message.startswith("config.toml: ")
    for word in words:
        assert word in message


def test_a_whole_config_can_be_required():
    with pytest.raises(ParamError, match="missing settings: share, flip"):
        SET.validate({p.name: p.default for p in SET if p.name not in ("share", "flip")}, partial_ok=False)


def test_changed_lists_only_what_differs_from_the_default():
    config = SET.validate({"epochs": 30, "flip": True, "angles": [90]})
    assert SET.changed(config) == {"flip": True, "angles": (90,)}


CHANGED = {"epochs": 7, "share": 0.125, "flip": True, "keep": False, "arch": "dcgan", "size": 128,
           "rotation": (-12.5, 30.0), "angles": (90, 270), "name": "4000", "models": ["vgg16", "resnet18"],
           "lr_g": 3e-4, "threads": 2}


def _parser(params: ParamSet) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    params.add_arguments(parser)
    return parser


def test_command_args_parse_back_to_the_same_config():
    config = SET.validate(CHANGED)
    args = SET.command_args(config)
    assert "--rotation=-12.5,30.0" in args and "--no-keep" in args and "--flip" in args
    parsed = SET.validate(SET.from_args(_parser(SET).parse_args(args)))
    assert parsed == config
    assert SET.command_args(SET.defaults()) == []
    assert SET.from_args(_parser(SET).parse_args([])) == {}   # nothing given: nothing set


@pytest.mark.parametrize("params", [KNOB_SET, GAN_SETTINGS, EXPERIMENT], ids=lambda s: s.what)
def test_the_three_declarations_round_trip_through_their_options(params):
    config = params.validate({})
    for p in params:
        if not p.cli:
            continue
        if p.kind in ("int", "float") and p.default is not None:
            config[p.name] = p.check(p.high if p.default != p.high else p.low)
        elif p.kind in ("choice", "subset", "list"):
            other = next(c for c in p.choices if c != p.default)
            config[p.name] = p.check(other if p.kind == "choice" else [other])
        elif p.kind == "bool":
            config[p.name] = not p.default
        elif p.kind == "range":
            config[p.name] = (float(p.low), float(p.high))
    parsed = params.validate(params.from_args(_parser(params).parse_args(params.command_args(config))))
    assert parsed == config


@pytest.mark.parametrize("argv, words", [
    (["--epochs", "0"], ["--epochs", "from 1 to 10000"]),
    (["--epochs", "2.5"], ["--epochs", "whole number"]),
    (["--share", "nan"], ["--share", "finite"]),
    (["--arch", "gan"], ["--arch", "invalid choice"]),
    (["--rotation", "5,-5"], ["--rotation", "above"]),
    (["--angles", "45"], ["--angles", "not one of"]),
    (["--threads", "0"], ["--threads", "from 1 to 1024"]),   # 0 means "the default": never given explicitly
])
def test_bad_options_are_argparse_errors_naming_the_option(argv, words):
    with pytest.raises(argparse.ArgumentError) as err:
        _parser(SET).parse_args(argv)
    for word in words:
        assert word in str(err.value)


def test_toml_round_trip():
    config = SET.validate(CHANGED)
    text = tomli_w.dumps({"settings": SET.toml_table(config)})
    assert SET.validate(tomllib.loads(text)["settings"]) == config
    only = SET.toml_table(SET.validate({"flip": True}), only_changed=True)
    assert only == {"flip": True}
    assert "lr_g" not in SET.toml_table(SET.defaults())   # TOML has no None: left out, read back as None
