"""Grad-CAM over an image opened from the Results tab (issue #6): the main window on the demo dataset,
an experiment folder whose run points at a tiny ResNet-18 trained here (64 px, as test_gradcam.py
trains one), an image opened from a confusion cell, the Grad-CAM toggle. The heatmap drawn must be the
one `spinegui.train.gradcam` computes on the same image in this process, computed by another process
(the app never imports torch: test_results_panel.py checks that in a fresh interpreter); toggling off
or showing another image removes it; a missing or unreadable checkpoint is one status-bar line."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from results_factory import CLASSES, make_experiment  # noqa: E402

SIZE, SIDE = 64, 12
PLACES = ((8, 44), (44, 8))  # class 1: a bright square top right, class 2: bottom left; class 0: none
KEY, MISSING, CORRUPT = "safe-none-resnet18", "safe-gan-resnet18", "paper-none-resnet18"
WORKER_S = 180  # the worker's first answer: spawn, import torch, load the model (seconds on a busy CPU)


def _batch(rng, n):
    from spinegui.train import classifier as C

    y = rng.integers(0, 3, n)
    x = rng.uniform(0.1, 0.4, (n, SIZE, SIZE)).astype(np.float32)
    for i, label in enumerate(y):
        if label:
            r, c = PLACES[label - 1]
            x[i, r:r + SIDE, c:c + SIDE] = 0.95
    return C.normalise(torch.from_numpy(x)[:, None]), torch.from_numpy(y)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 3-class ResNet-18 at 64 px with the results factory's classes, a few steps trained (so that its
    gradients are not those of random weights), saved as `spinegui experiment` saves its best model."""
    from spinegui.train import classifier as C

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two spinning threads on a busy 2-core machine are ten times slower
    try:
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        model = C.build("resnet18", len(CLASSES), SIZE)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for _ in range(10):
            x, y = _batch(rng, 16)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for m in model.modules():  # batch-norm statistics measured afresh (see test_gradcam.py)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        with torch.no_grad():
            for _ in range(2):
                model(_batch(rng, 32)[0])
        path = tmp_path_factory.mktemp("gradcam-ckpt") / "model_best.safetensors"
        C.save_checkpoint(path, {f"model.{k}": v for k, v in model.state_dict().items()},
                          {"model": "resnet18", "n_classes": len(CLASSES), "classes": CLASSES, "size": SIZE})
    finally:
        torch.set_num_threads(threads)
    return path


def make_results(folder: Path, ids: list[str], checkpoint: Path) -> dict:
    """The factory's experiment over the demo images; KEY's checkpoint is the model above, MISSING's is
    absent, CORRUPT's is not a safetensors file."""
    made = make_experiment(folder, ids=ids)
    doc = json.loads((folder / "results.json").read_text())
    ckpts = folder / "checkpoints"
    ckpts.mkdir()
    for run in doc["runs"]:
        run["checkpoint"] = f"checkpoints/{run['key']}_best.safetensors"
    shutil.copy(checkpoint, ckpts / f"{KEY}_best.safetensors")
    shutil.copy(checkpoint.with_suffix(".json"), ckpts / f"{KEY}_best.json")
    (ckpts / f"{CORRUPT}_best.safetensors").write_bytes(b"not a checkpoint")
    (folder / "results.json").write_text(json.dumps(doc, indent=1))
    return made


def open_window(qtbot, demo_root, tmp_path):
    from spinegui.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), tmp_path / "ws")
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    with qtbot.waitSignal(win.image_shown, timeout=20000):
        assert win.open_dataset(demo_root)
    return win


def open_from_results(qtbot, win, key: str, cell: tuple[int, int], row: int = 0) -> str:
    """Double-click an image of a confusion cell of run `key`, as a user does; returns its id."""
    win.actions["results"].trigger()
    panel = win.results_panel
    panel.select_run(key)
    panel.detail.show_cell(*cell)
    items = panel.detail.items
    item_id = items.items[row].item_id
    rect = items.visualItemRect(items.item(row, 0))
    with qtbot.waitSignal(panel.open_image, timeout=2000):
        qtbot.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: win.viewer_image_id() == item_id, timeout=20000)
    return item_id


def toggle(qtbot, win) -> None:
    qtbot.mouseClick(win.gradcam.button, Qt.MouseButton.LeftButton)


