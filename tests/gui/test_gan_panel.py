"""The GAN tab on run folders written here (no training): widgets from the settings' declarations,
the same config as `spinegui train-gan`, events -> curves, sample grid and status line, the quality
report, the sample browser, the augmentation set in workspace.toml, quitting with jobs running, and
a fresh interpreter that never loads torch while the panel shows all of it."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QPushButton,
    QSpinBox,
)

from spinegui.cli.entry import build_parser
from spinegui.cli.gan import gan_config
from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import COLUMNS, load_index
from spinegui.core.dataset.workspace import Workspace
from spinegui.gan.data import images_of
from spinegui.gan.settings import SETTINGS, gan_settings
from spinegui.ui.gan import panel as gan_panel_module
from spinegui.ui.gan.loss_plot import MAX_POINTS
from spinegui.ui.gan.panel import GanPanel
from spinegui.ui.gan.settings_form import COMMON

CLASS = "Osteophytes"
MODEL = "osteophytes"


# --- run folders as a job (or the CLI, or another machine) would leave them -------------------------
def fake_run(runs_dir: Path, name: str, state: str = "running", message: str | None = None,
             classes=(CLASS,)) -> Path:
    run = runs_dir / name
    (run / "samples").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / f"{MODEL}_full.safetensors").write_bytes(b"")  # "has a checkpoint"
    (run / "config.toml").write_text(f'kind = "gan"\nseed = 0\ndevice = "cpu"\nclasses = {json.dumps(list(classes))}\n')
    status = {"state": state, "started": "2026-01-01T00:00:00.000Z", "ended": None, "message": message,
              "pid": None, "device": "cpu", "kind": "gan"}
    (run / "status.json").write_text(json.dumps(status))
    (run / "events.jsonl").touch()
    return run


def set_state(run: Path, state: str, message: str | None = None) -> None:
    status = json.loads((run / "status.json").read_text())
    status.update(state=state, message=message)
    (run / "status.json").write_text(json.dumps(status))


def append_events(run: Path, events: list[dict]) -> None:
    with open(run / "events.jsonl", "a") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events)


def training_events(model: str, first_step: int, n: int, epoch: int, epochs: int = 10, t: float = 1.0) -> list[dict]:
    steps = range(first_step, first_step + n)
    events = [{"t": t, "kind": "loss", "model": model, "step": s, "critic": 10 - s * 1e-3,
               "generator": None if s % 5 else 0.1 * np.sin(s), "wasserstein": s * 1e-4} for s in steps]
    events += [{"t": t, "kind": "progress", "model": model, "epoch": epoch, "epochs": epochs, "step": steps[-1],
                "total": epochs * 1000, "img_s": 12.5, "rss_mb": 700},
               {"t": t, "kind": "epoch", "model": model, "epoch": epoch, "seconds": 1.0, "img_s": 12.5}]
    return events


def sample_grid(run: Path, model: str, epoch: int) -> dict:
    rel = f"samples/{model}_epoch_{epoch:05d}.png"
    Image.fromarray(np.full((128, 128), 20 * epoch, np.uint8)).save(run / rel)
    return {"t": 1.0, "kind": "sample", "model": model, "epoch": epoch, "path": rel}


def write_quality(run: Path, real_ids: list[str], n: int = 6) -> dict:
    (run / "quality").mkdir()
    rng = np.random.default_rng(0)
    np.save(run / "quality" / f"{MODEL}_samples.npy", rng.integers(0, 4096, (n, 64, 64)).astype(np.uint16))
    d_st = [0.9, 0.3, 0.5, 0.7, 0.2, 0.6][:n]
    report = {"feature_net": "test features (3-d)", "n_samples": n, "seed": 0, "classes": {CLASS: {
        "model": MODEL, "epoch": 20, "n_real": len(real_ids), "fid": 1.2345, "kid": 0.0123, "kid_std": 0.001,
        "samples_file": f"quality/{MODEL}_samples.npy",
        "nearest_real": [real_ids[i % len(real_ids)] for i in range(n)],
        "nearest_real_index": [i % len(real_ids) for i in range(n)],
        "sample_to_train": d_st, "train_to_train": [0.4, 0.45, 0.5][:len(real_ids)],
        "memorised_share": 1 / 6, "memorisation_threshold": 0.4, "median_sample_to_train": 0.55,
        "median_train_to_train": 0.45}}}
    (run / "quality.json").write_text(json.dumps(report))
    return report


def write_sampled(run: Path, index, n: int = 3) -> Path:
    """A sampled dataset in the VinDr layout (demo DICOMs stand in for the generator's)."""
    out = run / "samples_dataset"
    (out / "annotations").mkdir(parents=True)
    (out / "train_images").mkdir()
    (out / "test_images").mkdir()
    rows = []
    for k, rec in enumerate(images_of(index, CLASS)[:n]):
        image_id = f"syn-gan-{MODEL}-e00005-{k:05d}"
        shutil.copy(rec.path, out / "train_images" / f"{image_id}.dicom")
        rows.append([f"study{k}", f"series{k}", image_id, "gan", CLASS, "0", "0", "64", "64"])
    for name, body in (("train.csv", rows), ("test.csv", [])):
        with open(out / "annotations" / name, "w", newline="") as fh:
            csv.writer(fh).writerows([COLUMNS, *body])
    (out / "sample_report.json").write_text(json.dumps({"written": {CLASS: n}}))
    return out


def select(qtbot, panel, run: Path) -> None:
    panel.refresh_runs()
    qtbot.waitUntil(lambda: panel.runs.row(run.resolve()) is not None, timeout=10000)
    panel.runs.setCurrentItem(panel.runs.row(run.resolve()))
    assert panel.run_dir == run.resolve()


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cached(demo_root, tmp_path_factory):
    """The demo index and a workspace whose cache holds the class's images (copy before use)."""
    index = load_index(demo_root)
    ws = Workspace.for_dataset(demo_root, tmp_path_factory.mktemp("ganws") / "ws")
    ImageCache(ws.cache_dir).build([(r.image_id, r.path) for r in images_of(index, CLASS)], workers=1)
    return index, ws.path


def make_panel(index, ws_src: Path, dest: Path) -> GanPanel:
    shutil.copytree(ws_src, dest)
    ws = Workspace.for_dataset(index.root, dest)
    panel = GanPanel()
    panel.resize(1400, 860)
    panel.set_dataset(index, ws, ImageCache(ws.cache_dir))
    return panel


@pytest.fixture
def panel(qtbot, cached, tmp_path):
    p = make_panel(*cached, tmp_path / "ws")
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()


# --- settings -------------------------------------------------------------------------------------
def test_every_setting_has_a_widget_made_from_its_declaration(panel):
    form = panel.form
    assert set(form.editors) == {s.name for s in SETTINGS}
    for s in SETTINGS:
        w = form.editors[s.name]
        assert s.help in w.toolTip()
        assert form.section.isAncestorOf(w) == (s.name not in COMMON), s.name
        if s.choices:
            assert isinstance(w, QComboBox) and [w.itemData(i) for i in range(w.count())] == list(s.choices)
            assert w.currentData() == s.default
        elif isinstance(s.default, bool):
            assert isinstance(w, QCheckBox) and w.isChecked() == s.default
        elif s.default is None:
            assert isinstance(w, QLineEdit) and w.text() == "" and w.placeholderText().startswith("by arch")
        elif isinstance(s.default, int):
            assert isinstance(w, QSpinBox) and w.value() == s.default
            assert (w.minimum(), w.maximum()) == (s.low, min(s.high, 2**31 - 1))
        else:
            assert isinstance(w, QDoubleSpinBox) and w.value() == s.default
            assert (w.minimum(), w.maximum()) == (s.low, s.high)
    untouched = {k: v for k, v in form.values().items() if v is not None}
    assert gan_settings(untouched) == gan_settings({})
    form.editors["arch"].setCurrentIndex(form.editors["arch"].findData("dcgan"))
    assert form.editors["lr_g"].placeholderText() == "by arch: 0.0002"


def test_classes_are_listed_with_their_training_image_counts(panel, cached):
    index, _ = cached
    items = [panel.form.classes.item(i) for i in range(panel.form.classes.count())]
    texts = {it.data(Qt.ItemDataRole.UserRole): it.text() for it in items}
    assert texts[CLASS] == f"{CLASS} ({len(images_of(index, CLASS))})"
    assert all(bool(it.flags() & Qt.ItemFlag.ItemIsUserCheckable) for it in items)


def test_start_builds_the_same_config_as_the_command_line(panel, qtbot, monkeypatch, demo_root):
    panel.form.set_checked([CLASS, "Vertebral collapse"])
    panel.form.set_values({"arch": "dcgan", "size": 128, "epochs": 7, "batch": 16, "crops": True,
                           "diffaugment": True, "device": "cpu", "seed": 42, "width": 16, "lr_g": 3e-4,
                           "keep_last": 3, "gp_weight": 5.0})
    args = build_parser().parse_args([
        "train-gan", str(demo_root), "--classes", f"{CLASS},Vertebral collapse", "--out", "unused",
        "--workspace", str(panel.ws.path), "--arch", "dcgan", "--size", "128", "--epochs", "7", "--batch", "16",
        "--crops", "--diffaugment", "--device", "cpu", "--seed", "42", "--width", "16", "--lr-g", "3e-4",
        "--keep-last", "3", "--gp-weight", "5"])
    assert panel.build_config() == gan_config(args)
    submitted = []

    def submit(kind, config, run_dir, resume=False):
        submitted.append((kind, config, Path(run_dir)))
        return Path(run_dir).resolve()

    monkeypatch.setattr(panel.queue, "submit", submit)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.run_dir is not None, timeout=5000)
    (kind, config, run_dir), = submitted
    assert kind == "gan" and config == gan_config(args)
    assert run_dir.parent == panel.ws.runs_dir and run_dir.name.startswith("gan-")
    assert panel.run_dir == run_dir.resolve() and "started" in panel.message.text()


