"""The Augmentation panel: knobs, the original and the augmented image side by side, a grid of draws.

The panel computes nothing itself, and the app never imports torch: every run goes through
``AugmentEngine`` to a worker process, which calls the Augmenter that `spinegui augment` calls, with the
same seed and value range; the panel shows what comes back.

Responsiveness (the event loop never stalls more than 50 ms):
- the worker starts when the panel is first shown; until it is ready (torch import, a few seconds)
  the augmented view shows the original with a "preparing augmentation…" note;
- the big view follows a dragged slider on the image reduced to PREVIEW_SIDE px: knob events go
  through a 0 ms single-shot timer and the engine keeps only the newest waiting preview, so the view
  trails the slider by about one worker run; a preview older than the one shown is dropped;
- the grid's draws use a THUMB_SIDE px image, one draw per request, after any waiting preview;
- once the knobs rest for FULL_DELAY_MS, the display-cache image (up to 2048 px) is augmented;
  full-resolution and grid results of an older generation (knobs, seed, image) are dropped.

Intensities: the worker works in (0, 2**BitsStored - 1) as the export does, when ``set_source`` gets
``bits_stored`` or the image's DICOM file (``dicom_path``, whose header the worker reads); otherwise in
(0, 2**b - 1) with b the bits of the image's largest value (the same whenever the image reaches its
top stored bit).

Coordinates: both views work in SOURCE pixels (ViewerImage.scale maps them to the shown array), so
the original and the augmented view share one frame, and their zoom and pan are linked.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from spinegui.augment.knobs import KNOB_SET, ConfigError, validate
from spinegui.core.dicom.display import levels_and_lut
from spinegui.ui.augment.engine import AugmentEngine, Reply, Request
from spinegui.ui.augment.presets import AugmentPresetsMixin
from spinegui.ui.augment.source import AugmentSource, aspect, params_text, source_extent
from spinegui.ui.common.param_form import ParamForm
from spinegui.ui.viewer.draw_grid import GRID_COLS, GRID_ROWS, DrawGrid
from spinegui.ui.viewer.view import ImageViewer, ViewerImage

PREVIEW_SIDE = 512     # px, longest side of the image the live preview augments
THUMB_SIDE = 256       # px, for the grid of draws
FULL_DELAY_MS = 150    # knobs at rest this long -> the full-resolution result is computed
SEED_MAX = 2**31 - 1
PREPARING = "preparing augmentation…"
_AUG_BADGE = ("color: white; background: #b85c00; border: 2px solid white; padding: 2px 8px; "
              "font-size: 14px; font-weight: bold; letter-spacing: 1px;")
_MESSAGE = "padding: 2px 6px;"
_ERROR = "padding: 2px 6px; color: #c01c28; font-weight: bold;"


class AugmentPanel(AugmentPresetsMixin, QWidget):
    preview_shown = Signal(int)        # generation (tests and benchmarks wait on these)
    full_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = AugmentEngine(self)   # its worker process starts when the panel is first shown
        self._source: AugmentSource | None = None
        self._pending: tuple | None = None   # a source given while hidden
        self._generation = 0
        self._preview_gen = 0                # of the preview shown
        self._full_gen = 0                   # of the full-resolution result shown
        self._scheduled_at: dict[int, float] = {}   # generation -> when it was asked for
        self._grid_todo: set[int] = set()    # grid cells still waiting for this generation's draw
        self._preset: tuple[str, dict] | None = None
        self.preview_result = None     # the last preview run (PREVIEW_SIDE px), an AugmentResult
        self.full_result = None        # the last full-resolution run
        self.shown_result = None       # whichever of the two the big view shows
        self.last_preview_ms = 0.0     # the worker's time for the last preview shown
        self.last_latency_ms = 0.0     # knob change to that preview on screen
        self.value_range: tuple[float, float] | None = None   # the worker's, for the current image

        self.form = ParamForm(KNOB_SET)
        self.form.changed.connect(self._on_knobs_changed)
        self.original = ImageViewer()
        self.augmented = ImageViewer()
        for v, other in ((self.original, self.augmented), (self.augmented, self.original)):
            v.message.connect(self._say)
            # window/level too: a right-drag on either view windows both
            v.window_changed.connect(lambda w, o=other: o.set_window(w) if o.window != w else None)
        self.augmented.badge.setStyleSheet(_AUG_BADGE)
        # Linked zoom and pan (pyqtgraph's ViewBox linking).
        self.augmented.view_box.setXLink(self.original.view_box)
        self.augmented.view_box.setYLink(self.original.view_box)
        # Both images stay whole while the views resize, until the user zooms or pans.
        self._fitted = True
        for v in (self.original, self.augmented):
            v.view_box.sigRangeChangedManually.connect(self._on_user_range)
            v.view_box.sigResized.connect(self._on_view_resized)
        self.grid = DrawGrid()
        self.grid.picked.connect(self._on_picked)
        self._build()
        # The layout wants ~950 px, so the docks step aside while this tab is shown. An explicit minimum
        # (the viewer's) keeps the tab widget, whose minimum is its largest page's, from widening the
        # window while the Viewer tab is shown with its docks.
        self.setMinimumSize(200, 150)

        self._preview_timer = QTimer(self, singleShot=True, interval=0)
        self._preview_timer.timeout.connect(self._request_draws)
        self._full_timer = QTimer(self, singleShot=True, interval=FULL_DELAY_MS)
        self._full_timer.timeout.connect(self._request_full)
        self.engine.ready.connect(self._on_engine_ready)
        self.engine.finished.connect(self._on_reply)
        self.engine.message.connect(self._on_engine_message)

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        bar = self._build_preset_bar()

        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.form.minimumSizeHint().width() + 24)
        scroll.setFrameShape(QFrame.Shape.NoFrame)

        # Captions above the views, not overlays: narrow views keep the badge clear.
        self.original_caption, self.augmented_caption = QLabel("Original"), QLabel("Augmented")
        views = QSplitter(Qt.Orientation.Horizontal)
        for caption, viewer in ((self.original_caption, self.original), (self.augmented_caption, self.augmented)):
            caption.setTextFormat(Qt.TextFormat.PlainText)
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(2)
            lay.addWidget(caption)
            lay.addWidget(viewer, 1)
            views.addWidget(box)
        views.setChildrenCollapsible(False)

        side = self._build_side()

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(views)
        split.addWidget(side)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setChildrenCollapsible(False)
        self.splitter = split

        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setStyleSheet(_MESSAGE)
        # a long line (a copied command) must never widen the window
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 2)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

    def _build_side(self) -> QWidget:
        """The column beside the views: seed, lock and re-roll, the grid of draws, the drawn parameters."""
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, SEED_MAX)
        self.seed_box.setValue(secrets.randbelow(1_000_000))
        self.seed_box.setToolTip("The seed of the big view's draw; the grid shows seed, seed+1, …")
        self.seed_box.valueChanged.connect(lambda _v: self._schedule())
        self.lock_box = QCheckBox("Lock")
        self.lock_box.setToolTip(
            "<p>Locked: the seed cannot change (Re-roll and clicks on the grid are off), so every knob "
            "you move is compared on the same draw.<br>Unlocked: moving a knob keeps the seed too "
            "(parameters are drawn in a fixed order, so one knob never reshuffles the others); "
            "Re-roll picks a new random seed; clicking a draw in the grid takes its seed.</p>")
        self.lock_box.toggled.connect(self._on_lock)
        self.reroll_button = QPushButton("Re-roll")
        self.reroll_button.setToolTip("A new random seed: new draws in the big view and the grid")
        self.reroll_button.clicked.connect(self.reroll)
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Seed"))
        seed_row.addWidget(self.seed_box, 1)
        seed_row.addWidget(self.lock_box)
        seed_row.addWidget(self.reroll_button)
        self.params_label = QLabel()
        self.params_label.setWordWrap(True)
        self.params_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.params_label.setToolTip("The parameters drawn for the big view (its seed)")
        grid_title = QLabel(f"{GRID_ROWS * GRID_COLS} random draws (click one to take its seed)")
        grid_title.setWordWrap(True)
        side = QWidget()
        col = QVBoxLayout(side)
        col.setContentsMargins(4, 0, 0, 0)
        col.addLayout(seed_row)
        col.addWidget(grid_title)
        col.addWidget(self.grid, 1)
        col.addWidget(QLabel("Drawn for this seed:"))
        col.addWidget(self.params_label)
        self.grid.setMinimumSize(220, 280)
        self.seed_box.setMinimumWidth(80)
        for v in (self.original, self.augmented):
            v.setMinimumSize(180, 150)
        return side

    # --- state --------------------------------------------------------------------------------
    def config(self) -> dict:
        return self.form.config()

    @property
    def seed(self) -> int:
        return self.seed_box.value()

    def set_seed(self, seed: int) -> None:
        self.seed_box.setValue(int(seed))

    @property
    def generation(self) -> int:
        return self._generation

    # --- source ---------------------------------------------------------------------------------
    def set_source(self, image: ViewerImage | None, boxes=(), root: str | Path | None = None, *,
                   bits_stored: int | None = None, dicom_path: str | Path | None = None) -> None:
        """The image to augment (in SOURCE pixels via its scale) and its boxes; None clears.

        ``bits_stored`` (the file's BitsStored) or ``dicom_path`` (the file, whose header the worker
        reads) give the value range `spinegui augment` uses, (0, 2**BitsStored - 1); without either,
        (0, 2**b - 1) with b the bits of the image's largest value. While the panel is hidden this
        only remembers the image."""
        self._pending = (image, tuple(boxes), str(root) if root is not None else "",
                         bits_stored, str(dicom_path) if dicom_path else None)
        if self.isVisible():
            self._apply_pending()

    def _apply_pending(self) -> None:
        if self._pending is None:
            return
        image, boxes, root, bits_stored, dicom_path = self._pending
        self._pending = None
        src = self._source
        if image is None:
            self._source = None
            for v in (self.original, self.augmented):
                v.set_placeholder("no image to augment: the current image could not be shown")
            self.augmented_caption.setText("Augmented")
            self.grid.clear_cells()
            self._schedule()
            return
        same = (src is not None and src.image.image_id == image.image_id
                and src.image.pixels.shape == image.pixels.shape
                and src.worker_source["bits_stored"] == bits_stored and src.worker_source["dicom"] == dicom_path)
        if same:
            if boxes == src.boxes and root == src.root:
                return
            self._source = replace(src, boxes=boxes, root=root)
        else:
            try:
                worker_source = self.engine.source(image.pixels, bits_stored=bits_stored, dicom=dicom_path)
            except OSError as exc:  # the temporary copy of an in-memory image could not be written
                self._say(f"cannot augment this image: {exc}", error=True)
                return
            self._source = AugmentSource(image, boxes, root, worker_source)
            self.original.set_image(replace(image, title=""))
            self.original_caption.setText("Original")
            self.original_caption.setToolTip(image.image_id)
            self.fit_views()
        self.original.set_boxes(boxes)
        self._schedule()  # replies made for an earlier source or other boxes are dropped (_on_reply)
        if not self.engine.is_ready:
            self._show_preparing()

    def _show_preparing(self) -> None:
        """The original in the augmented view, with a note, while the worker starts."""
        src = self._source
        if src is None:
            return
        shown = replace(src.image, image_id=f"{src.image.image_id}#augmented", synthetic=False, title=PREPARING)
        self.augmented.set_image(shown, keep_view=True)
        self.augmented.set_boxes(src.boxes)
        self.augmented_caption.setText(f"Augmented · {PREPARING}")
        self.augmented_caption.setToolTip("The augmentation process is starting (it loads torch); "
                                          "the augmented image follows as soon as it is ready")
        self.fit_views()

    # --- engine -----------------------------------------------------------------------------------
    def showEvent(self, ev) -> None:
        # Showing the tab (polish, layout, first paint of every knob) costs the loop turn enough:
        # the images come in the next turn, the worker's spawn in the one after.
        super().showEvent(ev)
        QTimer.singleShot(0, self, self._after_show)

    def _after_show(self) -> None:
        if not self.isVisible():
            return
        self._apply_pending()
        if self.engine.state in ("idle", "failed"):
            QTimer.singleShot(0, self, self._start_engine)

    def _start_engine(self) -> None:
        if self.isVisible() and self.engine.state in ("idle", "failed"):
            self.engine.start()
            if self.engine.state == "starting":
                self._say(f"{PREPARING} (starting its process)")

    def _on_engine_message(self, text: str, error: bool) -> None:
        self._say(text, error)
        if self.engine.state == "failed" and self._source is not None and self.shown_result is None:
            self.augmented.set_placeholder(f"no augmentation: {text}")  # not "preparing" for ever
            self.augmented_caption.setText("Augmented · unavailable")

    def _on_engine_ready(self) -> None:
        self._say(f"augmentation ready (its process started in {self.engine.ready_after_s:.1f} s)")

    @property
    def engine_ready(self) -> bool:
        return self.engine.is_ready

    @property
    def grid_busy(self) -> bool:
        """Grid cells still waiting for a draw of the current generation."""
        return bool(self._grid_todo)

    # --- runs -----------------------------------------------------------------------------------
    def _on_knobs_changed(self, _name: str) -> None:
        if self._preset is not None and self.form.config() != self._preset[1]:
            self._preset = None
            self.preset_box.setCurrentIndex(0)
        self._schedule()

    def _schedule(self) -> None:
        """Something changed: the preview and the grid at once (coalesced), full resolution at rest."""
        self._generation += 1
        now = time.perf_counter()
        self._scheduled_at[self._generation] = now
        if len(self._scheduled_at) > 256:
            for g in [g for g in self._scheduled_at if g < self._generation - 128]:
                del self._scheduled_at[g]
        if self._source is None:
            self.engine.cancel()
            self._grid_todo = set()
            return
        self._grid_todo = set(range(len(self.grid.cells)))  # every cell is out of date now
        self._preview_timer.start()
        self._full_timer.start()

    def _checked_config(self) -> dict | None:
        try:
            return validate(self.form.config())
        except ConfigError as exc:
            self._say(str(exc), error=True)
            return None

    def _request(self, kind: str, chain: tuple, seed: int, config: dict, tag=None) -> Request:
        src = self._source
        return Request(kind, self._generation, src.worker_source, chain, src.xyxy(), config, [seed],
                       tag=(src, tag))

    def _request_draws(self) -> None:
        """The big view's preview, then the grid's draws (one request each, so a preview never waits
        behind the whole grid); whatever of them still waits for the worker is replaced."""
        config = self._checked_config() if self._source is not None else None
        if config is None:
            self._grid_todo = set()
            return
        self.engine.submit("preview", [self._request("preview", (PREVIEW_SIDE,), self.seed, config)])
        self.engine.submit("grid", [self._request("grid", (PREVIEW_SIDE, THUMB_SIDE),
                                                  (self.seed + i) % (SEED_MAX + 1), config, i)
                                    for i in range(len(self.grid.cells))])

    def _request_full(self) -> None:
        src = self._source
        if src is None or max(src.image.pixels.shape) <= PREVIEW_SIDE:
            return  # a small image: the preview is the full resolution already
        config = self._checked_config()
        if config is not None:
            self.engine.submit("full", [self._request("full", (), self.seed, config)])

    def _on_reply(self, reply: Reply) -> None:
        req = reply.request
        src, cell = req.tag
        gen = req.generation
        if src is not self._source:
            return  # made for another image, or other boxes
        if req.kind == "preview":
            if gen < self._preview_gen or gen <= self._full_gen:
                return  # older than what the big view shows
        elif gen != self._generation:
            return  # stale: the knobs or the seed changed meanwhile
        if reply.error:
            self._say(f"augmentation failed: {reply.error}", error=True)
            return
        res, seed = reply.results[0], req.seeds[0]
        self.value_range = reply.value_range
        scale = src.image.scale * reply.scale  # result pixels per source pixel
        if req.kind == "grid":
            levels, lut = levels_and_lut(src.image.window, src.image.invert)
            types = [b.lesion_type for b, k in zip(src.boxes, res.kept) if k]
            self.grid.set_cell(cell, res.image, levels, lut, res.boxes, types, seed)
            self._grid_todo.discard(cell)
        elif req.kind == "preview":
            self._preview_gen = gen
            self.preview_result = res
            self.last_preview_ms = reply.worker_ms
            self.last_latency_ms = (time.perf_counter() - self._scheduled_at.get(gen, req.sent)) * 1000
            self._show(res, scale, seed, f"preview {max(res.image.shape)} px, {reply.worker_ms:.0f} ms")
            self.preview_shown.emit(gen)
        else:
            self._full_gen = gen
            self.full_result = res
            self._show(res, scale, seed, f"{max(res.image.shape)} px")
            self.full_shown.emit(gen)

    def _show(self, res, scale: float, seed: int, note: str) -> None:
        """The augmented array (``scale`` array pixels per source pixel) and its kept boxes."""
        src = self._source
        old = self.augmented.image
        caption = f"Augmented · seed {seed} · {note}"
        if res.dropped:
            caption += f" · {res.dropped} box{'es' if res.dropped > 1 else ''} dropped"
        self.augmented_caption.setText(caption)
        self.augmented_caption.setToolTip(caption)
        shown = replace(src.image, image_id=f"{src.image.image_id}#augmented", pixels=res.image,
                        scale=scale, synthetic=True, title="")
        self.augmented.badge.setText("SYNTHETIC\nAUGMENTED" if src.image.synthetic else "AUGMENTED")
        self.augmented.set_image(shown, keep_view=True)
        if self.augmented.window != self.original.window:
            self.augmented.set_window(self.original.window)
        kept = [b for b, k in zip(src.boxes, res.kept) if k]
        self.augmented.set_boxes([replace(b, xyxy=tuple(float(v) / scale for v in xyxy))
                                  for b, xyxy in zip(kept, res.boxes)])
        self.shown_result = res
        self.params_label.setText(params_text(res.params))
        if old is None or old.image_id != shown.image_id:
            self.fit_views()
        elif source_extent(old) != source_extent(shown) and abs(aspect(old) - aspect(shown)) > 0.02:
            self.fit_views()  # a right angle turned the image: show all of both

    def fit_views(self) -> None:
        """Both images whole (the views are linked, so one range serves both)."""
        sizes = [v.source_size() for v in (self.original, self.augmented) if v.image is not None]
        if sizes:
            w, h = max(s[0] for s in sizes), max(s[1] for s in sizes)
            self.original.view_box.setRange(QRectF(0, 0, w, h), padding=0.02)
        self._fitted = True

    def _on_user_range(self, *_args) -> None:
        self._fitted = False

    def _on_view_resized(self, *_args) -> None:
        if self._fitted:
            self.fit_views()

    # --- seed -----------------------------------------------------------------------------------
    def reroll(self) -> None:
        if self.lock_box.isChecked():
            return
        seed = self.seed
        while seed == self.seed:
            seed = secrets.randbelow(1_000_000)
        self.set_seed(seed)

    def _on_lock(self, locked: bool) -> None:
        self.reroll_button.setEnabled(not locked)
        self.seed_box.setReadOnly(locked)

    def _on_picked(self, seed: int) -> None:
        if not self.lock_box.isChecked():
            self.set_seed(seed)

    # --- messages -------------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        """The panel's own message line (errors in red): one line, the full text in its tooltip."""
        text = " ".join(str(text).split())  # one line, whatever the source
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setStyleSheet(_ERROR if error else _MESSAGE)
