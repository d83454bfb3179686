"""Lesion boxes on the viewer: drawing, selection, move/resize handles, and their link to the store.

Boxes live in SOURCE pixel coordinates: the viewer's view is in source pixels (its image item is
stretched over the source extent), so a reduced cached image and its full-resolution replacement put
a box on the same spot, and what goes back to the store needs no conversion.

Interaction: click selects; the selected box (only) can be dragged by its body or its eight handles,
so that dragging on an unselected box still pans the image. A drag changes the item alone and is
committed to the store once, at its end: one undo step per gesture.

Labels keep their screen size at any zoom and never overlap one another: after every zoom, pan, resize
or box change the layer places them greedily (``place_labels``), each at the nearest free spot around
its box, with a thin leader line to the box when that spot is not next to it.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

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
LABEL_PAD_PX = 3     # text to label edge, screen pixels
LABEL_GAP_PX = 2     # the least room between two labels, screen pixels
LEADER_MIN_PX = 6    # a label farther than this from its box gets a leader line to it
_STEP_X_PX = 24      # each ring of candidate spots lies this much farther out sideways (and a label's
                     # height farther up or down) than the one before


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


# --- label placement (screen pixels: scene coordinates of the viewer) -------------------------------
Rect = tuple[float, float, float, float]  # left, top, right, bottom: plain floats, fast to compare


def _hits(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _candidates(box: Rect, w: float, h: float, ring: int, margin: float):
    """Label rectangles around ``box`` on ring ``ring`` (0: touching it), most preferred first: above,
    below, beside, left- then right-aligned."""
    dx, dy = ring * _STEP_X_PX, ring * (h + LABEL_GAP_PX)
    left, top, right, bottom = box[0] - margin - dx, box[1] - margin - dy, box[2] + margin + dx, box[3] + margin + dy
    return ((left, top - h, left + w, top),                  # above, left-aligned (the usual spot)
            (right - w, top - h, right, top),                # above, right-aligned
            (left, bottom, left + w, bottom + h),            # below, left-aligned
            (right - w, bottom, right, bottom + h),          # below, right-aligned
            (right, top, right + w, top + h),                # right of it, top-aligned
            (left - w, top, left, top + h),                  # left of it, top-aligned
            (right, bottom - h, right + w, bottom),          # right of it, bottom-aligned
            (left - w, bottom - h, left, bottom))            # left of it, bottom-aligned


def _inside(box: Rect, visible: Rect, w: float, h: float) -> Rect:
    """Inside the box's visible part, top left: for a box larger than the view (zoomed in on it)."""
    left, top = (max(box[0], visible[0]), max(box[1], visible[1])) if _hits(box, visible) else box[:2]
    return (left + LABEL_GAP_PX, top + LABEL_GAP_PX, left + LABEL_GAP_PX + w, top + LABEL_GAP_PX + h)


def place_label_rects(boxes: list[QRectF], sizes: list[tuple[float, float]], visible: QRectF,
                      margins: list[float] | None = None) -> list[QRectF]:
    """Greedy placement, boxes top to bottom: one rectangle of ``sizes[i]`` per box, none intersecting
    another (with LABEL_GAP_PX between them), each on the cheapest free spot of rings of candidates
    around its box: near it, over no other box, inside ``visible``. Always succeeds: along one column
    of spots, one ring apart, each placed label can block at most two, so 2n + 2 rings hold a free one."""
    rects = [b.getCoords() for b in boxes]
    view = visible.getCoords()
    margins = margins or [0.0] * len(rects)
    placed: list[Rect] = []
    out: list[QRectF] = [QRectF()] * len(rects)
    for i in sorted(range(len(rects)), key=lambda i: (rects[i][1], rects[i][0])):
        x0, y0, x1, y1 = _best_spot(i, rects, sizes[i], view, margins[i], placed)
        out[i] = QRectF(x0, y0, x1 - x0, y1 - y0)
        g = LABEL_GAP_PX
        placed.append((x0 - g, y0 - g, x1 + g, y1 + g))
    return out


def _best_spot(i: int, boxes: list[Rect], size: tuple[float, float], view: Rect, margin: float,
               placed: list[Rect]) -> Rect:
    w, h = size
    best, best_cost = boxes[i], float("inf")
    for ring in range(2 * len(placed) + 3):
        if ring >= best_cost:
            break  # farther rings cannot do better
        spots = [(rect, ring) for rect in _candidates(boxes[i], w, h, ring, margin)]
        if ring == 0:  # inside the box, for a box that fills the view: as good as two rings out
            spots.append((_inside(boxes[i], view, w, h), 2))
        for rect, rank in spots:
            if rank >= best_cost or any(_hits(rect, p) for p in placed):
                continue
            covers = any(_hits(rect, b) for j, b in enumerate(boxes) if j != i)
            seen = view[0] <= rect[0] and view[1] <= rect[1] and rect[2] <= view[2] and rect[3] <= view[3]
            cost = rank + (1.5 if covers else 0.0) + (0.0 if seen else 50.0)
            if cost < best_cost:
                best, best_cost = rect, cost
    return best


def _nearest(p: QPointF, r: QRectF) -> QPointF:
    return QPointF(_clip(p.x(), r.left(), r.right()), _clip(p.y(), r.top(), r.bottom()))