def test_bad_input_is_one_line_in_the_panel(panel, qtbot, monkeypatch):
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.message.text() == "tick at least one class to train"
    panel.form.set_checked([CLASS])
    panel.form.editors["lr_g"].setText("fast")
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.message.text() == "lr-g: expected a number, got 'fast'"
    panel.form.editors["lr_g"].setText("5")
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert "outside the allowed range" in panel.message.text() and one_line(panel.message.text())
    panel.form.editors["lr_g"].setText("")
    monkeypatch.setattr("spinegui.gan.data.images_of", lambda index, name: [])
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert f"no training image of class '{CLASS}'" in panel.message.text() and one_line(panel.message.text())
    assert "bold" in panel.message.styleSheet() and panel.queue.idle and not panel.ws.runs_dir.exists()


def test_a_failed_run_shows_its_message_and_can_resume(panel, qtbot, tmp_path):
    run = fake_run(panel.ws.runs_dir, "gan-failed", "failed", "Diverged: diverged at step 12 (critic loss nan)")
    select(qtbot, panel, run)
    qtbot.waitUntil(lambda: "diverged at step 12" in panel.status.text(), timeout=5000)
    assert "failed" in panel.status.text() and panel.resume_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.open_run(tmp_path / "not-a-run")
    assert one_line(panel.message.text()) and "no such run folder" in panel.message.text()


