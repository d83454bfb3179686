"""`spinegui --screenshot OUT.png` always ends: the first image failing says why (exit 2), and nothing
drawn within the time limit gives up (exit 1); neither writes a picture. (It used to wait forever.)"""

import os
import shutil
import subprocess
import sys

import pytest

from hostile_util import assert_one_line_error


def _screenshot(root, tmp_path, **env_extra):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SPINEGUI_HOME=str(tmp_path / "home"), **env_extra)
    result = subprocess.run([sys.executable, "-m", "spinegui", "--dataset", str(root), "--workspace",
                             str(tmp_path / "ws"), "--screenshot", str(out)],
                            env=env, capture_output=True, text=True, timeout=90)
    return result, out


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_first_image_that_cannot_be_shown_ends_with_the_reason(demo_root, tmp_path, damage):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    for f in root.rglob("*.dicom"):
        if damage == "garbage":
            f.write_bytes(b"not a DICOM file at all")
        else:
            f.unlink()
    result, out = _screenshot(root, tmp_path)
    assert_one_line_error(result.returncode, result.stderr, "cannot show the first image",
                          ".dicom", "missing" if damage == "missing" else "")
    assert not out.exists()


def test_nothing_drawn_within_the_time_limit_gives_up(demo_root, tmp_path):
    # A fresh workspace has no cache: the first image needs a decoder process, far slower than 50 ms.
    result, out = _screenshot(demo_root, tmp_path, SPINEGUI_SCREENSHOT_TIMEOUT_S="0.05")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spinegui: error: ") and "within 0.05 s" in lines[0], lines
    assert not out.exists()
