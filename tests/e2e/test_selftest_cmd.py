"""Journey: a lab admin checks an install with `spinegui self-test` (here from source; the packaged
bundle gets the same check in tests/packaging/test_bundle.py). Every step prints one line with its
time; a failing step makes the command exit non-zero and say which step failed."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from spinegui.cli.entry import main
from spinegui.cli.selftest import FAIL_ENV

CPU_STEPS = ["demo-data", "decode", "window", "augment", "gan-cpu", "classifier-cpu"]


def kept_folder(text: str) -> Path:
    found = re.search(r"files kept in (\S+)", text)
    assert found, text
    return Path(found.group(1))


@pytest.mark.slow
def test_self_test_passes_from_source(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    env.pop(FAIL_ENV, None)
    out = subprocess.run([sys.executable, "-m", "spinegui", "self-test", "--no-cuda"], env=env,
                         capture_output=True, text=True, timeout=900)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    for step in CPU_STEPS:
        assert re.search(rf"^\s+ok  {re.escape(step)}\s+[\d.]+ s  \S", out.stdout, re.M), text
    assert re.search(r"^self-test passed: 6 steps in [\d.]+ s", out.stdout, re.M), text
    assert not list(tmp_path.glob("spinegui-selftest-*")), "a passing self-test removes its temp folder"


def test_a_failing_step_exits_non_zero_naming_it_and_skips_what_needs_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(FAIL_ENV, "decode")
    rc = main(["self-test", "--only", "augment"])   # augment needs decode, which needs demo-data
    out = capsys.readouterr().out
    assert rc == 1, out
    assert re.search(r"^\s+ok  demo-data\s", out, re.M), out
    assert re.search(rf"^FAIL  decode\s+[\d.]+ s  failure injected by {FAIL_ENV}", out, re.M), out
    assert re.search(r"^skip  augment\s+needs decode", out, re.M), out
    assert "window" not in out and "gan-cpu" not in out       # not asked for
    assert re.search(r"^self-test FAILED: decode, augment \(1 passed, 2 failed", out, re.M), out
    kept = kept_folder(out)
    assert (kept / "demo-dataset" / "annotations" / "train.csv").is_file()   # kept for a look
    shutil.rmtree(kept)


def test_an_unknown_step_is_refused_in_one_line(capsys):
    assert main(["self-test", "--only", "decode,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown self-test step 'nope'" in err and "classifier-cpu" in err
