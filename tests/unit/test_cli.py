"""The command line: the four foundation commands, and bad input as one line with exit code 2."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from spinegui.cli.entry import main
from spinegui.core.dataset.vindr import load_index


def run_cli(*args):
    """Run the real `spinegui` entry point in a fresh interpreter (as a user would)."""
    return subprocess.run([sys.executable, "-m", "spinegui", *map(str, args)], capture_output=True, text=True)


def test_info_json_agrees_with_the_csvs(demo_root, capsys):
    assert main(["info", str(demo_root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for split in ("train", "test"):
        with open(demo_root / "annotations" / f"{split}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        s = info["splits"][split]
        assert s["images"] == len({r["image_id"] for r in rows})
        assert s["studies"] == len({r["study_id"] for r in rows})
        assert s["boxes"] == sum(r["lesion_type"] != "No finding" for r in rows)
        for cls, c in s["classes"].items():
            assert c["boxes"] == sum(r["lesion_type"] == cls for r in rows)
            assert c["images"] == len({r["image_id"] for r in rows if r["lesion_type"] == cls})
        normal_ids = {r["image_id"] for r in rows} - {r["image_id"] for r in rows if r["lesion_type"] != "No finding"}
        assert s["normal"] == len(normal_ids)
    assert info["images"] == 24 and info["problems"] == []


def test_info_text(demo_root, capsys):
    assert main(["info", str(demo_root)]) == 0
    out = capsys.readouterr().out
    assert "Spondylolysthesis" in out and "problems none" in out


def test_demo_data_then_render(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo-data", str(out), "--images", "2", "--seed", "3", "--workers", "1"]) == 0
    assert "wrote 2 images" in capsys.readouterr().out
    rec = next(iter(load_index(out).images.values()))
    png = tmp_path / "x.png"
    assert main(["render", str(rec.path), "-o", str(png)]) == 0
    img = np.asarray(Image.open(png))
    assert img.dtype == np.uint8 and img.ndim == 2 and img.std() > 10
    narrow = tmp_path / "narrow.png"
    assert main(["render", str(rec.path), "-o", str(narrow), "--window", "2000", "10"]) == 0
    assert np.mean(np.isin(np.asarray(Image.open(narrow)), (0, 255))) > 0.8  # a 10-wide window saturates


def test_cache_command_then_info_sees_it(demo_root, tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["cache", str(demo_root), "--size", "32", "--workers", "2", "--workspace", str(ws)]) == 0
    assert "24 decoded, 0 up to date, 0 failed" in capsys.readouterr().out
    assert main(["info", str(demo_root), "--json", "--workspace", str(ws)]) == 0
    assert json.loads(capsys.readouterr().out)["cache"] == str(ws / "cache")
    assert not any(p.name.startswith("cache") for p in demo_root.iterdir())  # the dataset is never written


@pytest.mark.parametrize(
    "args, expected",
    [
        (["info", "{tmp}/nope"], "{tmp}/nope: no such folder"),
        (["info", "{tmp}"], "{tmp}: not a VinDr-SpineXR root: missing annotations/train.csv"),
        (["render", "{tmp}/garbage.dicom", "-o", "{tmp}/o.png"], "{tmp}/garbage.dicom: "),
        (["render", "{tmp}/missing.dicom", "-o", "{tmp}/o.png"], "{tmp}/missing.dicom: "),
        (["demo-data", "{tmp}/d", "--images", "0"], "--images must be at least 1"),
        (["cache", "{tmp}", "--size", "0"], "--size must be at least 1"),
        (["info"], "the following arguments are required: root"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, expected):
    (tmp_path / "garbage.dicom").write_bytes(np.random.default_rng(0).bytes(2048))
    result = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 2, result.stderr
    err_lines = [line for line in result.stderr.splitlines() if line.startswith("spinegui: error:")]
    assert len(err_lines) == 1 and expected.format(tmp=tmp_path) in err_lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "info", tmp_path / "nope")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_every_command_names_its_handler():
    """Dispatch is one way everywhere: each command's parser carries its handler (set_defaults)."""
    from spinegui.cli.entry import build_parser

    sub = next(a for a in build_parser()._subparsers._group_actions if a.dest == "command")
    missing = [name for name, p in sub.choices.items() if not callable(p.get_default("handler"))]
    assert missing == []


def test_progress_in_a_log_is_plain_lines(tmp_path, capsys):
    """stderr not a terminal (a log, a pipe): whole lines, no carriage returns; the last says done."""
    assert main(["demo-data", str(tmp_path / "demo"), "--images", "3", "--workers", "1"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and lines and all(line.startswith("demo-data:") for line in lines), err
    assert "3/3" in lines[-1]


class _Terminal:
    """A stream that says it is a terminal."""

    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)

    def flush(self):
        pass

    def isatty(self):
        return True

    @property
    def text(self):
        return "".join(self.parts)


def test_progress_throttles_redraws(monkeypatch):
    from spinegui.cli import common as cli_common
    from spinegui.cli.common import CountBar

    term = _Terminal()
    bar = CountBar("cache", term)
    for i in range(1, 1001):   # far faster than the redraw interval: a few redraws, not one per item
        bar(i, 1000)
    assert term.text.count("\r") <= 5 and term.text.endswith("\n") and "1000/1000" in term.text

    monkeypatch.setattr(cli_common, "LOG_INTERVAL_S", 3600.0)
    log = _Terminal()
    log.isatty = lambda: False
    bar = CountBar("cache", log)
    for i in range(1, 1001):
        bar(i, 1000)
    lines = log.text.splitlines()
    assert len(lines) == 2 and "1/1000" in lines[0] and "1000/1000" in lines[1]   # the first, and done