# --- the live view --------------------------------------------------------------------------------
def test_events_update_curves_sample_grid_and_status(panel, qtbot):
    run = fake_run(panel.ws.runs_dir, "gan-live")
    append_events(run, [{"t": 0.0, "kind": "state", "state": "running"}, *training_events(MODEL, 1, 3000, 3),
                        sample_grid(run, MODEL, 3)])
    select(qtbot, panel, run)
    qtbot.waitUntil(lambda: panel.grid.epoch == 3, timeout=5000)
    assert panel.plot.series[MODEL]["critic"].n == 3000 and panel.plot.series[MODEL]["generator"].n == 600
    assert 0 < panel.plot.points_drawn("critic") <= MAX_POINTS + 1  # decimated
    text = panel.status.text()
    for part in ("running", "epoch 3/10", "12.5 img/s", "cpu", "700 MB RSS"):
        assert part in text, part
    assert "SYNTHETIC" in panel.grid_caption.text() and "epoch 3" in panel.grid_caption.text()
    assert panel.cancel_button.isEnabled() and not panel.resume_button.isEnabled()

    offset = panel._offset  # later polls read only what was appended
    append_events(run, [*training_events(MODEL, 3001, 100, 4, t=2.0), sample_grid(run, MODEL, 4)])
    qtbot.waitUntil(lambda: panel.grid.epoch == 4, timeout=5000)
    assert panel.plot.series[MODEL]["critic"].n == 3100 and panel._offset > offset
    assert "epoch 4/10" in panel.status.text()

    append_events(run, training_events("vertebral-collapse", 1, 50, 1, t=3.0))  # the next class's model
    qtbot.waitUntil(lambda: panel.model.currentText() == "vertebral-collapse", timeout=5000)
    assert panel.plot.model == "vertebral-collapse" and panel.grid_caption.text() == ""
    panel.model.setCurrentIndex(panel.model.findText(MODEL))
    panel.model.activated.emit(panel.model.currentIndex())  # the user picks one: no more following
    append_events(run, training_events("vertebral-collapse", 51, 50, 2, t=4.0))
    set_state(run, "done")
    qtbot.waitUntil(lambda: "done" in panel.status.text(), timeout=5000)
    assert panel.model.currentText() == MODEL and panel.plot.series["vertebral-collapse"]["critic"].n == 100
    assert not panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.runs.row(run.resolve()).text(1) == "done", timeout=5000)


