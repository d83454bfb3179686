"""The Augmentation panel: knobs, the original and the augmented image side by side, a grid of draws.

The panel computes nothing itself: it calls ``spinegui.augment`` (the Augmenter, presets, configs and
command line the CLI uses) and shows what comes back.

Responsiveness (the event loop never stalls more than 50 ms):
- the big augmented view follows a dragged slider on the image reduced to PREVIEW_SIDE px (a few ms
  per run); slider events go through a 0 ms single-shot timer, so at most one run is pending;
- the grid's draws use a THUMB_SIDE px image, one draw per event-loop turn;
- once the knobs rest for FULL_DELAY_MS, the display-cache image (up to 2048 px) is augmented on a
  worker thread; a result whose generation is no longer current is dropped.
torch loads lazily: the engine (``spinegui.augment.pipeline``) is imported on a thread the first time
the panel is shown, so the window never waits for it.

Coordinates: both views work in SOURCE pixels (ViewerImage.scale maps them to the shown array), so
the original and the augmented view share one frame, and their zoom and pan are linked.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGraphicsRectItem,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from spinegui.augment.command import command_line
from spinegui.augment.knobs import ConfigError, defaults
from spinegui.augment.presets import PRESET_HELP, load_config, load_preset, preset_names, save_config, save_preset
from spinegui.core.cache import resize_long_side
from spinegui.core.display import levels_and_lut, value_range
from spinegui.core.errors import InputError
from spinegui.core.vindr import LESION_COLOURS, LESION_TYPES
from spinegui.ui.knob_widgets import KnobForm
from spinegui.ui.viewer import ImageViewer, ViewerImage

log = logging.getLogger(__name__)

PREVIEW_SIDE = 512     # px, longest side of the image the live preview augments
THUMB_SIDE = 256       # px, for the grid of draws
GRID_ROWS, GRID_COLS = 3, 3
FULL_DELAY_MS = 150    # knobs at rest this long -> the full-resolution result is computed
PER_CLASS = 20         # for "Copy as command"
OUT_DIR = "augmented"
SEED_MAX = 2**31 - 1
_AUG_BADGE = ("color: white; background: #b85c00; border: 2px solid white; padding: 2px 8px; "
              "font-size: 14px; font-weight: bold; letter-spacing: 1px;")
_MESSAGE = "padding: 2px 6px;"
_ERROR = "padding: 2px 6px; color: #c01c28; font-weight: bold;"


@dataclass
class _Source:
    """The image being augmented, at the three sizes the panel uses, with its boxes."""
    image: ViewerImage                  # display-cache image (what the full-resolution run uses)
    boxes: tuple                        # AnnBox, source pixels
    root: str
    value_range: tuple[float, float]    # the same for every size, so intensities match
    preview: np.ndarray
    preview_scale: float                # preview pixels per source pixel
    thumb: np.ndarray
    thumb_scale: float

    def xyxy(self, scale: float) -> np.ndarray:
        """(k, 4) boxes in the pixels of an array ``scale`` times the source size."""
        return np.array([b.xyxy for b in self.boxes], np.float64).reshape(-1, 4) * scale


def _prepare(image: ViewerImage, boxes, root: str) -> _Source:
    preview, f = resize_long_side(image.pixels, PREVIEW_SIDE)
    thumb, g = resize_long_side(preview, THUMB_SIDE)
    return _Source(image, tuple(boxes), root, value_range(image.pixels), preview, image.scale * f,
                   thumb, image.scale * f * g)


class _Job(QRunnable):
    """``fn()`` on a pool thread; its result (or exception) goes to ``signal(generation, result)``."""

    def __init__(self, fn, generation: int, signal):
        super().__init__()
        self.fn, self.generation, self.signal = fn, generation, signal

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # shown as one line by the panel
            result = exc
        if result is None:
            return  # superseded before it started
        try:
            self.signal.emit(self.generation, result)
        except RuntimeError:  # the panel was deleted meanwhile
            pass


class _Cell(pg.ViewBox):
    def __init__(self, grid: "DrawGrid", index: int):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.03)
        self.setMouseEnabled(False, False)
        self.grid, self.index = grid, index
        self.item = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.item)
        self.label = pg.TextItem(anchor=(0, 0), color="#e0e0e0", fill=pg.mkBrush(0, 0, 0, 160))
        self.label.setParentItem(self)  # in cell (screen) coordinates, top left
        self.rects: list[QGraphicsRectItem] = []
        self.pixels: np.ndarray | None = None
        self.boxes = np.zeros((0, 4), np.float32)
        self.seed: int | None = None

    def mouseClickEvent(self, ev):
        ev.accept()
        if ev.button() == Qt.MouseButton.LeftButton and self.seed is not None:
            self.grid.picked.emit(self.seed)


class DrawGrid(pg.GraphicsLayoutWidget):
    """Thumbnails of random draws with their boxes; a click picks the draw's seed."""

    picked = Signal(int)

    def __init__(self, rows: int = GRID_ROWS, cols: int = GRID_COLS, parent=None):
        super().__init__(parent)
        self.setBackground("#202020")
        self.ci.layout.setSpacing(3)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.cells: list[_Cell] = []
        for r in range(rows):
            for c in range(cols):
                cell = _Cell(self, len(self.cells))
                self.addItem(cell, row=r, col=c)
                self.cells.append(cell)

    def sizeHint(self) -> QSize:
        return QSize(300, 400)

    def set_cell(self, i: int, pixels: np.ndarray, levels, lut, boxes: np.ndarray, types, seed: int) -> None:
        cell = self.cells[i]
        cell.pixels, cell.boxes, cell.seed = pixels, boxes, seed
        cell.item.setImage(pixels, autoLevels=False, levels=levels, lut=lut)
        for rect in cell.rects:
            cell.removeItem(rect)
        cell.rects = []
        for (x0, y0, x1, y1), t in zip(boxes, types):
            rect = QGraphicsRectItem(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            pen = QPen(QColor(LESION_COLOURS.get(t, "#ffffff")), 1.5)
            pen.setCosmetic(True)
            rect.setPen(pen)
            cell.addItem(rect, ignoreBounds=True)
            cell.rects.append(rect)
        h, w = pixels.shape
        cell.setRange(QRectF(0, 0, w, h), padding=0.03)
        cell.label.setText(f"seed {seed}")

    def clear_cells(self) -> None:
        for cell in self.cells:
            cell.item.clear()
            for rect in cell.rects:
                cell.removeItem(rect)
            cell.rects, cell.pixels, cell.seed = [], None, None
            cell.label.setText("")


class AugmentPanel(QWidget):
    preview_shown = Signal(int)        # generation (tests and benchmarks wait on these)
    full_shown = Signal(int)
    _engine_loaded = Signal(object)    # the Augmenter class, or an error line
    _full_done = Signal(int, object)   # generation, result or exception

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._engine = None            # spinegui.augment.pipeline.Augmenter once loaded
        self._loading = False
        self._source: _Source | None = None
        self._pending: tuple | None = None   # a source given while hidden
        self._generation = 0
        self._grid_todo: list[int] = []
        self._preset: tuple[str, dict] | None = None
        self.preview_result = None     # the last preview run (PREVIEW_SIDE px)
        self.full_result = None        # the last full-resolution run
        self.shown_result = None       # whichever of the two the big view shows
        self.last_preview_ms = 0.0

        self.form = KnobForm()
        self.form.changed.connect(self._on_knobs_changed)
        self.original = ImageViewer()
        self.augmented = ImageViewer()
        for v, other in ((self.original, self.augmented), (self.augmented, self.original)):
            v.message.connect(self._say)
            # window/level too: a right-drag on either view windows both
            v.window_changed.connect(lambda w, o=other: o.set_window(w) if o.window != w else None)
        self.augmented.badge.setStyleSheet(_AUG_BADGE)
        # Linked zoom and pan (pyqtgraph's ViewBox linking; the viewer keeps its ViewBox private).
        self.augmented._vb.setXLink(self.original._vb)
        self.augmented._vb.setYLink(self.original._vb)
        # Both images stay whole while the views resize, until the user zooms or pans.
        self._fitted = True
        for v in (self.original, self.augmented):
            v._vb.sigRangeChangedManually.connect(self._on_user_range)
            v._vb.sigResized.connect(self._on_view_resized)
        self.grid = DrawGrid()
        self.grid.picked.connect(self._on_picked)
        self._build()
        # The layout wants ~950 px, so the docks step aside while this tab is shown. An explicit minimum
        # (the viewer's) keeps the tab widget, whose minimum is its largest page's, from widening the
        # window while the Viewer tab is shown with its docks.
        self.setMinimumSize(200, 150)

        self._preview_timer = QTimer(self, singleShot=True, interval=0)
        self._preview_timer.timeout.connect(self._run_preview)
        self._full_timer = QTimer(self, singleShot=True, interval=FULL_DELAY_MS)
        self._full_timer.timeout.connect(self._start_full)
        self._grid_timer = QTimer(self, interval=0)
        self._grid_timer.timeout.connect(self._run_grid_cell)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._engine_loaded.connect(self._on_engine_loaded)
        self._full_done.connect(self._on_full_done)

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.preset_box = QComboBox()
        self.preset_box.setMinimumContentsLength(14)
        self.preset_box.activated.connect(lambda i: self._on_preset_chosen(self.preset_box.itemData(i)))
        self._fill_presets()
        buttons = [
            ("Save as preset…", "Save the current settings as a preset of your own", self.save_preset_as),
            ("Load config…", "Read settings from a TOML file ([augment] table)", self.load_config_file),
            ("Save config…", "Write every setting to a TOML file ([augment] table)",
             self.save_config_file),
            ("Reset all", "Every knob back to its default (the identity)", self.reset_all),
            ("Copy as command", "Put the equivalent `spinegui augment` command line on the clipboard",
             self.copy_command),
        ]
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Preset"))
        bar.addWidget(self.preset_box)
        self.buttons: dict[str, QPushButton] = {}
        for text, tip, slot in buttons:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=slot: s())
            bar.addWidget(b)
            self.buttons[text] = b
        bar.addStretch(1)

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

    def _fill_presets(self, select: str | None = None) -> None:
        box = self.preset_box
        box.blockSignals(True)
        box.clear()
        box.addItem("Custom", None)
        box.setItemData(0, "The current settings match no preset", Qt.ItemDataRole.ToolTipRole)
        for name in preset_names():
            box.addItem(name, name)
            box.setItemData(box.count() - 1, PRESET_HELP.get(name, "A preset you saved"),
                            Qt.ItemDataRole.ToolTipRole)
        box.setCurrentIndex(max(0, box.findData(select)) if select else 0)
        box.blockSignals(False)

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
    def set_source(self, image: ViewerImage | None, boxes=(), root: str | Path | None = None) -> None:
        """The image to augment (in SOURCE pixels via its scale) and its boxes; None clears.

        While the panel is hidden this only remembers the image (nothing is computed)."""
        self._pending = (image, tuple(boxes), str(root) if root is not None else "")
        if self.isVisible():
            self._apply_pending()

    def _apply_pending(self) -> None:
        if self._pending is None:
            return
        image, boxes, root = self._pending
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
                and src.image.pixels.shape == image.pixels.shape)
        if same:
            if boxes == src.boxes and root == src.root:
                return
            self._source = replace(src, boxes=boxes, root=root)
        else:
            self._source = _prepare(image, boxes, root)
            self.original.set_image(replace(image, title=""))
            self.original_caption.setText("Original")
            self.original_caption.setToolTip(image.image_id)
            self.fit_views()
        self.original.set_boxes(boxes)
        self._schedule()

    # --- engine -----------------------------------------------------------------------------------
    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        self._ensure_engine()
        self._apply_pending()

    def _ensure_engine(self) -> None:
        if self._engine is not None or self._loading:
            return
        self._loading = True
        self._say("loading the augmentation engine (torch)…")
        threading.Thread(target=self._load_engine, name="augment-engine", daemon=True).start()

    def _load_engine(self) -> None:
        try:
            from spinegui.augment.pipeline import Augmenter

            # One tiny run, so that every lazy import (torch, torchvision, OpenCV) happens here.
            Augmenter(defaults())(np.zeros((8, 8), np.uint16), np.array([[1.0, 1.0, 5.0, 5.0]]), seed=0)
            result = Augmenter
        except Exception as exc:
            result = f"the augmentation engine did not load: {type(exc).__name__}: {exc}"
        try:
            self._engine_loaded.emit(result)
        except RuntimeError:  # the panel is gone
            pass

    def _on_engine_loaded(self, result) -> None:
        self._loading = False
        if isinstance(result, str):
            self._say(result, error=True)
            return
        self._engine = result
        self._say("augmentation engine ready")
        self._schedule()

    @property
    def engine_ready(self) -> bool:
        return self._engine is not None

    # --- runs -----------------------------------------------------------------------------------
    def _on_knobs_changed(self, _name: str) -> None:
        if self._preset is not None and self.form.config() != self._preset[1]:
            self._preset = None
            self.preset_box.setCurrentIndex(0)
        self._schedule()

    def _schedule(self) -> None:
        """Something changed: the preview at once (coalesced), the grid draw by draw, full res at rest."""
        self._generation += 1
        if self._source is None or self._engine is None:
            return
        self._preview_timer.start()
        self._full_timer.start()
        self._grid_todo = list(range(len(self.grid.cells)))
        self._grid_timer.start()

    def _augmenter(self):
        try:
            return self._engine(self.form.config())
        except ConfigError as exc:
            self._say(str(exc), error=True)
            return None

    def _run_preview(self) -> None:
        src = self._source
        aug = self._augmenter() if src is not None else None
        if aug is None:
            return
        t0 = time.perf_counter()
        try:
            res = aug(src.preview, src.xyxy(src.preview_scale), seed=self.seed, value_range=src.value_range)
        except Exception as exc:
            self._fail(exc)
            return
        self.last_preview_ms = (time.perf_counter() - t0) * 1000
        self.preview_result = res
        self._show(res, src.preview_scale, f"preview {max(src.preview.shape)} px, {self.last_preview_ms:.0f} ms")
        self.preview_shown.emit(self._generation)

    def _run_grid_cell(self) -> None:
        src = self._source
        if not self._grid_todo or src is None:
            self._grid_timer.stop()
            return
        i = self._grid_todo.pop(0)
        aug = self._augmenter()
        if aug is None:
            self._grid_todo = []
            return
        seed = (self.seed + i) % (SEED_MAX + 1)
        try:
            res = aug(src.thumb, src.xyxy(src.thumb_scale), seed=seed, value_range=src.value_range)
        except Exception as exc:
            self._fail(exc)
            self._grid_todo = []
            return
        levels, lut = levels_and_lut(src.image.window, src.image.invert)
        types = [b.lesion_type for b, k in zip(src.boxes, res.kept) if k]
        self.grid.set_cell(i, res.image, levels, lut, res.boxes, types, seed)

    def _start_full(self) -> None:
        src, gen, engine = self._source, self._generation, self._engine
        if src is None or engine is None or max(src.image.pixels.shape) <= PREVIEW_SIDE:
            return  # a small image: the preview is the full resolution already
        config, seed = self.form.config(), self.seed
        pixels, boxes = src.image.pixels, src.xyxy(src.image.scale)

        def work():
            if gen != self._generation:
                return None  # superseded while it waited
            return engine(config)(pixels, boxes, seed=seed, value_range=src.value_range)

        self._pool.start(_Job(work, gen, self._full_done))

    def _on_full_done(self, gen: int, result) -> None:
        if gen != self._generation or self._source is None:
            return  # stale: the knobs, the seed or the image changed meanwhile
        if isinstance(result, Exception):
            self._fail(result)
            return
        self.full_result = result
        self._show(result, self._source.image.scale, f"{max(result.image.shape)} px")
        self.full_shown.emit(gen)

    def _show(self, res, scale: float, note: str) -> None:
        """The augmented array (``scale`` array pixels per source pixel) and its kept boxes."""
        src = self._source
        old = self.augmented.image
        caption = f"Augmented · seed {self.seed} · {note}"
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
        self.params_label.setText(_params_text(res.params))
        if old is None or old.image_id != shown.image_id:
            self.fit_views()
        elif _extent(old) != _extent(shown) and abs(_aspect(old) - _aspect(shown)) > 0.02:
            self.fit_views()  # a right angle turned the image: show all of both

    def fit_views(self) -> None:
        """Both images whole (the views are linked, so one range serves both)."""
        sizes = [v.source_size() for v in (self.original, self.augmented) if v.image is not None]
        if sizes:
            w, h = max(s[0] for s in sizes), max(s[1] for s in sizes)
            self.original._vb.setRange(QRectF(0, 0, w, h), padding=0.02)
        self._fitted = True

    def _on_user_range(self, *_args) -> None:
        self._fitted = False

    def _on_view_resized(self, *_args) -> None:
        if self._fitted:
            self.fit_views()

    def _fail(self, exc: Exception) -> None:
        log.exception("augmentation failed", exc_info=exc)
        self._say(f"augmentation failed: {type(exc).__name__}: {exc}", error=True)

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

    # --- presets, files, command ------------------------------------------------------------------
    def _on_preset_chosen(self, name: str | None) -> None:
        if name:
            self.load_preset(name)

    def load_preset(self, name: str) -> bool:
        try:
            config = load_preset(name)
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._preset = (name, config)
        self.form.set_config(config)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findData(name)))
        self._say(f"preset {name}: {PRESET_HELP.get(name, 'your preset')}")
        return True

    def save_preset_as(self, name: str | None = None) -> bool:
        if name is None:
            name, ok = QInputDialog.getText(self, "Save preset", "Preset name (letters, digits, - _ .):")
            if not ok or not name.strip():
                return False
        try:
            path = save_preset(name.strip(), self.form.config())
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._preset = (name.strip(), self.form.config())
        self._fill_presets(select=name.strip())
        self._say(f"saved preset {name.strip()} ({path})")
        return True

    def save_config_file(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save augmentation settings", "augment.toml",
                                                  "TOML files (*.toml)")
            if not path:
                return False
        try:
            save_config(path, self.form.config())
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._say(f"saved the settings to {path}")
        return True

    def load_config_file(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load augmentation settings", "", "TOML files (*.toml)")
            if not path:
                return False
        try:
            config = load_config(path)
        except InputError as exc:
            self._say(str(exc), error=True)
            return False
        self._preset = None
        self.form.set_config(config)
        self.preset_box.setCurrentIndex(0)
        self._say(f"loaded the settings from {path}")
        return True

    def reset_all(self) -> None:
        self._preset = None
        self.form.reset_all()
        self.preset_box.setCurrentIndex(0)

    def command_text(self) -> str:
        """The `spinegui augment` line for these settings, the shown image's classes and the seed."""
        if self._pending is not None:  # given while hidden
            _image, boxes, root = self._pending
        else:
            boxes, root = (self._source.boxes, self._source.root) if self._source else ((), "")
        present = {b.lesion_type for b in boxes}
        classes = [t for t in LESION_TYPES if t in present] or list(LESION_TYPES)
        root = root or "DATASET"
        return command_line(root, self.form.config(), seed=self.seed, classes=classes,
                            per_class=PER_CLASS, out=OUT_DIR)

    def copy_command(self) -> str:
        text = self.command_text()
        QGuiApplication.clipboard().setText(text)
        self._say(f"copied: {text}")
        return text

    # --- messages -------------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        """The panel's own message line (errors in red): one line, the full text in its tooltip."""
        text = " ".join(str(text).split())  # one line, whatever the source
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setStyleSheet(_ERROR if error else _MESSAGE)


def _extent(image: ViewerImage) -> tuple[int, int]:
    rows, cols = image.pixels.shape
    return round(cols / image.scale), round(rows / image.scale)


def _aspect(image: ViewerImage) -> float:
    rows, cols = image.pixels.shape
    return cols / rows


def _params_text(params: dict) -> str:
    if not params:
        return "nothing (identity)"
    parts = []
    for k, v in params.items():
        if isinstance(v, float):
            v = f"{v:.3g}"
        elif isinstance(v, list):
            v = "…"
        parts.append(f"{k} {v}")
    return ", ".join(parts)
