"""Check a built tarball the way a lab admin would use it, and measure it.

    .venv/bin/python packaging/check_bundle.py [dist/spinegui-<version>-linux-x86_64.tar.gz]

Unpacks it into a fresh folder, then with a bare environment (`env -i HOME=… PATH=/usr/bin:/bin`,
no venv anywhere): makes a demo dataset, times start-up to the first image (`--screenshot`, three
times) and runs `spinegui self-test`. Prints the figures; build.py --check adds them to its report.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bare_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/usr/bin:/bin"}


def unpack(tarball: Path, into: Path) -> Path:
    t0 = time.perf_counter()
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(into)], check=True)
    (exe,) = into.glob("spinegui-*/spinegui")
    print(f"unpacked {tarball.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return exe


def startup(exe: Path, work: Path, env: dict[str, str], runs: int = 3) -> dict:
    """Seconds from process start to the first image drawn (the app's own figure), and wall time."""
    demo = work / "demo"
    subprocess.run([str(exe), "demo-data", str(demo), "--images", "24"], env=env, check=True,
                   capture_output=True, timeout=600)
    firsts, walls = [], []
    for i in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([str(exe), "--screenshot", str(work / f"shot{i}.png"), "--dataset", str(demo),
                              "--workspace", str(work / "ws")], env={**env, "QT_QPA_PLATFORM": "offscreen"},
                             capture_output=True, text=True, timeout=300)
        walls.append(time.perf_counter() - t0)
        found = re.search(r"first image after ([\d.]+) s", out.stdout)
        if out.returncode or not found:
            raise SystemExit(f"check: --screenshot failed: {out.stdout}{out.stderr}")
        firsts.append(float(found.group(1)))
    # The app's figure counts from its main(); before that come the bootloader and Python's start,
    # which `--version` alone takes.
    launch = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--version"], env=env, check=True, capture_output=True, timeout=60)
        launch.append(time.perf_counter() - t0)
    pre = statistics.median(launch)
    print(f"start-up to the first image: {', '.join(f'{s:.2f}' for s in firsts)} s after main(), plus "
          f"{pre:.2f} s to get there (process wall time with the picture saved and exit: "
          f"{', '.join(f'{s:.2f}' for s in walls)} s)", flush=True)
    return {"startup_first_image_s": firsts, "startup_launch_s": round(pre, 2),
            "startup_wall_s": [round(w, 2) for w in walls],
            "startup_cold_s": round(firsts[0] + pre, 2),
            "startup_warm_s": round(statistics.median(firsts[1:]) + pre, 2)}


def self_test(exe: Path, env: dict[str, str]) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([str(exe), "self-test"], env=env, capture_output=True, text=True, timeout=1800)
    secs = time.perf_counter() - t0
    print(out.stdout + out.stderr, flush=True)
    if out.returncode:
        raise SystemExit(f"check: the bundle's self-test failed (exit {out.returncode})")
    return {"selftest_bundle_s": round(secs, 1)}


def run(tarball: Path, version: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="spinegui-check-") as tmp:
        tmp = Path(tmp)
        exe = unpack(tarball, tmp)
        home = tmp / "home"
        home.mkdir()
        env = bare_env(home)
        figures = startup(exe, tmp, env)
        figures.update(self_test(exe, env))
    return figures


def main() -> int:
    if len(sys.argv) > 1:
        tarball = Path(sys.argv[1])
    else:
        (tarball,) = sorted((ROOT / "dist").glob("spinegui-*-linux-*.tar.gz"))[-1:]
    print(json.dumps(run(tarball), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
