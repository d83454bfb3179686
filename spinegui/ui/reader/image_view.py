"""The reading view's image: one 8-bit study item with window/level and zoom, nothing else.

The viewer's gestures (spinegui/ui/viewer/view.py): right-drag = window/level (right: wider, down:
higher centre; 400 px sweep the full 0..255 range), left-drag = pan, wheel = zoom. Not the viewer itself:
its badge, title, readout and box keys (R, 1-7, B) have no place in a blinded study, whose keys
R, S and 1-5 are the answers.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from spinegui.core.dicom.display import Window, levels_and_lut
from spinegui.ui.viewer.view import WL_SWEEP_PX

FULL_RANGE = Window.from_range(0, 255)   # the items are rendered with their window: show them as they are
ZOOM_STEP = 1.25


class _ViewBox(pg.ViewBox):
    def __init__(self, view: StudyImageView):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.02)
        self._view = view

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.RightButton:
            self._view._window_drag(ev)
        else:
            super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        ev.accept()   # no context menu: the right button belongs to window/level


class StudyImageView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pixels: np.ndarray | None = None
        self.window = FULL_RANGE
        self._drag_from: Window | None = None
        self._view = pg.GraphicsView(background="k")
        self._view.setFocusPolicy(Qt.FocusPolicy.NoFocus)   # keys go to the reading window's shortcuts
        self._vb = _ViewBox(self)
        self._view.setCentralItem(self._vb)
        self._item = pg.ImageItem(axisOrder="row-major")
        self._vb.addItem(self._item)
        self._vb.disableAutoRange()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)
        self.setMinimumSize(200, 200)

    def set_pixels(self, pixels: np.ndarray | None) -> None:
        """Show an item (uint8, 2-D) at the full window, fitted; None shows nothing."""
        self.pixels = pixels
        self.window = FULL_RANGE
        if pixels is None:
            self._item.clear()
            return
        levels, lut = levels_and_lut(self.window)
        self._item.setImage(pixels, autoLevels=False, levels=levels, lut=lut)
        self._item.setRect(QRectF(0, 0, pixels.shape[1], pixels.shape[0]))
        self.zoom_fit()

    def set_window(self, window: Window) -> None:
        if self.pixels is None or not window.is_sane():
            return
        self.window = window
        levels, lut = levels_and_lut(window)
        self._item.setLevels(levels, update=False)
        self._item.setLookupTable(lut)

    def reset(self) -> None:
        """Full window and the whole image in view."""
        self.set_window(FULL_RANGE)
        self.zoom_fit()

    def _window_drag(self, ev) -> None:
        ev.accept()
        if ev.isStart():
            self._drag_from = self.window
        start = self._drag_from
        if start is None or self.pixels is None:
            return
        gain = 255.0 / WL_SWEEP_PX
        d = ev.screenPos() - ev.buttonDownScreenPos()
        self.set_window(replace(start, center=start.center + d.y() * gain,
                                width=max(start.width + d.x() * gain, 1.0 + gain), source="user"))
        if ev.isFinish():
            self._drag_from = None

    def zoom_fit(self) -> None:
        if self.pixels is not None:
            h, w = self.pixels.shape
            self._vb.setRange(QRectF(0, 0, w, h), padding=0.02)

    def zoom(self, factor: float) -> None:
        self._vb.scaleBy((1 / factor, 1 / factor))

    def shown_pixels(self) -> np.ndarray:
        """The 8-bit grey pixels as displayed (window applied), for tests and checks."""
        if self.pixels is None:
            return np.zeros((0, 0), np.uint8)
        from PySide6.QtGui import QImage

        self._item.render()
        q = self._item.qimage.convertToFormat(QImage.Format.Format_Grayscale8)
        return pg.functions.ndarray_from_qimage(q).copy()

    # the viewer's names, so that tests/mouse.py drives both
    @property
    def viewport(self) -> QWidget:
        return self._view.viewport()

    def map_to_viewport(self, x: float, y: float) -> QPoint:
        return self._view.mapFromScene(self._vb.mapViewToScene(QPointF(x, y)))

    def view_rect(self) -> QRectF:
        return self._vb.viewRect()
