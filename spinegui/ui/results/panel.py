"""The Results tab: an experiment's runs compared side by side, and the selected run read closely.

Left: the experiment runs of the workspace (or any folder opened), the strategy x model grid per
protocol (a click selects that run), the leakage audit and the run's image counts. Right: the selected
run for a fold (`RunDetail`: confusion matrix and its images, per-class metrics, ROC, training curves,
compute costs, exports).

Everything shown comes from `spinegui.core.results.experiment_folder` (plain JSON and CSV: the app never
imports torch); the folder is read in an `IoWorker` thread, and the UI thread only draws. New experiment…,
Cancel and Resume run the "experiment" job through a JobQueue, or submit it to SLURM (`experiment_jobs.py`),
and a running experiment is followed as it fills its grid (`live.py`). While it runs, each read of its
folder redraws only what changed: the grid's cells whose run changed, the detail when its own run did.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import InputError
from spinegui.core.results import experiment_folder as er
from spinegui.jobs import read_status
from spinegui.train.experiment_parts import PART_KIND
from spinegui.ui.common.io_worker import IoWorker
from spinegui.ui.gan.runs_list import RunsList, run_rows
from spinegui.ui.results.detail import RunDetail
from spinegui.ui.results.experiment_jobs import POLL_MS, ExperimentJobsMixin
from spinegui.ui.results.live import load_or_skeleton
from spinegui.ui.results.tables import StrategyGrid, fmt

ERROR_STYLE = "color: #c01c28;"


def experiment_runs(root: Path | None, extra: list[Path]):
    """The experiment runs under `root` and in `extra`, as the runs list takes them (worker thread);
    a spread experiment's parts are followed in its live box, not listed."""
    return run_rows("experiment", root, extra, skip_kinds=(PART_KIND,))


