"""Journey: View ▸ New experiment… on a tiny dataset; the plan is shown before anything starts; Start;
the Results tab's grid fills cell by cell while the live box shows the phase, the progress and the
current run's curves; Cancel (the job stops after a checkpoint), Resume (finished runs are kept); done;
a confusion-matrix cell's image opens in the viewer.

resnet18 at 32 px, 2 epochs, strategies none and basic (no GAN), both protocols, on the CPU. Every
computation runs in the job process; the longest event-loop stall is printed (no timed assertion)."""

import multiprocessing
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from spinegui.core.results import experiment_folder as er
from spinegui.jobs import read_status
from test_gan_journey import USER_PAUSE_MS, StallProbe  # (tests/e2e is on the path, as for window_driver)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from case_factory import make_case_root

TIMEOUT = 240000   # ms: the job imports torch, fills the cache, trains four tiny runs
SETTINGS = {"models": ["resnet18"], "strategies": ["none", "basic"], "size": 32, "epochs": 2, "patience": 0,
            "per_class": "3", "device": "cpu", "threads": 1, "workers": 1, "bootstrap": 20}


@pytest.fixture
def case_window(qtbot, demo_root, tmp_path):
    """The main window on a case-1 dataset (the demo's images, a test split), offscreen."""
    from spinegui.ui.main_window import MainWindow

    root = make_case_root(demo_root, tmp_path / "vindr-case")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("reader", "tester")
    win = MainWindow(settings, tmp_path / "ws")
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.image_shown, timeout=20000):
        assert win.open_dataset(root)
    yield win
    win.close()


def state(panel):
    return (panel._live_status or {}).get("state")


def finished(panel) -> int:
    return len(panel.exp.runs) if panel.exp is not None else 0


def test_new_experiment_plan_start_watch_cancel_resume_and_open_an_image(qtbot, case_window):
    win, probe = case_window, StallProbe()
    action = win.actions["new_experiment"]
    assert action in win.menuBar().actions()[2].menu().actions()
    action.trigger()
    panel = win.results_panel
    dialog = panel.dialog
    assert win.tabs.currentWidget() is panel and dialog.isVisible()
    assert Path(dialog.root_edit.text()) == win.index.root and dialog.out_edit.text().startswith(
        str(panel.runs_root / "experiment-"))
    qtbot.wait(USER_PAUSE_MS)
    dialog.set_choices(case="1", protocol="both", settings=SETTINGS)
    qtbot.waitUntil(lambda: dialog.answered == dialog._gen, timeout=60000)
    assert dialog.start_button.isEnabled(), dialog.message.text()
    table = dialog.table.toPlainText()
    assert "safe protocol" in table and "paper protocol" in table and "Vertebral collapse" in table
    out = dialog.checked.out
    assert not out.exists()   # nothing written before Start

    qtbot.wait(USER_PAUSE_MS)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.exp is not None and panel.exp.folder.resolve() == out and not dialog.isVisible(),
                    timeout=20000)
    assert panel.grid.rowCount() == 2 and panel.grid.columnCount() == 2   # the empty grid, before any run
    qtbot.waitUntil(lambda: state(panel) == "running", timeout=TIMEOUT)
    assert panel.live_box.isVisible() and panel.cancel_button.isEnabled()

    # The grid fills cell by cell; the running cell and the live box say what the job does.
    qtbot.waitUntil(lambda: finished(panel) >= 1, timeout=TIMEOUT)
    first = next(iter(panel.exp.runs))
    assert panel.grid.key_at(0, 0) == first == "safe-none-resnet18"
    assert "running" in panel.live_box.status.text() and "phase" in panel.live_box.status.text()
    assert panel.live_box.curves.loss.getPlotItem().listDataItems()   # the live curves of a run
    kept = (out / "runs" / f"{first}.json").stat().st_mtime_ns

    # Cancel: the job stops after a checkpoint; Resume goes on and keeps the finished runs.
    qtbot.wait(USER_PAUSE_MS)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(panel) in ("cancelled", "done"), timeout=TIMEOUT)
    assert state(panel) == "cancelled", "the job finished before Cancel took effect"
    assert not panel.cancel_button.isEnabled()
    qtbot.waitUntil(panel.resume_button.isEnabled, timeout=20000)   # once the job's process has ended
    assert finished(panel) < 4
    qtbot.wait(USER_PAUSE_MS)
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(panel) in ("done", "failed"), timeout=TIMEOUT)
    assert state(panel) == "done", (out / "output.log").read_text()[-3000:]
    qtbot.waitUntil(lambda: finished(panel) == 4, timeout=20000)
    assert (out / "runs" / f"{first}.json").stat().st_mtime_ns == kept
    assert all(panel.grid.key_at(r, c) for r in range(2) for c in range(2))
    assert read_status(out)["resumes"] >= 1 and "done" in panel.live_box.status.text()

    # A finished cell opens at once: its confusion matrix, a cell's images, one of them in the viewer.
    grid = panel.grid
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.visualItemRect(grid.item(1, 1)).center())
    assert panel.key == "paper-basic-resnet18"
    counts = er.confusion(panel.exp.runs[panel.key], "test")
    true, pred = np.argwhere(counts > 0)[0]
    heatmap = panel.detail.heatmap
    qtbot.mouseClick(heatmap, Qt.MouseButton.LeftButton, pos=heatmap.cell_rect(true, pred).center().toPoint())
    items = panel.detail.items
    wanted = items.item(0, 0).text()
    rect = items.visualItemRect(items.item(0, 0))
    qtbot.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.tabs.currentWidget() is win.viewer
    qtbot.waitUntil(lambda: win.viewer_image_id() == wanted, timeout=20000)
    assert "paper-basic-resnet18, test" in win.viewer._title.text()
    print(f"\nexperiment journey: {probe.stop()}")
    qtbot.waitUntil(lambda: panel.queue.idle, timeout=20000)   # the job's process has exited
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("spinegui-job")]


