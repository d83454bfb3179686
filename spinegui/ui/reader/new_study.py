"""The New-study form: the arguments of `spinegui reader-study new`, run off the UI thread.

It calls core.reader_study.new_study (the CLI's function) in a worker thread; progress comes back as a
queued signal, a failure as one line under the form.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.dataset.vindr import LABELS
from spinegui.core.reader_study import new_study
from spinegui.core.reader_study.study import MAX_ITEMS, MAX_SIZE, MIN_SIZE
from spinegui.ui.common.io_worker import IoWorker

AS_MANY = "as many as possible (balanced)"


class NewStudyDialog(QDialog):
    created = Signal(object)          # the Study
    progress = Signal(int, int)       # done, total (emitted from the worker thread: queued)

    def __init__(self, real_root: str = "", out: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New reader study")
        self.running = False
        self.study = None
        self._io = IoWorker(self, threads=1)
        real_row, self.real = self._folder_row(real_root, "The real images: a VinDr-SpineXR folder")
        syn_row, self.synthetic = self._folder_row("", "The synthetic images: the output of `spinegui sample`")
        out_row, self.out = self._folder_row(out, "Where the study is written (an empty or new folder)")
        self.classes = QListWidget()
        for cls in LABELS:
            item = QListWidgetItem(cls)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.classes.addItem(item)
        self.classes.setMaximumHeight(150)
        self.n_real, self.n_synthetic = self._count(), self._count()
        self.seed = QSpinBox(maximum=2**31 - 1)
        self.size = QSpinBox(minimum=MIN_SIZE, maximum=MAX_SIZE, value=512, suffix=" px")
        self.overwrite = QCheckBox("Replace an earlier reader study in that folder")
        form = QFormLayout()
        form.addRow("Real dataset", real_row)
        form.addRow("Synthetic images", syn_row)
        form.addRow("Classes", self.classes)
        form.addRow("Number of real images", self.n_real)
        form.addRow("Number of synthetic images", self.n_synthetic)
        form.addRow("Seed", self.seed)
        form.addRow("Image size", self.size)
        form.addRow("Output folder", out_row)
        form.addRow("", self.overwrite)
        self.bar = QProgressBar()
        self.bar.setFormat("rendering %v / %m")
        self.bar.hide()
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.ActionRole)
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.progress.connect(self._on_progress)
        self.resize(640, 560)

    def _folder_row(self, text: str, tip: str) -> tuple[QHBoxLayout, QLineEdit]:
        edit = QLineEdit(text)
        edit.setToolTip(tip)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(edit, tip))
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return row, edit

    def _browse(self, edit: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, edit.text())
        if folder:
            edit.setText(folder)

    @staticmethod
    def _count() -> QSpinBox:
        box = QSpinBox(minimum=0, maximum=MAX_ITEMS)
        box.setSpecialValueText(AS_MANY)   # 0: new_study's default
        return box

    # --- running ----------------------------------------------------------------------------------
    def arguments(self) -> dict:
        checked = [self.classes.item(i).text() for i in range(self.classes.count())
                   if self.classes.item(i).checkState() == Qt.CheckState.Checked]
        return {"real_root": self.real.text().strip(), "synthetic_dir": self.synthetic.text().strip(),
                "out": self.out.text().strip(),
                "classes": None if len(checked) == len(LABELS) else checked,
                "n_real": self.n_real.value() or None, "n_synthetic": self.n_synthetic.value() or None,
                "seed": self.seed.value(), "size": self.size.value(), "overwrite": self.overwrite.isChecked()}

    def start(self) -> None:
        if self.running:
            return
        args = self.arguments()
        missing = [what for key, what in (("real_root", "the real dataset"), ("synthetic_dir", "the synthetic "
                   "images' folder"), ("out", "the output folder")) if not args[key]]
        if missing:
            self.error.setText(f"choose {missing[0]}")
            return
        self.running = True
        self.create_button.setEnabled(False)
        self.error.setText("")
        self.bar.setRange(0, 0)
        self.bar.show()
        real, syn, out = (Path(args.pop(k)) for k in ("real_root", "synthetic_dir", "out"))
        self._io.submit(lambda: new_study(real, syn, out, progress=self.progress.emit, **args), self._done)

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)

    def _done(self, study, error: str | None) -> None:
        self.running = False
        self.create_button.setEnabled(True)
        self.bar.hide()
        if error is not None:
            self.error.setText(error)
            return
        self.study = study
        self.error.setText(f"{len(study.items)} images written to {study.folder}. "
                           "Reader study ▸ Open study… to start reading.")
        self.created.emit(study)

    def reject(self) -> None:
        if self.running:   # new_study cannot be stopped half-way; it removes what it wrote only on failure
            self.error.setText("the study is being written; wait for it to finish")
            return
        self._io.shutdown()
        super().reject()
