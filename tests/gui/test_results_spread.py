"""The Results tab following an experiment spread over jobs (--executor slurm, or --parallel N): no job
process of its own in this window, only its folder as train/experiment_parts.py lays it out (the
experiment's status, its parts' run folders under RUN/parts/ with their status and events, runs/<key>.json
as each run ends). The grid fills from runs/<key>.json, the live box shows the newest running part and
how many run at once; Cancel and Resume are `spinegui cancel`'s and `spinegui resume`'s, off the UI thread."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from results_factory import CLASSES, make_experiment
from spinegui.core import run_events as E
from spinegui.jobs import runfolder as rf
from spinegui.jobs.runner import prepare_new
from spinegui.train.experiment_parts import PART_KIND
from spinegui.ui.results.panel import ResultsPanel

STRATEGIES = ("none", "gan")
CONFIG = {"kind": "experiment", "classes": CLASSES, "protocols": ["safe", "paper"], "strategies": list(STRATEGIES),
          "models": ["resnet18"], "seeds": 1, "epochs": 3, "device": "cpu"}


def make_spread(tmp_path: Path, executor: str) -> tuple[Path, list[dict]]:
    """An experiment folder as experiment_parts.submit (slurm) or the experiment job (local, --parallel 2)
    leaves it before any run has ended: every run a queued part; the runs' results made aside."""
    made = make_experiment(tmp_path / "made", strategies=STRATEGIES)
    exp = prepare_new("experiment", {**CONFIG, "executor": executor, "parallel": 2 if executor == "local" else 0},
                      tmp_path / "runs" / f"exp-{executor}")
    if executor == "slurm":
        (exp / "slurm.json").write_text(json.dumps({"jobs": [{"job_id": "4242", "name": "prepare"}]}))
    else:   # the experiment's own job runs (on another host here: no process of this test to check)
        rf.update_status(exp, state="running", started=rf.utc_now(), pid=None, owner_pid=None, host="elsewhere")
    part = {k: v for k, v in CONFIG.items() if k != "kind"}
    for run in made["doc"]["runs"]:
        prepare_new(PART_KIND, {**part, "experiment_dir": str(exp),
                                "part": {"name": "cell", "cell": run["key"], "protocol": run["protocol"]}},
                    exp / "parts" / run["key"])
    return exp, made["doc"]["runs"]


def start_part(exp: Path, key: str, epochs: int) -> None:
    """The part of run `key` starts on a node and trains `epochs` epochs."""
    d = exp / "parts" / key
    rf.update_status(d, state="running", started=rf.utc_now(), pid=None, owner_pid=None, host="node-1")
    for e in range(1, epochs + 1):
        rf.append_event(d, {"kind": E.PROGRESS, "stage": "train", "run": key, "step": e, "total": 3, "epoch": e,
                            "batch": 2, "batches": 2})
        rf.append_event(d, {"kind": E.EPOCH, "run": key, "epoch": e, "train_loss": 1.0 / e, "val_accuracy": 0.5,
                            "val_macro_f1": 0.25 * e})


def finish_part(exp: Path, run: dict) -> None:
    """Its run ends: predictions and runs/<key>.json in the experiment folder, the part done."""
    (exp / "predictions").mkdir(exist_ok=True)
    (exp / "runs").mkdir(exist_ok=True)
    for rel in run["predictions"].values():
        shutil.copy(exp.parent.parent / "made" / rel, exp / rel)
    (exp / "runs" / f"{run['key']}.json").write_text(json.dumps(run))
    d = exp / "parts" / run["key"]
    rf.append_event(d, {"kind": E.METRIC, "run": run["key"], "split": "test", "name": "accuracy",
                        "value": run["test"]["accuracy"]})
    rf.update_status(d, state="done", ended=rf.utc_now())


@pytest.fixture
def open_panel(qtbot):
    panels = []

    def opened(folder: Path) -> ResultsPanel:
        panel = ResultsPanel()
        qtbot.addWidget(panel)
        panel.resize(1300, 850)
        panel.show()
        with qtbot.waitSignal(panel.loaded, timeout=10000) as sig:
            panel.open_folder(folder)
        assert sig.args[0] is not None, panel.message.text()
        panels.append(panel)
        return panel

    yield opened
    for p in panels:
        p.shutdown()


