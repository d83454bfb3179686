"""The Results tab: an experiment's runs compared side by side, and the selected run read closely.

Left: the experiment runs of the workspace (or any folder opened), the strategy x model grid per
protocol (a click selects that run), the leakage audit and the run's image counts. Right: the selected
run for a fold (`RunDetail`: confusion matrix and its images, per-class metrics, ROC, training curves,
compute costs, exports).

Everything shown comes from `spinegui.core.results.experiment_folder` (plain JSON and CSV: the app never
imports torch); the folder is read in an `IoWorker` thread, and the UI thread only draws.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from spinegui.core.errors import InputError
from spinegui.core.results import experiment_folder as er
from spinegui.jobs import list_runs, read_status
from spinegui.ui.common.io_worker import IoWorker
from spinegui.ui.gan.runs_list import RunsList
from spinegui.ui.results.detail import RunDetail
from spinegui.ui.results.tables import StrategyGrid, fmt

ERROR_STYLE = "color: #c01c28;"


def experiment_runs(root: Path | None, extra: list[Path]):
    """The experiment runs under `root` and the run folders in `extra` (worker thread: it reads files)."""
    runs = [r for r in list_runs(root) if r.kind == "experiment"] if root is not None else []
    for path in extra:
        runs += [r for r in list_runs(path) if r.path not in {x.path for x in runs}]
    return runs


def _label(text: str = "", rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if rich:
        label.setTextFormat(Qt.TextFormat.RichText)
    return label


class ResultsPanel(QWidget):
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

        open_button = QPushButton("Open results…")
        open_button.setToolTip("an experiment folder from anywhere (the command line's --out, a cluster's copy)")
        open_button.clicked.connect(self._ask_folder)
        reload_button = QPushButton("Reload")
        reload_button.setToolTip("read the runs list and the shown folder again (a running experiment grows)")
        reload_button.clicked.connect(self.reload)
        buttons = QHBoxLayout()
        buttons.addWidget(open_button)
        buttons.addWidget(reload_button)
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
        lbox.addLayout(buttons)
        lbox.addWidget(QLabel("<b>Experiment runs</b> (this workspace)"))
        lbox.addWidget(self.runs)
        lbox.addWidget(self.title)
        lbox.addWidget(_label("<b>Runs compared</b>: test accuracy · macro-F1, validation below; click one"))
        for w in (self.grid, self.audit, self.summary, self.message):
            lbox.addWidget(w)
        lbox.addStretch(1)
        left.setMinimumWidth(300)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.detail)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

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
        self.io.submit(er.load_experiment, lambda exp, err, g=self._gen: self._on_loaded(g, exp, err), self._folder)

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
        self.loaded.emit(exp)

    def show_experiment(self, exp: er.Experiment) -> None:
        keep = self.key if self.exp is not None and self.exp.folder == exp.folder else None
        self.exp, self.key = exp, None
        self.title.setText(f"<b>{exp.folder.name}</b> — {len(exp.runs)} run(s); classes: {', '.join(exp.classes)}")
        self.say("; ".join(exp.problems[:2]), bool(exp.problems))
        self.grid.set_experiment(exp)
        key = keep if keep in exp.runs else next(iter(exp.runs), None)
        if key is None:
            self.detail.show_run(exp, None)
        else:
            self.select_run(key)

    def say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else "")

    # --- the selected run ----------------------------------------------------------------------
    def select_run(self, key: str) -> None:
        if self.exp is None or key not in self.exp.runs:
            return
        if key != self.key:
            self.key = key
            self.grid.select_key(key)
        run = self.exp.runs[key]
        self.detail.show_run(self.exp, key)
        self._show_audit(run)
        c = run.get("counts", {})
        self.summary.setText(
            f"<b>{key}</b>: {run.get('size', '?')} px; train {c.get('train_images', '?')} images "
            f"({c.get('train_synthetic', 0)} synthetic), validation {c.get('val_images', '?')} "
            f"({c.get('val_synthetic', 0)} synthetic), test {c.get('test_images', '?')}; "
            f"{run.get('epochs_run', '?')} epochs, best {run.get('best_epoch', '?')}"
            f"{' (stopped early)' if run.get('stopped_early') else ''}")

    def _show_audit(self, run: dict) -> None:
        a = er.leakage_audit(self.exp, run["strategy"], run["model"])
        if a is None:
            self.audit.setText("")
            return
        gap = (a["paper_val"] or 0) - (a["safe_test"] or 0)
        colour = "#c01c28" if gap > 0.02 else "#1f2328"  # red where the paper's figure flatters
        self.audit.setText(
            f"<b>Leakage audit</b> ({run['strategy']}, {run['model']}): paper-protocol validation accuracy "
            f"<b>{fmt(a['paper_val'])}</b> ({a['paper_val_synthetic']} of {a['paper_val_images']} validation "
            f"images synthetic) beside leakage-safe test accuracy <b>{fmt(a['safe_test'])}</b> "
            f"<span style='color:{colour}'>({gap:+.3f})</span>." + gaps_text(a.get("gaps"))
            + ("<br>No gaps with intervals: a run of this strategy failed its GAN quality gate (excluded)."
               if a.get("gaps") is None and any((self.exp.summary_for(p, run["strategy"], run["model"]) or {})
                                                .get("excluded") for p in ("safe", "paper")) else ""))

    def shutdown(self) -> None:
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
