"""The app's budgets, each with a reference measured in the same run.

- cold start to the first image (demo dataset cached): <= 3 s; reference: a bare Python + PySide6 +
  pyqtgraph window showing one image (the floor any Qt app pays);
- next image from the cache to drawn: <= 50 ms; reference: the bare viewer drawing the same array;
- event-loop stalls while the cache builds in the background: <= 50 ms (lateness of a 10 ms QTimer);
  reference: the same timer with nothing running.
Run: python tests/benchmarks/bench_app.py
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BARE_WINDOW = """
import time; t0 = time.perf_counter()
import numpy as np, pyqtgraph as pg
from PySide6.QtWidgets import QApplication
app = QApplication([])
arr = np.load({path!r}, mmap_mode="r")
w = pg.ImageView(); w.setImage(np.asarray(arr).T, levels=(0, 4095)); w.resize(1400, 900); w.show()
app.processEvents(); w.grab()
print(f"bare {{time.perf_counter() - t0:.3f}}")
"""


def cold_start(root: Path, ws: Path, home: Path, runs: int = 3) -> list[float]:
    env = dict(os.environ, SPINEGUI_HOME=str(home))
    times = []
    for i in range(runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "spinegui", "--dataset", str(root), "--workspace", str(ws),
                              "--screenshot", str(home / f"start{i}.png")], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        m = re.search(r"first image after ([\d.]+) s", out.stdout)
        assert out.returncode == 0 and m, out.stderr[-2000:]
        times.append((float(m.group(1)), wall))
    return times


def bare_start(array_path: Path, runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", BARE_WINDOW.format(path=str(array_path))],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        times.append(time.perf_counter() - t)
    return times


def in_process(root: Path, ws: Path, fresh_ws: Path, home: Path) -> None:
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from spinegui.ui.common.image_loader import viewer_image_from_cache
    from spinegui.ui.main_window import MainWindow
    from spinegui.ui.viewer.view import ImageViewer

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(home / "bench.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, ws)
    win.setProperty("headless", True)
    win.resize(1400, 900)
    win.show()
    win.open_dataset(root)
    step_ms = []
    for _ in range(30):
        t = time.perf_counter()
        nxt = win.browser.next_image()  # the window shows the cached display image at once
        win.viewer.repaint()  # drawn, not just scheduled
        assert win.viewer.image.image_id == nxt
        step_ms.append((time.perf_counter() - t) * 1000)
        app.processEvents()
    bare = ImageViewer()
    bare.resize(1000, 850)
    bare.show()
    ids = list(win.index.images)[:30]
    bare_ms = []
    for image_id in ids:
        img = viewer_image_from_cache(win.cache, image_id)
        t = time.perf_counter()
        bare.set_image(img)
        bare.repaint()
        bare_ms.append((time.perf_counter() - t) * 1000)
    print(f"next image from cache to drawn: median {statistics.median(step_ms):.1f} ms, max {max(step_ms):.1f} ms "
          f"(<= 50 ms required); bare viewer set_image+repaint median {statistics.median(bare_ms):.1f} ms; "
          f"ratio {statistics.median(step_ms) / statistics.median(bare_ms):.2f}")
    win.close()

    def lateness(seconds: float, during_build: bool) -> list[float]:
        late, timer, clock = [], QTimer(), QElapsedTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: (late.append(max(0, clock.restart() - 10))))
        w = None
        if during_build:
            w = MainWindow(settings, fresh_ws)
            w.setProperty("headless", True)
            w.show()
            w.open_dataset(root)
        clock.start()
        timer.start()
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end and (not during_build or w.builder.is_running()):
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        if w is not None:
            w.close()
        return late

    idle = lateness(3.0, False)
    busy = lateness(60.0, True)
    p99 = lambda xs: sorted(xs)[int(0.99 * (len(xs) - 1))]  # noqa: E731
    print(f"event loop while the cache builds: max lateness {max(busy)} ms, p99 {p99(busy)} ms over {len(busy)} "
          f"ticks (<= 50 ms required); idle reference: max {max(idle)} ms, p99 {p99(idle)} ms")


def main():
    from spinegui.core.dataset.cache import ImageCache
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dataset.workspace import Workspace
    from spinegui.core.demo.dataset import generate_demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root, home = tmp / "demo", tmp / "home"
        home.mkdir()
        generate_demo_dataset(root, n_images=300, seed=0)
        ws = Workspace.for_dataset(root, tmp / "ws")
        index = load_index(root)
        ImageCache(ws.cache_dir).build([(r.image_id, r.path) for r in index.images.values()])
        first = next(iter(index.images))
        starts = cold_start(root, ws.path, home)
        bares = bare_start(ImageCache(ws.cache_dir).display_path(first))
        s = statistics.median(t for t, _ in starts)
        w = statistics.median(wall for _, wall in starts)
        b = statistics.median(bares)
        print(f"cold start to first image: median {s:.2f} s (process wall {w:.2f} s; <= 3 s required); "
              f"bare PySide6+pyqtgraph window with one image: {b:.2f} s; ratio {w / b:.2f}")
        in_process(root, ws.path, tmp / "fresh_ws", home)


if __name__ == "__main__":
    main()
