"""The GAN tab's numbers agree with themselves and with `spinegui jobs`, on real (tiny, CPU) runs: a
done run's speed is its average over the whole run (resumes included), epochs and critic steps are
named the same way in the status line, the run list and `spinegui jobs`, "cancelling" becomes
"cancelled" once the job has ended, and a selected run's own settings show read-only beside the form.
SPINEGUI_GAN_SHOTS=DIR keeps screenshots of the tab in DIR to look at."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from test_gan_panel import CLASS, cached, make_panel, select

from spinegui.cli.jobs import gan_progress_words, main
from spinegui.core.dataset.vindr import load_index
from spinegui.gan.checkpoint import read_meta
from spinegui.gan.data import images_of
from spinegui.gan.settings import gan_settings
from spinegui.jobs import read_events, read_status, request_cancel, start_job

__all__ = ["cached"]   # the fixture shared with test_gan_panel.py

SECOND = "Vertebral collapse"
TINY = {"size": 64, "width": 8, "batch": 4, "n_critic": 2, "device": "cpu"}


def gan_config(demo_root, ws: Path, classes, **settings) -> dict:
    return gan_settings({"root": str(demo_root), "classes": list(classes), "workspace": str(ws), **TINY, **settings})


def progress_events(run: Path) -> list[dict]:
    return [e for e in read_events(run)[0] if e["kind"] == "progress"]


def cancel_after_first_progress(handle) -> None:
    assert wait_until(lambda: progress_events(handle.run_dir) or not handle.alive), "no progress"
    handle.cancel()
    assert handle.wait(60) == "cancelled"


def wait_until(cond, timeout: float = 120.0) -> bool:
    from waiting import wait_for

    return wait_for(cond, timeout)


def shot(panel, name: str) -> None:
    if os.environ.get("SPINEGUI_GAN_SHOTS"):   # only where the person running the tests asks
        shots = Path(os.environ["SPINEGUI_GAN_SHOTS"])
        shots.mkdir(parents=True, exist_ok=True)
        panel.grab().save(str(shots / f"{name}.png"))


def plain(html: str) -> str:
    return re.sub("<[^>]+>", "", html)


def jobs_rows(capsys, root: Path) -> dict[str, str]:
    """`spinegui jobs ROOT`: run name -> its whole row."""
    capsys.readouterr()
    assert main(["jobs", str(root)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    return {line.split()[0]: line for line in lines[1:]}


@pytest.fixture(scope="module")
def runs(cached, demo_root):
    """Two real runs in the workspace: one model per class, cancelled after its first progress and
    resumed to its end (done); and one cancelled run (other settings)."""
    index, ws = cached
    assert all(images_of(load_index(demo_root), c) for c in (CLASS, SECOND))
    runs_dir = ws / "runs"
    done = runs_dir / "gan-20260101-000001-resumed"
    h = start_job("gan", gan_config(demo_root, ws, [CLASS, SECOND], epochs=6, seed=3), done)
    cancel_after_first_progress(h)
    assert start_job(None, None, done, resume=True).wait(300) == "done", read_status(done)
    cancelled = runs_dir / "gan-20260101-000002-stopped"
    cancel_after_first_progress(start_job("gan", gan_config(demo_root, ws, [CLASS], epochs=100000, steps=100000,
                                                            seed=7, width=16), cancelled))
    return done, cancelled


@pytest.fixture
def panel(qtbot, cached, runs, tmp_path):
    p = make_panel(*cached, tmp_path / "ws")
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()


def in_panel(panel, run: Path) -> Path:
    return panel.ws.runs_dir / run.name


def test_a_done_run_shows_its_average_over_the_whole_run(panel, qtbot, runs):
    done, _ = runs
    run = in_panel(panel, done)
    select(qtbot, panel, run)
    qtbot.waitUntil(lambda: "avg" in panel.status.text(), timeout=10000)
    shown = float(re.search(r"avg&nbsp;([\d,.]+)&nbsp;img/s", panel.status.text()).group(1).replace(",", ""))
    # the whole run, from the checkpoints: every model's images (its critic steps x its batch, clamped to
    # its training images) over every model's training seconds, both sessions included
    images = seconds = 0.0
    index = load_index(panel.index.root)
    for model, cls in (("osteophytes", CLASS), ("vertebral-collapse", SECOND)):
        meta = read_meta(run / "checkpoints" / f"{model}_full.safetensors")
        assert meta["done"]
        images += meta["critic_steps"] * min(TINY["batch"], len(images_of(index, cls)))
        seconds += meta["seconds"]
    # the meta's seconds are taken a moment before the last figure, and the figure has 3 digits
    assert shown == pytest.approx(images / seconds, rel=0.05)
    finals = {e["model"]: e for e in progress_events(run)}
    assert all(e["step"] == e["total"] for e in finals.values())   # each model's last: its average
    qtbot.waitUntil(lambda: run.name in panel.run_settings.label.text(), timeout=10000)
    shot(panel, "done_run_selected")
    select(qtbot, panel, in_panel(panel, runs[1]))   # a cancelled run: its last rate, not called an average
    qtbot.waitUntil(lambda: ">cancelled<" in panel.status.text() and " img/s" in panel.status.text(), timeout=10000)
    assert "avg" not in panel.status.text()
    qtbot.waitUntil(lambda: runs[1].name in panel.run_settings.label.text(), timeout=10000)
    shot(panel, "cancelled_run_selected")


def test_epochs_and_steps_are_named_alike_in_the_tab_and_in_spinegui_jobs(panel, qtbot, runs, capsys):
    rows = jobs_rows(capsys, panel.ws.runs_dir)
    for run in (in_panel(panel, r) for r in runs):
        last = progress_events(run)[-1]
        words = gan_progress_words(last)
        assert re.fullmatch(r"epoch \d+(/\d+)? · critic step [\d,]+/[\d,]+", words), words
        select(qtbot, panel, run)
        qtbot.waitUntil(lambda words=words: words in plain(panel.status.text()), timeout=10000)
        row = panel.runs.row(run.resolve())
        assert row.text(2) == words and f"  {words}  " in rows[run.name], rows[run.name]
        state = read_status(run)["state"]
        assert row.text(1) == state and rows[run.name].split()[2] == state
    budgeted = gan_progress_words(progress_events(in_panel(panel, runs[1]))[-1])
    assert "/100000" not in budgeted    # a step budget's epoch cap is not a count


def test_a_selected_run_shows_its_own_settings_beside_the_unchanged_form(panel, qtbot, runs):
    form_before = panel.form.values()
    done, cancelled = (in_panel(panel, r) for r in runs)
    select(qtbot, panel, cancelled)
    qtbot.waitUntil(lambda: cancelled.name in panel.run_settings.label.text(), timeout=10000)
    text = panel.run_settings.label.text()
    for label, value in (("width", "16"), ("seed", "7"), ("steps", "100000"), ("n-critic", "2"), ("batch", "4")):
        assert re.search(f">{label}</td><td>(<b>)?{value}(</b>)?</td>", text), (label, text)
    assert "<b>7</b>" in text and f"classes: {CLASS}<" in text
    select(qtbot, panel, done)
    qtbot.waitUntil(lambda: done.name in panel.run_settings.label.text(), timeout=10000)
    assert ">seed</td><td><b>3</b></td>" in panel.run_settings.label.text()
    assert panel.form.values() == form_before and panel.form.chosen_classes() == []
    panel.runs.setCurrentItem(None)
    qtbot.waitUntil(lambda: panel.run_settings.shown is None, timeout=5000)


def test_cancelling_becomes_cancelled_in_the_tab_and_in_spinegui_jobs(panel, qtbot, capsys):
    panel.form.set_checked([CLASS])
    panel.form.set_values({**TINY, "epochs": 100000, "steps": 100000})
    run = panel.start()
    qtbot.waitUntil(lambda: run.is_dir() and any(e["kind"] == "progress" for e in read_events(run)[0]), timeout=60000)
    select(qtbot, panel, run)
    pid = read_status(run)["pid"]
    os.kill(pid, signal.SIGSTOP)   # the job cannot end while the cancel is looked at
    try:
        request_cancel(run)        # as `spinegui cancel --no-wait` from another terminal
        qtbot.waitUntil(lambda: "cancelling" in panel.status.text(), timeout=10000)
        qtbot.waitUntil(lambda: panel.runs.row(run).text(1) == "cancelling", timeout=10000)
        assert jobs_rows(capsys, panel.ws.runs_dir)[run.name].split()[2] == "cancelling"
        assert read_status(run)["state"] == "running"
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.message.text().startswith("cancelling"), timeout=10000)
    finally:
        os.kill(pid, signal.SIGCONT)
    qtbot.waitUntil(lambda: read_status(run)["state"] == "cancelled", timeout=60000)
    qtbot.waitUntil(lambda: ">cancelled<" in panel.status.text(), timeout=10000)
    qtbot.waitUntil(lambda: panel.runs.row(run).text(1) == "cancelled", timeout=10000)
    assert panel.message.text() == f"{run.name}: cancelled (Resume goes on from its checkpoint)"
    assert "cancelling" not in panel.status.text() and panel.resume_button.isEnabled()
    assert jobs_rows(capsys, panel.ws.runs_dir)[run.name].split()[2] == "cancelled"