def test_gradcam_overlay_of_a_result_image(qtbot, demo_root, tmp_path, checkpoint):
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dicom.display import apply_window
    from spinegui.train.gradcam import GradCam
    from spinegui.ui.common.image_loader import viewer_image_from_cache

    ids = sorted(load_index(demo_root).images)
    folder = tmp_path / "exp"
    made = make_results(folder, ids, checkpoint)
    win = open_window(qtbot, demo_root, tmp_path)
    viewer, gc = win.viewer, win.gradcam
    assert not gc.action.isEnabled() and not gc.button.isVisible()  # a dataset image: nothing to explain
    assert win.actions["gradcam"] is gc.action and gc.action.text() == "Grad-CAM overlay"
    with qtbot.waitSignal(win.results_panel.loaded, timeout=10000) as sig:
        win.results_panel.open_folder(folder)
    assert sig.args[0] is not None, win.results_panel.message.text()

    # True Disc space narrowing, predicted No finding: the run's prediction is the class explained.
    item_id = open_from_results(qtbot, win, KEY, (1, 0))
    assert gc.action.isEnabled() and gc.button.isVisible() and not gc.action.isChecked()
    assert gc.context.checkpoint == folder / "checkpoints" / f"{KEY}_best.safetensors"
    assert (gc.context.true, gc.context.pred) == (CLASSES[1], CLASSES[0])
    assert item_id in {i for i, _ in made["cells"][(KEY, "test")][(1, 0)]}
    qtbot.waitUntil(lambda: win.cache.entries.get(item_id, {}).get("state") == "ok", timeout=60000)
    toggle(qtbot, win)
    assert gc.action.isChecked() and viewer.legend.isVisible() and viewer.heat_title.text() == "Grad-CAM"
    qtbot.waitUntil(lambda: viewer.heatmap is not None or not gc.action.isChecked(), timeout=WORKER_S * 1000)
    assert viewer.heatmap is not None, win.statusBar().currentMessage()

    # Another process computed it: the app's process holds no model.
    pid = gc.engine.pid
    assert pid is not None and pid != os.getpid()
    maps = Path(f"/proc/{pid}/maps")
    if maps.exists():  # Linux: the worker has torch's library mapped
        assert "libtorch" in maps.read_text()

    # The very heatmap Grad-CAM gives for this image (the display cache through its default window).
    image = viewer_image_from_cache(win.cache, item_id)
    image01 = apply_window(image.pixels, image.window, image.invert)
    expected = GradCam(checkpoint)(image01, target_class=0)
    heat = viewer.heatmap
    assert heat.shape == image.pixels.shape and expected.heatmap.max() == pytest.approx(1.0)
    assert np.abs(heat - expected.heatmap).max() < 1e-4
    assert viewer._heat.isVisible() and np.array_equal(viewer._heat.image, heat)
    p = float(expected.probabilities[0])
    assert viewer.heat_title.text() == f"Grad-CAM: {CLASSES[0]} · resnet18"  # the title: class and model
    assert viewer.legend.text().startswith(f"p({CLASSES[0]}) = {p:.2f} · run {KEY}")
    assert viewer.legend.isVisible() and viewer._title.isVisible() and viewer.heat_title.isVisible()
    assert viewer.scale_bar.isVisible()  # the colour bar: low to high attention
    assert viewer.heat_title.geometry().bottom() < viewer.legend.geometry().top() < viewer.scale_bar.geometry().top()
    assert gc.button.geometry().top() > viewer._title.geometry().bottom()  # stacked under the caption

    toggle(qtbot, win)  # off: the layer and the legend go
    assert not gc.action.isChecked() and viewer.heatmap is None and not viewer._heat.isVisible()
    assert not viewer.legend.isVisible() and not viewer.heat_title.isVisible() and not viewer.scale_bar.isVisible()

    toggle(qtbot, win)  # on again: the worker and the model are warm
    qtbot.waitUntil(lambda: viewer.heatmap is not None, timeout=60000)
    assert np.abs(viewer.heatmap - expected.heatmap).max() < 1e-4 and gc.engine.pid == pid
    win.next_image()  # another image: the overlay belongs to the result image only
    qtbot.waitUntil(lambda: win.viewer_image_id() not in (None, item_id), timeout=20000)
    assert viewer.heatmap is None and not viewer.legend.isVisible()
    assert not gc.action.isChecked() and not gc.action.isEnabled() and not gc.button.isVisible()

    # A run whose checkpoint is missing: said in the status bar, nothing drawn, the toggle goes off.
    open_from_results(qtbot, win, MISSING, (0, 0))
    toggle(qtbot, win)
    assert "checkpoint file not found" in win.statusBar().currentMessage()
    assert not gc.action.isChecked() and viewer.heatmap is None
    # An unreadable one: the worker says so, in one line.
    open_from_results(qtbot, win, CORRUPT, (0, 0))
    toggle(qtbot, win)
    qtbot.waitUntil(lambda: not gc.action.isChecked(), timeout=60000)
    line = win.statusBar().currentMessage()
    assert "corrupt checkpoint" in line and "\n" not in line and "Traceback" not in line
    assert viewer.heatmap is None and gc.engine.pid == pid  # the worker lives on
    win.close()
    qtbot.waitUntil(lambda: gc.engine.pid is None, timeout=5000)
