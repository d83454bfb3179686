"""Lesion boxes on the viewer: drawing, selection, move/resize handles, and their link to the store.

Boxes live in SOURCE pixel coordinates: the viewer's view is in source pixels (its image item is
stretched over the source extent), so a reduced cached image and its full-resolution replacement put
a box on the same spot, and what goes back to the store needs no conversion.

Interaction: click selects; the selected box (only) can be dragged by its body or its eight handles,
so that dragging on an unselected box still pans the image. A drag changes the item alone and is
committed to the store once, at its end: one undo step per gesture.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from spinegui.core.dataset.vindr import LESION_COLOURS, LESION_TYPES
from spinegui.core.errors import InputError

HANDLE_PX = 8       # side of a resize handle, in screen pixels
GRAB_PX = 5         # how far outside a box or handle the mouse still takes it, in screen pixels
MIN_DRAW_PX = 4     # a drag shorter than this (screen pixels) draws nothing
_HANDLES = {"tl": (0.0, 0.0), "t": (0.5, 0.0), "tr": (1.0, 0.0), "r": (1.0, 0.5),
            "br": (1.0, 1.0), "b": (0.5, 1.0), "bl": (0.0, 1.0), "l": (0.0, 0.5)}
_CURSORS = {"tl": Qt.CursorShape.SizeFDiagCursor, "br": Qt.CursorShape.SizeFDiagCursor,
            "tr": Qt.CursorShape.SizeBDiagCursor, "bl": Qt.CursorShape.SizeBDiagCursor,
            "t": Qt.CursorShape.SizeVerCursor, "b": Qt.CursorShape.SizeVerCursor,
            "l": Qt.CursorShape.SizeHorCursor, "r": Qt.CursorShape.SizeHorCursor,
            "body": Qt.CursorShape.SizeAllCursor}


def colour_of(lesion_type: str) -> QColor:
    return QColor(LESION_COLOURS.get(lesion_type, "#ffffff"))


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def dragged(xyxy, part: str, dx: float, dy: float, bounds: tuple[float, float]):
    """The box after dragging ``part`` ("body" or a handle name) by (dx, dy), kept inside ``bounds``."""
    x0, y0, x1, y1 = xyxy
    w, h = bounds
    if part == "body":  # a move keeps the size: stop at the image edge rather than shrink
        dx, dy = _clip(dx, -x0, w - x1), _clip(dy, -y0, h - y1)
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
    x0, x1 = x0 + dx * ("l" in part), x1 + dx * ("r" in part)
    y0, y1 = y0 + dy * ("t" in part), y1 + dy * ("b" in part)
    x0, x1 = sorted((_clip(x0, 0.0, w), _clip(x1, 0.0, w)))  # dragging past the far edge flips
    y0, y1 = sorted((_clip(y0, 0.0, h), _clip(y1, 0.0, h)))
    return (x0, y0, x1, y1)


class BoxItem(pg.GraphicsObject):
    """One box: coloured outline, a label (type · reader) that keeps its size, handles when selected."""

    def __init__(self, layer: BoxLayer, box):
        super().__init__()
        self._layer = layer
        self._rect = QRectF()
        self._selected = False
        self._drag = None  # (part, xyxy at the start, press position) during a drag
        self.label = pg.TextItem(anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 185))
        font = QFont()
        font.setPointSize(9)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setParentItem(self)
        self.setAcceptHoverEvents(True)
        self.set_box(box)

    # --- state --------------------------------------------------------------------------------
    def set_box(self, box) -> None:
        self.box = box
        self._colour = colour_of(box.lesion_type)
        self.label.setText(f"{box.lesion_type} · {box.rad_id}", color=self._colour)
        self.set_xyxy(box.xyxy)

    def set_xyxy(self, xyxy) -> None:
        x0, y0, x1, y1 = xyxy
        self.prepareGeometryChange()
        self._rect = QRectF(x0, y0, x1 - x0, y1 - y0)
        self.label.setPos(x0, y0)
        self.update()

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        r = self._rect
        return (r.left(), r.top(), r.right(), r.bottom())

    def set_selected(self, on: bool) -> None:
        self._selected = on
        self.setZValue(20 if on else 10)  # the selected box on top, so its handles take the mouse
        self.prepareGeometryChange()
        self.update()

    def _px(self) -> float:
        return self.pixelWidth() or 1.0  # one screen pixel in source pixels (aspect is locked)

    def _handles_on(self) -> bool:
        return self._selected and self._layer.editable

    def part_at(self, pos: QPointF) -> str | None:
        """"body", a handle name, or None for a point (item coordinates) off this box."""
        px, r = self._px(), self._rect
        if self._handles_on():
            reach = (HANDLE_PX / 2 + GRAB_PX) * px
            for name, (fx, fy) in _HANDLES.items():
                c = QPointF(r.left() + fx * r.width(), r.top() + fy * r.height())
                if abs(pos.x() - c.x()) <= reach and abs(pos.y() - c.y()) <= reach:
                    return name
        g = GRAB_PX * px
        return "body" if r.adjusted(-g, -g, g, g).contains(pos) else None

    # --- graphics -----------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        m = (HANDLE_PX / 2 + GRAB_PX + 2) * self._px()
        return self._rect.adjusted(-m, -m, m, m)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        g = ((HANDLE_PX / 2 + GRAB_PX) if self._handles_on() else GRAB_PX) * self._px()
        path.addRect(self._rect.adjusted(-g, -g, g, g))
        return path

    def viewTransformChanged(self) -> None:
        super().viewTransformChanged()
        self.prepareGeometryChange()  # margins are in screen pixels: they change with the zoom

    def paint(self, p, *args) -> None:
        r = self._rect
        width = 3 if self._selected else 2
        for colour, w in ((QColor(0, 0, 0, 170), width + 2), (self._colour, width)):
            pen = QPen(colour, w)  # a dark halo under the colour: visible on bone and on black
            pen.setCosmetic(True)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r)
        if self._handles_on():
            s = HANDLE_PX * self._px()
            pen = QPen(QColor(0, 0, 0), 1)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.setBrush(self._colour.lighter(140))
            for fx, fy in _HANDLES.values():
                p.drawRect(QRectF(r.left() + fx * r.width() - s / 2, r.top() + fy * r.height() - s / 2, s, s))

    # --- mouse --------------------------------------------------------------------------------
    def hoverEvent(self, ev) -> None:
        part = None if ev.isExit() or not self._handles_on() else self.part_at(ev.pos())
        if part in _CURSORS:
            self.setCursor(_CURSORS[part])
        else:
            self.unsetCursor()

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self._layer.drawing:
            ev.ignore()
            return
        ev.accept()
        self._layer.select(self.box.uid)

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            part = None if self._layer.drawing or not self._handles_on() else self.part_at(ev.buttonDownPos())
            if part is None:
                ev.ignore()  # not ours: the view pans (or draws)
                return
            self._drag = (part, self.xyxy, ev.buttonDownPos())
        elif self._drag is None:
            ev.ignore()
            return
        ev.accept()
        part, start, origin = self._drag
        d = ev.pos() - origin
        self.set_xyxy(dragged(start, part, d.x(), d.y(), self._layer.bounds))
        if ev.isFinish():
            self._drag = None
            if self.xyxy != start:
                self._layer.commit_move(self.box.uid, self.xyxy)


class BoxLayer(QObject):
    """The boxes of the viewer's current image: what is shown, what is selected, and edits to the store."""

    selected = Signal(str)            # uid, or "" for none
    message = Signal(str)             # an edit the store refused (InputError), for the window to show
    draw_mode_changed = Signal(bool)
    _store_changed = Signal(str)      # store listener -> UI thread

    def __init__(self, viewbox: pg.ViewBox, parent: QObject | None = None):
        super().__init__(parent)
        self._vb = viewbox
        self._items: dict[str, BoxItem] = {}
        self.store = None
        self.editable = False
        self.image_id: str | None = None
        self.bounds = (0.0, 0.0)  # the source image's (width, height)
        self.selected_uid = ""
        self.drawing = False
        self.draw_type = LESION_TYPES[0]
        self._readers: set[str] | None = None
        self._classes: set[str] | None = None
        self._rubber: QGraphicsRectItem | None = None
        # Store listeners run in the thread that edits: always hop to ours through the event loop.
        self._store_changed.connect(self._on_store_changed, Qt.ConnectionType.QueuedConnection)

    # --- wiring -------------------------------------------------------------------------------
    def set_store(self, store, editable: bool = True) -> None:
        if self.store is not None and self._listener in self.store.listeners:
            self.store.listeners.remove(self._listener)
        self.store = store
        self.editable = store is not None and editable
        if store is not None:
            store.listeners.append(self._listener)
        self.set_draw_mode(False)
        self.show(self.image_id)

    def _listener(self, image_id: str) -> None:
        try:
            self._store_changed.emit(image_id)
        except RuntimeError:  # the viewer was deleted while the store lives on
            pass

    def _on_store_changed(self, image_id: str) -> None:
        if image_id == self.image_id:
            self.show(image_id)

    def set_image(self, image_id: str | None, bounds: tuple[float, float], keep: bool = False) -> None:
        """A new image (``keep``: the same image at another resolution, boxes and selection stay)."""
        self.bounds = bounds
        if keep and image_id == self.image_id:
            return
        self.set_draw_mode(False)
        self.image_id = image_id
        self.set_boxes(())

    # --- showing ------------------------------------------------------------------------------
    def show(self, image_id: str | None) -> None:
        """(Re)draw the boxes of the current image from the store (nothing for another image)."""
        if image_id is None or image_id != self.image_id:
            return
        boxes = ()
        if self.store is not None:
            try:
                boxes = self.store.boxes(image_id)
            except InputError:  # not in the dataset (e.g. a synthetic sample): no boxes to show
                boxes = ()
        self.set_boxes(boxes)

    def set_boxes(self, boxes) -> None:
        """Show these boxes (AnnBox-like), reusing the items of boxes already shown."""
        items: dict[str, BoxItem] = {}
        for b in boxes:
            item = self._items.pop(b.uid, None)
            if item is None:
                item = BoxItem(self, b)
                item.setZValue(10)
                self._vb.addItem(item, ignoreBounds=True)
            else:
                item.set_box(b)
            items[b.uid] = item
        for item in self._items.values():
            self._vb.removeItem(item)
        self._items = items
        self._apply_visibility()

    def set_visible(self, readers=None, classes=None) -> None:
        self._readers = None if readers is None else set(readers)
        self._classes = None if classes is None else set(classes)
        self._apply_visibility()

    def _apply_visibility(self) -> None:
        for item in self._items.values():
            b = item.box
            item.setVisible((self._readers is None or b.rad_id in self._readers)
                            and (self._classes is None or b.lesion_type in self._classes))
        self.select(self.selected_uid)  # drops a selection that vanished or was hidden

    def visible_uids(self) -> list[str]:
        return [uid for uid, item in self._items.items() if item.isVisible()]

    def item(self, uid: str) -> BoxItem | None:
        return self._items.get(uid)

    def select(self, uid: str) -> None:
        item = self._items.get(uid)
        uid = uid if item is not None and item.isVisible() else ""
        changed = uid != self.selected_uid
        self.selected_uid = uid
        for u, it in self._items.items():
            if it._selected != (u == uid):
                it.set_selected(u == uid)
        if changed:
            self.selected.emit(uid)

    # --- editing ------------------------------------------------------------------------------
    def _edit(self, method: str, *args):
        """Call a store edit; a refusal (InputError) becomes a message and the store's state is redrawn."""
        if self.store is None or not self.editable:
            self.message.emit(self._read_only_text())
            return None
        try:
            result = getattr(self.store, method)(self.image_id, *args)
        except InputError as exc:
            self.message.emit(str(exc))
            result = None
        self.show(self.image_id)  # at once; the store's own notification redraws again, harmlessly
        return result

    def commit_move(self, uid: str, xyxy) -> None:
        self._edit("move_box", uid, tuple(round(v, 1) for v in xyxy))

    def set_type(self, lesion_type: str) -> None:
        """The type of the next drawn box, and of the selected box if there is one."""
        self.draw_type = lesion_type
        if self.selected_uid and self.editable:
            self._edit("set_lesion_type", self.selected_uid, lesion_type)
        if self._rubber is not None:
            self._rubber.setPen(self._rubber_pen())

    def delete_selected(self) -> None:
        if self.selected_uid:
            self._edit("delete_box", self.selected_uid)

    def escape(self) -> None:
        if self.drawing:
            self.set_draw_mode(False)
        else:
            self.select("")

    def set_draw_mode(self, on: bool) -> None:
        if on and (not self.editable or self.image_id is None):
            if self.image_id is not None:
                self.message.emit(self._read_only_text())
            on = False
        self._drop_rubber()
        if on != self.drawing:
            self.drawing = on
            self.draw_mode_changed.emit(on)

    def _read_only_text(self) -> str:
        reason = getattr(self.store, "read_only", None)
        return f"read-only: {reason}" if reason else "boxes are read-only here (no annotation store)"

    def _rubber_pen(self) -> QPen:
        pen = QPen(colour_of(self.draw_type), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        return pen

    def _drop_rubber(self) -> None:
        if self._rubber is not None:
            self._vb.removeItem(self._rubber)
            self._rubber = None

    def draw_drag(self, ev) -> None:
        """A left-drag on the view in draw mode: rubber-band a box; its release adds it to the store."""
        ev.accept()
        w, h = self.bounds
        p0, p1 = self._vb.mapSceneToView(ev.buttonDownScenePos()), self._vb.mapSceneToView(ev.scenePos())
        x0, x1 = sorted((_clip(p0.x(), 0.0, w), _clip(p1.x(), 0.0, w)))
        y0, y1 = sorted((_clip(p0.y(), 0.0, h), _clip(p1.y(), 0.0, h)))
        if self._rubber is None:
            self._rubber = QGraphicsRectItem()
            self._rubber.setPen(self._rubber_pen())
            self._rubber.setZValue(30)
            self._vb.addItem(self._rubber, ignoreBounds=True)
        self._rubber.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        if not ev.isFinish():
            return
        d = ev.scenePos() - ev.buttonDownScenePos()  # scene units are screen pixels
        self.set_draw_mode(False)  # one box per B: the new box is selected, ready for 1-7 or handles
        if abs(d.x()) >= MIN_DRAW_PX and abs(d.y()) >= MIN_DRAW_PX and x1 > x0 and y1 > y0:
            uid = self._edit("add_box", self.draw_type, tuple(round(v, 1) for v in (x0, y0, x1, y1)))
            if uid:
                self.select(uid)
