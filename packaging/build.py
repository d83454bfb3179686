"""Build spinegui's Linux installers from this source tree.

    .venv/bin/python packaging/build.py [--skip-freeze] [--check]

writes
    dist/spinegui/                              the one-folder bundle (executable dist/spinegui/spinegui)
    dist/spinegui-<version>-linux-x86_64.tar.gz that folder as spinegui-<version>/
    dist/spinegui_<version>_<arch>.deb          /opt/spinegui, /usr/bin/spinegui, menu entry, icon
    dist/build-report.json                      times, sizes, torch build, Depends (what is printed)

The bundle carries the torch of the Python that runs this script: run it from a venv with the CPU
wheel for the CPU-only bundle, with a CUDA wheel for the CUDA one. PyInstaller is installed into that
Python with pip when missing. --check then measures start-up (time to the first image) and runs
`spinegui self-test` from the tarball unpacked into a fresh folder, in a bare environment.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
DIST = ROOT / "dist"
WORK = ROOT / "build"
sys.path.insert(0, str(PACKAGING))

import debian  # noqa: E402  (packaging/debian.py)
import make_icons  # noqa: E402

PYINSTALLER = "pyinstaller>=6.10"
LEVEL = 6  # gzip level of both archives


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def ensure_pyinstaller() -> str:
    try:
        import PyInstaller
    except ImportError:
        print(f"installing {PYINSTALLER} into {sys.prefix}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PYINSTALLER], check=True)
        import PyInstaller
    return PyInstaller.__version__


def torch_variant() -> dict:
    """Which torch the bundle will carry (imported in a child: torch takes seconds to import)."""
    code = "import torch; print(torch.__version__); print(torch.version.cuda or '')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    cuda = out[1].strip()
    return {"torch": out[0].strip(), "cuda": cuda or None,
            "variant": f"CUDA {cuda}" if cuda else "CPU-only"}


def freeze(log: Path) -> float:
    """PyInstaller, its chatter into a log (a few thousand lines); the tail is shown on failure."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", str(DIST),
           "--workpath", str(WORK / "pyinstaller"), str(PACKAGING / "spinegui.spec")]
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if rc:
        print(log.read_text()[-6000:], file=sys.stderr)
        raise SystemExit(f"build: PyInstaller failed (exit {rc}); full log {log}")
    return time.perf_counter() - t0


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def stage_tarball(bundle: Path, top: str) -> Path:
    stage = WORK / "tar"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    subprocess.run(["cp", "-al", str(bundle), str(stage / top)], check=True)  # hard links: no copy
    return stage


def start_tarball(stage: Path, top: str, out: Path) -> list[subprocess.Popen]:
    """tar | gzip in the background (the .deb is packed meanwhile: two cores, two compressors)."""
    out.unlink(missing_ok=True)
    tar = subprocess.Popen(["tar", "-C", str(stage), "-cf", "-", top], stdout=subprocess.PIPE)
    with open(out, "wb") as fh:
        gz = subprocess.Popen([shutil.which("pigz") or "gzip", f"-{LEVEL}"], stdin=tar.stdout, stdout=fh)
    tar.stdout.close()  # gzip holds the pipe now
    return [tar, gz]


def gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build dist/spinegui/, the .tar.gz and the .deb (Linux).")
    p.add_argument("--skip-freeze", action="store_true", help="reuse dist/spinegui/ (remake the archives only)")
    p.add_argument("--check", action="store_true",
                   help="then measure start-up and self-test the unpacked tarball in a bare environment")
    args = p.parse_args(argv)
    if not sys.platform.startswith("linux"):
        raise SystemExit("build.py makes the Linux installers; see packaging/windows/ and packaging/macos/")
    t_all = time.perf_counter()
    started = time.time()  # what a fresh bundle is newer than (tests/packaging compares sources to it)
    ver = version()
    DIST.mkdir(exist_ok=True)
    WORK.mkdir(exist_ok=True)
    bundle = DIST / "spinegui"
    report: dict = {"version": ver, "python": platform.python_version(), **torch_variant()}
    print(f"spinegui {ver}: bundling torch {report['torch']} ({report['variant']})", flush=True)
    if make_icons.stale():
        make_icons.main()
    if args.skip_freeze:
        if not (bundle / "spinegui").exists():
            raise SystemExit(f"build: --skip-freeze but there is no {bundle}/spinegui")
        report["freeze_s"] = None
    else:
        report["pyinstaller"] = ensure_pyinstaller()
        print(f"PyInstaller {report['pyinstaller']}: freezing (several minutes; log build/pyinstaller.log)",
              flush=True)
        report["freeze_s"] = round(freeze(WORK / "pyinstaller.log"), 1)
        print(f"froze in {report['freeze_s']:.0f} s", flush=True)
    info = {k: report[k] for k in ("version", "python", "torch", "cuda", "variant")}
    info["built"] = datetime.now(UTC).isoformat(timespec="seconds")
    old_info = bundle / "build-info.json"
    if args.skip_freeze and old_info.exists():  # the bundle is as old as its freeze, not as this run
        started = json.loads(old_info.read_text()).get("build_started", 0)
    info["build_started"] = started
    (bundle / "build-info.json").write_text(json.dumps(info, indent=1) + "\n")
    smoke = subprocess.run([str(bundle / "spinegui"), "--version"], capture_output=True, text=True, timeout=120)
    if smoke.returncode or ver not in smoke.stdout:
        raise SystemExit(f"build: the bundle does not start: {smoke.stdout}{smoke.stderr}")

    t0 = time.perf_counter()
    tarball = DIST / f"spinegui-{ver}-linux-{platform.machine()}.tar.gz"
    deb = DIST / f"spinegui_{ver}_{debian.arch()}.deb"
    top = f"spinegui-{ver}"
    # Both trees are hard-linked before either archiver reads: a new link changes a file's ctime,
    # and tar stops with "file changed as we read it".
    tar_stage = stage_tarball(bundle, top)
    deb_info = debian.stage(bundle, WORK / "deb", ver, ROOT / "resources",
                            f"{report['variant']}, torch {report['torch']}")
    tar = start_tarball(tar_stage, top, tarball)
    debian.pack(WORK / "deb", deb, LEVEL)
    if any([p.wait() for p in tar]):  # a list: wait for both
        raise SystemExit(f"build: making {tarball} failed")
    report["archives_s"] = round(time.perf_counter() - t0, 1)
    shutil.rmtree(WORK / "tar", ignore_errors=True)
    shutil.rmtree(WORK / "deb", ignore_errors=True)
    report.update(depends=deb_info["depends"], unknown_sonames=deb_info["unknown_sonames"],
                  bundle_bytes=size_of(bundle), tarball_bytes=size_of(tarball), deb_bytes=size_of(deb),
                  tarball=tarball.name, deb=deb.name, total_s=round(time.perf_counter() - t_all, 1))
    if deb_info["unknown_sonames"]:
        print(f"warning: no Debian package known for {', '.join(deb_info['unknown_sonames'])} "
              "(add them to packaging/debian.py PACKAGE_OF)", file=sys.stderr)
    print(f"bundle   {bundle}/  {gb(report['bundle_bytes'])}\n"
          f"tarball  {tarball}  {gb(report['tarball_bytes'])}\n"
          f"deb      {deb}  {gb(report['deb_bytes'])}\n"
          f"time     freeze {report['freeze_s'] or 0:.0f} s + archives {report['archives_s']:.0f} s = "
          f"{report['total_s']:.0f} s in all", flush=True)
    if args.check:
        import check_bundle

        report.update(check_bundle.run(tarball, ver))
    report["built"] = info["built"]
    (DIST / "build-report.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
