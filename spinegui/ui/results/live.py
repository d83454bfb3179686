"""A running experiment as the Results tab follows it: what `poll_experiment` reads in a worker thread
(new events by byte offset, the status, results.json again only when it changed), what `LiveState`
folds from the events (phase, current run, progress, each run's epochs), and `LiveBox`, the status
line, progress bar and live training curves under the grid.

Phases come from the job's events (core/run_events.py): "cache" and "train" from `progress` events'
stage, "GAN" from the relayed `gan_epoch` and GAN progress, "eval" after a run's last epoch (or its
early stop) until its test metrics arrive, "done" at the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QProgressBar, QVBoxLayout

from spinegui.core import run_events as E
from spinegui.core.errors import InputError
from spinegui.core.results import experiment_folder as er
from spinegui.jobs import read_events, refresh_status
from spinegui.jobs import runfolder as rf
from spinegui.ui.gan.run_io import elapsed_text
from spinegui.ui.gan.runs_list import STATE_COLOURS
from spinegui.ui.results.charts import TrainingCurves

ACTIVE = ("queued", "running")


def finished_runs(folder: Path) -> list[dict]:
    """runs/<key>.json of the runs finished so far: a spread experiment's parts write them as they end,
    and results.json only at the end (an unreadable one, being written, is read at the next poll)."""
    runs = []
    for path in sorted((Path(folder) / "runs").glob("*.json")):
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(run, dict) and isinstance(run.get("key"), str):
            runs.append(run)
    return runs


def _in_plan_order(runs: list[dict], cfg: dict) -> list[dict]:
    """Runs as the experiment writes them: protocol, strategy, model, seed."""
    def rank(r: dict) -> tuple:
        return tuple(order.index(r.get(name)) if r.get(name) in order else len(order) for name, order in
                     (("protocol", cfg.get("protocols") or []), ("strategy", cfg.get("strategies") or []),
                      ("model", cfg.get("models") or []))) + (int(r.get("seed_index") or 0),)
    return sorted(runs, key=rank)


def load_or_skeleton(folder: Path) -> er.Experiment:
    """The experiment in `folder`; before results.json is written (before its first run has finished,
    or, spread over jobs, before its last), its grid from config.toml filled with the runs finished so
    far (runs/<key>.json), so that a starting experiment shows what it will fill."""
    folder = Path(folder)
    runs = finished_runs(folder)
    if (folder / "results.json").exists():
        doc = er.read_results(folder)
        known = {r["key"] for r in doc["runs"]}
        extra = [r for r in runs if r["key"] not in known]   # finished since results.json was written
        return er.load_experiment(folder, doc={**doc, "runs": [*doc["runs"], *extra]} if extra else doc)
    cfg = er.read_config(folder)
    if cfg.get("kind") == "experiment":
        doc = {"format": er.FORMAT, "classes": list(cfg.get("classes") or []),
               **{k: list(cfg.get(k) or []) for k in ("protocols", "strategies", "models")},
               "runs": _in_plan_order(runs, cfg)}
        # no statistics yet: they are results.json's (the bootstrap would hold the GIL in this thread)
        exp = er.load_experiment(folder, doc=doc, statistics=False)
        exp.status = refresh_status(folder)
        return exp
    return er.load_experiment(folder)


def folder_stamp(folder: Path) -> tuple:
    """What says that the grid may have changed: results.json's and runs/*.json's (mtime, size)."""
    def stat(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    runs = tuple((p.name, stat(p)) for p in sorted((Path(folder) / "runs").glob("*.json")))
    return stat(Path(folder) / "results.json"), runs


@dataclass
class PartsPoll:
    """The parts of an experiment spread over jobs (RUN/parts/*, train/experiment_parts.py)."""
    states: dict[str, dict]          # part name -> its status.json
    events: dict[str, list[dict]]    # part name -> its events since the last poll
    offsets: dict[str, int]          # part name -> bytes of events read; -1: ended, read to its end


def poll_parts(folder: Path, offsets: dict[str, int]) -> PartsPoll | None:
    """Worker thread: every part's status, and the new events of those that run (or have just ended);
    None when the experiment has no parts (one job runs it all)."""
    parts = Path(folder) / "parts"
    if not parts.is_dir():
        return None
    out = PartsPoll({}, {}, dict(offsets))
    for d in sorted(p for p in parts.iterdir() if rf.is_run_dir(p)):
        try:
            status = rf.read_status(d)
        except InputError:
            continue
        out.states[d.name] = status
        offset, ended = out.offsets.get(d.name, 0), status.get("state") in rf.FINAL_STATES
        if offset < 0 or status.get("state") == "queued" or (ended and offset == 0):
            out.offsets[d.name] = -1 if ended else offset   # nothing to follow there
            continue
        try:
            events, offset = read_events(d, offset)
        except InputError:
            continue
        out.events[d.name], out.offsets[d.name] = events, -1 if ended else offset
    return out


@dataclass
class LivePoll:
    status: dict | None
    events: list[dict]
    offset: int
    stamp: tuple | None          # folder_stamp now
    experiment: Any = None       # read again when the stamp changed (or a skeleton before the first run)
    error: str | None = None
    seen: float = 0.0
    parts: PartsPoll | None = None


def poll_experiment(folder: Path, offset: int, stamp: tuple | None, part_offsets: dict | None = None) -> LivePoll:
    """Worker thread: the status, the events after `offset`, the parts (a spread experiment), and the
    experiment when results.json or runs/ changed."""
    try:
        status = refresh_status(folder)
        events, offset = read_events(folder, offset)
    except InputError as exc:
        return LivePoll(None, [], offset, stamp, error=str(exc), seen=time.monotonic())
    parts = poll_parts(folder, part_offsets or {})
    now = folder_stamp(folder)
    exp = None
    if now != stamp:
        try:
            exp = load_or_skeleton(folder)
        except InputError:
            exp = None   # being written: the next poll reads it
            now = stamp
    return LivePoll(status, events, offset, now, exp, seen=time.monotonic(), parts=parts)


@dataclass
class LiveState:
    """What the events of one experiment run say so far (folded in the UI thread: a few per second)."""
    epochs_cap: int = 0                  # the experiment's --epochs (config.toml)
    phase: str = ""
    run: str | None = None               # the run being trained or evaluated
    progress: dict | None = None
    history: dict[str, list[dict]] = field(default_factory=dict)   # run key -> its epoch events
    finished: set[str] = field(default_factory=set)               # runs whose test metrics arrived
    last_t: float | None = None

    def fold(self, events: list[dict]) -> bool:
        """Fold new events in; True when the current run's curves changed."""
        curves = False
        for ev in events:
            kind, stage = ev.get("kind"), ev.get("stage")
            if isinstance(ev.get("t"), (int, float)):
                self.last_t = float(ev["t"])
            if kind == E.PROGRESS:
                self.progress = ev
                self.phase = {"gan": "GAN"}.get(stage, stage or self.phase)
                if stage == "train" and ev.get("run"):
                    self.run = ev["run"]
            elif kind == E.GAN_EPOCH:
                self.phase = "GAN"
            elif kind == E.EPOCH and ev.get("run"):
                self.history.setdefault(ev["run"], [])
                self.history[ev["run"]] = [e for e in self.history[ev["run"]] if e.get("epoch") != ev.get("epoch")]
                self.history[ev["run"]].append(ev)
                self.run, curves = ev["run"], True
                if self.epochs_cap and ev.get("epoch") == self.epochs_cap:
                    self.phase = "eval"
            elif kind == E.LOG and "early stop" in str(ev.get("message", "")):
                self.phase = "eval"
            elif kind == E.METRIC and ev.get("split") == "test" and ev.get("run"):
                self.finished.add(ev["run"])
        return curves

    def curves(self, key: str) -> dict[str, np.ndarray]:
        """The run's epochs as experiment_folder.history gives a finished run's."""
        return er.history({"history": sorted(self.history.get(key, []), key=lambda e: e.get("epoch", 0))})


@dataclass
class Spread:
    """A spread experiment as the live box shows it: how many runs are at work, how many finished."""
    running: int = 0
    finished: int = 0
    total: int = 0


def live_text(name: str, status: dict | None, live: LiveState, elapsed: float | None,
              spread: Spread | None = None) -> str:
    state = (status or {}).get("state", "…")
    parts = [f"<b style='color:{STATE_COLOURS.get(state, '#000')}'>{state}</b>", f"{elapsed_text(elapsed)} elapsed"]
    p = live.progress or {}
    if spread is not None and spread.running > 1:
        parts.append(f"<b>{spread.running} runs at once</b> (the newest shown)")
    if state in ACTIVE and live.phase:
        parts.append(f"phase <b>{live.phase}</b>" + (f" · run <b>{live.run}</b>" if live.run and live.phase in
                                                       ("train", "eval") else ""))
        if live.phase == "train" and p.get("epoch"):
            parts.append(f"epoch {p['epoch']}/{live.epochs_cap or '?'}"
                         + (f", batch {p['batch']}/{p['batches']}" if p.get("batches") else ""))
        if p.get("img_s") is not None:
            parts.append(f"{p['img_s']:g} img/s")
    text = f"<b>{name}</b>: " + " · ".join(parts)
    if state in ("failed", "cancelled") and (status or {}).get("message"):
        colour = "#c01c28" if state == "failed" else "#6e7781"
        text += f"<br><span style='color:{colour}'>{status['message']}</span>"
    return text


class LiveBox(QGroupBox):
    """The followed run: a status line, the progress over every epoch of the experiment (of every run,
    spread over jobs), the current run's curves as its epochs end. Each part is set only when it
    changed: the box is told the same several times a second."""

    def __init__(self, parent=None):
        super().__init__("Running experiment", parent)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.curves = TrainingCurves()
        self.curves.setMinimumHeight(240)
        self.shown_run: str | None = None
        box = QVBoxLayout(self)
        box.addWidget(self.status)
        box.addWidget(self.bar)
        box.addWidget(self.curves, 1)

    def show_state(self, name: str, status: dict | None, live: LiveState, elapsed: float | None,
                   curves_changed: bool, spread: Spread | None = None) -> None:
        text = live_text(name, status, live, elapsed, spread)
        if self.status.text() != text:
            self.status.setText(text)
        p = live.progress or {}
        if spread is not None and spread.total:
            self._bar(spread.total, spread.finished, "%v/%m runs finished")
        elif p.get("total"):
            self._bar(int(p["total"]), min(int(p.get("step") or 0), int(p["total"])),
                      f"{live.phase or ''} %v/%m" + (" epochs" if p.get("stage") in ("train", "done") else ""))
        if (status or {}).get("state") == "done":
            self.bar.setValue(self.bar.maximum())
        if live.run and (curves_changed or live.run != self.shown_run):
            self.shown_run = live.run
            self.curves.show_history(live.curves(live.run), None, f"{live.run} (live)")

    def _bar(self, total: int, value: int, fmt: str) -> None:
        if self.bar.maximum() != total:
            self.bar.setRange(0, total)
        self.bar.setValue(value)
        if self.bar.format() != fmt:
            self.bar.setFormat(fmt)