def _label(text: str = "", rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if rich:
        label.setTextFormat(Qt.TextFormat.RichText)
    return label


class ResultsPanel(ExperimentJobsMixin, QWidget):
    open_image = Signal(str, str)  # item_id, caption ("predicted X (0.83), true Y — key, fold")
    open_result = Signal(object)   # er.ResultImage of the image about to be opened (run, checkpoint, classes)
    loaded = Signal(object)        # the Experiment now shown, or None when the folder could not be read

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.io = IoWorker(self)
        self.exp: er.Experiment | None = None
        self.key: str | None = None
        self.runs_root: Path | None = None
        self._extra: list[Path] = []
        self._folder: Path | None = None
        self._gen = 0  # a folder read that comes back after another was asked for is dropped
        self._listing = False
        self._ticks = 0

        open_button = QPushButton("Open results…")
        open_button.setToolTip("an experiment folder from anywhere (the command line's --out, a cluster's copy)")
        open_button.clicked.connect(self._ask_folder)
        reload_button = QPushButton("Reload")
        reload_button.setToolTip("read the runs list and the shown folder again (a running experiment grows)")
        reload_button.clicked.connect(self.reload)
        buttons = QHBoxLayout()
        buttons.addWidget(open_button)
        buttons.addWidget(reload_button)
        jobs = self._build_jobs()
        self.runs = RunsList()
        self.runs.setMinimumHeight(90)
        self.runs.setMaximumHeight(120)
        self.runs.run_chosen.connect(lambda run: run is not None and self.load(run))
        self.title = _label("No experiment open.")
        self.grid = StrategyGrid()
        self.grid.run_chosen.connect(self.select_run)
        self.audit = _label(rich=True)
        self.summary = _label()
        self.message = _label()
        self.detail = RunDetail()
        self.detail.open_result.connect(self.open_result)
        self.detail.open_image.connect(self.open_image)
        self.detail.message.connect(self.say)

        left = QWidget()
        lbox = QVBoxLayout(left)
        lbox.addLayout(jobs)
        lbox.addLayout(buttons)
        lbox.addWidget(QLabel("<b>Experiment runs</b> (this workspace)"))
        lbox.addWidget(self.runs)
        lbox.addWidget(self.title)
        lbox.addWidget(_label("<b>Runs compared</b>: test accuracy · macro-F1, validation below; click one"))
        for w in (self.grid, self.message, self.live_box, self.audit, self.summary):
            lbox.addWidget(w)
        lbox.addStretch(1)
        left.setMinimumWidth(300)
        scroll = QScrollArea()   # the live box's curves and the audit need more height than a laptop has
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(left)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(self.detail)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # --- runs and folders ----------------------------------------------------------------------
    def set_runs_root(self, root: Path | None) -> None:
        """The workspace's runs folder (experiment runs there are listed)."""
        self.runs_root = Path(root) if root is not None else None
        self.refresh_runs()

    def refresh_runs(self) -> None:
        if self._listing:
            return
        self._listing = True
        self.io.submit(experiment_runs, self._on_runs, self.runs_root, list(self._extra))

    def _on_runs(self, runs, error) -> None:
        self._listing = False
        if error:
            self.say(error, True)
            return
        self.runs.show_runs(runs, keep=self._folder)

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        self.refresh_runs()  # runs started from the command line since the tab was last shown

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open an experiment folder (with results.json)")
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path) -> None:
        """Show an experiment folder from anywhere; a run folder also joins the runs list."""
        folder = Path(folder).resolve()
        try:
            state = read_status(folder).get("state", "")
        except InputError:
            state = None  # results copied without their status: shown, not listed
        if state is not None:
            if folder not in self._extra:
                self._extra.append(folder)
            self.runs.blockSignals(True)
            self.runs.set_row(folder, state, "")
            self.runs.choose(folder)
            self.runs.blockSignals(False)
        self.load(folder)

    def load(self, folder: Path) -> None:
        self._folder = Path(folder).resolve()
        self._gen += 1
        self.say(f"reading {self._folder.name}…")
        self.io.submit(load_or_skeleton, lambda exp, err, g=self._gen: self._on_loaded(g, exp, err), self._folder)

    def reload(self) -> None:
        self.refresh_runs()
        if self._folder is not None:
            self.load(self._folder)

    def _on_loaded(self, gen: int, exp, error) -> None:
        if gen != self._gen:
            return
        if error:
            self.say(error, True)
            self.loaded.emit(None)
            return
        self.show_experiment(exp)
        if self.note and not exp.problems:
            self.say(self.note)
        self.note = ""
        self.follow(exp.folder.resolve(), exp.status)
        self.loaded.emit(exp)

    def show_experiment(self, exp: er.Experiment, live: bool = False) -> None:
        """Show `exp`; `live`: the shown experiment read again while it runs, so only what changed is
        drawn again (the grid's changed cells, the detail when its own run changed)."""
        same = self.exp is not None and self.exp.folder == exp.folder
        keep = self.key if same else None
        if live and same:
            self.exp = exp
            self._set_title(exp)
            self.grid.update_experiment(exp)
            key = keep if keep in exp.runs else next(iter(exp.runs), None)
            self._show_selected(key, live=True)
            return
        self.exp, self.key = exp, None
        self._set_title(exp)
        self.say("; ".join(exp.problems[:2]), bool(exp.problems))
        self.grid.set_experiment(exp)
        key = keep if keep in exp.runs else next(iter(exp.runs), None)
        if key is None:
            self.detail.show_run(exp, None)
        else:
            self.select_run(key)

    def _set_title(self, exp: er.Experiment) -> None:
        text = f"<b>{exp.folder.name}</b> — {len(exp.runs)} run(s); classes: {', '.join(exp.classes)}"
        if self.title.text() != text:
            self.title.setText(text)

    def say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else "")

    # --- the selected run ----------------------------------------------------------------------
    def select_run(self, key: str) -> None:
        if self.exp is None or key not in self.exp.runs:
            return
        self._show_selected(key)

    def _show_selected(self, key: str | None, live: bool = False) -> None:
        if key != self.key:
            self.key = key
            if key is not None:
                self.grid.select_key(key)
        if key is None:
            self.detail.show_run(self.exp, None)
            return
        run = self.exp.runs[key]
        if live:
            self.detail.update_run(self.exp, key)
        else:
            self.detail.show_run(self.exp, key)
        self._show_audit(run)
        c = run.get("counts", {})
        text = (f"<b>{key}</b>: {run.get('size', '?')} px; train {c.get('train_images', '?')} images "
                f"({c.get('train_synthetic', 0)} synthetic), validation {c.get('val_images', '?')} "
                f"({c.get('val_synthetic', 0)} synthetic), test {c.get('test_images', '?')}; "
                f"{run.get('epochs_run', '?')} epochs, best {run.get('best_epoch', '?')}"
                f"{' (stopped early)' if run.get('stopped_early') else ''}")
        if self.summary.text() != text:
            self.summary.setText(text)

    def _show_audit(self, run: dict) -> None:
        a = er.leakage_audit(self.exp, run["strategy"], run["model"])
        if a is None:
            if self.audit.text():
                self.audit.setText("")
            return
        gap = (a["paper_val"] or 0) - (a["safe_test"] or 0)
        colour = "#c01c28" if gap > 0.02 else "#1f2328"  # red where the paper's figure flatters
        text = (
            f"<b>Leakage audit</b> ({run['strategy']}, {run['model']}): paper-protocol validation accuracy "
            f"<b>{fmt(a['paper_val'])}</b> ({a['paper_val_synthetic']} of {a['paper_val_images']} validation "
            f"images synthetic) beside leakage-safe test accuracy <b>{fmt(a['safe_test'])}</b> "
            f"<span style='color:{colour}'>({gap:+.3f})</span>." + gaps_text(a.get("gaps"))
            + ("<br>No gaps with intervals: a run of this strategy failed its GAN quality gate (excluded)."
               if a.get("gaps") is None and any((self.exp.summary_for(p, run["strategy"], run["model"]) or {})
                                                .get("excluded") for p in ("safe", "paper")) else ""))
        if self.audit.text() != text:
            self.audit.setText(text)

    def shutdown(self) -> None:
        self._shutdown_jobs()
        self.io.shutdown()


GAP_NAMES = (("paper_val_minus_safe_val", "leak (paper val − safe val)"),
             ("safe_val_minus_safe_test", "shift to the official test (safe val − safe test)"),
             ("paper_val_minus_paper_test", "paper val − paper test"))


def gaps_text(gaps: dict | None) -> str:
    """The old gap split into what leakage adds and the shift to the test split, with 95% CIs."""
    if not gaps:
        return ""
    parts = []
    for key, name in GAP_NAMES:
        g = gaps.get(key) or {}
        if g.get("value") is None:
            continue
        ci = g.get("ci")
        parts.append(f"{name} <b>{g['value']:+.3f}</b>" + (f" ({ci[0]:+.3f} to {ci[1]:+.3f})" if ci else ""))
    return "<br>" + "; ".join(parts) + " (study bootstrap, 95% CI)." if parts else ""
