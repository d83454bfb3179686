"""A real desktop: the app opens under X11 (Xvfb, xcb plugin), and says which packages are missing."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from spinegui.ui.common.platform_check import DEBIAN_PACKAGES, chosen_platform, not_found, platform_problem

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-icccm.so.4 => not found
\tlibQt6Gui.so.6 => /x/libQt6Gui.so.6 (0x7f)
\tlibxcb-cursor.so.0 => not found
"""


def test_ldd_parsing_and_package_names():
    assert not_found(LDD) == ["libxcb-icccm.so.4", "libxcb-cursor.so.0"]
    assert [DEBIAN_PACKAGES[s] for s in not_found(LDD)] == ["libxcb-icccm4", "libxcb-cursor0"]


def test_no_display_is_one_clear_line():
    msg = platform_problem({"PATH": "/usr/bin"})
    assert msg and "DISPLAY is not set" in msg and "\n" not in msg


def test_platform_choice_follows_environment():
    assert chosen_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert chosen_platform({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}) == "wayland"
    assert chosen_platform({"DISPLAY": ":0"}) == "xcb"
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}) is None


def test_missing_display_from_the_command_line_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "spinegui", "--dataset", str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("spinegui: error: no display") and "Traceback" not in result.stderr


@pytest.fixture
def xvfb():
    """A virtual X server on a free display number; CI installs Xvfb (scripts/install.sh --test)."""
    exe = shutil.which("Xvfb")
    assert exe, "Xvfb is not installed: run scripts/install.sh --test (Debian package xvfb)"
    for display in range(90, 120):
        if not os.path.exists(f"/tmp/.X11-unix/X{display}") and not os.path.exists(f"/tmp/.X{display}-lock"):
            break
    proc = subprocess.Popen([exe, f":{display}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{display}"):
        assert proc.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    yield f":{display}"
    proc.terminate()
    proc.wait(5)


def test_app_opens_under_x11_with_the_xcb_plugin(xvfb, demo_root, tmp_path):
    env = dict(os.environ, DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", SPINEGUI_HOME=str(tmp_path / "home"))
    out = tmp_path / "x11.png"
    result = subprocess.run(
        [sys.executable, "-m", "spinegui", "--dataset", str(demo_root), "--workspace", str(tmp_path / "ws"),
         "--screenshot", str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "first image after" in result.stdout
    img = Image.open(out).convert("L")
    assert img.width >= 800 and img.height >= 500
    assert len(np.unique(np.asarray(img))) > 50  # a real picture, not a blank window