# --- samples and quality ----------------------------------------------------------------------------
def test_quality_report_shows_scores_histogram_and_nearest_pairs(panel, qtbot, cached):
    index, _ = cached
    real_ids = [r.image_id for r in images_of(index, CLASS)]
    run = fake_run(panel.ws.runs_dir, "gan-quality", "done")
    write_quality(run, real_ids)
    select(qtbot, panel, run)
    panel.tabs.setCurrentWidget(panel.browser)
    qtbot.waitUntil(lambda: len(panel.browser.pairs.tiles) == 12, timeout=5000)
    text = panel.browser.scores.text()
    assert "FID 1.234" in text and "KID 0.0123" in text and "test features (3-d)" in text
    assert panel.browser.histogram.isVisible()
    x, y = panel.browser.histogram.samples.getData()
    assert len(x) == len(y) + 1 and abs(y.sum() - 1) < 1e-9  # shares of the samples
    tiles = panel.browser.pairs.tiles
    assert [t[2] for t in tiles] == [True, False] * 6  # SYNTHETIC, then its nearest real image
    assert all(t[0] is not None for t in tiles)  # real images came from the cache
    distances = [float(t[1].split("d ")[1]) for t in tiles[::2]]
    assert distances == sorted(distances)  # closest (most suspicious) first
    assert tiles[1][1] == f"real {real_ids[4 % len(real_ids)][:8]}"

    # a class with one real image has neither FID nor KID: the report says n/a, nothing breaks
    report = json.loads((run / "quality.json").read_text())
    report["classes"][CLASS].update(fid=None, kid=None, kid_std=None, median_train_to_train=None)
    panel.browser.show_quality(report, CLASS)
    assert "FID n/a" in panel.browser.scores.text() and "KID n/a" in panel.browser.scores.text()


def test_sampled_dataset_is_browsed_and_added_to_the_augmentation_set(panel, qtbot, cached, monkeypatch):
    import tomllib

    asked = []   # the run's quality was never checked: Add asks first (test_gan_gate_panel.py)
    monkeypatch.setattr("spinegui.ui.gan.tasks.ask", lambda *a: asked.append(a) or True)

    index, _ = cached
    run = fake_run(panel.ws.runs_dir, "gan-sampled", "done")
    out = write_sampled(run, index)
    select(qtbot, panel, run)
    panel.tabs.setCurrentWidget(panel.browser)
    browser = panel.browser
    qtbot.waitUntil(lambda: len(browser.synthetic_grid.tiles) == 3 and len(browser.real_grid.tiles) == 3,
                    timeout=10000)
    assert all(t[2] and t[0] is not None for t in browser.synthetic_grid.tiles)
    assert all(not t[2] and t[0] is not None for t in browser.real_grid.tiles)
    assert browser.add_button.isEnabled()
    qtbot.mouseClick(browser.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not browser.add_button.isEnabled(), timeout=5000)
    assert len(asked) == 1 and "never checked" in asked[0][2]
    data = tomllib.loads((panel.ws.path / "workspace.toml").read_text())
    entry, = data["synthetic_sets"]
    assert entry["path"] == str(out.resolve()) and entry["run"] == "gan-sampled"
    assert entry["classes"] == [CLASS] and entry["n"] == 3
    assert not browser.add_button.isEnabled() and "augmentation set" in browser.set_label.text()


