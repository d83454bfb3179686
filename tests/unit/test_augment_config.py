"""Knob declarations, config files, presets and the command-line equivalent."""

import shlex
import tomllib

import pytest

from spinegui.augment import knobs
from spinegui.augment.command import command_line, parse_set
from spinegui.augment.knobs import KNOBS, ConfigError, defaults, validate
from spinegui.augment.presets import (
    BUILTIN_PRESETS,
    config_to_toml,
    load_config,
    load_preset,
    preset_names,
    save_config,
    save_preset,
)
from spinegui.core.errors import InputError


def test_every_knob_is_complete_and_defaults_are_valid():
    for knob in KNOBS:
        assert knob.kind in ("float", "range", "choice", "subset") and knob.group in knobs.GROUPS
        assert knob.label and knob.help, knob.name
        if knob.kind in ("float", "range"):
            assert knob.low < knob.high and knob.step > 0
    assert validate({}) == defaults()


def test_all_defaults_switch_every_transform_off():
    config = defaults()
    assert not any(knobs.is_enabled(config, name) for name in knobs.TRANSFORM_KNOBS)


@pytest.mark.parametrize("values, words", [
    ({"rotation": (-200, 10)}, ["rotation", "-200", "-180..180"]),
    ({"noise": 0.9}, ["noise", "0.9", "0..0.2"]),
    ({"rotaton": (1, 2)}, ["rotaton", "did you mean 'rotation'"]),
    ({"mode": "some"}, ["mode", "all, one-of"]),
    ({"rotation_fixed": [45]}, ["rotation_fixed", "90, 180, 270"]),
    ({"scale": (1.5, 0.8)}, ["scale", "above"]),
    ({"hflip": "yes"}, ["hflip", "number"]),
])
def test_bad_values_name_the_key_and_the_allowed_range(values, words):
    with pytest.raises(ConfigError) as err:
        validate(values)
    for word in words:
        assert word in str(err.value)


def test_toml_round_trip(tmp_path):
    config = validate({"rotation": (-12.5, 30), "rotation_fixed": [270, 90], "mode": "one-of", "noise": 0.01})
    path = tmp_path / "mine.toml"
    save_config(path, config)
    assert load_config(path) == config
    text = path.read_text()
    # written by tomli-w: one key per line under [augment], arrays one item a line
    assert "\n[augment]\n" in text and "\nrotation = [\n" in text and "\nnoise = 0.01\n" in text
    assert tomllib.loads(text)["augment"]["rotation"] == [-12.5, 30.0]


def test_a_saved_config_names_a_flag_that_exists(tmp_path):
    """The comment on top of a saved config points to the flag that lists the keys: it must be one
    `spinegui augment` has (it once named --help-knobs, which does not exist)."""
    import re

    from spinegui.cli.entry import build_parser, main

    path = tmp_path / "mine.toml"
    save_config(path, validate({}))
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ")
    flags = re.findall(r"`spinegui augment (--[a-z-]+)`", first)
    assert flags, first
    sub = next(a for a in build_parser()._subparsers._group_actions if a.dest == "command")
    options = sub.choices["augment"]._option_string_actions
    assert all(flag in options for flag in flags), (flags, sorted(options))
    assert main(["augment", *flags]) == 0   # and it runs, listing the keys


def test_bad_config_file_is_an_input_error_naming_file_and_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[augment]\nshear = [0, 90]\n")
    with pytest.raises(InputError) as err:
        load_config(path)
    assert "bad.toml" in str(err.value) and "shear" in str(err.value) and "-45..45" in str(err.value)
    path.write_text("[augment\n")
    with pytest.raises(InputError, match="TOML"):
        load_config(path)
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_presets_from_the_preprint_and_user_presets_beside_them():
    basic = load_preset("basic")
    assert basic["mode"] == "one-of" and basic["rotation"] == (-45.0, 45.0)
    assert basic["rotation_fixed"] == (270,) and basic["shear"] != (0.0, 0.0) and basic["crop"][0] < 1
    hybrid = load_preset("hybrid-geometric")
    assert hybrid["rotation_fixed"] == (90, 270) and hybrid["rotation"] == (0.0, 0.0)
    save_preset("my-lab", validate({"hflip": 0.5}))
    assert preset_names()[:2] == list(BUILTIN_PRESETS) and "my-lab" in preset_names()
    assert load_preset("my-lab")["hflip"] == 0.5
    with pytest.raises(InputError):
        save_preset("basic", defaults())
    with pytest.raises(InputError, match="no preset"):
        load_preset("nope")


def test_command_line_rebuilds_the_same_config():
    config = validate({"rotation": (-30, 30), "elastic_alpha": 4.5, "rotation_fixed": (90,), "mode": "one-of"})
    line = command_line("/data/vindr", config, seed=3, classes=["Osteophytes", "Vertebral collapse"],
                        per_class=20, out="aug")
    args = shlex.split(line)
    assert args[:3] == ["spinegui", "augment", "/data/vindr"]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert validate(dict(parse_set(s) for s in sets)) == config
    assert "--classes" in args and args[args.index("--classes") + 1] == "Osteophytes,Vertebral collapse"
    assert "--preset basic" in command_line("r", load_preset("basic"), seed=1, classes=["Osteophytes"],
                                            per_class=5, out="o")


def test_toml_of_only_changed_settings():
    text = config_to_toml(validate({"vflip": 0.25}), only_changed=True)
    assert "vflip = 0.25" in text and "rotation" not in text
