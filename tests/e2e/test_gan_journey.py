"""Journey: open the GAN tab from the View menu, tick a class, start a tiny training on the CPU; the loss
curves grow and the sample grid follows the epochs; cancel (the job checkpoints), resume, let it
finish; make samples and browse them, SYNTHETIC beside real training images of the class.

Every computation runs in job processes; the longest event-loop stall of the journey is printed
(timed assertions are not part of the suite)."""

import multiprocessing
import os
import sys
import time

from PySide6.QtCore import Qt, QTimer

from spinegui.core.dataset.vindr import load_index
from spinegui.gan.data import images_of
from spinegui.jobs import read_status

CLASS = "Osteophytes"
EPOCHS = 30
TIMEOUT = 180000  # ms: each job process imports torch (about 5 s here); a loaded CI machine is slower
# A person's clicks are separate events with the loop running between them; the test pauses likewise, so
# the probe times the app's work, not the test driving several actions inside one loop iteration.
USER_PAUSE_MS = 150


class StallProbe:
    """A 5 ms timer: the largest gap between its ticks, less 5 ms, is the longest stall of the loop.
    The UI thread's own CPU time in each gap tells its work apart from waiting for a busy machine."""

    def __init__(self):
        self.worst = self.worst_cpu = self.cpu_of_worst = 0.0
        self.timer = QTimer(interval=5)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self._last, self._cpu = time.perf_counter(), time.thread_time()
        self.timer.start()

    def _tick(self):
        now, cpu = time.perf_counter(), time.thread_time()
        gap, busy = now - self._last - 0.005, cpu - self._cpu
        if gap > self.worst:
            self.worst, self.cpu_of_worst = gap, busy
        self.worst_cpu = max(self.worst_cpu, busy)
        self._last, self._cpu = now, cpu

    def stop(self) -> str:
        self.timer.stop()
        return (f"longest event-loop stall {self.worst * 1000:.0f} ms "
                f"(UI thread busy {self.cpu_of_worst * 1000:.0f} ms of it); "
                f"most UI-thread CPU between two 5 ms ticks {self.worst_cpu * 1000:.0f} ms; "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def state(panel):
    return (panel._status or {}).get("state")


def test_train_watch_cancel_resume_sample_and_browse(qtbot, window, demo_root):
    had_torch = "torch" in sys.modules
    probe = StallProbe()
    action = window.actions["gan"]
    assert action.shortcut().toString() == "Ctrl+T" and action in window.menuBar().actions()[2].menu().actions()
    action.trigger()
    qtbot.wait(USER_PAUSE_MS)
    panel = window.gan_panel
    assert window.tabs.currentWidget() is panel and not window.browser_dock.isVisible()

    panel.form.set_checked([CLASS])
    panel.form.set_values({"size": 64, "width": 8, "batch": 4, "epochs": EPOCHS, "device": "cpu", "n_critic": 2})
    qtbot.wait(USER_PAUSE_MS)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.run_dir is not None, timeout=10000)
    run = panel.run_dir
    assert run.parent == window.gan_panel.ws.runs_dir and "started" in panel.message.text()

    # The curves grow and the grid follows the epochs while it trains.
    qtbot.waitUntil(lambda: panel.plot.points_drawn("critic") > 0 and panel.grid.epoch is not None, timeout=TIMEOUT)
    first = panel.grid.epoch
    qtbot.waitUntil(lambda: panel.grid.epoch > first and panel.plot.points_drawn("generator") > 0, timeout=TIMEOUT)
    assert "running" in panel.status.text() and "cpu" in panel.status.text()
    assert "SYNTHETIC" in panel.grid_caption.text()

    # Cancel: the job writes a checkpoint and stops.
    qtbot.wait(USER_PAUSE_MS)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    # "cancelled" once its process has exited (Resume waits for that: two processes never share a run)
    qtbot.waitUntil(lambda: state(panel) == "cancelled" and panel.resume_button.isEnabled(), timeout=TIMEOUT)
    assert not panel.cancel_button.isEnabled()
    steps_at_cancel = panel.plot.series["osteophytes"]["critic"].n
    assert 0 < steps_at_cancel < EPOCHS

    # Resume: it goes on from the checkpoint to the last epoch.
    qtbot.wait(USER_PAUSE_MS)
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(panel) == "done", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panel.grid.epoch == EPOCHS, timeout=10000)
    steps = panel.plot.series["osteophytes"]["critic"].x
    assert len(steps) == EPOCHS and list(steps) == list(range(1, EPOCHS + 1))  # one step an epoch, none twice
    assert f"epoch {EPOCHS}/{EPOCHS}" in panel.status.text() and "done" in panel.status.text()
    qtbot.waitUntil(lambda: panel.runs.row(run).text(1) == "done", timeout=10000)

    # Make samples, then browse them beside real training images of the class.
    panel.tabs.setCurrentWidget(panel.browser)
    qtbot.wait(USER_PAUSE_MS)
    panel.browser.n.setValue(4)
    qtbot.mouseClick(panel.browser.make_button, Qt.MouseButton.LeftButton)
    browser = panel.browser
    real_n = min(len(images_of(load_index(demo_root), CLASS)), 9)
    qtbot.waitUntil(lambda: len(browser.synthetic_grid.tiles) == 4 and len(browser.real_grid.tiles) == real_n,
                    timeout=TIMEOUT)
    assert all(synthetic and image is not None for image, _, synthetic in browser.synthetic_grid.tiles)
    assert all(not synthetic and image is not None for image, _, synthetic in browser.real_grid.tiles)
    out = run / "samples_dataset"
    sampled = load_index(out)
    assert len(sampled.images) == 4 and all(r.labels == {CLASS} for r in sampled.images.values())
    assert browser.sampled_label.toolTip() == str(out) and browser.add_button.isEnabled()
    report = probe.stop()
    print(f"\nGAN journey: {report}")
    assert read_status(run)["state"] == "done" and panel.queue.idle
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("spinegui-job")]
    if not had_torch:  # (an earlier test in this worker may have loaded it; test_gan_panel checks afresh)
        assert "torch" not in sys.modules