SLURM_SETTINGS = {**SETTINGS, "strategies": ["none", "basic"], "epochs": 3, "executor": "slurm"}


@pytest.mark.slurm
def test_a_slurm_experiment_from_the_form_is_followed_cancelled_and_resumed(qtbot, demo_root, tmp_path):
    """The same journey with executor slurm on a real SLURM (scripts/slurm_local.sh start; SLURM_CONF in
    the environment): Start submits the jobs, the grid fills from runs/<key>.json while the live box
    follows the parts' folders, Cancel scancels them, Resume submits only what is missing."""
    from spinegui.jobs.slurm import read_record, slurm_problem
    from spinegui.ui.results.panel import ResultsPanel

    why = slurm_problem()
    if why:
        pytest.skip(f"no SLURM here ({why}); start one with scripts/slurm_local.sh start")
    root = make_case_root(demo_root, tmp_path / "vindr-case")
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(1300, 850)
    panel.set_runs_root(tmp_path / "ws" / "runs")   # the workspace: a folder of its own, beside the dataset
    panel.show()
    dialog = panel.new_experiment()
    out = tmp_path / "ws" / "runs" / "exp-slurm"
    dialog.set_choices(root=str(root), case="1", protocol="safe", out=str(out),
                       settings=SLURM_SETTINGS, slurm={"slurm_time": 20})
    qtbot.waitUntil(lambda: dialog.answered == dialog._gen, timeout=60000)
    assert dialog.start_button.isEnabled(), dialog.message.text()
    command = dialog.copy_command()
    assert "--executor slurm " in command and "--slurm-time 20 " in command
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.exp is not None and panel.exp.folder == out.resolve(), timeout=60000)
    assert read_record(out)["jobs"] and panel.queue.idle   # SLURM jobs, no local job process

    qtbot.waitUntil(lambda: finished(panel) >= 1 or state(panel) not in ("queued", "running"), timeout=TIMEOUT)
    assert state(panel) in ("queued", "running"), read_status(out)
    assert "runs finished" in panel.live_box.bar.text() and panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(panel) in ("cancelled", "done"), timeout=TIMEOUT)
    if state(panel) == "cancelled":   # (the second run may have ended before the cancel reached it)
        qtbot.waitUntil(panel.resume_button.isEnabled, timeout=20000)
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: state(panel) in ("done", "failed"), timeout=TIMEOUT)
    assert state(panel) == "done", read_status(out)
    qtbot.waitUntil(lambda: finished(panel) == 2, timeout=20000)
    assert panel.grid.key_at(0, 0) == "safe-none-resnet18" and panel.grid.key_at(1, 0) == "safe-basic-resnet18"
    panel.shutdown()