def test_making_samples_without_a_checkpoint_is_refused(panel, qtbot):
    run = fake_run(panel.ws.runs_dir, "gan-fresh", "queued")
    (run / "checkpoints" / f"{MODEL}_full.safetensors").unlink()
    select(qtbot, panel, run)
    qtbot.mouseClick(panel.browser.make_button, Qt.MouseButton.LeftButton)
    assert "no checkpoint yet" in panel.browser.message.text() and panel.queue.idle


# --- quitting -----------------------------------------------------------------------------------------
def test_quitting_with_running_jobs_asks_first(qtbot, tmp_path, monkeypatch):
    from spinegui.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), tmp_path / "ws")
    qtbot.addWidget(win)
    win.show()
    assert win.tabs.tabText(2) == "GAN" and win.actions["gan"].shortcut().toString() == "Ctrl+T"
    win.actions["gan"].trigger()
    assert win.tabs.currentWidget() is win.gan_panel
    monkeypatch.setattr(GanPanel, "active_jobs", lambda self: 2)
    answers, shut = [], []
    monkeypatch.setattr(gan_panel_module, "ask_quit_with_jobs", lambda parent, n: answers.append(n) or False)
    monkeypatch.setattr(GanPanel, "shutdown", lambda self: shut.append(True))
    win.close()
    assert win.isVisible() and answers == [2] and not shut  # "Keep working"
    monkeypatch.setattr(gan_panel_module, "ask_quit_with_jobs", lambda parent, n: True)
    win.close()
    assert not win.isVisible() and shut == [True]  # "Cancel the jobs" (they checkpoint) and quit
    monkeypatch.undo()
    win.gan_panel.shutdown()


@pytest.mark.parametrize("choice, expected", [("Keep working", False), ("Cancel the jobs", True)])
def test_the_quit_question_offers_cancelling_or_keeping_on(panel, choice, expected):
    def click():
        box = QApplication.activeModalWidget()
        button = next(b for b in box.findChildren(QPushButton) if b.text().startswith(choice))
        button.click()

    QTimer.singleShot(50, click)
    assert gan_panel_module.ask_quit_with_jobs(panel, 1) is expected


# --- torch stays out of the GUI process -------------------------------------------------------------
def torch_free_tour(demo_root: Path, ws_src: Path, tmp: Path) -> dict:
    """The panel shows a live run, a quality report and a sampled dataset and starts a real job; what
    the process imported is reported by the caller (run in a fresh interpreter)."""
    app = QApplication.instance() or QApplication([])
    index = load_index(demo_root)
    panel = make_panel(index, ws_src, tmp / "ws")
    panel.show()

    def wait(cond, timeout=20.0):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        return cond()

    run = fake_run(panel.ws.runs_dir, "gan-tour", "done")
    append_events(run, [*training_events(MODEL, 1, 200, 2), sample_grid(run, MODEL, 2)])
    write_quality(run, [r.image_id for r in images_of(index, CLASS)])
    write_sampled(run, index)
    panel.refresh_runs()
    wait(lambda: panel.runs.row(run.resolve()) is not None)
    panel.runs.setCurrentItem(panel.runs.row(run.resolve()))
    panel.tabs.setCurrentWidget(panel.browser)
    shown = wait(lambda: panel.grid.epoch == 2 and len(panel.browser.pairs.tiles) == 12
                 and len(panel.browser.synthetic_grid.tiles) == 3)
    panel.form.set_checked([CLASS])
    panel.form.set_values({"device": "cpu", "epochs": 1, "size": 64, "width": 8, "batch": 4})
    started = panel.start() is not None and wait(lambda: bool(panel.queue.running))
    panel.shutdown()  # cancels the job (its process imports torch; this one must not)
    return {"shown": shown, "started": started}


def test_the_gui_process_never_imports_torch(cached, demo_root, tmp_path):
    code = (
        "import json, os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "import test_gan_panel as t\n"
        f"out = t.torch_free_tour(Path({str(demo_root)!r}), Path({str(cached[1])!r}), Path({str(tmp_path)!r}))\n"
        "out['torch'] = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
        "print('RESULT', json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(line[len("RESULT "):])
    assert out == {"shown": True, "started": True, "torch": []}
