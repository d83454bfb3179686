"""The Results tab's "New experiment…" form: what `spinegui experiment` takes, as widgets.

The settings come from `spinegui.train.experiment_config.EXPERIMENT` through the one form builder
(`ui/common/param_form.py`; no range or default is written here); the dataset, case or classes,
protocol, local weights and output folder are the command's other arguments. Every edit is checked
and planned again (`experiment_plan.check_and_plan` in an IoWorker thread: the CLI's checks, then
`plan_experiment`), and Start stays off until the plan shown is the plan of what the form holds.
Start hands the checked job to the panel (`start_requested`), which submits it as the GAN tab does.
The SLURM settings (`spinegui.jobs.slurm.SLURM`, the --slurm-… options) are a group of their own,
enabled with executor slurm; the check then also asks whether SLURM answers here (`slurm_problem`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import InputError
from spinegui.jobs.slurm import SLURM
from spinegui.train.experiment_config import EXPERIMENT, MODELS
from spinegui.ui.common.io_worker import IoWorker
from spinegui.ui.common.param_form import ParamForm, read_editor
from spinegui.ui.results.experiment_plan import CASES, PROTOCOLS, Checked, Choices, check_and_plan, command_line

# Shown first, in this order; every other command-line setting goes to Advanced. "protocols" is the
# Protocol chooser's (--protocol safe|paper|both); settings without a command-line option are left out,
# so that Copy as command always says everything the form does.
COMMON = ("models", "strategies", "size", "epochs", "batch", "per_class", "device", "executor", "parallel", "seed",
          "seeds")
ADVANCED = tuple(p.name for p in EXPERIMENT if p.cli and p.name not in COMMON)
CLASSES_ITEM = "classes:"
PLAN_DELAY_MS = 300   # after the last edit
ERROR = "color: #c01c28; font-weight: bold;"


def _browse_row(edit: QLineEdit, slot) -> QWidget:
    button = QToolButton()
    button.setText("…")
    button.clicked.connect(slot)
    row = QWidget()
    box = QHBoxLayout(row)
    box.setContentsMargins(0, 0, 0, 0)
    box.addWidget(edit, 1)
    box.addWidget(button)
    return row


class NewExperimentDialog(QDialog):
    start_requested = Signal(object)   # a Checked: the job's values, its folder and its plan

    def __init__(self, parent: QWidget | None = None, *, root: str = "", workspace: str = "", out: str = ""):
        super().__init__(parent)
        self.setWindowTitle("New experiment")
        self.io = IoWorker(self)
        self.workspace = workspace
        self.checked: Checked | None = None   # the plan of what the form holds now, once checked
        self._gen = 0
        self.answered = -1   # the edit generation whose check has come back (answered == _gen: up to date)
        self._timer = QTimer(self, singleShot=True, interval=PLAN_DELAY_MS)
        self._timer.timeout.connect(self.plan)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_form(root, out))
        split.addWidget(self._build_plan())
        split.setSizes([470, 630])
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        self.resize(1120, 760)
        self._edited()

    # --- layout --------------------------------------------------------------------------------
    def _build_form(self, root: str, out: str) -> QScrollArea:
        self.root_edit = QLineEdit(root)
        self.case = QComboBox()
        for case in CASES:
            self.case.addItem(f"case {case}", case)
        self.case.addItem(CLASSES_ITEM, "")
        self.case.setToolTip("spinegui experiment --help lists the cases")
        self.classes_edit = QLineEdit()
        self.classes_edit.setPlaceholderText('e.g. "No finding,Osteophytes"')
        self.protocol = QComboBox()
        for p in PROTOCOLS:
            self.protocol.addItem(p, p)
        self.out_edit = QLineEdit(out)
        top = QFormLayout()
        top.addRow("Dataset", _browse_row(self.root_edit, self._ask_root))
        which = QHBoxLayout()
        which.addWidget(self.case)
        which.addWidget(self.classes_edit, 1)
        top.addRow("Classes", which)
        top.addRow("Protocol", self.protocol)
        top.addRow("Output folder", _browse_row(self.out_edit, self._ask_out))
        self.params = ParamForm(EXPERIMENT, sections=[(None, COMMON), ("Advanced", ADVANCED)], resets=False,
                                spin_floats=True, expanded=False)
        self.slurm = ParamForm(SLURM, sections=[(None, [p.name for p in SLURM])], resets=False)
        self.slurm_box = QGroupBox("SLURM (with executor slurm: every run its own SLURM job)")
        QVBoxLayout(self.slurm_box).addWidget(self.slurm)
        self.weights: dict[str, QLineEdit] = {}
        weights = QGroupBox("Local ImageNet weights (optional; nothing is downloaded)")
        wform = QFormLayout(weights)
        for model in MODELS:
            edit = QLineEdit()
            edit.setPlaceholderText(".safetensors or .pth")
            self.weights[model] = edit
            wform.addRow(model, _browse_row(edit, partial(self._ask_weights, model)))
        body = QWidget()
        box = QVBoxLayout(body)
        box.addLayout(top)
        box.addWidget(QLabel("<b>Settings</b> (as the command line's options)"))
        box.addWidget(self.params)
        box.addWidget(self.slurm_box)
        box.addWidget(weights)
        box.addStretch(1)
        for w in (self.root_edit, self.classes_edit, self.out_edit, *self.weights.values()):
            w.textChanged.connect(self._edited)
        for w in (self.case, self.protocol):
            w.currentIndexChanged.connect(self._edited)
        self.params.changed.connect(self._edited)
        self.slurm.changed.connect(self._edited)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return scroll

    def _build_plan(self) -> QWidget:
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QPlainTextEdit()
        self.table.setReadOnly(True)
        self.table.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.table.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.table.setPlaceholderText("The plan (images per class, per protocol and strategy) appears here.")
        self.copy_button = QPushButton("Copy as command")
        self.copy_button.setToolTip("put the equivalent `spinegui experiment` command line on the clipboard")
        self.copy_button.clicked.connect(self.copy_command)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("run this plan in a job process (as spinegui experiment); the Results tab "
                                     "shows its grid fill")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(close)
        side = QWidget()
        box = QVBoxLayout(side)
        box.addWidget(QLabel("<b>Plan</b>: images per class in each fold, per protocol and strategy"))
        box.addWidget(self.table, 1)
        box.addWidget(self.message)
        box.addLayout(buttons)
        return side

    # --- choices -------------------------------------------------------------------------------
    def executor(self) -> str:
        return read_editor(EXPERIMENT["executor"], self.params.editors["executor"])

    def choices(self) -> Choices:
        """What the form holds; InputError for a settings field that cannot be read."""
        settings = {k: v for k, v in self.params.values().items() if v is not None}
        slurm = ({k: v for k, v in self.slurm.values().items() if v is not None}
                 if settings.get("executor") == "slurm" else {})
        case = self.case.currentData()
        return Choices(root=self.root_edit.text().strip(), case=case, classes="" if case else self.classes_edit.text(),
                       protocol=self.protocol.currentData(), settings=settings,
                       weights={m: e.text().strip() for m, e in self.weights.items()},
                       workspace=self.workspace, out=self.out_edit.text().strip(), slurm=slurm)

    def set_choices(self, *, case: str | None = None, classes: str | None = None, protocol: str | None = None,
                    settings: dict | None = None, weights: dict | None = None, out: str | None = None,
                    root: str | None = None, slurm: dict | None = None) -> None:
        """Fill the form (tests, and a form opened with the values of a run)."""
        if root is not None:
            self.root_edit.setText(root)
        if case is not None:
            self.case.setCurrentIndex(self.case.findData(case))
        if classes is not None:
            self.case.setCurrentIndex(self.case.findData(""))
            self.classes_edit.setText(classes)
        if protocol is not None:
            self.protocol.setCurrentIndex(self.protocol.findData(protocol))
        if settings:
            self.params.set_values(settings)
        if slurm:
            self.slurm.set_values(slurm)
        for model, path in (weights or {}).items():
            self.weights[model].setText(path)
        if out is not None:
            self.out_edit.setText(out)
        self._edited()

    # --- checking and planning -----------------------------------------------------------------
    def _edited(self, *_args) -> None:
        """The plan shown no longer matches the form: Start waits for the next check."""
        self.classes_edit.setEnabled(not self.case.currentData())
        self.slurm_box.setEnabled(self.executor() == "slurm")
        self._gen += 1
        self.checked = None
        self.start_button.setEnabled(False)
        self._timer.start()

    def plan(self) -> None:
        """Check and plan what the form holds, off the UI thread; the answer comes to `_planned`."""
        self._timer.stop()
        try:
            choices = self.choices()
        except InputError as exc:
            self._refuse(str(exc))
            return
        self.say("checking and planning…" + (" (and asking SLURM)" if choices.settings.get("executor") == "slurm"
                                               else ""))
        self.io.submit(check_and_plan, partial(self._planned, self._gen), choices)

    def _planned(self, gen: int, checked: Checked | None, error: str | None) -> None:
        if gen != self._gen:
            return   # the form changed meanwhile: a newer check is on its way
        if error:
            self._refuse(error)
            return
        self.checked, self.answered = checked, gen
        self.table.setPlainText("\n".join([checked.planned.table(), *checked.left_out]))
        cfg = checked.planned.cfg
        self.say(f"ready: {len(cfg['protocols'])} protocol(s) × {len(cfg['strategies'])} strateg"
                 f"{'y' if len(cfg['strategies']) == 1 else 'ies'} × {len(cfg['models'])} model(s) into "
                 f"{checked.out.name}")
        self.message.setToolTip(str(checked.out))
        self.start_button.setEnabled(True)

    def _refuse(self, error: str) -> None:
        self.answered = self._gen
        self.checked = None
        self.table.clear()
        self.say(error, error=True)
        self.start_button.setEnabled(False)

    def say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR if error else "color: #404040;")

    # --- actions -------------------------------------------------------------------------------
    def command_text(self) -> str:
        return command_line(self.choices())

    def copy_command(self) -> str | None:
        try:
            text = self.command_text()
        except InputError as exc:
            self.say(str(exc), error=True)
            return None
        QGuiApplication.clipboard().setText(text)
        self.say(f"copied: {text}")
        return text

    def start(self) -> None:
        if self.checked is not None:
            self.start_button.setEnabled(False)
            self.say(f"starting {self.checked.out.name}…")
            self.start_requested.emit(self.checked)

    def _ask_root(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A VinDr-SpineXR dataset folder", self.root_edit.text())
        if folder:
            self.root_edit.setText(folder)

    def _ask_out(self) -> None:
        start = str(Path(self.out_edit.text()).parent) if self.out_edit.text() else ""
        folder = QFileDialog.getExistingDirectory(self, "The experiment folder to create (new or empty)", start)
        if folder:
            self.out_edit.setText(folder)

    def _ask_weights(self, model: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Local ImageNet weights for {model}", "",
                                              "Weights (*.safetensors *.pth);;All files (*)")
        if path:
            self.weights[model].setText(path)

    def done(self, result: int) -> None:
        self._timer.stop()
        self.io.shutdown()
        super().done(result)
