"""The GAN tab: settings and runs on the left; live loss curves, the newest sample grid and the run's
status in the middle ("Training"); the sample browser and quality report beside it ("Samples & quality").

Nothing is computed here. Training, sampling and the quality check are the same jobs the command line
runs ("gan", "gan-sample", "gan-quality"), each in its own process through `spinegui.jobs.JobQueue`;
the panel reads the run folders they write (any run folder: the CLI's, another machine's). The GUI
process never imports torch: file reads happen in `IoWorker` threads, and a 250 ms timer hands back
only what is new (events by byte offset, folded into arrays per model).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from spinegui.cli.jobs import gan_progress_words
from spinegui.core.dataset.vindr import LESION_TYPES, NO_FINDING
from spinegui.core.errors import InputError
from spinegui.gan.data import check_classes, images_of
from spinegui.gan.settings import gan_settings
from spinegui.jobs import JobHandle, JobQueue, read_config, read_status
from spinegui.jobs.runfolder import FINAL_STATES
from spinegui.ui.common.io_worker import IoWorker
from spinegui.ui.gan.loss_plot import LossPlot
from spinegui.ui.gan.run_io import load_grid, new_folder, run_overview, status_line
from spinegui.ui.gan.run_settings import RunSettingsView
from spinegui.ui.gan.run_state import average_img_s, poll_run
from spinegui.ui.gan.runs_list import RunsList, gan_runs
from spinegui.ui.gan.samples_view import (
    SYNTHETIC_RED,
    FittedImage,
    SampleBrowser,
    quality_tiles,
    sampled_tiles,
)
from spinegui.ui.gan.settings_form import SettingsForm
from spinegui.ui.gan.tasks import GanTasksMixin

POLL_MS = 250
RUNS_EVERY = 4          # ticks between run-list refreshes (about once a second)


def ask_quit_with_jobs(parent: QWidget, n: int) -> bool:
    """True: cancel the jobs and quit; False: keep working."""
    box = QMessageBox(QMessageBox.Icon.Question, "Jobs are running",
                      f"{n} job{'s are' if n > 1 else ' is'} running or queued.", parent=parent)
    cancel = box.addButton("Cancel the jobs (they save a checkpoint; resume later)",
                           QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is cancel


class GanPanel(GanTasksMixin, QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.queue = JobQueue(max_gpu_jobs=1, background=True)
        self.io = IoWorker(self)
        self.index = self.ws = self.cache = None
        self.run_dir: Path | None = None
        self._extra_runs: list[Path] = []
        self._tasks: dict[Path, tuple[str, Path]] = {}  # sampling/quality job folder -> (kind, GAN run)
        self._cancelling: set[Path] = set()   # runs asked to stop here: their end is said in the message line
        self._listing = False
        self._ticks = 0
        self._reset_view_state()
        self._build()
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _reset_view_state(self) -> None:
        self._gen = getattr(self, "_gen", 0) + 1  # results of an older view are dropped
        self._offset = 0
        self._polling = False
        self._status: dict | None = None
        self._status_error: str | None = None
        self._progress: dict | None = None
        self._model_progress: dict[str, dict] = {}   # model -> its newest progress (a done model's: its average)
        self._train_images: dict[str, int] = {}
        self._batch: int | None = None               # the run's config.toml batch (for the run's average)
        self._shown_state: str | None = None         # the status's state, or "cancelling"
        self._last_t: float | None = None
        self._last_seen: float | None = None
        self._samples: dict[str, tuple[int, str]] = {}
        self._grid_shown: tuple | None = None
        self._follow = True
        self._quality: dict | None = None
        self._sampled: tuple[Path, dict] | None = None

    # --- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        scroll = self._build_left()  # built first, as ever: the tab focus order follows creation
        training = self._build_training()
        self.tabs = QTabWidget()
        self.tabs.addTab(training, "Training")
        self.tabs.addTab(self._build_browser(), "Samples && quality")
        # the selected run's own settings, read-only, beside the form (which stays the next run's)
        self.run_settings = RunSettingsView()
        outer = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(scroll)
        outer.addWidget(self.run_settings)
        outer.addWidget(self.tabs)
        outer.setStretchFactor(2, 1)
        outer.setSizes([400, 220, 780])
        # In a scroll area, so that the panel's width never widens the window while another tab shows
        # (a tab widget is as wide as its widest page).
        page = QScrollArea()
        page.setWidgetResizable(True)
        page.setFrameShape(QScrollArea.Shape.NoFrame)
        page.setWidget(outer)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(page)
        self._update_buttons()

    def _build_left(self) -> QScrollArea:
        """Settings, Start/Cancel/Resume, the message line and the runs list."""
        self.form = SettingsForm()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("train a GAN with these settings in a job process (as spinegui train-gan)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the selected run after it writes a checkpoint")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("go on with the selected cancelled or failed run from its checkpoint")
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(b)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.runs = RunsList()
        self.runs.run_chosen.connect(self._on_run_chosen)
        self.open_button = QPushButton("Open run folder…")
        self.open_button.setToolTip("show a run made elsewhere (the command line, another machine)")
        self.open_button.clicked.connect(self._open_run_folder)

        left = QWidget()
        lbox = QVBoxLayout(left)
        lbox.addWidget(self.form)
        lbox.addLayout(buttons)
        lbox.addWidget(self.message)
        lbox.addWidget(QLabel("<b>Runs</b> (this workspace)"))
        lbox.addWidget(self.runs, 1)
        lbox.addWidget(self.open_button)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        scroll.setMinimumWidth(330)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return scroll

    def _build_training(self) -> QWidget:
        """The status line, the model chooser, the loss curves and the newest sample grid."""
        self.status = QLabel("Select a run, or tick classes and press Start.")
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setWordWrap(True)
        self.status.setStyleSheet("padding: 4px 6px; font-size: 13px;")
        self.status.setFixedHeight(64)  # three lines; a new text every second re-lays out nothing else
        self.model = QComboBox()
        self.model.setMinimumWidth(160)
        self.model.activated.connect(self._on_model_chosen)
        self.plot = LossPlot()
        self.grid_caption = QLabel("")
        self.grid_caption.setStyleSheet(f"color: {SYNTHETIC_RED}; font-weight: bold;")
        self.grid_caption.setWordWrap(True)
        self.grid = FittedImage("no sample grid yet")
        grid_box = QWidget()
        gbox = QVBoxLayout(grid_box)
        gbox.setContentsMargins(0, 0, 0, 0)
        gbox.addWidget(self.grid_caption)
        gbox.addWidget(self.grid, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(grid_box)
        split.setSizes([560, 440])
        training = QWidget()
        tbox = QVBoxLayout(training)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model)
        tbox.addLayout(top)
        tbox.addWidget(split, 1)
        return training

    def _build_browser(self) -> SampleBrowser:
        self.browser = SampleBrowser()
        self.browser.make_samples.connect(self.make_samples)
        self.browser.check_quality.connect(self.check_quality)
        self.browser.add_to_set.connect(self.add_to_augmentation_set)
        self.browser.class_changed.connect(lambda _c: self._load_tiles())
        return self.browser

    # --- dataset -------------------------------------------------------------------------------
    def set_dataset(self, index, ws, cache) -> None:
        """The open dataset: its classes (with training-image counts), its workspace's runs, its cache."""
        self.index, self.ws, self.cache = index, ws, cache
        self.form.set_classes({name: len(images_of(index, name)) for name in (*LESION_TYPES, NO_FINDING)})
        self.runs.clear()
        self.view_run(None)
        self.refresh_runs()

    def say(self, text: str, error: bool = False) -> None:
        """One line under the buttons (errors in red, never a traceback)."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #c01c28; font-weight: bold;" if error else "color: #404040;")

    # --- actions -------------------------------------------------------------------------------
    def build_config(self) -> dict:
        """The "gan" job config for the current choices: what `spinegui train-gan` builds (gan_config)."""
        if self.index is None:
            raise InputError(None, "open a dataset first")
        names = self.form.chosen_classes()
        if not names:
            raise InputError(None, "tick at least one class to train")
        values = {"root": str(self.index.root), "classes": check_classes(names, self.index)}
        if self.ws is not None:
            values["workspace"] = str(self.ws.path)
        values.update({k: v for k, v in self.form.values().items() if v is not None})
        return gan_settings(values)

    # Submitting writes the run folder (with fsync) and spawns a process: in a worker thread, so a busy
    # disk never stalls the window; the answer comes back to `_submitted`.
    def start(self) -> Path | None:
        """Start training with the current choices; the run folder it will be (None: bad input)."""
        try:
            config = self.build_config()
        except InputError as exc:
            self.say(str(exc), error=True)
            return None
        run = new_folder(self.ws.runs_dir, "gan", config["classes"]).resolve()
        self.say(f"starting {run.name}…" + (f" ({self.form.warning.text()})" if self.form.warning.text() else ""))
        self.io.submit(self.queue.submit, partial(self._submitted, "started", run), "gan", config, run)
        return run

    def cancel(self) -> None:
        if self.run_dir is not None:
            self.io.submit(self._cancel, partial(self._submitted, "cancelling", self.run_dir), self.run_dir)

    def _cancel(self, run: Path) -> None:  # worker thread
        if self.queue.handle(run) is not None or run in self.queue.pending:
            self.queue.cancel(run)
        else:  # a run of another process (the command line): its cancel file, then its pid
            JobHandle.attach(run).cancel()

    def resume(self) -> None:
        if self.run_dir is not None:
            self.io.submit(partial(self.queue.submit, resume=True), partial(self._submitted, "resuming", self.run_dir),
                           None, None, self.run_dir)

    def _submitted(self, what: str, run: Path, _result, error: str | None) -> None:
        if error:
            self.say(error, error=True)
            return
        self.say({"started": f"started {run.name}",
                  "cancelling": "cancelling: the job writes a checkpoint, then stops (Resume goes on from it)",
                  "resuming": f"resuming {run.name} from its checkpoint"}[what])
        if what == "cancelling":
            self._cancelling.add(run)
        if what == "started":
            self._extra_runs = [p for p in self._extra_runs if p != run]
            self.runs.set_row(run, "queued", "")
            self.runs.choose(run)
            self.refresh_runs()
        elif run == self.run_dir:
            self._poll_now()

    def active_jobs(self) -> int:
        return len(self.queue.running) + len(self.queue.pending)

    def confirm_quit(self) -> bool:
        """Closing with jobs running: ask (never in a headless window, where the jobs are cancelled)."""
        n = self.active_jobs()
        if not n or self.window().property("headless"):
            return True
        return ask_quit_with_jobs(self, n)

    def shutdown(self) -> None:
        """Cancel every job (each writes a checkpoint first) and wait for them; stop polling."""
        self.timer.stop()
        self.queue.shutdown(wait=True)
        self.io.shutdown()

    # --- runs list -----------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        if self._listing or self.ws is None:
            return
        self._listing = True
        self.io.submit(gan_runs, self._on_runs, self.ws.runs_dir, list(self._extra_runs))

    def _on_runs(self, runs, error) -> None:
        self._listing = False
        if error:
            self.say(error, error=True)
            return
        self.runs.show_runs(runs, keep=self.run_dir)

    def _on_run_chosen(self, run: Path | None) -> None:
        if run != self.run_dir:
            self.view_run(run)

    def _open_run_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a GAN run folder")
        if folder:
            self.open_run(Path(folder))

    def open_run(self, folder: Path) -> None:
        """Show a run folder from anywhere (the command line's --out, a copy from a cluster)."""
        folder = Path(folder).resolve()
        try:
            status = read_status(folder)
            kind = read_config(folder).get("kind")
        except InputError as exc:
            self.say(str(exc), error=True)
            return
        if kind != "gan":
            self.say(f"{folder}: a {kind!r} run, not a GAN run", error=True)
            return
        if folder not in self._extra_runs:
            self._extra_runs.append(folder)
        self.runs.set_row(folder, status["state"], "")
        self.runs.choose(folder)

    # --- the shown run ---------------------------------------------------------------------------
    def view_run(self, run: Path | None) -> None:
        self._reset_view_state()
        self.run_dir = Path(run).resolve() if run is not None else None
        self.plot.clear()
        self.model.clear()
        self.grid.set_image(None, "no sample grid yet")
        self.grid_caption.setText("")
        self.browser.set_run([])
        self.run_settings.show_config(None, None)
        self._update_status_line()
        self._update_buttons()
        if self.run_dir is not None:
            self.io.submit(run_overview, partial(self._on_overview, self._gen), self.run_dir)
            self._poll_now()

    def _on_overview(self, gen, info, error) -> None:
        if gen != self._gen:
            return
        if error:
            self.browser.set_message(error, error=True)
            self.run_settings.show_config(None, None, error)
            return
        config = info["config"]
        self.run_settings.show_config(self.run_dir.name, config)
        self._batch = config.get("batch") if isinstance(config.get("batch"), int) else None
        self.browser.set_run(info["classes"])
        if info["quality_error"]:
            self.browser.set_message(info["quality_error"], error=True)
        self._on_quality(gen, info["quality"], None)
        if info["sampled"] is not None:
            self._show_sampled(*info["sampled"])

    def _on_quality(self, gen, report, error) -> None:
        if gen != self._gen:
            return
        if error:
            self.browser.set_message(error, error=True)
        self._quality = report
        self.browser.show_quality(report)
        self._load_tiles()

    def _show_sampled(self, out: Path, written: dict) -> None:
        self._sampled = (out, written)
        try:
            in_set = self.ws is not None and any(s["path"] == str(out.resolve()) for s in self.ws.synthetic_sets())
        except InputError:
            in_set = False
        self.browser.show_sampled(out, written, in_set)
        self._load_tiles()

    def _load_tiles(self) -> None:
        cls, gen = self.browser.current_class(), self._gen
        if not cls or self.run_dir is None:
            return
        if self._quality is not None:
            self.browser.show_quality(self._quality, cls)
            if cls in self._quality.get("classes", {}):
                self.io.submit(quality_tiles, partial(self._on_tiles, gen, "pairs"), self.run_dir, self._quality,
                               cls, self.cache)
        if self._sampled is not None:
            real = [r.image_id for r in images_of(self.index, cls)] if self.index is not None else []
            self.io.submit(sampled_tiles, partial(self._on_tiles, gen, "sampled"), self._sampled[0], cls, real,
                           self.cache)

    def _on_tiles(self, gen, which, tiles, error) -> None:
        if gen != self._gen:
            return
        if error:
            self.browser.set_message(error, error=True)
            return
        if which == "pairs":
            self.browser.show_pairs(tiles)
        else:
            self.browser.show_sampled_tiles(*tiles)

    # --- polling -------------------------------------------------------------------------------
    def _tick(self) -> None:
        for handle in self.queue.poll():
            task = handle.run_dir.resolve()
            if task in self._tasks:
                self._task_ended(*self._tasks.pop(task), task)
                self._update_buttons()
            else:
                self.refresh_runs()
                if task == self.run_dir:   # re-read its status now: "cancelling" becomes "cancelled"
                    self._poll_now()
                elif task in self._cancelling:
                    self.io.submit(read_status, partial(self._cancel_ended, task), task)
        self._ticks += 1
        if not self.isVisible():
            return
        self._poll_now()
        if self._ticks % RUNS_EVERY == 0:
            self.refresh_runs()
        self._update_status_line()

    def _poll_now(self) -> None:
        if self.run_dir is not None and not self._polling:
            self._polling = True
            self.io.submit(poll_run, partial(self._on_poll, self._gen), self.run_dir, self._offset)

    def _on_poll(self, gen, poll, error) -> None:
        if gen != self._gen:
            return
        self._polling = False
        if error or poll.error:
            self._status_error = error or poll.error
            self._update_status_line()
            return
        self._status_error = None
        self._offset, self._status, self._shown_state = poll.offset, poll.status, poll.state
        d = poll.digest
        self._model_progress.update(d.model_progress)
        self._train_images.update(d.train_images)
        if d.count:
            self.plot.append(d.losses)
            for m in d.models:
                if self.model.findText(m) < 0:
                    self.model.addItem(m)
            if self._follow and d.models:
                self._show_model(d.models[-1])
            self._progress = d.progress or self._progress
            self._samples.update(d.samples)
            if d.last_t is not None:
                self._last_t, self._last_seen = d.last_t, poll.seen
        self._load_grid()
        self._update_status_line()
        self._update_buttons()
        self._agree(poll.state)

    def _agree(self, state: str | None) -> None:
        """The run list says what the status line says; a cancel asked for here that has ended says so."""
        row = self.runs.row(self.run_dir)
        words = gan_progress_words(self._progress or {}) or (row.text(2) if row is not None else "")
        if row is not None and state and (row.text(1), row.text(2)) != (state, words):
            self.runs.set_row(self.run_dir, state, words)
        if self.run_dir in self._cancelling and state in FINAL_STATES:
            self._cancel_ended(self.run_dir, {"state": state}, None)

    def _cancel_ended(self, run: Path, status: dict | None, error: str | None) -> None:
        """The message line's "cancelling" becomes what the run ended as."""
        state = (status or {}).get("state")
        if error or state not in FINAL_STATES or run not in self._cancelling:
            return
        self._cancelling.discard(run)
        self.say(f"{run.name}: {state}" + (" (Resume goes on from its checkpoint)" if state == "cancelled" else ""))

    def _on_model_chosen(self, _index: int) -> None:
        self._follow = False
        self._show_model(self.model.currentText())

    def _show_model(self, model: str) -> None:
        if self.model.currentText() != model:
            self.model.setCurrentIndex(self.model.findText(model))
        if self.plot.model != model:
            self.plot.show_model(model)
        self._load_grid()

    def _load_grid(self) -> None:
        model = self.model.currentText()
        sample = self._samples.get(model)
        if sample is None and model and self._grid_shown is not None and self._grid_shown[0] != model:
            self._grid_shown = None
            self.grid.set_image(None, f"no sample grid of {model} yet")
            self.grid_caption.setText("")
        if sample is None or self.run_dir is None or (model, *sample) == self._grid_shown:
            return
        self._grid_shown = (model, *sample)
        self.io.submit(load_grid, partial(self._on_grid, self._gen, model, sample[0]), self.run_dir / sample[1])

    def _on_grid(self, gen, model, epoch, image, error) -> None:
        if gen != self._gen or model != self.model.currentText():
            return
        self.grid.set_image(image, error or "the sample grid cannot be read", synthetic=True)
        self.grid.epoch = epoch
        self.grid_caption.setText(f"SYNTHETIC — {model}, epoch {epoch} (the same noise every time)")

    def _update_status_line(self) -> None:
        if self.run_dir is None:
            self.status.setText("Select a run, or tick classes and press Start.")
            return
        if self._status_error:
            self.status.setText(f"<span style='color:#c01c28'><b>{self._status_error}</b></span>")
            return
        elapsed = self._last_t
        if (self._status or {}).get("state") == "running" and elapsed is not None and self._last_seen is not None:
            elapsed += time.monotonic() - self._last_seen
        average = average_img_s(self._model_progress, self._train_images, self._batch)
        self.status.setText(status_line(self.run_dir.name, self._status, self._progress, elapsed,
                                        self._shown_state, average))

    def _update_buttons(self) -> None:
        state = (self._status or {}).get("state")
        self.start_button.setEnabled(self.index is not None)
        self.cancel_button.setEnabled(state in ("queued", "running"))
        # not while a cancelled job's process still exits ("cancelling"): it could not resume yet
        self.resume_button.setEnabled(state in ("cancelled", "failed") and self._shown_state != "cancelling")
        kinds = {k for k, run in self._tasks.values() if run == self.run_dir}
        self.browser.set_busy("gan-sample" in kinds, "gan-quality" in kinds)

