"""Pictures of the app for the README, made by the app itself so they stay current.

docs/app_main.png        `spinegui --dataset DEMO --screenshot ...` (browser + viewer with boxes)
docs/app_annotating.png  the same window, zoomed on a lesion, a box selected and a new one being drawn
docs/augment_panel.png   the Augment tab: the preprint's "basic" preset, original | augmented, 3x3 draws
docs/gan_panel.png       the GAN tab: a WGAN-GP trained from the panel on the CPU for 3 minutes, loss
                         curves and the newest fixed-noise sample grid; or, with `gan-run RUN`, the tab
                         showing a longer run made with `spinegui train-gan` (opened as a user would)
docs/results_panel.png   the Results tab on an experiment folder (`spinegui experiment --out DIR`, e.g. the
                         README's demo grid; training one takes minutes, so it is given, not made): the
                         paper protocol's run with the most synthetic validation images, its validation
                         confusion matrix and a cell
All on the 300-image demo dataset a user gets at the first start (seed 0).
Run: .venv/bin/python scripts/make_screenshots.py all EXPERIMENT_DIR   (every picture)
     .venv/bin/python scripts/make_screenshots.py [gan]   (all but the Results picture; gan: only the GAN one)
     .venv/bin/python scripts/make_screenshots.py gan-run RUN   (only the GAN picture, of a finished run)
     .venv/bin/python scripts/make_screenshots.py results EXPERIMENT_DIR   (only the Results picture)
Set SPINEGUI_SHOTS=DIR to also keep the GAN tab's intermediate pictures (training, samples, quality).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def annotating(root: Path, ws: Path, home: Path, out: Path) -> None:
    from PySide6.QtCore import QEvent, QPointF, QSettings
    from PySide6.QtWidgets import QApplication

    from mouse import LEFT, NONE, send
    from spinegui.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(home / "shots.ini"), QSettings.Format.IniFormat)
    settings.setValue("reader", "Dr A. Reader")
    win = MainWindow(settings, ws)
    win.setProperty("headless", True)
    win.resize(1400, 900)
    win.show()
    win.open_dataset(root)
    rec = next(r for r in win.index.images.values()
               if any(b.lesion_type == "Spondylolysthesis" for b in r.boxes))
    win.browser.select_image(rec.image_id)
    import time

    deadline = time.monotonic() + 2.0  # let the thumbnails arrive, as they do for a user
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    box = next(b for b in win.store.boxes(rec.image_id) if b.lesion_type == "Spondylolysthesis")
    viewer = win.viewer
    x0, y0, x1, y1 = box.xyxy
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 1.6
    viewer.zoom_to(cx - half, cy - half, cx + half, cy + half)
    app.processEvents()
    viewer.select_box(box.uid)
    win.annotation_panel.select_box(box.uid)
    viewer.setFocus()
    viewer.set_draw_mode(True)  # a second reader starts a box of their own, mid-drag
    p0 = QPointF(viewer.map_to_viewport(x0 - 0.25 * half, y1 + 0.05 * half))
    p1 = QPointF(viewer.map_to_viewport(x0 + 0.35 * half, y1 + 0.45 * half))
    send(viewer.viewport, QEvent.Type.MouseButtonPress, p0, LEFT, LEFT)
    for i in range(1, 6):
        QApplication.processEvents()
        time.sleep(0.02)
        send(viewer.viewport, QEvent.Type.MouseMove, p0 + (p1 - p0) * (i / 5), NONE, LEFT)
    app.processEvents()
    win.grab().save(str(out))
    print(f"wrote {out}")
    send(viewer.viewport, QEvent.Type.MouseButtonRelease, p1, LEFT, NONE)
    win.close()


def augmenting(root: Path, ws: Path, home: Path, out: Path) -> None:
    import time

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from spinegui.augment.presets import load_preset
    from spinegui.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])

    def wait(cond, timeout):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    settings = QSettings(str(home / "shots_augment.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, ws)
    win.setProperty("headless", True)
    win.resize(1400, 900)
    win.show()
    win.open_dataset(root)
    rec = max(win.index.images.values(), key=lambda r: (len({b.lesion_type for b in r.boxes}), r.image_id))
    win.browser.select_image(rec.image_id)
    wait(lambda: win.current == rec.image_id and win.viewer_image_id() == rec.image_id, 10)
    win.actions["augment"].trigger()
    panel = win.augment_panel
    wait(lambda: panel.engine_ready, 60)
    from spinegui.augment.pipeline import Augmenter

    config = load_preset("basic")
    # a seed whose draw (one transform per image in this preset) is a clearly visible rotation
    seed = next(s for s in range(1000) if abs(Augmenter(config).draw(1, s).record(0).get("angle", 0)) > 20)
    shown = []
    panel.full_shown.connect(shown.append)
    panel.load_preset("basic")
    panel.set_seed(seed)
    wait(lambda: shown and shown[-1] == panel.generation and not panel._grid_todo, 10)
    wait(lambda: False, 0.3)
    win.grab().save(str(out))
    print(f"wrote {out}")
    win.close()


MINUTES = float(os.environ.get("SPINEGUI_SHOT_MINUTES", "3"))   # GAN training time of the GAN picture


def gan_training(root: Path, ws: Path, home: Path, out: Path) -> None:
    """Train from the panel as a user would (a job process on the CPU), then make samples and check
    their quality; the picture is the Training tab at the end."""
    import time

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from spinegui.core.dataset.vindr import LESION_TYPES
    from spinegui.gan.data import images_of
    from spinegui.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    extra = Path(os.environ["SPINEGUI_SHOTS"]) if os.environ.get("SPINEGUI_SHOTS") else None

    def wait(cond, timeout):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        if not cond():
            raise SystemExit(f"gan_training: timed out; {panel.message.text()} {panel.browser.message.text()} "
                             f"{panel.status.text()}")

    def pause(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def keep(name):
        if extra is not None:
            extra.mkdir(parents=True, exist_ok=True)
            win.grab().save(str(extra / name))

    settings = QSettings(str(home / "shots_gan.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, ws)
    win.setProperty("headless", True)
    win.resize(1400, 900)
    win.show()
    win.open_dataset(root)
    win.actions["gan"].trigger()
    panel = win.gan_panel
    cls = max(LESION_TYPES, key=lambda c: len(images_of(win.index, c)))  # the best-fed lesion class
    panel.form.set_checked([cls])
    # the experiments' recipe and default CPU budget (README, GAN synthesis): a few minutes, not epochs
    panel.form.set_values({"size": 64, "batch": 8, "epochs": 100000, "minutes": MINUTES, "sample_every": 10,
                           "device": "cpu", "n_critic": 2, "lr_g": 2e-4, "lr_d": 2e-4})
    panel.start()
    wait(lambda: (panel._status or {}).get("state") == "running" and (panel.grid.epoch or 0) >= 5, 120)
    keep("gan_1_training.png")
    wait(lambda: (panel._status or {}).get("state") == "done", 60 * MINUTES + 300)
    pause(3)   # the last grid and loss rows arrive after the state
    panel.plot.flush()
    pause(0.5)
    win.grab().save(str(out))
    print(f"wrote {out}")
    panel.tabs.setCurrentWidget(panel.browser)
    panel.make_samples(9, 5)
    wait(lambda: len(panel.browser.synthetic_grid.tiles) == 9, 120)
    keep("gan_2_samples.png")
    panel.check_quality(60)
    wait(lambda: len(panel.browser.pairs.tiles) > 0, 300)
    pause(0.5)
    keep("gan_3_quality.png")
    win.close()


def gan_run(run: Path, out: Path) -> None:
    """The GAN tab showing a finished `spinegui train-gan` run: Open run folder, as a user would."""
    import tempfile
    import time
    import tomllib

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from spinegui.ui.main_window import MainWindow

    config = tomllib.loads((run / "config.toml").read_text(encoding="utf-8"))
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as home:
        os.environ["SPINEGUI_HOME"] = home
        win = MainWindow(QSettings(str(Path(home) / "shots.ini"), QSettings.Format.IniFormat),
                         config.get("workspace"))  # (absent: the dataset's usual workspace)
        win.setProperty("headless", True)
        win.resize(1400, 900)
        win.show()
        win.open_dataset(Path(config["root"]))
        win.actions["gan"].trigger()
        panel = win.gan_panel
        panel.open_run(run)
        end = time.monotonic() + 300

        def ready():
            caching = win.builder is not None and win.builder.is_running()
            return not caching and panel.grid.epoch == config["epochs"] and panel.plot.points_drawn("critic")

        while time.monotonic() < end and not ready():
            app.processEvents()
            time.sleep(0.02)
        if panel.grid.epoch != config["epochs"]:
            raise SystemExit(f"gan_run: the run's last sample grid did not show; {panel.message.text()}")
        panel.plot.flush()
        for _ in range(25):
            app.processEvents()
            time.sleep(0.02)
        win.grab().save(str(out))
        print(f"wrote {out}")
        win.close()


def results(experiment: Path, out: Path) -> None:
    import shutil
    import time

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from spinegui.core.results import experiment_folder as er
    from spinegui.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / experiment.name  # a copy: listing a run may refresh its status file
        shutil.copytree(experiment, folder, ignore=shutil.ignore_patterns("checkpoints", "data", "gan"))
        win = MainWindow(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat), Path(tmp) / "ws")
        win.resize(1400, 900)
        win.show()
        win.show_results_panel()
        panel = win.results_panel
        panel.set_runs_root(Path(tmp))
        panel.open_folder(folder)
        end = time.monotonic() + 30
        while panel.exp is None and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
        exp = panel.exp
        key = max(exp.runs, key=lambda k: (exp.runs[k]["protocol"] == "paper",
                                           exp.runs[k].get("counts", {}).get("val_synthetic", 0)))
        panel.select_run(key)
        panel.detail.set_fold("val")
        n = len(exp.classes)
        synthetic = [sum(i.origin not in ("", "real") for i in er.cell_items(exp, key, "val", c, c)) for c in range(n)]
        panel.detail.show_cell(*(2 * [max(range(n), key=synthetic.__getitem__)]))
        for _ in range(25):
            app.processEvents()
            time.sleep(0.02)
        win.grab().save(str(out))
        win.close()


def main():
    if sys.argv[1:2] == ["gan-run"]:
        gan_run(Path(sys.argv[2]).resolve(), DOCS / "gan_panel.png")
        return
    if sys.argv[1:2] == ["results"]:
        results(Path(sys.argv[2]), DOCS / "results_panel.png")
        return
    from spinegui.core.dataset.cache import ImageCache
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dataset.workspace import Workspace
    from spinegui.core.demo.dataset import generate_demo_dataset

    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root, home = tmp / "vindr-demo", tmp / "home"
        home.mkdir()
        generate_demo_dataset(root, n_images=300, seed=0)
        ws = Workspace.for_dataset(root, tmp / "ws")
        ImageCache(ws.cache_dir).build([(r.image_id, r.path) for r in load_index(root).images.values()])
        if sys.argv[1:] == ["gan"]:
            os.environ["SPINEGUI_HOME"] = str(home)
            gan_training(root, ws.path, home, DOCS / "gan_panel.png")
            return
        env = dict(os.environ, SPINEGUI_HOME=str(home))
        subprocess.run([sys.executable, "-m", "spinegui", "--dataset", str(root), "--workspace", str(ws.path),
                        "--screenshot", str(DOCS / "app_main.png")], env=env, check=True)
        os.environ["SPINEGUI_HOME"] = str(home)
        annotating(root, ws.path, home, DOCS / "app_annotating.png")
        augmenting(root, ws.path, home, DOCS / "augment_panel.png")
        gan_training(root, ws.path, home, DOCS / "gan_panel.png")
        if len(sys.argv) > 2 and sys.argv[1] == "all":
            results(Path(sys.argv[2]), DOCS / "results_panel.png")


if __name__ == "__main__":
    main()