class BoxLabel(QGraphicsItem):
    """A box's label ("type · reader" on a dark plate), the same size at any zoom. Its position is the
    point of its box nearest to it; the plate lies where ``place`` puts it, in screen pixels from
    there, and a leader line joins the two when they are apart."""

    def __init__(self):
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # never in the way of a click or a drag
        self.setZValue(25)  # over every box outline, under the rubber band
        self.font = QFont()
        self.font.setPointSize(9)
        self.font.setBold(True)
        self.text = ""
        self.colour = QColor("white")
        self.plate = QRectF()         # relative to pos(), screen pixels
        self.leader: QLineF | None = None
        self.seen = False             # placed inside the visible view
        self._size = (0.0, 0.0)

    def set_text(self, text: str, colour: QColor) -> None:
        self.text, self.colour = text, QColor(colour)
        fm = QFontMetricsF(self.font)
        self._size = (fm.horizontalAdvance(text) + 2 * LABEL_PAD_PX, fm.height() + 2 * LABEL_PAD_PX)
        self.prepareGeometryChange()
        self.plate = QRectF(self.plate.topLeft(), QRectF(0, 0, *self._size).size())
        self.update()

    def size(self) -> tuple[float, float]:
        """(width, height) in screen pixels, whatever the zoom."""
        return self._size

    def place(self, anchor: QPointF, plate: QRectF) -> None:
        """``plate``: where the label goes, ``anchor``: the point of its box nearest to it (both in
        scene coordinates: screen pixels). The caller sets pos() to ``anchor``."""
        self.prepareGeometryChange()
        self.plate = plate.translated(-anchor)
        end = _nearest(QPointF(0, 0), self.plate)
        self.leader = QLineF(QPointF(0, 0), end) if QLineF(QPointF(0, 0), end).length() > LEADER_MIN_PX else None
        self.update()

    def scene_plate(self) -> QRectF:
        """The plate in scene coordinates (where it was last placed)."""
        return self.plate.translated(self.scenePos())

    def boundingRect(self) -> QRectF:
        r = self.plate.adjusted(-1, -1, 1, 1)
        return r.united(QRectF(-5, -5, 10, 10)) if self.leader is not None else r

    def paint(self, p, *args) -> None:
        if self.leader is not None:  # a line in the box's colour on a dark halo, a dot where it meets the box
            p.setRenderHint(p.RenderHint.Antialiasing)
            for colour, w in ((QColor(0, 0, 0, 190), 4.0), (self.colour, 2.0)):
                p.setPen(QPen(colour, w))
                p.drawLine(self.leader)
            p.setPen(QPen(QColor(0, 0, 0, 190), 1.0))
            p.setBrush(self.colour)
            p.drawEllipse(QPointF(0, 0), 3.0, 3.0)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 185))
        p.drawRect(self.plate)
        p.setFont(self.font)
        p.setPen(self.colour)
        p.drawText(self.plate, Qt.AlignmentFlag.AlignCenter, self.text)


class BoxItem(pg.GraphicsObject):
    """One box: coloured outline, a label (type · reader) that keeps its size, handles when selected."""

    def __init__(self, layer: BoxLayer, box):
        super().__init__()
        self._layer = layer
        self._rect = QRectF()
        self._selected = False
        self._drag = None  # (part, xyxy at the start, press position) during a drag
        self.label = BoxLabel()  # in the view beside the box, placed by the layer
        self.setAcceptHoverEvents(True)
        self.set_box(box)

    # --- state --------------------------------------------------------------------------------
    def set_box(self, box) -> None:
        self.box = box
        self._colour = colour_of(box.lesion_type)
        self.label.set_text(f"{box.lesion_type} · {box.rad_id}", self._colour)
        self.set_xyxy(box.xyxy)

    def set_xyxy(self, xyxy) -> None:
        x0, y0, x1, y1 = xyxy
        self.prepareGeometryChange()
        self._rect = QRectF(x0, y0, x1 - x0, y1 - y0)
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
        self._layer.place_labels()
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
        self._placed: tuple = ()  # what the labels were last placed for (place_labels)
        # Store listeners run in the thread that edits: always hop to ours through the event loop.
        self._store_changed.connect(self._on_store_changed, Qt.ConnectionType.QueuedConnection)
        viewbox.sigTransformChanged.connect(self.place_labels)  # zoom, pan, resize

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
                self._vb.addItem(item.label, ignoreBounds=True)
            else:
                item.set_box(b)
            items[b.uid] = item
        for item in self._items.values():
            self._vb.removeItem(item)
            self._vb.removeItem(item.label)
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
        self.place_labels()

    def place_labels(self) -> None:
        """Put every shown box's label on a free spot near its box (screen pixels; see
        place_label_rects); top to bottom, whatever is selected, so that a click moves no label."""
        shown = [it for it in self._items.values() if it.isVisible()]
        for it in self._items.values():
            it.label.setVisible(it.isVisible())
        if not shown or self._vb.width() <= 0 or self._vb.height() <= 0:
            return
        boxes = [self._vb.mapViewToScene(it._rect).boundingRect() for it in shown]
        margins = [HANDLE_PX / 2 + 1 if it._handles_on() else 0.0 for it in shown]
        view = self._vb.sceneBoundingRect()
        o = boxes[0].topLeft()
        key = tuple((it.box.uid, it.label.size(), m, round(b.left() - o.x(), 1), round(b.top() - o.y(), 1),
                     round(b.width(), 1), round(b.height(), 1)) for it, b, m in zip(shown, boxes, margins))
        if key == self._placed and all(view.contains(it.label.scene_plate()) or not it.label.seen for it in shown):
            return  # a pan: the labels moved with their boxes (anchored in the view) and none left the view
        self._placed = key
        plates = place_label_rects(boxes, [it.label.size() for it in shown], view, margins)
        for it, box, plate in zip(shown, boxes, plates):
            anchor = _nearest(plate.center(), box)
            it.label.setPos(self._vb.mapSceneToView(anchor))
            it.label.place(anchor, plate)
            it.label.seen = view.contains(plate)

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
            self.place_labels()  # the selected box's label keeps clear of its handles
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
