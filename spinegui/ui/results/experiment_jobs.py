"""The Results tab's experiment jobs: New experiment…, Start, Cancel, Resume, and following a run.

A mixin of ResultsPanel, as the GAN tab's tasks are of GanPanel: the same JobQueue (background
priority) and the same "experiment" job the command line runs; the panel only reads the run folder.
With --executor slurm, Start and Resume submit the experiment's SLURM jobs as `spinegui experiment`
does (experiment_parts.submit) and Cancel is `spinegui cancel`'s (runner.cancel_run: scancel); these
actions run in a worker of their own (`actions`: squeue and scancel may take seconds), never in the
thread that polls.
A 250 ms timer polls the shown run while it is queued or running (`live.poll_experiment` in the
panel's IoWorker): the grid is read again each time results.json or runs/ changes (a run finished),
the running cells say what the job does, and the live box shows the phase, the progress and the
curves. A spread experiment (SLURM, or --parallel N) is followed through its parts' folders
(RUN/parts/*): the newest running part is shown, with how many run at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from PySide6.QtWidgets import QHBoxLayout, QPushButton

from spinegui.core.errors import InputError
from spinegui.core.limits import read_toml
from spinegui.jobs import JobHandle, JobQueue
from spinegui.jobs import runfolder as rf
from spinegui.jobs.runner import cancel_run
from spinegui.jobs.slurm import is_spread
from spinegui.train import experiment_parts
from spinegui.ui.common.io_worker import IoWorker
from spinegui.ui.gan import panel as gan_panel  # ask_quit_with_jobs: one dialog for both tabs
from spinegui.ui.gan.run_io import new_folder
from spinegui.ui.results.live import ACTIVE, LiveBox, LiveState, PartsPoll, Spread, poll_experiment
from spinegui.ui.results.new_experiment import NewExperimentDialog

POLL_MS = 250
RUNS_EVERY = 8   # ticks between runs-list refreshes while following a run (about every 2 s)


def workspace_dataset(runs_root: Path | None) -> str:
    """The dataset root recorded in the workspace that holds `runs_root` ("" when unknown)."""
    if runs_root is None:
        return ""
    try:
        root = read_toml(Path(runs_root).parent / "workspace.toml", what="workspace file").get("dataset_root")
    except (OSError, InputError):
        return ""
    return root if isinstance(root, str) else ""


class ExperimentJobsMixin:
    def _build_jobs(self) -> QHBoxLayout:
        """The job state and the New / Cancel / Resume buttons (the panel lays them out)."""
        self.queue = JobQueue(max_gpu_jobs=1, background=True)
        self.actions = IoWorker(self, threads=1)   # start, cancel, resume: apart from the polls
        self.note = ""
        self.dialog: NewExperimentDialog | None = None
        self.live_box = LiveBox()
        self.live_box.hide()
        self._follow_reset(None)
        self.new_button = QPushButton("New experiment…")
        self.new_button.setToolTip("plan and start a case study here (the same job as spinegui experiment)")
        self.new_button.clicked.connect(self.new_experiment)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the shown experiment after a checkpoint (Resume goes on from it)")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("go on with the shown cancelled or failed experiment; finished runs are kept")
        self.resume_button.clicked.connect(self.resume)
        row = QHBoxLayout()
        for b in (self.new_button, self.cancel_button, self.resume_button):
            row.addWidget(b)
        self._update_job_buttons()
        return row

    # --- new experiment ------------------------------------------------------------------------
    def new_experiment(self) -> NewExperimentDialog:
        """The form, on the open dataset, into a fresh folder of the workspace's runs."""
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.raise_()
            self.dialog.activateWindow()
            return self.dialog
        runs = self.runs_root
        out = str(new_folder(runs, "experiment", [])) if runs is not None else ""
        self.dialog = NewExperimentDialog(self, root=workspace_dataset(runs),
                                          workspace=str(runs.parent) if runs is not None else "", out=out)
        self.dialog.start_requested.connect(self._start_checked)
        self.dialog.show()
        return self.dialog

    def _start_checked(self, checked) -> None:
        if checked.values.get("executor") == "slurm":
            self.actions.submit(partial(experiment_parts.submit, overwrite=False),
                                partial(self._submitted, "started", checked.out), checked.out, checked.values)
            return
        self.actions.submit(self.queue.submit, partial(self._submitted, "started", checked.out), "experiment",
                            checked.values, checked.out)

    def cancel(self) -> None:
        if self._folder is not None:
            self.actions.submit(self._cancel, partial(self._submitted, "cancelling", self._folder), self._folder)

    def _cancel(self, run: Path) -> None:  # worker thread
        if self.queue.handle(run) is not None or run in self.queue.pending:
            self.queue.cancel(run)
        elif is_spread(run):    # its runs are SLURM jobs: cancel files, then scancel (as spinegui cancel)
            cancel_run(run)
        else:   # a run of another process (the command line): its cancel file, then its pid
            JobHandle.attach(run).cancel()

    def resume(self) -> None:
        if self._folder is not None:
            self.actions.submit(self._resume, partial(self._submitted, "resuming", self._folder), self._folder)

    def _resume(self, run: Path):  # worker thread
        if rf.read_config(run).get("executor") == "slurm":   # submit what is missing, as spinegui resume
            return experiment_parts.submit(run, resume=True)
        return self.queue.submit(None, None, run, resume=True)

    def _submitted(self, what: str, run: Path, result, error: str | None) -> None:
        if error:
            if what == "started" and self.dialog is not None:
                self.dialog.say(error, error=True)
            else:
                self.say(error, True)
            return
        jobs = f" ({len(result)} SLURM jobs)" if isinstance(result, dict) else ""
        text = {"started": f"started {run.name}{jobs}",
                "cancelling": "cancelling: the job writes a checkpoint, then stops (Resume goes on from it)",
                "resuming": f"resuming {run.name}{jobs}: finished runs are kept"}[what]
        self.say(text)
        if what == "started":
            if self.dialog is not None:
                self.dialog.accept()
            self.open_folder(run)
            self.note = text   # said again once the folder is shown (reading it says other things)
        elif run == self._folder:
            self._follow_reset(run)
            self._poll_now()
            if what == "resuming":
                self.refresh_runs()

    # --- following the shown run ---------------------------------------------------------------
    def _follow_reset(self, folder: Path | None) -> None:
        self._live_gen = getattr(self, "_live_gen", 0) + 1
        self._live_folder = folder
        self._live = LiveState(epochs_cap=self._epochs_cap())   # (a resumed run keeps its cap)
        self._live_offset = 0
        self._live_stamp = None
        self._live_status: dict | None = None
        self._live_seen: float | None = None
        self._polling = False
        self._parts: dict[str, LiveState] = {}      # a spread experiment's parts, by name (parts/<name>)
        self._part_states: dict[str, dict] = {}     # their status.json
        self._part_offsets: dict[str, int] = {}

    def follow(self, folder: Path, status: dict | None) -> None:
        """Called when a folder is shown: follow it while its job is queued or running."""
        if folder != self._live_folder:
            self._follow_reset(folder)
        self._live_status = status or self._live_status
        self._update_job_buttons()
        if (status or {}).get("state") in ACTIVE:
            self._live.epochs_cap = self._epochs_cap()
            self.live_box.show()
            self._poll_now()

    def _epochs_cap(self) -> int:
        """The shown experiment's --epochs (0: unknown)."""
        exp = getattr(self, "exp", None)
        try:
            return int(exp.config.get("epochs") or 0) if exp is not None else 0
        except (TypeError, ValueError):
            return 0

    def _tick(self) -> None:
        if self.queue.poll():
            self.refresh_runs()
            self._update_job_buttons()   # a job's process has ended: Resume may go on now
        self._ticks += 1
        if self._following() and self.isVisible():
            self._poll_now()
            if self._ticks % RUNS_EVERY == 0:
                self.refresh_runs()

    def _following(self) -> bool:
        state = (self._live_status or {}).get("state")
        return self._live_folder is not None and (state in ACTIVE or self._live_folder in self.queue.pending
                                                  or self.queue.handle(self._live_folder) is not None)

    def _poll_now(self) -> None:
        if self._live_folder is None or self._polling:
            return
        self._polling = True
        self.io.submit(poll_experiment, partial(self._on_live, self._live_gen), self._live_folder,
                       self._live_offset, self._live_stamp, dict(self._part_offsets))

    def _on_live(self, gen: int, poll, error: str | None) -> None:
        if gen != self._live_gen:
            return
        self._polling = False
        if error or poll.error:
            self.say(error or poll.error, True)
            return
        self._live_offset, self._live_stamp = poll.offset, poll.stamp
        self._live_status = poll.status
        changed = self._live.fold(poll.events)
        if poll.parts is not None:
            changed = self._fold_parts(poll.parts) or changed
        if self._live.last_t is not None and poll.events:
            self._live_seen = poll.seen
        if poll.experiment is not None and self._folder == self._live_folder:
            self.show_experiment(poll.experiment, live=True)
        self._show_live(changed)

    def _fold_parts(self, parts: PartsPoll) -> bool:
        """Each part's events into its own LiveState; True when the shown part's curves changed."""
        self._part_offsets, self._part_states = parts.offsets, parts.states
        changed = set()
        for name, events in parts.events.items():
            live = self._parts.setdefault(name, LiveState(epochs_cap=self._live.epochs_cap))
            if live.fold(events):
                changed.add(name)
        return self._shown_part() in changed

    def _running_parts(self) -> list[str]:
        """The parts at work, oldest first (by their start)."""
        running = [n for n, st in self._part_states.items() if st.get("state") == "running"]
        return sorted(running, key=lambda n: str(self._part_states[n].get("started") or ""))

    def _shown_part(self) -> str | None:
        running = [n for n in self._running_parts() if n in self._parts]
        return running[-1] if running else None

    def _spread(self) -> Spread | None:
        if not self._part_states:
            return None
        cfg = self.exp.config if self.exp is not None and self._folder == self._live_folder else {}
        total = (len(cfg.get("protocols") or []) * len(cfg.get("strategies") or []) * len(cfg.get("models") or [])
                 * int(cfg.get("seeds") or 1))
        finished = len(self.exp.runs) if cfg else 0
        return Spread(len(self._running_parts()), finished, total)

    def _elapsed(self, state: str | None) -> float | None:
        if self._part_states:   # the parts' clocks are their own: the experiment's, by the wall clock
            starts = [rf.parse_time(st.get("started")) for st in [self._live_status or {}, *self._part_states.values()]]
            starts = [t for t in starts if t is not None]
            if not starts:
                return None
            end = rf.parse_time((self._live_status or {}).get("ended")) if state not in ACTIVE else None
            return ((end or datetime.now(UTC)) - min(starts)).total_seconds()
        elapsed = self._live.last_t
        if state == "running" and elapsed is not None and self._live_seen is not None:
            elapsed += time.monotonic() - self._live_seen
        return elapsed

    def _show_live(self, curves_changed: bool = False) -> None:
        state = (self._live_status or {}).get("state")
        shown_part = self._shown_part()
        live = self._parts[shown_part] if shown_part else self._live
        status = self._live_status
        if state == "queued" and shown_part:   # SLURM: the experiment's own job ("finish") waits for its parts
            status = {**(status or {}), "state": "running"}
        if self._live_folder is not None:
            self.live_box.show()
            self.live_box.show_state(self._live_folder.name, status, live, self._elapsed(state), curves_changed,
                                     self._spread())
        self.grid.mark_running_many(self._running_marks(state))
        self._update_job_buttons()
        row = self.runs.row(self._live_folder) if self._live_folder is not None else None
        if row is not None and state and row.text(1) != state:   # the list agrees with the live box
            self.runs.set_row(self._live_folder, state, row.text(2))

    def _running_marks(self, state: str | None) -> dict[str, str]:
        """{run key: what its cell says} of the runs at work."""
        if state not in ACTIVE:
            return {}
        pairs = [(self._parts[n].run or n, self._parts[n]) for n in self._running_parts() if n in self._parts]
        if not self._part_states:
            pairs = [(self._live.run, self._live)] if self._live.run not in self._live.finished else []
        return {key: f"running: {live.phase if live.phase in ('train', 'eval') else 'preparing'}"
                for key, live in pairs if key and key not in live.finished}

    def _update_job_buttons(self) -> None:
        state = (self._live_status or {}).get("state") if self._live_folder == self._folder else None
        self.cancel_button.setEnabled(state in ACTIVE)
        # A cancelled job writes its state before its process has ended; resuming before then would let
        # the old process's monitor mark the new run cancelled: wait until this queue has let it go.
        ended = self._folder is None or self.queue.handle(self._folder) is None
        self.resume_button.setEnabled(state in ("cancelled", "failed") and ended)

    # --- quitting ------------------------------------------------------------------------------
    def active_jobs(self) -> int:
        return len(self.queue.running) + len(self.queue.pending)

    def confirm_quit(self, *others) -> bool:
        """Closing with jobs running here or in `others` (the GAN tab): ask once (never in a headless
        window, where the jobs are cancelled)."""
        n = self.active_jobs() + sum(o.active_jobs() for o in others)
        if not n or self.window().property("headless"):
            return True
        return gan_panel.ask_quit_with_jobs(self, n)

    def _shutdown_jobs(self) -> None:
        """Cancel every job (each writes a checkpoint first) and wait for them; stop polling."""
        self.timer.stop()
        if self.dialog is not None:
            self.dialog.reject()
        self.queue.shutdown(wait=True)
        self.actions.shutdown()