@pytest.mark.parametrize("executor", ["slurm", "local"])
def test_a_spread_experiment_is_followed_through_its_folder(qtbot, tmp_path, open_panel, executor):
    exp, runs = make_spread(tmp_path, executor)
    safe_none, safe_gan, paper_none = (r["key"] for r in runs[:3])
    start_part(exp, safe_none, 2)
    start_part(exp, safe_gan, 1)     # started after: the newest
    panel = open_panel(exp)
    grid = panel.grid
    assert (grid.rowCount(), grid.columnCount()) == (2, 2) and not any(
        grid.key_at(r, c) for r in range(2) for c in range(2))   # config.toml's grid, nothing finished
    live = panel.live_box
    qtbot.waitUntil(lambda: "2 runs at once" in live.status.text(), timeout=10000)
    assert "running" in live.status.text() and f"run <b>{safe_gan}</b>" in live.status.text()
    assert grid.item(0, 0).text() == "running: train" and grid.item(1, 0).text() == "running: train"
    assert grid.item(0, 1).text() == "not run (yet)"
    curves = {c.name(): c.getData() for c in live.curves.scores.getPlotItem().listDataItems()}
    assert np.allclose(curves["val macro-F1"][1], [0.25])        # the newest part's one epoch
    assert live.bar.text() == "0/4 runs finished" and panel.cancel_button.isEnabled()
    panel.refresh_runs()
    qtbot.waitUntil(lambda: not panel._listing, timeout=10000)
    assert panel.runs.topLevelItemCount() == 1 and panel.message.text() == ""   # the experiment, not its parts

    finish_part(exp, runs[0])
    qtbot.waitUntil(lambda: grid.key_at(0, 0) == safe_none, timeout=10000)
    assert grid.item(0, 0).text().startswith(f"{runs[0]['test']['accuracy']:.3f} · {runs[0]['test']['macro_f1']:.3f}")
    assert panel.key == safe_none and panel.exp.runs[safe_none]["key"] == safe_none   # its detail
    assert panel.detail.heatmap.classes == CLASSES
    # the bar (runs/*.json) and the status (the parts' folders) come from separate reads: wait for both
    qtbot.waitUntil(lambda: live.bar.text() == "1/4 runs finished" and "runs at once" not in live.status.text(),
                    timeout=10000)
    assert grid.item(1, 0).text() == "running: train"

    start_part(exp, paper_none, 3)   # the newest running part is shown, its curves; its last epoch: eval
    qtbot.waitUntil(lambda: f"run <b>{paper_none}</b>" in live.status.text(), timeout=10000)
    assert "2 runs at once" in live.status.text() and "phase <b>eval</b>" in live.status.text()
    assert grid.item(0, 1).text() == "running: eval" and grid.item(1, 0).text() == "running: train"
    qtbot.waitUntil(lambda: len(live.curves.loss.getPlotItem().listDataItems()[0].getData()[0]) == 3, timeout=10000)
    for run in runs[1:]:
        finish_part(exp, run) if (exp / "parts" / run["key"] / "status.json").is_file() else None
    qtbot.waitUntil(lambda: all(grid.key_at(r, c) for r in range(2) for c in range(2)), timeout=10000)
    assert {grid.key_at(r, c) for r in range(2) for c in range(2)} == {r["key"] for r in runs}


def test_cancel_and_resume_of_a_slurm_experiment_are_the_command_lines(qtbot, tmp_path, open_panel, monkeypatch):
    exp, runs = make_spread(tmp_path, "slurm")
    start_part(exp, runs[0]["key"], 1)
    calls = []

    def cancel_run(run_dir):   # runner.cancel_run: scancel the experiment's jobs (no SLURM job of a test)
        calls.append(("cancel", Path(run_dir), threading.current_thread() is threading.main_thread()))
        for d in (exp, exp / "parts" / runs[0]["key"]):
            rf.update_status(d, state="cancelled", ended=rf.utc_now(),
                             message="cancelled (its SLURM job was cancelled)")
        return "cancelled"

    def submit(out, config=None, *, resume=False, overwrite=False):   # experiment_parts.submit
        calls.append(("submit", Path(out), threading.current_thread() is threading.main_thread(), config, resume))
        rf.update_status(out, state="queued", ended=None, message=None)
        return {"prepare": "4243", "finish": "4244"}

    monkeypatch.setattr("spinegui.ui.results.experiment_jobs.cancel_run", cancel_run)
    monkeypatch.setattr("spinegui.train.experiment_parts.submit", submit)
    panel = open_panel(exp)
    qtbot.waitUntil(panel.cancel_button.isEnabled, timeout=10000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: (panel._live_status or {}).get("state") == "cancelled", timeout=10000)
    assert calls == [("cancel", exp.resolve(), False)]
    assert not panel.cancel_button.isEnabled() and "its SLURM job was cancelled" in panel.live_box.status.text()
    assert panel.queue.idle   # nothing ran here
    qtbot.waitUntil(panel.resume_button.isEnabled, timeout=10000)
    panel.resume_button.click()
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=10000)
    assert calls[1] == ("submit", exp.resolve(), False, None, True)   # submit(out, resume=True)
    qtbot.waitUntil(panel.cancel_button.isEnabled, timeout=10000)    # followed again
    assert "2 SLURM jobs" in panel.message.text() and panel.queue.idle
