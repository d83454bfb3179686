"""The installers, built (or reused when dist/ was built after the last change to any source file) and checked as a lab
admin gets them: the tarball unpacked into a fresh folder and run with a bare environment (no venv,
no PYTHONPATH, a new HOME), and the .deb's contents and dependencies.

Not in the default run (marker `packaging`): `python -m pytest -m packaging tests/packaging`.
The build takes several minutes (longer on 2 cores); see packaging/build.py.
"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TARBALL = ROOT / "dist" / f"spinegui-{VERSION}-linux-x86_64.tar.gz"
DEB = ROOT / "dist" / f"spinegui_{VERSION}_amd64.deb"
SOURCES = ["spinegui", "packaging", "resources", "pyproject.toml"]


def newest_source() -> float:
    files = [p for s in SOURCES for p in ([ROOT / s] if (ROOT / s).is_file() else (ROOT / s).rglob("*"))]
    return max(p.stat().st_mtime for p in files if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def dist():
    if not sys.platform.startswith("linux"):
        pytest.skip("the Linux installers")
    info = ROOT / "dist" / "spinegui" / "build-info.json"
    started = json.loads(info.read_text()).get("build_started", 0) if info.exists() else 0
    fresh = started > newest_source() and all(p.exists() and p.stat().st_mtime > started for p in (TARBALL, DEB))
    if not fresh:
        subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py")], check=True, timeout=3 * 3600)
    return TARBALL, DEB


@pytest.fixture(scope="module")
def unpacked(dist, tmp_path_factory):
    where = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["tar", "-xzf", str(dist[0]), "-C", str(where)], check=True)
    exe = where / f"spinegui-{VERSION}" / "spinegui"
    assert exe.is_file()
    return exe


def bare(tmp_path, **extra):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", **extra}


def test_the_unpacked_bundle_passes_its_self_test_in_a_bare_environment(unpacked, tmp_path):
    out = subprocess.run([str(unpacked), "self-test"], cwd=unpacked.parent, env=bare(tmp_path, TMPDIR=str(tmp_path)),
                         capture_output=True, text=True, timeout=1800)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "self-test (bundle " in out.stdout, text
    for step in ("demo-data", "decode", "window", "augment", "gan-cpu", "classifier-cpu"):
        assert re.search(rf"^\s+ok  {step}\s", out.stdout, re.M), text


def test_a_failing_step_in_the_bundle_exits_non_zero_naming_it(unpacked, tmp_path):
    env = bare(tmp_path, TMPDIR=str(tmp_path), SPINEGUI_SELFTEST_FAIL="augment")
    out = subprocess.run([str(unpacked), "self-test", "--only", "augment"], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr
    assert re.search(r"^FAIL  augment\s", out.stdout, re.M) and "self-test FAILED: augment" in out.stdout


def test_the_deb_installs_the_bundle_a_command_a_menu_entry_and_an_icon(dist):
    listing = subprocess.run(["dpkg-deb", "-c", str(dist[1])], capture_output=True, text=True, check=True).stdout
    for path in ("./opt/spinegui/spinegui", "./usr/bin/spinegui", "./usr/share/applications/spinegui.desktop",
                 "./usr/share/icons/hicolor/256x256/apps/spinegui.png", "./opt/spinegui/_internal/"):
        assert re.search(rf" {re.escape(path)}( |$)", listing, re.M), path
    fields = {f: subprocess.run(["dpkg-deb", "-f", str(dist[1]), f], capture_output=True, text=True,
                                check=True).stdout.strip() for f in ("Package", "Version", "Depends")}
    assert fields["Package"] == "spinegui" and fields["Version"] == VERSION
    for pkg in ("libxcb-cursor0", "libegl1", "libxkbcommon-x11-0", "libgl1", "libfontconfig1", "libdbus-1-3"):
        assert pkg in fields["Depends"]
