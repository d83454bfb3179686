"""Grad-CAM over an image opened from the Results tab: a checkable "Grad-CAM" action (View menu, and a
button in the viewer's top right while the image came from a run) that asks the Grad-CAM worker
process for the heatmap of the shown image and draws it over the image, under a title naming the class
and the model, a legend and a colour bar (low to high attention).

The image sent is the shown image's display-cache array (modality values) with its default window:
the [0, 1] image the experiment's cache letterboxes for training, which GradCam letterboxes the same
way. The class explained is the run's prediction for the image (the caption's); the legend says the
model's probability for it now. Errors (no checkpoint, an unreadable file) are one status-bar line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolButton

from spinegui.core.results.experiment_folder import ResultImage
from spinegui.ui.augment.engine import npy_path
from spinegui.ui.results.gradcam_engine import GradCamEngine, GradCamReply, GradCamRequest
from spinegui.ui.viewer.view import ImageViewer, ViewerImage

_BUTTON = ("QToolButton { color: #f0f0f0; background: rgba(0, 0, 0, 150); border: 1px solid rgba(255, 255, 255, 70);"
           " border-radius: 3px; padding: 2px 8px; font-size: 12px; }"
           " QToolButton:hover { border-color: rgba(255, 255, 255, 160); }"
           " QToolButton:checked { background: rgba(190, 40, 20, 210); border-color: rgba(255, 255, 255, 160); }")


class GradCamOverlay(QObject):
    message = Signal(str)  # one line for the status bar

    def __init__(self, viewer: ImageViewer, image_source: Callable[[str], ViewerImage | None],
                 parent: QObject | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self._image_source = image_source  # image id -> its display-cache image (else what is shown)
        self.engine: GradCamEngine | None = None  # made (and its process started) on first use
        self.context: ResultImage | None = None
        self.reply: GradCamReply | None = None  # the reply drawn now
        self._generation = 0
        self.action = QAction("Grad-CAM overlay", self)
        self.action.setCheckable(True)
        self.action.setIconText("Grad-CAM")  # the viewer's button
        self.action.setEnabled(False)
        self.action.setShortcut(QKeySequence("G"))
        self.action.setToolTip("Grad-CAM: where the run's classifier found the evidence for its prediction (G)")
        self.action.toggled.connect(self._toggled)
        self.button = QToolButton()
        self.button.setDefaultAction(self.action)
        self.button.setStyleSheet(_BUTTON)
        self.button.hide()
        viewer.add_corner_widget(self.button)

    # --- which image ----------------------------------------------------------------------------
    def set_context(self, context: ResultImage | None) -> None:
        """The run an image was opened from (None: the shown image came from elsewhere): the overlay
        goes off, and Grad-CAM is offered for that image alone."""
        if context == self.context:
            return
        self.context = context
        self.action.setChecked(False)
        self.action.setEnabled(context is not None)
        self.button.setVisible(context is not None)
        if context is not None:
            self.button.setToolTip(f"Grad-CAM of {context.key}'s prediction ({context.pred}) for this image (G)")

    # --- on and off -----------------------------------------------------------------------------
    def _toggled(self, on: bool) -> None:
        self._generation += 1
        self.reply = None
        if not on:
            if self.engine is not None:
                self.engine.cancel()
            self.viewer.set_heatmap(None)
            return
        ctx = self.context
        image = self._image_source(ctx.item_id) if ctx is not None else None
        if ctx is None or getattr(self.viewer.image, "image_id", None) != ctx.item_id or image is None:
            self._fail("the image is not shown yet; try again when it is")
            return
        if ctx.checkpoint is None:
            self._fail(f"results.json names no checkpoint for {ctx.key}")
            return
        if not Path(ctx.checkpoint).is_file():
            self._fail(f"{ctx.checkpoint}: checkpoint file not found")
            return
        path = npy_path(image.pixels)
        source = {"path": path} if path else {"pixels": np.ascontiguousarray(image.pixels)}
        if self.engine is None:
            self.engine = GradCamEngine(self)
            self.engine.finished.connect(self._on_finished)
            self.engine.message.connect(self.message)
        starting = self.engine.state != "ready"
        self.engine.submit(GradCamRequest(ctx.item_id, str(ctx.checkpoint), source, image.window, image.invert,
                                          ctx.pred, tag=self._generation))
        self.viewer.set_heatmap(None, "loading the model…" if starting else "computing…", title="Grad-CAM")

    def _on_finished(self, reply: GradCamReply) -> None:
        if reply.request.tag != self._generation or not self.action.isChecked():
            return  # toggled off, or on again for another image, since it was asked
        if reply.error:
            self._fail(reply.error)
            return
        if getattr(self.viewer.image, "image_id", None) != reply.request.image_id:
            self.action.setChecked(False)
            return
        self.reply = reply
        run = self.context.key if self.context is not None else ""
        self.viewer.set_heatmap(reply.heatmap, legend(reply, run), title(reply), SCALE)

    def _fail(self, line: str) -> None:
        self.message.emit(line if line.startswith(("Grad-CAM", "the Grad-CAM")) else f"Grad-CAM: {line}")
        self.action.setChecked(False)  # (when checked: _toggled(False) removes what is drawn)
        self.viewer.set_heatmap(None)

    def shutdown(self) -> None:
        if self.engine is not None:
            self.engine.stop()


SCALE = ("low attention", "high attention")  # the colour bar's ends: what the colours mean


def title(reply: GradCamReply) -> str:
    """"Grad-CAM: <class> · <model>": what is explained, by which model."""
    return f"Grad-CAM: {reply.classes[reply.target]} · {reply.model}"


def legend(reply: GradCamReply, run: str = "") -> str:
    """The model's probability for the class explained, the run, and the model's own class when it
    is another; how to read the colours."""
    classes, probs = reply.classes, reply.probabilities
    text = f"p({classes[reply.target]}) = {reply.target_probability:.2f}" + (f" · run {run}" if run else "")
    if reply.predicted != reply.target:
        text += f"\nthe model predicts {classes[reply.predicted]} (p={float(probs[reply.predicted]):.2f}) here"
    return text + "\ncolour: where the evidence for this class lies"
