"""The radiology viewer: one grey-scale image, window/level, zoom/pan, pixel readout, lesion boxes.

Conventions of radiology viewers: right-drag = window/level (right: wider, down: higher centre, so
darker; 400 px sweep the image's robust range), left-drag = pan, wheel = zoom around the cursor;
keys + - 0 1 arrows I A R; B draws a box, 1-7 set its type, Delete deletes, Escape cancels.

Speed: the ImageItem keeps the image's own uint16 data (a memory map stays a memory map) and a
window change only sets two levels and a 256-entry uint8 LUT (``levels_and_lut``): pyqtgraph's fast
path bins the data into 8 bits and paints an indexed image, with no float image per drag.

The view is in SOURCE pixels: the image item is stretched over the source extent (a cached display
image is reduced by ``scale``), so boxes, the cursor readout and the view range need no conversion,
and the full-resolution image can replace the cached one without moving anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from spinegui.core.dataset.vindr import LESION_TYPES
from spinegui.core.dicom.display import Window, levels_and_lut, percentile_window, preset_window
from spinegui.core.results.heatmap import jet
from spinegui.ui.viewer.box_items import BoxLayer

WL_SWEEP_PX = 400  # a drag this many screen pixels long sweeps the image's robust value range
_ZOOM_STEP = 1.25
_PAN_STEP = 0.1    # arrow keys pan by this fraction of the view
_DIRECT_DTYPES = (np.uint8, np.uint16, np.float32)  # pyqtgraph's fast paths take these as they are
_OVERLAY = ("color: #f0f0f0; background: rgba(0, 0, 0, 150); padding: 2px 6px; "
            "border-radius: 3px; font-size: 12px;")
_BADGE = ("color: white; background: #d01818; border: 2px solid white; padding: 3px 10px; "
          "font-size: 20px; font-weight: bold; letter-spacing: 2px;")
_SYNTHETIC_FRAME = "QGraphicsView { border: 4px solid #d01818; }"  # the view only, not its overlays
HEAT_ALPHA = 0.45  # a heatmap's colour weight where it is 1, half that where it is 0 (core.heatmap.overlay)


def heat_lut(alpha: float = HEAT_ALPHA, n: int = 256) -> np.ndarray:
    """(n, 4) uint8 RGBA: jet colours whose opacity rises with the value, as `spinegui gradcam` blends them."""
    v = np.linspace(0.0, 1.0, n, dtype=np.float32)
    a = np.rint(255.0 * alpha * (0.5 + 0.5 * v)).astype(np.uint8)
    return np.concatenate([jet(v), a[:, None]], axis=1)


@dataclass
class ViewerImage:
    image_id: str
    pixels: np.ndarray                 # 2-D; uint16/int/float32; may be a read-only np.memmap (never copied)
    window: Window                     # default VOI
    invert: bool                       # MONOCHROME1
    scale: float = 1.0                 # displayed pixels per SOURCE pixel
    pixel_spacing: tuple[float, float] | None = None  # mm per SOURCE pixel (row, col)
    synthetic: bool = False            # shows a SYNTHETIC badge
    title: str = ""


def _colour_scale(low: str = "low", high: str = "high", bar: int = 120, height: int = 20) -> QPixmap:
    """The heatmap's colours from low to high on the overlays' dark background, ``low`` and ``high``
    written at its ends (e.g. "low attention", "high attention")."""
    fm = QFontMetrics(_scale_font())
    width = 6 + fm.horizontalAdvance(low) + 6 + bar + 6 + fm.horizontalAdvance(high) + 6
    pix = QPixmap(width, height)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(0, 0, 0, 150))
    p.drawRoundedRect(0, 0, width, height, 3, 3)
    p.setFont(_scale_font())
    p.setPen(QColor("#f0f0f0"))
    lo_w, hi_w = fm.horizontalAdvance(low), fm.horizontalAdvance(high)
    p.drawText(6, 0, lo_w, height, Qt.AlignmentFlag.AlignVCenter, low)
    p.drawText(width - 6 - hi_w, 0, hi_w, height, Qt.AlignmentFlag.AlignVCenter, high)
    x0, x1 = 6 + lo_w + 6, width - 6 - hi_w - 6
    gradient = QLinearGradient(x0, 0, x1, 0)
    for v, (r, g, b, _a) in zip(np.linspace(0, 1, 9), heat_lut()[np.linspace(0, 255, 9).astype(int)]):
        gradient.setColorAt(float(v), QColor(int(r), int(g), int(b)))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(gradient)
    p.drawRect(x0, 5, x1 - x0, height - 10)
    p.end()
    return pix


def _scale_font() -> QFont:
    font = QFont()
    font.setPixelSize(11)
    return font


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.4g}"  # 12-bit values read as integers, floats keep 4 digits


class _ViewBox(pg.ViewBox):
    """Radiology gestures: right-drag windows, left-drag pans (or draws a box), a click deselects."""

    def __init__(self, viewer: ImageViewer):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.02)
        self._viewer = viewer

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.RightButton:
            self._viewer._window_drag(ev)
        elif ev.button() == Qt.MouseButton.LeftButton and self._viewer.boxes.drawing:
            self._viewer.boxes.draw_drag(ev)
        else:
            super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        ev.accept()  # no context menu: the right button belongs to window/level
        if ev.button() == Qt.MouseButton.LeftButton:
            self._viewer.boxes.select("")


class ImageViewer(QWidget):
    cursor_info = Signal(str)       # "x 812  y 1630  value 2113  (113.7, 228.2 mm)"; "" off the image
    window_changed = Signal(object)  # Window
    box_selected = Signal(str)       # uid, or "" for none
    message = Signal(str)            # an edit the store refused, for the window to show
    draw_mode_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image: ViewerImage | None = None
        self._window = Window(0.5, 1.0)
        self._invert = False
        self._auto: Window | None = None
        self._drag_from: Window | None = None
        self._last_info = ""

        self._view = pg.GraphicsView(background="k")
        self._view.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys come to this widget
        self._vb = _ViewBox(self)
        self._view.setCentralItem(self._vb)
        self._item = pg.ImageItem(axisOrder="row-major")
        self._vb.addItem(self._item)
        self.heatmap: np.ndarray | None = None  # the [0, 1] map drawn over the image (set_heatmap)
        self._heat = pg.ImageItem(axisOrder="row-major")
        self._heat.setZValue(5)  # over the image, under the boxes
        self._heat.hide()
        self._vb.addItem(self._heat, ignoreBounds=True)
        self._corner: list[QWidget] = []  # the owners' widgets under the title (add_corner_widget)
        self._vb.disableAutoRange()  # the view moves only when asked (zoom_fit, the user)
        self.boxes = BoxLayer(self._vb, self)
        self.boxes.selected.connect(self.box_selected)
        self.boxes.message.connect(self.message)
        self.boxes.draw_mode_changed.connect(self.draw_mode_changed)
        self.boxes.draw_mode_changed.connect(lambda _on: self._update_overlays())
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self.badge = self._overlay(_BADGE, "SYNTHETIC")
        self._title = self._overlay(_OVERLAY)
        self._info = self._overlay(_OVERLAY)
        self._mode = self._overlay(_OVERLAY.replace("rgba(0, 0, 0, 150)", "rgba(20, 60, 140, 210)"))
        self.heat_title = self._overlay(_OVERLAY + " font-weight: bold; font-size: 13px;")  # the heatmap's title
        self.legend = self._overlay(_OVERLAY)  # what the heatmap shows
        self.scale_bar = self._overlay("background: transparent;")  # its colours, low to high
        self._scale_words = ("low", "high")
        self.scale_bar.setPixmap(_colour_scale())
        self.placeholder = QLabel()
        self.placeholder.setTextFormat(Qt.TextFormat.PlainText)  # reasons quote file contents
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("background: #4a4a4a; color: #eeeeee; font-size: 15px; padding: 24px;")
        self._stack = QStackedLayout(self)
        self._stack.setContentsMargins(0, 0, 0, 0)
        self._stack.addWidget(self._view)
        self._stack.addWidget(self.placeholder)
        self._view.installEventFilter(self)
        self._view.viewport().installEventFilter(self)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 150)
        self._update_overlays()

    def _overlay(self, style: str, text: str = "") -> QLabel:
        label = QLabel(text, self._view)
        label.setTextFormat(Qt.TextFormat.PlainText)  # titles come from files: never rich text
        label.setStyleSheet(style)
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # never in the way of a drag
        label.hide()
        return label

    # --- image --------------------------------------------------------------------------------
    def set_image(self, image: ViewerImage, keep_view: bool = False) -> None:
        """Show ``image``. ``keep_view``: the same image at another resolution (zoom, pan, window stay)."""
        pixels = image.pixels
        if getattr(pixels, "ndim", 0) != 2 or 0 in pixels.shape or not image.scale > 0:
            self.set_placeholder(f"cannot show an array of shape {getattr(pixels, 'shape', None)}")
            return
        keep = keep_view and self.image is not None and self.image.image_id == image.image_id
        if self.image is None or self.image.image_id != image.image_id:
            self.set_heatmap(None)  # a heatmap belongs to its image
        # Other dtypes (int32, float64) would take pyqtgraph's slow generic path on every window change.
        data = pixels if pixels.dtype in _DIRECT_DTYPES else pixels.astype(np.float32)
        self.image = image
        self._auto = percentile_window(pixels)
        if not keep:
            self._window = image.window if image.window.is_sane() else self._auto
            self._invert = bool(image.invert)
        levels, lut = levels_and_lut(self._window, self._invert)
        self._item.setImage(data, autoLevels=False, levels=levels, lut=lut)
        w, h = self.source_size()
        self._item.setRect(QRectF(0, 0, w, h))
        self._heat.setRect(QRectF(0, 0, w, h))
        self._stack.setCurrentWidget(self._view)
        self.boxes.set_image(image.image_id, (w, h), keep=keep)
        self._view.setStyleSheet(_SYNTHETIC_FRAME if image.synthetic else "")
        if not keep:
            self.zoom_fit()
        self._emit_window()

    def set_placeholder(self, reason: str) -> None:
        """An image that cannot be shown: a grey panel saying why (browsing goes on)."""
        self.set_heatmap(None)
        self.image = None
        self._item.clear()
        self.boxes.set_image(None, (0.0, 0.0))
        self.placeholder.setText(f"Cannot show this image\n\n{reason}")
        self._stack.setCurrentWidget(self.placeholder)
        self._set_info("")
        self._update_overlays()

    def set_heatmap(self, heat: np.ndarray | None, legend: str = "", title: str = "",
                    scale: tuple[str, str] = ("low", "high")) -> None:
        """Draw a [0, 1] heatmap (e.g. Grad-CAM; any H x W, stretched over the image) in jet colours over
        the image, with ``title`` (bold) over ``legend`` in the top right and, under them, the colour
        scale with ``scale``'s words at its ends; None removes the map (a title and legend alone may
        stay, e.g. "computing…"). Showing another image removes them all."""
        if tuple(scale) != self._scale_words:
            self._scale_words = tuple(scale)
            self.scale_bar.setPixmap(_colour_scale(*scale))
        if heat is None or self.image is None or getattr(heat, "ndim", 0) != 2 or 0 in heat.shape:
            self.heatmap = None
            self._heat.clear()
            self._heat.hide()
        else:
            self.heatmap = np.asarray(heat, np.float32)
            self._heat.setImage(self.heatmap, autoLevels=False, levels=(0.0, 1.0), lut=heat_lut())
            w, h = self.source_size()
            self._heat.setRect(QRectF(0, 0, w, h))
            self._heat.show()
        self.legend.setText(legend if self.image is not None else "")
        self.heat_title.setText(title if self.image is not None else "")
        self._update_overlays()

    def add_corner_widget(self, widget: QWidget) -> None:
        """A widget of the caller's (a toggle button) over the view, top right under the title; it is
        shown and hidden by its owner."""
        widget.setParent(self._view)
        widget.installEventFilter(self)
        self._corner.append(widget)
        self._place_overlays()

    def source_size(self) -> tuple[float, float]:
        """(width, height) of the current image in source pixels."""
        if self.image is None:
            return (0.0, 0.0)
        rows, cols = self.image.pixels.shape
        return (cols / self.image.scale, rows / self.image.scale)

    @property
    def viewport(self) -> QWidget:
        """The widget that receives the mouse (for tests and event filters)."""
        return self._view.viewport()

    @property
    def view_box(self) -> pg.ViewBox:
        """The pyqtgraph ViewBox (source-pixel coordinates): for linking views and range signals."""
        return self._vb

    def map_to_viewport(self, x: float, y: float) -> QPoint:
        """Where the source-pixel point (x, y) lies in ``viewport`` coordinates."""
        return self._view.mapFromScene(self._vb.mapViewToScene(QPointF(x, y)))

    def rendered_image(self) -> np.ndarray:
        """The 8-bit grey pixels as currently displayed (display grid, window and inversion applied)."""
        if self.image is None:
            return np.zeros((0, 0), np.uint8)
        self._item.render()
        q = self._item.qimage.convertToFormat(QImage.Format.Format_Grayscale8)
        return pg.functions.ndarray_from_qimage(q).copy()

    # --- window / level -----------------------------------------------------------------------
    @property
    def window(self) -> Window:
        return self._window

    @property
    def inverted(self) -> bool:
        return self._invert

    def set_window(self, window: Window) -> None:
        if not window.is_sane():
            return
        self._window = window
        self._apply_window()

    def auto_window(self) -> None:
        if self._auto is not None:
            self.set_window(self._auto)

    def reset_window(self) -> None:
        if self.image is not None:
            self.set_window(self.image.window if self.image.window.is_sane() else self._auto)

    def set_invert(self, on: bool) -> None:
        self._invert = bool(on)
        self._apply_window()

    def apply_preset(self, name: str) -> None:
        """One of core.display.WINDOW_PRESETS (ValueError for another name)."""
        if self.image is not None:
            img = self.image
            self.set_window(preset_window(name, img.pixels, img.window, img.invert, robust=self._auto))

    def _apply_window(self) -> None:
        if self.image is None:
            return
        levels, lut = levels_and_lut(self._window, self._invert)
        self._item.setLevels(levels, update=False)
        self._item.setLookupTable(lut)  # one repaint for both
        self._emit_window()

    def _emit_window(self) -> None:
        self._update_overlays()
        self.window_changed.emit(self._window)

    def _window_drag(self, ev) -> None:
        ev.accept()
        if ev.isStart():
            self._drag_from = self._window if self.image is not None else None
        start, auto = self._drag_from, self._auto
        if start is None or auto is None:
            return
        gain = max(auto.upper - auto.lower, 1e-6) / WL_SWEEP_PX  # value units per screen pixel
        d = ev.screenPos() - ev.buttonDownScreenPos()
        min_width = (1.0 if start.function == "LINEAR" else 0.0) + gain  # LINEAR treats w < 1 as 1
        self.set_window(replace(start, center=start.center + d.y() * gain,
                                width=max(start.width + d.x() * gain, min_width), source="user"))
        if ev.isFinish():
            self._drag_from = None

    # --- view ---------------------------------------------------------------------------------
    def zoom_fit(self) -> None:
        w, h = self.source_size()
        if w and h:
            self._vb.setRange(QRectF(0, 0, w, h), padding=0.02)

    def zoom_actual(self) -> None:
        """One source pixel per screen pixel, around the centre of the view."""
        if self.image is None:
            return
        c = self._vb.viewRect().center()
        w, h = self._vb.width() / 2, self._vb.height() / 2
        self._vb.setRange(xRange=(c.x() - w, c.x() + w), yRange=(c.y() - h, c.y() + h), padding=0)

    def zoom_to(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Show this region (source pixels), e.g. a lesion box with some context around it."""
        self._vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out around the centre of the view."""
        self._vb.scaleBy((1 / factor, 1 / factor))

    def pan(self, fx: float, fy: float) -> None:
        """Move the image by these fractions of the view (positive: right, down)."""
        r = self._vb.viewRect()
        self._vb.translateBy(x=-fx * r.width(), y=-fy * r.height())

    # --- boxes --------------------------------------------------------------------------------
    def set_store(self, store, editable: bool = True) -> None:
        """An AnnotationStore (boxes editable), or None (no boxes from a store)."""
        self.boxes.set_store(store, editable)

    def show_boxes(self, image_id: str) -> None:
        self.boxes.show(image_id)

    def set_boxes(self, boxes) -> None:
        """Show these boxes read-only, without a store (e.g. the boxes of a synthetic sample)."""
        self.boxes.set_boxes(boxes)

    def set_visible(self, readers: set[str] | None = None, classes: set[str] | None = None) -> None:
        self.boxes.set_visible(readers, classes)

    def select_box(self, uid: str) -> None:
        self.boxes.select(uid)

    def set_draw_mode(self, on: bool) -> None:
        self.boxes.set_draw_mode(on)

    # --- keys ---------------------------------------------------------------------------------
    def _key_action(self, ev, contextual_only: bool = False):
        """What a key does here, or None. ``contextual_only``: only the keys that must win over the
        window's shortcuts (1-7 relabel a selected box, Delete, Escape)."""
        if ev.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                             | Qt.KeyboardModifier.MetaModifier):
            return None
        key, b, k = ev.key(), self.boxes, Qt.Key
        n = key - k.Key_0 if k.Key_1 <= key <= k.Key_7 else 0
        if n and (b.selected_uid or b.drawing):
            return lambda: (b.set_type(LESION_TYPES[n - 1]), self._update_overlays())
        if key in (k.Key_Delete, k.Key_Backspace) and b.selected_uid:
            return b.delete_selected
        if key == k.Key_Escape and (b.drawing or b.selected_uid):
            return b.escape
        if contextual_only or self.image is None:
            return None
        if n > 1:  # nothing selected: 2-7 choose the type of the next box (1 is actual size)
            return lambda: b.set_type(LESION_TYPES[n - 1])
        return {
            k.Key_Plus: lambda: self.zoom(_ZOOM_STEP), k.Key_Equal: lambda: self.zoom(_ZOOM_STEP),
            k.Key_Minus: lambda: self.zoom(1 / _ZOOM_STEP), k.Key_0: self.zoom_fit, k.Key_1: self.zoom_actual,
            k.Key_Left: lambda: self.pan(-_PAN_STEP, 0), k.Key_Right: lambda: self.pan(_PAN_STEP, 0),
            k.Key_Up: lambda: self.pan(0, -_PAN_STEP), k.Key_Down: lambda: self.pan(0, _PAN_STEP),
            k.Key_I: lambda: self.set_invert(not self._invert), k.Key_A: self.auto_window,
            k.Key_R: self.reset_window, k.Key_B: lambda: b.set_draw_mode(not b.drawing),
        }.get(key)

    def event(self, ev) -> bool:
        if ev.type() == QEvent.Type.ShortcutOverride and self._key_action(ev, contextual_only=True):
            ev.accept()  # deliver as a key press instead of triggering the window's shortcut
            return True
        return super().event(ev)

    def keyPressEvent(self, ev) -> None:
        action = self._key_action(ev)
        if action is None:
            super().keyPressEvent(ev)
        else:
            action()

    # --- cursor readout and overlays ----------------------------------------------------------
    def _on_mouse_moved(self, scene_pos) -> None:
        text = ""
        if self.image is not None and self._vb.sceneBoundingRect().contains(scene_pos):
            p = self._vb.mapSceneToView(scene_pos)
            text = self.describe(p.x(), p.y())
        self._set_info(text)

    def describe(self, x: float, y: float) -> str:
        """The readout for the point (x, y) in source pixels: pixel, value, millimetres; "" off the image."""
        img = self.image
        if img is None or not (math.isfinite(x) and math.isfinite(y)):
            return ""
        rows, cols = img.pixels.shape
        row, col = math.floor(y * img.scale), math.floor(x * img.scale)
        if not (0 <= row < rows and 0 <= col < cols):
            return ""
        sx, sy = math.floor(x), math.floor(y)
        v = img.pixels[row, col]
        value = str(int(v)) if np.issubdtype(img.pixels.dtype, np.integer) else f"{float(v):.6g}"
        text = f"x {sx}  y {sy}  value {value}"
        if img.pixel_spacing:
            text += f"  ({sx * img.pixel_spacing[1]:.1f}, {sy * img.pixel_spacing[0]:.1f} mm)"
        return text

    def _set_info(self, text: str) -> None:
        if text != self._last_info:
            self._last_info = text
            self.cursor_info.emit(text)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if obj is self._view.viewport() and ev.type() == QEvent.Type.Leave:
            self._set_info("")
        elif obj is self._view and ev.type() == QEvent.Type.Resize:
            self._place_overlays()
        elif obj in self._corner and ev.type() in (QEvent.Type.Show, QEvent.Type.Hide):
            self._place_overlays()
        return False

    def _update_overlays(self) -> None:
        img = self.image
        shown = img is not None
        self.badge.setVisible(shown and img.synthetic)
        self._title.setText(img.title if shown else "")
        self._title.setVisible(shown and bool(img.title))
        inv = "  inverted" if self._invert else ""
        self._info.setText(f"W {_num(self._window.width)}  L {_num(self._window.center)}{inv}")
        self._info.setVisible(shown)
        self._mode.setText(f"Draw box: {self.boxes.draw_type}  (1-7 type, Esc cancels)")
        self._mode.setVisible(shown and self.boxes.drawing)
        self.heat_title.setVisible(shown and bool(self.heat_title.text()))
        self.legend.setVisible(shown and bool(self.legend.text()))
        self.scale_bar.setVisible(shown and self.heatmap is not None)
        self._place_overlays()

    def _place_overlays(self) -> None:
        w, h, m = self._view.width(), self._view.height(), 10
        for label in (self.badge, self._title, self._info, self._mode, self.heat_title, self.legend):
            label.adjustSize()
        self.badge.move(m, m)
        self._title.move(max(m, w - self._title.width() - m), m)
        y = m + (self._title.height() + 6 if self._title.isVisible() else 0)
        for widget in (*self._corner, self.heat_title, self.legend, self.scale_bar):  # under the title, right-aligned
            if widget.isVisible():
                widget.adjustSize()
                widget.move(max(m, w - widget.width() - m), y)
                y += widget.height() + 6
        self._info.move(m, h - self._info.height() - m)
        self._mode.move(max(m, w - self._mode.width() - m), h - self._mode.height() - m)
